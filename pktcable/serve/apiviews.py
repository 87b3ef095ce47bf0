"""``/api/v1``: who am I, templates, leases, settings, the audit log and the
OpenAPI document (``openapi.json`` beside this module)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import json
import time
from importlib import resources
from ipaddress import IPv4Address
from typing import Any

import jinja2
from aiohttp import web

from pktcable.store.leases import Lease

from .api import admin_of, json_object, office_of
from .apiauth import IDENTITY
from .apidevices import known_params, mac_prefix, query_float, query_limit, query_text
from .office import NoSuchTemplate
from .problems import Problem, bad_request, not_found

#: Config templates are a modem's or an eMTA's (a SIP phone's profile layouts are XML: docs/sip.md).
TEMPLATE_KINDS = ("cm", "mta")

TEMPLATE_NAME_MAX = 255


@functools.cache
def openapi_document() -> bytes:
    """The OpenAPI 3.1 document, as shipped in the package."""
    return resources.files("pktcable.serve").joinpath("openapi.json").read_bytes()


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/json")


async def whoami(request: web.Request) -> web.Response:
    who = request[IDENTITY]
    return web.json_response({"name": who.name, "role": who.role})


def _template_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if len(name) > TEMPLATE_NAME_MAX:
        raise bad_request("not a template name")
    return name


async def list_templates(request: web.Request) -> web.Response:
    known_params(request, ())
    return web.json_response([{"name": t.name, "kind": t.kind, "size": t.size}
                              for t in office_of(request).templates()])


async def get_template(request: web.Request) -> web.Response:
    office, name = office_of(request), _template_name(request)
    try:
        text = office.template_text(name)
    except NoSuchTemplate as exc:
        raise not_found(str(exc)) from None
    kind = next((t.kind for t in office.templates() if t.name == name), "cm")
    return web.json_response({"name": name, "kind": kind, "text": text})


async def preview_template(request: web.Request) -> web.Response:
    from pktcable.store.devices import normalize_mac

    office, name = office_of(request), _template_name(request)
    body = await json_object(request, ("mac",), ("mac",))
    try:
        mac = normalize_mac(body["mac"]) if isinstance(body["mac"], str) else ""
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if not mac:
        raise bad_request("mac must be a MAC address")
    try:
        data = office.preview(name, mac)
    except (LookupError, jinja2.TemplateNotFound) as exc:
        raise not_found(str(exc.args[0]) if exc.args else str(exc)) from None
    except ValueError as exc:
        raise Problem(422, "build-failed", f"the file does not build: {exc}") from None
    text = await asyncio.to_thread(office.describe_file, data)
    return web.json_response({"text": text, "size": len(data), "sha1": hashlib.sha1(data).hexdigest()})


async def validate_template(request: web.Request) -> web.Response:
    body = await json_object(request, ("kind", "text"), ("kind", "text"))
    if body["kind"] not in TEMPLATE_KINDS:
        raise bad_request(f"kind must be one of {', '.join(TEMPLATE_KINDS)}")
    if not isinstance(body["text"], str):
        raise bad_request("text must be a string")
    errors = office_of(request).validate_template(body["kind"], body["text"])
    return web.json_response({"ok": not errors,
                              "errors": [{"line": e.line, "column": e.column, "message": e.message} for e in errors]})


def _lease_cursor(text: str | None) -> int:
    """Leases are paged by address: the cursor is the last address given, opaque to clients."""
    if text is None:
        return -1
    try:
        value = int(base64.urlsafe_b64decode(text.encode("ascii") + b"==").decode("ascii"))
    except (ValueError, UnicodeError, binascii.Error):
        raise bad_request("cursor is not one this API gave") from None
    if not 0 <= value < 1 << 32:
        raise bad_request("cursor is not one this API gave")
    return value


def _leases_page(leases: list[Lease], mac: str | None, address: str | None, after: int,
                 limit: int) -> dict[str, Any]:
    chosen = sorted((lease for lease in leases
                     if (mac is None or lease.mac.replace(":", "").lower().startswith(mac))
                     and (address is None or str(lease.address) == address or
                          (address.endswith(".") and str(lease.address).startswith(address)))),
                    key=lambda lease: int(lease.address))
    total = len(chosen)
    page = [lease for lease in chosen if int(lease.address) > after][:limit + 1]
    more = len(page) > limit
    page = page[:limit]
    following = base64.urlsafe_b64encode(str(int(page[-1].address)).encode()).decode().rstrip("=") \
        if more and page else None
    return {"items": [{"address": str(lease.address), "mac": lease.mac.replace(":", "").lower(),
                       "state": lease.state.value, "expires": lease.expires, "giaddr": lease.giaddr,
                       "circuit_id": lease.circuit_id, "remote_id": lease.remote_id,
                       "device_class": lease.device_class, "hostname": lease.hostname} for lease in page],
            "next": following, "total": total}


async def list_leases(request: web.Request) -> web.Response:
    known_params(request, ("mac", "address", "limit", "cursor"))
    mac = query_text(request, "mac")
    address = query_text(request, "address")
    if address is not None and not address.endswith("."):
        try:
            address = str(IPv4Address(address))
        except ValueError:
            raise bad_request(f"address must be an IPv4 address or its start (10.1.), not {address!r}") from None
    office = office_of(request)
    shared = office.shared_leases()  # several serve nodes: every node's leases, from the database
    snapshot = await asyncio.to_thread(shared) if shared is not None else office.lease_snapshot()
    page = await asyncio.to_thread(_leases_page, snapshot, mac_prefix(mac) if mac else None, address,
                                   _lease_cursor(query_text(request, "cursor")), query_limit(request))
    return web.json_response(page)


async def list_nodes(request: web.Request) -> web.Response:
    """The serve nodes sharing the database, each alive or stale by its last heartbeat
    (``shared`` false and no nodes with a store of this node alone)."""
    known_params(request, ())
    office = office_of(request)
    found = await asyncio.to_thread(office.nodes)
    now = time.time()
    if found is None:
        return web.json_response({"shared": False, "nodes": []})
    return web.json_response({"shared": True, "nodes": [
        {"id": n.id, "address": n.address, "version": n.version, "started": n.started, "heartbeat": n.heartbeat,
         "interval": n.interval, "status": n.status(now)} for n in found]})


async def settings(request: web.Request) -> web.Response:
    return web.Response(text=json.dumps(office_of(request).settings(), default=str),
                        content_type="application/json")


async def audit_log(request: web.Request) -> web.Response:
    known_params(request, ("limit", "cursor", "since"))
    cursor = query_text(request, "cursor")
    if cursor is not None and not cursor.isdigit():
        raise bad_request("cursor is not one this API gave")
    limit = query_limit(request)
    entries = admin_of(request).entries(limit + 1, int(cursor) if cursor else None, query_float(request, "since"))
    more = len(entries) > limit
    entries = entries[:limit]
    return web.json_response({
        "items": [{"at": e.at, "who": e.who, "role": e.role, "action": e.action, "target": e.target,
                   "before": e.before, "after": e.after, "source": e.source} for e in entries],
        "next": str(entries[-1].id) if more and entries else None})


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    router.add_get(f"{prefix}/openapi.json", openapi)
    router.add_get(f"{prefix}/whoami", whoami)
    router.add_get(f"{prefix}/templates", list_templates)
    router.add_post(f"{prefix}/templates/validate", validate_template)
    router.add_get(f"{prefix}/templates/{{name}}", get_template)
    router.add_post(f"{prefix}/templates/{{name}}/preview", preview_template)
    router.add_get(f"{prefix}/leases", list_leases)
    router.add_get(f"{prefix}/nodes", list_nodes)
    router.add_get(f"{prefix}/settings", settings)
    router.add_get(f"{prefix}/audit", audit_log)
