"""The operator's side of `pktcable serve`: the REST API over the device store
(``/api/v1``, its OpenAPI document at ``/api/v1/openapi.json``), Prometheus
metrics and the dashboard, on their own address and port (the management
network, not the devices' one). docs/serve.md lists the routes.

Every request passes the gate of :mod:`.apiauth` (host, origin, token, role,
body type); every error is a problem document (:mod:`.problems`). The API
reaches the back office only through :class:`~pktcable.serve.office.Office`,
and tokens and the audit log through the :class:`~pktcable.store.admin.AdminStore`.

Request bodies are JSON of at most ``BODY_LIMIT`` bytes (413 beyond), nested
at most ``JSON_DEPTH_LIMIT`` deep, with finite numbers only (NaN, Infinity or
1e999 would not survive a round trip through the store and the templates);
anything else is a 400 that says why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest

from pktcable.store.admin import AdminStore
from pktcable.store.devices import normalize_mac

from .apiauth import IDENTITY, Access, gate
from .dashboard import add_dashboard
from .office import Office
from .problems import Problem, bad_request, problems

_OFFICE: web.AppKey[Office] = web.AppKey("office")
_ADMIN: web.AppKey[AdminStore] = web.AppKey("admin")
_ACCESS: web.AppKey[Access] = web.AppKey("access")
BODY_LIMIT = 256 * 1024  # bytes of a request body: a device's vars are a few hundred
JSON_DEPTH_LIMIT = 32  # arrays/objects inside each other
PREFIX = "/api/v1"


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


async def json_object(request: web.Request, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, Any]:
    """The request's body: a JSON object with only ``allowed`` keys and every ``required`` one."""
    try:
        body = parse_body(await request.read())
    except BadBody as exc:
        raise bad_request(str(exc)) from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad_request(f"unknown fields: {', '.join(unknown)}")
    missing = [k for k in required if k not in body]
    if missing:
        raise bad_request(f"missing fields: {', '.join(missing)}")
    return body


def office_of(request: web.Request) -> Office:
    return request.app[_OFFICE]


def mac_of(request: web.Request) -> str:
    try:
        return normalize_mac(request.match_info["mac"])
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def audit(request: web.Request, action: str, target: str, before: Any, after: Any) -> None:
    """One audit entry for this request's token and source, durably before the answer."""
    who = request[IDENTITY]
    request.app[_ADMIN].audit(who.name, who.role, action, target, before, after, request.remote or "")


def admin_of(request: web.Request) -> AdminStore:
    return request.app[_ADMIN]


def metrics_text(office: Office) -> str:
    """The back office's metrics in the Prometheus text exposition format."""
    return generate_latest(office.metrics()).decode("utf-8")


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=metrics_text(request.app[_OFFICE]), content_type="text/plain", charset="utf-8")


def make_api(office: Office, access: Access) -> web.Application:
    from . import apidevices, apifirmware, apipush, apirules, apiviews

    app = web.Application(client_max_size=BODY_LIMIT, middlewares=[problems, gate(access)])
    app[_OFFICE] = office
    app[_ADMIN] = access.admin
    add_dashboard(app)
    app.router.add_get("/metrics", metrics)
    apidevices.add_routes(app.router, PREFIX)
    apiviews.add_routes(app.router, PREFIX)
    apifirmware.add_routes(app.router, PREFIX)
    apirules.add_routes(app.router, PREFIX)
    apipush.add_routes(app, PREFIX)
    return app


__all__ = ["BODY_LIMIT", "PREFIX", "Problem", "make_api", "metrics_text", "parse_body"]
