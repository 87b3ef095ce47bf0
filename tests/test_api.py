"""The operators' REST API, metrics and dashboard of `pktcable serve`."""

from __future__ import annotations

import ast
import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from pktcable.delivery.http import listen
from pktcable.flow import Flow
from pktcable.serve import api
from pktcable.serve.app import Backoffice
from pktcable.serve.office import Family, NoCurrentLease, Office
from pktcable.simulate.runner import simulate
from pktcable.store.devices import Device, Step

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

                status, page = await call("GET", "/")  # the dashboard's page: no data in it
                assert status == 200 and "/static/app.js" in page and results[0].mta_mac not in page

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


class FakeOffice:
    """Only the methods of serve.office.Office, and slots, so that any other
    attribute the API reached for would fail the request (a 500) and the test."""

    __slots__ = ("rows", "steps", "saved", "resets", "answers", "families")

    def __init__(self) -> None:
        self.rows: dict[str, Device] = {}
        self.steps: dict[str, list[Step]] = {}
        self.saved: list[Device] = []
        self.resets: list[str] = []
        #: What each MAC's reset does: True/False acknowledged, None no lease.
        self.answers: dict[str, bool | None] = {}
        self.families: list[Family] = []

    def list_devices(self) -> Iterable[Device]:
        return list(self.rows.values())

    def get_device(self, mac: str) -> Device | None:
        return self.rows.get(mac)

    def device_history(self, mac: str) -> Sequence[Step]:
        return self.steps.get(mac, [])

    def save_device(self, device: Device) -> None:
        self.saved.append(device)
        self.rows[device.mac] = device

    def forget(self, mac: str) -> bool:
        self.steps.pop(mac, None)
        return self.rows.pop(mac, None) is not None

    async def reset_device(self, mac: str) -> bool:
        self.resets.append(mac)
        answer = self.answers.get(mac)
        if answer is None:
            raise NoCurrentLease(f"no lease for {mac}")
        return answer

    def metrics(self) -> Sequence[Family]:
        return self.families


async def _serving(office: FakeOffice, body: Callable[[Callable[..., Awaitable[tuple[int, Any]]]], Awaitable[None]],
                   ) -> None:
    """make_api(office) on a loopback port, and ``body`` given a call(method, path, **kw) -> (status, body)."""
    runner = web.AppRunner(api.make_api(office), access_log=None)
    await runner.setup()
    server = await listen(runner, "127.0.0.1", 0, 30.0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with aiohttp.ClientSession() as http:
            async def call(method: str, path: str, **kw: Any) -> tuple[int, Any]:
                async with http.request(method, base + path, **kw) as r:
                    return r.status, await r.json() if r.content_type == "application/json" else await r.text()

            await body(call)
    finally:
        server.close()
        await runner.cleanup()


def test_api_serves_every_endpoint_from_an_office_with_only_the_narrow_interface() -> None:
    office = FakeOffice()
    mta = Device("0a0b0c0d0e01", kind="mta", flow="BASIC.1", ip="127.0.0.5", state="<script>x</script>")
    office.rows[mta.mac] = mta
    office.steps[mta.mac] = [Step(mta.mac, 10.0, "MTA-4", "LeaseAcked", "127.0.0.5")]
    office.answers = {mta.mac: False}
    office.families = [Family("x_total", "Things.", "counter", (({"b": "2", "a": "1"}, 3.0), ({}, 1.5))),
                       Family("y", "Now.", "gauge", ())]

    async def body(call: Callable[..., Awaitable[tuple[int, Any]]]) -> None:
        status, devices = await call("GET", "/api/devices")
        assert status == 200 and [d["mac"] for d in devices] == [mta.mac]
        status, one = await call("GET", "/api/devices/0A:0B:0C:0D:0E:01")
        assert status == 200 and one["history"] == [{"at": 10.0, "step": "MTA-4", "event": "LeaseAcked",
                                                     "detail": "127.0.0.5"}]
        assert (await call("GET", "/api/devices/0a0b0c0d0e02"))[0] == 404

        status, made = await call("PUT", "/api/devices/0a0b0c0d0e02", json={"kind": "cm", "vars": {"n": 1}})
        assert status == 200 and made["kind"] == "cm" and [d.mac for d in office.saved] == ["0a0b0c0d0e02"]
        # Hostile bodies stop at the API: nothing reaches the office.
        for bad in (b"[" * 40 + b"]" * 40, b"{\"vars\": {\"x\": NaN}}", b"{\"kind\": \"router\"}", b"\xff"):
            assert (await call("PUT", "/api/devices/0a0b0c0d0e03", data=bad))[0] == 400
        assert len(office.saved) == 1

        # Reset: unknown devices never reach the office; an unleased one is a 404, an unanswered one a 504.
        assert (await call("POST", "/api/devices/0a0b0c0d0e09/reset"))[0] == 404 and office.resets == []
        status, answer = await call("POST", f"/api/devices/{mta.mac}/reset")
        assert (status, answer) == (504, {"mac": mta.mac, "acknowledged": False})
        office.answers[mta.mac] = True
        assert (await call("POST", f"/api/devices/{mta.mac}/reset"))[0] == 200
        status, why = await call("POST", "/api/devices/0a0b0c0d0e02/reset")
        assert status == 404 and "current DHCP lease" in why["error"]
        assert office.resets == [mta.mac, mta.mac, "0a0b0c0d0e02"]

        status, text = await call("GET", "/metrics")
        assert status == 200 and text == ("# HELP pktcable_x_total Things.\n# TYPE pktcable_x_total counter\n"
                                          'pktcable_x_total{a="1",b="2"} 3\npktcable_x_total 1.5\n'
                                          "# HELP pktcable_y Now.\n# TYPE pktcable_y gauge\n")
        status, page = await call("GET", "/")
        assert status == 200 and "&lt;script&gt;" in page and "<script>" not in page

        assert (await call("DELETE", f"/api/devices/{mta.mac}"))[0] == 204
        assert (await call("DELETE", f"/api/devices/{mta.mac}"))[0] == 404
        assert office.list_devices() == [office.rows["0a0b0c0d0e02"]]

    asyncio.run(_serving(office, body))


def test_api_module_names_no_backoffice_internals() -> None:
    """api.py imports the Office interface, never the Backoffice (not even for
    type checking), so nothing inside the back office is reachable from it."""
    tree = ast.parse(Path(api.__file__).read_text(encoding="utf-8"))
    imported = {(node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name in ("app", "pktcable.serve.app") or name.endswith(".app")}
    assert "Backoffice" not in {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "office"}
    interface = {name for name in vars(Office) if not name.startswith("_")}
    assert used and used <= interface, used - interface
