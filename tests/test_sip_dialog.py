"""RFC 6665 subscriptions: notifier and subscriber talking through the codec."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.sip import grammar as g
from pktcable.sip import uaprofile
from pktcable.sip.dialog import Local, peer_address
from pktcable.sip.errors import SipValueError
from pktcable.sip.message import Request, Response, parse_datagram, serialize
from pktcable.sip.notifier import Notifier, Outcome, Policy
from pktcable.sip.subscriber import (
    Active,
    Failed,
    Notified,
    SendRequest,
    SendResponse,
    Subscriber,
    SubState,
    Terminated,
)

URL = g.MediaType("application", "url")


def ids(prefix: str):  # type: ignore[no-untyped-def]
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def wire(msg: Request | Response) -> Request | Response:
    """Every message crosses the codec, as on the network."""
    return parse_datagram(serialize(msg))


def phone(expires: int = 3600) -> Subscriber:
    profile = uaprofile.UaProfile("device", vendor="acme", model="x1", version="1.0")
    return Subscriber(Local("10.0.0.5", 5060), aor=g.NameAddr(g.SipUri("10.0.0.5", "MAC000413000001")),
                      target=g.SipUri("224.0.1.75", "MAC000413000001"), event=profile.to_event(),
                      accept=(URL,), expires=expires, new_id=ids("p"))


def server(policy: Policy | None = None) -> Notifier:
    return Notifier(Local("10.0.0.1", 5060), new_id=ids("s"), policy=policy or Policy())


def only(events: list, kind: type):  # type: ignore[no-untyped-def,type-arg]
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, events
    return found[0]


def test_subscribe_notify_refresh_unsubscribe() -> None:
    ph, srv = phone(), server()
    sub_req = wire(only(ph.subscribe(0.0), SendRequest).request)
    assert isinstance(sub_req, Request)
    assert uaprofile.from_event(sub_req.need("Event", g.Event)).model == "x1"
    decision = srv.on_subscribe(sub_req, 0.0)
    assert decision.outcome is Outcome.CREATED and decision.response.status == 200
    assert decision.response.to.tag == "s1" and decision.response.get("Expires") == 3600
    assert isinstance(only(ph.on_response(wire(decision.response), 0.1), Active), Active)  # type: ignore[arg-type]
    assert decision.subscription is not None
    notify = wire(srv.notify(decision.subscription, 0.2, b"http://prov/x1.cfg", URL))
    assert isinstance(notify, Request) and str(notify.uri) == "sip:10.0.0.5:5060"
    assert peer_address(notify) == ("10.0.0.5", 5060)
    out = ph.on_notify(notify, 0.3)
    assert only(out, SendResponse).response.status == 200
    note = only(out, Notified)
    assert note.body == b"http://prov/x1.cfg" and note.state.state == "active" and note.state.expires == 3599
    assert ph.state is SubState.ACTIVE
    # Refresh before expiry: in-dialog, CSeq 2, same tags.
    assert ph.next_deadline() == pytest.approx(0.3 + 3599 - 60)  # the NOTIFY's expires=3599 shortened it
    refresh = wire(only(ph.handle_timer(3540.2), SendRequest).request)
    assert isinstance(refresh, Request) and refresh.cseq.seq == 2 and refresh.to.tag == "s1"
    again = srv.on_subscribe(refresh, 3540.2)
    assert again.outcome is Outcome.REFRESHED
    ph.on_response(wire(again.response), 3540.3)
    assert again.subscription is not None
    ph.on_notify(wire(srv.notify(again.subscription, 3540.3)), 3540.4)
    # Unsubscribe: Expires 0, then the terminating NOTIFY.
    bye = wire(only(ph.unsubscribe(4000.0), SendRequest).request)
    assert isinstance(bye, Request) and bye.get("Expires") == 0
    last = srv.on_subscribe(bye, 4000.0)
    assert last.outcome is Outcome.UNSUBSCRIBED and last.subscription is not None
    assert ph.on_response(wire(last.response), 4000.1) == []
    final = wire(srv.notify(last.subscription, 4000.1))
    assert isinstance(final, Request)
    assert final.need("Subscription-State", g.SubscriptionState).reason == "timeout"
    end = ph.on_notify(final, 4000.2)
    assert only(end, Terminated).reason == "timeout" and ph.state is SubState.TERMINATED
    assert srv.subscriptions == {}
    # NOTIFY CSeqs rose 1, 2, 3 in the notifier's own space.
    assert final.cseq.seq == 3


def test_notify_before_the_200_creates_the_dialog() -> None:
    ph, srv = phone(), server()
    decision = srv.on_subscribe(wire(only(ph.subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    assert decision.subscription is not None
    notify = wire(srv.notify(decision.subscription, 0.0, b"u", URL))
    assert only(ph.on_notify(notify, 0.1), SendResponse).response.status == 200  # type: ignore[arg-type]
    assert ph.dialog is not None and ph.dialog.remote_tag == "s1"
    ph.on_response(wire(decision.response), 0.2)  # type: ignore[arg-type]
    assert ph.state is SubState.ACTIVE


def test_expires_negotiation() -> None:
    srv = server(Policy(min_expires=600, max_expires=7200))
    short = srv.on_subscribe(wire(only(phone(60).subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    assert short.response.status == 423 and short.response.get("Min-Expires") == 600
    long = srv.on_subscribe(wire(only(phone(99999).subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    assert long.response.get("Expires") == 7200
    # The phone retries with Min-Expires after a 423.
    ph = phone(60)
    first = wire(only(ph.subscribe(0.0), SendRequest).request)
    retry = only(ph.on_response(wire(srv.on_subscribe(first, 0.0).response), 0.1), SendRequest)  # type: ignore[arg-type]
    assert retry.request.get("Expires") == 600 and retry.request.cseq.seq == 2
    assert srv.on_subscribe(wire(retry.request), 0.2).outcome is Outcome.CREATED  # type: ignore[arg-type]


def test_refusals() -> None:
    srv = server()
    ph = phone()
    req = wire(only(ph.subscribe(0.0), SendRequest).request)
    assert isinstance(req, Request)
    presence = req.with_header("Event", g.Event("presence"))
    bad = srv.on_subscribe(presence, 0.0)
    assert bad.response.status == 489 and bad.response.get("Allow-Events") == "ua-profile"
    needs = srv.on_subscribe(req.with_header("Require", "100rel"), 0.0)
    assert needs.response.status == 420 and needs.response.get_all("Unsupported") == ["100rel"]
    stranger = req.with_header("To", req.to.with_tag("nope"))
    assert srv.on_subscribe(stranger, 0.0).response.status == 481
    created = srv.on_subscribe(req, 0.0)
    ph.on_response(wire(created.response), 0.0)  # type: ignore[arg-type]
    refresh = wire(only(ph.handle_timer(3540.1), SendRequest).request)
    assert isinstance(refresh, Request)
    old = refresh.with_header("CSeq", g.CSeq(1, "SUBSCRIBE"))
    assert srv.on_subscribe(old, 3540.1).response.status == 500


def test_expiry_sends_terminated_timeout_and_the_phone_ends() -> None:
    ph, srv = phone(120), server()
    decision = srv.on_subscribe(wire(only(ph.subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    ph.on_response(wire(decision.response), 0.0)  # type: ignore[arg-type]
    assert srv.next_deadline() == 120.0 and srv.handle_timer(119.9) == []
    [final] = srv.handle_timer(120.0)
    assert final.need("Subscription-State", g.SubscriptionState) == g.SubscriptionState(
        "terminated", (("reason", "timeout"),))
    assert srv.subscriptions == {}
    assert only(ph.on_notify(wire(final), 120.1), Terminated).reason == "timeout"  # type: ignore[arg-type]


def test_notifier_terminate_with_reason_and_481_drops() -> None:
    ph, srv = phone(), server()
    decision = srv.on_subscribe(wire(only(ph.subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    assert decision.subscription is not None
    end = srv.notify(decision.subscription, 5.0, terminate_reason="deactivated")
    assert "terminated;reason=deactivated" in serialize(end).decode()
    ph2 = phone()
    d2 = srv.on_subscribe(wire(only(ph2.subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    assert d2.subscription is not None
    n = srv.notify(d2.subscription, 1.0)
    from pktcable.sip.message import make_response
    assert srv.on_notify_result(d2.subscription, make_response(n, 481)) and srv.subscriptions == {}


def test_foreign_notify_gets_481_and_subscriber_timeout_fails() -> None:
    ph = phone()
    req = only(ph.subscribe(0.0), SendRequest).request
    srv = server()
    decision = srv.on_subscribe(wire(req), 0.0)  # type: ignore[arg-type]
    assert decision.subscription is not None
    notify = srv.notify(decision.subscription, 0.0)
    foreign = notify.with_header("Call-ID", "someone-else")
    assert only(ph.on_notify(wire(foreign), 0.1), SendResponse).response.status == 481  # type: ignore[arg-type]
    assert only(ph.on_timeout(req, 32.0), Failed).status == 408
    assert ph.state is SubState.TERMINATED


def test_ua_profile_parameters_round_trip_and_field_forms() -> None:
    prof = uaprofile.UaProfile("device", vendor="acme", model="x 1", version="2.0", appids=("a", "b"),
                               effective_by=3600)
    event = prof.to_event()
    assert str(event) == ('ua-profile;profile-type=device;vendor="acme";model="x 1";version="2.0";'
                          'appids="a,b";effective-by=3600')
    assert uaprofile.from_event(g.parse_event(str(event))) == prof
    snom = g.parse_event('ua-profile;profile-type="device";vendor="snom";model="snom370";version="8.7"')
    assert uaprofile.from_event(snom).profile_type == "device"
    with pytest.raises(SipValueError):
        uaprofile.from_event(g.parse_event("ua-profile;vendor=x"))
    with pytest.raises(SipValueError):
        uaprofile.from_event(g.parse_event("ua-profile;profile-type=device;effective-by=soon"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["notify", "refresh", "timer", "unsubscribe", "response"]), max_size=25))
def test_random_lifecycles_stay_consistent(steps: list[str]) -> None:
    """Whatever order things happen in, both ends only produce parseable messages,
    the notifier holds at most the one subscription, and a NOTIFY that ended the
    phone's subscription also ended it at the notifier."""
    ph, srv = phone(600), server()
    now = 0.0
    req = only(ph.subscribe(now), SendRequest).request
    responses = [srv.on_subscribe(wire(req), now).response]  # type: ignore[arg-type]
    for step in steps:
        now += 100.0
        events: list = []  # type: ignore[type-arg]
        sub = next(iter(srv.subscriptions.values()), None)
        if step == "notify" and sub is not None:
            events += ph.on_notify(wire(srv.notify(sub, now, b"x", URL)), now)  # type: ignore[arg-type]
        elif step == "response" and responses:
            events += ph.on_response(wire(responses.pop(0)), now)  # type: ignore[arg-type]
        elif step in ("refresh", "timer"):
            for e in ph.handle_timer(now):
                events.append(e)
                if isinstance(e, SendRequest):
                    responses.append(srv.on_subscribe(wire(e.request), now).response)  # type: ignore[arg-type]
            for final in srv.handle_timer(now):
                events += ph.on_notify(wire(final), now)  # type: ignore[arg-type]
        elif step == "unsubscribe" and ph.state not in (SubState.IDLE, SubState.TERMINATED):
            for e in ph.unsubscribe(now):
                if isinstance(e, SendRequest):
                    d = srv.on_subscribe(wire(e.request), now)  # type: ignore[arg-type]
                    responses.append(d.response)
                    if d.subscription is not None and d.subscription.dialog.id in srv.subscriptions:
                        events += ph.on_notify(wire(srv.notify(d.subscription, now)), now)  # type: ignore[arg-type]
        for e in events:
            if isinstance(e, SendResponse):
                wire(e.response)
        assert len(srv.subscriptions) <= 1
        if any(isinstance(e, Terminated) and e.reason != "expired" for e in events):
            assert srv.subscriptions == {} and ph.state is SubState.TERMINATED


def test_route_sets_from_record_route() -> None:
    """§12.1.1/§12.1.2: the notifier routes by Record-Route in order, the subscriber in reverse."""
    ph, srv = phone(), server()
    req = only(ph.subscribe(0.0), SendRequest).request
    p1 = g.NameAddr(g.SipUri("192.0.2.1", port=5070, params=(("lr", None),)))
    p2 = g.NameAddr(g.SipUri("192.0.2.2", params=(("lr", None),)))
    routed = wire(Request(method=req.method, uri=req.uri, headers=req.headers + (("Record-Route", p1),
                                                                               ("Record-Route", p2))))
    assert isinstance(routed, Request)
    decision = srv.on_subscribe(routed, 0.0)
    assert decision.response.get_all("Record-Route") == [p1, p2]  # echoed in the 200
    assert decision.subscription is not None
    notify = wire(srv.notify(decision.subscription, 0.0))
    assert isinstance(notify, Request)
    assert notify.get_all("Route") == [p1, p2] and peer_address(notify) == ("192.0.2.1", 5070)
    assert str(notify.uri) == "sip:10.0.0.5:5060"  # the remote target stays the phone's Contact
    ph.on_response(wire(decision.response), 0.1)  # type: ignore[arg-type]
    refresh = only(ph.handle_timer(3600.0), SendRequest).request
    assert refresh.get_all("Route") == [p2, p1] and peer_address(refresh) == ("192.0.2.2", 5060)
    # The refused answers carry no Record-Route.
    refused = srv.on_subscribe(routed.with_header("Event", g.Event("presence")), 0.0).response
    assert refused.get_all("Record-Route") == []


def test_subscriber_edges_pending_481_on_refresh_and_silent_expiry() -> None:
    ph, srv = phone(600), server()
    decision = srv.on_subscribe(wire(only(ph.subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    ph.on_response(wire(decision.response), 0.0)  # type: ignore[arg-type]
    assert decision.subscription is not None
    pending = srv.notify(decision.subscription, 1.0).with_header(
        "Subscription-State", g.SubscriptionState("pending", (("expires", "599"),)))
    ph.on_notify(wire(pending), 1.0)  # type: ignore[arg-type]
    assert ph.state is SubState.PENDING
    # The notifier lost the subscription: the refresh gets 481 and the phone stops.
    srv.subscriptions.clear()
    refresh = wire(only(ph.handle_timer(540.0), SendRequest).request)
    lost = srv.on_subscribe(refresh, 540.0)  # type: ignore[arg-type]
    assert lost.response.status == 481
    assert only(ph.on_response(wire(lost.response), 540.1), Failed).status == 481  # type: ignore[arg-type]
    assert ph.state is SubState.TERMINATED and ph.next_deadline() is None
    # Another phone whose refreshes go unanswered ends at expiry by itself.
    ph2 = phone(600)
    d2 = srv.on_subscribe(wire(only(ph2.subscribe(0.0), SendRequest).request), 0.0)  # type: ignore[arg-type]
    ph2.on_response(wire(d2.response), 0.0)  # type: ignore[arg-type]
    assert only(ph2.handle_timer(540.0), SendRequest)  # refresh sent, never answered
    assert ph2.next_deadline() == 600.0
    assert only(ph2.handle_timer(600.0), Terminated).reason == "expired"
