"""The back office's metrics (prometheus_client, its own registry) and the CM states
that the device gauge and the outcome filters rely on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pktcable.dhcpd.events import LeaseBound
from pktcable.flow import (
    CM_FLOW,
    CM_TABLE,
    CmState,
    Flow,
    InvalidTransition,
    Machine,
    ServerState,
    device_outcome,
)
from pktcable.flow import events as ev
from pktcable.serve.api import metrics_text
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig
from pktcable.simulate.runner import simulate
from pktcable.store.leases import Lease

from .peers import CI
from .promtext import families, samples, value
from .test_e2e import configs, run
from .test_security_snmp import settle

CM = "00a0bc000001"


def test_cm_table_is_consistent_and_ends_where_the_file_transfer_does() -> None:
    CM_TABLE.check()
    m = Machine(CM_TABLE, 0.0, keep_history=False, started_by=ev.LeaseAcked())
    assert m.state is CmState.LEASED and m.result is None
    m.handle(ev.LeaseRenewed(), 1.0)
    assert m.state is CmState.LEASED
    m.handle(ev.TransferFailed(), 2.0)
    assert m.state is CmState.CONFIG_FAILED and m.done and m.result == 7
    m.handle(ev.FileServed(), 3.0)  # its TFTP retry got the whole file
    assert m.state is CmState.CONFIG_SERVED and m.result == 1
    for late in (ev.TransferFailed(), ev.FileServed(), ev.LeaseRenewed()):
        m.handle(late, 4.0)
        assert m.state is CmState.CONFIG_SERVED and m.result == 1
    with pytest.raises(InvalidTransition):
        m.handle(ev.StatusReceived(1), 5.0)  # a CM reports nothing
    m.handle(ev.LeaseAcked(), 6.0)  # rebooted
    assert m.state is CmState.LEASED and m.result is None


@pytest.mark.parametrize("kind, state, result, expected", [
    ("cm", "", None, "new"), ("cm", "LEASED", None, "pending"), ("cm", "CONFIG_SERVED", 1, "pass"),
    ("cm", "CONFIG_FAILED", 7, "fail"), ("mta", "", None, "new"), ("mta", "LOCATION_SET", None, "pending"),
    ("mta", "DONE", 1, "pass"), ("mta", "DONE", 3, "fail"), ("mta", "FAILED_SET", 7, "fail"),
    ("mta", "FILE_DELIVERED", None, "pass"), ("mta", "TIMED_OUT", 7, "fail"), ("mta", "NO_SUCH_STATE", None, "pending"),
    # Booted again after a pass: its new run is under way, whatever the old result says.
    ("mta", "LEASED", 1, "pending"),
])
def test_device_outcome(kind: str, state: str, result: int | None, expected: str) -> None:
    assert device_outcome(state, result) == expected


def _office(tmp_path: Path | None = None) -> tuple[Backoffice, list[float]]:
    now = [1000.0]
    cfg = ServeConfig(cm_key="test-cmts-secret", auto_enroll=True, data_dir=str(tmp_path) if tmp_path else None)
    return Backoffice(cfg, clock=lambda: now[0]), now


def _bound(office: Backoffice, mac: str, kind: str, address: str, *, renewal: bool = False,
           realm: str | None = None) -> None:
    lease = Lease(IPv4Address(address), "01" + mac, mac, office.clock() + 3600, device_class=kind)
    office.dhcp.engine.bind(lease)
    office._guarded_dhcp(LeaseBound(lease, kind, "", realm, None, renewal))


def _driven(office: Backoffice, scenario: Callable[[], None]) -> str:
    """Run ``scenario`` on a loop (the back office commits soon after each event), then scrape."""
    async def main() -> None:
        scenario()
        await asyncio.sleep(0)

    try:
        asyncio.run(main())
        return metrics_text(office)
    finally:
        asyncio.run(office.close())


def test_a_cm_is_leased_then_served_or_failed_never_new_and_its_times_are_observed() -> None:
    office, now = _office()
    other = "00a0bc000002"
    rows: dict[str, tuple[str, int | None]] = {}

    def scenario() -> None:
        _bound(office, CM, "cm", "10.1.0.5")
        _bound(office, other, "cm", "10.1.0.6")
        rows["leased"] = _row(office, CM)
        now[0] += 2.5
        office._guarded_delivered(f"cm-{CM}.cfg", ("10.1.0.5", 1234), True)
        now[0] += 4.0
        office._guarded_delivered(f"cm-{other}.cfg", ("10.1.0.6", 1234), False)
        rows["served"], rows["failed"] = _row(office, CM), _row(office, other)
        updated = office.devices.get(CM).updated  # type: ignore[union-attr]
        now[0] += 1800
        _bound(office, CM, "cm", "10.1.0.5", renewal=True)  # half its lease on: no new run
        rows["renewed"] = _row(office, CM)
        assert office.devices.get(CM).updated == updated  # type: ignore[union-attr]

    text = _driven(office, scenario)
    assert rows == {"leased": ("LEASED", None), "served": ("CONFIG_SERVED", 1), "failed": ("CONFIG_FAILED", 7),
                    "renewed": ("CONFIG_SERVED", 1)}
    assert value(text, "pktcable_devices", kind="cm", state="CONFIG_SERVED") == 1
    assert value(text, "pktcable_devices", kind="cm", state="CONFIG_FAILED") == 1
    assert value(text, "pktcable_devices", kind="cm", state="NEW") is None
    run = "pktcable_provisioning_duration_seconds"
    assert value(text, f"{run}_count", flow=CM_FLOW, outcome="pass") == 1
    assert value(text, f"{run}_sum", flow=CM_FLOW, outcome="pass") == pytest.approx(2.5)
    assert value(text, f"{run}_sum", flow=CM_FLOW, outcome="fail") == pytest.approx(6.5)
    assert value(text, "pktcable_step_duration_seconds_count", flow=CM_FLOW, step="CM-5/6") == 2


def _row(office: Backoffice, mac: str) -> tuple[str, int | None]:
    device = office.devices.get(mac)
    assert device is not None
    return device.state, device.result


def test_every_family_is_prefixed_and_typed_and_no_label_names_a_device(tmp_path: Path) -> None:
    """The families the docs list are there, each name starts with pktcable_, and no label
    value is a MAC or an address: the scrape's size does not grow with the devices."""
    office, now = _office(tmp_path)
    macs = [f"00a0bc0001{i:02x}" for i in range(20)]

    def scenario() -> None:
        for i, mac in enumerate(macs):
            _bound(office, mac, "cm", f"10.1.0.{10 + i}")
            now[0] += 0.1
            office._guarded_delivered(f"cm-{mac}.cfg", (f"10.1.0.{10 + i}", 1000), True)
        office.devices.commit()
        office.leases.commit()  # as the DHCP transport does before its replies leave

    text = _driven(office, scenario)
    found = families(text)
    for name, kind in {"pktcable_dhcp_packets": "counter", "pktcable_dhcp_dropped": "counter",
                       "pktcable_dhcp_offers_pending": "gauge", "pktcable_tftp_requests": "counter",
                       "pktcable_tftp_transfers": "counter", "pktcable_tftp_sessions": "gauge",
                       "pktcable_file_refusals": "counter", "pktcable_tod_requests": "counter",
                       "pktcable_internal_errors": "counter", "pktcable_devices": "gauge",
                       "pktcable_step_duration_seconds": "histogram",
                       "pktcable_provisioning_duration_seconds": "histogram",
                       "pktcable_store_commit_seconds": "histogram", "pktcable_python_info": "gauge"}.items():
        assert found.get(name) == kind, name
    assert "pktcable_process_cpu_seconds" in found  # where the platform has /proc
    assert all(name.startswith("pktcable_") for name in found), sorted(found)
    for (_, labels) in samples(text):
        for _, label in labels:
            assert not any(mac in label for mac in macs) and "10.1.0." not in label, label
    # The SQLite stores time their commits: the devices' rows and the leases were written.
    assert (value(text, "pktcable_store_commit_seconds_count", store="devices") or 0) >= 1
    assert (value(text, "pktcable_store_commit_seconds_count", store="leases") or 0) >= 1
    assert value(text, "pktcable_devices", kind="cm", state="CONFIG_SERVED") == len(macs)


def test_two_back_offices_in_one_process_keep_their_own_counters() -> None:
    first, _ = _office()
    second, _ = _office()
    try:
        first.dhcp.metrics["acks"] += 3
        assert value(metrics_text(first), "pktcable_dhcp_packets_total", event="acks") == 3
        assert value(metrics_text(second), "pktcable_dhcp_packets_total", event="acks") is None
    finally:
        asyncio.run(first.close())
        asyncio.run(second.close())


def test_a_storm_shows_in_the_histograms_and_a_renewal_does_not_restart_an_emta() -> None:
    """Real devices through HYBRID.2: each step of the flow is timed, each run from its
    lease to DONE; then a lease renewal of a provisioned eMTA leaves it DONE (it used to
    start a new run that the budget failed ten minutes later)."""
    cfg, sim = configs(["HYBRID.2"], server_budget=5.0)

    async def scenario(office: Backoffice) -> dict[str, Any]:
        results, _ = await simulate(sim, Flow.HYBRID_2, 3)
        await settle(office)
        assert all(r.passed for r in results), [r.deviations for r in results]
        mac = results[0].mta_mac
        lease = office.dhcp.engine.bound_lease(mac, office.clock())
        assert lease is not None
        office._guarded_dhcp(LeaseBound(lease, "mta", "", "HYBRID.2", None, True))
        await asyncio.sleep(0)
        assert office.entity is not None
        office.entity.check_timers()
        machine = office.entity.machines[mac]
        return {"state": machine.state, "running": office.entity.running(), "text": metrics_text(office),
                "history": [s.event for s in office.devices.history(mac)]}

    got = run(cfg, scenario)
    text = got["text"]
    assert got["state"] is ServerState.DONE and got["running"] == 0 and got["history"][-1] == "LeaseRenewed"
    assert value(text, "pktcable_provisioning_duration_seconds_count", flow="HYBRID.2", outcome="pass") == 3
    steps = {dict(labels)["step"] for (name, labels) in samples(text)
             if name == "pktcable_step_duration_seconds_count" and dict(labels)["flow"] == "HYBRID.2"}
    assert {"H-MTA-15/18", "H-MTA-19", "H-MTA-25"} <= steps, steps
    assert value(text, "pktcable_flows_in_progress") == 0
    assert (value(text, "pktcable_snmp_messages_total", kind="requests") or 0) >= 3  # one SET per eMTA
    assert value(text, "pktcable_tod_requests_total", transport="udp") == 3  # each eCM asked the time
    # The exposition parses as a whole (what a Prometheus server does with it).
    assert list(text_string_to_metric_families(text))


def test_enrollments_dropped_under_overload_are_counted_by_reason() -> None:
    from pktcable.admission import AdmissionLimits
    from pktcable.provision.entity import EntityConfig, ProvisioningEntity
    from pktcable.snmp import message as m
    from pktcable.snmp import pktc

    from .test_provision import FakeSnmp

    office, now = _office()
    office.entity = ProvisioningEntity(
        office.devices, office, FakeSnmp(), office.clock,
        EntityConfig(auto_enroll=True, admission=AdmissionLimits(rate=1.0, burst=1)),
        leased_address=office.leased_address)
    macs = ["00a0bc000101", "00a0bc000102", "00a0bc000103"]

    def scenario() -> None:
        assert office.entity is not None
        for i, mac in enumerate(macs):
            _bound(office, mac, "mta", f"10.1.0.{10 + i}", realm="HYBRID.2")
            note = pktc.Enrollment(pktc.Tree.CABLELABS, b"eMTA", b"1", b"pktc1.5:051f0101", bytes.fromhex(mac), i)
            inform = m.Message(b"public", m.Pdu(m.PduType.INFORM, 7, note.varbinds(100)))
            reply = office.entity.handle(inform, (f"10.1.0.{10 + i}", 50000))
            assert (reply is None) == (i > 0)  # one token: the first is let in, the others dropped unanswered

    text = _driven(office, scenario)
    assert value(text, "pktcable_informs_dropped_total", reason="rate") == 2
    assert value(text, "pktcable_informs_dropped_total", reason="in-flight") == 0
    assert value(text, "pktcable_enrollments_admitted_total") == 1


def test_the_snmp_and_tftp_receive_queues_are_gauges() -> None:
    """A datagram the loop has not read yet shows in its socket's queue gauge (Linux)."""
    import socket

    from .test_e2e import configs, run

    cfg, _ = configs(["HYBRID.2"])

    async def scenario(office: Backoffice) -> tuple[str, str]:
        idle = metrics_text(office)  # type: ignore[arg-type]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x30\x00", ("127.0.0.1", cfg.snmp_port))  # not read before the scrape below
            s.sendto(b"\x00\x01x\x00octet\x00", office.tftp.address)
            busy = metrics_text(office)  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        return idle, busy

    idle, busy = run(cfg, scenario)
    if "pktcable_snmp_receive_queue_bytes" not in families(idle):
        if CI:  # Linux has had SO_MEMINFO since 4.12: on the CI machine its absence is a bug
            pytest.fail("the receive-queue gauges are missing (no SO_MEMINFO?)")
        pytest.skip("the kernel does not report SO_MEMINFO")
    assert families(idle)["pktcable_tftp_receive_queue_bytes"] == "gauge"
    assert value(idle, "pktcable_snmp_receive_queue_bytes") == 0
    assert (value(busy, "pktcable_snmp_receive_queue_bytes") or 0) > 0
    assert (value(busy, "pktcable_tftp_receive_queue_bytes") or 0) > 0
