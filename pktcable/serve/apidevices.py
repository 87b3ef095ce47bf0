"""``/api/v1/devices``, ``/api/v1/summary``: devices listed, looked at, changed,
reset and provisioned anew. Store queries run in a worker thread
(``asyncio.to_thread``): a list of 100,000 devices never stops the event loop."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from pktcable.flow import SERVER_TABLES
from pktcable.store.devices import Device
from pktcable.store.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_TEXT,
    DeviceQuery,
    QueryError,
    failed_step,
    outcome,
    parse_query,
)

from .api import audit, json_object, mac_of, office_of
from .office import NoCurrentLease
from .phonestatus import phone_view
from .problems import Problem, bad_request, not_found
from .swchecks import STEP as CHECK_STEP

KINDS = ("cm", "mta", "sip")
#: The flows an MTA may be given by name. A Secure device is the one the DHCP server offers
#: the Kerberos realm (settings realms, with kdc and km on); its flow is recorded then.
FLOWS = tuple(flow.value for flow in SERVER_TABLES if not flow.secure)
LIMIT_DEFAULT, LIMIT_MAX = DEFAULT_LIMIT, MAX_LIMIT  # the devices' page sizes serve every list
TEXT_MAX = MAX_TEXT  # characters of a query parameter
_HEX = "0123456789abcdef"


def device_item(device: Device) -> dict[str, Any]:
    """A device as the API shows it: its row, with what its state means."""
    return {**asdict(device), "outcome": outcome(device.state, device.result),
            "failed_step": failed_step(device.kind, device.flow, device.state, device.result)}


def query_text(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise bad_request(f"{name} may be given once")
    if not values:
        return None
    if len(values[0]) > TEXT_MAX:
        raise bad_request(f"{name} is longer than {TEXT_MAX} characters")
    return values[0]


def query_limit(request: web.Request) -> int:
    text = query_text(request, "limit")
    if text is None:
        return LIMIT_DEFAULT
    if not text.isdigit() or not 1 <= int(text) <= LIMIT_MAX:
        raise bad_request(f"limit must be a whole number 1..{LIMIT_MAX}, not {text!r}")
    return int(text)


def query_float(request: web.Request, name: str) -> float | None:
    text = query_text(request, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise bad_request(f"{name} must be a number (Unix seconds), not {text!r}")
    return value


def known_params(request: web.Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise bad_request(f"unknown query parameters: {', '.join(unknown)} (known: {', '.join(allowed)})")


def mac_prefix(text: str) -> str:
    """A MAC prefix in any notation as lower-case hex (``00:11:2`` -> ``00112``)."""
    digits = "".join(c for c in text.lower() if c not in ":-. ")
    if len(digits) > 12 or any(c not in _HEX for c in digits):
        raise bad_request(f"mac must be a MAC address or its start, not {text!r}")
    return digits


def device_query(request: web.Request) -> DeviceQuery:
    """The query of ``GET /devices``, checked by the store's own rules (QueryError names the parameter)."""
    try:
        return parse_query({name: request.query.getall(name) for name in set(request.query)})
    except QueryError as exc:
        raise bad_request(str(exc)) from None


async def list_devices(request: web.Request) -> web.Response:
    query = device_query(request)
    office = office_of(request)
    office.settle()  # the events of the last burst, not yet committed, are part of the answer
    try:
        page = await asyncio.to_thread(office.query_devices, query)
    except QueryError as exc:  # a cursor the store did not make
        raise bad_request(str(exc)) from None
    return web.json_response({"items": [device_item(d) for d in page.items], "next": page.next,
                              "total": page.total})


async def summary(request: web.Request) -> web.Response:
    known_params(request, ())
    office = office_of(request)
    office.settle()
    states = await asyncio.to_thread(office.device_summary)
    return web.json_response({"total": sum(s.count for s in states), "generated": time.time(),
                              "states": [{"kind": s.kind, "state": s.state, "count": s.count, "outcome": s.outcome,
                                          "failed_step": s.failed_step} for s in states]})


async def get_device(request: web.Request) -> web.Response:
    office = office_of(request)
    mac = mac_of(request)
    device = office.get_device(mac)
    if device is None:
        raise not_found(f"no device {mac}")
    steps = office.device_history(mac)
    history = [{"at": s.at, "step": s.step, "event": s.event, "detail": s.detail} for s in steps]
    lease = office.current_lease(mac)
    files = []
    for built in office.built_files(mac):
        try:
            # A phone's profile is XML text already; a modem's or an eMTA's file is decoded.
            text = built.data.decode("utf-8", "replace") if built.kind == "sip" else \
                await asyncio.to_thread(office.describe_file, built.data)
        except Exception as exc:  # a file the decoder cannot read is still shown, with why
            text = f"# the file does not decode: {exc}\n"
        files.append({"name": built.name, "kind": built.kind, "built": built.built, "size": len(built.data),
                      "sha1": built.sha1, "text": text})
    # A phone's subscription and profile versions, from its history and the SIP service (phonestatus.py).
    phone = phone_view(steps, office.phone_live(mac)) if device.kind == "sip" else None
    firmware = await asyncio.to_thread(office.firmware_status, mac)
    # The last time a modem still behind its offer was asked why (swchecks.py), from its history.
    check = next((s for s in reversed(steps) if s.step == CHECK_STEP), None)
    firmware["checked"] = None if check is None else {"at": check.at, "event": check.event, "detail": check.detail}
    return web.json_response({
        **device_item(device), "history": history, "files": files, "phone": phone, "firmware": firmware,
        "lease": None if lease is None else {"address": str(lease.address), "expires": lease.expires,
                                             "giaddr": lease.giaddr, "circuit_id": lease.circuit_id,
                                             "remote_id": lease.remote_id}})


async def put_device(request: web.Request) -> web.Response:
    office = office_of(request)
    mac = mac_of(request)
    body = await json_object(request, ("kind", "flow", "template", "vars"))
    before = office.get_device(mac)
    device = Device(mac) if before is None else Device(**asdict(before))
    kind = body.get("kind", device.kind)
    flow = str(body.get("flow", device.flow)).upper()
    if kind not in KINDS:
        raise bad_request(f"kind must be one of {', '.join(KINDS)}")
    if kind == "mta" and flow not in FLOWS:
        raise bad_request(f"flow must be one of {', '.join(FLOWS)}")
    variables = body.get("vars", device.vars)
    if not isinstance(variables, dict):
        raise bad_request("vars must be an object")
    template = body.get("template", device.template)
    if not isinstance(template, str) or len(template) > 255:
        raise bad_request("template must be a template's name")
    device.kind, device.flow, device.vars, device.template = kind, flow, variables, template
    office.save_device(device)
    audit(request, "device.put", mac, None if before is None else asdict(before), asdict(device))
    return web.json_response(device_item(device), status=200 if before is not None else 201)


async def delete_device(request: web.Request) -> web.Response:
    office = office_of(request)
    mac = mac_of(request)
    before = office.get_device(mac)
    if before is None or not office.forget(mac):
        raise not_found(f"no device {mac}")
    audit(request, "device.delete", mac, asdict(before), None)
    return web.Response(status=204)


async def reset_device(request: web.Request) -> web.Response:
    return await _reset(request, "device.reset")


async def reprovision_device(request: web.Request) -> web.Response:
    return await _reset(request, "device.reprovision")


async def _reset(request: web.Request, action: str) -> web.Response:
    office = office_of(request)
    mac = mac_of(request)
    before = office.get_device(mac)
    if before is None:
        raise not_found(f"no device {mac}")
    try:
        # To the address leased to it now, never the store's last one.
        ok = await (office.reprovision(mac) if action == "device.reprovision" else office.reset_device(mac))
    except NoCurrentLease:
        audit(request, action, mac, {"state": before.state}, {"error": "no-current-lease"})
        raise Problem(409, "no-current-lease", f"device {mac} holds no current DHCP lease: there is no address to "
                                               "send the reset to") from None
    after = office.get_device(mac)
    audit(request, action, mac, {"state": before.state, "result": before.result},
          {"acknowledged": ok, "state": after.state if after else None})
    return web.json_response({"mac": mac, "acknowledged": ok})


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    router.add_get(f"{prefix}/summary", summary)
    router.add_get(f"{prefix}/devices", list_devices)
    router.add_get(f"{prefix}/devices/{{mac}}", get_device)
    router.add_put(f"{prefix}/devices/{{mac}}", put_device)
    router.add_delete(f"{prefix}/devices/{{mac}}", delete_device)
    router.add_post(f"{prefix}/devices/{{mac}}/reset", reset_device)
    router.add_post(f"{prefix}/devices/{{mac}}/reprovision", reprovision_device)
