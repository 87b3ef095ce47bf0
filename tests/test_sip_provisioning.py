"""The ua-profile provisioning core with a fake clock: identification, digest auth,
NOTIFY with the profile URL, refresh, expiry, change pushes and their rate limit."""

from __future__ import annotations

import itertools

import pytest

from pktcable.phones.book import PhoneBook
from pktcable.phones.profiles import Profiles
from pktcable.sip import grammar as g
from pktcable.sip.dialog import Local
from pktcable.sip.digest import Credentials, DigestAuth, expected_response, parse_authorization
from pktcable.sip.message import Request, Response, make_response, parse_datagram, serialize
from pktcable.sip.notifier import Policy
from pktcable.sip.provisioning import ProvisioningCore, Respond, SendTo, mac_of
from pktcable.store.devices import Device, MemoryDeviceStore

MAC = "0004f2000001"
PHONE = ("10.0.0.7", 5060)
VARS = {"registrar": "sip.example.net", "lines": [{"user": "1001", "password": "secret"}]}


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(store: MemoryDeviceStore, **kw: object) -> tuple[ProvisioningCore, list[tuple[str, str, str]]]:
    ids = itertools.count(1)
    book = PhoneBook(Profiles(), store.get, b"k" * 20, Clock())
    steps: list[tuple[str, str, str]] = []
    core = ProvisioningCore(Local("10.0.0.1", 5060), book, lambda mac: f"http://10.0.0.1/{book.path(mac)}",
                            lambda: f"id{next(ids)}", DigestAuth("prov.test", b"n" * 20),
                            on_step=lambda *a: steps.append(a), **kw)  # type: ignore[arg-type]
    return core, steps


def store_with(**vars: object) -> MemoryDeviceStore:
    store = MemoryDeviceStore()
    store.put(Device(MAC, kind="sip", template="generic", vars={**VARS, **vars}))
    return store


def subscribe(user: str = f"MAC%3a{MAC}", *, expires: int = 3600, cseq: int = 1, to_tag: str = "",
              accept: str = "", extra: str = "", event: str = 'ua-profile;profile-type="device";vendor="acme"') -> Request:
    to = f"<sip:{user}@10.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    text = (f"SUBSCRIBE sip:{user}@10.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK{cseq}x{to_tag}\r\n"
            f"From: <sip:{user}@10.0.0.1>;tag=ph1\r\nTo: {to}\r\nCall-ID: c1@10.0.0.7\r\n"
            f"CSeq: {cseq} SUBSCRIBE\r\nContact: <sip:{user}@10.0.0.7:5060>\r\nMax-Forwards: 70\r\n"
            f"Event: {event}\r\nExpires: {expires}\r\n{accept}{extra}Content-Length: 0\r\n\r\n")
    message = parse_datagram(text.encode())
    assert isinstance(message, Request)
    return message


def split(actions: list[Respond | SendTo]) -> tuple[list[Response], list[SendTo]]:
    return [a.response for a in actions if isinstance(a, Respond)], [a for a in actions if isinstance(a, SendTo)]


@pytest.mark.parametrize(("user", "mac"), [(f"MAC%3a{MAC}", MAC), (f"MAC{MAC}", MAC), (MAC.upper(), MAC),
                                           ("00-04-f2-00-00-01", MAC), ("1001", None), ("MACxyz", None)])
def test_mac_of_the_user_part(user: str, mac: str | None) -> None:
    assert mac_of(g.SipUri("h", user)) == mac


def test_a_known_phone_gets_200_then_a_notify_naming_its_profile_url() -> None:
    core, steps = make(store_with())
    responses, sends = split(core.on_request(subscribe(), PHONE, 1000.0))
    assert [r.status for r in responses] == [200]
    assert len(sends) == 1
    notify = parse_datagram(serialize(sends[0].request))  # what goes on the wire parses back
    assert isinstance(notify, Request) and notify.method == "NOTIFY"
    assert sends[0].peer == PHONE
    ctype = notify.need("Content-Type", g.MediaType)
    assert ctype.mime == "message/external-body"
    url = g.unquote(g.param(ctype.params, "url") or "")  # MIME parameter names: any case
    assert url == f"http://10.0.0.1/{core.book.path(MAC)}"
    assert g.unquote(g.param(ctype.params, "access-type") or "") == "URL"
    assert notify.body.startswith(b"Content-Type: application/xml\r\nContent-ID: <")
    assert str(notify.need("Subscription-State", g.SubscriptionState)).startswith("active;expires=")
    assert steps[0][:2] == (MAC, "Subscribed")
    assert core.phones[MAC].notified_version == core.book.version(MAC)


def test_a_phone_that_accepts_only_application_url_gets_the_url_as_body() -> None:
    core, _ = make(store_with())
    _, sends = split(core.on_request(subscribe(accept="Accept: application/url\r\n"), PHONE, 1000.0))
    assert sends[0].request.body == f"http://10.0.0.1/{core.book.path(MAC)}".encode()


@pytest.mark.parametrize(("request_", "status"), [
    (subscribe(user="MAC%3a001122334455"), 404),  # unknown phone
    (subscribe(user="alice"), 404),  # no MAC at all
    (subscribe(event='ua-profile;profile-type="user"'), 404),
    (subscribe(event="presence"), 489),
    (subscribe(event="ua-profile"), 400),  # profile-type is mandatory
])
def test_refusals(request_: Request, status: int) -> None:
    core, _ = make(store_with())
    responses, sends = split(core.on_request(request_, PHONE, 1000.0))
    assert [r.status for r in responses] == [status] and not sends


def test_mac_identification_needs_the_known_address_and_can_be_turned_off() -> None:
    store = store_with()
    device = store.get(MAC)
    assert device is not None
    device.ip = "10.0.0.99"
    store.put(device)
    core, steps = make(store)
    assert split(core.on_request(subscribe(), PHONE, 1000.0))[0][0].status == 403
    assert steps[-1][1] == "AuthFailed"
    core, _ = make(store_with(), allow_mac_auth=False)
    assert split(core.on_request(subscribe(), PHONE, 1000.0))[0][0].status == 403


def _answer(challenge: Response, password: str, cseq: int) -> Request:
    value = challenge.get("WWW-Authenticate")
    assert isinstance(value, str)
    params = parse_authorization(value.replace("Digest ", "Digest username=x, uri=x, response=x, ", 1))
    assert params is not None
    c = Credentials(MAC, params.realm, params.nonce, f"sip:MAC%3a{MAC}@10.0.0.1", "", qop="auth", nc="00000001",
                    cnonce="abc")
    response = expected_response(c, "SUBSCRIBE", password)
    auth = (f'Authorization: Digest username="{MAC}", realm="{c.realm}", nonce="{c.nonce}", uri="{c.uri}", '
            f'response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc"\r\n')
    return subscribe(cseq=cseq, extra=auth)


def test_digest_auth_with_per_device_credentials() -> None:
    core, _ = make(store_with(sip_password="phone-pw"))
    first = split(core.on_request(subscribe(), PHONE, 1000.0))[0][0]
    assert first.status == 401
    assert 'qop="auth"' in str(first.get("WWW-Authenticate"))
    wrong = split(core.on_request(_answer(first, "guess", 2), PHONE, 1001.0))[0][0]
    assert wrong.status == 403
    # A right answer after the nonce's lifetime is stale: a new challenge, stale=true.
    stale = split(core.on_request(_answer(first, "phone-pw", 3), PHONE, 1000.0 + 301))[0][0]
    assert stale.status == 401 and "stale=true" in str(stale.get("WWW-Authenticate"))
    responses, sends = split(core.on_request(_answer(stale, "phone-pw", 4), PHONE, 1302.0))
    assert [r.status for r in responses] == [200] and len(sends) == 1


def test_refresh_gets_a_new_notify_and_expiry_a_final_one() -> None:
    core, steps = make(store_with(), policy=Policy(min_expires=60))
    responses, _ = split(core.on_request(subscribe(expires=120), PHONE, 1000.0))
    tag = responses[0].to.tag
    assert tag
    responses, sends = split(core.on_request(subscribe(expires=120, cseq=2, to_tag=tag), PHONE, 1100.0))
    assert [r.status for r in responses] == [200] and len(sends) == 1
    assert steps[-1][1] == "Refreshed"
    assert core.next_deadline() == 1220.0
    assert core.handle_timer(1219.0) == []
    _, sends = split(core.handle_timer(1220.0))
    state = sends[0].request.need("Subscription-State", g.SubscriptionState)
    assert (state.state, state.reason) == ("terminated", "timeout")
    assert core.phones[MAC].subscription is None and steps[-1][1] == "Expired"


def test_a_change_is_pushed_in_the_dialog_only_when_the_profile_changed() -> None:
    store = store_with()
    core, _ = make(store)
    core.on_request(subscribe(), PHONE, 1000.0)
    core.notify_change(MAC)
    assert core.handle_timer(1001.0) == []  # same profile: nothing to say
    device = store.get(MAC)
    assert device is not None
    device.vars["codecs"] = ["G722"]
    store.put(device)
    core.notify_change(MAC)
    _, sends = split(core.handle_timer(1002.0))
    assert len(sends) == 1 and sends[0].request.need("Event", g.Event).package == "ua-profile"
    assert sends[0].request.to.tag == "ph1"  # in the phone's dialog
    core.on_result(sends[0].request, None, 1034.0)  # no answer: the subscription ends (RFC 6665 §4.2.2)
    assert core.phones[MAC].subscription is None


def test_a_known_phone_without_subscription_gets_check_sync() -> None:
    store = store_with()
    device = store.get(MAC)
    assert device is not None
    device.ip = "10.0.0.8"
    store.put(device)
    core, _ = make(store)
    core.notify_change(MAC)
    _, sends = split(core.handle_timer(1000.0))
    notify = parse_datagram(serialize(sends[0].request))
    assert isinstance(notify, Request)
    assert notify.need("Event", g.Event).package == "check-sync"
    assert sends[0].peer == ("10.0.0.8", 5060)
    core.notify_change("00aabbccddee")  # not a phone: nothing
    assert core.handle_timer(1001.0) == []


def test_pushes_are_rate_limited_and_coalesced() -> None:
    store = MemoryDeviceStore()
    macs = [f"0004f2{n:06x}" for n in range(100)]
    for n, mac in enumerate(macs):
        store.put(Device(mac, kind="sip", ip=f"10.1.0.{n + 1}", vars=dict(VARS)))
    core, _ = make(store, push_rate=10.0, push_burst=5.0)
    for mac in macs + macs:  # each queued twice: pushed once
        core.notify_change(mac)
    assert core.next_deadline() == 0.0
    sent = len(split(core.handle_timer(100.0))[1])
    assert sent == 5
    assert core.next_deadline() == pytest.approx(100.1)
    sent += len(split(core.handle_timer(101.0))[1])
    assert sent == 10  # a second later the bucket holds its burst (5) again, no more
    t = 101.0
    while core.next_deadline() is not None:
        t = max(t, core.next_deadline() or t)
        sent += len(split(core.handle_timer(t))[1])
    assert sent == 100 and t == pytest.approx(110.0, abs=0.2)  # 90 more at 10 per second


def test_notifies_go_to_the_source_of_the_subscribe_not_to_its_contact() -> None:
    # Behind NAT the source is the reachable address; a Contact naming another host is no
    # way to aim NOTIFYs at a third party.
    core, _ = make(store_with())
    nat = ("192.0.2.9", 40_001)
    _, sends = split(core.on_request(subscribe(), nat, 1000.0))
    assert sends[0].peer == nat
    assert str(sends[0].request.uri) == f"sip:MAC%3a{MAC}@10.0.0.7:5060"  # still addressed to the Contact


def test_pushes_do_not_scan_the_subscriptions() -> None:
    # The notifier expires by scanning its table: asked once per push, N pushes would cost N².
    store = MemoryDeviceStore()
    macs = [f"0004f2{n:06x}" for n in range(50)]
    for mac in macs:
        store.put(Device(mac, kind="sip", vars=dict(VARS)))
    core, _ = make(store, push_rate=10.0, push_burst=1.0)
    for n, mac in enumerate(macs):
        core.on_request(subscribe(user=f"MAC{mac}", cseq=n + 1).with_header("Call-ID", f"c{n}"), PHONE, 1000.0)
    scans = 0
    real = core.notifier.handle_timer

    def counting(now: float) -> list[Request]:
        nonlocal scans
        scans += 1
        return real(now)

    core.notifier.handle_timer = counting  # type: ignore[method-assign]
    for mac in macs:
        device = store.get(mac)
        assert device is not None
        device.vars["codecs"] = ["G722"]
        store.put(device)
        core.notify_change(mac)
    t, sent = 1000.0, 0
    while (due := core.next_deadline()) is not None and due < 4000.0:
        t = max(t, due)
        sent += len(split(core.handle_timer(t))[1])
    assert sent == 50 and scans == 0
    assert len(split(core.handle_timer(1000.0 + 3600))[1]) == 50 and scans == 1  # then all expire at once


def _phones_with_a_change(count: int) -> tuple[MemoryDeviceStore, list[str]]:
    store = MemoryDeviceStore()
    macs = [f"0004f2{n:06x}" for n in range(count)]
    for mac in macs:
        store.put(Device(mac, kind="sip", vars=dict(VARS)))
    return store, macs


def _change(store: MemoryDeviceStore, mac: str, codec: str = "G722") -> None:
    device = store.get(mac)
    assert device is not None
    device.vars["codecs"] = [codec]
    store.put(device)


def test_pushes_wait_for_answers_when_the_window_is_full() -> None:
    # A token bucket alone let a fast push rate put thousands of NOTIFYs on the wire at once,
    # and their retransmissions buried the answers: pushes are paced by answers too.
    store, macs = _phones_with_a_change(10)
    core, _ = make(store, push_rate=10_000.0, push_burst=20_000.0, push_window=3)
    for n, mac in enumerate(macs):
        core.on_request(subscribe(user=f"MAC{mac}", cseq=n + 1).with_header("Call-ID", f"c{n}"), PHONE, 1000.0)
    for mac in macs:
        _change(store, mac)
        core.notify_change(mac)
    first = split(core.handle_timer(1000.0))[1]
    assert len(first) == 3 and core.pushes_in_flight == 3
    due = core.next_deadline()
    assert due is None or due > 2000.0  # no busy timer while the window is full: only the expiries
    assert split(core.handle_timer(1000.5))[1] == []
    core.on_result(first[0].request, make_response(first[0].request, 200), 1000.6)
    assert core.pushes_in_flight == 2 and core.next_deadline() == pytest.approx(1000.0, abs=1.0)
    assert len(split(core.handle_timer(1000.7))[1]) == 1
    assert core.counters["push-delivered"] == 1


def test_a_push_without_an_answer_is_retried_then_the_phone_is_recorded_unreachable() -> None:
    store = store_with()
    core, steps = make(store, push_retries=2, push_retry_delay=30.0)
    core.on_request(subscribe(), PHONE, 1000.0)
    _change(store, MAC)
    core.notify_change(MAC)
    (push,) = split(core.handle_timer(1001.0))[1]
    core.on_result(push.request, None, 1033.0)  # timer F: the subscription ends (RFC 6665 §4.2.2) ...
    state = core.phones[MAC]
    assert state.subscription is None
    assert state.notified_version is None and steps[-1][1] == "PushRetry"  # ... and the phone is stale
    assert core.next_deadline() == pytest.approx(1063.0)
    assert split(core.handle_timer(1062.0))[1] == []
    (retry,) = split(core.handle_timer(1063.0))[1]
    assert retry.request.need("Event", g.Event).package == "check-sync"  # its dialog is gone
    assert retry.peer == PHONE
    core.on_result(retry.request, None, 1095.0)
    assert core.next_deadline() == pytest.approx(1155.0)  # the delay doubles
    (last,) = split(core.handle_timer(1155.0))[1]
    core.on_result(last.request, make_response(last.request, 481), 1155.1)
    assert state.unreachable and steps[-1][1] == "Unreachable"
    assert core.counters["push-retried"] == 2 and core.counters["push-unreachable"] == 1
    assert core.pushes_in_flight == 0 and core.next_deadline() is None
    # It subscribes again: back, and told of the current version at once.
    _, sends = split(core.on_request(subscribe().with_header("Call-ID", "c2@10.0.0.7"), PHONE, 2000.0))
    assert len(sends) == 1 and not state.unreachable
    assert state.notified_version == store_version(core, MAC)


def test_a_retried_push_that_gets_through_is_delivered() -> None:
    store = store_with()
    core, _ = make(store, push_retry_delay=5.0)
    core.on_request(subscribe(), PHONE, 1000.0)
    _change(store, MAC)
    core.notify_change(MAC)
    (push,) = split(core.handle_timer(1001.0))[1]
    core.on_result(push.request, make_response(push.request, 500), 1001.1)
    (retry,) = split(core.handle_timer(1006.1))[1]
    core.on_result(retry.request, make_response(retry.request, 200), 1006.2)
    state = core.phones[MAC]
    assert core.counters["push-delivered"] == 1 and state.push_failures == 0 and not state.unreachable
    assert state.notified_version == store_version(core, MAC)


def store_version(core: ProvisioningCore, mac: str) -> str | None:
    return core.book.version(mac)


def test_with_fetch_grace_a_push_holds_its_slot_until_the_phone_fetches() -> None:
    # The NOTIFYs' answers come back fast; the GETs they invite are what a loaded server serves
    # slowly. A push is done when the phone fetched, so GETs never pile up beyond the window.
    store, macs = _phones_with_a_change(4)
    core, steps = make(store, push_rate=10_000.0, push_burst=20_000.0, push_window=2, fetch_grace=10.0)
    for n, mac in enumerate(macs):
        core.on_request(subscribe(user=f"MAC{mac}", cseq=n + 1).with_header("Call-ID", f"c{n}"), PHONE, 1000.0)
        core.fetched(mac, 1000.0)  # the enrollment GETs
    for mac in macs:
        _change(store, mac)
        core.notify_change(mac)
    first = split(core.handle_timer(1001.0))[1]
    assert len(first) == 2
    for send in first:
        core.on_result(send.request, make_response(send.request, 200), 1001.1)
    assert core.pushes_in_flight == 2 and split(core.handle_timer(1001.2))[1] == []  # answered, not fetched
    core.fetched(macs[0], 1002.0)
    assert core.pushes_in_flight == 1
    (third,) = split(core.handle_timer(1002.0))[1]
    core.fetched(macs[2], 1002.1)  # a GET that overtakes its NOTIFY's answer ...
    core.on_result(third.request, make_response(third.request, 200), 1002.2)
    assert core.pushes_in_flight == 1  # ... completes the push at the answer
    (fourth,) = split(core.handle_timer(1002.3))[1]
    assert fourth.request.to.tag == "ph1" and core.pushes_in_flight == 2
    assert core.next_deadline() == pytest.approx(1011.1)  # the unfetched one's grace
    core.handle_timer(1011.1)
    assert core.pushes_in_flight == 1  # its slot is free again
    assert core.counters["push-unfetched"] == 1 and core.counters["push-fetched"] == 1
    assert any(step[1] == "NotFetched" and step[0] == macs[1] for step in steps)
