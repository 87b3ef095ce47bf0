"""net-snmp against our SNMPv3 (USM) agent, receiver and manager, over real UDP.

The keys are random localized keys, as key management hands them over (no
password): net-snmp takes them with ``-3k``/``-3K`` (snmpget/snmpset) and with
``createUser ... -l`` (snmptrapd, snmpd), so both sides hold the same bytes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint
from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from pktcable.snmp.usmengine import Accepted, UsmEngine, UsmFailure, UsmStat
from tlv import ber
from tlv.ber import VarBind

from .peers import require
from .ports import free_port
from .procs import stop

NO_MIBS = ["-m", "", "-M", "/nonexistent"]
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
CONFIG_FILE = (1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 5, 0)  # a writable string, as the SET of the flow
ENROLLMENT = (1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 2, 0, 1)
AGENT_ENGINE = bytes.fromhex("80001f8880" + "0010180a0b0c")
NET_SNMP_AUTH = {AuthProtocol.HMAC_MD5_96: "MD5", AuthProtocol.HMAC_SHA_96: "SHA"}
NET_SNMP_PRIV = {PrivProtocol.DES: "DES", PrivProtocol.AES_128: "AES"}
LEVELS = [
    (AuthProtocol.HMAC_SHA_96, PrivProtocol.DES), (AuthProtocol.HMAC_MD5_96, PrivProtocol.DES),
    (AuthProtocol.HMAC_SHA_96, PrivProtocol.AES_128), (AuthProtocol.HMAC_MD5_96, PrivProtocol.AES_128),
    (AuthProtocol.HMAC_SHA_96, PrivProtocol.NONE), (AuthProtocol.HMAC_MD5_96, PrivProtocol.NONE),
]
#: Generous: a loaded 2-core machine.
BUDGET = 10.0


def sa_user(auth: AuthProtocol, priv: PrivProtocol, engine_id: bytes = b"") -> UsmUser:
    """A user as an SA gives it: random localized keys (a privKey as long as the hash's output)."""
    priv_key = os.urandom(auth.key_length) if priv is not PrivProtocol.NONE else b""
    return UsmUser(b"MTA-Prov-00:10:18:0a:0b:0c", engine_id, auth, os.urandom(auth.key_length), priv, priv_key)


def net_snmp_args(user: UsmUser, auth_key: bytes | None = None) -> list[str]:
    level = "authPriv" if user.priv is not PrivProtocol.NONE else "authNoPriv"
    args = ["-v3", "-l", level, "-u", user.name.decode(), "-a", NET_SNMP_AUTH[user.auth],
            "-3k", (auth_key or user.auth_key).hex()]
    if user.priv is not PrivProtocol.NONE:
        args += ["-x", NET_SNMP_PRIV[user.priv], "-3K", user.priv_key.hex()]
    return args


def create_user(user: UsmUser) -> str:
    """net-snmp's createUser line with the localized keys (snmpd.conf(5): ``-l``)."""
    line = f"createUser {user.name.decode()} {NET_SNMP_AUTH[user.auth]} -l 0x{user.auth_key.hex()}"
    if user.priv is not PrivProtocol.NONE:
        line += f" {NET_SNMP_PRIV[user.priv]} -l 0x{user.priv_key.hex()}"
    return line + "\n"


async def run(*cmd: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def tool_env(tmp: Path) -> dict[str, str]:
    """net-snmp keeps engine boots and cached users in its persistent folder: ours, per test."""
    return {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp / "persist"), "SNMPCONFPATH": str(tmp / "conf")}


async def agent(user: UsmUser) -> tuple[SnmpEndpoint, UsmEngine, MibView]:
    engine = UsmEngine(AGENT_ENGINE, boots=4, started=asyncio.get_running_loop().time() - 1000)
    engine.add_user(user)
    view = MibView({}, users={user.name: True})
    view.define(SYS_DESCR, "String", b"Example eMTA")
    view.define(CONFIG_FILE, "String", b"", writable=True)
    ep = await open_endpoint("127.0.0.1", 0, usm=engine, v3_handler=lambda req, addr: view.handle_v3(req))
    return ep, engine, view


@pytest.mark.parametrize(("auth", "priv"), LEVELS, ids=lambda p: p.name)
def test_snmpget_and_snmpset_v3_against_our_agent(auth: AuthProtocol, priv: PrivProtocol, tmp_path: Path) -> None:
    snmpget, snmpset = require("snmpget"), require("snmpset")
    user = sa_user(auth, priv, AGENT_ENGINE)

    async def scenario() -> tuple[list[tuple[int, str, str]], MibView, UsmEngine]:
        ep, engine, view = await agent(user)
        target = f"127.0.0.1:{ep.address[1]}"
        base = [*net_snmp_args(user), "-r", "1", "-t", "3", "-On", *NO_MIBS, target]
        env = tool_env(tmp_path)
        try:
            return [
                await run(snmpget, *base, "." + ".".join(map(str, SYS_DESCR)), env=env),
                await run(snmpset, *base, "." + ".".join(map(str, CONFIG_FILE)), "s",
                          "tftp://10.0.0.1/mta.bin", env=env),
            ], view, engine
        finally:
            ep.close()

    (get, set_), view, engine = asyncio.run(scenario())
    assert get[0] == 0, get
    assert 'STRING: "Example eMTA"' in get[1]
    assert set_[0] == 0, set_
    assert view.value(CONFIG_FILE) == b"tftp://10.0.0.1/mta.bin"
    # net-snmp discovered the engine (one Report) and was never refused for anything else.
    assert engine.stats[UsmStat.UNKNOWN_ENGINE_IDS] >= 1
    assert engine.stats[UsmStat.WRONG_DIGESTS] == engine.stats[UsmStat.DECRYPTION_ERRORS] == 0


def test_snmpget_with_a_wrong_auth_key_is_refused(tmp_path: Path) -> None:
    snmpget = require("snmpget")
    user = sa_user(AuthProtocol.HMAC_SHA_96, PrivProtocol.DES, AGENT_ENGINE)

    async def scenario() -> tuple[tuple[int, str, str], UsmEngine]:
        ep, engine, _ = await agent(user)
        try:
            return await run(snmpget, *net_snmp_args(user, auth_key=bytes(20)), "-r", "0", "-t", "3", *NO_MIBS,
                             f"127.0.0.1:{ep.address[1]}", "." + ".".join(map(str, SYS_DESCR)),
                             env=tool_env(tmp_path)), engine
        finally:
            ep.close()

    (code, out, err), engine = asyncio.run(scenario())
    assert code != 0 and "Example eMTA" not in out
    assert "Authentication failure" in err, err  # net-snmp names our usmStatsWrongDigests Report
    assert engine.stats[UsmStat.WRONG_DIGESTS] == 1


def test_snmpget_with_a_wrong_priv_key_is_a_decryption_error(tmp_path: Path) -> None:
    snmpget = require("snmpget")
    user = sa_user(AuthProtocol.HMAC_MD5_96, PrivProtocol.DES, AGENT_ENGINE)
    wrong = UsmUser(user.name, AGENT_ENGINE, user.auth, user.auth_key, user.priv, bytes(16))

    async def scenario() -> tuple[tuple[int, str, str], UsmEngine]:
        ep, engine, _ = await agent(user)
        try:
            return await run(snmpget, *net_snmp_args(wrong), "-r", "0", "-t", "3", *NO_MIBS,
                             f"127.0.0.1:{ep.address[1]}", "." + ".".join(map(str, SYS_DESCR)),
                             env=tool_env(tmp_path)), engine
        finally:
            ep.close()

    (code, out, err), engine = asyncio.run(scenario())
    assert code != 0 and "Example eMTA" not in out
    assert "Decryption error" in err, err
    assert engine.stats[UsmStat.DECRYPTION_ERRORS] == 1


class Daemon:
    """snmptrapd or snmpd in the foreground, its configuration in a temporary folder."""

    def __init__(self, tool: str, tmp: Path, config: str, port: int, *extra: str) -> None:
        conf = tmp / f"{Path(tool).name}.conf"
        conf.write_text(config)
        self.log = tmp / f"{Path(tool).name}.log"
        self.proc = subprocess.Popen(  # noqa: S603 - a test peer
            [tool, "-f", "-Lo", "-C", "-c", str(conf), *NO_MIBS, *extra, f"udp:127.0.0.1:{port}"],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, text=True, env=tool_env(tmp))
        deadline = time.monotonic() + BUDGET
        while "NET-SNMP version" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stop(self.proc)
                raise AssertionError(f"{tool} did not start: {self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def close(self) -> str:
        stop(self.proc)
        return self.output()


@pytest.mark.parametrize(("auth", "priv"), [LEVELS[0], LEVELS[3], LEVELS[5]], ids=lambda p: p.name)
def test_our_v3_inform_is_acknowledged_by_snmptrapd(auth: AuthProtocol, priv: PrivProtocol,
                                                    tmp_path: Path) -> None:
    tool = require("snmptrapd")
    user = sa_user(auth, priv)  # no engine ID: the receiver's is discovered (RFC 3414 4)
    port = free_port()
    trapd = Daemon(tool, tmp_path, create_user(user) + f"authUser log {user.name.decode()}\n", port)

    async def scenario() -> tuple[m.Pdu, SnmpEndpoint]:
        engine = UsmEngine(AGENT_ENGINE, boots=4, started=asyncio.get_running_loop().time())
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, timeout=3.0, retries=1)
        try:
            enrollment = pktc.Enrollment(pktc.Tree.CABLELABS, b"enrollment-over-v3", b"2.4.1", b"pktc1.5:051f0101",
                                         bytes.fromhex("0010180a0b0c"), 4242)
            return await ep.request_v3(("127.0.0.1", port), user, m.PduType.INFORM, enrollment.varbinds(100)), ep
        finally:
            ep.close()

    try:
        ack, ep = asyncio.run(scenario())
    finally:
        log = trapd.close()
    assert ack.type is m.PduType.RESPONSE and ack.error_status == 0
    assert pktc.parse_notification(ack.varbinds).correlation_id == 4242  # type: ignore[union-attr]
    assert "enrollment-over-v3" in log and ".4491.2.2.1.2.0.1" in log and "pktc1.5:051f0101" in log, log
    (engine_id,) = ep.engines.values()
    assert engine_id != AGENT_ENGINE  # the keys were used at snmptrapd's engine, not ours


def test_inform_with_a_wrong_key_ends_in_a_named_failure(tmp_path: Path) -> None:
    tool = require("snmptrapd")
    user = sa_user(AuthProtocol.HMAC_SHA_96, PrivProtocol.DES)
    port = free_port()
    trapd = Daemon(tool, tmp_path, create_user(user) + f"authUser log {user.name.decode()}\n", port)
    wrong = UsmUser(user.name, b"", user.auth, bytes(20), user.priv, user.priv_key)

    async def scenario() -> None:
        engine = UsmEngine(AGENT_ENGINE, started=asyncio.get_running_loop().time())
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, timeout=3.0, retries=0)
        try:
            await ep.request_v3(("127.0.0.1", port), wrong, m.PduType.INFORM, m.notification(ENROLLMENT, 1, ()))
        finally:
            ep.close()

    try:
        with pytest.raises(UsmFailure) as failure:
            asyncio.run(scenario())
    finally:
        trapd.close()
    assert failure.value.stat is UsmStat.WRONG_DIGESTS
    assert "usmStatsWrongDigests" in str(failure.value)


@pytest.mark.parametrize(("auth", "priv"), [LEVELS[0], LEVELS[2]], ids=lambda p: p.name)
def test_our_manager_gets_and_sets_on_net_snmp_snmpd(auth: AuthProtocol, priv: PrivProtocol,
                                                     tmp_path: Path) -> None:
    tool = require("snmpd")
    user = sa_user(auth, priv)
    port = free_port()
    name = user.name.decode()
    snmpd = Daemon(tool, tmp_path, create_user(user) + f"rwuser {name} auth\nsysDescr Example snmpd\n"
                   "sysContact nobody\n", port, "-I", "-vacm_conf")

    async def scenario() -> tuple[m.Pdu, m.Pdu, SnmpEndpoint]:
        engine = UsmEngine(bytes.fromhex("80001f8880" + "aabbccddeeff"), started=asyncio.get_running_loop().time())
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, timeout=3.0, retries=1)
        try:
            got = await ep.request_v3(("127.0.0.1", port), user, m.PduType.GET, (m.null_varbind(SYS_DESCR),))
            sys_name = (1, 3, 6, 1, 2, 1, 1, 5, 0)
            set_ = await ep.request_v3(("127.0.0.1", port), user, m.PduType.SET,
                                       (VarBind(sys_name, ber.SNMP_TYPE_BY_KEYWORD["string"], b"emta-lab"),))
            return got, set_, ep
        finally:
            ep.close()

    try:
        got, set_, ep = asyncio.run(scenario())
    finally:
        log = snmpd.close()
    assert got.varbinds[0].value == b"Example snmpd", log
    assert set_.error_status == 0 and set_.varbinds[0].value == b"emta-lab", log


@pytest.mark.parametrize(("auth", "priv"), [LEVELS[0], LEVELS[3]], ids=lambda p: p.name)
def test_snmpinform_v3_to_our_receiver(auth: AuthProtocol, priv: PrivProtocol, tmp_path: Path) -> None:
    """net-snmp as the eMTA: it discovers our (authoritative) engine and sends an INFORM
    with the SA's keys; our receiver answers it."""
    tool = require("snmpinform")
    user = sa_user(auth, priv)
    got: list[object] = []

    def receiver(req: Accepted, addr: tuple[str, int]) -> m.Pdu | None:
        got.append(pktc.parse_notification(req.pdu.varbinds))
        return m.Pdu(m.PduType.RESPONSE, req.pdu.request_id, req.pdu.varbinds)

    o = pktc.oids(pktc.Tree.CABLELABS)

    def dotted(oid: tuple[int, ...]) -> str:
        return "." + ".".join(map(str, oid))

    async def scenario() -> tuple[int, str, str]:
        engine = UsmEngine(bytes.fromhex("8000118b017f000001"), started=asyncio.get_running_loop().time())
        engine.add_user(user)  # at our engine: we are authoritative for INFORMs
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, v3_handler=receiver)
        try:
            return await run(tool, *net_snmp_args(user), "-r", "1", "-t", "3", *NO_MIBS,
                             f"127.0.0.1:{ep.address[1]}", "", dotted(o.enrollment),
                             dotted(o.sys_descr), "s", "Example eMTA", dotted(o.sw_version), "s", "2.4.1",
                             dotted(o.type_identifier), "s", "pktc1.5:051f0101", dotted(o.mac), "x", "0010180a0b0c",
                             dotted(o.correlation_id), "i", "77", env=tool_env(tmp_path))
        finally:
            ep.close()

    code, out, err = asyncio.run(scenario())
    assert code == 0, err  # snmpinform exits 0 only when the INFORM was acknowledged
    (enrollment,) = got
    assert isinstance(enrollment, pktc.Enrollment) and enrollment.correlation_id == 77
    assert enrollment.mac == bytes.fromhex("0010180a0b0c")
