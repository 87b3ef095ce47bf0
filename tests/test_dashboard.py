"""The operators' dashboard: how its files are served (no browser), and the
page itself in headless Chromium against a server holding a 10,000-device storm."""

from __future__ import annotations

import asyncio
import configparser
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from pktcable.firmware.swcheck import Check
from pktcable.flow import SERVER_TABLES
from pktcable.flow.tables import ProvisioningState
from pktcable.serve import dashboard

from .dashboard_util import XSS, Storm

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "pktcable" / "serve" / "static"


# -- the files, without a browser ---------------------------------------------------

def _get(path: str, headers: dict[str, str] | None = None) -> tuple[int, CIMultiDict[str], bytes]:
    async def main() -> tuple[int, CIMultiDict[str], bytes]:
        app = web.Application()
        dashboard.add_dashboard(app)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            async with client.get(path, headers=headers or {}) as r:
                return r.status, CIMultiDict(r.headers), await r.read()

    return asyncio.run(main())


@pytest.mark.parametrize("path, kind", [("/", "text/html"),
                                         ("/static/app.js", "text/javascript"), ("/static/app.css", "text/css"),
                                         ("/static/favicon.svg", "image/svg+xml")])
def test_files_with_their_types_and_security_headers(path: str, kind: str) -> None:
    status, headers, body = _get(path)
    assert status == 200 and headers["Content-Type"].split(";")[0] == kind and body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-cache" and headers["ETag"]
    again, headers304, body304 = _get(path, {"If-None-Match": headers["ETag"]})
    assert again == 304 and not body304 and headers304["Content-Security-Policy"] == csp


@pytest.mark.parametrize("path", ["/static/index.html", "/static/nope.js", "/static/..%2Fdashboard.py",
                                  "/static/../api.py", "/static/", "/static/.%2E/api.py"])
def test_no_other_file(path: str) -> None:
    status, _, body = _get(path)
    assert status == 404 and b"import" not in body


def test_every_static_file_is_listed_and_packaged() -> None:
    assert {p.name for p in STATIC.iterdir()} == set(dashboard.STATIC) | {dashboard.INDEX}
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "static/*" in [p.strip() for p in setup["options.package_data"]["pktcable.serve"].split(",")]


def test_page_has_no_inline_code_and_nothing_from_elsewhere() -> None:
    page = (STATIC / "index.html").read_text()
    assert all('src="/static/' in tag for tag in re.findall(r"<script[^>]*>", page))
    assert not re.search(r"<script[^>]*>\s*[^<\s]", page)  # no inline script
    assert not re.search(r"\son[a-z]+=", page, re.I)  # no inline handlers (onclick=...)
    assert "style=" not in page
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path.name
        # API values reach the page as text only.
        assert "innerHTML" not in text and "outerHTML" not in text and "insertAdjacentHTML" not in text, path.name
        assert "document.write" not in text and "eval(" not in text, path.name


def test_result_words_follow_the_mib() -> None:
    text = (STATIC / "events.js").read_text()
    block = text[text.index("RESULT_WORDS = {"):]
    words = dict(re.findall(r'^  (\d+): "([^"]+)"', block[:block.index("};")], re.M))
    assert {int(k) for k in words} == {int(v) for v in ProvisioningState}
    for state in ProvisioningState:
        expected = state.name.lower().replace("_", " ").replace("fail ", "fail: ").replace("failure ", "failure: ")
        assert words[str(int(state))] == expected, state


def _recorded_events() -> set[str]:
    """Every event name the back office writes into a device's history."""
    names: set[str] = set()
    for table in SERVER_TABLES.values():
        names |= {kind.__name__ for _, kind in table.transitions}
        names |= {kind.__name__ for kind in table.global_events}
        names |= {info.on_timeout.__name__ for info in table.states.values() if info.on_timeout}
    for source in sorted((ROOT / "pktcable").rglob("*.py")):  # Step(mac, at, "label", "EventName", ...)
        names |= set(re.findall(r'Step\([^"]*"[^"]*",\s*"([A-Z][A-Za-z]+)"', source.read_text()))
    names |= {check.value for check in Check}  # serve/swchecks.py records a Check's value
    return names


def test_every_recorded_event_has_words() -> None:
    names = _recorded_events()
    # The grep finds the names written literally (a change of the Step(...) calls must not hide them).
    assert {"LeaseAcked", "TransferFailed", "FileServed", "FlowNotSupported", "ResetRequested"} <= names
    assert {"LocationSetUnanswered", "ServerTimerExpired", "StatusReceived", "ReprovisionRequested"} <= names
    words = set(re.findall(r"^  ([A-Z][A-Za-z]+): \"", (STATIC / "events.js").read_text(), re.M))
    assert names - words == set()


# -- the page in Chromium ------------------------------------------------------------

@pytest.fixture(scope="module")
def storm() -> Iterator[Storm]:
    server = Storm()
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from .peers import require

    require("chromium")
    from playwright.sync_api import sync_playwright  # the test extra's; the browser is Debian's

    from .dashboard_util import launch_chromium

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


TIMEOUT_MS = 30_000  # a loaded machine: generous waits, never sleeps


def open_page(browser: Any, storm: Storm, token: str = "operator", width: int = 1280, height: int = 900,
              path: str = "/") -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A CSP violation or a script error is a console error; an HTTP error status the page handles is not.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    page.errors = errors
    page.goto(storm.base + path)
    page.fill("#token", {"operator": storm.operator, "read": storm.reader}.get(token, token))
    page.click("#signin-form button[type=submit]")
    return page


def loaded(page: Any) -> None:
    """Wait until the view the address names is on screen."""
    hash_ = page.url.partition("#")[2]
    page.wait_for_selector(f'body[data-loaded="#{hash_ or "/"}"]', state="attached")


def rows(page: Any) -> list[dict[str, str]]:
    return page.evaluate("""() => [...document.querySelectorAll('#rows tr[data-mac]')].map(tr =>
        Object.fromEntries([...tr.cells].map(td => [td.dataset.label, td.textContent.trim()])))""")


def test_failing_devices_in_two_clicks(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm)
    page.wait_for_selector("#rows tr[data-mac]")
    assert page.text_content("#who-name") == "alice" and page.text_content("#who-role") == "operator"
    first = page.locator("#summary li.state").first
    assert "failing" in first.inner_text().lower() and "300" in first.inner_text()  # failures first, marked
    step = first.locator(".step").inner_text().removeprefix("at ")  # the API's name for where they fail
    assert step.startswith("H-MTA-") and "19" in step
    # Click one: the table shows only the failing eMTAs.
    first.locator("a").click()
    loaded(page)
    shown = rows(page)
    assert len(shown) == 100 and {r["State"] for r in shown} == {"FAILED_SET"}
    assert {r["Failed step"] for r in shown} == {step}
    assert page.text_content("#range") == "1–100 of 300"
    assert "state=FAILED_SET" in page.url
    # Click two: a device's timeline says, in words, where it failed.
    page.locator("#rows tr[data-mac] a.mac").first.click()
    loaded(page)
    failed = page.locator("#timeline li.failed-here").inner_text()
    assert "H-MTA-19" in failed and "The SET of the config-file URL and hash failed" in failed
    assert f"Failed at {step}" in page.text_content(".failure")
    assert page.url.endswith("#/device/" + storm.failing[0])
    # The way back is to the filtered view.
    page.click("#back")
    loaded(page)
    assert "state=FAILED_SET" in page.url and page.text_content("#range") == f"1–100 of {len(storm.failing)}"
    assert page.errors == []
    page.context.close()


def test_front_page_load_time(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm)
    page.wait_for_selector("#rows tr[data-mac]")
    page.reload()  # the token is in sessionStorage: straight to the table
    page.wait_for_selector("#rows tr[data-mac]")
    elapsed = page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const mark = performance.getEntriesByName('pktcable:table-rendered')[0];
        return mark.startTime - nav.domContentLoadedEventStart; }""")
    print(f"front page: DOMContentLoaded to table rendered {elapsed:.0f} ms (10,000 devices)")
    assert 0 < elapsed < 5000  # docs/benchmarks.md has the figure measured on an idle machine
    page.context.close()


def test_view_in_the_address_back_button_paging_and_sort(browser: Any, storm: Storm) -> None:
    mtas = storm.loop.call(lambda: sum(d.kind == "mta" for d in storm.store.devices()))
    total = storm.loop.call(lambda: sum(1 for _ in storm.store.devices()))
    page = open_page(browser, storm)
    page.wait_for_selector("#rows tr[data-mac]")
    page.select_option("#f-kind", "mta")
    loaded(page)
    assert "kind=mta" in page.url and {r["Kind"] for r in rows(page)} == {"eMTA"}
    assert page.text_content("#range") == f"1–100 of {mtas:,}"
    page.click("#next")
    loaded(page)
    assert page.text_content("#range") == f"101–200 of {mtas:,}"
    second = rows(page)[0]["MAC"]
    page.click("#prev")
    loaded(page)
    assert page.text_content("#range").startswith("1–100") and rows(page)[0]["MAC"] != second
    page.click("#next")
    loaded(page)
    assert rows(page)[0]["MAC"] == second
    # Sort by the Updated column, newest first.
    page.click("#devices th button[data-sort=updated]")
    loaded(page)
    assert "sort=-updated" in page.url and "cursor" not in page.url
    assert page.get_attribute("#devices th:has(button[data-sort=updated])", "aria-sort") == "descending"
    stamps = page.eval_on_selector_all("#rows .ago", "spans => spans.map(s => Number(s.dataset.at))")
    assert stamps == sorted(stamps, reverse=True)
    # Back: the previous views come back, in order (each click on a pager made one).
    for expected in ("101–200", "1–100", "101–200", "1–100", "1–100"):
        page.go_back()
        loaded(page)
        assert page.text_content("#range").startswith(expected)
    assert page.input_value("#f-kind") == "" and page.text_content("#range").endswith(f"of {total:,}")
    page.go_forward()
    loaded(page)
    assert page.input_value("#f-kind") == "mta"
    # A linked view opens as it was.
    linked = open_page(browser, storm, path="/#/?kind=mta&state=FAILED_SET&sort=-updated")
    loaded(linked)
    assert linked.text_content("#range") == f"1–100 of {len(storm.failing)}"
    assert linked.input_value("#f-state") == "FAILED_SET" and linked.input_value("#f-sort") == "-updated"
    assert page.errors == [] and linked.errors == []
    page.context.close()
    linked.context.close()


def test_search(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm)
    page.wait_for_selector("#rows tr[data-mac]")
    mac = storm.failing[5]
    page.fill("#q", mac)
    page.press("#q", "Enter")
    loaded(page)
    assert [r["MAC"] for r in rows(page)] == [":".join(mac[i:i + 2] for i in range(0, 12, 2))]
    assert rows(page)[0]["State"] == "FAILED_SET" and page.text_content("#range") == "1–1 of 1"
    # Typing alone searches once the typist pauses; a later pause refines the same history entry.
    page.click("#clear")
    loaded(page)
    page.type("#q", "10.1.0.")
    page.wait_for_selector('body[data-loaded="#/?q=10.1.0."]', state="attached")
    assert {r["Address"].rsplit(".", 1)[0] for r in rows(page)} == {"10.1.0"}
    page.type("#q", "9")
    page.wait_for_selector('body[data-loaded="#/?q=10.1.0.9"]', state="attached")
    page.go_back()
    loaded(page)
    assert page.input_value("#q") == "" and "q=" not in page.url
    assert page.errors == []
    page.context.close()


def test_phone_width_does_not_overflow(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm, width=390, height=844)
    page.wait_for_selector("#rows tr[data-mac]")
    wide = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(wide) == 0
    page.goto(storm.base + "/#/device/" + storm.failing[0])
    page.wait_for_selector("#timeline")
    assert page.evaluate(wide) == 0
    page.context.close()


def test_read_role_has_no_actions(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm, token="read", path="/#/device/" + storm.failing[0])
    page.wait_for_selector("#timeline")
    assert page.text_content("#who-role") == "read"
    assert page.locator("#reset").count() == 0 and page.locator("#reprovision").count() == 0
    page.context.close()
    # The operator's reset: to a device with no lease the API refuses; one whose agent is gone does not answer.
    page = open_page(browser, storm, path="/#/device/" + storm.failing[0])
    page.wait_for_selector("#reset")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#reset")
    page.wait_for_selector("#actions [role=status] >> text=no current DHCP lease")
    page.goto(f"{storm.base}/#/device/{storm.live}")
    page.wait_for_selector("#timeline")
    page.click("#reset")
    page.wait_for_selector("#actions [role=status] >> text=did not acknowledge")
    page.wait_for_selector("#timeline >> text=An operator asked the eMTA to reset")
    assert page.errors == []
    page.context.close()


def test_markup_from_the_api_is_text(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm, path="/#/?q=10.9.0.9")
    page.wait_for_selector("#rows tr[data-mac]")
    page.locator("#rows a.mac").first.click()
    page.wait_for_selector("#timeline")
    assert XSS in page.text_content("#device-body")
    assert page.locator("#device-body img").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert page.errors == []
    page.context.close()


def test_device_page_reads_as_a_timeline_with_lease_and_file(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm, path=f"/#/device/{storm.live}")
    page.wait_for_selector("#timeline")
    steps = page.locator("#timeline li").all_inner_texts()
    assert "start" in steps[0] and "The DHCP server granted a lease" in steps[0]
    assert any("+" in step and "reported its provisioning status" in step for step in steps[1:])
    lease = storm.loop.call(lambda: storm.office.dhcp.engine.bound_lease(storm.live, time.time()))
    assert lease is not None and str(lease.address) in page.locator("#device-body").inner_text()
    text = page.locator("pre.file-text").inner_text()
    assert "MtaConfigDelimiter" in text and "SnmpMibObject pktcMtaDevEnabled.0" in text  # decoded, not bytes
    # Its enrollment INFORM's pktcMtaDevSwCurrentVers, against no rule's target.
    reported = storm.loop.call(lambda: storm.office.firmware.device(storm.live))
    assert reported is not None and reported.sw_version
    assert page.locator("#fw-current").inner_text() == reported.sw_version
    assert page.locator("#fw-target").inner_text() == "none" and page.locator("#fw-offered").inner_text() == "nothing"
    assert [v.strip().split()[0] for v in page.locator("#fw-history li").all_inner_texts()] == [reported.sw_version]
    assert page.errors == []
    page.context.close()


def test_token_in_the_address(browser: Any, storm: Storm) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{storm.base}/#token={storm.reader}")  # as `pktcable serve --demo` prints it
    page.wait_for_selector("#rows tr[data-mac]")
    assert page.text_content("#who-name") == "bob" and "token" not in page.url
    context.close()


def test_bad_token_asks_again(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm, token="not-a-token")
    page.wait_for_selector("#signin-error >> text=refused")
    assert page.locator("#front").is_hidden()
    page.context.close()


def test_live_updates_merge_changes_and_pause_when_hidden(browser: Any, storm: Storm) -> None:
    from pktcable.store.devices import Device

    page = open_page(browser, storm, path="/#/?kind=mta&state=FAILED_SET")
    page.wait_for_selector("#rows tr.failing")
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/v1/" in r.url else None)
    mac = storm.failing[0]
    before = storm.loop.call(lambda: storm.store.get(mac))
    newcomer = "000000000001"  # sorts first: on the first page once shown
    try:
        def change() -> None:
            device = storm.store.get(mac)
            assert device is not None
            device.state, device.result, device.updated = "DONE", 1, time.time() + 1
            storm.store.put(device)
            # A device that joins the view but is not on screen is announced, not inserted.
            storm.store.put(Device(newcomer, kind="mta", state="FAILED_SET", result=7, updated=time.time() + 1))
            storm.store.commit()
        storm.loop.call(change)
        row = page.locator(f"#rows tr[data-mac='{mac}']")
        page.wait_for_selector(f"#rows tr.stale[data-mac='{mac}']")  # merged in place, marked as leaving the view
        assert "DONE" in row.inner_text() and "failing" not in row.inner_text()
        page.wait_for_selector("#show-changes >> text=1 more changed")
        lists = [u for u in calls if "/api/v1/devices?" in u]
        assert lists and all("updated_since=" in u and "sort=updated" in u for u in lists)  # never the page again
        # Hidden: nothing is fetched; shown again: at once.
        page.evaluate("""() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
                                 document.dispatchEvent(new Event('visibilitychange')); }""")
        calls.clear()
        page.wait_for_timeout(12_000)  # more than two poll intervals
        assert calls == []
        with page.expect_request(lambda r: "/api/v1/summary" in r.url):
            page.evaluate("""() => { Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
                                     document.dispatchEvent(new Event('visibilitychange')); }""")
        page.click("#show-changes")
        page.wait_for_selector(f"#rows tr[data-mac='{newcomer}']")
    finally:
        def restore() -> None:
            assert before is not None
            storm.store.put(before)
            storm.store.delete(newcomer)
            storm.store.commit()
        storm.loop.call(restore)
    assert page.errors == []
    page.context.close()


def test_events_in_words_in_the_browser(browser: Any, storm: Storm) -> None:
    page = open_page(browser, storm)
    page.wait_for_selector("#rows tr[data-mac]")
    names = sorted(_recorded_events())
    said = page.evaluate("""async (names) => {
        const { describe } = await import('/static/events.js');
        return names.concat(['UnexpectedStatusReceived', 'UnexpectedSomethingNew', 'SomethingNew'])
          .map((name) => describe(name)); }""", names)
    for name, words in zip(names, said, strict=False):
        assert words.endswith(".") and name not in words and len(words) > 20, (name, words)
    unexpected, unknown_inner, unknown = said[len(names):]
    assert unexpected.startswith("Not expected at this point") and "provisioning status" in unexpected
    assert unknown_inner.endswith(": something new.") and unknown == "Something new."
    assert page.errors == []
    page.context.close()


def test_the_last_check_of_a_modem_behind_its_offer_is_on_its_page(browser: Any, storm: Storm) -> None:
    """serve asked a modem why it kept its version (serve/swchecks.py): the device page's
    firmware facts say when, in words, with the modem's answer; the timeline has the step."""
    from pktcable.store.devices import Step

    mac = storm.failing[1]
    detail = "offered fw-2.0.1.p7 (2.0.1): docsDevSwOperStatus failed(4); running 1.0.0 (at 10.1.0.7)"

    def record() -> None:
        storm.office.devices.record(Step(mac, time.time(), "CM-SWDL", Check.FAILED.value, detail))
        storm.office.commit_now()

    storm.loop.call(record)
    page = open_page(browser, storm, path=f"/#/device/{mac}")
    page.wait_for_selector("#fw-checked")
    checked = page.locator("#fw-checked").inner_text()
    assert "the modem's download or its checks failed" in checked and detail in checked, checked
    last = page.locator("#timeline li").all_inner_texts()[-1]
    assert "CM-SWDL" in last and "keeps its version" in last, last
    assert page.locator("#timeline li.bad").count() >= 1
    assert page.errors == []
    page.context.close()
