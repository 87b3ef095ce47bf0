"""The simulator against `pktcable serve` on loopback: every flow end to end,
the negative paths, and independent peers (net-snmp, tftp-hpa, sha1sum)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from pktcable.cli.backoffice import SIMULATED_FLOWS
from pktcable.firmware.rules import DeviceFirmware
from pktcable.flow import Flow, MtaState, ProvisioningState, ServerState, Timing
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig
from pktcable.simulate.emta import SimConfig, SimulatedMta
from pktcable.simulate.identity import HARDWARE_VERSION, MODEL_NUMBER, SOFTWARE_VERSION, VENDOR_NAME, Identity
from pktcable.simulate.report import summarize
from pktcable.simulate.runner import simulate
from pktcable.snmp import pktc
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import open_endpoint
from pktcable.store.leases import Lease

from . import ports
from .peers import require

#: The flows the simulator plays without a lab PKI (the Secure flow's end to end, with one,
#: is tests/test_e2e_secure.py).
PLAYED = [flow for flow in map(Flow.of, SIMULATED_FLOWS) if not flow.secure]

FAST = Timing(ecm=5, dhcp=3, inform=2, wait_set=1.5, resolve=1, download=2, report=2, validate=1)


def free_port() -> int:
    return ports.free_port("127.0.0.1")


def configs(realms: list[str], **serve: Any) -> tuple[ServeConfig, SimConfig]:
    """Settings for a server and simulator that find each other; the simulated
    devices are in no store, so the server enrolls them (as the demo does) unless
    ``auto_enroll=False`` is given."""
    serve.setdefault("auto_enroll", True)
    ports = {k: free_port() for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent")}
    cfg = ServeConfig(dhcp_port=ports["dhcp"], relay_port=ports["relay"], tftp_port=ports["tftp"], http_port=0, api_port=0,
                      tod_port=ports["tod"], snmp_port=ports["snmp"], agent_port=ports["agent"], realms=realms,
                      snmp_timeout=0.2, snmp_retries=1, forget_finished=False, **{"cm_key": "test-cmts-secret", **serve})
    sim = SimConfig(server="127.0.0.1", dhcp_port=ports["dhcp"], relay_port=ports["relay"],
                    snmp_port=ports["snmp"], agent_port=ports["agent"], tftp_port=ports["tftp"],
                    tod_port=ports["tod"], timing=FAST, dhcp_timeout=0.3, dhcp_retries=2, snmp_timeout=0.3,
                    snmp_retries=1)
    return cfg, sim


def lease(office: Backoffice, mac: str, address: str = "127.0.0.1") -> None:
    """Bind ``address`` to ``mac`` in the server's lease table, as a DHCP ACK
    would (for a peer such as net-snmp that plays an eMTA without DHCP)."""
    office.dhcp.engine.bind(Lease(IPv4Address(address), "01" + mac, mac, office.clock() + 3600,
                                  device_class="mta"))


def run(cfg: ServeConfig, scenario: Callable[[Backoffice], Awaitable[Any]],
        setup: Callable[[Backoffice], None] | None = None) -> Any:
    async def main() -> Any:
        office = Backoffice(cfg)
        if setup is not None:
            setup(office)
        await office.start()
        try:
            return await scenario(office)
        finally:
            await office.close()

    return asyncio.run(main())


EXPECTED_STEPS = {
    Flow.BASIC_1: ["CM-1...CM-10", "MTA-1/2", "MTA-3/4", "MTA-22/23", "MTA-23"],
    Flow.BASIC_2: ["CM-1...CM-10", "MTA-1/2", "MTA-3/4", "MTA-22/23", "MTA-23", "MTA-25"],
    Flow.HYBRID_1: ["CM-1...CM-10", "MTA-1/2", "MTA-3/4", "H-MTA-15", "H-MTA-16...19", "H-MTA-20/21",
                    "H-MTA-22/23", "H-MTA-23"],
    Flow.HYBRID_2: ["CM-1...CM-10", "MTA-1/2", "MTA-3/4", "H-MTA-15", "H-MTA-16...19", "H-MTA-20/21",
                    "H-MTA-22/23", "H-MTA-23", "H-MTA-25"],
}


@pytest.mark.parametrize("flow", PLAYED, ids=lambda f: f.value)
def test_every_device_passes_every_step(flow: Flow) -> None:
    cfg, sim = configs([flow.value])

    async def scenario(office: Backoffice) -> None:
        results, elapsed = await simulate(sim, flow, 20)
        report = summarize(results, elapsed)
        assert report["passed"] == 20, report["failures"]
        assert report["deviations"] == []
        for r in results:
            assert [step for step, _, _ in r.steps] == EXPECTED_STEPS[flow]
            assert r.result == ProvisioningState.PASS
        # The server's view of the same devices.
        for r in results:
            machine = office.entity.machines[r.mta_mac]  # type: ignore[union-attr]
            if flow.reports_status:
                assert machine.state is ServerState.DONE and machine.result == ProvisioningState.PASS
            else:  # no status INFORM: the server knows the file went out, not whether it was accepted
                assert machine.state is ServerState.FILE_DELIVERED and machine.result is None
            history = [s.event for s in office.devices.history(r.mta_mac)]
            assert history[0] == "LeaseAcked" and "FileServed" in history
            # Option 82's remote id links the eMTA to its modem.
            assert office.devices.get(r.mta_mac).cm_mac == Identity.make(r.index).cm_mac.hex()  # type: ignore[union-attr]
            assert ("StatusReceived" in history) == flow.reports_status
            assert ("LocationSetAcked" in history) == flow.hybrid
            # What it said it is and runs: option 43 (and, in a Hybrid flow, its enrollment INFORM).
            assert office.firmware.device(r.mta_mac) == DeviceFirmware(r.mta_mac, VENDOR_NAME, MODEL_NUMBER,
                                                                      HARDWARE_VERSION, SOFTWARE_VERSION)

    run(cfg, scenario)


def test_hybrid_download_over_http() -> None:
    """The SET names an http:// URL to an eMTA that declares HTTP download; it fetches it from its own address."""
    cfg, sim = configs(["HYBRID.2"])
    cfg.http_port, cfg.file_scheme = free_tcp_port(), "http"
    sim.http = True

    async def scenario(office: Backoffice) -> None:
        results, _ = await simulate(sim, Flow.HYBRID_2, 3)
        assert all(r.passed for r in results), [r.deviations for r in results]
        for r in results:
            events = [(s.event, s.detail) for s in office.devices.history(r.mta_mac)]
            assert any(e == "LocationSetAcked" and d.startswith("http://") for e, d in events)
            assert office.entity.machines[r.mta_mac].state is ServerState.DONE  # type: ignore[union-attr]

    run(cfg, scenario)


def free_tcp_port() -> int:
    return ports.free_port("127.0.0.1")


def test_ietf_mib_tree() -> None:
    """An eMTA on PKTC-IETF-MTA-MIB (RFC 4682): its INFORMs and the server's SET use mib-2 140."""
    cfg, sim = configs(["HYBRID.2"])
    sim.tree = pktc.Tree.IETF

    async def scenario(office: Backoffice) -> None:
        results, _ = await simulate(sim, Flow.HYBRID_2, 3)
        assert all(r.passed for r in results), [r.deviations for r in results]

    run(cfg, scenario)


def tamper_published_files(office: Backoffice) -> None:
    """Every file the entity hashes and publishes is served with two bytes more than it hashed."""
    publish = office.publish

    def tampered(device, data, client_ip):  # type: ignore[no-untyped-def]
        url = publish(device, data, client_ip)
        issued = office.names.get(url.rsplit("/", 1)[1], office.clock())
        issued.data = data[:-3] + b"\x0b\x00" + data[-3:]  # type: ignore[union-attr]
        return url

    office.publish = tampered  # type: ignore[method-assign]


def test_wrong_hash_is_reported_as_a_config_file_error() -> None:
    cfg, sim = configs(["HYBRID.2"])

    def setup(office: Backoffice) -> None:
        tamper_published_files(office)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.HYBRID_2, 1)
        assert r.state == MtaState.FAILED_CONFIG.name and r.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR
        assert any(d.step == "H-MTA-23" and "SHA-1" in d.text for d in r.deviations)
        machine = office.entity.machines[r.mta_mac]  # type: ignore[union-attr]
        assert machine.state is ServerState.DONE and machine.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR

    run(cfg, scenario, setup)


def test_missing_file() -> None:
    cfg, sim = configs(["HYBRID.1"])

    def setup(office: Backoffice) -> None:
        publish = office.publish

        def lost(device, data, client_ip):  # type: ignore[no-untyped-def]
            url = publish(device, data, client_ip)
            office.names.revoke(url.rsplit("/", 1)[1])
            return url

        office.publish = lost  # type: ignore[method-assign]

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.HYBRID_1, 1)
        assert r.state == MtaState.FAILED_DOWNLOAD.name and r.result == ProvisioningState.FAIL_OTHER_REASON
        assert any("file not found" in d.text for d in r.deviations)

    run(cfg, scenario, setup)


def test_inform_from_an_unknown_device_is_not_served() -> None:
    cfg, sim = configs(["HYBRID.2"], auto_enroll=False)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.HYBRID_2, 1)
        assert r.state == MtaState.FAILED_NO_SET.name and r.result == ProvisioningState.FAIL_OTHER_REASON
        assert office.entity.unknown_informs == 1  # type: ignore[union-attr]
        assert office.devices.get(r.mta_mac) is None and office.devices.history(r.mta_mac) == []

    run(cfg, scenario)


def test_unknown_device_enrolls_but_gets_no_set() -> None:
    # The DHCP side leased the device an address, the store does not know it.
    cfg, sim = configs(["HYBRID.2"], auto_enroll=False)

    async def scenario(office: Backoffice) -> None:
        lease(office, Identity.make(7).mta_mac.hex())
        mta = SimulatedMta(Identity.make(7), Flow.HYBRID_2, sim, relay=None)  # type: ignore[arg-type]
        await mta.start_agent(IPv4Address("127.0.0.1"))
        mta.ack = type("A", (), {"ccc": {"prov-server": IPv4Address("127.0.0.1")}, "yiaddr": IPv4Address("127.0.0.1")})()
        event = await mta.enroll()
        assert type(event).__name__ == "InformAcked"  # acknowledged ...
        await asyncio.sleep(0.3)
        assert not mta.set_received.done()  # ... but never configured
        assert office.entity.unknown_informs == 1  # type: ignore[union-attr]
        assert office.devices.history(Identity.make(7).mta_mac.hex()) == []
        for ep in (mta.agent, mta.informer):
            ep.close()  # type: ignore[union-attr]

    run(cfg, scenario)


def test_provisioning_timer_expiry() -> None:
    cfg, sim = configs(["HYBRID.2"], write_community="wrong")  # every SET is refused
    sim.provisioning_timer = 0.8

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.HYBRID_2, 1)
        assert r.state == MtaState.FAILED_TIMER.name and r.result == ProvisioningState.FAIL_OTHER_REASON
        await asyncio.gather(*office.entity.tasks)  # type: ignore[union-attr]
        machine = office.entity.machines[r.mta_mac]  # type: ignore[union-attr]
        # Unanswered (the wrong community gets no Response): failed once the eMTA's fetch never comes.
        assert machine.state is ServerState.SET_UNANSWERED

    run(cfg, scenario)


def test_a_server_that_never_answers() -> None:
    _, sim = configs(["BASIC.1"])  # nothing listens on these ports

    async def scenario() -> None:
        (r,), _ = await simulate(sim, Flow.BASIC_1, 1)
        assert r.state == MtaState.FAILED_ECM.name
        sim.run_ecm = False
        (r,), _ = await simulate(sim, Flow.BASIC_1, 1)
        assert r.state == MtaState.FAILED_DHCP.name and r.result == ProvisioningState.FAIL_OTHER_REASON

    asyncio.run(scenario())


def test_snmpget_and_snmpset_against_the_simulated_mta() -> None:
    snmpget, snmpset = require("snmpget", "snmpset"), require("snmpset")
    _, sim = configs(["HYBRID.2"])
    o = pktc.oids(pktc.Tree.CABLELABS)

    async def scenario() -> tuple[str, int, object]:
        mta = SimulatedMta(Identity.make(3), Flow.HYBRID_2, sim, relay=None)  # type: ignore[arg-type]
        await mta.start_agent(IPv4Address("127.0.0.1"))
        target = f"127.0.0.1:{sim.agent_port}"
        base = ["-v2c", "-r", "0", "-t", "3", "-On", "-m", "", "-M", "/nonexistent"]
        try:
            get = await asyncio.create_subprocess_exec(snmpget, *base, "-c", "public", target,
                                                       "." + ".".join(map(str, o.mac)), stdout=subprocess.PIPE)
            out, _ = await get.communicate()
            put = await asyncio.create_subprocess_exec(
                snmpset, *base, "-c", "private", target, "." + ".".join(map(str, o.config_file)), "s",
                "tftp://127.0.0.1/x.cfg", "." + ".".join(map(str, o.config_hash)), "x", "11" * 20,
                stdout=subprocess.PIPE)
            await put.communicate()
            return out.decode(), put.returncode or 0, mta.set_received.done() and (mta.url, mta.hash)
        finally:
            for ep in (mta.agent, mta.informer):
                ep.close()  # type: ignore[union-attr]

    out, code, seen = asyncio.run(scenario())
    assert "02 10 01 00 00 03" in out.upper().replace(":", " ")
    assert code == 0 and seen == ("tftp://127.0.0.1/x.cfg", b"\x11" * 20)


def test_file_set_by_the_server_is_fetched_by_tftp_hpa(tmp_path: Path) -> None:
    """net-snmp enrolls, our server SETs URL + hash on an agent, tftp-hpa
    fetches the file under that URL and sha1sum agrees with the hash."""
    snmpinform, tftp, sha1sum = require("snmpinform"), require("tftp"), require("sha1sum")
    cfg, _ = configs(["HYBRID.2"])
    o = pktc.oids(pktc.Tree.CABLELABS)
    mac = "0a0000000001"

    async def scenario(office: Backoffice) -> tuple[bytes, bytes]:
        lease(office, mac)  # net-snmp enrolls from 127.0.0.1: the address leased to the MAC
        view = MibView({b"private": True})
        view.define(o.config_file, "String", b"", writable=True)
        view.define(o.config_hash, "String", b"", writable=True)
        agent = await open_endpoint("127.0.0.1", cfg.agent_port, lambda msg, addr: view.handle(msg))
        try:
            dotted = ["." + ".".join(map(str, x)) for x in (o.enrollment, o.sys_descr, o.sw_version,
                                                           o.type_identifier, o.mac, o.correlation_id)]
            proc = await asyncio.create_subprocess_exec(
                snmpinform, "-v2c", "-c", "public", "-r", "1", "-t", "2", "-m", "", "-M", "/nonexistent",
                f"127.0.0.1:{cfg.snmp_port}", "", dotted[0], dotted[1], "s", "eMTA", dotted[2], "s", "1.0",
                dotted[3], "s", "pktc1.5:", dotted[4], "x", mac, dotted[5], "i", "9")
            assert await proc.wait() == 0
            for _ in range(50):
                if view.value(o.config_hash):
                    break
                await asyncio.sleep(0.05)
            url = bytes(view.value(o.config_file)).decode()  # type: ignore[arg-type]
            name = url.rsplit("/", 1)[1]
            out = tmp_path / "mta.cfg"
            get = await asyncio.create_subprocess_exec(tftp, "127.0.0.1", str(cfg.tftp_port), "-m", "binary", "-c",
                                                       "get", name, str(out))
            assert await get.wait() == 0
            summed = subprocess.run([sha1sum, str(out)], capture_output=True, text=True, check=True)
            return bytes.fromhex(summed.stdout.split()[0]), bytes(view.value(o.config_hash))  # type: ignore[arg-type]
        finally:
            agent.close()

    digest, hashed = run(cfg, scenario)
    assert digest == hashed and len(digest) == 20
    assert hashlib.sha1((tmp_path / "mta.cfg").read_bytes()).digest() == digest


def test_reset_by_mac_reaches_the_simulated_mta(tmp_path: Path) -> None:
    import sys

    _, sim = configs(["HYBRID.2"])

    async def scenario() -> tuple[int, str, bool]:
        identity = Identity.make(5)
        mta = SimulatedMta(identity, Flow.HYBRID_2, sim, relay=None)  # type: ignore[arg-type]
        await mta.start_agent(IPv4Address("127.0.0.1"))
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pktcable", "reset", "--mac", identity.mta_mac.hex(":"),
                "--device-address", "127.0.0.1",
                "--agent-port", str(sim.agent_port), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            return proc.returncode or 0, out.decode() + err.decode(), mta.reset_requested
        finally:
            for ep in (mta.agent, mta.informer):
                ep.close()  # type: ignore[union-attr]

    code, out, requested = asyncio.run(scenario())
    assert code == 0 and "acknowledged" in out and requested, out


def test_hostile_traffic_does_not_disturb_provisioning() -> None:
    """Random datagrams at every UDP service while devices provision: every
    device still passes and every server is still up afterwards."""
    import random

    cfg, sim = configs(["HYBRID.2"])

    async def scenario(office: Backoffice) -> None:
        # The noise's source holds a lease, so that its datagrams reach the SNMP decoder (from
        # an address with none they are dropped before decoding: tests/test_snmp_screen.py).
        lease(office, "0a00000000fe")
        rng = random.Random(7)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        ports = [cfg.dhcp_port, cfg.snmp_port, cfg.tftp_port, cfg.tod_port]

        async def noise() -> None:
            for i in range(4000):
                size = rng.choice((0, 1, 4, 20, 240, 300, 600))
                data = bytes(rng.randrange(256) for _ in range(size))
                if i % 5 == 0 and size > 2:  # look like a TFTP RRQ or an SNMP message
                    data = (b"\x00\x01" if i % 2 else b"\x30\x82") + data[2:]
                try:
                    sock.sendto(data, ("127.0.0.1", ports[i % len(ports)]))
                except OSError:
                    pass
                if i % 200 == 0:
                    await asyncio.sleep(0.001)

        try:
            (results, _), _ = await asyncio.gather(simulate(sim, Flow.HYBRID_2, 20), noise())
        finally:
            sock.close()
        assert all(r.passed for r in results), [r.deviations for r in results if not r.passed]
        assert office.dhcp.metrics["malformed"] > 0 and office.snmp.stats.malformed > 0  # type: ignore[union-attr]
        (again,), _ = await simulate(sim, Flow.HYBRID_2, 1, first=100)
        assert again.passed

    run(cfg, scenario)
