"""The firmware push (pktcable.firmware.push, pktcable.provision.swpush): the state machine
on a fake clock with every named outcome, and the push against a running simulated CM,
where it does what net-snmp's snmpset does: the same SET, the same end."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from pktcable.firmware.push import Done, Outcome, Push, Send, Sleep
from pktcable.firmware.swmib import SwOper, sw_oids
from pktcable.provision.swpush import push_firmware, v2c
from pktcable.secure.labdir import LabPki
from pktcable.simulate.emta import SimulatedMta
from pktcable.snmp import message as m
from pktcable.snmp.aio import open_endpoint

from .peers import require
from .test_firmware import NOW, SETTINGS
from .test_simulate_cmagent import running, upgrade_files
from .test_simulate_upgrade import sim_config, write_root
from .test_simulator_strict import HOST, dotted, free_port, net_snmp

SW = sw_oids()
T = m.ber.SNMP_TYPE_BY_KEYWORD
SERVER = IPv4Address("10.0.0.9")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


@pytest.fixture(scope="module")
def root_pem(lab: LabPki, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_root(lab, tmp_path_factory.mktemp("root"))


def status(oper: int, version: str, error: int = 0, index: int = 0) -> m.Pdu:
    return m.Pdu(m.PduType.RESPONSE, 1, (m.VarBind(SW.oper, T["integer"], oper),
                                         m.VarBind(SW.current, T["string"], version.encode())), error, index)


OK_SET = m.Pdu(m.PduType.RESPONSE, 2, ())


def play(push: Push, answers: Sequence[m.Pdu | None], step: float = 1.0) -> tuple[Done, list[Any]]:
    """Drive ``push`` on a fake clock: each Send gets the next answer, each Sleep is slept."""
    now, actions = 0.0, []
    action = push.start(now)
    feed = iter(answers)
    while not isinstance(action, Done):
        actions.append(action)
        if isinstance(action, Send):
            now += step / 10
            action = push.answered(next(feed), now)
        else:
            assert isinstance(action, Sleep) and action.until > now
            now = action.until
            action = push.woke(now)
    return action, actions


def test_a_push_completes_after_progress_and_a_reboot() -> None:
    done, actions = play(Push(SERVER, "fw-2.p7", deadline=60), [
        status(SwOper.OTHER, "1.0"), OK_SET, status(SwOper.IN_PROGRESS, "1.0"), None,
        status(SwOper.COMPLETE_FROM_MGT, "2.0")])
    assert done.outcome is Outcome.COMPLETED and done.ok and (done.version_before, done.version) == ("1.0", "2.0")
    sets = [a for a in actions if isinstance(a, Send) and a.set]
    assert len(sets) == 1
    assert [(vb.oid, vb.value) for vb in sets[0].varbinds] == [
        (SW.address_type, 1), (SW.address, SERVER.packed), (SW.filename, b"fw-2.p7"), (SW.admin, 1)]


def test_the_legacy_set_uses_docsdevswserver_and_ipv6_uses_the_address_objects() -> None:
    legacy = Push(SERVER, "f", deadline=9, legacy=True).set_request()
    assert [(vb.oid, vb.type.keyword, vb.value) for vb in legacy.varbinds][0] == (SW.server, "IPAddress", SERVER.packed)
    six = Push(IPv6Address("2001:db8::1"), "f", deadline=9).set_request()
    assert (six.varbinds[0].value, len(six.varbinds[1].value)) == (2, 16)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="IPv4"):
        Push(IPv6Address("2001:db8::1"), "f", deadline=9, legacy=True)
    for name in ("", "x" * 65):
        with pytest.raises(ValueError, match="docsDevSwFilename"):
            Push(SERVER, name, deadline=9)


@pytest.mark.parametrize("answers, outcome, detail", [
    ([None], Outcome.UNREACHABLE, "GET"),
    ([status(SwOper.IN_PROGRESS, "1.0")], Outcome.BUSY, "inProgress"),
    ([status(SwOper.OTHER, "1.0"), None], Outcome.UNREACHABLE, "SET"),
    ([status(SwOper.OTHER, "1.0"), m.Pdu(m.PduType.RESPONSE, 2, (), m.ErrorStatus.INCONSISTENT_VALUE, 4)],
     Outcome.REFUSED, "inconsistent_value(12) at docsDevSwAdminStatus.0"),
    ([status(SwOper.OTHER, "1.0"), OK_SET, status(SwOper.IN_PROGRESS, "1.0"), status(SwOper.FAILED, "1.0")],
     Outcome.FAILED, "failed(4)"),
    # A failed(4) left from an earlier push is no news; a new one after progress is.
    ([status(SwOper.FAILED, "1.0"), OK_SET, status(SwOper.FAILED, "1.0"), status(SwOper.IN_PROGRESS, "1.0"),
      status(SwOper.FAILED, "1.0")], Outcome.FAILED, "failed(4)"),
])
def test_named_outcomes(answers: list[m.Pdu | None], outcome: Outcome, detail: str) -> None:
    done, _ = play(Push(SERVER, "fw-2.p7", deadline=60), answers)
    assert done.outcome is outcome and detail in done.detail, done


def test_a_completion_left_from_an_earlier_push_is_polled_past_until_the_deadline() -> None:
    stale = status(SwOper.COMPLETE_FROM_MGT, "2.0")
    done, actions = play(Push(SERVER, "fw-2.p7", deadline=10, poll_every=2), [stale, OK_SET] + [stale] * 10)
    assert done.outcome is Outcome.TIMED_OUT and "complete_from_mgt" in done.detail
    assert 3 <= sum(isinstance(a, Sleep) for a in actions) <= 6  # every poll_every seconds, no busy loop
    with pytest.raises(ValueError, match="poll_every"):
        Push(SERVER, "f", deadline=9, poll_every=0)


# -- against the simulated CM ----------------------------------------------------------------------------------


def record_sets(device: SimulatedMta) -> list[tuple[tuple[int, ...], str, object]]:
    """The varbinds of every SET the eCM's agent takes from now on."""
    assert device.cm_mib is not None
    seen: list[tuple[tuple[int, ...], str, object]] = []
    answer = device.cm_mib.answer

    def recording(msg: m.Message, addr: Any) -> m.Message | None:
        if msg.pdu.type is m.PduType.SET:
            seen.extend((vb.oid, vb.type.keyword, vb.value) for vb in msg.pdu.varbinds)
        return answer(msg, addr)

    device.cm_mib.answer = recording  # type: ignore[method-assign]
    device.cm_agent.handler = recording  # type: ignore[union-attr]
    return seen


async def final_state(target: tuple[str, int]) -> list[object]:
    manager = await open_endpoint(HOST, 0, timeout=1.0, retries=2)
    try:
        got = await manager.request(target, b"public", m.PduType.GET, tuple(
            m.null_varbind(oid) for oid in (SW.oper, SW.current, SW.admin)))
        return [vb.value for vb in got.pdu.varbinds]
    finally:
        manager.close()


def test_the_push_upgrades_the_simulated_cm_as_snmpset_does(lab: LabPki, root_pem: str, tmp_path: Path) -> None:
    snmpset = require("snmpset")

    async def by_push() -> tuple[Done, list[Any], list[object], SimulatedMta]:
        sim = sim_config(root_pem, cm_agent_port=free_port())
        async with running(sim, upgrade_files(lab, tmp_path)) as (device, _):
            sets = record_sets(device)
            target = (HOST, sim.cm_agent_port or 0)
            manager = await open_endpoint(HOST, 0, timeout=0.5, retries=1)
            try:
                done = await push_firmware(v2c(manager, target, b"private"), IPv4Address(HOST), "fw-2.0.0.p7",
                                           budget=30, poll_every=0.2, legacy=True)
            finally:
                manager.close()
            return done, sets, await final_state(target), device

    async def by_snmpset() -> tuple[subprocess.CompletedProcess[str], list[Any], list[object], SimulatedMta]:
        sim = sim_config(root_pem, cm_agent_port=free_port())
        async with running(sim, upgrade_files(lab, tmp_path)) as (device, _):
            sets = record_sets(device)
            target = (HOST, sim.cm_agent_port or 0)
            out = await asyncio.to_thread(net_snmp, snmpset, "-v2c", "-c", "private", f"{HOST}:{target[1]}",
                                          dotted(SW.server), "a", HOST, dotted(SW.filename), "s", "fw-2.0.0.p7",
                                          dotted(SW.admin), "i", "1")
            for _ in range(300):  # until it is back from its reboot with the new image (30 s)
                if device.result.walks >= 2 and device.cm_agent is not None:
                    break
                await asyncio.sleep(0.1)
            return out, sets, await final_state(target), device

    done, push_sets, push_end, pushed = asyncio.run(by_push())
    out, net_snmp_sets, snmpset_end, set_by_hand = asyncio.run(by_snmpset())
    assert out.returncode == 0, out.stderr
    assert done.outcome is Outcome.COMPLETED and (done.version_before, done.version) == ("1.0.0", "2.0.0"), done
    # The same SET on the wire (objects, types, values), and the same end: completeFromMgt(3), the new
    # version, ignoreProvisioningUpgrade(3); both devices rebooted once into the new image.
    assert push_sets == net_snmp_sets and len(push_sets) == 3
    assert push_end == snmpset_end == [SwOper.COMPLETE_FROM_MGT, b"2.0.0", 3]
    assert pushed.result.upgrade == set_by_hand.result.upgrade == "upgraded: 2.0.0"


def test_a_push_of_a_missing_file_ends_failed_and_one_to_a_silent_address_unreachable(
        lab: LabPki, root_pem: str, tmp_path: Path) -> None:
    async def scenario() -> tuple[Done, Done]:
        sim = sim_config(root_pem, cm_agent_port=free_port())
        async with running(sim, upgrade_files(lab, tmp_path)):
            manager = await open_endpoint(HOST, 0, timeout=0.3, retries=1)
            try:
                missing = await push_firmware(v2c(manager, (HOST, sim.cm_agent_port or 0), b"private"),
                                              IPv4Address(HOST), "fw-0.p7", budget=20, poll_every=0.2)
                silent = await push_firmware(v2c(manager, (HOST, free_port()), b"private"),
                                             IPv4Address(HOST), "fw-0.p7", budget=5, poll_every=0.2)
            finally:
                manager.close()
        return missing, silent

    missing, silent = asyncio.run(scenario())
    assert missing.outcome is Outcome.FAILED and missing.version == "1.0.0", missing
    assert silent.outcome is Outcome.UNREACHABLE, silent


# -- the command line --------------------------------------------------------------------------------------------


def test_lab_image_command_writes_an_image_the_simulator_reads(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pktcable.cli import main
    from pktcable.firmware.labimage import image_version

    out = tmp_path / "fw.bin"
    result = CliRunner().invoke(main, ["firmware", "lab-image", "--version", "2.0.0", "--size", "1000", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert image_version(data) == "2.0.0" and len(data) == len(b"PKTCABLE-SIM-IMAGE 2.0.0\n") + 1000
    bad = CliRunner().invoke(main, ["firmware", "lab-image", "--version", "two words", "-o", str(out)])
    assert bad.exit_code == 2 and "not printable ASCII" in bad.output


def test_push_command_against_the_simulated_cm(lab: LabPki, root_pem: str, tmp_path: Path) -> None:
    import json
    import sys

    sim = sim_config(root_pem, cm_agent_port=free_port())
    command = [sys.executable, "-m", "pktcable", "firmware", "push", "--device-address", HOST,
               "--agent-port", str(sim.cm_agent_port), "--server", HOST, "--filename", "fw-2.0.0.p7",
               "--budget", "30", "--poll-every", "0.2", "--json"]

    async def scenario() -> subprocess.CompletedProcess[str]:
        async with running(sim, upgrade_files(lab, tmp_path)):
            return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60,
                                           cwd=Path(__file__).resolve().parent.parent)

    done = asyncio.run(scenario())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"outcome": "completed", "detail": "version 2.0.0", "version_before": "1.0.0",
                                       "version": "2.0.0", "oper_status": 3}
    usage = subprocess.run([*command[:-1], "--filename", "x" * 65], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "docsDevSwFilename" in usage.stderr


# -- by HTTP (docsDevSwServerTransportProtocol http(2)) -------------------------------------------------------


def test_a_push_by_http_sets_the_transport_in_the_same_pdu() -> None:
    from pktcable.firmware.swmib import HTTP, TFTP

    sent = Push(SERVER, "fw-2.p7", deadline=9, transport=HTTP).set_request()
    assert [(vb.oid, vb.value) for vb in sent.varbinds] == [
        (SW.address_type, 1), (SW.address, SERVER.packed), (SW.transport, 2), (SW.filename, b"fw-2.p7"), (SW.admin, 1)]
    assert SW.transport in [vb.oid for vb in Push(SERVER, "f", deadline=9, transport=TFTP).set_request().varbinds]
    assert SW.transport not in [vb.oid for vb in Push(SERVER, "f", deadline=9).set_request().varbinds]
    with pytest.raises(ValueError, match="tftp\\(1\\) or http\\(2\\)"):
        Push(SERVER, "f", deadline=9, transport=3)


def test_the_push_by_http_upgrades_the_simulated_cm_from_an_http_server(lab: LabPki, root_pem: str,
                                                                        tmp_path: Path) -> None:
    """The simulated modem, told http(2), fetches the image from the server's HTTP (serve's own
    delivery server here), not its TFTP: the TFTP server does not have the image at all. A
    push by HTTP of a file the HTTP server lacks ends failed, the 404 named by the modem."""
    from pktcable.delivery.http import HttpServer
    from pktcable.delivery.resolvers import MemoryResolver
    from pktcable.firmware.swmib import HTTP

    files = upgrade_files(lab, tmp_path)
    image = files.pop("fw-2.0.0.p7")  # TFTP serves the config file only

    async def scenario() -> tuple[Done, Done, list[object], list[str], str, list[str]]:
        served: list[str] = []
        http = HttpServer(MemoryResolver({"fw-2.0.0.p7": image}), HOST, 0,
                          on_served=lambda name, client, complete: served.append(name))
        await http.start()
        sim = sim_config(root_pem, cm_agent_port=free_port(), cm_http_port=http.address[1])
        try:
            async with running(sim, files) as (device, _):
                target = (HOST, sim.cm_agent_port or 0)
                manager = await open_endpoint(HOST, 0, timeout=0.5, retries=1)
                try:
                    missing = await push_firmware(v2c(manager, target, b"private"), IPv4Address(HOST), "fw-0.p7",
                                                  budget=20, poll_every=0.2, transport=HTTP)
                    done = await push_firmware(v2c(manager, target, b"private"), IPv4Address(HOST), "fw-2.0.0.p7",
                                               budget=30, poll_every=0.2, transport=HTTP)
                finally:
                    manager.close()
                said = [d.text for d in device.result.deviations]
                return missing, done, await final_state(target), served, device.result.upgrade, said
        finally:
            await http.close()

    missing, done, end, served, upgrade, said = asyncio.run(scenario())
    assert missing.outcome is Outcome.FAILED, missing
    assert any("file-missing" in text and "/fw-0.p7: HTTP 404" in text for text in said), said
    assert done.outcome is Outcome.COMPLETED and (done.version_before, done.version) == ("1.0.0", "2.0.0"), done
    assert end == [SwOper.COMPLETE_FROM_MGT, b"2.0.0", 3] and served == ["fw-2.0.0.p7"]
    assert upgrade == "upgraded: 2.0.0"
