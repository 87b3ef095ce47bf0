"""Screenshots of the dashboard for docs/img/, and its front-page load time.

A real back office with a 10,000-device storm in its store (tests/dashboard_util.py:
5,000 modems, 4,600 eMTAs that passed, 300 whose SET failed at H-MTA-19, 99 still
running, one eMTA provisioned for real by the simulator), viewed in headless
Chromium (Debian's, /usr/bin/chromium) through playwright.

    PYTHONPATH=. python bench/screenshots.py             # docs/img/dashboard-*.png
    PYTHONPATH=. python bench/screenshots.py --runs 9 --no-images   # load time only
    PYTHONPATH=. python bench/screenshots.py --sip-phone  # docs/img/dashboard-sip-phone.png only

The SIP phone's page is taken from tests/test_dashboard_phones.py's back office: SIP on, a
simulated phone subscribed and holding its profile.

The load time is DOMContentLoaded to the device table rendered (the page's own
``pktcable:table-rendered`` performance mark), on reloads of the front page with
the token in the tab (the first load warms the server and the browser cache).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.dashboard_util import Storm, launch_chromium

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
LOAD_TIME = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return performance.getEntriesByName('pktcable:table-rendered')[0].startTime - nav.domContentLoadedEventStart; }"""


def signed_in(browser: Any, storm: Storm, width: int, height: int, token: str) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
    page.set_default_timeout(60_000)
    page.goto(storm.base + "/")
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#rows tr[data-mac]")
    return page


def load_times(browser: Any, storm: Storm, runs: int) -> list[float]:
    page = signed_in(browser, storm, 1280, 900, storm.reader)
    times = []
    for _ in range(runs):
        page.reload()
        page.wait_for_selector("#rows tr[data-mac]")
        times.append(float(page.evaluate(LOAD_TIME)))
    page.close()
    return times


def screenshots(browser: Any, storm: Storm) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    page = signed_in(browser, storm, 1280, 800, storm.operator)
    page.screenshot(path=IMG / "dashboard-front.png")
    page.locator("#summary li.outcome-fail a").first.click()
    page.wait_for_selector("#rows tr.failing")
    page.screenshot(path=IMG / "dashboard-failing.png")
    page.locator("#rows tr[data-mac] a.mac").first.click()
    page.wait_for_selector("#timeline li.failed-here")
    page.screenshot(path=IMG / "dashboard-device.png", full_page=True)
    page.goto(f"{storm.base}/#/device/{storm.live}")
    page.wait_for_selector("pre.file-text")
    page.screenshot(path=IMG / "dashboard-device-file.png", full_page=True)
    page.close()
    phone = signed_in(browser, storm, 390, 844, storm.operator)
    phone.locator("#summary li.outcome-fail a").first.click()
    phone.wait_for_selector("#rows tr.failing")
    phone.screenshot(path=IMG / "dashboard-phone.png")
    phone.close()


def sip_phone(browser: Any) -> None:
    from tests.test_dashboard_phones import LIVE, PhoneOffice

    office = PhoneOffice()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
        page.set_default_timeout(60_000)
        page.goto(f"{office.base}/#/device/{LIVE}")
        page.fill("#token", office.operator)
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("#phone")
        page.screenshot(path=IMG / "dashboard-sip-phone.png", full_page=True)
        page.close()
    finally:
        office.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="page loads to time (median reported)")
    parser.add_argument("--no-images", action="store_true", help="time the page only")
    parser.add_argument("--sip-phone", action="store_true", help="the SIP phone's page only")
    args = parser.parse_args()
    if args.sip_phone:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            sip_phone(browser)
            browser.close()
        print(f"screenshot in {IMG / 'dashboard-sip-phone.png'}")
        return
    storm = Storm()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            if not args.no_images:
                screenshots(browser, storm)
                print(f"screenshots in {IMG}")
            times = load_times(browser, storm, args.runs)
            browser.close()
        print(f"front page, DOMContentLoaded to table rendered ({len(times)} reloads, 10,000 devices): "
              f"median {statistics.median(times):.0f} ms, min {min(times):.0f}, max {max(times):.0f}")
    finally:
        storm.close()


if __name__ == "__main__":
    main()
