"""Non-INVITE transactions (RFC 3261 §17) with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.sip import grammar as g
from pktcable.sip.errors import SipStateError
from pktcable.sip.message import Request, make_response
from pktcable.sip.transaction import (
    RequestReceived,
    ResponseReceived,
    Send,
    State,
    StrayResponse,
    TimedOut,
    Timers,
    TransactionLayer,
)

PEER = ("192.0.2.10", 5060)
T = Timers(t1=0.5, t2=4.0, t4=5.0)


def request(branch: str = "z9hG4bK1", method: str = "NOTIFY", rport: bool = False) -> Request:
    via_params: g.Params = (("branch", branch),) + ((("rport", None),) if rport else ())
    return Request(method=method, uri=g.SipUri("192.0.2.10", "phone", 5060), headers=(
        ("Via", g.Via("UDP", "192.0.2.1", 5060, via_params)),
        ("Max-Forwards", 70),
        ("From", g.NameAddr(g.SipUri("example.com", "prov"), params=(("tag", "a"),))),
        ("To", g.NameAddr(g.SipUri("example.com", "phone"), params=(("tag", "b"),))),
        ("Call-ID", "c1"), ("CSeq", g.CSeq(1, method))))


def sends(events: list) -> list[Send]:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, Send)]


def run_until(layer: TransactionLayer, end: float) -> tuple[list[float], list]:  # type: ignore[type-arg]
    """Fire every timer up to ``end``; the times at which something was sent, and all events."""
    times, events = [], []
    while (due := layer.next_deadline()) is not None and due <= end:
        out = layer.handle_timer(due)
        events += out
        times += [due for _ in sends(out)]
    return times, events


def test_client_retransmits_with_timer_e_doubling_to_t2_then_times_out_at_f() -> None:
    layer = TransactionLayer(reliable=False, timers=T)
    assert sends(layer.send_request(request(), PEER, 0.0))[0].retransmission is False
    times, events = run_until(layer, 100.0)
    # E: 0.5, 1.5, 3.5, 7.5, 11.5 ... (interval 0.5, 1, 2, 4, 4, ...) until F = 64*T1 = 32 s.
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [type(e) for e in events if not isinstance(e, Send)] == [TimedOut]
    assert layer.clients == {}


def test_client_proceeding_retransmits_every_t2_and_final_response_stops_it() -> None:
    layer = TransactionLayer(reliable=False, timers=T)
    req = request()
    layer.send_request(req, PEER, 0.0)
    out = layer.receive(make_response(req, 100), PEER, 0.2)
    assert isinstance(out[0], ResponseReceived) and layer.clients[("z9hG4bK1", "NOTIFY")].state is State.PROCEEDING
    times, _ = run_until(layer, 10.0)
    assert times == [0.5, 4.5, 8.5]
    final = make_response(req, 200)
    assert isinstance(layer.receive(final, PEER, 10.0)[0], ResponseReceived)
    assert layer.receive(final, PEER, 10.5) == []  # absorbed in Completed
    times, _ = run_until(layer, 14.9)
    assert times == [] and layer.clients  # timer K = T4 not yet
    run_until(layer, 15.0)
    assert layer.clients == {}


def test_client_on_reliable_transport_never_retransmits() -> None:
    layer = TransactionLayer(reliable=True, timers=T)
    layer.send_request(request(), PEER, 0.0)
    times, events = run_until(layer, 40.0)
    assert times == [] and [type(e) for e in events] == [TimedOut]


def test_response_matching_by_branch_and_method() -> None:
    layer = TransactionLayer(reliable=False, timers=T)
    req = request()
    layer.send_request(req, PEER, 0.0)
    other = make_response(request(branch="z9hG4bK2"), 200)
    assert isinstance(layer.receive(other, PEER, 0.1)[0], StrayResponse)
    assert layer.clients[("z9hG4bK1", "NOTIFY")].state is State.TRYING


def test_client_refuses_a_branch_without_the_cookie_and_invite() -> None:
    layer = TransactionLayer(reliable=False)
    with pytest.raises(SipStateError):
        layer.send_request(request(branch="abc"), PEER, 0.0)
    with pytest.raises(SipStateError):
        layer.send_request(request(method="INVITE"), PEER, 0.0)


def test_server_absorbs_retransmissions_and_resends_the_final_response() -> None:
    layer = TransactionLayer(reliable=False, timers=T)
    req = request(method="SUBSCRIBE")
    out = layer.receive(req, PEER, 0.0)
    assert len(out) == 1 and isinstance(out[0], RequestReceived)
    assert layer.receive(req, PEER, 0.3) == []  # Trying: absorbed, nothing to resend
    got = out[0].request
    provisional = layer.respond(got, make_response(got, 100), 0.4)
    assert sends(provisional)[0].message.status == 100  # type: ignore[union-attr]
    assert sends(layer.receive(req, PEER, 0.5))[0].retransmission
    layer.respond(got, make_response(got, 200, to_tag="t"), 1.0)
    again = sends(layer.receive(req, PEER, 2.0))
    assert again[0].message.status == 200 and again[0].peer == PEER  # type: ignore[union-attr]
    with pytest.raises(SipStateError):
        layer.respond(got, make_response(got, 200), 2.0)
    run_until(layer, 1.0 + 64 * T.t1 - 0.01)
    assert layer.servers
    run_until(layer, 1.0 + 64 * T.t1)
    assert layer.servers == {}
    # After timer J the same request is new again (the TU's dialog state decides what it is).
    assert isinstance(layer.receive(req, PEER, 40.0)[0], RequestReceived)


def test_server_matching_uses_sent_by_and_method() -> None:
    layer = TransactionLayer(reliable=False, timers=T)
    req = request(method="SUBSCRIBE")
    layer.receive(req, PEER, 0.0)
    moved = req.with_header("Via", g.Via("UDP", "192.0.2.99", 5060, (("branch", "z9hG4bK1"),)))
    assert isinstance(layer.receive(moved, PEER, 0.1)[0], RequestReceived)
    options = Request(method="OPTIONS", uri=req.uri, headers=tuple(
        (n, g.CSeq(1, "OPTIONS") if n == "CSeq" else v) for n, v in req.headers))
    assert isinstance(layer.receive(options, PEER, 0.1)[0], RequestReceived)
    assert len(layer.servers) == 3


def test_server_stamps_received_and_rport() -> None:
    layer = TransactionLayer(reliable=False)
    out = layer.receive(request(method="SUBSCRIBE", rport=True), ("198.51.100.7", 40000), 0.0)
    via = out[0].request.top_via  # type: ignore[union-attr]
    assert via.received == "198.51.100.7" and via.rport == 40000


def test_server_table_is_bounded() -> None:
    layer = TransactionLayer(reliable=False, max_transactions=3)
    for i in range(5):
        layer.receive(request(branch=f"z9hG4bK{i}", method="SUBSCRIBE"), PEER, 0.0)
    assert len(layer.servers) == 3 and layer.overflows == 2


def test_reliable_server_terminates_at_once() -> None:
    layer = TransactionLayer(reliable=True)
    req = request(method="SUBSCRIBE")
    got = layer.receive(req, PEER, 0.0)[0].request  # type: ignore[union-attr]
    layer.respond(got, make_response(got, 200), 1.0)
    layer.handle_timer(1.0)
    assert layer.servers == {}


def test_requests_without_the_cookie_are_told_apart_by_call_id_and_cseq() -> None:
    layer = TransactionLayer(reliable=False)
    old = request(branch="1", method="SUBSCRIBE")
    assert isinstance(layer.receive(old, PEER, 0.0)[0], RequestReceived)
    assert layer.receive(old, PEER, 0.1) == []  # its retransmission
    other = old.with_header("Call-ID", "c2")
    assert isinstance(layer.receive(other, PEER, 0.2)[0], RequestReceived)


def test_timers_come_from_a_settings_table_and_refuse_impossible_values() -> None:
    from pktcable import settings

    assert Timers(**settings.typed({"t1": 0.25, "t2": 2, "t4": 2.5}, Timers)) == Timers(0.25, 2.0, 2.5)
    for table, key in [({"t1": 0}, "t1"), ({"t1": 1.0, "t2": 0.5}, "t2"), ({"t4": -1}, "t4")]:
        with pytest.raises(settings.SettingError) as info:
            Timers(**settings.typed(table, Timers))
        assert info.value.key == key
    with pytest.raises(settings.SettingError):
        settings.typed({"t3": 1}, Timers)


_ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("wait"), st.floats(0.0, 10.0)),
    st.tuples(st.just("provisional"), st.just(0.0)),
    st.tuples(st.just("final"), st.just(0.0)),
), max_size=30)


@settings(max_examples=300, deadline=None)
@given(_ACTIONS, st.booleans())
def test_client_transaction_properties(actions: list[tuple[str, float]], reliable: bool) -> None:
    """Whatever arrives when: retransmissions only before the final response, only on
    UDP, spaced by at most T2; the TU hears one final outcome; the table empties."""
    layer = TransactionLayer(reliable=reliable, timers=T)
    req = request()
    layer.send_request(req, PEER, 0.0)
    now, sends_at, finals, final_at = 0.0, [], 0, None

    def run(events: list) -> None:  # type: ignore[type-arg]
        nonlocal finals
        for e in events:
            if isinstance(e, Send):
                sends_at.append(now)
            if isinstance(e, TimedOut) or (isinstance(e, ResponseReceived) and e.response.status >= 200):
                finals += 1

    for action, dt in actions + [("wait", 100.0)]:
        if action == "wait":
            end = now + dt
            while (due := layer.next_deadline()) is not None and due <= end:
                now = due
                run(layer.handle_timer(now))
            now = end
        else:
            response = make_response(req, 180 if action == "provisional" else 200)
            before = finals
            run(layer.receive(response, PEER, now))
            if finals > before:
                final_at = now
    assert finals == 1 and layer.clients == {}
    if reliable:
        assert sends_at == []
    else:
        limit = final_at if final_at is not None else 64 * T.t1
        assert all(t <= limit for t in sends_at)
        gaps = [b - a for a, b in zip([0.0] + sends_at, sends_at, strict=False)]
        assert all(g <= T.t2 + 1e-9 for g in gaps)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["again", "provisional", "final", "wait"]), max_size=20), st.booleans())
def test_server_transaction_properties(actions: list[str], reliable: bool) -> None:
    """The TU sees the request once; a retransmission gets exactly the last response
    (or nothing before there is one); responding after the final one is refused."""
    layer = TransactionLayer(reliable=reliable, timers=T)
    req = request(method="SUBSCRIBE")
    now = 0.0
    seen = [e for e in layer.receive(req, PEER, now) if isinstance(e, RequestReceived)]
    got = seen[0].request
    last = None
    for action in actions:
        now += 1.0
        if action == "again":
            live = bool(layer.servers)
            out = layer.receive(req, PEER, now)
            if not live:  # after timer J the request is new again
                assert len(out) == 1 and isinstance(out[0], RequestReceived)
                seen.append(out[0])
                got = out[0].request
            elif last is not None:
                assert [e.message for e in sends(out)] == [last]
            else:
                assert out == []
        elif action == "wait":
            layer.handle_timer(now + 64 * T.t1)
            now += 64 * T.t1
        elif layer.servers:
            response = make_response(got, 100 if action == "provisional" else 200)
            done = last is not None and last.status >= 200
            if done:
                with pytest.raises(SipStateError):
                    layer.respond(got, response, now)
            else:
                layer.respond(got, response, now)
                last = response
        if not layer.servers:
            last = None


def test_many_transactions_fire_in_deadline_order_and_answered_ones_stop_retransmitting() -> None:
    """The layer keeps deadlines on a heap whose entries go stale as transactions move on:
    answered transactions must not retransmit, and each one's timers still fire on time."""
    layer = TransactionLayer(reliable=False, timers=T)
    for n in range(200):
        layer.send_request(request(f"z9hG4bK{n}"), PEER, n * 0.01)
    answered = set(range(0, 200, 2))
    for n in sorted(answered):  # answered before their first retransmission (0.5 s after sending)
        req = request(f"z9hG4bK{n}")
        layer.receive(make_response(req, 200), PEER, n * 0.01 + 0.1)
    times, events = run_until(layer, 0.5 + 2.0)
    resent = [e.message.top_via.branch for e in sends(events)]
    assert resent and not {f"z9hG4bK{n}" for n in answered} & set(resent)
    assert times == sorted(times)
    # The unanswered ones: the first retransmission 0.5 s after each was sent, the second 1 s later.
    first = {branch: t for branch, t in zip(reversed(resent), reversed(times), strict=True)}
    for n in range(1, 200, 2):
        assert first[f"z9hG4bK{n}"] == pytest.approx(n * 0.01 + 0.5)
    # Timer K (T4 = 5 s) ends the answered ones; F (32 s) the others.
    run_until(layer, 40.0)
    assert layer.clients == {} and layer.next_deadline() is None
