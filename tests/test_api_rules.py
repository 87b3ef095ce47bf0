"""``/api/v1/firmware-rules``: rollout rules over the operators' API, every answer checked
against the OpenAPI document (tests/apiclient.py), every change in the audit log."""

from __future__ import annotations

import asyncio
from typing import Any

from pktcable.store.firmware import FirmwareStore, MemoryFirmwareStore, make_image

from .apiclient import serving
from .test_api import FakeOffice

BASE = "/api/v1/firmware-rules"
RULE = {"name": "ex100", "vendor": "Example Vendor", "model": "EX-100", "hw_version": "*",
        "target": "ex100-2.0.p7", "percent": 10, "macs": ["00:11:22:33:44:55"], "window": "02:00-05:00"}


class RulesOffice(FakeOffice):
    __slots__ = ("catalogue", "changes")

    def __init__(self) -> None:
        super().__init__()
        self.catalogue = MemoryFirmwareStore()
        self.changes = 0
        for name, version in (("ex100-1.0.p7", "1.0"), ("ex100-2.0.p7", "2.0"), ("ex100-2.1.p7", "2.1")):
            self.catalogue.add(make_image(name, "Example Vendor", "EX-100", "3", version, b"x" + version.encode(),
                                          "unsigned", 1.0), b"x" + version.encode())

    def firmware(self) -> FirmwareStore:
        return self.catalogue

    def rules_changed(self) -> None:
        self.changes += 1


def test_crud_pause_resume_rollback_and_audit() -> None:
    office = RulesOffice()

    async def main() -> None:
        async with serving(office) as (call, admin):
            status, added = await call("POST", BASE, json=RULE)
            assert status == 201, added
            assert added["target_version"] == "2.0" and added["macs"] == ["001122334455"] and added["state"] == "active"
            status, again = await call("POST", BASE, json=RULE)
            assert status == 409 and again["code"] == "conflict"
            status, listed = await call("GET", BASE)
            assert status == 200 and [r["name"] for r in listed["items"]] == ["ex100"]
            status, changed = await call("PATCH", f"{BASE}/ex100", json={"percent": 50, "target": "ex100-2.1.p7"})
            assert status == 200, changed
            assert (changed["percent"], changed["target"], changed["previous"], changed["target_version"]) == \
                (50, "ex100-2.1.p7", "ex100-2.0.p7", "2.1")
            status, paused = await call("POST", f"{BASE}/ex100/pause")
            assert status == 200 and paused["state"] == "paused"
            status, resumed = await call("POST", f"{BASE}/ex100/resume")
            assert status == 200 and resumed["state"] == "active"
            # An image a rule offers, or would roll back to, stays in the catalogue.
            for image in ("ex100-2.1.p7", "ex100-2.0.p7"):
                status, problem = await call("DELETE", f"/api/v1/firmware/{image}")
                assert status == 409 and "ex100" in problem["detail"]
            status, back = await call("POST", f"{BASE}/ex100/rollback")
            assert status == 200 and (back["target"], back["target_version"]) == ("ex100-2.0.p7", "2.0")
            assert office.catalogue.rule("ex100").target == "ex100-2.0.p7"  # type: ignore[union-attr]
            status, _ = await call("DELETE", f"{BASE}/ex100")
            assert status == 204 and office.catalogue.rules() == []
            status, _ = await call("GET", f"{BASE}/ex100")
            assert status == 404
            status, log = await call("GET", "/api/v1/audit")
            actions = [e["action"] for e in log["items"] if e["target"] == "ex100"]
            assert actions == ["firmware-rule.delete", "firmware-rule.rollback", "firmware-rule.resume",
                               "firmware-rule.pause", "firmware-rule.change", "firmware-rule.add"]
            assert office.changes == 6

    asyncio.run(main())


def test_bad_rules_are_refused_with_the_field() -> None:
    office = RulesOffice()

    async def main() -> None:
        async with serving(office) as (call, admin):
            cases: list[tuple[dict[str, Any], str]] = [
                ({**RULE, "target": "nope.p7"}, "not in the firmware catalogue"),
                ({**RULE, "percent": 101}, "percent"), ({**RULE, "window": "25:00-01:00"}, "window"),
                ({**RULE, "window": 5}, "window"), ({**RULE, "macs": ["zz"]}, "macs"),
                ({**RULE, "name": "a/b"}, "name"), ({**RULE, "state": "gone"}, "state"),
                ({**RULE, "extra": 1}, "unknown fields"), ({"name": "x"}, "missing fields"),
                ({**RULE, "from_versions": "1.0"}, "from_versions"),
            ]
            for body, why in cases:
                status, problem = await call("POST", BASE, json=body)
                assert status == 400 and why in problem["detail"], (body, problem)
            assert office.catalogue.rules() == []
            status, _ = await call("POST", BASE, json={**RULE, "name": "fresh"})
            status, problem = await call("POST", f"{BASE}/fresh/rollback")
            assert status == 409 and "no previous target" in problem["detail"]
            status, problem = await call("POST", f"{BASE}/fresh/explode")
            assert status == 404
            status, problem = await call("PATCH", f"{BASE}/fresh", json={"name": "renamed"})
            assert status == 400

    asyncio.run(main())


def test_the_read_role_may_look_but_not_change() -> None:
    office = RulesOffice()

    async def main() -> None:
        async with serving(office) as (call, admin):
            reader = admin.create("bob", "read")
            status, _ = await call("GET", BASE, token=reader)
            assert status == 200
            status, problem = await call("POST", BASE, json=RULE, token=reader)
            assert status == 403 and problem["code"] == "forbidden"

    asyncio.run(main())
