"""The operators' REST API, metrics and dashboard of `pktcable serve`: every route,
against a fake office (only the Office interface) and against the real back office."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from pktcable.flow import Flow
from pktcable.serve import api, apidevices, apipush, apiviews
from pktcable.serve.app import Backoffice
from pktcable.serve.office import NoCurrentLease, NoSuchTemplate, Office, TemplateInfo, TextError
from pktcable.serve.phonestatus import PhoneLive
from pktcable.simulate.runner import simulate
from pktcable.store.built import BuiltFile
from pktcable.store.devices import Device, MemoryDeviceStore, Step
from pktcable.store.leases import Lease, LeaseState
from pktcable.store.pg_nodes import Node
from pktcable.store.query import DeviceQuery, Page, StateCount

from .apiclient import serving
from .promtext import value
from .test_e2e import configs, free_tcp_port


class FakeOffice:
    """Only the methods of serve.office.Office, and slots, so that any other
    attribute the API reached for would fail the request (a 500) and the test."""

    __slots__ = ("store", "steps", "saved", "resets", "answers", "registry", "leases", "files", "texts",
                 "reprovisioned", "settled", "shared", "node_rows")

    def __init__(self) -> None:
        self.store = MemoryDeviceStore()
        self.settled = 0  # how often a handler asked for staged events to be written before a query
        self.steps: dict[str, list[Step]] = {}
        self.saved: list[Device] = []
        self.resets: list[str] = []
        self.reprovisioned: list[str] = []
        #: What each MAC's reset does: True/False acknowledged, None no lease.
        self.answers: dict[str, bool | None] = {}
        self.registry = CollectorRegistry()
        self.leases: list[Lease] = []
        #: A database shared with other serve nodes: its lease table and its node table (None: not shared).
        self.shared: list[Lease] | None = None
        self.node_rows: list[Node] | None = None
        self.files: dict[str, list[BuiltFile]] = {}
        self.texts = {"cm.txt": "Main {\n\tNetworkAccess 1;\n}\n", "mta.txt": "Main {\n\tMtaConfigDelimiter 1;\n"}

    def list_devices(self) -> Iterable[Device]:
        return list(self.store.devices())

    def get_device(self, mac: str) -> Device | None:
        return self.store.get(mac)

    def device_history(self, mac: str) -> Sequence[Step]:
        return self.steps.get(mac, [])

    def save_device(self, device: Device) -> None:
        self.saved.append(device)
        self.store.put(device)

    def forget(self, mac: str) -> bool:
        self.steps.pop(mac, None)
        return self.store.delete(mac)

    async def reset_device(self, mac: str) -> bool:
        self.resets.append(mac)
        answer = self.answers.get(mac)
        if answer is None:
            raise NoCurrentLease(f"no lease for {mac}")
        return answer

    def metrics(self) -> CollectorRegistry:
        return self.registry

    def firmware_status(self, mac: str) -> dict[str, Any]:
        return {"vendor": "", "model": "", "hw_version": "", "current": None, "image": None, "version": None,
                "rule": None, "reason": "no rule matches the device", "target": None, "target_version": None,
                "history": []}

    def rules_changed(self) -> None:
        pass

    def settle(self) -> None:
        self.settled += 1

    def query_devices(self, query: DeviceQuery) -> Page:
        return self.store.query(query)

    def device_summary(self) -> list[StateCount]:
        return self.store.summary()

    def describe_file(self, data: bytes) -> str:
        return f"# {len(data)} bytes\n"

    def current_lease(self, mac: str) -> Lease | None:
        return next((lease for lease in self.leases if lease.mac == mac), None)

    def lease_snapshot(self) -> list[Lease]:
        return [dataclasses.replace(lease) for lease in self.leases]

    def shared_leases(self) -> Callable[[], list[Lease]] | None:
        shared = self.shared
        return None if shared is None else lambda: list(shared)

    def nodes(self) -> list[Node] | None:
        return self.node_rows

    def built_files(self, mac: str) -> Sequence[BuiltFile]:
        return self.files.get(mac, [])

    def phone_live(self, mac: str) -> PhoneLive | None:
        return PhoneLive(True, 2e9, "0123456789abcdef") if mac.startswith("0004f2") else None

    async def reprovision(self, mac: str) -> bool:
        self.reprovisioned.append(mac)
        return await self.reset_device(mac)

    def templates(self) -> Sequence[TemplateInfo]:
        return [TemplateInfo(n, "mta" if "Mta" in t else "cm", len(t)) for n, t in sorted(self.texts.items())]

    def template_text(self, name: str) -> str:
        if name not in self.texts:
            raise NoSuchTemplate(f"no template {name!r}")
        return self.texts[name]

    def preview(self, template: str, mac: str) -> bytes:
        if self.store.get(mac) is None:
            raise LookupError(f"no device {mac}")
        self.template_text(template)
        if template == "mta.txt":
            raise ValueError("Main: missing }")
        return b"\x03\x01\x01"

    def validate_template(self, kind: str, text: str) -> list[TextError]:
        return [] if text.endswith("}\n") else [TextError(text.count("\n") + 1, 1, "expected }")]

    def settings(self) -> dict[str, Any]:
        return {"address": "127.0.0.1", "api_port": 10088, "cm_key": "(redacted)",
                "write_community": "(redacted)", "inform_community": "(redacted)"}


def test_api_serves_every_endpoint_from_an_office_with_only_the_narrow_interface() -> None:
    office = FakeOffice()
    mta = Device("0a0b0c0d0e01", kind="mta", flow="BASIC.1", ip="127.0.0.5", state="<script>x</script>")
    office.store.put(mta)
    office.steps[mta.mac] = [Step(mta.mac, 10.0, "MTA-4", "LeaseAcked", "127.0.0.5")]
    office.answers = {mta.mac: False}
    Counter("pktcable_x", "Things.", ["a", "b"], registry=office.registry).labels("1", "2").inc(3)
    Gauge("pktcable_y", "Now.", registry=office.registry).set(1.5)
    office.leases = [Lease(IPv4Address("127.0.0.5"), "01", mta.mac, 5000.0, giaddr="127.0.0.1", remote_id="aa")]
    office.files[mta.mac] = [BuiltFile.of(mta.mac, "mta", "mta-0a0b0c0d0e01.cfg", 20.0, b"\xfe\x01\x01")]

    async def main() -> None:
        async with serving(office) as (call, admin):
            status, page = await call("GET", "/api/v1/devices")
            assert status == 200 and [d["mac"] for d in page["items"]] == [mta.mac] and page["total"] == 1
            status, one = await call("GET", "/api/v1/devices/0A:0B:0C:0D:0E:01")
            assert status == 200 and one["history"] == [{"at": 10.0, "step": "MTA-4", "event": "LeaseAcked",
                                                         "detail": "127.0.0.5"}]
            assert one["lease"] == {"address": "127.0.0.5", "expires": 5000.0, "giaddr": "127.0.0.1",
                                    "circuit_id": "", "remote_id": "aa"}
            assert one["files"] == [{"name": "mta-0a0b0c0d0e01.cfg", "kind": "mta", "built": 20.0, "size": 3,
                                     "sha1": office.files[mta.mac][0].sha1, "text": "# 3 bytes\n"}]
            assert one["phone"] is None  # only a SIP phone has one
            phone = Device("0004f2000001", kind="sip", state="subscribed")
            office.store.put(phone)
            office.steps[phone.mac] = [
                Step(phone.mac, 30.0, "SIP", "Subscribed", "from 10.0.0.7, expires in 3600 s"),
                Step(phone.mac, 31.0, "SIP", "Notified", "ua-profile;profile-type=device, profile 0123456789abcdef"),
                Step(phone.mac, 32.0, "SIP", "ProfileFetched", "profile 0123456789abcdef by 10.0.0.7")]
            status, seen = await call("GET", f"/api/v1/devices/{phone.mac}")
            assert status == 200 and seen["phone"] == {
                "subscription": "subscribed", "expires": 2e9, "served": "0123456789abcdef",
                "held": "0123456789abcdef", "notified": "0123456789abcdef", "in_sync": True, "problem": None,
                "last_notify": {"at": 31.0, "event": "Notified",
                                "detail": "ua-profile;profile-type=device, profile 0123456789abcdef"},
                "last_fetch": {"at": 32.0, "version": "0123456789abcdef",
                               "detail": "profile 0123456789abcdef by 10.0.0.7"}}
            office.store.delete(phone.mac)
            del office.steps[phone.mac]
            status, why = await call("GET", "/api/v1/devices/0a0b0c0d0e02")
            assert status == 404 and why["code"] == "not-found"

            status, made = await call("PUT", "/api/v1/devices/0a0b0c0d0e02", json={"kind": "cm", "vars": {"n": 1}})
            assert status == 201 and made["kind"] == "cm" and [d.mac for d in office.saved] == ["0a0b0c0d0e02"]
            status, made = await call("PUT", "/api/v1/devices/0a0b0c0d0e02", json={"vars": {"n": 2}})
            assert status == 200 and made["vars"] == {"n": 2} and made["outcome"] == "new"
            # Hostile bodies stop at the API: nothing reaches the office.
            for bad in (b"[" * 40 + b"]" * 40, b"{\"vars\": {\"x\": NaN}}", b"{\"kind\": \"router\"}", b"\xff",
                        b"{\"colour\": 1}", b"{\"vars\": []}", b"{\"template\": 7}"):
                status, why = await call("PUT", "/api/v1/devices/0a0b0c0d0e03", data=bad,
                                         headers={"Content-Type": "application/json"})
                assert (status, why["code"]) == (400, "bad-request"), bad
            assert (await call("PUT", "/api/v1/devices/zz", json={}))[0] == 400
            assert len(office.saved) == 2

            # Reset: unknown devices never reach the office; an unleased one is a 409, an unanswered one says so.
            assert (await call("POST", "/api/v1/devices/0a0b0c0d0e09/reset"))[0] == 404 and office.resets == []
            status, answer = await call("POST", f"/api/v1/devices/{mta.mac}/reset")
            assert (status, answer) == (200, {"mac": mta.mac, "acknowledged": False})
            office.answers[mta.mac] = True
            assert (await call("POST", f"/api/v1/devices/{mta.mac}/reset"))[1]["acknowledged"] is True
            status, why = await call("POST", "/api/v1/devices/0a0b0c0d0e02/reset")
            assert (status, why["code"]) == (409, "no-current-lease") and "current DHCP lease" in why["detail"]
            assert office.resets == [mta.mac, mta.mac, "0a0b0c0d0e02"]
            status, answer = await call("POST", f"/api/v1/devices/{mta.mac}/reprovision")
            assert (status, answer) == (200, {"mac": mta.mac, "acknowledged": True})
            assert office.reprovisioned == [mta.mac]

            settled = office.settled
            status, summary = await call("GET", "/api/v1/summary")
            assert status == 200 and summary["total"] == 2
            assert office.settled == settled + 1  # events of the last burst are written before the count
            assert {(s["kind"], s["state"], s["count"]) for s in summary["states"]} == {
                ("mta", "<script>x</script>", 1), ("cm", "", 1)}
            assert (await call("GET", "/api/v1/whoami"))[1] == {"name": "alice", "role": "operator"}

            status, templates = await call("GET", "/api/v1/templates")
            assert status == 200 and [(t["name"], t["kind"]) for t in templates] == [("cm.txt", "cm"),
                                                                                   ("mta.txt", "mta")]
            status, one_template = await call("GET", "/api/v1/templates/cm.txt")
            assert one_template == {"name": "cm.txt", "kind": "cm", "text": office.texts["cm.txt"]}
            assert (await call("GET", "/api/v1/templates/nope.txt"))[0] == 404
            status, preview = await call("POST", "/api/v1/templates/cm.txt/preview", json={"mac": "0a0b0c0d0e01"})
            assert status == 200 and preview == {"text": "# 3 bytes\n", "size": 3,
                                                 "sha1": hashlib.sha1(b"\x03\x01\x01").hexdigest()}
            status, why = await call("POST", "/api/v1/templates/mta.txt/preview", json={"mac": "0a0b0c0d0e01"})
            assert (status, why["code"]) == (422, "build-failed") and "missing }" in why["detail"]
            assert (await call("POST", "/api/v1/templates/cm.txt/preview", json={"mac": "0a0b0c0d0e0f"}))[0] == 404
            assert (await call("POST", "/api/v1/templates/cm.txt/preview", json={}))[0] == 400
            status, checked = await call("POST", "/api/v1/templates/validate", json={"kind": "cm", "text": "Main {\n"})
            assert checked == {"ok": False, "errors": [{"line": 2, "column": 1, "message": "expected }"}]}
            assert (await call("POST", "/api/v1/templates/validate", json={"kind": "cm", "text": "}\n"}))[1]["ok"]
            assert (await call("POST", "/api/v1/templates/validate", json={"kind": "x", "text": ""}))[0] == 400

            status, leases = await call("GET", "/api/v1/leases")
            assert status == 200 and leases["total"] == 1 and leases["items"][0]["mac"] == mta.mac
            assert leases["items"][0]["state"] == LeaseState.BOUND.value
            assert (await call("GET", "/api/v1/leases?address=10."))[1]["total"] == 0
            # Several serve nodes on one database: the leases are the shared table's, every node's.
            office.shared = [*office.leases, Lease(IPv4Address("127.0.0.6"), "02", "0a0b0c0d0e06", 5000.0)]
            assert (await call("GET", "/api/v1/leases"))[1]["total"] == 2
            assert await call("GET", "/api/v1/nodes") == (200, {"shared": False, "nodes": []})
            now = time.time()
            office.node_rows = [Node("a", "10.0.0.1", "1.0", now - 100, now - 1, 5.0),
                                Node("b", "10.0.0.2", "1.0", now - 100, now - 60, 5.0)]
            status, nodes = await call("GET", "/api/v1/nodes")
            assert status == 200 and nodes["shared"] is True
            assert [(n["id"], n["status"]) for n in nodes["nodes"]] == [("a", "alive"), ("b", "stale")]
            status, settings = await call("GET", "/api/v1/settings")
            assert status == 200 and settings["cm_key"] == "(redacted)"
            status, log = await call("GET", "/api/v1/audit")
            assert status == 200 and log["items"][0]["action"] == "device.reprovision"

            status, text = await call("GET", "/metrics")
            assert status == 200 and value(text, "pktcable_x_total", a="1", b="2") == 3
            assert value(text, "pktcable_y") == 1.5
            status, page_html = await call("GET", "/")
            assert status == 200 and "/static/app.js" in page_html  # the dashboard's page: no data in it
            assert mta.mac not in page_html and "<script>" not in page_html

            assert (await call("DELETE", f"/api/v1/devices/{mta.mac}"))[0] == 204
            assert (await call("DELETE", f"/api/v1/devices/{mta.mac}"))[0] == 404
            assert [d.mac for d in office.list_devices()] == ["0a0b0c0d0e02"]

    asyncio.run(main())


def test_api_with_the_back_office_shows_leases_history_and_the_files_built() -> None:
    cfg, sim = configs(["HYBRID.2"])
    cfg.api_port = free_tcp_port()

    async def main() -> None:
        office = Backoffice(cfg)
        await office.start()
        try:
            from pktcable.serve.officeview import OfficeView

            async with serving(OfficeView(office), office.admin) as (call, _):
                status, body = await call("PUT", "/api/v1/devices/00:11:22:33:44:55",
                                          json={"kind": "mta", "flow": "basic.1", "vars": {"lines": 1}})
                assert status == 201 and body["flow"] == "BASIC.1" and body["mac"] == "001122334455"
                assert (await call("PUT", "/api/v1/devices/001122334455", json={"flow": "SECURE"}))[0] == 400

                results, _ = await simulate(sim, Flow.HYBRID_2, 2)
                assert all(r.passed for r in results)
                mac = results[0].mta_mac
                status, page = await call("GET", "/api/v1/devices?kind=mta&outcome=pass")
                assert status == 200 and {d["mac"] for d in page["items"]} == {r.mta_mac for r in results}
                status, one = await call("GET", f"/api/v1/devices/{mac}")
                assert status == 200 and one["state"] == "DONE" and one["result"] == 1 and one["outcome"] == "pass"
                assert [h["event"] for h in one["history"]][-1] == "StatusReceived"
                assert one["lease"] is not None and one["lease"]["address"] == one["ip"]
                [built] = one["files"]
                assert built["kind"] == "mta" and built["name"] == f"mta-{mac}.cfg"
                assert "MtaConfigDelimiter 1" in built["text"] and "PacketCable MTA config file" in built["text"]
                status, cm = await call("GET", f"/api/v1/devices/{one['cm_mac']}")
                assert status == 200 and [f["kind"] for f in cm["files"]] == ["cm"]
                assert "NetworkAccess" in cm["files"][0]["text"]

                status, leases = await call("GET", "/api/v1/leases?limit=1")
                assert status == 200 and leases["total"] == 4 and len(leases["items"]) == 1
                status, rest = await call("GET", f"/api/v1/leases?limit=10&cursor={leases['next']}")
                assert len(rest["items"]) == 3 and rest["next"] is None
                status, preview = await call("POST", "/api/v1/templates/mta.txt/preview", json={"mac": mac})
                # Built now from the same template and facts: the very file the eMTA was given.
                assert status == 200 and (preview["sha1"], preview["text"]) == (built["sha1"], built["text"])
                status, summary = await call("GET", "/api/v1/summary")
                assert {(s["kind"], s["state"]) for s in summary["states"]} >= {("mta", "DONE")}
                status, settings = await call("GET", "/api/v1/settings")
                assert settings["cm_key"] == "(redacted)" and settings["write_community"] == "(redacted)"
                assert "test-cmts-secret" not in str(settings)

                status, text = await call("GET", "/metrics")
                assert status == 200
                assert value(text, "pktcable_dhcp_packets_total", event="acks") == 4  # 2 CMs + 2 MTAs
                assert value(text, "pktcable_devices", kind="mta", state="DONE") == 2
                # The CMs' files went out: they are provisioned, not NEW.
                assert value(text, "pktcable_devices", kind="cm", state="CONFIG_SERVED") == 2
                assert value(text, "pktcable_devices", kind="cm", state="NEW") is None
                assert value(text, "pktcable_tftp_transfers_total", outcome="completed") == 4
                assert value(text, "pktcable_provisioning_duration_seconds_count", flow="HYBRID.2",
                             outcome="pass") == 2
                assert value(text, "pktcable_provisioning_duration_seconds_count", flow="DOCSIS", outcome="pass") == 2
                assert value(text, "pktcable_step_duration_seconds_count", flow="HYBRID.2", step="H-MTA-25") == 2

                # The simulated eMTAs are gone: the reset goes unanswered.
                status, body = await call("POST", f"/api/v1/devices/{mac}/reset")
                assert status == 200 and body["acknowledged"] is False
                assert (await call("POST", "/api/v1/devices/0a0b0c0d0e0f/reset"))[0] == 404
                status, body = await call("POST", f"/api/v1/devices/{mac}/reprovision")
                assert status == 200 and body["acknowledged"] is False
                status, again = await call("GET", f"/api/v1/devices/{mac}")
                assert again["state"] == "" and again["result"] is None and again["outcome"] == "new"
                assert again["history"][-2]["event"] == "ReprovisionRequested"
                assert (await call("DELETE", "/api/v1/devices/001122334455"))[0] == 204
                assert (await call("GET", "/api/v1/devices/001122334455"))[0] == 404
        finally:
            await office.close()

    asyncio.run(main())


def test_api_modules_name_no_backoffice_internals() -> None:
    """The API's modules import the Office interface, never the Backoffice (not even
    for type checking), so nothing inside the back office is reachable from them."""
    interface = {name for name in vars(Office) if not name.startswith("_")}
    used: set[str] = set()
    for module in (api, apidevices, apipush, apiviews):
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        imported = {(node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name in ("app", "officeview") or name.endswith((".app", "view"))}
        assert "Backoffice" not in {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        used |= {node.attr for node in ast.walk(tree)
                 if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "office"}
    assert used and used <= interface, used - interface
