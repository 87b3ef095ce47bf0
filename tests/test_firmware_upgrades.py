"""Devices' reported software versions (DHCP option 43, the eMTA's enrollment INFORM) and
the CM file's upgrade TLVs 9/21/32/33, as the back office builds them."""

from __future__ import annotations

import calendar
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dhcp.message import decode
from pktcable.cli import main
from pktcable.delivery.resolvers import InMemoryDevices, TemplateResolver
from pktcable.dhcpd.events import DeviceReport, LeaseBound
from pktcable.dhcpd.policy import identify
from pktcable.firmware.cmupgrade import UpgradeError, UpgradeTlvs, body_of, with_upgrade
from pktcable.firmware.codefile import CodeFileError, signer_cvcs
from pktcable.firmware.device import upgrade_of
from pktcable.firmware.rules import DeviceFirmware, Rule
from pktcable.serve import leasewire as wire
from pktcable.serve.lookup import RecordingResolver
from pktcable.serve.upgrades import Upgrades, report_of
from pktcable.store import Lease
from pktcable.store.devices import Device
from pktcable.store.firmware import MemoryFirmwareStore, make_image
from tlv.configfile import decode_file

from .conftest import DATA
from .dhcp_helpers import CG3000, opt60, request
from .promtext import value

KEY = b"shared-secret"
NOON = float(calendar.timegm((2026, 12, 3, 12, 0, 0)))
GOLD = DATA / "firmware"
MAC = "001122334455"
SERVER = IPv4Address("10.0.0.1")


def cert_der(name: str) -> bytes:
    return x509.load_pem_x509_certificate((GOLD / name).read_bytes()).public_bytes(Encoding.DER)


def sub43(code: int, text: str) -> bytes:
    raw = text.encode()
    return bytes((code, len(raw))) + raw


# -- reports --------------------------------------------------------------------------------------

def test_option_43_names_the_device_and_its_software() -> None:
    raw43 = sub43(2, "ECM") + sub43(10, "Example Vendor") + sub43(9, "EX-100") + sub43(5, "3") + sub43(6, "1.0.7")
    msg = decode(request(3, bytes.fromhex(MAC), options=[opt60("docsis3.0"), (43, raw43)]))
    client = identify(msg)
    assert client.device_type == "ECM"
    assert client.report == DeviceReport("Example Vendor", "EX-100", "3", "1.0.7")
    assert identify(decode(request(3, bytes.fromhex(MAC), options=[opt60("docsis3.0")]))).report is None


def test_the_report_crosses_from_the_dhcp_worker() -> None:
    held = Lease(IPv4Address("10.2.0.10"), "01" + MAC, "00:11:22:33:44:55", 2000.0)
    report = DeviceReport("Example Vendor", "EX-100", "", "1.0.7")
    from pktcable.dhcpd.policy import vendor_class

    for event in (LeaseBound(held, "cm", "3.0", None, vendor_class(CG3000.encode(), None), False, report),
                  LeaseBound(held, "cm", "3.0")):
        reader = wire.FrameReader()
        (record,) = list(reader.feed(wire.encode_event(event)))
        assert record.event is not None and record.event.report == event.report


def test_reports_are_kept_and_bad_fields_refused() -> None:
    store = MemoryFirmwareStore()
    clock = iter([10.0, 20.0, 30.0]).__next__
    up = Upgrades(store, clock, SERVER)
    up.dhcp_report(MAC, DeviceReport("Example Vendor", "EX-100", "3", "1.0"))
    up.reported(MAC, b"1.1")
    up.reported(MAC, b"bad\x00version")  # refused: not printable
    assert up.refused == {"report": 1} and up.offered == 0
    assert store.device(MAC) == DeviceFirmware(MAC, "Example Vendor", "EX-100", "3", "1.1")
    assert [(v.sw_version, v.source) for v in store.versions(MAC)] == [("1.1", "inform"), ("1.0", "dhcp")]
    firmware, problems = report_of(MAC, DeviceReport("V" * 65, "M", "", "2.0"))
    assert firmware == DeviceFirmware(MAC, "", "M", "", "2.0") and problems and "vendor" in problems[0]


# -- the CM file ---------------------------------------------------------------------------------

def catalogue(code_file: str = "openssl-sha256-cosigned.p7", signature: str = "signed by Example Vendor",
              ) -> MemoryFirmwareStore:
    store = MemoryFirmwareStore()
    data = (GOLD / code_file).read_bytes()
    store.add(make_image("ex100-2.0.p7", "Example Vendor", "EX-100", "3", "2.0", data, signature, 1.0), data)
    store.add_rule(Rule("ex100", "Example Vendor", "EX-100", "*", "ex100-2.0.p7", "2.0"))
    store.record_device(DeviceFirmware(MAC, "Example Vendor", "EX-100", "3", "1.0"), "dhcp", 1.0)
    return store


def build(up: Upgrades) -> bytes:
    device = Device(MAC, kind="cm", template="cm.txt")
    templates = TemplateResolver(InMemoryDevices([device]), cm_key=KEY)
    files = RecordingResolver(templates, lambda *_: None, up.cm_file)
    return files.resolve(f"cm-{MAC}.cfg", ("10.0.0.9", 69))


def test_an_upgrading_modem_gets_tlv_9_21_32_33_and_valid_mics() -> None:
    store = catalogue()
    up = Upgrades(store, lambda: NOON, SERVER, manufacturer="Example Vendor", cm_key=KEY)
    built = decode_file(build(up), key=KEY)
    assert built.mic_ok
    upgrade = upgrade_of(built)
    assert upgrade.filename == "ex100-2.0.p7" and upgrade.server == SERVER
    assert upgrade.manufacturer_cvc == cert_der("manufacturer-cvc.pem")
    assert upgrade.cosigner_cvc == cert_der("cosigner-cvc.pem")
    # The template's own TLVs are all still there, before the upgrade's.
    codes = [n.code for n in built.decoded.nodes]
    assert codes.index(3) < codes.index(9) < codes.index(21) < codes.index(32) < codes.index(33)


def test_no_upgrade_tlvs_at_the_target_or_without_a_rule() -> None:
    store = catalogue()
    up = Upgrades(store, lambda: NOON, SERVER, cm_key=KEY)
    store.record_device(DeviceFirmware(MAC, sw_version="2.0"), "dhcp", 2.0)
    plain = decode_file(build(up), key=KEY)
    assert plain.mic_ok and upgrade_of(plain).filename is None and not plain.certificates
    store.record_device(DeviceFirmware(MAC, sw_version="1.0"), "dhcp", 3.0)
    store.delete_rule("ex100")
    up.changed()
    assert upgrade_of(decode_file(build(up), key=KEY)).filename is None


def test_configured_cvcs_win_and_an_unsigned_image_without_them_is_left_out() -> None:
    mfg = cert_der("manufacturer-cvc.pem")
    up = Upgrades(catalogue("openssl-sha256.p7"), lambda: NOON, SERVER, cm_key=KEY, cosigner_cvc=mfg)
    got = upgrade_of(decode_file(build(up), key=KEY))
    assert got.manufacturer_cvc == mfg and got.cosigner_cvc == mfg  # the signer's, and the configured one
    raw = MemoryFirmwareStore()
    raw.add(make_image("ex100-2.0.p7", "Example Vendor", "EX-100", "3", "2.0", b"raw", "unsigned", 1.0), b"raw")
    raw.add_rule(Rule("ex100", "Example Vendor", "EX-100", "*", "ex100-2.0.p7", "2.0"))
    raw.record_device(DeviceFirmware(MAC, "Example Vendor", "EX-100", "3", "1.0"), "dhcp", 1.0)
    unsigned = Upgrades(raw, lambda: NOON, SERVER, cm_key=KEY)
    assert upgrade_of(decode_file(build(unsigned), key=KEY)).filename is None and unsigned.refused == {"upgrade": 1}
    assert upgrade_of(decode_file(build(Upgrades(raw, lambda: NOON, SERVER, cm_key=KEY, manufacturer_cvc=mfg)),
                                  key=KEY)).filename == "ex100-2.0.p7"


def test_a_manufacturer_not_among_the_signers_is_refused() -> None:
    up = Upgrades(catalogue(), lambda: NOON, SERVER, manufacturer="Other Vendor", cm_key=KEY)
    assert upgrade_of(decode_file(build(up), key=KEY)).filename is None and up.refused == {"upgrade": 1}


def test_the_device_view_shows_no_offer_where_the_cm_file_leaves_the_image_out() -> None:
    """The page says what the modem gets: an offer its file cannot carry is none, with why."""
    up = Upgrades(catalogue(), lambda: NOON, SERVER, manufacturer="Other Vendor", cm_key=KEY)
    left_out = up.view(MAC, "cm")
    assert left_out["image"] is None and left_out["version"] is None
    assert "left out of the CM file" in left_out["reason"] and "Other Vendor" in left_out["reason"]
    assert left_out["target"] == "ex100-2.0.p7"  # the rule's target stays in view
    assert upgrade_of(decode_file(build(up), key=KEY)).filename is None  # as the file says
    assert up.view(MAC, "sip")["image"] == "ex100-2.0.p7"  # a phone's profile needs no CVC
    carried = Upgrades(catalogue(), lambda: NOON, SERVER, manufacturer="Example Vendor", cm_key=KEY)
    assert carried.view(MAC, "cm")["image"] == "ex100-2.0.p7"


def test_without_firmware_manufacturer_the_catalogued_vendor_names_the_manufacturer_cvc() -> None:
    got = upgrade_of(decode_file(build(Upgrades(catalogue(), lambda: NOON, SERVER, cm_key=KEY)), key=KEY))
    assert got.manufacturer_cvc == cert_der("manufacturer-cvc.pem") and got.cosigner_cvc == cert_der("cosigner-cvc.pem")


def test_pktcable_decode_shows_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "cm.cfg"
    path.write_bytes(build(Upgrades(catalogue(), lambda: NOON, SERVER, cm_key=KEY)))
    (tmp_path / "key").write_bytes(KEY)
    out = CliRunner().invoke(main, ["decode", str(path)])
    assert out.exit_code == 0, out.output
    assert 'SwUpgradeFilename "ex100-2.0.p7";' in out.output and "SwUpgradeServer 10.0.0.1;" in out.output
    assert "ManufacturerCVC" in out.output and "CoSignerCVC" in out.output


def test_tlvs_and_their_limits() -> None:
    cvc = bytes(range(256)) * 3
    tlvs = UpgradeTlvs("a.p7", SERVER, cvc).encode()
    assert tlvs[:6] == b"\x09\x04a.p7" and tlvs[6:12] == b"\x15\x04\x0a\x00\x00\x01"
    assert [tlvs[12 + i * 256] for i in range(3)] == [32, 32, 32] and tlvs[13] == 254
    for bad in (UpgradeTlvs("", SERVER), UpgradeTlvs("é.p7", SERVER), UpgradeTlvs("a" * 256, SERVER),
                UpgradeTlvs("a", SERVER, b"x" * 20000)):
        with pytest.raises(UpgradeError):
            bad.encode()
    with pytest.raises(UpgradeError):
        body_of(b"\x03\x01\x01")
    assert with_upgrade(b"\x03\x01\x01" + b"\x06\x10" + bytes(16), b"", KEY).startswith(b"\x03\x01\x01\x06\x10")


def test_signer_cvcs_of_a_code_file() -> None:
    found = signer_cvcs((GOLD / "openssl-sha256-cosigned.p7").read_bytes())
    # In DER order (a SET OF is sorted), not the order they signed in.
    assert sorted(found) == [("Example Cable", cert_der("cosigner-cvc.pem")),
                             ("Example Vendor", cert_der("manufacturer-cvc.pem"))]
    with pytest.raises(CodeFileError) as caught:
        signer_cvcs(b"\x30\x03\x02\x01\x01")
    assert caught.value.reason == "malformed"


# -- in serve ------------------------------------------------------------------------------------

def test_serve_records_the_report_and_builds_the_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A modem's DHCP report through the back office's event handler, its file through the
    whole resolver chain (the holders' gate, which has tests of its own, waved through), its
    status through the API's view; then the eMTA-style INFORM report of the new version."""
    import asyncio

    from pktcable.serve.api import metrics_text
    from pktcable.serve.app import Backoffice
    from pktcable.serve.config import ServeConfig
    from pktcable.serve.officeview import OfficeView

    cfg = ServeConfig(data_dir=str(tmp_path / "data"), cm_key="test-cmts-secret", auto_enroll=True,
                      firmware_cvc_root=str(GOLD / "cvc-root.pem"), firmware_manufacturer="Example Vendor")

    async def run() -> None:
        office = Backoffice(cfg)
        try:
            source = catalogue()
            image = source.get("ex100-2.0.p7")
            assert image is not None
            office.firmware.add(image, source.data("ex100-2.0.p7") or b"")
            office.firmware.add_rule(Rule("ex100", "Example Vendor", "EX-100", "*", "ex100-2.0.p7", "2.0"))
            held = Lease(IPv4Address("10.0.0.50"), "01" + MAC, "00:11:22:33:44:55", 1e12)
            office._on_dhcp(LeaseBound(held, "cm", "3.0", None, None, False,
                                       DeviceReport("Example Vendor", "EX-100", "3", "1.0")))
            monkeypatch.setattr(office.lookup, "may_fetch", lambda mac, kind, ip: None)
            built = decode_file(office.files.resolve(f"cm-{MAC}.cfg", ("10.0.0.50", 1069)), key=b"test-cmts-secret")
            assert built.mic_ok and upgrade_of(built).filename == "ex100-2.0.p7"
            assert upgrade_of(built).server == office.site.advertise
            status = OfficeView(office).firmware_status(MAC)
            assert (status["current"], status["target_version"], status["image"]) == ("1.0", "2.0", "ex100-2.0.p7")
            # The API's preview shows the file as the modem gets it: upgrade included.
            preview = decode_file(OfficeView(office).preview("cm.txt", MAC), key=b"test-cmts-secret")
            assert upgrade_of(preview).filename == "ex100-2.0.p7"
            text = metrics_text(OfficeView(office))
            assert value(text, "pktcable_firmware_upgrades_offered_total") == 2
            assert value(text, "pktcable_firmware_refused_total", what="upgrade") == 0
            office.upgrades.reported(MAC, b"2.0")
            again = decode_file(office.files.resolve(f"cm-{MAC}.cfg", ("10.0.0.50", 1069)), key=b"test-cmts-secret")
            assert upgrade_of(again).filename is None
            status = OfficeView(office).firmware_status(MAC)
            assert status["current"] == "2.0" and status["image"] is None and "already running" in status["reason"]
            assert [h["sw_version"] for h in status["history"]] == ["2.0", "1.0"]
            assert office.forget(MAC) and office.firmware.device(MAC) is None
        finally:
            await office.close()

    asyncio.run(run())


def test_a_repeated_report_writes_nothing_and_a_bad_image_is_told_once(caplog: pytest.LogCaptureFixture) -> None:
    store = catalogue()
    writes: list[str] = []
    original = store.record_device

    def counted(report: DeviceFirmware, source: str, at: float) -> bool:
        writes.append(source)
        return original(report, source, at)

    store.record_device = counted  # type: ignore[method-assign]
    up = Upgrades(store, lambda: NOON, SERVER, manufacturer="Nobody", cm_key=KEY)
    for _ in range(3):  # three reboots on one image
        up.dhcp_report(MAC, DeviceReport("Example Vendor", "EX-100", "3", "1.0"))
        up.reported(MAC, b"1.0")
    assert writes == ["dhcp"]  # the store already knew 1.0 (catalogue()), and then the cache did
    up.reported(MAC, b"1.1")
    assert writes == ["dhcp", "inform"]
    up.forget(MAC)
    up.reported(MAC, b"1.1")
    assert writes == ["dhcp", "inform", "inform"]
    store.record_device(DeviceFirmware(MAC, sw_version="1.0"), "dhcp", 1.0)
    with caplog.at_level("WARNING", "pktcable.serve"):
        for _ in range(5):
            assert upgrade_of(decode_file(build(up), key=KEY)).filename is None
    assert up.refused == {"upgrade": 5}
    assert len([r for r in caplog.records if "left out of CM files" in r.getMessage()]) == 1


def test_tlv_9_and_21_as_the_docsis_tool_writes_them() -> None:
    """The reference compiler's own file (tests/data/docsis-compat, made by `docsis -e`) holds
    TLV 9 and 21 byte for byte as the upgrade writes them: no NUL after the name, 4 octets."""
    made_by_docsis = (DATA / "docsis-compat" / "cm_basic.bin").read_bytes()
    ours = UpgradeTlvs("vendor-fw-2.4.1.bin", IPv4Address("10.1.1.1")).encode()
    tlv9, tlv21 = ours[:2 + ours[1]], ours[2 + ours[1]:]
    assert tlv9 in made_by_docsis and tlv21 in made_by_docsis


def test_a_stored_rule_this_code_refuses_costs_the_upgrade_not_the_file(tmp_path: Path) -> None:
    import sqlite3

    from pktcable.store.firmware import SqliteFirmwareStore

    store = SqliteFirmwareStore(tmp_path)
    store.add_rule(Rule("ex100", "Example Vendor", "EX-100", "*", "ex100-2.0.p7", "2.0"))
    store.record_device(DeviceFirmware(MAC, "Example Vendor", "EX-100", "3", "1.0"), "dhcp", 1.0)
    db = sqlite3.connect(tmp_path / "firmware.db")
    db.execute("UPDATE firmware_rule SET percent = 400")  # by hand, past what a rule may hold
    db.commit()
    db.close()
    up = Upgrades(store, lambda: NOON, SERVER, cm_key=KEY)
    built = decode_file(build(up), key=KEY)
    assert built.mic_ok and upgrade_of(built).filename is None and up.refused == {"upgrade": 1}
    store.close()


def test_with_the_cvc_always_every_cm_file_carries_it_and_only_an_offer_adds_tlv_9() -> None:
    """firmware_cvc_always: a modem at its target (or under no rule, or whose offer is left
    out) still gets TLV 32/33, decoded as the modem reads them, with valid MICs; an offer is
    counted only when TLV 9 is in the file."""
    mfg, cosigner = cert_der("manufacturer-cvc.pem"), cert_der("cosigner-cvc.pem")
    store = catalogue()
    up = Upgrades(store, lambda: NOON, SERVER, cm_key=KEY, manufacturer_cvc=mfg, cosigner_cvc=cosigner,
                  cvc_always=True)
    offered = decode_file(build(up), key=KEY)
    assert offered.mic_ok and upgrade_of(offered).filename == "ex100-2.0.p7" and up.offered == 1
    store.record_device(DeviceFirmware(MAC, sw_version="2.0"), "dhcp", 2.0)  # at its target now
    at_target = decode_file(build(up), key=KEY)
    got = upgrade_of(at_target)
    assert at_target.mic_ok and got.filename is None and got.server is None
    assert (got.manufacturer_cvc, got.cosigner_cvc) == (mfg, cosigner) and up.offered == 1
    store.delete_rule("ex100")
    up.changed()
    assert upgrade_of(decode_file(build(up), key=KEY)).manufacturer_cvc == mfg  # under no rule
    # Without the setting, such a file carries nothing of it (as before).
    plain = Upgrades(store, lambda: NOON, SERVER, cm_key=KEY, manufacturer_cvc=mfg)
    assert not decode_file(build(plain), key=KEY).certificates
