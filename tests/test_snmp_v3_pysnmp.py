"""pysnmp's SNMPv3 engine as an independent oracle: its command generator against our
agent, its INFORM against our receiver, and its password-to-key against ours."""

from __future__ import annotations

import asyncio
import os

import pytest
from pysnmp.hlapi.v3arch import asyncio as hlapi

from pktcable.snmp import message as m
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import open_endpoint
from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from pktcable.snmp.usmengine import Accepted, UsmEngine, UsmStat

#: pysnmp's own MIB compiler warns about its deprecated names; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AGENT_ENGINE = bytes.fromhex("80001f8880" + "0010180a0b0c")
SERVER_ENGINE = bytes.fromhex("80001f8880" + "00000000abcd")
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
CONFIG_FILE = (1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 5, 0)
AUTH = {AuthProtocol.HMAC_MD5_96: hlapi.USM_AUTH_HMAC96_MD5, AuthProtocol.HMAC_SHA_96: hlapi.USM_AUTH_HMAC96_SHA}
PRIV = {PrivProtocol.NONE: hlapi.USM_PRIV_NONE, PrivProtocol.DES: hlapi.USM_PRIV_CBC56_DES,
        PrivProtocol.AES_128: hlapi.USM_PRIV_CFB128_AES}
LEVELS = [(AuthProtocol.HMAC_SHA_96, PrivProtocol.DES), (AuthProtocol.HMAC_MD5_96, PrivProtocol.AES_128),
          (AuthProtocol.HMAC_SHA_96, PrivProtocol.NONE)]


def localized(user: UsmUser, engine_id: bytes) -> object:
    """pysnmp's view of the same user: localized keys for ``engine_id``."""
    priv = user.priv is not PrivProtocol.NONE
    return hlapi.UsmUserData(user.name.decode(), authKey=user.auth_key, privKey=user.priv_key if priv else None,
                             authProtocol=AUTH[user.auth], privProtocol=PRIV[user.priv],
                             securityEngineId=hlapi.OctetString(engine_id),
                             authKeyType=hlapi.USM_KEY_TYPE_LOCALIZED, privKeyType=hlapi.USM_KEY_TYPE_LOCALIZED)


def random_user(auth: AuthProtocol, priv: PrivProtocol) -> UsmUser:
    return UsmUser(b"mta-prov", b"", auth, os.urandom(auth.key_length), priv,
                   os.urandom(auth.key_length) if priv is not PrivProtocol.NONE else b"")


@pytest.mark.parametrize(("auth", "priv"), LEVELS, ids=lambda p: p.name)
def test_pysnmp_get_and_set_against_our_agent(auth: AuthProtocol, priv: PrivProtocol) -> None:
    user = random_user(auth, priv)

    async def scenario() -> tuple[list[object], MibView]:
        engine = UsmEngine(AGENT_ENGINE, boots=5, started=asyncio.get_running_loop().time() - 77)
        engine.add_user(user)
        view = MibView({}, users={user.name: True})
        view.define(SYS_DESCR, "String", b"Example eMTA")
        view.define(CONFIG_FILE, "String", b"", writable=True)
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, v3_handler=lambda req, addr: view.handle_v3(req))
        try:
            snmp = hlapi.SnmpEngine()
            target = await hlapi.UdpTransportTarget.create(ep.address, timeout=3, retries=2)
            auth_data = localized(user, AGENT_ENGINE)
            got = await hlapi.get_cmd(snmp, auth_data, target, hlapi.ContextData(),
                                      hlapi.ObjectType(hlapi.ObjectIdentity(SYS_DESCR)))
            put = await hlapi.set_cmd(snmp, auth_data, target, hlapi.ContextData(),
                                      hlapi.ObjectType(hlapi.ObjectIdentity(CONFIG_FILE),
                                                       hlapi.OctetString(b"http://10.0.0.1/f.bin")))
            snmp.close_dispatcher()
            return [got, put], view
        finally:
            ep.close()

    ((error, status, _, varbinds), (set_error, set_status, _, _)), view = asyncio.run(scenario())
    assert error is None and not status, (error, status)
    assert bytes(varbinds[0][1]) == b"Example eMTA"
    assert set_error is None and not set_status, (set_error, set_status)
    assert view.value(CONFIG_FILE) == b"http://10.0.0.1/f.bin"


@pytest.mark.parametrize(("auth", "priv"), LEVELS, ids=lambda p: p.name)
def test_pysnmp_inform_to_our_receiver(auth: AuthProtocol, priv: PrivProtocol) -> None:
    user = random_user(auth, priv)
    got: list[Accepted] = []

    def receiver(req: Accepted, addr: tuple[str, int]) -> m.Pdu | None:
        got.append(req)
        return m.Pdu(m.PduType.RESPONSE, req.pdu.request_id, req.pdu.varbinds)

    async def scenario() -> object:
        engine = UsmEngine(SERVER_ENGINE, boots=1, started=asyncio.get_running_loop().time() - 3)
        engine.add_user(user)  # at our own engine: the receiver of an INFORM is authoritative
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, v3_handler=receiver)
        try:
            snmp = hlapi.SnmpEngine()
            target = await hlapi.UdpTransportTarget.create(ep.address, timeout=3, retries=2)
            answer = await hlapi.send_notification(
                snmp, localized(user, SERVER_ENGINE), target, hlapi.ContextData(), "inform",
                hlapi.NotificationType(hlapi.ObjectIdentity((1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 2, 0, 1))).add_varbinds(
                    hlapi.ObjectType(hlapi.ObjectIdentity(SYS_DESCR), hlapi.OctetString(b"from pysnmp"))))
            snmp.close_dispatcher()
            return answer
        finally:
            ep.close()

    error, status, _, _ = asyncio.run(scenario())  # type: ignore[misc]
    assert error is None and not status, (error, status)
    assert got and got[-1].pdu.type is m.PduType.INFORM and got[-1].level == (True, priv is not PrivProtocol.NONE)
    assert got[-1].pdu.varbinds[-1].value == b"from pysnmp"


def test_password_users_match_pysnmps_localization() -> None:
    """A user configured with passwords: pysnmp (passphrase keys) reads our agent."""
    user = UsmUser.from_passwords(b"op", AGENT_ENGINE, AuthProtocol.HMAC_SHA_96, b"maplesyrup",
                                  PrivProtocol.AES_128, b"privacy-pass")

    async def scenario() -> tuple[object, UsmEngine]:
        engine = UsmEngine(AGENT_ENGINE, started=asyncio.get_running_loop().time())
        engine.add_user(user)
        view = MibView({}, users={b"op": False})
        view.define(SYS_DESCR, "String", b"Example eMTA")
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, v3_handler=lambda req, addr: view.handle_v3(req))
        try:
            snmp = hlapi.SnmpEngine()
            target = await hlapi.UdpTransportTarget.create(ep.address, timeout=3, retries=2)
            auth_data = hlapi.UsmUserData("op", "maplesyrup", "privacy-pass", authProtocol=hlapi.USM_AUTH_HMAC96_SHA,
                                          privProtocol=hlapi.USM_PRIV_CFB128_AES)
            answer = await hlapi.get_cmd(snmp, auth_data, target, hlapi.ContextData(),
                                         hlapi.ObjectType(hlapi.ObjectIdentity(SYS_DESCR)))
            snmp.close_dispatcher()
            return answer, engine
        finally:
            ep.close()

    (error, status, _, varbinds), engine = asyncio.run(scenario())  # type: ignore[misc]
    assert error is None and not status, (error, status)
    assert bytes(varbinds[0][1]) == b"Example eMTA"
    assert engine.stats[UsmStat.WRONG_DIGESTS] == engine.stats[UsmStat.DECRYPTION_ERRORS] == 0
