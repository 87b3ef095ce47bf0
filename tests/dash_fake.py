"""A stand-in for the /api/v1 JSON routes of the contract, over a device store,
for developing the dashboard before the real routes exist. Test-only."""

from __future__ import annotations

import base64
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from pktcable.serve.dashboard import add_dashboard
from pktcable.store.devices import DeviceStore

FAIL_STATES = {"FAILED_BUILD", "FAILED_SET", "TIMED_OUT"}


def outcome(state: str, result: int | None) -> str:
    if not state:
        return "new"
    if state in FAIL_STATES or (state == "DONE" and result not in (1, 4, 5)):
        return "fail"
    return "pass" if state in ("DONE", "FILE_DELIVERED") else "pending"


class FakeApi:
    def __init__(self, store: DeviceStore, tokens: dict[str, tuple[str, str]]) -> None:
        self.store, self.tokens = store, tokens
        self.resets: list[str] = []

    def item(self, mac: str) -> dict[str, Any]:
        device = self.store.get(mac)
        assert device is not None
        out = asdict(device)
        out["outcome"] = outcome(device.state, device.result)
        history = self.store.history(mac)
        out["failed_step"] = history[-1].step if out["outcome"] == "fail" and history else None
        return out

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.auth])
        add_dashboard(app)
        r = app.router
        r.add_get("/api/v1/whoami", self.whoami)
        r.add_get("/api/v1/summary", self.summary)
        r.add_get("/api/v1/devices", self.devices)
        r.add_get("/api/v1/devices/{mac}", self.device)
        r.add_post("/api/v1/devices/{mac}/reset", self.reset)
        r.add_post("/api/v1/devices/{mac}/reprovision", self.reset)
        return app

    @web.middleware
    async def auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            who = self.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
            if who is None:
                return web.json_response({"type": "about:blank", "title": "Unauthorized", "status": 401,
                                          "detail": "no valid token", "code": "unauthorized"}, status=401,
                                         content_type="application/problem+json")
            if request.method == "POST" and who[1] != "operator":
                return web.json_response({"title": "Forbidden", "status": 403, "detail": "read role",
                                          "code": "forbidden"}, status=403, content_type="application/problem+json")
        return await handler(request)

    async def whoami(self, request: web.Request) -> web.Response:
        name, role = self.tokens[request.headers["Authorization"].removeprefix("Bearer ")]
        return web.json_response({"name": name, "role": role})

    async def summary(self, request: web.Request) -> web.Response:
        counts: dict[tuple[str, str], list[Any]] = {}
        for device in self.store.devices():
            item = self.item(device.mac)
            entry = counts.setdefault((device.kind, device.state), [0, item["outcome"], item["failed_step"]])
            entry[0] += 1
        states = [{"kind": k, "state": s, "count": n, "outcome": o, "failed_step": f}
                  for (k, s), (n, o, f) in counts.items()]
        states.sort(key=lambda e: (e["outcome"] != "fail", -e["count"]))
        return web.json_response({"total": sum(e["count"] for e in states), "generated": time.time(),
                                  "states": states})

    async def devices(self, request: web.Request) -> web.Response:
        q = request.query
        items = [self.item(d.mac) for d in self.store.devices()]
        for key in ("kind", "flow", "outcome", "failed_step"):
            if key in q:
                items = [i for i in items if i[key] == q[key]]
        if q.getall("state", []):
            items = [i for i in items if i["state"] in q.getall("state")]
        if "updated_since" in q:
            items = [i for i in items if i["updated"] > float(q["updated_since"])]
        if "q" in q:
            text = q["q"].lower()
            items = [i for i in items if text in i["mac"] or text in i["ip"] or text in i["state"].lower()]
        sort = q.get("sort", "mac")
        items.sort(key=lambda i: (i[sort.lstrip("-")], i["mac"]), reverse=sort.startswith("-"))
        limit = int(q.get("limit", "100"))
        start = int(base64.urlsafe_b64decode(q["cursor"])) if "cursor" in q else 0
        page = items[start:start + limit]
        more = start + limit < len(items)
        cursor = base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None
        return web.json_response({"items": page, "next": cursor, "total": len(items)})

    async def device(self, request: web.Request) -> web.Response:
        mac = request.match_info["mac"]
        if self.store.get(mac) is None:
            return web.json_response({"title": "Not Found", "status": 404, "detail": f"no device {mac}",
                                      "code": "not-found"}, status=404, content_type="application/problem+json")
        history = [{"at": s.at, "step": s.step, "event": s.event, "detail": s.detail} for s in self.store.history(mac)]
        return web.json_response({**self.item(mac), "history": history, "lease": None, "files": []})

    async def reset(self, request: web.Request) -> web.Response:
        self.resets.append(request.match_info["mac"])
        return web.json_response({"mac": request.match_info["mac"], "acknowledged": True})
