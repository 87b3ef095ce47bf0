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
