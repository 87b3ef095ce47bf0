"""The notifier side of RFC 6665 subscriptions (what a provisioning server is for
ua-profile), sans-IO.

``on_subscribe(request, now)`` decides: a new subscription (dialog created by our
200, with our To tag), a refresh (in-dialog SUBSCRIBE), an unsubscribe
(``Expires: 0``) or a refusal (489 unknown package, 423 interval too brief, 481
unknown dialog, 500 out-of-order CSeq). After any 200 the caller asks
``notify(...)`` for the NOTIFY that RFC 6665 §4.2.1.2 requires at once, with
the body it chooses. ``handle_timer(now)`` ends expired subscriptions with a
final NOTIFY ``Subscription-State: terminated;reason=timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum

from pktcable.sip import grammar as g
from pktcable.sip.dialog import Dialog, DialogId, Local, new_branch
from pktcable.sip.errors import SipStateError
from pktcable.sip.message import Header, Request, Response, make_response


@dataclass(frozen=True)
class Policy:
    """Expires negotiation (RFC 6665 §4.2.1.1): below ``min_expires`` is refused with
    423 + Min-Expires, above ``max_expires`` is lowered, none means ``default_expires``."""

    packages: tuple[str, ...] = ("ua-profile",)
    min_expires: int = 60
    max_expires: int = 86_400
    default_expires: int = 3_600
    max_subscriptions: int = 100_000


class Outcome(Enum):
    CREATED = "created"
    REFRESHED = "refreshed"
    UNSUBSCRIBED = "unsubscribed"
    REFUSED = "refused"


@dataclass
class Subscription:
    dialog: Dialog
    event: g.Event
    expires_at: float
    #: The SUBSCRIBE that created or last refreshed it, without its body (the caller reads
    #: Accept, the Request-URI ...; a body would only cost memory across many subscriptions).
    request: Request
    terminating: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    response: Response
    subscription: Subscription | None = None


class Notifier:
    def __init__(self, local: Local, *, new_id: Callable[[], str], policy: Policy = Policy()) -> None:
        self.local, self.new_id, self.policy = local, new_id, policy
        self.subscriptions: dict[DialogId, Subscription] = {}

    # --- SUBSCRIBE ---------------------------------------------------------------------------

    def on_subscribe(self, request: Request, now: float) -> Decision:
        if request.method != "SUBSCRIBE":
            raise SipStateError(f"on_subscribe got a {request.method}")
        required = [r for r in request.get_all("Require") if isinstance(r, str)]
        if required:
            # §8.2.2.3: no option tags are supported here, so any Require is refused.
            return self._refuse(request, 420, (("Unsupported", r) for r in required))
        event = request.typed("Event", g.Event)
        if event is None or event.package not in self.policy.packages:
            return self._refuse(request, 489, (("Allow-Events", p) for p in self.policy.packages))
        requested = request.typed("Expires", int)
        if requested is None:
            requested = self.policy.default_expires
        if 0 < requested < self.policy.min_expires:
            return self._refuse(request, 423, [("Min-Expires", self.policy.min_expires)])
        granted = min(requested, self.policy.max_expires)
        to_tag = request.to.tag
        if to_tag is not None:
            return self._in_dialog(request, event, granted, now)
        if len(self.subscriptions) >= self.policy.max_subscriptions:
            return self._refuse(request, 503)
        from_tag = request.from_.tag
        if from_tag is None:
            return self._refuse(request, 400, reason="From tag missing")
        contacts = request.get_all("Contact")
        if len(contacts) != 1 or not isinstance(contacts[0], g.NameAddr):
            return self._refuse(request, 400, reason="SUBSCRIBE needs exactly one Contact")
        tag = self.new_id()
        dialog = Dialog(
            call_id=request.call_id, local_tag=tag, remote_tag=from_tag,
            local_uri=request.to.with_tag(tag), remote_uri=request.from_, remote_target=contacts[0].uri,
            route_set=tuple(r for r in request.get_all("Record-Route") if isinstance(r, g.NameAddr)),
            remote_seq=request.cseq.seq)
        # Expires: 0 on a new dialog is a fetch (RFC 6665 §4.4.3): it ends with its first NOTIFY.
        sub = Subscription(dialog, event, now + granted, replace(request, body=b""), terminating=granted == 0)
        self.subscriptions[dialog.id] = sub
        return Decision(Outcome.UNSUBSCRIBED if granted == 0 else Outcome.CREATED,
                        self._ok(request, granted, tag), sub)

    def _in_dialog(self, request: Request, event: g.Event, granted: int, now: float) -> Decision:
        key = (request.call_id, request.to.tag or "", request.from_.tag or "")
        sub = self.subscriptions.get(key)
        if sub is None or sub.terminating:
            return self._refuse(request, 481)
        if event.package != sub.event.package or event.id != sub.event.id:
            return self._refuse(request, 489)
        if not sub.dialog.accepts_remote_seq(request.cseq.seq):
            return self._refuse(request, 500, reason="CSeq out of order")
        sub.request = replace(request, body=b"")
        sub.expires_at = now + granted
        contacts = request.get_all("Contact")
        if contacts and isinstance(contacts[0], g.NameAddr):
            sub.dialog.remote_target = contacts[0].uri  # a target refresh (§12.2)
        sub.terminating = granted == 0
        return Decision(Outcome.UNSUBSCRIBED if granted == 0 else Outcome.REFRESHED,
                        self._ok(request, granted, None), sub)

    def _ok(self, request: Request, granted: int, tag: str | None) -> Response:
        extra: tuple[Header, ...] = (("Expires", granted), ("Contact", g.NameAddr(self.local.contact_uri())))
        return make_response(request, 200, to_tag=tag, extra=extra)

    def _refuse(self, request: Request, status: int, extra: Iterable[Header] = (),
                reason: str | None = None) -> Decision:
        return Decision(Outcome.REFUSED, make_response(request, status, extra=tuple(extra), reason=reason))

    # --- NOTIFY ------------------------------------------------------------------------------

    def notify(self, sub: Subscription, now: float, body: bytes = b"",
               content_type: g.MediaType | None = None, *, terminate_reason: str | None = None) -> Request:
        """The NOTIFY carrying the current state (and ``body``). A terminating
        subscription (unsubscribed, expired, or ``terminate_reason`` given) gets
        ``Subscription-State: terminated`` and leaves the table."""
        if sub.dialog.id not in self.subscriptions:
            raise SipStateError("the subscription is already terminated")
        remaining = max(0, int(sub.expires_at - now))
        if terminate_reason is not None or sub.terminating or remaining == 0:
            reason = terminate_reason or "timeout"
            state = g.SubscriptionState("terminated", (("reason", reason),))
            del self.subscriptions[sub.dialog.id]
        else:
            state = g.SubscriptionState("active", (("expires", str(remaining)),))
        headers: list[Header] = [("Event", sub.event), ("Subscription-State", state)]
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        return sub.dialog.request("NOTIFY", self.local, new_branch(self.new_id), tuple(headers), body)

    def on_notify_result(self, sub: Subscription, response: Response | None) -> bool:
        """RFC 6665 §4.2.2: a NOTIFY answered 481, or with no answer at all (None:
        timer F), ends the subscription without another NOTIFY. True if it ended."""
        if response is None or response.status in (408, 481):
            self.subscriptions.pop(sub.dialog.id, None)
            return True
        return False

    def next_deadline(self) -> float | None:
        return min((s.expires_at for s in self.subscriptions.values()), default=None)

    def handle_timer(self, now: float) -> list[Request]:
        """Final NOTIFYs of the subscriptions that expired unrefreshed (§4.2.2)."""
        expired = [s for s in self.subscriptions.values() if s.expires_at <= now]
        return [self.notify(s, now, terminate_reason="timeout") for s in expired]
