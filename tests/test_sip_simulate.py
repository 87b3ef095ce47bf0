"""Simulated SIP phones (pktcable/simulate/phone.py) against ``pktcable serve``: enrollment of
many phones, an API edit pushed to every one of them, a wrong password ending in FAILED_AUTH,
expiry and re-subscription."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check
from pktcable.simulate.phone import PhoneConfig, phone_mac
from pktcable.simulate.phonefleet import PhoneFleet
from pktcable.simulate.report import summarize

from .apiclient import serving
from .ports import free_port
from .test_e2e import free_tcp_port

BUDGET = 30.0
VARS: dict[str, Any] = {"registrar": "sip.example.net", "lines": [{"user": "3001", "password": "pw"}]}


def _serve(count: int, variables: dict[str, Any] | None = None, **settings: Any) -> ServeConfig:
    devices = [{"mac": phone_mac(n), "kind": "sip", "template": "generic", "vars": variables or VARS}
               for n in range(count)]
    return check(ServeConfig(cm_key="k", api_port=free_tcp_port(), http_port=free_tcp_port(), sip_port=free_port(),
                             devices=devices, **settings))


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
