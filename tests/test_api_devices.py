"""Devices through the API at scale: filters, order, cursor paging that visits
every device once; the files built for a device kept across a restart; the
demo's one-run token."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig
from pktcable.store.devices import Device, DeviceStore
from pktcable.store.query import OUTCOMES, failed_step, outcome

from .apiclient import serving
from .stores import PERSISTENT, device_opener
from .test_api import FakeOffice
from .test_e2e import free_tcp_port

COUNT = 2500


@pytest.fixture(params=PERSISTENT)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeviceStore]:
    """An empty device store of each database backend."""
    opened = device_opener(request.param, request, tmp_path)()
    yield opened
    opened.close()


def fill(office: FakeOffice, store: DeviceStore) -> list[Device]:
    office.store = store  # type: ignore[assignment]
    devices = []
    for i in range(COUNT):
        state, result = [("DONE", 1), ("FAILED_SET", 7), ("", None), ("DONE", 3), ("SET_PENDING", None)][i % 5]
        kind = "cm" if i % 7 == 0 else "mta"
        device = Device(f"00aa{i:08x}", kind=kind, flow="HYBRID.2" if kind == "mta" else "",
                        ip=f"10.{1 + i % 2}.{i // 256 % 256}.{i % 256}", state=state, result=result,
                        updated=1000.0 + (i * 7919) % COUNT)
        office.store.put(device)
        devices.append(device)
    office.store.commit()
    return devices


async def walk(call: Any, query: str, limit: int) -> list[dict[str, Any]]:
    """Every page of a query, following ``next``."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, page = await call("GET", f"/api/v1/devices?{query}&limit={limit}"
                                  + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, page
        seen += page["items"]
        cursor = page["next"]
        if cursor is None:
            return seen


def test_paging_over_2500_devices_visits_each_exactly_once(store: DeviceStore) -> None:
    office = FakeOffice()
    devices = fill(office, store)

    async def main() -> None:
        async with serving(office) as (call, _):
            every = await walk(call, "sort=mac", 1000)
            assert [d["mac"] for d in every] == sorted(d.mac for d in devices)
            for sort in ("-updated", "state", "ip", "-kind"):
                seen = await walk(call, f"sort={sort}", 333)
                macs = [d["mac"] for d in seen]
                assert len(macs) == COUNT and set(macs) == {d.mac for d in devices}, sort
                field = sort.lstrip("-")
                keys = [IPv4Address(d[field]) if field == "ip" else d[field] for d in seen]  # addresses by number
                assert keys == sorted(keys, reverse=sort.startswith("-")), sort
            status, first = await call("GET", "/api/v1/devices?limit=7")
            assert first["total"] == COUNT and len(first["items"]) == 7

    asyncio.run(main())


def test_device_filters_select_what_they_say(store: DeviceStore) -> None:
    office = FakeOffice()
    devices = fill(office, store)

    async def count(call: Any, query: str) -> int:
        status, page = await call("GET", f"/api/v1/devices?{query}&limit=1")
        assert status == 200, page
        return int(page["total"])

    async def main() -> None:
        async with serving(office) as (call, _):
            assert await count(call, "kind=cm") == sum(d.kind == "cm" for d in devices)
            assert await count(call, "state=DONE&state=FAILED_SET") == sum(d.state in ("DONE", "FAILED_SET")
                                                                         for d in devices)
            for wanted in OUTCOMES:
                assert await count(call, f"outcome={wanted}") == sum(outcome(d.state, d.result) == wanted
                                                                     for d in devices), wanted
            steps = Counter(failed_step(d.kind, d.flow, d.state, d.result) for d in devices)
            assert len(steps) > 2  # FAILED_SET's, DONE's with a failing result, and None
            for step, n in steps.items():
                if step is not None:
                    assert await count(call, f"failed_step={quote(step)}") == n, step
            assert await count(call, "mac=00:aa:00:00:00:1") == 16
            assert await count(call, "address=10.2.") == COUNT // 2
            assert await count(call, "address=10.1.0.0") == 1
            assert await count(call, f"updated_since={1000 + COUNT - 10}") == 10
            assert await count(call, "q=FAILED") == sum(d.state == "FAILED_SET" for d in devices)
            assert await count(call, "q=00aa000009c") == 4
            # Live updates: what changed since the newest one seen.
            status, newest = await call("GET", "/api/v1/devices?sort=-updated&limit=1")
            last = newest["items"][0]["updated"]
            assert await count(call, f"sort=updated&updated_since={last + 0.001}") == 0
            status, summary = await call("GET", "/api/v1/summary")
            assert summary["total"] == COUNT
            failing = [s for s in summary["states"] if s["outcome"] == "fail"]
            assert summary["states"][:len(failing)] == failing  # failing states first
            # CMs run no server flow: their failures name no step.
            assert {s["failed_step"] for s in failing if s["kind"] == "mta"} == {step for step in steps if step}

    asyncio.run(main())


@pytest.mark.parametrize("backend", PERSISTENT)
def test_the_last_built_files_survive_a_restart(backend: str, request: pytest.FixtureRequest,
                                                tmp_path: Path) -> None:
    store_url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    cfg = ServeConfig(data_dir=str(tmp_path / "data"), store=store_url, cm_key="test-cmts-secret", api_port=0)
    office = Backoffice(cfg)
    mta = Device("00aa00000001", kind="mta", flow="HYBRID.2", template="mta.txt")
    office.devices.put(mta)
    data = office.build(mta)
    office.built.commit()
    asyncio.run(office.close())

    again = Backoffice(cfg)
    try:
        [kept] = again.built.of(mta.mac)
        assert (kept.kind, kept.name, kept.data) == ("mta", "mta-00aa00000001.cfg", data)
        again.forget(mta.mac)
        assert again.built.of(mta.mac) == []
    finally:
        asyncio.run(again.close())


def test_serve_memory_prints_a_dashboard_url_with_a_token_for_the_run(tmp_path: Path) -> None:
    api = free_tcp_port()
    ports = "".join(f"{k} = 0\n" for k in ("dhcp_port", "tftp_port", "http_port", "tod_port", "snmp_port"))
    (tmp_path / "serve.toml").write_text(ports + f"api_port = {api}\n")
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--demo", "--config",
                               str(tmp_path / "serve.toml")], stderr=log)
    try:
        line = ""
        for _ in range(300):
            line = next((x for x in (tmp_path / "serve.log").read_text().splitlines() if x.startswith("dashboard")), "")
            if line:
                break
            time.sleep(0.1)
        url, _, token = line.removeprefix("dashboard ").partition("#token=")
        assert url == f"http://127.0.0.1:{api}/" and token.startswith("pkt_"), line
        request = urllib.request.Request(f"{url}api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.read() == b'{"name": "operator", "role": "operator"}'
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
        log.close()


def test_templates_are_listed_and_checked_with_the_line_and_column_of_each_problem() -> None:
    from pktcable.serve.officeview import OfficeView

    office = Backoffice(ServeConfig(cm_key="test-cmts-secret", api_port=0))
    view = OfficeView(office)
    try:
        kinds = {t.name: t.kind for t in view.templates()}
        assert kinds["cm.txt"] == "cm" and kinds["mta.txt"] == "mta"
        for name in ("cm.txt", "mta.txt"):  # the shipped templates are clean
            assert view.validate_template(kinds[name], view.template_text(name)) == []
        # Jinja2 syntax: the template's line.
        [syntax] = view.validate_template("cm", "Main {\n\tNetworkAccess 1;\n{% if %}\n}\n")
        assert syntax.line == 3
        # Rendering: an undefined variable, on the line that uses it.
        [undefined] = view.validate_template("cm", "Main {\n\tNetworkAccess 1;\n\tMaxCPE {{ cpes }};\n}\n")
        assert undefined.line == 3 and "cpes" in undefined.message
        # Compiling: every problem, with its line and column.
        errors = view.validate_template("cm", "Main {\n\tNetworkAccess 1;\n\tNoSuchSetting 3;\n"
                                              "{% if kind == 'cm' %}\n\tMaxCPE x;\n{% endif %}\n}\n")
        assert [e.line for e in errors] == [3, 5] and all(e.column > 0 for e in errors), errors
    finally:
        asyncio.run(office.close())


def test_template_list_leaves_out_python_and_hidden_files(tmp_path: Path) -> None:
    """A checkout's bytecode (``__pycache__``), the package's ``__init__.py``, an editor's
    hidden swap file and the shipped SIP phone layouts are not config-file templates: not
    listed, and their text is not served as one."""
    import jinja2

    from pktcable.delivery.resolvers import TemplateResolver
    from pktcable.store.devices import MemoryDeviceStore

    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\x00")
    (tmp_path / ".cm.txt.swp").write_text("x")
    (tmp_path / "site.txt").write_text("Main { NetworkAccess 1; }\n")
    resolver = TemplateResolver(MemoryDeviceStore(), jinja2.FileSystemLoader(str(tmp_path)))
    assert resolver.names() == ["cm.txt", "mta.txt", "site.txt"]
    for hidden in ("__init__.py", "__pycache__/x.cpython-311.pyc", ".cm.txt.swp", "sip/generic.xml.j2"):
        with pytest.raises(jinja2.TemplateNotFound):
            resolver.source(hidden)
