"""SIP phones' firmware without sockets: the profile's firmware element per layout, the
simulated phone's checks (phonesoftware.py), what serve takes from a phone's SUBSCRIBE and
offers it (upgrades.py), and the sweep that tells only the phones a rule change moves."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import pytest

from pktcable.firmware import codefile as cf
from pktcable.firmware.labimage import make_image as lab_image
from pktcable.firmware.rules import Rule
from pktcable.phones.firmware import FirmwareOffer, firmware_of
from pktcable.phones.profiles import ProfileError, Profiles
from pktcable.secure.labdir import LabPki
from pktcable.serve.phonefirmware import PhoneFirmware
from pktcable.serve.upgrades import Upgrades
from pktcable.simulate.phonesoftware import Outcome, PhoneSoftware
from pktcable.sip.uaprofile import UaProfile
from pktcable.store.devices import Device
from pktcable.store.firmware import MemoryFirmwareStore, make_image

from .test_firmware import MFG, NOW, SETTINGS, SIGNED

MAC = "02a000000001"
VARS: dict[str, Any] = {"registrar": "sip.example.net", "lines": [{"user": "3001", "password": "pw"}]}
URL = "http://192.0.2.1:8080/ph-2.0.0.p7"
SHA = "ab" * 32


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def _signed(lab: LabPki, image: bytes) -> bytes:
    mfg = lab.get("manufacturer-cvc")
    return cf.sign(image, mfg.certificate, mfg.key, signing_time=SIGNED)


# -- the profile ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("layout", "want"), [
    ("generic", FirmwareOffer(URL, "2.0 beta", SHA)),
    ("polycom", FirmwareOffer(URL)),  # upgrade.custom.server.url: the URL only
    ("snom", FirmwareOffer(URL)),  # <firmware-settings><firmware>: the URL only
])
def test_each_layout_carries_the_firmware_in_its_own_element(layout: str, want: FirmwareOffer) -> None:
    profile = Profiles().build(MAC, layout, {**VARS, "firmware_url": URL, "firmware_version": "2.0 beta",
                                            "firmware_sha256": SHA})
    assert firmware_of(MAC, layout, profile.data) == want
    assert firmware_of(MAC, layout, Profiles().build(MAC, layout, VARS).data) is None


@pytest.mark.parametrize(("extra", "field"), [
    ({"firmware_version": "2.0"}, "firmware_version"),  # a version names no image without its URL
    ({"firmware_url": URL, "firmware_sha256": "AB" * 32}, "firmware_sha256"),
    ({"firmware_url": URL, "firmware_sha256": "ab" * 31}, "firmware_sha256"),
    ({"firmware_url": URL, "firmware_version": "v" * 65}, "firmware_version"),
    ({"firmware_url": URL, "firmware_version": "2.0\n"}, "firmware_version"),
])
def test_firmware_variables_are_checked(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ProfileError) as err:
        Profiles().build(MAC, "generic", {**VARS, **extra})
    assert err.value.field == field


def test_the_generic_schema_refuses_a_firmware_element_it_does_not_know() -> None:
    profiles = Profiles()
    data = profiles.build(MAC, "generic", {**VARS, "firmware_url": URL, "firmware_sha256": SHA}).data
    with pytest.raises(ProfileError, match="sha256"):
        profiles.validate(MAC, "generic", data.replace(SHA.encode(), b"xyz"))
    with pytest.raises(ProfileError, match="size"):
        profiles.validate(MAC, "generic", data.replace(b' sha256="', b' size="1" sha256="'))


# -- the simulated phone's software ---------------------------------------------------------------

def _offer(data: bytes, version: str | None = "2.0.0", *, sha: bool = True, url: str = URL) -> FirmwareOffer:
    return FirmwareOffer(url, version, hashlib.sha256(data).hexdigest() if sha else None)


def test_a_phone_without_trust_installs_the_image_the_profile_names() -> None:
    phone = PhoneSoftware("1.0.0")
    image = lab_image("2.0.0", b"x" * 100)
    offer = _offer(image)
    assert phone.due(offer) and not phone.due(None) and not phone.due(_offer(image, "1.0.0"))
    result = phone.downloaded(offer, image, None)
    assert result.name == "upgraded: 2.0.0" and phone.version == "2.0.0" and phone.upgrades == 1
    assert not phone.due(offer)


def test_a_vendor_layout_names_no_version_the_image_tells_it() -> None:
    phone = PhoneSoftware("1.0.0")
    image = lab_image("2.0.0")
    offer = _offer(image, None, sha=False)
    assert phone.due(offer)  # a URL the phone has not taken
    assert phone.downloaded(offer, image, None).name == "upgraded: 2.0.0"
    assert not phone.due(offer)
    again = _offer(image, None, sha=False, url=URL + "?copy")
    assert phone.due(again)
    assert phone.downloaded(again, image, None).outcome is Outcome.UPGRADED and phone.upgrades == 1  # nothing new


@pytest.mark.parametrize(("signed", "mangle", "version", "want"), [
    (False, "sha", "2.0.0", "hash-mismatch"),
    (False, "", "3.0.0", "wrong-version: the image is 2.0.0, the profile names 3.0.0"),
    (False, "header", "2.0.0", "image-refused"),
    (True, "unsigned", "2.0.0", "unsigned-refused: the phone takes signed code files only"),
    (True, "signature", "2.0.0", "code-file-rejected: bad-signature"),
])
def test_a_refused_image_is_named_and_the_phone_keeps_its_version(lab: LabPki, signed: bool, mangle: str,
                                                                  version: str, want: str) -> None:
    trust = cf.CvcTrust(lab.get("cvc-root").certificate, MFG)
    phone = PhoneSoftware("1.0.0", trust if signed else None)
    image = lab_image("2.0.0", b"\x5a" * 256)
    if mangle == "header":
        image = b"NOT-AN-IMAGE 2.0.0\n"
    data = _signed(lab, image) if signed and mangle != "unsigned" else image
    if mangle == "signature":
        spoiled = bytearray(data)
        spoiled[spoiled.index(b"\x5a" * 16)] ^= 1
        data = bytes(spoiled)
    offer = _offer(data, version)
    if mangle == "sha":
        offer = FirmwareOffer(URL, version, "00" * 32)
    result = phone.downloaded(offer, data, NOW)
    assert result.name.startswith(want), result.name
    assert phone.version == "1.0.0" and phone.upgrades == 0 and phone.last == result
    assert not phone.due(offer)  # not fetched again until the profile names another image


def test_a_phone_with_trust_installs_a_well_signed_image_and_a_rollback_to_an_older_signing(lab: LabPki) -> None:
    trust = cf.CvcTrust(lab.get("cvc-root").certificate, MFG)
    phone = PhoneSoftware("1.0.0", trust)
    mfg = lab.get("manufacturer-cvc")
    new = _signed(lab, lab_image("2.0.0"))
    old = cf.sign(lab_image("1.0.0"), mfg.certificate, mfg.key, signing_time=SIGNED - dt.timedelta(minutes=30))
    assert phone.downloaded(_offer(new), new, NOW).name == "upgraded: 2.0.0"
    # No codeAccessStart on a phone: the image signed earlier is taken back (a rollback rule).
    assert phone.downloaded(_offer(old, "1.0.0"), old, NOW).name == "upgraded: 1.0.0"


# -- serve: the report and the offer ----------------------------------------------------------------

class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _upgrades(clock: Clock) -> Upgrades:
    from ipaddress import IPv4Address

    store = MemoryFirmwareStore()
    for version in ("1.0.0", "2.0.0"):
        data = lab_image(version)
        store.add(make_image(f"ph-{version}.p7", "Acme", "P1", "1", version, data, "unsigned", 1.0), data)
    return Upgrades(store, clock, IPv4Address("192.0.2.1"))


def test_the_subscribe_reports_what_the_phone_runs_and_bad_fields_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(1_000_000.0)
    upgrades = _upgrades(clock)
    upgrades.phone_report(MAC, "Acme", "P1", "1.0.0")
    seen = upgrades.store.device(MAC)
    assert seen is not None and (seen.vendor, seen.model, seen.hw_version, seen.sw_version) == ("Acme", "P1", "", "1.0.0")
    assert [(v.sw_version, v.source) for v in upgrades.store.versions(MAC)] == [("1.0.0", "sip")]
    with caplog.at_level(logging.INFO, "pktcable.serve"):
        upgrades.phone_report(MAC, "Acme", "P1\x00", "x" * 65)
    assert upgrades.refused["report"] == 2 and "refused" in caplog.text
    seen = upgrades.store.device(MAC)
    assert seen is not None and (seen.model, seen.sw_version) == ("P1", "1.0.0")  # kept, never cut to fit
    assert upgrades.phone_image(MAC) is None  # no rule


def test_the_offer_follows_the_rule_its_stage_and_its_window() -> None:
    clock = Clock(dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC).timestamp())
    upgrades = _upgrades(clock)
    upgrades.phone_report(MAC, "Acme", "P1", "1.0.0")
    upgrades.store.add_rule(Rule("p1", "Acme", "P1", "*", "ph-2.0.0.p7", "2.0.0", window="02:00-04:00"))
    assert upgrades.phone_image(MAC) is None  # outside the window
    clock.now += 3600
    upgrades.changed()
    image = upgrades.phone_image(MAC)
    assert image is not None and (image.filename, image.version) == ("ph-2.0.0.p7", "2.0.0")
    upgrades.phone_report(MAC, None, None, "2.0.0")
    assert upgrades.phone_image(MAC) is None  # it runs the target


def test_a_sweep_queues_only_the_phones_whose_firmware_moved() -> None:
    clock = Clock(dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC).timestamp())
    upgrades = _upgrades(clock)
    devices = {m: Device(m, kind="sip", template="generic", vars=dict(VARS)) for m in (MAC, "02a000000002")}
    devices["02a000000003"] = Device("02a000000003", kind="sip", vars={**VARS, "firmware_url": URL})  # pinned
    for mac in devices:
        upgrades.phone_report(mac, "Acme", "P1", "1.0.0")
    upgrades.phone_report("02a000000002", None, "P2", None)  # another model: no rule of P1 moves it
    told: list[str] = []

    def notify(macs: Iterable[str]) -> None:
        told.extend(macs)

    firmware = PhoneFirmware(upgrades, devices.get, notify, clock)

    async def main() -> None:
        firmware.base = "http://192.0.2.1:8080/"
        for device in devices.values():
            assert firmware.variables(device) == {}  # no rule yet
        before = firmware._state()
        upgrades.store.add_rule(Rule("p1", "Acme", "P1", "*", "ph-2.0.0.p7", "2.0.0", window="02:00-04:00"))
        upgrades.changed()
        assert firmware._state() != before
        assert await firmware.sweep() == [] and told == []  # the window is closed: nothing moved
        clock.now += 3600
        opened = firmware._state()
        assert opened != before  # the window opening is a change of its own
        assert await firmware.sweep() == [MAC] and told == [MAC]
        extra = firmware.variables(devices[MAC])  # the push builds its profile
        assert extra == {"firmware_url": "http://192.0.2.1:8080/ph-2.0.0.p7", "firmware_version": "2.0.0",
                         "firmware_sha256": hashlib.sha256(lab_image("2.0.0")).hexdigest()}
        assert await firmware.sweep() == []  # told once
        firmware.report(MAC, UaProfile("device", vendor="Acme", model="P1", version="2.0.0"))
        assert await firmware.sweep() == [MAC] and firmware.variables(devices[MAC]) == {}  # it runs it now

    asyncio.run(main())


def test_the_report_names_the_phones_upgrades() -> None:
    from pktcable.simulate.config import DeviceResult
    from pktcable.simulate.report import render, summarize

    results = [DeviceResult(n, f"02a0{n:08x}", "SIP", state="SUBSCRIBED", cm_version=v, upgrade=u)
               for n, (v, u) in enumerate([("2.0.0", "upgraded: 2.0.0"), ("1.0.0", "code-file-rejected: bad-signature"),
                                           ("1.0.0", "")])]
    summary = summarize(results, 1.0)
    assert summary["upgrades"] == {"code-file-rejected": 1, "upgraded": 1}
    assert summary["cm_versions"] == {"1.0.0": 2, "2.0.0": 1}
    assert "phone upgrades: code-file-rejected 1, upgraded 1; versions now: 1.0.0 2, 2.0.0 1" in render(summary, "SIP")
