"""The entity is driven by its flow table alone: one budget per run, the
file fetched before the SET's Response as a state, late replies as rows,
and every event the table has no row for recorded, logged once per device
and counted."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pktcable.flow import SERVER_TABLES, Flow, Machine, ProvisioningState, ServerState, diagram
from pktcable.flow import events as ev
from pktcable.serve.api import metrics_text
from pktcable.serve.app import Backoffice
from pktcable.snmp import message as m
from pktcable.snmp import pktc

from .promtext import value
from .test_conformance_entity import EMTA, Emta
from .test_e2e import configs, lease, run
from .test_provision import ENROLL, MAC, TREE, FakeSnmp, Files, inform, make, settle
from .test_security_snmp import settle as settle_office

SOURCE = ("10.0.0.9", 50000)  # the address make() leases to MAC


def status(result: int, correlation_id: int = 77) -> m.Message:
    return inform(pktc.Status(TREE, bytes.fromhex(MAC), correlation_id, result))


def enrollment(correlation_id: int) -> m.Message:
    return inform(pktc.Enrollment(TREE, b"eMTA", b"2.4.1", b"pktc1.5:051f0101", bytes.fromhex(MAC), correlation_id))


class HeldSnmp(FakeSnmp):
    """A SET whose Response the test lets through when it chooses."""

    def __init__(self, error: int = 0) -> None:
        super().__init__(error)
        self.release = asyncio.Event()

    async def request(self, addr, community, pdu_type, varbinds, **kw):  # type: ignore[no-untyped-def]
        await self.release.wait()
        return await super().request(addr, community, pdu_type, varbinds, **kw)


# -- one budget per run --------------------------------------------------------------------------------------------


def test_device_stepping_inside_each_wait_cannot_stretch_its_run_past_the_flow_budget() -> None:
    """A device that does one step every 500 s used to get a fresh 600 s in
    every state, and so could hold its run (and its one-time file name) open
    for as long as it has steps; the budget is one deadline for the whole run."""
    async def scenario() -> None:
        entity, store, clock = make(budget=600.0)
        entity.handle(inform(ENROLL), SOURCE)  # no lease seen: the run starts here
        await settle(entity)
        assert entity.machines[MAC].state is ServerState.LOCATION_SET
        clock.now += 500
        entity.file_served(MAC)
        assert entity.machines[MAC].state is ServerState.FILE_SERVED
        clock.now += 99
        entity.check_timers()
        assert entity.machines[MAC].state is ServerState.FILE_SERVED
        clock.now += 2  # 601 s after the enrollment that started the run
        entity.check_timers()
        assert entity.machines[MAC].state is ServerState.TIMED_OUT
        assert store.history(MAC)[-1].event == "ServerTimerExpired"
        assert store.get(MAC).result == ProvisioningState.FAIL_OTHER_REASON  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_a_new_lease_is_the_tables_row_and_restarts_the_budget() -> None:
    entity, store, clock = make(budget=600.0)
    entity.lease_acked(MAC, "HYBRID.2", "10.0.0.9")
    clock.now += 500
    entity.lease_acked(MAC, "HYBRID.2", "10.0.0.9")  # the eMTA rebooted: DHCP again
    clock.now += 500
    entity.check_timers()
    assert entity.machines[MAC].state is ServerState.LEASED
    clock.now += 101
    entity.check_timers()
    assert entity.machines[MAC].state is ServerState.TIMED_OUT
    assert [s.event for s in store.history(MAC)] == ["LeaseAcked", "LeaseAcked", "ServerTimerExpired"]


def test_every_server_table_declares_its_budget_and_the_docs_show_it() -> None:
    for flow, table in SERVER_TABLES.items():
        assert table.flow == flow.value and table.budget is not None and table.budget > 0
        assert table.global_events[table.budget_event] is ServerState.TIMED_OUT  # type: ignore[index]
        assert ev.LeaseAcked in table.budget_from and (ev.EnrollmentReceived in table.budget_from) == flow.enrolls
        assert (ev.KeysEstablished in table.budget_from) == flow.secure
        # No state of the server's waits on its own except the unanswered SET.
        waits = {state for state, info in table.states.items() if info.timeout is not None}
        assert waits == ({ServerState.SET_UNANSWERED} if flow.enrolls else set())
    assert diagram.document().count(f"Provisioning budget: {SERVER_TABLES[Flow.HYBRID_2].budget:g} s") == len(Flow)


# -- the file before the SET's Response, late replies: rows, not side state ----------------------------------------


def test_file_fetched_before_the_set_response_is_a_state_of_the_table() -> None:
    """The eMTA acted on the SET and fetched its file before the Response got
    back: the server's view says so (SERVED_SET_PENDING), a retransmitted
    enrollment in between starts no second run, the Response completes it."""
    async def scenario() -> None:
        snmp = HeldSnmp()
        entity, store, _ = make(snmp=snmp)
        entity.handle(inform(ENROLL), SOURCE)
        await asyncio.sleep(0)  # the SET is on its way
        assert entity.machines[MAC].state is ServerState.CONFIG_READY
        entity.file_served(MAC)
        assert entity.machines[MAC].state is ServerState.SERVED_SET_PENDING
        entity.handle(inform(ENROLL), SOURCE)  # the same correlation id: a retry
        assert entity.machines[MAC].state is ServerState.SERVED_SET_PENDING
        snmp.release.set()
        await settle(entity)
        assert entity.machines[MAC].state is ServerState.FILE_SERVED and len(snmp.sent) == 1
        entity.handle(status(ProvisioningState.PASS), SOURCE)
        assert store.get(MAC).result == ProvisioningState.PASS  # type: ignore[union-attr]
        events = [s.event for s in store.history(MAC)]
        assert events == ["LeaseAcked", "EnrollmentReceived", "ConfigBuilt", "FileServed", "EnrollmentRetransmitted",
                          "LocationSetAcked", "StatusReceived"]
        assert not entity.unexpected

    asyncio.run(scenario())


def test_set_error_arriving_after_the_device_reported_its_pass_changes_nothing() -> None:
    """The status INFORM overtook the SET's Response; a late error-status is
    recorded and the outcome stays what the device reported."""
    async def scenario() -> None:
        snmp = HeldSnmp(error=m.ErrorStatus.NOT_WRITABLE)
        entity, store, _ = make(snmp=snmp)
        entity.handle(inform(ENROLL), SOURCE)
        await asyncio.sleep(0)
        entity.handle(status(ProvisioningState.PASS_WITH_WARNINGS), SOURCE)
        snmp.release.set()
        await settle(entity)
        machine = entity.machines[MAC]
        assert machine.state is ServerState.DONE and machine.result == ProvisioningState.PASS_WITH_WARNINGS
        assert store.history(MAC)[-1].event == "LocationSetFailed" and not entity.unexpected

    asyncio.run(scenario())


def test_failed_rerun_does_not_keep_the_previous_runs_pass() -> None:
    """A device that passed, rebooted and then could not be given a file must
    not show the old pass: each run's outcome is its own."""
    async def scenario() -> None:
        files = Files()
        entity, store, _ = make(files=files)
        entity.handle(inform(ENROLL), SOURCE)
        await settle(entity)
        entity.file_served(MAC)
        entity.handle(status(ProvisioningState.PASS), SOURCE)
        assert store.get(MAC).result == ProvisioningState.PASS  # type: ignore[union-attr]
        files.fail = True
        entity.handle(enrollment(78), SOURCE)  # rebooted: a new run
        await settle(entity)
        assert entity.machines[MAC].state is ServerState.FAILED_BUILD
        assert store.get(MAC).result == ProvisioningState.FAIL_OTHER_REASON  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_finished_run_forgotten_cancels_its_set_in_flight() -> None:
    """With forget_finished, a run ended by its budget leaves no SET task behind
    to act on a device the server no longer tracks."""
    async def scenario() -> None:
        snmp = HeldSnmp()
        entity, store, clock = make(snmp=snmp, forget_finished=True)
        entity.handle(inform(ENROLL), SOURCE)
        await asyncio.sleep(0)
        (task,) = entity.tasks
        clock.now += 601
        entity.check_timers()
        assert MAC not in entity.machines
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)  # not left waiting on the SET
        assert task.cancelled() and store.get(MAC).state == "TIMED_OUT"  # type: ignore[union-attr]
        assert store.history(MAC)[-1].event == "ServerTimerExpired"

    asyncio.run(scenario())


# -- unexpected events: typed, recorded, logged once per device, counted -------------------------------------------


def test_unexpected_event_is_counted_by_flow_state_and_event() -> None:
    entity, store, _ = make()
    entity.lease_acked(MAC, "BASIC.2", "10.0.0.9")
    entity.handle(inform(ENROLL), SOURCE)  # no enrollment in a Basic flow
    assert entity.unexpected == {("BASIC.2", "LEASED", "EnrollmentReceived"): 1}
    assert entity.machines[MAC].state is ServerState.LEASED
    entity.forget(MAC)
    entity.file_served(MAC)  # no run at all
    assert entity.unexpected[("-", "-", "FileServed")] == 1
    assert store.history(MAC)[-1].event == "UnexpectedFileServed"


def test_machine_refuses_an_event_outside_its_table_with_a_typed_error() -> None:
    from pktcable.flow.machine import UnexpectedEvent

    machine = Machine(SERVER_TABLES[Flow.HYBRID_1], 0.0, started_by=ev.LeaseAcked())
    with pytest.raises(UnexpectedEvent) as info:
        machine.handle(ev.StatusReceived(1), 1.0)  # a .1 flow has no status INFORM
    assert info.value.state is ServerState.LEASED and isinstance(info.value.event, ev.StatusReceived)
    with pytest.raises(UnexpectedEvent):
        Machine(SERVER_TABLES[Flow.HYBRID_1], 0.0, started_by=ev.FileServed())


def test_status_flood_after_the_run_ended_is_counted_logged_once_and_changes_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    """The eMTA holding the lease sends status INFORM after status INFORM, each
    claiming another outcome, after its run ended: each is answered, recorded
    and counted in /metrics, the log gets one line, the outcome stays."""
    cfg, _ = configs(["HYBRID.2"])
    mac = "0a00000000f1"
    flood = 40

    async def scenario(office: Backoffice) -> None:
        assert office.entity is not None
        lease(office, mac, EMTA)
        async with Emta(cfg, mac) as emta:
            await emta.enroll(correlation_id=51)
            await settle_office(office)
            await emta.inform(pktc.Status(pktc.Tree.CABLELABS, bytes.fromhex(mac), 51, ProvisioningState.PASS))
            for _ in range(flood):
                await emta.inform(pktc.Status(pktc.Tree.CABLELABS, bytes.fromhex(mac), 51,
                                              ProvisioningState.FAIL_CONFIG_FILE_ERROR))
        device = office.devices.get(mac)
        assert device is not None and device.state == "DONE" and device.result == ProvisioningState.PASS
        text = metrics_text(office)
        assert value(text, "pktcable_unexpected_events_total", event="StatusReceived", flow="HYBRID.2",
                     state="DONE") == flood, text
        steps = [s.event for s in office.devices.history(mac)]
        assert steps.count("UnexpectedStatusReceived") == flood

    with caplog.at_level(logging.INFO, logger="pktcable.provision"):
        run(cfg, scenario)
    lines = [r for r in caplog.records if "not expected" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]


# -- the lease table in another process (dhcp_workers = 1) ---------------------------------------------------------


def test_an_inform_that_overtakes_its_lease_record_waits_for_it_once() -> None:
    """With a DHCP worker the eMTA's INFORM can reach the entity before the lease record
    of the ACK it got: the entity waits for the worker's records (lease_sync) once, then
    acts on the INFORM, rather than answering it as from an unleased address (which left
    the eMTA acknowledged and waiting for a SET that never came)."""
    async def scenario() -> None:
        leases: dict[str, str] = {}
        syncs: list[float] = []

        async def lease_sync() -> None:
            syncs.append(clock.now)
            await asyncio.sleep(0)
            leases[MAC] = SOURCE[0]  # the record arrives while the entity waits

        entity, store, clock = make(leases=leases)
        entity.lease_sync = lease_sync
        reply = entity.handle(inform(ENROLL), SOURCE)
        assert asyncio.iscoroutine(reply)
        answered = await reply
        assert answered is not None and answered.pdu.type is m.PduType.RESPONSE
        await settle(entity)
        assert syncs == [clock.now] and entity.rejected == {}
        assert entity.machines[MAC].state is ServerState.LOCATION_SET
        # A sender that holds no lease even after the wait is answered and refused as before.
        other = pktc.Enrollment(TREE, b"eMTA", b"2.4.1", b"pktc1.5:051f0101", bytes.fromhex("02aa000000ff"), 5)
        late = entity.handle(inform(other), ("10.0.0.66", 50000))
        assert asyncio.iscoroutine(late)
        refused = await late
        assert refused is not None and refused.pdu.type is m.PduType.RESPONSE
        assert entity.rejected == {"not-leased-address": 1} and len(syncs) == 2

    asyncio.run(scenario())
