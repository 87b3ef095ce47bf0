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
    if flow.secure:
        out += [ev.KdcLocated("10.0.0.2"), ev.AsReplyReceived(), ev.ApReplyReceived()]
    if flow.enrolls:
        out += [ev.InformAcked(), ev.ConfigLocationSet("tftp://10.0.0.1/f", b"h" * 20), ev.HostResolved()]
    out += [ev.FileReceived(300)]
    if flow.secure:
        out.append(ev.ConfigDecrypted())
    out.append(ev.ConfigAccepted())
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
    if flow.secure:
        assert steps[3:9] == ["MTA-5...8", "MTA-9/10", "MTA-13/14", "MTA-15", "MTA-16...19", "MTA-20/21"]
        assert steps[-4:-1] == ["MTA-23", "MTA-23", "MTA-25"]  # decrypt, parse, report
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
    if flow.secure:
        events.append(ev.KeysEstablished())
    if flow.enrolls:
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


# --- the Secure flow's own steps (MTA-5 ... MTA-14, the encrypted file) ------------------

def secure_until(state: MtaState) -> Machine:
    """A Secure eMTA walked along its happy path until it enters ``state``."""
    m = Machine(MTA_TABLES[Flow.SECURE], now=0.0, provisioning_timer=600)
    for event in happy_events(Flow.SECURE):
        if m.state is state:
            return m
        m.handle(event, now=1.0)
    raise AssertionError(f"{state.name} is not on the happy path")


@pytest.mark.parametrize(("state", "event", "final"), [
    (MtaState.LOCATE_KDC, ev.KdcNotFound("no SRV record"), MtaState.FAILED_KDC),
    (MtaState.AS_EXCHANGE, ev.KdcUnanswered(), MtaState.FAILED_KDC),
    (MtaState.AS_EXCHANGE, ev.AsReplyUntrusted("KDC certificate from another root"), MtaState.FAILED_AS_REP_UNTRUSTED),
    (MtaState.AS_EXCHANGE, ev.KdcRefused(62, "client certificate expired"), MtaState.FAILED_KDC_REFUSED),
    (MtaState.KEY_MANAGEMENT, ev.KeyManagementFailed("AP Reply HMAC does not verify"), MtaState.FAILED_KM),
    (MtaState.ENROLL, ev.UsmRejected("usmStatsWrongDigests"), MtaState.FAILED_USM),
])
def test_secure_failures_end_in_their_named_state(state: MtaState, event: object, final: MtaState) -> None:
    m = secure_until(state)
    m.handle(event, now=2.0)
    assert m.state is final and m.done and m.result == ProvisioningState.FAIL_OTHER_REASON


def test_secure_tgt_buys_the_service_ticket_at_mta_11_12() -> None:
    m = secure_until(MtaState.AS_EXCHANGE)
    m.handle(ev.TgtReceived(), now=2.0)
    assert m.state is MtaState.TGS_EXCHANGE and m.info.step == "MTA-11/12"
    m.handle(ev.TgsReplyReceived(), now=3.0)
    assert m.state is MtaState.KEY_MANAGEMENT
    with pytest.raises(InvalidTransition):  # no TGT twice
        secure_until(MtaState.KEY_MANAGEMENT).handle(ev.TgsReplyReceived(), now=3.0)


def test_secure_file_that_does_not_decrypt_is_reported_then_named() -> None:
    m = secure_until(MtaState.DECRYPT)
    m.handle(ev.ConfigDecryptFailed("bad padding"), now=2.0)
    assert m.state is MtaState.REPORT_UNDECRYPTABLE and m.info.step == "MTA-25"
    m.handle(ev.InformAcked(), now=3.0)
    assert m.state is MtaState.FAILED_CONFIG_DECRYPT and m.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR


def test_secure_kerberos_steps_wait_the_mib_backoff() -> None:
    """The AS and AP waits default to the whole PKTC-IETF-MTA-MIB backoff (nominal doubling up to
    the maximum, first try and every retry); the provisioning timer still bounds the walk."""
    from pktcable.flow.tables import AP_BACKOFF, AS_BACKOFF, backoff_waits

    assert backoff_waits(3.0, 100.0, 7) == [3, 6, 12, 24, 48, 96, 100, 100]  # the MIB's own example
    m = secure_until(MtaState.AS_EXCHANGE)
    assert m.info.timeout == sum(backoff_waits(*AS_BACKOFF))
    m.handle_timer(now=1.0 + sum(backoff_waits(*AS_BACKOFF)))
    assert m.state is MtaState.FAILED_KDC
    km = secure_until(MtaState.KEY_MANAGEMENT)
    assert km.info.timeout == sum(backoff_waits(*AP_BACKOFF)) and km.next_deadline() == 1.0 + 600  # timer first


def test_secure_server_keeps_a_run_through_hostile_key_and_usm_messages() -> None:
    """A refused AP Request or an SNMPv3 message failing USM can come from anybody naming the
    device (a replay, a forgery): recorded, they never end its run; a new association restarts it."""
    m = Machine(SERVER_TABLES[Flow.SECURE], now=0.0, started_by=ev.LeaseAcked())
    m.handle(ev.KeyRequestRefused("replayed AP Request"), now=1.0)
    assert m.state is ServerState.LEASED and not m.done
    with pytest.raises(InvalidTransition):  # no enrollment without an association
        m.handle(ev.EnrollmentReceived(), now=1.0)
    m.handle(ev.KeysEstablished(), now=2.0)
    assert m.state is ServerState.KEYED and m.info.step == "MTA-13/14"
    m.handle(ev.UsmFailed("usmStatsWrongDigests"), now=3.0)
    assert m.state is ServerState.KEYED
    for event in (ev.EnrollmentReceived(), ev.ConfigBuilt(), ev.LocationSetAcked(), ev.FileServed(),
                  ev.StatusReceived(1)):
        m.handle(event, now=4.0)
    assert m.state is ServerState.DONE
    m.handle(ev.UsmFailed("late forgery"), now=5.0)
    assert m.state is ServerState.DONE and m.result == ProvisioningState.PASS
    m.handle(ev.KeysEstablished(), now=6.0)  # the eMTA started over
    assert m.state is ServerState.KEYED and m.next_deadline() == 6.0 + m.table.budget  # type: ignore[operator]
