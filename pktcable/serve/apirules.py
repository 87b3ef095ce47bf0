"""``/api/v1/firmware-rules``: the firmware rollout rules (pktcable/firmware/rules.py) listed,
added, changed, paused, resumed, rolled back and removed; every change audited.

A rule's target is a catalogue file name; its version is the catalogue's, read when the
rule is written (a rule never names an image the catalogue does not have). Changing the
target keeps the one before as ``previous``, which ``rollback`` restores. The rules live
beside the catalogue (``/firmware``), under a path of their own so no image name can
shadow a rule's route.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from aiohttp import web

from pktcable.firmware.rules import Rule, RuleError
from pktcable.store.devices import normalize_mac
from pktcable.store.fwrules import RuleExists

from .api import audit, json_object, office_of
from .apidevices import known_params
from .problems import Problem, bad_request, not_found

#: What a new rule's body may hold; name, vendor, model, hw_version and target are required.
CREATE = ("name", "vendor", "model", "hw_version", "target", "from_versions", "percent", "macs", "window", "state")
#: What a change may hold (a rule's name and what it matches stay: make another rule instead).
CHANGE = ("target", "from_versions", "percent", "macs", "window", "state")
ACTIONS = ("pause", "resume", "rollback")


def _strings(body: dict[str, Any], key: str) -> tuple[str, ...] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{key}: a list of strings")
    return tuple(value)


def _macs(body: dict[str, Any]) -> tuple[str, ...] | None:
    given = _strings(body, "macs")
    if given is None:
        return None
    try:
        return tuple(sorted({normalize_mac(m) for m in given}))
    except ValueError as exc:
        raise bad_request(f"macs: {exc}") from None


async def _target_version(request: web.Request, filename: Any) -> str:
    if not isinstance(filename, str):
        raise bad_request("target: the file name of a catalogued image")
    image = await asyncio.to_thread(office_of(request).firmware().get, filename)
    if image is None:
        raise bad_request(f"target: {filename!r} is not in the firmware catalogue")
    return image.version


def _changed(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("from_versions",):
        value = _strings(body, key)
        if value is not None:
            fields[key] = value
    macs = _macs(body)
    if macs is not None:
        fields["macs"] = macs
    for key in ("percent", "window", "state"):
        if key in body:
            fields[key] = body[key]
    return fields


async def _stored(request: web.Request) -> Rule:
    name = request.match_info["name"]
    rule = await asyncio.to_thread(office_of(request).firmware().rule, name)
    if rule is None:
        raise not_found(f"no firmware rule {name!r}")
    return rule


async def _save(request: web.Request, action: str, before: Rule | None, after: Rule, status: int = 200) -> web.Response:
    office = office_of(request)
    store = office.firmware()
    if before is None:
        try:
            await asyncio.to_thread(store.add_rule, after)
        except RuleExists as exc:
            raise Problem(409, "conflict", str(exc)) from None
    else:
        await asyncio.to_thread(store.put_rule, after)
    office.rules_changed()
    audit(request, action, after.name, None if before is None else before.to_json(), after.to_json())
    return web.json_response(after.to_json(), status=status)


async def list_rules(request: web.Request) -> web.Response:
    known_params(request, ())
    rules = await asyncio.to_thread(office_of(request).firmware().rules)
    return web.json_response({"items": [r.to_json() for r in rules]})


async def get_rule(request: web.Request) -> web.Response:
    return web.json_response((await _stored(request)).to_json())


async def add_rule(request: web.Request) -> web.Response:
    body = await json_object(request, CREATE, ("name", "vendor", "model", "hw_version", "target"))
    version = await _target_version(request, body["target"])
    try:
        rule = Rule(body["name"], body["vendor"], body["model"], body["hw_version"], body["target"], version,
                    updated=time.time())
        rule = dataclasses.replace(rule, **_changed(body))
    except RuleError as exc:
        raise bad_request(str(exc)) from None
    return await _save(request, "firmware-rule.add", None, rule, 201)


async def change_rule(request: web.Request) -> web.Response:
    body = await json_object(request, CHANGE)
    before = await _stored(request)
    try:
        after = dataclasses.replace(before, **_changed(body), updated=time.time())
        if "target" in body:
            after = after.retarget(body["target"], await _target_version(request, body["target"]), after.updated)
    except RuleError as exc:
        raise bad_request(str(exc)) from None
    return await _save(request, "firmware-rule.change", before, after)


async def act_on_rule(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise not_found(f"no action {action!r} (one of {', '.join(ACTIONS)})")
    known_params(request, ())
    before = await _stored(request)
    now = time.time()
    try:
        if action == "rollback":
            after = before.rolled_back(now)
            # The image it returns to must still be catalogued: a device would fetch it.
            after = dataclasses.replace(after, target_version=await _target_version(request, after.target))
        else:
            after = dataclasses.replace(before, state="paused" if action == "pause" else "active", updated=now)
    except RuleError as exc:
        raise Problem(409, "conflict", str(exc)) from None
    return await _save(request, f"firmware-rule.{action}", before, after)


async def delete_rule(request: web.Request) -> web.Response:
    before = await _stored(request)
    office = office_of(request)
    if not await asyncio.to_thread(office.firmware().delete_rule, before.name):
        raise not_found(f"no firmware rule {before.name!r}")
    office.rules_changed()
    audit(request, "firmware-rule.delete", before.name, before.to_json(), None)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    router.add_get(f"{prefix}/firmware-rules", list_rules)
    router.add_post(f"{prefix}/firmware-rules", add_rule)
    router.add_get(f"{prefix}/firmware-rules/{{name}}", get_rule)
    router.add_patch(f"{prefix}/firmware-rules/{{name}}", change_rule)
    router.add_delete(f"{prefix}/firmware-rules/{{name}}", delete_rule)
    router.add_post(f"{prefix}/firmware-rules/{{name}}/{{action}}", act_on_rule)
