"""The flow state machines: tables, paths, errors, timers, random event sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pktcable.flow import (
    MTA_TABLES,
    SERVER_TABLES,
    Flow,
    InvalidTransition,
    Machine,
    MtaState,
    ProvisioningState,
    ServerState,
    diagram,
)
from pktcable.flow import events as ev

ALL_TABLES = [*MTA_TABLES.values(), *SERVER_TABLES.values()]


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_tables_are_consistent(table) -> None:  # type: ignore[no-untyped-def]
    table.check()


def happy_events(flow: Flow) -> list[object]:
    out: list[object] = [ev.EcmOperational(), ev.OfferAccepted(), ev.AckReceived(flow.value)]
    if flow.hybrid:
        out += [ev.InformAcked(), ev.ConfigLocationSet("tftp://10.0.0.1/f", b"h" * 20), ev.HostResolved()]
    out += [ev.FileReceived(300), ev.ConfigAccepted()]
    if flow.reports_status:
        out.append(ev.InformAcked())
    return out


@pytest.mark.parametrize("flow", list(Flow))
def test_happy_path(flow: Flow) -> None:
    m = Machine(MTA_TABLES[flow], now=0.0, provisioning_timer=600)
    for i, event in enumerate(happy_events(flow)):
        m.handle(event, now=float(i))
    assert m.state is MtaState.OPERATIONAL and m.result == ProvisioningState.PASS
    steps = [e.step for e in m.history]
    assert steps[1] == "MTA-1/2"
    if flow.hybrid:
        assert "H-MTA-15" in steps and "H-MTA-16...19" in steps
    assert ("MTA-25" in steps[-2]) == flow.reports_status


@pytest.mark.parametrize("flow", [Flow.BASIC_2, Flow.HYBRID_2])
def test_rejected_file_is_reported_then_failed(flow: Flow) -> None:
    m = Machine(MTA_TABLES[flow], now=0.0)
    events = happy_events(flow)[:-2] + [ev.ConfigRejected(3, "hash mismatch"), ev.InformAcked()]
    for event in events:
        m.handle(event, now=0.0)
    assert m.state is MtaState.FAILED_CONFIG and m.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR
    assert m.history[-2].state is MtaState.REPORT_FAIL


def test_undefined_pair_is_an_error_not_a_no_op() -> None:
    m = Machine(MTA_TABLES[Flow.BASIC_1], now=0.0)
    with pytest.raises(InvalidTransition) as info:
        m.handle(ev.InformAcked(), now=1.0)  # no enrollment in a Basic flow
    assert m.state is MtaState.WAIT_ECM and "WAIT_ECM" in str(info.value)


def test_step_timeouts_and_provisioning_timer() -> None:
    m = Machine(MTA_TABLES[Flow.HYBRID_2], now=0.0, provisioning_timer=100)
    m.handle(ev.EcmOperational(), now=0.0)
    assert m.next_deadline() == 64.0  # the DHCP step's budget comes first
    m.handle(ev.OfferAccepted(), now=1.0)
    m.handle(ev.AckReceived("HYBRID.2"), now=2.0)
    m.handle(ev.InformAcked(), now=3.0)
    assert m.state is MtaState.WAIT_SET
    assert m.handle_timer(now=50.0) is None
    m.handle_timer(now=100.0)  # the provisioning timer (from MTA-1) fires before the SET budget
    assert m.state is MtaState.FAILED_TIMER and m.result == ProvisioningState.FAIL_OTHER_REASON


def test_file_received_stops_the_provisioning_timer() -> None:
    m = Machine(MTA_TABLES[Flow.BASIC_2], now=0.0, provisioning_timer=10)
    for event in happy_events(Flow.BASIC_2)[:4]:
        m.handle(event, now=1.0)
    assert m.state is MtaState.VALIDATE
    assert m.next_deadline() == 11.0  # only the validation budget is left
    m.handle(ev.ConfigAccepted(), now=2.0)
    m.handle_timer(now=40.0)
    assert m.state is MtaState.FAILED_STATUS


def test_reset_restarts_at_mta_1() -> None:
    m = Machine(MTA_TABLES[Flow.HYBRID_1], now=0.0)
    for event in happy_events(Flow.HYBRID_1)[:4]:
        m.handle(event, now=0.0)
    m.handle(ev.ResetRequested(), now=5.0)
    assert m.state is MtaState.DHCP_DISCOVER


@pytest.mark.parametrize("flow", list(Flow))
def test_server_side_path(flow: Flow) -> None:
    m = Machine(SERVER_TABLES[flow], now=0.0)
    events: list[object] = []
    if flow.hybrid:
        events += [ev.EnrollmentReceived(), ev.ConfigBuilt(), ev.LocationSetAcked()]
    events.append(ev.FileServed())
    if flow.reports_status:
        events.append(ev.StatusReceived(4))
    for event in events:
        m.handle(event, now=1.0)
    # A .1 flow ends where the server's knowledge ends: the file went out, no outcome is reported.
    assert m.state is (ServerState.DONE if flow.reports_status else ServerState.FILE_DELIVERED)
    assert m.result == (ProvisioningState.PASS_WITH_WARNINGS if flow.reports_status else None)


def test_server_times_out_a_silent_device() -> None:
    m = Machine(SERVER_TABLES[Flow.HYBRID_2], now=0.0)
    m.handle_timer(now=601.0)
    assert m.state is ServerState.TIMED_OUT


def test_flows_doc_is_current() -> None:
    assert diagram.DOC.read_text() == diagram.document(), "run: python -m pktcable.flow.diagram"


def events_of(table) -> list[type]:  # type: ignore[no-untyped-def]
    kinds = {kind for _, kind in table.transitions} | set(table.global_events)
    return sorted(kinds, key=lambda k: k.__name__)


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_event_sequences(table, data) -> None:  # type: ignore[no-untyped-def]
    """Any sequence: each event either moves the machine along the table or
    raises InvalidTransition and changes nothing; and once events stop, the
    timers alone bring every run to a final state (a pass or a named
    failure) in a bounded number of steps."""
    now = 0.0
    m = Machine(table, now, provisioning_timer=data.draw(st.sampled_from([None, 30.0, 600.0])))
    kinds = events_of(table)
    for _ in range(data.draw(st.integers(0, 25))):
        now += data.draw(st.floats(0, 50))
        m.handle_timer(now)
        event = data.draw(st.sampled_from(kinds))()
        before = m.state
        expected = table.target(before, event)
        try:
            m.handle(event, now)
        except InvalidTransition:
            assert expected is None and m.state is before
        else:
            assert m.state is expected
    for _ in range(len(table.states) + 2):
        deadline = m.next_deadline()
        if m.done:
            break
        assert deadline is not None, f"{m.state.name} would wait forever"
        m.handle_timer(deadline)
    # Every end is a pass, a named failure, or (server side, .1 flows) the file delivered with no outcome to know.
    assert m.done and (m.result is not None or m.state is ServerState.FILE_DELIVERED)


class Hybrid2Device(RuleBasedStateMachine):
    """Stateful run of the HYBRID.2 eMTA table against a model of its steps."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.m = Machine(MTA_TABLES[Flow.HYBRID_2], self.now, provisioning_timer=600)

    @rule(kind=st.sampled_from(events_of(MTA_TABLES[Flow.HYBRID_2])), dt=st.floats(0, 120))
    def feed(self, kind: type, dt: float) -> None:
        self.now += dt
        self.m.handle_timer(self.now)
        try:
            self.m.handle(kind(), self.now)
        except InvalidTransition:
            pass

    @invariant()
    def final_states_are_named_and_valued(self) -> None:
        if self.m.done:
            assert self.m.state is MtaState.OPERATIONAL or self.m.state.name.startswith("FAILED_")
            assert self.m.result in ProvisioningState.__members__.values()

    @invariant()
    def history_ends_in_the_current_state(self) -> None:
        assert self.m.history[-1].state is self.m.state
        if self.m.done:
            assert self.m.next_deadline() is None


TestHybrid2Device = Hybrid2Device.TestCase
