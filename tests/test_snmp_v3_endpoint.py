"""The SNMPv3 exchanges of the Secure flow between our provisioning server side and our
eMTA side over real UDP, the named failures, and hostile datagrams at the endpoint."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint
from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from pktcable.snmp.usmengine import Accepted, UsmEngine, UsmFailure, UsmStat
from tlv import ber
from tlv.ber import VarBind

MTA_ENGINE = bytes.fromhex("80001f8880" + "0010180a0b0c")
SERVER_ENGINE = bytes.fromhex("80001f8880" + "5052 4f56 0001".replace(" ", ""))
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
CONFIG_FILE = pktc.oids(pktc.Tree.CABLELABS).config_file
CONFIG_HASH = pktc.oids(pktc.Tree.CABLELABS).config_hash
ENROLLMENT = (1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 2, 0, 1)
STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]


def sa(priv: PrivProtocol = PrivProtocol.DES) -> UsmUser:
    """What key management hands both sides: a user name and localized keys (no engine yet)."""
    return UsmUser(b"MTA-Prov-00:10:18:0a:0b:0c", b"", AuthProtocol.HMAC_SHA_96, os.urandom(20), priv,
                   os.urandom(20) if priv is not PrivProtocol.NONE else b"")


class Sides:
    """The provisioning server (INFORM receiver, SET sender) and the eMTA (agent, INFORM sender)."""

    def __init__(self, server: SnmpEndpoint, mta: SnmpEndpoint, view: MibView, informs: list[Accepted]) -> None:
        self.server, self.mta, self.view, self.informs = server, mta, view, informs

    def close(self) -> None:
        self.server.close()
        self.mta.close()


async def sides(server_user: UsmUser, mta_user: UsmUser, *, mta_started: float = 0.0) -> Sides:
    now = asyncio.get_running_loop().time()
    informs: list[Accepted] = []

    def receive_inform(req: Accepted, addr: tuple[str, int]) -> m.Pdu | None:
        if req.pdu.type is not m.PduType.INFORM:
            return None
        informs.append(req)
        return m.Pdu(m.PduType.RESPONSE, req.pdu.request_id, req.pdu.varbinds)

    server_engine = UsmEngine(SERVER_ENGINE, boots=1, started=now - 50, salt=random.getrandbits(64))
    server_engine.add_user(server_user)  # no engine ID: the user at the server's own engine, for INFORMs
    mta_engine = UsmEngine(MTA_ENGINE, boots=2, started=mta_started or now - 10, salt=random.getrandbits(64))
    mta_engine.add_user(mta_user.at_engine(MTA_ENGINE))  # for the server's GET/SET
    view = MibView({}, users={mta_user.name: True})
    view.define(SYS_DESCR, "String", b"Example eMTA")
    view.define(CONFIG_FILE, "String", b"", writable=True)
    view.define(CONFIG_HASH, "String", b"", writable=True)
    server = await open_endpoint("127.0.0.1", 0, usm=server_engine, v3_handler=receive_inform,
                                 timeout=2.0, retries=2)
    # The eMTA's one engine both answers (agent) and sends INFORMs, as one SNMP entity.
    mta = await open_endpoint("127.0.0.1", 0, usm=mta_engine, timeout=2.0, retries=2,
                              v3_handler=lambda req, addr: view.handle_v3(req))
    return Sides(server, mta, view, informs)


@pytest.mark.parametrize("priv", [PrivProtocol.DES, PrivProtocol.AES_128, PrivProtocol.NONE], ids=lambda p: p.name)
def test_secure_flow_snmpv3_exchanges(priv: PrivProtocol) -> None:
    """MTA-15 enrollment INFORM, MTA-19 SET of the file location and hash, MTA-25 status
    INFORM, as PacketCable's objects (pktc), over SNMPv3 with the SA's keys."""
    keys = sa(priv)
    o = pktc.oids(pktc.Tree.CABLELABS)
    mac = bytes.fromhex("0010180a0b0c")
    enrollment = pktc.Enrollment(pktc.Tree.CABLELABS, b"Example eMTA", b"2.4.1", b"pktc1.5:051f0101", mac, 4242)
    url, digest = b"tftp://10.0.0.1/mta-0010180a0b0c.bin", bytes(range(20))

    async def scenario() -> tuple[Sides, m.Pdu, m.Pdu, m.Pdu, m.Pdu]:
        s = await sides(keys, keys)
        try:
            # Enrollment INFORM: the server is authoritative; the eMTA discovers its engine.
            ack = await s.mta.request_v3(s.server.address, keys, m.PduType.INFORM, enrollment.varbinds(100))
            # The SET of the config file: the eMTA is authoritative; the server knows its engine ID,
            # boots and time from the key-management application data (no discovery).
            s.server.usm.learn(MTA_ENGINE, 2, 10, asyncio.get_running_loop().time())  # type: ignore[union-attr]
            at_mta = keys.at_engine(MTA_ENGINE)
            set_ = await s.server.request_v3(s.mta.address, at_mta, m.PduType.SET,
                                             (VarBind(o.config_file, STRING, url), VarBind(o.config_hash, STRING,
                                                                                           digest)))
            get = await s.server.request_v3(s.mta.address, at_mta, m.PduType.GET, (m.null_varbind(SYS_DESCR),))
            status = pktc.Status(pktc.Tree.CABLELABS, mac, 4242, 1)
            done = await s.mta.request_v3(s.server.address, keys, m.PduType.INFORM, status.varbinds(200))
            return s, ack, set_, get, done
        finally:
            s.close()

    s, ack, set_, get, done = asyncio.run(scenario())
    assert ack.type is m.PduType.RESPONSE and done.type is m.PduType.RESPONSE
    first, last = s.informs
    assert pktc.parse_notification(first.pdu.varbinds) == enrollment
    assert pktc.parse_notification(last.pdu.varbinds) == pktc.Status(pktc.Tree.CABLELABS, mac, 4242, 1)
    assert first.user is not None and first.user.engine_id == SERVER_ENGINE
    assert first.level == last.level == (True, priv is not PrivProtocol.NONE)
    assert set_.error_status == 0 and s.view.value(o.config_file) == url and s.view.value(o.config_hash) == digest
    assert get.varbinds[0].value == b"Example eMTA"
    assert s.mta.engines == {s.server.address: SERVER_ENGINE}  # discovered once, for both INFORMs
    assert s.server.stats.requests == 2 and s.server.stats.timeouts == 0


def test_manager_without_the_agents_clock_resynchronizes_once() -> None:
    """The server knows the engine ID but not the clock (boots/time 0): the agent's
    authenticated notInTimeWindows Report teaches it, and the retry succeeds."""
    keys = sa()

    async def scenario() -> tuple[Sides, m.Pdu]:
        s = await sides(keys, keys)
        try:
            return s, await s.server.request_v3(s.mta.address, keys.at_engine(MTA_ENGINE), m.PduType.GET,
                                                (m.null_varbind(SYS_DESCR),))
        finally:
            s.close()

    s, got = asyncio.run(scenario())
    assert got.varbinds[0].value == b"Example eMTA"
    assert s.mta.usm is not None and s.mta.usm.stats[UsmStat.NOT_IN_TIME_WINDOWS] == 1


@pytest.mark.parametrize(("what", "stat"), [
    ("auth", UsmStat.WRONG_DIGESTS), ("priv", UsmStat.DECRYPTION_ERRORS), ("name", UsmStat.UNKNOWN_USER_NAMES),
])
def test_bad_keys_end_in_a_named_failure(what: str, stat: UsmStat) -> None:
    keys = sa()
    bad = UsmUser(b"someone-else" if what == "name" else keys.name, b"", keys.auth,
                  bytes(20) if what == "auth" else keys.auth_key, keys.priv,
                  bytes(20) if what == "priv" else keys.priv_key)

    async def scenario() -> Sides:
        s = await sides(keys, keys)
        try:
            s.server.usm.learn(MTA_ENGINE, 2, 10, asyncio.get_running_loop().time())  # type: ignore[union-attr]
            with pytest.raises(UsmFailure) as failure:
                await s.server.request_v3(s.mta.address, bad.at_engine(MTA_ENGINE), m.PduType.GET,
                                          (m.null_varbind(SYS_DESCR),))
            assert failure.value.stat is stat and stat.mib_name in str(failure.value)
            with pytest.raises(UsmFailure) as failure:
                await s.mta.request_v3(s.server.address, bad, m.PduType.INFORM, m.notification(ENROLLMENT, 1, ()))
            assert failure.value.stat is stat
            return s
        finally:
            s.close()

    s = asyncio.run(scenario())
    assert s.informs == []
    assert s.mta.usm is not None and s.mta.usm.stats[stat] == 1
    assert s.server.usm is not None and s.server.usm.stats[stat] == 1


def test_user_without_access_gets_authorization_error() -> None:
    keys, other = sa(), sa()
    other = UsmUser(b"not-in-the-view", b"", other.auth, other.auth_key, other.priv, other.priv_key)

    async def scenario() -> m.Pdu:
        s = await sides(keys, keys)
        s.mta.usm.add_user(other.at_engine(MTA_ENGINE))  # type: ignore[union-attr]
        try:
            s.server.usm.learn(MTA_ENGINE, 2, 10, asyncio.get_running_loop().time())  # type: ignore[union-attr]
            return await s.server.request_v3(s.mta.address, other.at_engine(MTA_ENGINE), m.PduType.SET,
                                             (VarBind(CONFIG_FILE, STRING, b"x"),))
        finally:
            s.close()

    reply = asyncio.run(scenario())
    assert reply.error_status == m.ErrorStatus.AUTHORIZATION_ERROR


def test_hostile_datagrams_never_stop_the_endpoint() -> None:
    keys = sa()
    rng = random.Random(14)

    async def scenario() -> tuple[Sides, m.Pdu]:
        s = await sides(keys, keys)
        try:
            loop = asyncio.get_running_loop()
            s.server.usm.learn(MTA_ENGINE, 2, 10, loop.time())  # type: ignore[union-attr]
            at_mta = keys.at_engine(MTA_ENGINE)
            valid = s.server.usm.encode_request(  # type: ignore[union-attr]
                m.Pdu(m.PduType.GET, 9, (m.null_varbind(SYS_DESCR),)), at_mta, 9, loop.time())
            transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                               local_addr=("127.0.0.1", 0))
            datagrams = [rng.randbytes(rng.randrange(0, 300)) for _ in range(300)]
            datagrams += [valid[:cut] for cut in range(len(valid))]
            for _ in range(600):
                data = bytearray(valid)
                for _ in range(rng.randrange(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                datagrams.append(bytes(data))
            datagrams.append(b"\x30\x84\xff\xff\xff\xff\x02\x01\x03")  # a 4 GB length
            for n, data in enumerate(datagrams):
                transport.sendto(data, s.mta.address)
                if n % 16 == 0:
                    await asyncio.sleep(0.002)  # let the endpoint read: the socket buffer is small
            transport.close()
            await asyncio.sleep(0.5)
            # Still serving: a real request after the storm is answered.
            return s, await s.server.request_v3(s.mta.address, at_mta, m.PduType.GET, (m.null_varbind(SYS_DESCR),))
        finally:
            s.close()

    s, got = asyncio.run(scenario())
    assert got.varbinds[0].value == b"Example eMTA"
    assert s.mta.stats.internal_errors == 0
    stats = s.mta.stats
    # Every datagram that arrived was counted as malformed or refused by USM (a mutation that
    # left the bytes unchanged is the valid request again, answered): none went unaccounted.
    assert stats.received == stats.malformed + stats.usm_refused + stats.answered
    assert stats.malformed > 100 and stats.usm_refused > 10


def test_simulated_emta_mib_answers_the_config_file_set_over_v3() -> None:
    """The simulator's MtaMib: the Secure flow's SET (file location and hash) over SNMPv3
    keeps its SET rules and reports what was written, like the v2c path."""
    from pktcable.simulate.mtaagent import MtaMib

    keys = sa().at_engine(MTA_ENGINE)
    written: list[set[tuple[int, ...]]] = []
    mib = MtaMib(pktc.Tree.CABLELABS, {}, mac=bytes.fromhex("0010180a0b0c"), serial="1", correlation_id=7,
                 type_identifier="pktc1.5:051f0101", hybrid=True, on_set=written.append, users={keys.name: True})
    o = pktc.oids(pktc.Tree.CABLELABS)
    mta = UsmEngine(MTA_ENGINE, boots=1)
    mta.add_user(keys)
    server = UsmEngine(SERVER_ENGINE)
    server.learn(MTA_ENGINE, 1, 0, 0.0)
    varbinds = (VarBind(o.config_file, STRING, b"tftp://10.0.0.1/f.bin"), VarBind(o.config_hash, STRING, b"\1" * 20))
    request = mta.receive(server.encode_request(m.Pdu(m.PduType.SET, 1, varbinds), keys, 1, 0.0), 0.0)
    assert isinstance(request, Accepted)
    reply = mib.answer_v3(request, ("127.0.0.1", 1))
    assert reply is not None and reply.error_status == 0
    assert mib.value(o.config_file) == b"tftp://10.0.0.1/f.bin" and written == [{o.config_file, o.config_hash}]
    bad = (VarBind(o.config_hash, STRING, b"\1" * 5),)
    request = mta.receive(server.encode_request(m.Pdu(m.PduType.SET, 2, bad), keys, 2, 0.0), 0.0)
    assert isinstance(request, Accepted)
    refused = mib.answer_v3(request, ("127.0.0.1", 1))
    assert refused is not None and refused.error_status == m.ErrorStatus.WRONG_LENGTH and len(written) == 1


def test_inform_sender_rediscovers_a_receiver_whose_engine_changed() -> None:
    keys = sa()

    async def scenario() -> tuple[Sides, m.Pdu]:
        s = await sides(keys, keys)
        try:
            await s.mta.request_v3(s.server.address, keys, m.PduType.INFORM, m.notification(ENROLLMENT, 1, ()))
            server = s.server.usm
            assert server is not None
            server.remove_user(b"", keys.name)
            server.engine_id = bytes.fromhex("80001f8880" + "0000000000ff")  # reinstalled: a new engine ID
            server.add_user(keys)
            return s, await s.mta.request_v3(s.server.address, keys, m.PduType.INFORM,
                                             m.notification(ENROLLMENT, 2, ()))
        finally:
            s.close()

    s, ack = asyncio.run(scenario())
    assert ack.type is m.PduType.RESPONSE and len(s.informs) == 2
    assert s.mta.engines == {s.server.address: bytes.fromhex("80001f8880" + "0000000000ff")}


def test_emta_that_knows_the_servers_engine_from_the_ap_reply_skips_discovery() -> None:
    """Key management's AP Reply carries the server's engine ID, boots and time: with them
    the eMTA's INFORM goes out at once, and the server sees no discovery probe."""
    keys = sa()

    async def scenario() -> tuple[Sides, m.Pdu]:
        s = await sides(keys, keys)
        try:
            server = s.server.usm
            assert server is not None and s.mta.usm is not None
            now = asyncio.get_running_loop().time()
            s.mta.usm.learn(SERVER_ENGINE, server.boots, server.time(now), now)
            return s, await s.mta.request_v3(s.server.address, keys.at_engine(SERVER_ENGINE), m.PduType.INFORM,
                                             m.notification(ENROLLMENT, 1, ()))
        finally:
            s.close()

    s, ack = asyncio.run(scenario())
    assert ack.type is m.PduType.RESPONSE and len(s.informs) == 1
    assert s.server.usm is not None and s.server.usm.stats[UsmStat.UNKNOWN_ENGINE_IDS] == 0
    assert s.server.stats.received == 1 and s.mta.engines == {}
