"""SIP phones' firmware from the rules, end to end: ``pktcable serve`` and simulated phones.
A rule for the phones -> the change NOTIFY to those it moves (only them) -> they fetch the
image, check its signature, install it, reboot, subscribe afresh reporting the new version
-> serve records it; a rollback takes them back; a wrongly signed image (its rule written
straight to the store, as the CLI does) ends in a named failure, the old version kept."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from pktcable.firmware import codefile as cf
from pktcable.firmware.labimage import make_image as lab_image
from pktcable.firmware.rules import Rule
from pktcable.phones.firmware import firmware_of
from pktcable.secure.labdir import LabPki
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check
from pktcable.simulate.phone import PhoneConfig, SimulatedPhone, phone_mac
from pktcable.simulate.phonefleet import PhoneFleet
from pktcable.store.firmware import make_image, signature_status

from .apiclient import serving
from .peers import require
from .ports import free_port
from .sip_peers import tls_contexts
from .test_e2e import configs, free_tcp_port
from .test_firmware import MFG, NOW, SETTINGS, SIGNED

BUDGET = 30.0
VARS: dict[str, Any] = {"registrar": "sip.example.net", "lines": [{"user": "3001", "password": "pw"}]}
VENDOR, MODEL = "pktcable", "simulated"  # what the simulated phones report (PhoneConfig's defaults)
COUNT = 3


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def _images(lab: LabPki) -> dict[str, tuple[str, bytes]]:
    """file name -> (version, code file): two good images and one whose image was changed after signing."""
    mfg = lab.get("manufacturer-cvc")
    out = {}
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        out[f"ph-{version}.p7"] = version, cf.sign(lab_image(version, b"\x5a" * 4096), mfg.certificate, mfg.key,
                                                   signing_time=SIGNED)
    bad = bytearray(out["ph-3.0.0.p7"][1])
    bad[bad.index(b"\x5a" * 64)] ^= 1  # the signed content no longer matches its message digest
    out["ph-3.0.0.p7"] = "3.0.0", bytes(bad)
    return out


def _setting_up(lab: LabPki, folder: Path, layout: str = "generic") -> tuple[ServeConfig, str]:
    root = folder / "cvc-root.pem"
    root.write_bytes(lab.get("cvc-root").certificate.public_bytes(Encoding.PEM))
    cfg, _ = configs(["HYBRID.2"], auto_enroll=False, firmware_cvc_root=str(root), firmware_manufacturer=MFG)
    cfg.api_port, cfg.http_port, cfg.sip_port = free_tcp_port(), free_tcp_port(), free_port()
    cfg.devices = [{"mac": phone_mac(n), "kind": "sip", "template": layout, "vars": VARS} for n in range(COUNT)]
    return check(cfg), str(root)


def _run(lab: LabPki, cfg: ServeConfig, scenario: Callable[[Backoffice], Awaitable[None]]) -> None:
    async def main() -> None:
        office = Backoffice(cfg)
        for name, (version, data) in _images(lab).items():
            status = signature_status(data, office.firmware_trust, None)
            office.firmware.add(make_image(name, VENDOR, MODEL, "1", version, data, status, 1.0), data)
        await office.start()
        try:
            await asyncio.wait_for(scenario(office), 4 * BUDGET)
        finally:
            await office.close()

    asyncio.run(main())


async def _until(what: Callable[[], bool], why: Callable[[], object]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUDGET
    while not what():
        assert loop.time() < deadline, why()
        await asyncio.sleep(0.05)


def _recorded(office: Backoffice, mac: str) -> str:
    seen = office.firmware.device(mac)
    return seen.sw_version if seen is not None else ""


def _state(phones: list[SimulatedPhone]) -> object:
    return [(p.mac, p.software.version, p.result.upgrade, p.result.state, dict(p.counters), p.result.deviations)
            for p in phones]


def test_a_rule_upgrades_the_listed_phones_serve_records_it_and_a_rollback_takes_them_back(
        lab: LabPki, tmp_path: Path) -> None:
    cfg, root = _setting_up(lab, tmp_path)
    listed = [phone_mac(0), phone_mac(1)]

    async def scenario(office: Backoffice) -> None:
        from pktcable.serve.officeview import OfficeView

        phones_cfg = PhoneConfig("127.0.0.1", cfg.sip_port, cvc_root=root, manufacturer=MFG)
        async with PhoneFleet(phones_cfg, COUNT) as fleet, serving(OfficeView(office), office.admin) as (call, _):
            await fleet.enroll()
            phones = fleet.phones
            assert all(p.result.passed for p in phones), _state(phones)
            # Each phone's SUBSCRIBE told serve what it runs (the ua-profile Event), source "sip".
            for p in phones:
                assert (office.firmware.device(p.mac).vendor, _recorded(office, p.mac)) == (VENDOR, "1.0.0")
                assert [(v.sw_version, v.source) for v in office.firmware.versions(p.mac)] == [("1.0.0", "sip")]
            # A rule whose target they run already: nothing offered, no profile changes, no NOTIFY.
            rule = {"name": "desk", "vendor": VENDOR, "model": MODEL, "hw_version": "*", "target": "ph-1.0.0.p7",
                    "percent": 0, "macs": listed}
            status, body = await call("POST", "/api/v1/firmware-rules", json=rule)
            assert status == 201, body
            notified = {p.mac: p.counters["notify-received"] for p in phones}
            # The listed two take 2.0.0; the third is outside the 0% stage, its profile unchanged.
            status, body = await call("PATCH", "/api/v1/firmware-rules/desk", json={"target": "ph-2.0.0.p7"})
            assert status == 200 and body["previous"] == "ph-1.0.0.p7", body
            for p in phones[:2]:
                await _until(lambda p=p: _recorded(office, p.mac) == "2.0.0", lambda: _state(phones))
                await _until(lambda p=p: p.result.state == "SUBSCRIBED", lambda: _state(phones))
                assert p.software.version == p.result.cm_version == "2.0.0"
                assert p.result.upgrade == "upgraded: 2.0.0" and p.counters["reboots"] == 1
                assert p.counters["notify-received"] > notified[p.mac]
                assert [(v.sw_version, v.source) for v in office.firmware.versions(p.mac)] == \
                    [("2.0.0", "sip"), ("1.0.0", "sip")]
                view = office.upgrades.view(p.mac)
                assert view["current"] == "2.0.0" and view["reason"] == "already running 2.0.0", view
            assert office.sip is not None and office.sip.firmware is not None
            assert office.sip.firmware.queued == 2  # the sweeps moved the listed phones only
            status, body = await call("GET", f"/api/v1/devices/{listed[0]}")  # the device page's firmware
            assert status == 200 and body["firmware"]["current"] == "2.0.0", body["firmware"]
            assert [(h["sw_version"], h["source"]) for h in body["firmware"]["history"]] == \
                [("2.0.0", "sip"), ("1.0.0", "sip")]
            third = phones[2]
            assert third.counters["notify-received"] == notified[third.mac], _state(phones)
            assert third.software.version == "1.0.0" and third.result.upgrade == ""
            assert "0% stage" in office.upgrades.view(third.mac)["reason"]
            # Rollback: the target is 1.0.0 again, offered to the listed phones that run 2.0.0.
            status, body = await call("POST", "/api/v1/firmware-rules/desk/rollback")
            assert status == 200 and body["target"] == "ph-1.0.0.p7", body
            for p in phones[:2]:
                await _until(lambda p=p: _recorded(office, p.mac) == "1.0.0" and p.software.version == "1.0.0",
                             lambda: _state(phones))
                assert p.result.upgrade == "upgraded: 1.0.0" and p.counters["reboots"] == 2
                assert [v.sw_version for v in office.firmware.versions(p.mac)] == ["1.0.0", "2.0.0", "1.0.0"]
            assert third.counters["notify-received"] == notified[third.mac] and third.counters["reboots"] == 0
            assert all(p.result.deviations == [] for p in phones), _state(phones)

    _run(lab, cfg, scenario)


def test_a_wrongly_signed_image_from_a_rule_written_to_the_store_ends_in_a_named_failure(
        lab: LabPki, tmp_path: Path) -> None:
    cfg, root = _setting_up(lab, tmp_path)

    async def scenario(office: Backoffice) -> None:
        phones_cfg = PhoneConfig("127.0.0.1", cfg.sip_port, cvc_root=root, manufacturer=MFG)
        async with PhoneFleet(phones_cfg, 2) as fleet:
            await fleet.enroll()
            phones = fleet.phones
            assert all(p.result.passed for p in phones), _state(phones)
            # As `pktcable firmware rule add` does: the store only; serve sees it at its next read.
            office.firmware.add_rule(Rule("bad", VENDOR, MODEL, "*", "ph-3.0.0.p7", "3.0.0"))
            for p in phones:
                await _until(lambda p=p: p.result.upgrade != "", lambda: _state(phones))
                assert p.result.upgrade == "code-file-rejected: bad-signature", _state(phones)
                assert p.software.version == p.result.cm_version == "1.0.0" and p.counters["reboots"] == 0
                assert p.result.state == "SUBSCRIBED"
                assert _recorded(office, p.mac) == "1.0.0"
                assert [s[:2] for s in p.result.steps if s[0] == "UA-FW"] == [("UA-FW", "CODE_FILE_REJECTED")]

    _run(lab, cfg, scenario)


def test_with_the_profiles_on_https_the_firmware_url_is_there_too(lab: LabPki, tmp_path: Path) -> None:
    require("curl")
    tls_contexts(tmp_path)  # cert.pem / key.pem for prov.test
    cfg, _ = _setting_up(lab, tmp_path)
    cfg.sip_https_port, cfg.sip_cert, cfg.sip_key = free_tcp_port(), str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    cfg = check(cfg)
    mac = phone_mac(0)

    async def scenario(office: Backoffice) -> None:
        assert office.sip is not None
        office.upgrades.phone_report(mac, VENDOR, MODEL, "1.0.0")  # what its SUBSCRIBE would say
        office.firmware.add_rule(Rule("desk", VENDOR, MODEL, "*", "ph-2.0.0.p7", "2.0.0"))
        office.upgrades.changed()
        offer = firmware_of(mac, "generic", office.sip.book.current(mac).profile.data)
        assert offer is not None and offer.version == "2.0.0", offer
        assert offer.url == f"https://127.0.0.1:{cfg.sip_https_port}/ph-2.0.0.p7"
        # The certificate names prov.test: curl reaches the same listener by that name.
        got = tmp_path / "image"
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-o", str(got), "-w", "%{http_code}", "--cacert", str(tmp_path / "cert.pem"),
            "--resolve", f"prov.test:{cfg.sip_https_port}:127.0.0.1", offer.url.replace("127.0.0.1", "prov.test"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), BUDGET)
        assert out == b"200", err
        assert hashlib.sha256(got.read_bytes()).hexdigest() == offer.sha256

    _run(lab, cfg, scenario)


@pytest.mark.parametrize("layout", ["generic", "polycom", "snom"])  # the vendor layouts name the URL only
def test_the_simulate_command_s_phones_upgrade_under_a_rule_and_the_report_names_it(
        lab: LabPki, tmp_path: Path, layout: str) -> None:
    cfg, root = _setting_up(lab, tmp_path, layout)

    async def scenario(office: Backoffice) -> None:
        office.firmware.add_rule(Rule("desk", VENDOR, MODEL, "*", "ph-2.0.0.p7", "2.0.0"))
        office.upgrades.changed()
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1", "--flow", "sip", "--sip-port",
            str(cfg.sip_port), "--count", str(COUNT), "--hold", "6", "--cm-version", "1.0.0", "--cvc-root", root,
            "--manufacturer", MFG, "--sip-layout", layout, "--json", "--quiet", stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        out, _ = await asyncio.wait_for(cli.communicate(), 2 * BUDGET)
        assert cli.returncode == 0, out.decode()
        report = json.loads(out)
        assert report["passed"] == COUNT, report["failures"]
        assert report["upgrades"] == {"upgraded": COUNT} and report["cm_versions"] == {"2.0.0": COUNT}, report
        assert report["steps"]["UA-FW UPGRADED"]["count"] == COUNT, report["steps"]  # the download, check, install
        assert all(_recorded(office, phone_mac(n)) == "2.0.0" for n in range(COUNT))

    _run(lab, cfg, scenario)
