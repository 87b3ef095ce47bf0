"""The SIP phone's flow table (pktcable/flow/sip.py): integrity, the walks a phone takes, and
that every failure is a named final state."""

from __future__ import annotations

import pytest

from pktcable.flow import InvalidTransition, Machine
from pktcable.flow import sip as f
from pktcable.flow.sip import PHONE_TABLE, SipState


def test_the_table_is_whole() -> None:
    PHONE_TABLE.check()


def test_enrollment_then_a_change_then_an_expiry_resubscribes() -> None:
    m = Machine(PHONE_TABLE, 0.0)
    for event, state in [(f.Challenged(), SipState.SUBSCRIBE_SENT), (f.SubscribeAccepted(3600), SipState.WAIT_NOTIFY),
                         (f.NotifyReceived("http://x/p.xml"), SipState.FETCH_PROFILE),
                         (f.ProfileFetched("e1"), SipState.VALIDATE), (f.ProfileValid(), SipState.SUBSCRIBED),
                         (f.NotifyReceived("http://x/p.xml"), SipState.FETCH_UPDATE),
                         (f.ProfileUnchanged(), SipState.SUBSCRIBED),
                         (f.NotifyReceived("http://x/p.xml"), SipState.FETCH_UPDATE),
                         (f.ProfileFetched("e2"), SipState.VALIDATE), (f.ProfileValid(), SipState.SUBSCRIBED),
                         (f.SubscriptionEnded("expired"), SipState.SUBSCRIBE_SENT)]:
        assert m.handle(event, 1.0).state is state
    assert [e.step for e in m.history][:6] == ["UA-1", "UA-1", "UA-2", "UA-3", "UA-4", "UA-5"]


def test_the_steps_own_waits_end_in_named_failures() -> None:
    m = Machine(PHONE_TABLE, 0.0)
    m.handle(f.SubscribeAccepted(60), 0.0)
    assert m.next_deadline() == 32.0
    assert m.handle_timer(31.9) is None
    entered = m.handle_timer(32.0)
    assert entered is not None and entered.state is SipState.FAILED_NO_NOTIFY and m.done and m.result == 7


@pytest.mark.parametrize(("events", "final"), [
    ([f.AuthRefused(403)], SipState.FAILED_AUTH),
    ([f.SubscribeFailed(404)], SipState.FAILED_SUBSCRIBE),
    ([f.NotifyUnusable("no URL")], SipState.FAILED_NOTIFY),
    ([f.NotifyReceived("u"), f.FetchFailed("404")], SipState.FAILED_FETCH),
    ([f.NotifyReceived("u"), f.ProfileFetched(), f.ProfileInvalid("schema")], SipState.FAILED_PROFILE_INVALID),
])
def test_failures_are_final_and_take_nothing_more(events: list[object], final: SipState) -> None:
    m = Machine(PHONE_TABLE, 0.0)
    for event in events:
        m.handle(event, 0.0)
    assert m.state is final and m.done
    with pytest.raises(InvalidTransition):
        m.handle(f.NotifyReceived("u"), 0.0)


def test_a_not_modified_answer_to_the_first_fetch_is_not_in_the_table() -> None:
    # The first GET carries no If-None-Match: a 304 to it is the server's error, not a pass.
    m = Machine(PHONE_TABLE, 0.0)
    m.handle(f.NotifyReceived("u"), 0.0)
    with pytest.raises(InvalidTransition):
        m.handle(f.ProfileUnchanged(), 0.0)


# --- the server side: what `pktcable serve` keeps in a phone's device row ------------------------


def test_the_server_table_is_whole_and_keeps_the_stored_words() -> None:
    f.SERVER_TABLE.check()
    # Rows written before the table existed hold these words: they must still read.
    assert [s.value for s in f.SipServerState] == ["", "subscribed", "unsubscribed", "profile-failed"]


@pytest.mark.parametrize("stored", ["", "subscribed", "unsubscribed", "profile-failed", "LEASED"])
def test_the_server_state_follows_the_event_from_any_state(stored: str) -> None:
    s = f.SipServerState
    leaves = {"Subscribed": s.SUBSCRIBED, "Refreshed": s.SUBSCRIBED, "Notified": s.SUBSCRIBED,
              "Unsubscribed": s.UNSUBSCRIBED, "Expired": s.UNSUBSCRIBED, "SubscriptionEnded": s.UNSUBSCRIBED,
              "ProfileFailed": s.PROFILE_FAILED}
    before = s(stored) if stored in {x.value for x in s} else s.KNOWN
    for event in f.SERVER_EVENTS:
        assert f.server_state(stored, event) is leaves.get(event, before), event


def test_an_event_the_server_table_lacks_changes_nothing() -> None:
    assert f.server_state("subscribed", "NoSuchEvent") is None


def test_every_event_the_notifier_reports_is_in_the_server_table() -> None:
    """The notifier names its events as strings: a new one must get a row, or serve would
    record it without a state (and warn)."""
    import re
    from pathlib import Path

    import pktcable.sip.provisioning as provisioning

    source = Path(provisioning.__file__).read_text()
    reported = set(re.findall(r'on_step\(\s*(?:state\.)?mac,\s*"(\w+)"', source))
    reported |= set(re.findall(r'"(\w+)" if decision', source))
    assert reported and reported <= set(f.SERVER_EVENTS), reported - set(f.SERVER_EVENTS)
