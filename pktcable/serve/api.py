"""The operator's side of `pktcable serve`: a REST API over the device store,
Prometheus metrics, and the dashboard, on their own address and port
(the management network, not the devices' one).

    GET    /api/devices                 every device: MAC, kind, flow, address, state, outcome
    GET    /api/devices/{mac}           one device with its step history
    PUT    /api/devices/{mac}           create or change: {"kind", "flow", "template", "vars"}
    DELETE /api/devices/{mac}
    POST   /api/devices/{mac}/reset     SET pktcMtaDevResetNow on the eMTA, at its leased address
    GET    /metrics                     counters in the Prometheus text format
    GET    /, /static/...               the dashboard (serve/dashboard.py)

The API reaches the back office only through :class:`~pktcable.serve.office.Office`.

Request bodies are JSON of at most ``BODY_LIMIT`` bytes (413 beyond), nested
at most ``JSON_DEPTH_LIMIT`` deep, with finite numbers only (NaN, Infinity or
1e999 would not survive a round trip through the store and the templates);
anything else is a 400 that says why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from aiohttp import web

from pktcable.flow import SERVER_TABLES
from pktcable.store.devices import Device, normalize_mac

from .dashboard import add_dashboard
from .office import Family, NoCurrentLease, Office

KINDS = ("cm", "mta")
#: The flows an MTA may be given: those the server has a table for.
FLOWS = tuple(flow.value for flow in SERVER_TABLES)
_OFFICE: web.AppKey[Office] = web.AppKey("office")
BODY_LIMIT = 256 * 1024  # bytes of a request body: a device's vars are a few hundred
JSON_DEPTH_LIMIT = 32  # arrays/objects inside each other


class BadBody(ValueError):
    """A request body the API does not take; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise BadBody(f"{name} is not a number the API takes: numbers must be finite")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadBody(f"{text} is not a number the API takes: numbers must be finite")
    return value


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > JSON_DEPTH_LIMIT:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_body(body: bytes) -> Any:
    """A request body as JSON, strictly: UTF-8, finite numbers, bounded depth."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite)
    except BadBody:
        raise
    except RecursionError:
        raise BadBody(f"JSON nested deeper than {JSON_DEPTH_LIMIT} levels") from None
    except ValueError as exc:  # syntax, encoding, integers past Python's digit limit
        raise BadBody(f"the body is not JSON: {exc}") from None
    if _depth(value) > JSON_DEPTH_LIMIT:
        raise BadBody(f"JSON nested deeper than {JSON_DEPTH_LIMIT} levels")
    return value


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _mac(request: web.Request) -> str:
    try:
        return normalize_mac(request.match_info["mac"])
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": str(exc)}), content_type="application/json") from None


def _public(device: Device) -> dict[str, Any]:
    return asdict(device)


async def list_devices(request: web.Request) -> web.Response:
    office = request.app[_OFFICE]
    return web.json_response([_public(d) for d in office.list_devices()])


async def get_device(request: web.Request) -> web.Response:
    office = request.app[_OFFICE]
    mac = _mac(request)
    device = office.get_device(mac)
    if device is None:
        return _error(404, f"no device {mac}")
    history = [{"at": s.at, "step": s.step, "event": s.event, "detail": s.detail} for s in office.device_history(mac)]
    return web.json_response({**_public(device), "history": history})


async def put_device(request: web.Request) -> web.Response:
    office = request.app[_OFFICE]
    mac = _mac(request)
    try:
        body = parse_body(await request.read())
    except BadBody as exc:
        return _error(400, str(exc))
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    unknown = sorted(set(body) - {"kind", "flow", "template", "vars"})
    if unknown:
        return _error(400, f"unknown fields: {', '.join(unknown)}")
    device = office.get_device(mac) or Device(mac)
    kind = body.get("kind", device.kind)
    flow = str(body.get("flow", device.flow)).upper()
    if kind not in KINDS:
        return _error(400, f"kind must be one of {', '.join(KINDS)}")
    if kind == "mta" and flow not in FLOWS:
        return _error(400, f"flow must be one of {', '.join(FLOWS)}")
    variables = body.get("vars", device.vars)
    if not isinstance(variables, dict):
        return _error(400, "vars must be an object")
    template = body.get("template", device.template)
    if not isinstance(template, str):
        return _error(400, "template must be a string")
    device.kind, device.flow, device.vars, device.template = kind, flow, variables, template
    office.save_device(device)
    return web.json_response(_public(device))


async def delete_device(request: web.Request) -> web.Response:
    office = request.app[_OFFICE]
    mac = _mac(request)
    if not office.forget(mac):
        return _error(404, f"no device {mac}")
    return web.Response(status=204)


async def reset_device(request: web.Request) -> web.Response:
    office = request.app[_OFFICE]
    mac = _mac(request)
    if office.get_device(mac) is None:
        return _error(404, f"no device {mac}")
    try:
        ok = await office.reset_device(mac)  # to the address leased to it now, never the store's last one
    except NoCurrentLease:
        return _error(404, f"no device {mac} with a current DHCP lease")
    return web.json_response({"mac": mac, "acknowledged": ok}, status=200 if ok else 504)


def render_metrics(families: Sequence[Family]) -> str:
    """A metrics snapshot in the Prometheus text exposition format."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP pktcable_{family.name} {family.help}")
        lines.append(f"# TYPE pktcable_{family.name} {family.kind}")
        for labels, value in family.samples:
            tag = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(f"pktcable_{family.name}{{{tag}}} {value:g}" if tag else f"pktcable_{family.name} {value:g}")
    return "\n".join(lines) + "\n"


def metrics_text(office: Office) -> str:
    """Counters of every service, in the Prometheus text exposition format."""
    return render_metrics(office.metrics())


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=metrics_text(request.app[_OFFICE]), content_type="text/plain", charset="utf-8")


def make_api(office: Office) -> web.Application:
    app = web.Application(client_max_size=BODY_LIMIT)
    app[_OFFICE] = office
    add_dashboard(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/devices", list_devices)
    app.router.add_get("/api/devices/{mac}", get_device)
    app.router.add_put("/api/devices/{mac}", put_device)
    app.router.add_delete("/api/devices/{mac}", delete_device)
    app.router.add_post("/api/devices/{mac}/reset", reset_device)
    return app
