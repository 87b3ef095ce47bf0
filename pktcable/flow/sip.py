"""The SIP phone's enrollment and update flow (RFC 6080 ua-profile), phone side, as a table.

RFC 6080 describes the flow in three phases (§5.1: enrollment by SUBSCRIBE/NOTIFY,
content retrieval, change notification) but numbers no steps, so the step labels
here are our own, in the style of the PacketCable ones: UA-1 ... UA-6.

  UA-1  SUBSCRIBE (Event: ua-profile;profile-type=device), Digest when challenged
  UA-2  the NOTIFY naming the profile URL (message/external-body or application/url)
  UA-3  GET the profile over HTTP(S)
  UA-4  validate it against the layout's schema
  UA-5  subscribed: refreshed before it expires; an expiry or a terminating NOTIFY
        starts over at UA-1 (re-subscribe)
  UA-6  a change NOTIFY: GET with If-None-Match (304: nothing changed), then UA-4

The phone stays in SUBSCRIBED (it is never final: it refreshes and takes
changes); a simulator counts a phone that reached it as enrolled.

The server's side (:data:`SERVER_TABLE`) is what ``pktcable serve`` keeps in a phone's
device row: the notifier reports each event by name (``Subscribed``, ``Notified`` ...) and
the table says which state the phone is left in. The server cannot see the phone's own
steps (UA-3/4 happen on the phone), so its states are coarse: known, subscribed,
unsubscribed, profile failed; none is final, since a phone may subscribe again at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .machine import FlowTable, StateInfo
from .tables import FAIL

#: The flow's name in the simulator, its report and the docs.
SIP_FLOW = "SIP"


class SipState(Enum):
    """A SIP phone's provisioning states (docs/flows.md, "SIP phone side")."""

    SUBSCRIBE_SENT = "SUBSCRIBE sent, waiting for its final response"
    WAIT_NOTIFY = "subscription accepted, waiting for the NOTIFY naming the profile"
    FETCH_PROFILE = "fetching the profile the NOTIFY named"
    VALIDATE = "checking the profile against its schema"
    SUBSCRIBED = "profile in use, subscription kept refreshed"
    FETCH_UPDATE = "change NOTIFY received, fetching the profile with If-None-Match"
    FAILED_AUTH = "the server refused the phone's credentials (403, or 401 with no way to answer)"
    FAILED_SUBSCRIBE = "SUBSCRIBE refused or unanswered"
    FAILED_NO_NOTIFY = "no NOTIFY after the subscription was accepted"
    FAILED_NOTIFY = "the NOTIFY names no profile a phone can fetch"
    FAILED_FETCH = "the profile could not be fetched"
    FAILED_PROFILE_INVALID = "the profile fails its schema"


# --- events (what the phone learned) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscribeAccepted:
    """UA-1: a 2xx to the SUBSCRIBE; ``expires`` is what the notifier granted."""

    expires: int = 0


@dataclass(frozen=True, slots=True)
class Challenged:
    """UA-1: a 401 the phone answers with Digest credentials (the SUBSCRIBE is sent again)."""


@dataclass(frozen=True, slots=True)
class AuthRefused:
    """UA-1/5: 403, or a 401 the phone cannot answer (no password, or its answer was refused)."""

    status: int = 403
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SubscribeFailed:
    """UA-1/5: any other final error response to the SUBSCRIBE, or none (408)."""

    status: int = 408
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NotifyReceived:
    """UA-2/6: a NOTIFY in the subscription naming a profile URL."""

    url: str = ""


@dataclass(frozen=True, slots=True)
class NotifyUnusable:
    """UA-2/6: a NOTIFY whose body names no fetchable URL."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class NotifyMissing:
    """UA-2: the wait for the first NOTIFY ran out."""


@dataclass(frozen=True, slots=True)
class ProfileFetched:
    """UA-3/6: 200 with the profile's bytes (and its ETag)."""

    etag: str = ""


@dataclass(frozen=True, slots=True)
class ProfileUnchanged:
    """UA-6: 304 to If-None-Match: the phone has this version already."""


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """UA-3/6: an HTTP error, no answer within the wait, or a body past the size limit."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProfileValid:
    """UA-4: the profile parsed and its schema accepted it."""


@dataclass(frozen=True, slots=True)
class ProfileInvalid:
    """UA-4: not well-formed, or the schema refused it."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class SubscriptionEnded:
    """UA-5: a terminating NOTIFY, or the subscription expired unrefreshed: subscribe again."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class SipTiming:
    """Seconds each step may take (the SIP transaction layer retransmits inside them)."""

    subscribe: float = 32.0  # RFC 3261 timer F: 64 * T1
    notify: float = 32.0
    fetch: float = 30.0
    validate: float = 10.0


def phone_table(t: SipTiming = SipTiming()) -> FlowTable:
    s = SipState
    states: dict[Enum, StateInfo] = {
        s.SUBSCRIBE_SENT: StateInfo("UA-1", "send the SUBSCRIBE", t.subscribe, SubscribeFailed),
        s.WAIT_NOTIFY: StateInfo("UA-2", "wait for the NOTIFY", t.notify, NotifyMissing),
        s.FETCH_PROFILE: StateInfo("UA-3", "GET the profile", t.fetch, FetchFailed),
        s.VALIDATE: StateInfo("UA-4", "validate the profile against its schema", t.validate, ProfileInvalid),
        s.SUBSCRIBED: StateInfo("UA-5", "refresh the subscription before it expires"),
        s.FETCH_UPDATE: StateInfo("UA-6", "GET the profile with If-None-Match", t.fetch, FetchFailed),
        s.FAILED_AUTH: StateInfo("UA-1", result=FAIL, final=True),
        s.FAILED_SUBSCRIBE: StateInfo("UA-1", result=FAIL, final=True),
        s.FAILED_NO_NOTIFY: StateInfo("UA-2", result=FAIL, final=True),
        s.FAILED_NOTIFY: StateInfo("UA-2/6", result=FAIL, final=True),
        s.FAILED_FETCH: StateInfo("UA-3/6", result=FAIL, final=True),
        s.FAILED_PROFILE_INVALID: StateInfo("UA-4", result=FAIL, final=True),
    }
    transitions: dict[tuple[Enum, type], Enum] = {
        (s.SUBSCRIBE_SENT, Challenged): s.SUBSCRIBE_SENT,
        (s.SUBSCRIBE_SENT, SubscribeAccepted): s.WAIT_NOTIFY,
        (s.SUBSCRIBE_SENT, AuthRefused): s.FAILED_AUTH,
        (s.SUBSCRIBE_SENT, SubscribeFailed): s.FAILED_SUBSCRIBE,
        # RFC 6665 §4.1.2.4: the NOTIFY may overtake the 200 (it then makes the dialog).
        (s.SUBSCRIBE_SENT, NotifyReceived): s.FETCH_PROFILE,
        (s.SUBSCRIBE_SENT, NotifyUnusable): s.FAILED_NOTIFY,
        (s.WAIT_NOTIFY, NotifyReceived): s.FETCH_PROFILE,
        (s.WAIT_NOTIFY, NotifyUnusable): s.FAILED_NOTIFY,
        (s.WAIT_NOTIFY, NotifyMissing): s.FAILED_NO_NOTIFY,
        (s.FETCH_PROFILE, ProfileFetched): s.VALIDATE,
        (s.FETCH_PROFILE, FetchFailed): s.FAILED_FETCH,
        # Its 200 after a NOTIFY that overtook it: the subscription is as it was.
        (s.FETCH_PROFILE, SubscribeAccepted): s.FETCH_PROFILE,
        (s.VALIDATE, ProfileValid): s.SUBSCRIBED,
        (s.VALIDATE, ProfileInvalid): s.FAILED_PROFILE_INVALID,
        (s.VALIDATE, SubscribeAccepted): s.VALIDATE,
        # UA-5: a refresh's answers; a refresh NOTIFY or a change NOTIFY alike leads to a
        # conditional GET (a refresh NOTIFY of the same version gets 304).
        (s.SUBSCRIBED, SubscribeAccepted): s.SUBSCRIBED,
        (s.SUBSCRIBED, Challenged): s.SUBSCRIBED,
        (s.SUBSCRIBED, AuthRefused): s.FAILED_AUTH,
        (s.SUBSCRIBED, SubscribeFailed): s.SUBSCRIBE_SENT,
        (s.SUBSCRIBED, SubscriptionEnded): s.SUBSCRIBE_SENT,
        (s.SUBSCRIBED, NotifyReceived): s.FETCH_UPDATE,
        (s.SUBSCRIBED, NotifyUnusable): s.FAILED_NOTIFY,
        (s.FETCH_UPDATE, ProfileFetched): s.VALIDATE,
        (s.FETCH_UPDATE, ProfileUnchanged): s.SUBSCRIBED,
        (s.FETCH_UPDATE, FetchFailed): s.FAILED_FETCH,
        (s.FETCH_UPDATE, SubscribeAccepted): s.FETCH_UPDATE,
    }
    return FlowTable(name="SIP phone (ua-profile)", states=states, start=s.SUBSCRIBE_SENT, transitions=transitions,
                     spec="RFC 6080 §5.1, RFC 6665, RFC 4483 (step labels ours)", flow=SIP_FLOW)


PHONE_TABLE = phone_table()


# --- server side: the notifier's view of one phone ------------------------------------------


class SipServerState(Enum):
    """A phone's state in the server's device store (docs/flows.md, "SIP server side").

    The values are what the device row holds (``state``), kept as they were before
    the table existed so stored rows and API clients read the same words."""

    KNOWN = ""
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PROFILE_FAILED = "profile-failed"


@dataclass(frozen=True, slots=True)
class Subscribed:
    """UA-1: a new subscription accepted (after Digest or the MAC check)."""


@dataclass(frozen=True, slots=True)
class Refreshed:
    """UA-5: a subscription refreshed before it expired."""


@dataclass(frozen=True, slots=True)
class Notified:
    """UA-2/6: the phone answered a NOTIFY naming its profile with 2xx."""


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """UA-5: the phone ended its subscription (SUBSCRIBE with Expires: 0)."""


@dataclass(frozen=True, slots=True)
class Expired:
    """UA-5: the subscription ran out unrefreshed."""


@dataclass(frozen=True, slots=True)
class ProfileFailed:
    """UA-2/6: the phone's profile could not be built or fails its schema (nothing is announced)."""


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """UA-1: credentials refused; the subscription, if any, stays as it was."""


@dataclass(frozen=True, slots=True)
class NotifyFailed:
    """UA-2/6: a NOTIFY answered with an error that does not end the subscription; retried later."""


@dataclass(frozen=True, slots=True)
class NotNotified:
    """UA-6: a change for a phone neither subscribed nor at a known address: nobody to tell."""


@dataclass(frozen=True, slots=True)
class PushRetry:
    """UA-6: a change's NOTIFY got no answer or an error; it is tried again later."""


@dataclass(frozen=True, slots=True)
class Unreachable:
    """UA-6: no try of a change's NOTIFY reached the phone (it gets the change when it subscribes again)."""


@dataclass(frozen=True, slots=True)
class NotFetched:
    """UA-6: the phone answered a change's NOTIFY but did not GET the profile in time."""


#: The notifier's events by the name it reports them with. ``SubscriptionEnded`` is the
#: phone side's event seen from the server: a NOTIFY answered 481 (or the like) that ends it.
SERVER_EVENTS: dict[str, type] = {kind.__name__: kind for kind in (
    Subscribed, Refreshed, Notified, Unsubscribed, Expired, SubscriptionEnded, ProfileFailed, AuthFailed,
    NotifyFailed, NotNotified, PushRetry, Unreachable, NotFetched)}

#: Event -> the state it leaves, whatever the state before (a phone may subscribe, lapse or
#: get a broken profile at any point); events not here are recorded and change nothing.
_LEAVES: dict[type, SipServerState] = {
    Subscribed: SipServerState.SUBSCRIBED, Refreshed: SipServerState.SUBSCRIBED, Notified: SipServerState.SUBSCRIBED,
    Unsubscribed: SipServerState.UNSUBSCRIBED, Expired: SipServerState.UNSUBSCRIBED,
    SubscriptionEnded: SipServerState.UNSUBSCRIBED, ProfileFailed: SipServerState.PROFILE_FAILED,
}


def server_table() -> FlowTable:
    s = SipServerState
    states: dict[Enum, StateInfo] = {
        s.KNOWN: StateInfo("UA-1", "in the phone book, waiting for its SUBSCRIBE"),
        s.SUBSCRIBED: StateInfo("UA-5", "keep the subscription; announce changes (rate-limited NOTIFY)"),
        s.UNSUBSCRIBED: StateInfo("UA-5", "wait for a new SUBSCRIBE (a change goes to its last address)"),
        s.PROFILE_FAILED: StateInfo("UA-2/6", "nothing announced until the profile builds again"),
    }
    transitions: dict[tuple[Enum, type], Enum] = {}
    for state in states:
        for kind in SERVER_EVENTS.values():
            transitions[(state, kind)] = _LEAVES.get(kind, state)
    return FlowTable(name="SIP server (ua-profile notifier)", states=states, start=s.KNOWN, transitions=transitions,
                     spec="RFC 6080 §5.1, RFC 6665 (step labels ours)", flow=SIP_FLOW)


SERVER_TABLE = server_table()


def server_state(stored: str, event: str) -> SipServerState | None:
    """The state a phone whose row holds ``stored`` is left in by the notifier's ``event``;
    None for an event the table does not know (the caller records it and changes nothing).
    A row holding a word that is not a phone state (a device turned phone) counts as KNOWN."""
    kind = SERVER_EVENTS.get(event)
    if kind is None:
        return None
    try:
        current: Enum = SipServerState(stored)
    except ValueError:
        current = SipServerState.KNOWN
    target = SERVER_TABLE.target(current, kind())
    return target if isinstance(target, SipServerState) else None
