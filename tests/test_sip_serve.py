"""SIP phones in ``pktcable serve``: a phone of kind sip in the store, SIPp as the phone
(SUBSCRIBE -> 200 -> NOTIFY with the URL), its profile over the delivery HTTP server
with ETag/304, and an API edit of its variables -> the change NOTIFY; state and
history through the API."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check

from .apiclient import serving
from .peers import require
from .ports import free_port
from .test_e2e import configs, free_tcp_port

DATA = Path(__file__).parent / "data" / "sip"
MAC = "0004f2a0b0d1"
BUDGET = 30.0
VARS = {"registrar": "sip.example.net", "lines": [{"user": "3001", "password": "pw"}]}


async def _wait_history(office: Backoffice, event: str, count: int = 1) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUDGET
    while sum(s.event == event for s in office.devices.history(MAC)) < count:
        assert loop.time() < deadline, office.devices.history(MAC)
        await asyncio.sleep(0.05)


def test_a_phone_subscribes_fetches_and_gets_the_change_notify_after_an_api_edit(tmp_path: Path) -> None:
    require("sipp")
    cfg, _ = configs(["HYBRID.2"], auto_enroll=False)
    cfg.api_port, cfg.http_port, cfg.sip_port = free_tcp_port(), free_tcp_port(), free_port()
    cfg.devices = [{"mac": MAC, "kind": "sip", "template": "generic", "vars": VARS}]

    async def main() -> None:
        office = Backoffice(check(cfg))
        await office.start()
        try:
            from pktcable.serve.officeview import OfficeView

            assert office.sip is not None
            phone = await asyncio.create_subprocess_exec(
                "sipp", f"127.0.0.1:{cfg.sip_port}", "-sf", str(DATA / "uac_profile_change.xml"), "-key", "mac", MAC,
                "-p", str(free_port()), "-m", "1", "-i", "127.0.0.1", "-timeout", "40", "-timeout_error",
                "-trace_err", "-nostdin", cwd=str(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            await _wait_history(office, "Notified")
            url = f"http://127.0.0.1:{office.http.address[1]}/{office.sip.book.path(MAC)}"  # type: ignore[union-attr]
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as r:
                    assert r.status == 200 and b"<user>3001</user>" in await r.read()
                    etag = r.headers["ETag"]
                async with http.get(url, headers={"If-None-Match": etag}) as r:
                    assert r.status == 304
            async with serving(OfficeView(office), office.admin) as (call, _):
                status, body = await call("GET", f"/api/v1/devices/{MAC}")
                assert status == 200 and body["kind"] == "sip" and body["state"] == "subscribed"
                view = body["phone"]  # the subscription and the versions, as the dashboard shows them
                assert view["subscription"] == "subscribed" and view["expires"] > time.time() + 60
                assert view["held"] == view["served"] == view["notified"] and view["in_sync"]
                assert view["last_notify"]["event"] == "Notified"
                assert view["last_fetch"]["detail"] == f"profile {view['served']} by 127.0.0.1"
                first = view["served"]
                status, _ = await call("PUT", f"/api/v1/devices/{MAC}",
                                       json={"vars": {**VARS, "codecs": ["G722"]}})
                assert status == 200
                out, _ = await asyncio.wait_for(phone.communicate(), BUDGET)
                errors = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
                assert phone.returncode == 0, out.decode(errors="replace")[-3000:] + errors
                await _wait_history(office, "Notified", 2)
                office.commit_now()  # the built-file store writes with the next commit (a 50 ms window)
                status, body = await call("GET", f"/api/v1/devices/{MAC}")
                events = [h["event"] for h in body["history"]]
                assert events[:1] == ["Subscribed"] and events.count("Notified") == 2
                assert "profile " in body["history"][-1]["detail"]
                [built] = body["files"]  # the profile the phone was last told of, as text
                assert built["kind"] == "sip" and "<codec payload-type=\"9\">G722</codec>" in built["text"]
                async with aiohttp.ClientSession() as http, http.get(url, headers={"If-None-Match": etag}) as r:
                    assert r.status == 200 and b"G722" in await r.read()  # the new version
                view = (await call("GET", f"/api/v1/devices/{MAC}"))[1]["phone"]
                assert view["served"] != first and view["held"] == view["served"] and view["in_sync"]
        finally:
            await office.close()

    asyncio.run(main())


@pytest.mark.parametrize(("setting", "words"), [
    ({"sip_port": 5070, "http_port": 0}, ["sip_port", "http_port or sip_https_port"]),
    ({"sip_transport": "sctp"}, ["sip_transport", "udp, tcp or tls"]),
    ({"devices": [{"mac": MAC, "kind": "sip", "template": "cisco"}]}, ["template", "generic"]),
    ({"devices": [{"mac": MAC, "kind": "sip", "flow": "HYBRID.2"}]}, ["flow", "sip"]),
])
def test_sip_settings_are_checked(setting: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        check(ServeConfig(cm_key="k", **setting))  # type: ignore[arg-type]
    assert all(w in str(info.value) for w in words), str(info.value)


def test_multicast_needs_udp() -> None:
    with pytest.raises(ValueError, match="sip_multicast"):
        check(ServeConfig(cm_key="k", sip_port=5070, sip_transport="tcp", sip_multicast=True))


def test_operator_layouts_live_in_the_templates_sip_folder_and_are_no_config_templates(tmp_path: Path) -> None:
    from pktcable.phones.profiles import SHIPPED
    from pktcable.serve.officeview import OfficeView

    (tmp_path / "sip").mkdir()
    text = (SHIPPED / "generic.xml.j2").read_text().replace("<lines>", "<!-- site layout --><lines>")
    (tmp_path / "sip" / "generic.xml.j2").write_text(text)
    cfg = check(ServeConfig(cm_key="k", templates=str(tmp_path), sip_port=free_port(),
                            devices=[{"mac": MAC, "kind": "sip", "vars": VARS}]))
    office = Backoffice(cfg)
    try:
        assert office.sip is not None
        assert b"<!-- site layout -->" in office.sip.book.current(MAC).profile.data
        assert not any(t.name.startswith("sip/") for t in OfficeView(office).templates())
    finally:
        office.devices.close()
        office.built.close()
        office.admin.close()


def test_a_phone_leased_by_serve_keeps_its_layout_and_is_pinned_to_its_address() -> None:
    """A phone in the store that takes a lease from serve's DHCP (it is a cpe client: the
    class that carries option 120) gets the address recorded, which pins its SUBSCRIBEs and
    fetches to it, and keeps its empty (generic) layout; the step is no PacketCable one."""
    from ipaddress import IPv4Address

    from pktcable.dhcpd.events import LeaseBound
    from pktcable.store.leases import Lease

    cfg = check(ServeConfig(cm_key="k", http_port=free_tcp_port(), sip_port=free_port(), api_port=0,
                            devices=[{"mac": MAC, "kind": "sip", "vars": VARS}]))

    async def main() -> None:
        office = Backoffice(cfg)
        try:
            assert office.sip is not None and office.dhcp is not None
            lease = Lease(IPv4Address("127.102.0.9"), "01" + MAC, MAC, office.clock() + 3600, device_class="cpe")
            office.dhcp.engine.bind(lease)
            office._guarded_dhcp(LeaseBound(lease, "cpe", ""))
            device = office.devices.get(MAC)
            assert device is not None and device.ip == "127.102.0.9" and device.template == ""
            assert b"<user>3001</user>" in office.sip.book.current(MAC).profile.data
            [step] = office.devices.history(MAC)
            assert (step.step, step.event, step.detail) == ("DHCP", "LeaseAcked", "127.102.0.9")
            from pktcable.delivery.resolvers import AccessDenied

            with pytest.raises(AccessDenied):  # its profile from its own address only
                office.sip.book.serve(office.sip.book.path(MAC), ("127.0.0.1", 5000))
        finally:
            await office.close()

    asyncio.run(main())


def test_a_template_edit_and_reload_sends_the_change_notify_with_the_new_layout(tmp_path: Path) -> None:
    """The operator edits the phones' layout in the templates folder and reloads serve
    (SIGHUP): the subscribed phone (SIPp) gets the change NOTIFY and the new profile."""
    require("sipp")
    from pktcable.phones.profiles import SHIPPED

    layouts = tmp_path / "templates" / "sip"
    layouts.mkdir(parents=True)
    shipped = (SHIPPED / "generic.xml.j2").read_text()
    (layouts / "generic.xml.j2").write_text(shipped)
    cfg, _ = configs(["HYBRID.2"], auto_enroll=False)
    cfg.api_port, cfg.http_port, cfg.sip_port = free_tcp_port(), free_tcp_port(), free_port()
    cfg.templates = str(tmp_path / "templates")
    cfg.devices = [{"mac": MAC, "kind": "sip", "template": "generic", "vars": VARS}]
    work = tmp_path / "sipp"
    work.mkdir()

    async def main() -> None:
        office = Backoffice(check(cfg))
        await office.start()
        try:
            assert office.sip is not None and office.http is not None
            phone = await asyncio.create_subprocess_exec(
                "sipp", f"127.0.0.1:{cfg.sip_port}", "-sf", str(DATA / "uac_profile_change.xml"), "-key", "mac", MAC,
                "-p", str(free_port()), "-m", "1", "-i", "127.0.0.1", "-timeout", "40", "-timeout_error",
                "-trace_err", "-nostdin", cwd=str(work), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            await _wait_history(office, "Notified")
            url = f"http://127.0.0.1:{office.http.address[1]}/{office.sip.book.path(MAC)}"
            async with aiohttp.ClientSession() as http, http.get(url) as r:
                assert r.status == 200 and b"site layout v2" not in await r.read()
            (layouts / "generic.xml.j2").write_text(shipped.replace("<lines>", "<!-- site layout v2 --><lines>"))
            office.reload(check(cfg))
            out, _ = await asyncio.wait_for(phone.communicate(), BUDGET)
            errors = "".join(p.read_text(errors="replace") for p in work.glob("*_errors.log"))
            assert phone.returncode == 0, out.decode(errors="replace")[-3000:] + errors
            await _wait_history(office, "Notified", 2)
            async with aiohttp.ClientSession() as http, http.get(url) as r:
                assert r.status == 200 and b"<!-- site layout v2 -->" in await r.read()
        finally:
            await office.close()

    asyncio.run(main())
