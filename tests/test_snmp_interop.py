"""net-snmp's tools against our SNMP endpoint: INFORMs in, GET/SET on the agent."""

from __future__ import annotations

import asyncio
import subprocess

from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import open_endpoint

from .peers import require

NO_MIBS = ["-m", "", "-M", "/nonexistent"]  # numeric OIDs only: no MIB noise


async def run(*cmd: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def test_snmpinform_enrollment_is_parsed_and_acknowledged() -> None:
    tool = require("snmpinform")
    o = pktc.oids(pktc.Tree.CABLELABS)
    got: list[object] = []

    def receiver(msg: m.Message, addr: tuple[str, int]) -> m.Message:
        got.append(pktc.parse_notification(msg.pdu.varbinds))
        return msg.response()

    def dotted(oid: tuple[int, ...]) -> str:
        return ".".join(map(str, oid))

    async def scenario() -> tuple[int, str, str]:
        ep = await open_endpoint("127.0.0.1", 0, receiver)
        try:
            return await run(
                tool, "-v2c", "-c", "public", "-r", "0", "-t", "3", *NO_MIBS, f"127.0.0.1:{ep.address[1]}", "",
                dotted(o.enrollment),
                dotted(o.sys_descr), "s", "Example eMTA <<HW_REV: 1; SW_REV: 2.4.1>>",
                dotted(o.sw_version), "s", "2.4.1",
                dotted(o.type_identifier), "s", "pktc1.5:051f0101",
                dotted(o.mac), "x", "001122334455",
                dotted(o.correlation_id), "i", "4242",
            )
        finally:
            ep.close()

    code, out, err = asyncio.run(scenario())
    assert code == 0, err  # snmpinform exits 0 only when the INFORM was acknowledged
    (enrollment,) = got
    assert isinstance(enrollment, pktc.Enrollment)
    assert enrollment.mac == bytes.fromhex("001122334455") and enrollment.correlation_id == 4242
    assert enrollment.type_identifier == b"pktc1.5:051f0101"


def test_snmpget_and_snmpset_against_the_agent() -> None:
    snmpget, snmpset = require("snmpget"), require("snmpset")
    o = pktc.oids(pktc.Tree.CABLELABS)
    view = MibView({b"public": False, b"private": True})
    view.define(o.sys_descr, "String", b"Example eMTA")
    view.define(o.config_file, "String", b"", writable=True)
    view.define(o.config_hash, "String", b"", writable=True)
    view.define(o.provisioning_state, "Integer", 2)

    def dotted(oid: tuple[int, ...]) -> str:
        return "." + ".".join(map(str, oid))

    async def scenario() -> list[tuple[int, str, str]]:
        ep = await open_endpoint("127.0.0.1", 0, lambda msg, addr: view.handle(msg))
        target = f"127.0.0.1:{ep.address[1]}"
        base = ["-v2c", "-r", "0", "-t", "3", "-On", *NO_MIBS]
        try:
            return [
                await run(snmpget, *base, "-c", "public", target, dotted(o.sys_descr), dotted(o.provisioning_state)),
                await run(snmpset, *base, "-c", "private", target,
                          dotted(o.config_file), "s", "tftp://10.0.0.1/mta-001122334455.bin",
                          dotted(o.config_hash), "x", "00" * 19 + "ff"),
                await run(snmpset, *base, "-c", "public", target, dotted(o.config_file), "s", "x"),
                await run(snmpset, *base, "-c", "private", target, dotted(o.sys_descr), "s", "x"),
            ]
        finally:
            ep.close()

    get, good_set, read_only_community, not_writable = asyncio.run(scenario())
    assert get[0] == 0 and "Example eMTA" in get[1] and "INTEGER: 2" in get[1], get
    assert good_set[0] == 0, good_set
    assert view.value(o.config_file) == b"tftp://10.0.0.1/mta-001122334455.bin"
    assert view.value(o.config_hash) == bytes(19) + b"\xff"
    assert read_only_community[0] != 0 and "noAccess" in read_only_community[2]
    assert not_writable[0] != 0 and "notWritable" in not_writable[2]
