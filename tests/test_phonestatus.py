"""A SIP phone's view (pktcable/serve/phonestatus.py): the subscription from the live service and
the history, the profile version served against the one held, the last NOTIFY and fetch."""

from __future__ import annotations

import pytest

from pktcable.serve.phonestatus import PhoneLive, phone_view, subscription
from pktcable.store.devices import Step

MAC = "0004f2000001"
V1, V2 = "00112233445566aa", "00112233445566bb"


def steps(*events: tuple[str, str]) -> list[Step]:
    return [Step(MAC, 100.0 + i, "SIP", event, detail) for i, (event, detail) in enumerate(events)]


@pytest.mark.parametrize(("history", "live", "expected"), [
    ([], None, "none"),
    ([("Subscribed", "from 10.0.0.7, expires in 3600 s")], PhoneLive(True, 5000.0), "subscribed"),
    # History says subscribed but the service holds none (a restart): not subscribed now.
    ([("Subscribed", "")], PhoneLive(False), "none"),
    ([("Subscribed", ""), ("Expired", "")], PhoneLive(False), "expired"),
    ([("Subscribed", ""), ("SubscriptionEnded", "NOTIFY answered 408")], PhoneLive(False), "unreachable"),
    ([("Subscribed", ""), ("SubscriptionEnded", "NOTIFY answered 481")], PhoneLive(False), "ended"),
    ([("Subscribed", ""), ("Unsubscribed", "")], None, "unsubscribed"),
    # Events that say nothing of the subscription do not hide the last one that does.
    ([("Expired", ""), ("ProfileFetched", "profile 00112233445566aa by 10.0.0.7"), ("AuthFailed", "")], None,
     "expired"),
    # The server gave up pushing to it: unreachable, held subscription or not.
    ([("Subscribed", ""), ("PushRetry", "answered 408; try 2 in 1 s"), ("Unreachable", "no push reached it")],
     PhoneLive(False), "unreachable"),
    ([("Subscribed", "")], PhoneLive(True, 5000.0, unreachable=True), "unreachable"),
    # A new subscription after an expiry is live again.
    ([("Expired", ""), ("Subscribed", "")], PhoneLive(True, 1.0), "subscribed"),
])
def test_subscription(history: list[tuple[str, str]], live: PhoneLive | None, expected: str) -> None:
    assert subscription(steps(*history), live) == expected


def test_served_against_held_and_the_last_notify_and_fetch() -> None:
    history = steps(("Subscribed", "from 10.0.0.7, expires in 3600 s"),
                    ("Notified", f"ua-profile;profile-type=device, profile {V1}"),
                    ("ProfileFetched", f"profile {V1} by 10.0.0.7"),
                    ("NotifyFailed", "ua-profile: 486"))
    view = phone_view(history, PhoneLive(True, 9000.0, V2))
    assert view["subscription"] == "subscribed" and view["expires"] == 9000.0
    assert (view["served"], view["held"], view["notified"], view["in_sync"]) == (V2, V1, V1, False)
    assert view["last_notify"] == {"at": 103.0, "event": "NotifyFailed", "detail": "ua-profile: 486"}
    assert view["last_fetch"] == {"at": 102.0, "version": V1, "detail": f"profile {V1} by 10.0.0.7"}
    fetched = phone_view([*history, Step(MAC, 200.0, "SIP", "ProfileFetched", f"profile {V2} by 10.0.0.7")],
                         PhoneLive(True, 9000.0, V2))
    assert fetched["held"] == V2 and fetched["in_sync"] is True


def test_a_profile_that_does_not_build_and_the_service_off() -> None:
    broken = phone_view(steps(("ProfileFailed", "lines: required")), PhoneLive(problem="lines: required"))
    assert broken["served"] is None and broken["problem"] == "lines: required" and broken["in_sync"] is False
    off = phone_view(steps(("Subscribed", "")), None)
    assert off["subscription"] == "none" and off["served"] is None and off["expires"] is None
    assert off["last_notify"] is None and off["last_fetch"] is None
