"""The ua-profile provisioning server's logic (RFC 6080 notifier), sans-IO.

A phone SUBSCRIBEs with ``Event: ua-profile;profile-type=device``. It is named by
its MAC in the Request-URI, From or To user part (``MAC%3a0004f2000001``,
``MAC0004f2000001`` or the bare hex, as phones send it) and must be a known
device of kind ``sip``. It proves itself by Digest (RFC 7616 MD5) when it has a
``sip_password`` variable; otherwise, if MAC identification is allowed, by its
MAC and, when the store knows its address, by sending from that address.

After the 200 the phone gets a NOTIFY naming its profile URL: as
``message/external-body;access-type="URL"`` (RFC 6080 §5.1 with RFC 4483), or
as an ``application/url`` body when its Accept lists only that. Refreshes get a
fresh NOTIFY, expired subscriptions a final one (:mod:`.notifier`).

``notify_change(mac)`` queues a push: when the phone's profile version differs
from the one it was last told of, a subscribed phone gets a NOTIFY in its
dialog, and a known phone without a subscription a ``check-sync`` NOTIFY (the
de-facto event phones take as "re-read your configuration") at its last known
address. Pushes leave through a token bucket (``push_rate`` per second), so a
template edit that touches 100,000 phones is spread out, not a flood; a phone
queued twice is pushed once. They are also paced by their outcome: at most
``push_window`` pushes are in flight, so a rate above what the network, the
phones and the HTTP server absorb makes the pushes wait their turn instead of
timing out in retransmissions or in GETs. A push is in flight from its NOTIFY
until its final response and, with ``fetch_grace``, until the phone's GET of
the profile (:meth:`fetched`) or that many seconds after the answer.

A push NOTIFY that fails (no answer within timer F, or an error response)
leaves the phone stale and is tried again (``push_retries`` times,
``push_retry_delay`` doubling, as ``check-sync`` when the failure ended its
subscription); after the last try the phone is recorded ``Unreachable``. Every
push thus ends with the phone told of the version or counted unreachable,
never silently dropped.

Inputs are a request, its source and the time; outputs are :data:`Action`\\ s
for the transport glue (:mod:`.service`).
"""

from __future__ import annotations

import heapq
import re
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from pktcable.phones.book import PhoneBook
from pktcable.phones.profiles import ProfileError
from pktcable.sip import grammar as g
from pktcable.sip import uaprofile
from pktcable.sip.dialog import DialogId, Local, new_branch, peer_address
from pktcable.sip.digest import DigestAuth, Verdict
from pktcable.sip.errors import SipValueError
from pktcable.sip.message import Header, Request, Response, make_response
from pktcable.sip.notifier import Decision, Notifier, Outcome, Policy, Subscription
from pktcable.sip.transaction import Address

_MAC_USER = re.compile(r"(?:mac:?)?([0-9a-f]{12}|[0-9a-f]{2}(?:[:\-][0-9a-f]{2}){5})")
EXTERNAL = "message/external-body"
URL_TYPE = g.MediaType("application", "url")
CHECK_SYNC = g.Event("check-sync")
ALLOW: tuple[Header, ...] = (("Allow", "SUBSCRIBE"),)


@dataclass(frozen=True)
class Respond:
    request: Request
    response: Response


@dataclass(frozen=True)
class SendTo:
    request: Request
    peer: Address


Action = Respond | SendTo
#: (mac, event, detail): what a phone did, for the store's history.
OnStep = Callable[[str, str, str], None]
#: (mac, the Event's ua-profile parameters): what a phone says it is and runs.
OnReport = Callable[[str, uaprofile.UaProfile], None]


@dataclass
class PhoneState:
    """What the server knows of one phone's provisioning."""

    mac: str
    subscription: DialogId | None = None
    expires_at: float | None = None
    #: The profile version the phone was last sent a NOTIFY for.
    notified_version: str | None = None
    #: Where a NOTIFY outside a subscription goes (its last Contact, or its address).
    target: g.SipUri | None = None
    peer: Address | None = None
    last_result: int | None = None
    #: Failed tries of the current push (reset by a delivered NOTIFY or a new change).
    push_failures: int = 0
    #: No push reached it after every retry (until it subscribes again or a push gets through).
    unreachable: bool = False
    #: The profile version last served to it over HTTP.
    fetched_version: str | None = None


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float = 0.0
    last: float | None = None

    def refill(self, now: float) -> None:
        self.tokens = self.burst if self.last is None else min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now


def mac_of(uri: g.Uri) -> str | None:
    if not isinstance(uri, g.SipUri) or not uri.user:
        return None
    m = _MAC_USER.fullmatch(urllib.parse.unquote(uri.user).lower())
    return None if m is None else re.sub(r"[:\-]", "", m.group(1))


@dataclass
class ProvisioningCore:
    local: Local
    book: PhoneBook
    #: mac -> the absolute URL of its profile.
    url_for: Callable[[str], str]
    new_id: Callable[[], str]
    auth: DigestAuth
    reliable: bool = False
    allow_mac_auth: bool = True
    policy: Policy = field(default_factory=Policy)
    push_rate: float = 50.0
    push_burst: float = 100.0
    #: Pushes in flight at most (NOTIFY sent, no final response yet, or answered and the
    #: phone's GET awaited).
    push_window: int = 100
    #: Seconds an answered push stays in flight awaiting the phone's GET (0: not awaited).
    fetch_grace: float = 0.0
    #: Tries after a push NOTIFY's failure before the phone is recorded unreachable.
    push_retries: int = 2
    #: Seconds before the first retry (doubling for the next).
    push_retry_delay: float = 30.0
    on_step: OnStep = lambda mac, event, detail: None
    #: An authenticated phone's ua-profile parameters (its vendor, model, version) on every SUBSCRIBE.
    on_report: OnReport = lambda mac, ua: None

    def __post_init__(self) -> None:
        self.notifier = Notifier(self.local, new_id=self.new_id, policy=self.policy)
        self.phones: dict[str, PhoneState] = {}
        self._by_dialog: dict[DialogId, str] = {}
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._bucket = _Bucket(self.push_rate, self.push_burst)
        #: Top Via branch -> mac of every push NOTIFY sent and not yet answered.
        self._in_flight: dict[str, str] = {}
        #: mac -> until when a delivered push awaits the phone's GET (at most push_window entries).
        self._fetching: dict[str, float] = {}
        #: (when, mac) of pushes to try again (a later entry for a phone pushed meanwhile is a no-op).
        self._retries: list[tuple[float, str]] = []
        #: (expiry, dialog) of every subscription granted, stale entries left in: the notifier
        #: scans its whole table to expire, so it is asked only when one is really due (a
        #: scan per push would make a push to each of N phones cost N²).
        self._expiries: list[tuple[float, DialogId]] = []
        self.counters: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    # --- requests ------------------------------------------------------------------------------

    def on_request(self, request: Request, peer: Address, now: float) -> list[Action]:
        if request.method != "SUBSCRIBE":
            return [Respond(request, make_response(request, 405, extra=ALLOW))]
        event = request.typed("Event", g.Event)
        if event is None or event.package != uaprofile.PACKAGE:
            return self._decided(request, self.notifier.on_subscribe(request, now), None, peer, now)
        try:
            ua = uaprofile.from_event(event)
        except SipValueError as exc:
            return [Respond(request, make_response(request, 400, reason=str(exc)[:80]))]
        if ua.profile_type != "device":
            return [Respond(request, make_response(request, 404, reason="Only device profiles here"))]
        mac = next((m for m in map(mac_of, (request.uri, request.from_.uri, request.to.uri)) if m), None)
        device = self.book.phone(mac) if mac else None
        if mac is None or device is None:
            self._count("unknown-phone")
            return [Respond(request, make_response(request, 404, reason="Unknown phone"))]
        refused = self._authenticate(request, peer, mac, device.vars, device.ip, now)
        if refused is not None:
            return [refused]
        self.on_report(mac, ua)  # what it runs, before its profile (which may name its firmware) is built
        try:
            self.book.current(mac)  # built and validated before any NOTIFY names it
        except (ProfileError, KeyError) as exc:
            self.on_step(mac, "ProfileFailed", str(exc))
            return [Respond(request, make_response(request, 500, reason="Profile not available"))]
        return self._decided(request, self.notifier.on_subscribe(request, now), mac, peer, now)

    def _authenticate(self, request: Request, peer: Address, mac: str, variables: dict[str, object],
                      ip: str, now: float) -> Respond | None:
        password = variables.get("sip_password")
        if isinstance(password, str) and password:
            user = variables.get("sip_user", mac)
            authorization = request.get("Authorization")
            verdict = self.auth.check(authorization if isinstance(authorization, str) else None, "SUBSCRIBE",
                                      str(user), password, now)
            if verdict is Verdict.OK:
                return None
            if verdict is Verdict.WRONG:
                self._count("auth-failed")
                self.on_step(mac, "AuthFailed", f"from {peer[0]}")
                return Respond(request, make_response(request, 403, reason="Bad credentials"))
            challenge = ("WWW-Authenticate", self.auth.challenge(now, stale=verdict is Verdict.STALE))
            return Respond(request, make_response(request, 401, extra=(challenge,)))
        if not self.allow_mac_auth:
            return Respond(request, make_response(request, 403, reason="Credentials required"))
        if ip and ip != peer[0]:
            self._count("wrong-address")
            self.on_step(mac, "AuthFailed", f"from {peer[0]}, known at {ip}")
            return Respond(request, make_response(request, 403, reason="Not from the phone's address"))
        return None

    def _decided(self, request: Request, decision: Decision, mac: str | None, peer: Address,
                 now: float) -> list[Action]:
        actions: list[Action] = [Respond(request, decision.response)]
        sub = decision.subscription
        if sub is None or mac is None:
            return actions
        original = sub.request
        state = self.phones.setdefault(mac, PhoneState(mac))
        state.peer = peer
        contacts = original.get_all("Contact")
        if contacts and isinstance(contacts[0], g.NameAddr) and isinstance(contacts[0].uri, g.SipUri):
            state.target = contacts[0].uri
        if decision.outcome is Outcome.UNSUBSCRIBED:
            self.on_step(mac, "Unsubscribed", "")
        else:
            old = state.subscription
            if old is not None and old != sub.dialog.id and old in self.notifier.subscriptions:
                # A phone that re-subscribes afresh (a reboot) leaves its old dialog behind.
                actions += self._send_notify(self.notifier.subscriptions[old], mac, now, terminate="deactivated")
            state.subscription, state.expires_at = sub.dialog.id, sub.expires_at
            state.unreachable = False  # it is back; its fresh NOTIFY carries the current version
            heapq.heappush(self._expiries, (sub.expires_at, sub.dialog.id))
            self._by_dialog[sub.dialog.id] = mac
            self.on_step(mac, "Subscribed" if decision.outcome is Outcome.CREATED else "Refreshed",
                         f"from {peer[0]}, expires in {int(sub.expires_at - now)} s")
        actions += self._send_notify(sub, mac, now)
        return actions

    # --- NOTIFY ---------------------------------------------------------------------------------

    def _body(self, sub_request: Request | None, url: str, mac: str, version: str) -> tuple[bytes, g.MediaType]:
        accept = [a for a in (sub_request.get_all("Accept") if sub_request else []) if isinstance(a, g.MediaType)]
        mimes = {a.mime for a in accept}
        if URL_TYPE.mime in mimes and EXTERNAL not in mimes:
            return url.encode(), URL_TYPE
        # RFC 4483 §4: the body is the external part's MIME header; Content-ID names this version.
        body = f"Content-Type: application/xml\r\nContent-ID: <{version[:16]}.{mac}@{self.local.host}>\r\n\r\n"
        ctype = g.MediaType("message", "external-body", (("access-type", '"URL"'), ("URL", g.quote(url))))
        return body.encode(), ctype

    def _send_notify(self, sub: Subscription, mac: str, now: float, terminate: str | None = None) -> list[Action]:
        version = self.book.version(mac) or ""
        body, ctype = self._body(sub.request, self.url_for(mac), mac, version)
        if terminate is not None:
            notify = self.notifier.notify(sub, now, terminate_reason=terminate)
        else:
            notify = self.notifier.notify(sub, now, body, ctype)
            self.phones[mac].notified_version = version
        if sub.dialog.id not in self.notifier.subscriptions:
            self._drop(sub.dialog.id, mac)
        return [SendTo(notify, self._peer(mac, notify))]

    def _peer(self, mac: str, request: Request) -> Address:
        """Where a NOTIFY to ``mac`` goes: over a stream the phone's own connection; over
        UDP the address its last SUBSCRIBE came from (as RFC 3581 answers a request to its
        source), not its Contact: that reaches a phone behind NAT, and a sender that names
        someone else in its Contact cannot aim our NOTIFYs at a third party."""
        state = self.phones.get(mac)
        if state is not None and state.peer is not None:
            return state.peer
        return peer_address(request)

    def _drop(self, dialog: DialogId, mac: str) -> None:
        self._by_dialog.pop(dialog, None)
        state = self.phones.get(mac)
        if state is not None and state.subscription == dialog:
            state.subscription, state.expires_at = None, None

    def on_result(self, request: Request, response: Response | None, now: float) -> list[Action]:
        """The answer to a NOTIFY we sent (None: it timed out)."""
        status = 408 if response is None else response.status
        if status < 200:
            return []
        key = (request.call_id, request.from_.tag or "", request.to.tag or "")
        pushed = self._in_flight.pop(request.top_via.branch or "", None)
        mac = self._by_dialog.get(key) or pushed or mac_of(request.uri)
        if mac is None:
            return []
        state = self.phones.get(mac)
        if state is not None:
            state.last_result = status
        self._count("notify-2xx" if status < 300 else "notify-timeout" if response is None
                    else f"notify-{status}" if status in (408, 481) else "notify-failed")
        sub = self.notifier.subscriptions.get(key)
        if sub is not None and self.notifier.on_notify_result(sub, response):
            self._drop(key, mac)
            self.on_step(mac, "SubscriptionEnded", f"NOTIFY answered {status}")
        elif status >= 300:
            self.on_step(mac, "NotifyFailed", f"{request.typed('Event', g.Event)}: {status}")
        else:
            self.on_step(mac, "Notified", str(request.typed("Event", g.Event)))
        if pushed is not None and state is not None:
            self._pushed(state, status, now)
        return []

    def _pushed(self, state: PhoneState, status: int, now: float) -> None:
        """A push's outcome: delivered, or tried again later, or the phone unreachable."""
        if status < 300:
            self._count("push-delivered")
            state.push_failures, state.unreachable = 0, False
            if self.fetch_grace > 0 and state.fetched_version != state.notified_version:
                self._fetching[state.mac] = now + self.fetch_grace
            return
        # The phone may not have the version: a later push (or its next SUBSCRIBE) must send it.
        state.notified_version = None
        state.push_failures += 1
        if state.push_failures <= self.push_retries:
            self._count("push-retried")
            delay = self.push_retry_delay * 2 ** (state.push_failures - 1)
            heapq.heappush(self._retries, (now + delay, state.mac))
            self.on_step(state.mac, "PushRetry", f"answered {status}; try {state.push_failures + 1} in {delay:g} s")
        else:
            self._count("push-unreachable")
            state.unreachable = True
            self.on_step(state.mac, "Unreachable", f"no push reached it in {state.push_failures} tries")

    def send_failed(self, request: Request, now: float) -> list[Action]:
        """A request the transport glue could not send at all: as if it went unanswered."""
        return self.on_result(request, None, now)

    def fetched(self, mac: str, now: float) -> None:
        """The phone's profile was served to it (its GET after a NOTIFY, or any other)."""
        state = self.phones.get(mac)
        if state is None:
            return
        state.fetched_version = self.book.version(mac)
        if self._fetching.pop(mac, None) is not None:
            self._count("push-fetched")

    @property
    def pushes_in_flight(self) -> int:
        return len(self._in_flight) + len(self._fetching)

    # --- pushes -------------------------------------------------------------------------------

    def notify_change(self, mac: str) -> None:
        """Queue a push to ``mac`` (sent by :meth:`handle_timer` within the rate limit)."""
        self._pending[mac] = None
        self._count("push-queued")
        state = self.phones.get(mac)
        if state is not None:
            state.push_failures = 0  # a new change: its own tries

    def _push(self, mac: str, now: float) -> list[Action]:
        try:
            current = self.book.current(mac)
        except KeyError:
            return []
        except ProfileError as exc:
            self.on_step(mac, "ProfileFailed", str(exc))
            return []
        state = self.phones.setdefault(mac, PhoneState(mac))
        if state.notified_version == current.profile.version:
            return []  # the phone already has this one
        sub = self.notifier.subscriptions.get(state.subscription) if state.subscription else None
        if sub is not None:
            self._count("push-notify")
            return self._track(self._send_notify(sub, mac, now), mac)
        device = self.book.phone(mac)
        target = state.target or (g.SipUri(device.ip, mac) if device is not None and device.ip else None)
        if target is None:
            self._count("push-no-target")
            self.on_step(mac, "NotNotified", "neither subscribed nor at a known address")
            return []
        self._count("push-check-sync")
        state.notified_version = current.profile.version
        notify = self._check_sync(target)
        return self._track([SendTo(notify, self._peer(mac, notify))], mac)

    def _track(self, actions: list[Action], mac: str) -> list[Action]:
        """Count the push NOTIFYs among ``actions`` in flight until their final response."""
        for action in actions:
            if isinstance(action, SendTo):
                self._in_flight[action.request.top_via.branch or ""] = mac
        return actions

    def _check_sync(self, target: g.SipUri) -> Request:
        """An unsolicited NOTIFY outside any dialog: RFC 6665 wants a Subscription-State on
        every NOTIFY, and there is no subscription, hence ``terminated``."""
        headers: tuple[Header, ...] = (
            ("Via", self.local.via(new_branch(self.new_id))), ("Max-Forwards", 70),
            ("From", g.NameAddr(self.local.contact_uri(), params=(("tag", self.new_id()),))),
            ("To", g.NameAddr(target)), ("Call-ID", self.new_id()), ("CSeq", g.CSeq(1, "NOTIFY")),
            ("Contact", g.NameAddr(self.local.contact_uri())), ("Event", CHECK_SYNC),
            ("Subscription-State", g.SubscriptionState("terminated", (("reason", "noresource"),))),
        )
        return Request(method="NOTIFY", uri=target, headers=headers, body=b"")

    # --- time ---------------------------------------------------------------------------------

    def _expiry_due(self) -> float | None:
        """When the next subscription expires (stale heap entries, of ended or refreshed ones, dropped)."""
        heap, subs = self._expiries, self.notifier.subscriptions
        while heap:
            at, dialog = heap[0]
            sub = subs.get(dialog)
            if sub is not None and sub.expires_at == at:
                return at
            heapq.heappop(heap)
        return None

    def next_deadline(self) -> float | None:
        due = self._expiry_due()
        if self._retries:
            due = self._retries[0][0] if due is None else min(due, self._retries[0][0])
        if self._fetching:  # at most push_window entries
            grace = min(self._fetching.values())
            due = grace if due is None else min(due, grace)
        # A full window waits for an answer (on_result) or a GET (fetched), not for a time.
        if self._pending and self.pushes_in_flight < self.push_window:
            b = self._bucket
            # A full bucket (never used) pushes at once; else when the next token is in.
            at = 0.0 if b.last is None else b.last + max(0.0, 1 - b.tokens) / b.rate
            due = at if due is None else min(due, at)
        return due

    def handle_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        expiry = self._expiry_due()
        for notify in self.notifier.handle_timer(now) if expiry is not None and expiry <= now else ():
            key = (notify.call_id, notify.from_.tag or "", notify.to.tag or "")
            mac = self._by_dialog.get(key)
            if mac is not None:
                self._drop(key, mac)
                self.on_step(mac, "Expired", "")
                actions.append(SendTo(notify, self._peer(mac, notify)))
        while self._retries and self._retries[0][0] <= now:
            self._pending[heapq.heappop(self._retries)[1]] = None
        for mac in [m for m, until in self._fetching.items() if until <= now]:
            # It answered but did not fetch in time: counted, and its slot goes to the next push.
            del self._fetching[mac]
            self._count("push-unfetched")
            self.on_step(mac, "NotFetched", f"no GET within {self.fetch_grace:g} s of the NOTIFY's answer")
        if self._pending and self.pushes_in_flight < self.push_window:
            self._bucket.refill(now)
            # The tolerance: a token that is 1 - 1e-12 after float arithmetic is a token (the timer
            # fires when the next one is due, and must find it there).
            while self._pending and self._bucket.tokens >= 1 - 1e-6 and self.pushes_in_flight < self.push_window:
                mac, _ = self._pending.popitem(last=False)
                self._bucket.tokens -= 1
                actions += self._push(mac, now)
        return actions
