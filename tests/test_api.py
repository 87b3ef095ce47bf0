"""The operators' REST API, metrics and dashboard of `pktcable serve`."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp

from pktcable.flow import Flow
from pktcable.serve.app import Backoffice
from pktcable.simulate.runner import simulate

from .test_e2e import configs


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_metrics_dashboard() -> None:
    cfg, sim = configs(["HYBRID.2"])
    cfg.api_port = free_tcp_port()
    base = f"http://127.0.0.1:{cfg.api_port}"

    async def main() -> None:
        office = Backoffice(cfg)
        await office.start()
        try:
            async with aiohttp.ClientSession() as http:
                async def call(method: str, path: str, **kw: Any) -> tuple[int, Any]:
                    async with http.request(method, base + path, **kw) as r:
                        body = await r.json() if r.content_type == "application/json" else await r.text()
                        return r.status, body

                status, body = await call("PUT", "/api/devices/00:11:22:33:44:55",
                                          json={"kind": "mta", "flow": "basic.1", "vars": {"lines": 1}})
                assert status == 200 and body["flow"] == "BASIC.1" and body["mac"] == "001122334455"
                assert (await call("PUT", "/api/devices/001122334455", json={"flow": "SECURE"}))[0] == 400
                assert (await call("PUT", "/api/devices/001122334455", data=b"{nope"))[0] == 400
                assert (await call("PUT", "/api/devices/zz", json={}))[0] == 400
                assert (await call("PUT", "/api/devices/001122334455", json={"colour": "red"}))[0] == 400

                results, _ = await simulate(sim, Flow.HYBRID_2, 2)
                assert all(r.passed for r in results)
                status, devices = await call("GET", "/api/devices")
                assert status == 200 and {d["mac"] for d in devices} >= {results[0].mta_mac, "001122334455"}
                status, one = await call("GET", f"/api/devices/{results[0].mta_mac}")
                assert status == 200 and one["state"] == "DONE" and one["result"] == 1
                assert [h["event"] for h in one["history"]][-1] == "StatusReceived"

                status, text = await call("GET", "/metrics")
                assert status == 200
                assert 'pktcable_dhcp_packets_total{event="acks"} 4' in text  # 2 CMs + 2 MTAs
                assert 'pktcable_devices{kind="mta",state="DONE"} 2' in text
                assert 'pktcable_tftp_transfers_total{outcome="completed"} 4' in text

                status, page = await call("GET", "/")
                assert status == 200 and results[0].mta_mac in page and "DONE" in page

                # The simulated eMTAs are gone: the reset goes unanswered.
                status, body = await call("POST", f"/api/devices/{results[0].mta_mac}/reset")
                assert status == 504 and body["acknowledged"] is False
                assert (await call("POST", "/api/devices/0a0b0c0d0e0f/reset"))[0] == 404
                assert (await call("DELETE", "/api/devices/001122334455"))[0] == 204
                assert (await call("GET", "/api/devices/001122334455"))[0] == 404
                assert (await call("DELETE", "/api/devices/001122334455"))[0] == 404
        finally:
            await office.close()

    asyncio.run(main())
