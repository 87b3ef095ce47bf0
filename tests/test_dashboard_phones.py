"""The dashboard knows SIP phones: in headless Chromium against a real back office with the
SIP service on, a simulated phone subscribed and holding its profile, and two phones whose
history ended otherwise (a NOTIFY nobody answered, an expiry). The device page shows the
subscription, the version served against the one held, the last NOTIFY and the last fetch,
as the API's device view says, and the timeline in words as an eMTA's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pktcable.serve.app import Backoffice
from pktcable.serve.config import check
from pktcable.simulate.phone import PhoneConfig, phone_mac
from pktcable.simulate.phonefleet import PhoneFleet
from pktcable.store.devices import Step

from .dashboard_util import LoopThread
from .ports import free_port
from .test_dashboard import browser, loaded, open_page  # noqa: F401  (browser is a fixture)
from .test_e2e import configs, free_tcp_port

VARS = {"registrar": "sip.example.net", "lines": [{"user": "5001", "password": "pw"}]}
LIVE, GONE, LAPSED = phone_mac(0), phone_mac(1), phone_mac(2)


class PhoneOffice:
    """A back office with SIP on (API, HTTP and SIP on free ports) and three phones."""

    def __init__(self) -> None:
        cfg, _ = configs(["HYBRID.2"], auto_enroll=False)
        cfg.api_port, cfg.http_port, cfg.sip_port = free_tcp_port(), free_tcp_port(), free_port()
        cfg.devices = [{"mac": mac, "kind": "sip", "template": "generic", "vars": VARS} for mac in (LIVE, GONE, LAPSED)]
        self.loop = LoopThread()
        self.office = Backoffice(check(cfg))
        self.operator = self.office.admin.create("alice", "operator")
        self.reader = self.office.admin.create("bob", "read")
        self.loop.run(self.office.start())
        self.base = f"http://127.0.0.1:{cfg.api_port}"
        self.loop.call(self._histories)  # on the loop's thread: the store is not thread-safe
        # One phone for real: SUBSCRIBE, NOTIFY, GET of its profile, schema check (the simulator).
        self.fleet = PhoneFleet(PhoneConfig("127.0.0.1", cfg.sip_port), 1)
        self.loop.run(self.fleet.__aenter__())
        self.loop.run(self.fleet.enroll(), timeout=120)
        assert [r.state for r in self.fleet.results] == ["SUBSCRIBED"], self.fleet.results

    def _histories(self) -> None:
        """Two phones' runs that ended otherwise, as the notifier records them."""
        now = time.time()
        for mac, end in ((GONE, ("SubscriptionEnded", "NOTIFY answered 408")), (LAPSED, ("Expired", ""))):
            for i, (event, detail) in enumerate([("Subscribed", "from 10.0.0.9, expires in 3600 s"),
                                                 ("Notified", "ua-profile;profile-type=device, profile 0011223344556677"),
                                                 end]):
                self.office.devices.record(Step(mac, now - 60 + i, "SIP", event, detail))
        self.office.devices.commit()

    def api(self, mac: str) -> Any:
        """The API's view of a device, as the page gets it (its own client, the reader's token)."""
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.base}/api/v1/devices/{mac}",
                                         headers={"Authorization": f"Bearer {self.reader}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def close(self) -> None:
        self.loop.run(self.fleet.close())
        self.loop.run(self.office.close())
        self.loop.close()


@pytest.fixture(scope="module")
def phones() -> Iterator[PhoneOffice]:
    server = PhoneOffice()
    yield server
    server.close()


def test_a_subscribed_phone_shows_its_subscription_versions_notify_and_fetch(browser: Any,  # noqa: F811
                                                                             phones: PhoneOffice) -> None:
    page = open_page(browser, phones, path=f"/#/device/{LIVE}")  # type: ignore[arg-type]
    page.wait_for_selector("#phone")
    view = phones.api(LIVE)["phone"]
    assert view["subscription"] == "subscribed" and view["in_sync"], view
    assert page.text_content("#subscription") == "subscribed"
    assert page.text_content("#served") == view["served"] == page.text_content("#held") == view["held"]
    assert page.text_content("#in-sync") == "in sync"
    notify = page.text_content("#last-notify") or ""
    # When, and how long ago: "just now" within the second it came, "N s ago" after.
    assert "acknowledged a NOTIFY naming its profile URL" in notify, notify
    assert re.search(r"\((just now|[0-9][^)]* ago)\)", notify), notify
    assert f"profile {view['held']} by 127.0.0.1" in (page.text_content("#last-fetch") or "")
    assert "(in " in page.locator("#phone").inner_text()  # when the subscription runs out
    steps = page.locator("#timeline li").all_inner_texts()
    assert "start" in steps[0] and "SUBSCRIBE was accepted" in steps[0]
    assert any("fetched its profile" in step and "ProfileFetched" in step for step in steps[1:])
    assert page.locator("#timeline li.bad").count() == 0
    text = page.locator("pre.file-text").inner_text()  # the profile it was last told of, as XML
    assert "<user>5001</user>" in text
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("mac", "state", "words"), [
    (GONE, "unreachable", "a NOTIFY got no answer"),
    (LAPSED, "expired", "not refreshed in time"),
])
def test_a_phone_that_is_gone_or_lapsed_says_so(browser: Any, phones: PhoneOffice,  # noqa: F811
                                               mac: str, state: str, words: str) -> None:
    page = open_page(browser, phones, token="read", path=f"/#/device/{mac}")  # type: ignore[arg-type]
    page.wait_for_selector("#phone")
    assert phones.api(mac)["phone"]["subscription"] == state
    assert page.text_content("#subscription") == state
    assert words in page.locator("#phone").inner_text()
    # It never fetched: nothing held, so no claim that it is in sync.
    assert page.text_content("#held") == "not fetched yet" and page.text_content("#in-sync") == ""
    assert page.locator("#timeline li").count() == 3
    assert page.errors == []
    page.context.close()


def test_the_devices_list_filters_sip_phones(browser: Any, phones: PhoneOffice) -> None:  # noqa: F811
    page = open_page(browser, phones, path="/#/?kind=sip")  # type: ignore[arg-type]
    loaded(page)
    page.wait_for_selector("#rows tr[data-mac]")
    kinds = page.evaluate("() => [...document.querySelectorAll('#rows tr[data-mac]')].map(tr => tr.dataset.mac)")
    assert sorted(kinds) == sorted([LIVE, GONE, LAPSED])
    assert page.locator("#f-kind").input_value() == "sip"
    assert page.errors == []
    page.context.close()
