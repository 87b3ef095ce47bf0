"""The subscriber side of an RFC 6665 subscription (the simulated phone), sans-IO.

``subscribe(now)`` gives the initial SUBSCRIBE; the responses to it and every
NOTIFY go in through ``on_response`` / ``on_notify``; ``handle_timer(now)``
sends the refresh before the granted duration runs out. A NOTIFY belongs to
this subscription when its Call-ID and To tag are ours and its Event matches
(§4.1.3); it may arrive before the 200, and then creates the dialog itself.
Every method returns events: :class:`SendRequest` / :class:`SendResponse` to
put on the wire, and what happened (:class:`Active`, :class:`Notified`,
:class:`Terminated`, :class:`Failed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from pktcable.sip import grammar as g
from pktcable.sip.dialog import MAX_FORWARDS, Dialog, Local, new_branch
from pktcable.sip.errors import SipStateError
from pktcable.sip.message import Header, Request, Response, make_response


class SubState(Enum):
    IDLE = "idle"
    SUBSCRIBING = "subscribing"
    ACTIVE = "active"
    PENDING = "pending"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class SendRequest:
    request: Request


@dataclass(frozen=True)
class SendResponse:
    response: Response


@dataclass(frozen=True)
class Active:
    expires: int


@dataclass(frozen=True)
class Notified:
    state: g.SubscriptionState
    body: bytes
    content_type: g.MediaType | None


@dataclass(frozen=True)
class Terminated:
    reason: str | None
    retry_after: int | None


@dataclass(frozen=True)
class Failed:
    status: int
    reason: str


SubEvent = SendRequest | SendResponse | Active | Notified | Terminated | Failed


class Subscriber:
    def __init__(self, local: Local, *, aor: g.NameAddr, target: g.Uri, event: g.Event,
                 accept: tuple[g.MediaType, ...] = (), expires: int = 3600,
                 new_id: Callable[[], str], refresh_margin: float = 60.0) -> None:
        self.local, self.event, self.accept, self.expires = local, event, accept, expires
        self.new_id, self.refresh_margin = new_id, refresh_margin
        self.state = SubState.IDLE
        self.call_id = new_id()
        self.local_uri = aor.with_tag(new_id())
        self.target = target
        self.to = g.NameAddr(target)
        self.dialog: Dialog | None = None
        self.local_seq = 0
        self.refresh_at: float | None = None
        self.expires_at: float | None = None
        self.pending: Request | None = None
        self.unsubscribe_pending = False

    # --- requests we send --------------------------------------------------------------------

    def _headers(self, expires: int) -> tuple[Header, ...]:
        out: list[Header] = [("Event", self.event), ("Expires", expires)]
        out += [("Accept", a) for a in self.accept]
        return tuple(out)

    def subscribe(self, now: float) -> list[SubEvent]:
        if self.state is not SubState.IDLE:
            raise SipStateError(f"already {self.state.value}")
        self.state = SubState.SUBSCRIBING
        return [SendRequest(self._initial(self.expires))]

    def _initial(self, expires: int) -> Request:
        self.local_seq += 1
        headers: tuple[Header, ...] = (
            ("Via", self.local.via(new_branch(self.new_id))),
            ("Max-Forwards", MAX_FORWARDS),
            ("From", self.local_uri), ("To", self.to), ("Call-ID", self.call_id),
            ("CSeq", g.CSeq(self.local_seq, "SUBSCRIBE")),
            ("Contact", g.NameAddr(self.local.contact_uri())),
        ) + self._headers(expires)
        self.pending = Request(method="SUBSCRIBE", uri=self.target, headers=headers)
        return self.pending

    def _refresh(self, expires: int) -> Request:
        if self.dialog is None:
            return self._initial(expires)
        self.dialog.local_seq = max(self.dialog.local_seq, self.local_seq)
        self.pending = self.dialog.request("SUBSCRIBE", self.local, new_branch(self.new_id),
                                           self._headers(expires))
        self.local_seq = self.dialog.local_seq
        return self.pending

    def unsubscribe(self, now: float) -> list[SubEvent]:
        if self.state in (SubState.IDLE, SubState.TERMINATED):
            raise SipStateError(f"nothing to unsubscribe ({self.state.value})")
        self.refresh_at = None
        if self.dialog is None:
            # No dialog to address yet (the 200 or first NOTIFY is still on its way):
            # unsubscribe as soon as it exists, rather than open a second dialog.
            self.unsubscribe_pending = True
            return []
        return [SendRequest(self._refresh(0))]

    def _after_dialog(self) -> list[SubEvent]:
        if self.unsubscribe_pending and self.pending is None:
            self.unsubscribe_pending = False
            self.refresh_at = None
            return [SendRequest(self._refresh(0))]
        return []

    # --- what comes in -----------------------------------------------------------------------

    def on_response(self, response: Response, now: float) -> list[SubEvent]:
        """A final response to our latest SUBSCRIBE (provisional ones change nothing)."""
        if self.pending is None or response.cseq.seq != self.pending.cseq.seq or response.status < 200:
            return []
        sent_expires = self.pending.need("Expires", int)
        self.pending = None
        if response.status == 423:
            floor = response.typed("Min-Expires", int)
            if floor is not None and floor > self.expires:
                self.expires = floor
                return [SendRequest(self._refresh(floor))]
        if response.status >= 300:
            if self.dialog is None or response.status == 481:
                self.state = SubState.TERMINATED
                self.refresh_at = self.expires_at = None
            return [Failed(response.status, response.reason)]
        if self.dialog is None:
            self.dialog = self._dialog_from(response.to.tag or "", response.get_all("Contact"),
                                            response.get_all("Record-Route"), response.call_id)
        granted = response.typed("Expires", int)
        granted = sent_expires if granted is None else min(granted, sent_expires)
        if sent_expires == 0:
            return []  # the terminating NOTIFY ends it
        self._schedule(now, granted)
        if self.state is SubState.SUBSCRIBING:
            self.state = SubState.PENDING
        return [Active(granted), *self._after_dialog()]

    def _dialog_from(self, remote_tag: str, contacts: list[object], record_route: list[object],
                     call_id: str) -> Dialog:
        contact = contacts[0] if contacts else None
        target = contact.uri if isinstance(contact, g.NameAddr) else self.target
        # §12.1.2: the UAC's route set is the Record-Route in reverse order.
        routes = tuple(r for r in reversed(record_route) if isinstance(r, g.NameAddr))
        return Dialog(call_id=call_id, local_tag=self.local_uri.tag or "", remote_tag=remote_tag,
                      local_uri=self.local_uri, remote_uri=self.to.with_tag(remote_tag),
                      remote_target=target, route_set=routes, local_seq=self.local_seq)

    def _schedule(self, now: float, expires: int) -> None:
        self.expires_at = now + expires
        self.refresh_at = now + max(expires / 2, expires - self.refresh_margin)

    def matches(self, request: Request) -> bool:
        """Is this NOTIFY ours (Call-ID, To tag = our From tag, Event package and id)?"""
        event = request.typed("Event", g.Event)
        return (request.method == "NOTIFY" and request.call_id == self.call_id
                and request.to.tag == self.local_uri.tag and event is not None
                and event.package == self.event.package and event.id == self.event.id)

    def on_notify(self, request: Request, now: float) -> list[SubEvent]:
        if not self.matches(request):
            return [SendResponse(make_response(request, 481))]
        state = request.typed("Subscription-State", g.SubscriptionState)
        if state is None:
            return [SendResponse(make_response(request, 400, reason="Subscription-State missing"))]
        if self.dialog is None:
            self.dialog = self._dialog_from(request.from_.tag or "", request.get_all("Contact"),
                                            list(reversed(request.get_all("Record-Route"))), request.call_id)
        elif not self.dialog.accepts_remote_seq(request.cseq.seq):
            return [SendResponse(make_response(request, 500, reason="CSeq out of order"))]
        if self.dialog.remote_seq is None:
            self.dialog.remote_seq = request.cseq.seq
        out: list[SubEvent] = [SendResponse(make_response(request, 200)),
                               Notified(state, request.body, request.typed("Content-Type", g.MediaType))]
        if state.state == "terminated":
            self.state = SubState.TERMINATED
            self.refresh_at = self.expires_at = None
            out.append(Terminated(state.reason, state.retry_after))
            return out
        self.state = SubState.ACTIVE if state.state == "active" else SubState.PENDING
        if state.expires is not None and (self.expires_at is None or now + state.expires < self.expires_at):
            self._schedule(now, state.expires)  # the notifier may shorten, never extend (§4.1.3)
        return out + self._after_dialog()

    def on_timeout(self, request: Request, now: float) -> list[SubEvent]:
        """Our SUBSCRIBE got no answer (timer F): a 408 (§8.1.3.1)."""
        if self.pending is None or request.cseq.seq != self.pending.cseq.seq:
            return []
        return self.on_response(make_response(request, 408, reason="Request Timeout"), now)

    def next_deadline(self) -> float | None:
        times = [t for t in (self.refresh_at, self.expires_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[SubEvent]:
        if self.expires_at is not None and now >= self.expires_at:
            # Not refreshed in time and no terminating NOTIFY either: the subscription is over.
            self.state = SubState.TERMINATED
            self.refresh_at = self.expires_at = None
            return [Terminated("expired", None)]
        if self.refresh_at is None or now < self.refresh_at:
            return []
        self.refresh_at = None
        return [SendRequest(self._refresh(self.expires))]
