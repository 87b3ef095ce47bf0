"""The simulated eCM's SNMP agent (docsDevSoftware): its SET rules, and an upgrade from
management started by net-snmp's snmpset that ends with the new version read by snmpget."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from dhcp.message import Message
from pktcable.firmware.labimage import make_image
from pktcable.firmware.swmib import SwAdmin, SwOper, sw_oids
from pktcable.flow import Flow
from pktcable.secure.labdir import LabPki
from pktcable.simulate import net
from pktcable.simulate.cmagent import CmMib
from pktcable.simulate.cmsoftware import CmSoftware
from pktcable.simulate.emta import SimConfig, SimulatedMta
from pktcable.simulate.identity import Identity
from pktcable.snmp import message as m

from .peers import require
from .test_firmware import MFG, NOW, SETTINGS
from .test_simulate_upgrade import (
    INDEX,
    cm_config,
    cm_only,
    code_file,
    der,
    fake_dhcp,
    sim_config,
    software_versions,
    start_tftp,
    write_root,
)
from .test_simulator_strict import HOST, dotted, free_port, net_snmp

SW = sw_oids()
T = m.ber.SNMP_TYPE_BY_KEYWORD


def set_msg(*varbinds: tuple[tuple[int, ...], str, object], community: bytes = b"private") -> m.Message:
    return m.Message(community, m.Pdu(m.PduType.SET, 7, tuple(m.VarBind(oid, T[kind.lower()], value)
                                                                  for oid, kind, value in varbinds)))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


@pytest.fixture(scope="module")
def root_pem(lab: LabPki, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_root(lab, tmp_path_factory.mktemp("root"))


def mib(lab: LabPki, enabled: bool = True, root: bool = True) -> tuple[CmMib, CmSoftware, list[int]]:
    sw = CmSoftware.factory("1.0.0", "fw-1.0.0.p7", lab.get("cvc-root").certificate if root else None, MFG)
    sw.enabled = enabled
    started: list[int] = []
    agent = CmMib(sw, {b"public": False, b"private": True}, lambda: started.append(1))
    return agent, sw, started


def answer(agent: CmMib, msg: m.Message) -> m.Pdu:
    got = agent.answer(msg, (HOST, 1))
    assert got is not None
    return got.pdu


def test_set_rules_of_the_software_group(lab: LabPki) -> None:
    agent, sw, started = mib(lab)
    # docsDevSwServer and the address are tied both ways (RFC 4639).
    pdu = answer(agent, set_msg((SW.server, "IpAddress", IPv4Address("10.1.2.3").packed)))
    assert pdu.error_status == 0 and sw.server == IPv4Address("10.1.2.3")
    assert agent.view.value(SW.address) == IPv4Address("10.1.2.3").packed and agent.view.value(SW.address_type) == 1
    pdu = answer(agent, set_msg((SW.address_type, "Integer", 1), (SW.address, "String", bytes((10, 9, 9, 9)))))
    assert pdu.error_status == 0 and agent.view.value(SW.server) == bytes((10, 9, 9, 9))
    # A type and an address that do not fit: refused, nothing changed.
    pdu = answer(agent, set_msg((SW.address_type, "Integer", 2), (SW.address, "String", bytes(4))))
    assert pdu.error_status == m.ErrorStatus.INCONSISTENT_VALUE and pdu.error_index == 2
    assert sw.server == IPv4Address("10.9.9.9")
    assert agent.view.value(SW.address_type) == 1
    for varbind, status in (((SW.admin, "Integer", 7), m.ErrorStatus.WRONG_VALUE),
                            ((SW.transport, "Integer", 3), m.ErrorStatus.WRONG_VALUE),
                            ((SW.filename, "String", b"x" * 65), m.ErrorStatus.WRONG_LENGTH),
                            ((SW.oper, "Integer", 3), m.ErrorStatus.NOT_WRITABLE),
                            ((SW.current, "String", b"9"), m.ErrorStatus.NOT_WRITABLE)):
        assert answer(agent, set_msg(varbind)).error_status == status, varbind
    assert answer(agent, set_msg((SW.admin, "Integer", 1), community=b"public")).error_status == \
        m.ErrorStatus.NO_ACCESS
    assert not started
    # tftp(1) or http(2): the next download's transport (as the modem's SET reads back).
    assert answer(agent, set_msg((SW.transport, "Integer", 2))).error_status == 0 and sw.transport == 2
    assert agent.view.value(SW.transport) == 2
    assert answer(agent, set_msg((SW.transport, "Integer", 1))).error_status == 0 and sw.transport == 1
    pdu = answer(agent, set_msg((SW.filename, "String", b"fw-2.p7"), (SW.admin, "Integer", 1)))
    assert pdu.error_status == 0 and started == [1] and sw.filename == "fw-2.p7"
    # While a download runs nothing of the group changes.
    sw.oper = SwOper.IN_PROGRESS
    assert answer(agent, set_msg((SW.filename, "String", b"other"))).error_status == m.ErrorStatus.INCONSISTENT_VALUE
    sw.oper = SwOper.OTHER
    assert answer(agent, set_msg((SW.admin, "Integer", 3))).error_status == 0
    assert sw.admin is SwAdmin.IGNORE_PROVISIONING_UPGRADE


@pytest.mark.parametrize("enabled, root", [(False, True), (True, False)])
def test_no_upgrade_from_management_without_a_cvc_from_this_boots_config_file(lab: LabPki, enabled: bool,
                                                                             root: bool) -> None:
    agent, _, started = mib(lab, enabled, root)
    pdu = answer(agent, set_msg((SW.admin, "Integer", 1)))
    assert pdu.error_status == m.ErrorStatus.INCONSISTENT_VALUE and pdu.error_index == 1 and not started


# -- over the network ------------------------------------------------------------------------------------------


@asynccontextmanager
async def running(sim: SimConfig, files: dict[str, bytes],
                  answer: Callable[[Message], list[bytes]] = cm_only) -> AsyncIterator[tuple[SimulatedMta, Any]]:
    """A device whose first walk has ended, still up (its agents answering)."""
    dhcp = await fake_dhcp(sim, answer)
    tftp = await start_tftp(sim, files)
    relay = await net.open_relay((sim.relay, sim.relay_port), (sim.server, sim.dhcp_port))
    device = SimulatedMta(Identity.make(INDEX), Flow.BASIC_1, sim, relay)
    task = asyncio.ensure_future(device.run())
    try:
        await asyncio.wait_for(asyncio.shield(device.finished), 60)
        yield device, dhcp
    finally:
        device.stop()
        await asyncio.wait_for(task, 10)
        relay.close()
        tftp.close()
        dhcp.transport.close()


def upgrade_files(lab: LabPki, tmp_path: Path) -> dict[str, bytes]:
    """A config file that names the running image and carries the manufacturer CVC (so an upgrade from
    management is enabled and none from provisioning due), and the new image on the server."""
    return {"cm.cfg": cm_config(tmp_path, "fw-1.0.0.p7", cvc_der=der(lab, "manufacturer-cvc")),
            "fw-2.0.0.p7": code_file(lab, make_image("2.0.0", bytes(range(256)) * 30))}


async def poll_snmpget(tool: str, target: str, until: Callable[[str], bool], seconds: float = 30.0) -> str:
    """snmpget the status and version until ``until`` holds (the device reboots in between)."""
    deadline = asyncio.get_running_loop().time() + seconds
    out = ""
    while asyncio.get_running_loop().time() < deadline:
        got = await asyncio.to_thread(net_snmp, tool, "-v2c", "-c", "public", target, dotted(SW.oper), dotted(SW.current),
                                      dotted(SW.admin), dotted(SW.filename))
        out = got.stdout
        if got.returncode == 0 and until(out):
            return out
        await asyncio.sleep(0.2)
    return out


def test_snmpset_of_the_software_objects_upgrades_the_simulated_cm(lab: LabPki, root_pem: str,
                                                                  tmp_path: Path) -> None:
    snmpset, snmpget = require("snmpset"), require("snmpget")
    sim = sim_config(root_pem, cm_agent_port=free_port())

    async def scenario() -> tuple[subprocess.CompletedProcess[str], str, list[str], SimulatedMta]:
        async with running(sim, upgrade_files(lab, tmp_path)) as (device, dhcp):
            assert device.software.enabled and device.result.upgrade == "", device.result.deviations
            target = f"{HOST}:{sim.cm_agent_port}"
            before = await poll_snmpget(snmpget, target, lambda out: "1.0.0" in out)
            assert '"1.0.0"' in before, before
            done = await asyncio.to_thread(net_snmp, snmpset, "-v2c", "-c", "private", target,
                                           dotted(SW.server), "a", sim.server, dotted(SW.filename), "s", "fw-2.0.0.p7",
                                           dotted(SW.admin), "i", "1")
            after = await poll_snmpget(snmpget, target, lambda out: '"2.0.0"' in out)
            return done, after, software_versions(dhcp.seen), device

    done, after, versions, device = asyncio.run(scenario())
    assert done.returncode == 0, done.stderr
    lines = after.strip().splitlines()
    assert len(lines) == 4, (after, versions, device.result.state, device.result.upgrade, device.result.deviations)
    assert lines[0].endswith("INTEGER: 3"), after     # docsDevSwOperStatus completeFromMgt(3)
    assert lines[1].endswith('STRING: "2.0.0"'), after  # docsDevSwCurrentVers
    assert lines[2].endswith("INTEGER: 3"), after     # docsDevSwAdminStatus ignoreProvisioningUpgrade(3)
    # docsDevSwFilename stays the SNMP-set one: the config file's TLV 9 (the old image) is disregarded now.
    assert lines[3].endswith('STRING: "fw-2.0.0.p7"'), after
    # It rebooted: DHCP again, with the new version in option 43.6; the config file's TLV 9 (the old
    # image) is ignored after an upgrade from management.
    assert versions == ["1.0.0", "2.0.0"], versions
    assert device.result.upgrade == "upgraded: 2.0.0" and device.result.walks >= 2


def test_a_management_upgrade_of_a_missing_file_fails_and_keeps_the_version(lab: LabPki, root_pem: str,
                                                                             tmp_path: Path) -> None:
    sim = sim_config(root_pem, cm_agent_port=free_port())

    async def scenario() -> tuple[m.Message, SimulatedMta]:
        from pktcable.snmp.aio import open_endpoint

        async with running(sim, upgrade_files(lab, tmp_path)) as (device, _):
            manager = await open_endpoint(HOST, 0, timeout=1.0, retries=2)
            try:
                target = (HOST, sim.cm_agent_port or 0)
                await manager.request(target, b"private", m.PduType.SET, (
                    m.VarBind(SW.server, T["ipaddress"], IPv4Address(HOST).packed),
                    m.VarBind(SW.filename, T["string"], b"fw-7.7.7.p7"), m.VarBind(SW.admin, T["integer"], 1)))
                for _ in range(100):
                    got = await manager.request(target, b"public", m.PduType.GET, (m.null_varbind(SW.oper),))
                    if got.pdu.varbinds[0].value != SwOper.IN_PROGRESS:
                        break
                    await asyncio.sleep(0.1)
                got = await manager.request(target, b"public", m.PduType.GET,
                                            (m.null_varbind(SW.oper), m.null_varbind(SW.current),
                                             m.null_varbind(SW.admin)))
                return got, device
            finally:
                manager.close()

    got, device = asyncio.run(scenario())
    assert [vb.value for vb in got.pdu.varbinds] == [SwOper.FAILED, b"1.0.0", SwAdmin.ALLOW_PROVISIONING_UPGRADE]
    assert device.result.upgrade.startswith("file-missing") and device.software.version == "1.0.0"
