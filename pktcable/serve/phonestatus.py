"""A SIP phone as the API and the dashboard show it: its subscription, the profile version
served against the one the phone holds, its last NOTIFY and its last fetch.

What lasts is the phone's step history, kept and pruned as an eMTA's is: the notifier's
events (``Subscribed``, ``Notified`` with the version it named ...) and each fetch of its
profile (``ProfileFetched``, recorded by serve/sipwiring.py). What only the running SIP
service knows (whether it holds a subscription now and until when, the version it would
serve now) comes in as :class:`PhoneLive`. Nothing here reads a clock or a socket: the
history and the live facts go in, a plain dict (the API's ``phone`` object) comes out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pktcable.store.devices import Step

#: How the steps name a profile version: its first 16 hex digits (the ETag's start).
VERSION = re.compile(r"\bprofile ([0-9a-f]{16})\b")
FETCHED = "ProfileFetched"
#: The NOTIFY outcomes the history records: acknowledged, refused, or the end of the dialog.
NOTIFY_EVENTS = ("Notified", "NotifyFailed", "SubscriptionEnded")
#: The last of these says where the subscription stands when the service holds none now.
#: ``Unreachable``: the server gave up pushing a change to it (every retry unanswered or refused).
_ENDINGS = {"Expired": "expired", "Unsubscribed": "unsubscribed", "SubscriptionEnded": "ended",
            "Unreachable": "unreachable"}
_HELD = ("Subscribed", "Refreshed", "Notified", *_ENDINGS)
#: A NOTIFY that got no answer (RFC 6665 §4.2.2: the subscription ends): the phone is gone.
_NO_ANSWER = "408"


@dataclass(frozen=True, slots=True)
class PhoneLive:
    """What the SIP service knows of a phone now."""

    subscribed: bool = False
    #: When the subscription runs out (seconds since the epoch), when subscribed.
    expires: float | None = None
    #: The version the server serves now (16 hex digits); None when it does not build.
    served: str | None = None
    #: Why the profile does not build, when it does not.
    problem: str | None = None
    #: The server gave up pushing to it (its retries unanswered), until it subscribes again.
    unreachable: bool = False


def version_of(detail: str) -> str | None:
    found = VERSION.search(detail)
    return found.group(1) if found else None


def _last(history: Sequence[Step], events: tuple[str, ...]) -> Step | None:
    for step in reversed(history):
        if step.event in events:
            return step
    return None


def subscription(history: Sequence[Step], live: PhoneLive | None) -> str:
    """``subscribed`` (held now), ``expired`` (not refreshed in time), ``unreachable`` (a NOTIFY
    got no answer, or no push reached it in all its tries, even within a subscription),
    ``ended`` (the phone refused a NOTIFY: it no longer has the dialog), ``unsubscribed``
    (it ended it), or ``none`` (never, or none since the server started)."""
    if live is not None and live.unreachable:
        return "unreachable"
    if live is not None and live.subscribed:
        return "subscribed"
    last = _last(history, _HELD)
    if last is None or last.event not in _ENDINGS:
        return "none"
    if last.event == "SubscriptionEnded" and last.detail.endswith(_NO_ANSWER):
        return "unreachable"
    return _ENDINGS[last.event]


def phone_view(history: Sequence[Step], live: PhoneLive | None) -> dict[str, Any]:
    """The API's ``phone`` object of a device of kind sip (``live`` None: the SIP service is off)."""
    fetch = _last(history, (FETCHED,))
    notify = _last(history, NOTIFY_EVENTS)
    told = _last(history, ("Notified",))
    held = version_of(fetch.detail) if fetch is not None else None
    served = live.served if live is not None else None
    return {
        "subscription": subscription(history, live),
        "expires": live.expires if live is not None and live.subscribed else None,
        "served": served,
        "held": held,
        "notified": version_of(told.detail) if told is not None else None,
        "in_sync": held is not None and held == served,
        "problem": live.problem if live is not None else None,
        "last_notify": None if notify is None else {"at": notify.at, "event": notify.event, "detail": notify.detail},
        "last_fetch": None if fetch is None else {"at": fetch.at, "version": held, "detail": fetch.detail},
    }
