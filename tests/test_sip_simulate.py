"""Simulated SIP phones (pktcable/simulate/phone.py) against ``pktcable serve``: enrollment of
many phones, an API edit pushed to every one of them, a wrong password ending in FAILED_AUTH,
expiry and re-subscription."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pktcable.serve.api import metrics_text
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check
from pktcable.simulate.phone import PhoneConfig, phone_mac
from pktcable.simulate.phonefleet import PhoneFleet
from pktcable.simulate.report import summarize
from pktcable.sip.notifier import Policy

from .apiclient import serving
from .ports import free_port
from .promtext import value as metric
from .test_e2e import configs, free_tcp_port

BUDGET = 30.0
VARS: dict[str, Any] = {"registrar": "sip.example.net", "lines": [{"user": "3001", "password": "pw"}]}


def _serve(count: int, variables: dict[str, Any] | None = None, **settings: Any) -> ServeConfig:
    devices = [{"mac": phone_mac(n), "kind": "sip", "template": "generic", "vars": variables or VARS}
               for n in range(count)]
    # Every listener on a free port (configs), so runs beside other servers on the machine do not collide.
    cfg, _ = configs(["HYBRID.2"], auto_enroll=False)
    cfg.api_port, cfg.http_port, cfg.sip_port, cfg.devices = free_tcp_port(), free_tcp_port(), free_port(), devices
    for name, value in settings.items():
        setattr(cfg, name, value)
    return check(cfg)


def _run(cfg: ServeConfig, scenario: Callable[[Backoffice], Awaitable[None]]) -> None:
    async def main() -> None:
        office = Backoffice(cfg)
        await office.start()
        try:
            await asyncio.wait_for(scenario(office), 3 * BUDGET)
        finally:
            await office.close()

    asyncio.run(main())


def test_twenty_phones_enroll_and_every_one_fetches_an_api_edit() -> None:
    cfg = _serve(20)

    async def scenario(office: Backoffice) -> None:
        from pktcable.serve.officeview import OfficeView

        async with PhoneFleet(PhoneConfig("127.0.0.1", cfg.sip_port), 20) as fleet:
            elapsed = await fleet.enroll()
            summary = summarize(fleet.results, elapsed)
            assert summary["passed"] == 20, summary["failures"]
            assert {"UA-1 SUBSCRIBE_SENT", "UA-2 WAIT_NOTIFY", "UA-3 FETCH_PROFILE", "UA-4 VALIDATE"} \
                <= set(summary["steps"]), summary["steps"]
            assert summary["deviations"] == []
            assert all(len(p.versions) == 1 for p in fleet.phones)
            since = asyncio.get_running_loop().time()
            async with serving(OfficeView(office), office.admin) as (call, _):
                for n in range(20):
                    status, _ = await call("PUT", f"/api/v1/devices/{phone_mac(n)}",
                                           json={"vars": {**VARS, "codecs": ["G722"]}})
                    assert status == 200
            took = await fleet.propagation(since, BUDGET)
            assert None not in took, took
            assert all(p.result.state == "SUBSCRIBED" for p in fleet.phones)
            steps = {step for p in fleet.phones for step, _, _ in p.result.steps}
            assert "UA-6" in steps  # the conditional GET of the update

    _run(cfg, scenario)


def test_digest_right_password_passes_and_a_wrong_one_is_failed_auth() -> None:
    cfg = _serve(2, {**VARS, "sip_password": "s3cret"})

    async def scenario(office: Backoffice) -> None:
        good = PhoneConfig("127.0.0.1", cfg.sip_port, password="s3cret")
        async with PhoneFleet(good, 1) as fleet:
            await fleet.enroll()
            [result] = fleet.results
            assert result.state == "SUBSCRIBED", result
        for password in ("wrong", None):
            bad = PhoneConfig("127.0.0.1", cfg.sip_port, password=password)
            async with PhoneFleet(bad, 1, first=1) as fleet:
                await fleet.enroll()
                [result] = fleet.results
                assert result.state == "FAILED_AUTH" and not result.passed, result
                assert any(d.step == "UA-1" for d in result.deviations)

    _run(cfg, scenario)


def _flood(port: int, stop: threading.Event, sent: list[int]) -> None:
    """Malformed SIP from another host, as fast as one thread goes: garbage, a truncated request,
    a header past the limits, requests that parse but must be refused."""
    junk = [
        os.urandom(200),
        b"SUBSCRIBE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP",
        b"SUBSCRIBE sip:x@127.0.0.1 SIP/2.0\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
        b"NOTIFY sip:x SIP/2.0\r\nCSeq: banana\r\n\r\n",
        (b"SUBSCRIBE sip:MAC%3a02a0deadbeef@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:9;branch=z9hG4bKx\r\n"
         b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 SUBSCRIBE\r\nMax-Forwards: 70\r\n"
         b"Event: ua-profile;profile-type=device\r\nContent-Length: 0\r\n\r\n"),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        n = 0
        while not stop.is_set():
            try:
                sock.sendto(junk[n % len(junk)][:65_000], ("127.0.0.1", port))
            except OSError:
                pass
            n += 1
            if n % 20 == 0:
                # Some thousands a second: this thread shares the interpreter with the server and the
                # phones it attacks, and the machine with other work; a faster flood measures the GIL.
                time.sleep(0.005)
        sent.append(n)


def test_two_hundred_phones_all_enroll_through_a_malformed_sip_flood() -> None:
    cfg = _serve(200)

    async def scenario(office: Backoffice) -> None:
        stop, sent = threading.Event(), []
        flooder = threading.Thread(target=_flood, args=(cfg.sip_port, stop, sent), daemon=True)
        flooder.start()
        try:
            async with PhoneFleet(PhoneConfig("127.0.0.1", cfg.sip_port), 200) as fleet:
                elapsed = await fleet.enroll()
                summary = summarize(fleet.results, elapsed)
        finally:
            stop.set()
            await asyncio.to_thread(flooder.join, BUDGET)
        assert summary["passed"] == 200, summary["failures"][:5]
        assert office.sip is not None and office.sip.server is not None
        transport = office.sip.server.driver.transport
        assert transport is not None
        counters = transport.counters
        assert sent and sent[0] > 1000, sent
        # The flood reached the server and was turned away there (malformed, or over its rate).
        # How much of it the server read depends on how long the enrollment took and what the
        # kernel dropped on a loaded machine (CI saw 446 of more than 1,000 read): hundreds, not all.
        assert counters["malformed"] + counters["rate-limited"] > 200, counters

    _run(cfg, scenario)


def test_phones_enroll_over_tcp() -> None:
    cfg = _serve(5, sip_transport="tcp")

    async def scenario(office: Backoffice) -> None:
        async with PhoneFleet(PhoneConfig("127.0.0.1", cfg.sip_port, transport="tcp"), 5) as fleet:
            await fleet.enroll()
            assert [r.state for r in fleet.results] == ["SUBSCRIBED"] * 5, [r.deviations for r in fleet.results]

    _run(cfg, scenario)


@pytest.mark.parametrize("password", [None, "s3cret"])
def test_a_phone_whose_subscription_expires_subscribes_again_and_a_refreshing_one_stays(password: str | None) -> None:
    # With a password every SUBSCRIBE, refreshes too, is challenged and answered.
    cfg = _serve(2, {**VARS, "sip_password": password} if password else None)

    async def scenario(office: Backoffice) -> None:
        assert office.sip is not None and office.sip.server is not None and office.sip.server.core is not None
        # serve's floor is 60 s (RFC 6665's example); a 3 s floor keeps the test short (the refresh
        # goes at half the grant: 1.5 s of margin on a loaded machine, three UDP retransmissions).
        office.sip.server.core.notifier.policy = Policy(min_expires=3)
        lapsing = PhoneConfig("127.0.0.1", cfg.sip_port, expires=3, refresh=False, password=password)
        refreshing = PhoneConfig("127.0.0.1", cfg.sip_port, expires=3, password=password)
        async with PhoneFleet(lapsing, 1) as lapse, PhoneFleet(refreshing, 1, first=1) as keep:
            await lapse.enroll()
            await keep.enroll()
            [phone], [kept] = lapse.phones, keep.phones
            first, kept_first = phone.sub, kept.sub
            loop = asyncio.get_running_loop()
            deadline = loop.time() + BUDGET
            while not (phone.sub is not first and phone.result.state == "SUBSCRIBED" and len(phone.versions) > 1):
                assert loop.time() < deadline, phone.result
                await asyncio.sleep(0.1)
            await asyncio.sleep(3.5)  # more than the refreshing phone's whole grant
            assert kept.sub is kept_first and kept.result.state == "SUBSCRIBED"
        ends = [e.event for e in office.devices.history(phone_mac(0))]
        assert "Expired" in ends and ends.count("Subscribed") >= 2, ends
        assert "Refreshed" in [e.event for e in office.devices.history(phone_mac(1))]

    _run(cfg, scenario)


def test_the_simulate_command_plays_sip_phones_and_reports_each_step() -> None:
    cfg = _serve(5)

    async def scenario(office: Backoffice) -> None:
        from pktcable.serve.officeview import OfficeView

        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1", "--flow", "sip", "--sip-port",
            str(cfg.sip_port), "--count", "5", "--hold", "6", "--json", "--quiet", stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        # While the phones are held (subscribed), an API edit of each: the report counts the updates.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUDGET
        while not all(any(e.event == "Notified" for e in office.devices.history(phone_mac(n))) for n in range(5)):
            assert loop.time() < deadline
            await asyncio.sleep(0.1)
        async with serving(OfficeView(office), office.admin) as (call, _):
            for n in range(5):
                status, _ = await call("PUT", f"/api/v1/devices/{phone_mac(n)}", json={"vars": {**VARS, "features": {"dnd": True}}})
                assert status == 200
        out, _ = await asyncio.wait_for(cli.communicate(), BUDGET)
        assert cli.returncode == 0, out.decode()
        report = json.loads(out)
        assert report["flow"] == "SIP" and report["passed"] == 5
        assert {"UA-1 SUBSCRIBE_SENT", "UA-3 FETCH_PROFILE", "UA-4 VALIDATE", "UA-6 FETCH_UPDATE"} \
            <= set(report["steps"]), report["steps"]
        assert report["updates"]["phones"] == 5, report["updates"]

    _run(cfg, scenario)


def test_a_phone_whose_subscription_the_server_lost_takes_the_change_from_check_sync() -> None:
    # A push NOTIFY that times out ends the subscription (RFC 6665 §4.2.2); the retry is a
    # check-sync, and the phone takes it as phones do: it subscribes afresh and fetches.
    cfg = _serve(1)

    async def scenario(office: Backoffice) -> None:
        from pktcable.serve.officeview import OfficeView

        assert office.sip is not None and office.sip.server is not None and office.sip.server.core is not None
        core = office.sip.server.core
        async with PhoneFleet(PhoneConfig("127.0.0.1", cfg.sip_port), 1) as fleet:
            await fleet.enroll()
            [phone] = fleet.phones
            mac = phone_mac(0)
            state = core.phones[mac]
            assert state.subscription is not None
            core.notifier.subscriptions.pop(state.subscription)  # as a timed-out NOTIFY leaves it
            core._drop(state.subscription, mac)
            since = asyncio.get_running_loop().time()
            async with serving(OfficeView(office), office.admin) as (call, _):
                status, _ = await call("PUT", f"/api/v1/devices/{mac}", json={"vars": {**VARS, "codecs": ["G722"]}})
                assert status == 200
            took = await fleet.propagation(since, BUDGET)
            assert None not in took, phone.result
            assert phone.counters["check-sync"] == 1 and phone.result.state == "SUBSCRIBED"
            assert core.counters["push-check-sync"] == 1 and core.counters["push-delivered"] == 1
            assert core.counters["push-fetched"] == 1 and core.pushes_in_flight == 0  # the HTTP GET ended it
            text = metrics_text(office)
            assert metric(text, "pktcable_sip_pushes_total", outcome="check-sync") == 1
            assert metric(text, "pktcable_sip_pushes_total", outcome="unreachable") == 0
            assert metric(text, "pktcable_sip_pushes_in_flight") == 0
        assert "Subscribed" in [e.event for e in office.devices.history(mac)][-4:]

    _run(cfg, scenario)
