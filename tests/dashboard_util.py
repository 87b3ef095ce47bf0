"""Helpers of the dashboard's browser tests and bench/screenshots.py: a storm's
worth of devices written straight into a store, a server run on its own event
loop in a thread (so a synchronous browser driver can talk to it), and
Debian's Chromium under playwright."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pktcable.flow import Flow
from pktcable.serve.app import Backoffice
from pktcable.simulate.runner import simulate
from pktcable.store.devices import Device, DeviceStore, Step

from .test_e2e import configs, free_tcp_port

CHROMIUM = "/usr/bin/chromium"
XSS = "<img src=x onerror=window.__pwned=1>"

#: A Hybrid.2 run that passed, and one whose SET of the file location failed.
PASSED = [("MTA-4", "LeaseAcked", "{ip}"), ("H-MTA-15", "EnrollmentReceived", "correlation id 7"),
          ("H-MTA-18", "ConfigBuilt", "412 bytes, sha1 4b1d0c5e"),
          ("H-MTA-19", "LocationSetAcked", "tftp://10.0.0.1/mta-{mac}.cfg"),
          ("H-MTA-23", "FileServed", "mta-{mac}.cfg"), ("H-MTA-25", "StatusReceived", "1")]
FAILED_SET = PASSED[:3] + [("H-MTA-19", "LocationSetUnanswered", "no response to the SET"),
                           ("H-MTA-19", "LocationSetFailed", "no response to the SET")]


def storm_mac(kind: str, n: int) -> str:
    return f"{'0a' if kind == 'cm' else '0b'}00{n:08x}"


def fill_storm(store: DeviceStore, now: float, cms: int = 5000, passed: int = 4600, failed: int = 300,
               pending: int = 99, xss: bool = True) -> list[str]:
    """A boot storm's aftermath: healthy modems and eMTAs, ``failed`` eMTAs
    whose SET failed at H-MTA-19, a few still running; with ``xss`` one eMTA
    whose values carry markup. Returns the failing eMTAs' MACs."""
    failing: list[str] = []
    for n in range(cms):
        mac, ip = storm_mac("cm", n), f"10.0.{n // 250}.{n % 250 + 2}"
        store.put(Device(mac, kind="cm", flow="", template="cm.txt", ip=ip, state="CONFIG_SERVED", result=1,
                         updated=now - 599 + n * 0.01))
        store.record(Step(mac, now - 600 + n * 0.01, "CM-4", "LeaseAcked", ip))
        store.record(Step(mac, now - 599 + n * 0.01, "CM-5/6", "FileServed", f"cm-{mac}.cfg"))
    plan = [("DONE", 1, PASSED)] * passed + [("FAILED_SET", 7, FAILED_SET)] * failed + \
        [("LOCATION_SET", None, PASSED[:4])] * pending
    for n, (state, result, steps) in enumerate(plan):
        mac, ip = storm_mac("mta", n), f"10.1.{n // 250}.{n % 250 + 2}"
        start = now - 500 + n * 0.02
        for i, (label, event, detail) in enumerate(steps):
            store.record(Step(mac, start + i * 0.7, label, event, detail.format(ip=ip, mac=mac)))
        store.put(Device(mac, kind="mta", cm_mac=storm_mac("cm", n % max(cms, 1)), flow="HYBRID.2",
                         template="mta.txt", vars={"lines": 1}, ip=ip, state=state,
                         result=result if state != "DONE" else 1, updated=start + len(steps) * 0.7))
        if state == "FAILED_SET":
            failing.append(mac)
    if xss:
        mac = storm_mac("mta", len(plan))
        store.put(Device(mac, kind="mta", flow="HYBRID.2", template=XSS, vars={"name": XSS}, ip="10.9.0.9",
                         state="DONE", result=1, updated=now - 5))
        store.record(Step(mac, now - 6, "H-MTA-25", "StatusReceived", XSS))
    store.commit()
    return failing


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[Any], timeout: float = 60.0) -> Any:
        async def wrap() -> Any:
            return await coro
        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def call(self, fn: Callable[[], Any], timeout: float = 60.0) -> Any:
        """``fn()`` on the loop's thread (the store and the servers are not thread-safe)."""
        async def wrap() -> Any:
            return fn()
        return self.run(wrap(), timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Storm:
    """A real back office (its API on a free loopback port) with 10,000 devices
    written straight into its store, and a token for each role."""

    def __init__(self) -> None:
        cfg, sim = configs(["HYBRID.2"])
        cfg.api_port = free_tcp_port()
        self.loop = LoopThread()
        self.office = Backoffice(cfg)
        self.store = self.office.devices
        self.now = time.time()
        self.failing = fill_storm(self.store, self.now)
        self.operator = self.office.admin.create("alice", "operator")
        self.reader = self.office.admin.create("bob", "read")
        self.loop.run(self.office.start())
        self.base = f"http://127.0.0.1:{cfg.api_port}"
        # One eMTA provisioned for real: a lease, a whole history, the file it was served.
        results, _ = self.loop.run(simulate(sim, Flow.HYBRID_2, 1), timeout=120)
        assert results[0].passed
        self.live = results[0].mta_mac

    def close(self) -> None:
        self.loop.run(self.office.close())
        self.loop.close()


def launch_chromium(playwright: Any) -> Any:
    # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
