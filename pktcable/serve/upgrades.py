"""Firmware upgrades in the back office: what devices report running, which image the
rules give them, and the upgrade TLVs of a cable modem's config file (docs/firmware.md).

- An eCM's DHCP REQUEST names its vendor, model, hardware and software version in
  option 43 (sub-options 10, 9, 5, 6); an eMTA's enrollment INFORM its software version
  (pktcMtaDevSwCurrentVers); a SIP phone's SUBSCRIBE its vendor, model and version
  (the ua-profile Event parameters). Each report is kept on the device in the firmware store,
  with the history of the versions it ran. Devices choose these bytes: a field that is
  not printable text of at most 64 characters is refused (logged), never cut to fit.
- When a CM file is built, :func:`~pktcable.firmware.rules.target_for` decides from the
  rules and the device's report; an image offered adds TLV 9 (its file name), TLV 21
  (this server's advertised address, where TFTP serves the catalogue) and the CVCs that
  enable it, TLV 32 (manufacturer) and TLV 33 (co-signer): from the configured files
  (``firmware_manufacturer_cvc``, ``firmware_cosigner_cvc``) or else the code file's
  own signers. A device running its target, or no rule's, gets a file without them.

The rules are read from the store at most every :data:`RULES_TTL` seconds (every serve
sharing a PostgreSQL store sees a change within that), and at once after this serve's
own API changed them.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from pktcable.dhcpd.events import DeviceReport
from pktcable.firmware.cmupgrade import UpgradeError, UpgradeTlvs, cvc_tlvs, with_upgrade
from pktcable.firmware.codefile import CodeFileError, signer_cvcs
from pktcable.firmware.rules import MAX_FIELD, Decision, DeviceFirmware, Rule, RuleError, target_for
from pktcable.store.devices import Device
from pktcable.store.firmware import FirmwareImage, FirmwareStore
from pktcable.store.fwrules import merge

from .swchecks import Offer

log = logging.getLogger("pktcable.serve")
#: Seconds a read of the rules is used before the store is asked again.
RULES_TTL = 5.0
#: What ``Upgrades.refused`` counts: device reports with a refused field, upgrades left out of a file.
REFUSED = ("report", "upgrade")
#: Devices whose last report is remembered, so a reboot on the same image writes nothing.
REPORT_CACHE = 100_000
#: Images whose signers' CVCs are remembered (by file name and SHA-256).
CVC_CACHE = 64


def clean(field: str, value: str) -> tuple[str, str | None]:
    """``value`` if it is a field a device may report (printable, 1 to 64 characters),
    else "" and why (a device's bytes, kept only when they read as what they claim)."""
    if not value:
        return "", None
    if len(value) > MAX_FIELD or not value.isprintable():
        return "", f"{field} {value[:MAX_FIELD]!r}{'...' if len(value) > MAX_FIELD else ''} refused: " \
                   f"not 1 to {MAX_FIELD} printable characters"
    return value, None


def report_of(mac: str, report: DeviceReport) -> tuple[DeviceFirmware, list[str]]:
    """What option 43 told, each field checked; the refused fields' reasons."""
    values: dict[str, str] = {}
    problems = []
    for name in ("vendor", "model", "hw_version", "sw_version"):
        values[name], why = clean(name, getattr(report, name))
        if why:
            problems.append(why)
    return DeviceFirmware(mac, **values), problems


class Upgrades:
    def __init__(self, store: FirmwareStore, clock: Callable[[], float], server: IPv4Address, *,
                 manufacturer: str | None = None, manufacturer_cvc: bytes | None = None,
                 cosigner_cvc: bytes | None = None, cm_key: bytes | None = None, cvc_always: bool = False) -> None:
        self.store = store
        #: Every CM file carries the configured CVCs (firmware_cvc_always): a modem whose file
        #: offers no image may still be upgraded by SNMP (a push needs this boot's CVC).
        self.cvc_always = cvc_always
        #: The CMTS shared secret: the MICs are computed again over the added TLVs.
        self.cm_key = cm_key
        self.clock = clock
        #: TLV 21: where the modem fetches the image (this server's TFTP).
        self.server = server
        #: The organization whose CVC goes in TLV 32 when taken from a code file.
        self.manufacturer = manufacturer
        self.manufacturer_cvc = manufacturer_cvc
        self.cosigner_cvc = cosigner_cvc
        self._rules: tuple[float, list[Rule]] | None = None
        self._known: dict[str, DeviceFirmware] = {}
        #: (MAC-less) problems already logged: a rule whose image cannot be offered is told
        #: once, not for every modem of a boot storm.
        self._told: set[str] = set()
        self._cvcs: dict[tuple[str, str], tuple[bytes | None, bytes | None]] = {}
        self._lock = threading.Lock()  # the API's threads and the event loop share the caches
        #: Reports refused and upgrades left out of a file, by REFUSED (each also logged),
        #: and files built with upgrade TLVs: pktcable_firmware_*_total.
        self.refused: Counter[str] = Counter()
        self.offered = 0
        #: The image each modem's last built file offered, until that file is served (swchecks.py).
        self._offers: dict[str, Offer] = {}

    # -- reports ---------------------------------------------------------------------------------------
    def dhcp_report(self, mac: str, report: DeviceReport) -> None:
        firmware, problems = report_of(mac, report)
        for why in problems:
            self.refused["report"] += 1
            log.info("%s option 43: %s", mac, why, extra={"mac": mac})
        if firmware != DeviceFirmware(mac):
            self._record(firmware, "dhcp")

    def phone_report(self, mac: str, vendor: str | None, model: str | None, version: str | None) -> None:
        """A SIP phone's SUBSCRIBE: the ua-profile Event's vendor, model and version parameters
        (RFC 6080 §6.1.2; the phone chose them, checked as option 43's fields are). The
        package names no hardware version: a phone matches rules whose hw_version is ``*``."""
        values: dict[str, str] = {}
        for name, given in (("vendor", vendor), ("model", model), ("sw_version", version)):
            values[name], why = clean(name, given or "")
            if why:
                self.refused["report"] += 1
                log.info("%s ua-profile: %s", mac, why, extra={"mac": mac})
        report = DeviceFirmware(mac, **values)
        if report != DeviceFirmware(mac):
            self._record(report, "sip")

    def reported(self, mac: str, sw_version: bytes) -> None:
        """An eMTA's enrollment INFORM: pktcMtaDevSwCurrentVers (SnmpAdminString, UTF-8)."""
        value, why = clean("pktcMtaDevSwCurrentVers", sw_version.decode("utf-8", "replace"))
        if why:
            self.refused["report"] += 1
            log.info("%s enrollment: %s", mac, why, extra={"mac": mac})
        elif value:
            self._record(DeviceFirmware(mac, sw_version=value), "inform")

    def _record(self, report: DeviceFirmware, source: str) -> None:
        """Write the report unless it tells nothing new (a boot storm of modems that run
        what they ran yesterday then costs the store nothing)."""
        with self._lock:
            known = self._known.get(report.mac)
        if known is not None and merge(known, report) == known:
            return
        self.store.record_device(report, source, self.clock())
        with self._lock:
            if len(self._known) >= REPORT_CACHE:
                self._known.clear()
            self._known[report.mac] = merge(known, report) if known is not None else \
                self.store.device(report.mac) or report

    def forget(self, mac: str) -> None:
        """The device is gone from the store: its next report is written whatever it says."""
        with self._lock:
            self._known.pop(mac, None)
            self._offers.pop(mac, None)

    def take_offer(self, mac: str) -> Offer | None:
        """The image the modem's last built file offered (once: its file was served)."""
        with self._lock:
            return self._offers.pop(mac, None)

    # -- decisions -------------------------------------------------------------------------------------
    def rules(self) -> list[Rule]:
        now = self.clock()
        with self._lock:
            cached = self._rules
        if cached is not None and 0 <= now - cached[0] < RULES_TTL:
            return cached[1]
        rules = self.store.rules()
        with self._lock:
            self._rules = (now, rules)
        return rules

    def changed(self) -> None:
        """The rules changed (this serve's API): the next decision reads them again."""
        with self._lock:
            self._rules = None
            self._told.clear()

    def decide(self, mac: str) -> tuple[DeviceFirmware | None, Decision]:
        device = self.store.device(mac)
        return device, target_for(device or DeviceFirmware(mac), self.rules(), self.clock())

    def cm_tlvs(self, device: Device) -> bytes:
        """TLVs 9, 21, 32/33 for the modem's file, or b"" (no upgrade due, or none that can be
        offered: the reason is logged and the modem gets its file without them)."""
        if device.kind != "cm":
            return b""
        try:
            _, decision = self.decide(device.mac)
        except RuleError as exc:  # a stored rule this code refuses (a row edited by hand): no upgrade, a file
            self._refuse("rules", "-", device.mac, exc)
            return self._cvcs_only()
        if decision.image is None:
            return self._cvcs_only()
        try:
            mfg, cosigner = self._cvcs_for(decision.image)
            if mfg is None and cosigner is None:
                raise UpgradeError("TLV 32", "no CVC to enable the download (an unsigned image, and no "
                                   "firmware_manufacturer_cvc)")
            tlvs = UpgradeTlvs(decision.image, self.server, mfg, cosigner).encode()
            self.offered += 1
            with self._lock:
                if len(self._offers) >= REPORT_CACHE:
                    self._offers.clear()
                self._offers[device.mac] = Offer(decision.image, decision.version or "")
            return tlvs
        except (UpgradeError, CodeFileError) as exc:
            self._refuse(decision.rule or "-", decision.image, device.mac, exc)
            return self._cvcs_only()

    def _cvcs_only(self) -> bytes:
        """TLV 32/33 alone, with firmware_cvc_always: no download, but one by SNMP enabled."""
        return cvc_tlvs(self.manufacturer_cvc, self.cosigner_cvc) if self.cvc_always else b""

    def phone_image(self, mac: str, images: dict[str, FirmwareImage | None] | None = None) -> FirmwareImage | None:
        """The catalogue image the rules offer a phone now (what its profile names), or None.
        Once the phone runs it, nothing is offered and its profile names no firmware: a rule
        change that leaves a phone without an offer before and after then changes nothing.
        ``images`` keeps the catalogue's answers across the calls of one sweep."""
        try:
            _, decision = self.decide(mac)
        except RuleError as exc:
            self._refuse("rules", "-", mac, exc, "phone profiles")
            return None
        if decision.image is None:
            return None
        if images is None or decision.image not in images:
            image = self.store.get(decision.image)
            if images is not None:
                images[decision.image] = image
        else:
            image = images[decision.image]
        if image is None:
            self._refuse(decision.rule or "-", decision.image, mac, UpgradeError("target", "not in the catalogue"),
                         "phone profiles")
        return image

    def _refuse(self, rule: str, image: str, mac: str, exc: Exception, files: str = "CM files") -> None:
        self.refused["upgrade"] += 1
        told = f"{rule}\0{image}\0{files}\0{exc}"
        with self._lock:
            first = told not in self._told
            if first and len(self._told) < CVC_CACHE:
                self._told.add(told)
        if first:
            log.warning("rule %s offers %s, left out of %s (first %s): %s", rule, image, files, mac, exc,
                        extra={"mac": mac})

    def cm_file(self, device: Device, data: bytes) -> bytes:
        """The modem's built file with its upgrade TLVs, if any are due (RecordingResolver's finish)."""
        tlvs = self.cm_tlvs(device)
        if not tlvs or self.cm_key is None:
            return data
        return with_upgrade(data, tlvs, self.cm_key)

    def _cvcs_for(self, filename: str) -> tuple[bytes | None, bytes | None]:
        image = self.store.get(filename)
        if image is None:
            raise UpgradeError("target", f"{filename!r} is not in the catalogue")
        from_file: tuple[bytes | None, bytes | None] = (None, None)
        if self.manufacturer_cvc is None or self.cosigner_cvc is None:
            key = (image.filename, image.sha256)
            with self._lock:
                found = self._cvcs.get(key)
            if found is None:
                data = self.store.data(filename)
                found = self._signers(data, image.vendor) if data is not None and image.signature != "unsigned" else (None, None)
                with self._lock:
                    if len(self._cvcs) >= CVC_CACHE:
                        self._cvcs.clear()
                    self._cvcs[key] = found
            from_file = found
        return self.manufacturer_cvc or from_file[0], self.cosigner_cvc or from_file[1]

    def _signers(self, data: bytes, vendor: str) -> tuple[bytes | None, bytes | None]:
        """The code file's manufacturer CVC and co-signer CVC. Strict DER sorts the
        SignerInfos (a SET OF), so their order says nothing: the manufacturer is the signer
        of the firmware_manufacturer organization, else of the image's catalogued vendor,
        else the only signer."""
        signers = signer_cvcs(data)
        if not signers:
            return None, None
        want = self.manufacturer or vendor
        first = next((i for i, (org, _) in enumerate(signers) if org == want), None)
        if first is None and len(signers) == 1 and not self.manufacturer:
            first = 0
        if first is None:
            raise UpgradeError("TLV 32", f"no signer of the image is the manufacturer {want!r} (signed by "
                               f"{', '.join(repr(org) for org, _ in signers)}; set firmware_manufacturer)")
        others = [der for i, (_, der) in enumerate(signers) if i != first]
        return signers[first][1], others[0] if others else None

    # -- the device's view -----------------------------------------------------------------------------
    def view(self, mac: str, kind: str = "") -> dict[str, Any]:
        """Current against target version, and why (the API's and the dashboard's device pages).
        A modem's offer its file cannot carry (no CVC, the image's signer not the manufacturer)
        is shown as none, with the reason the file leaves it out: the page says what the modem gets."""
        device, decision = self.decide(mac)
        shown = decision.to_json()
        if kind == "cm" and decision.image is not None:
            why = self._left_out(decision.image)
            if why is not None:
                shown |= {"image": None, "version": None,
                          "reason": f"rule {decision.rule} offers {decision.image}, left out of the CM file: {why}"}
        return {"vendor": device.vendor if device else "", "model": device.model if device else "",
                "hw_version": device.hw_version if device else "",
                "current": device.sw_version if device and device.sw_version else None,
                **shown, "history": [v.to_json() for v in self.store.versions(mac)],
                "checked": None}  # the last check of a modem behind its offer: from its history (apidevices)

    def _left_out(self, image: str) -> str | None:
        """Why cm_tlvs leaves ``image`` out of a modem's file, or None when it carries it."""
        try:
            mfg, cosigner = self._cvcs_for(image)
        except (UpgradeError, CodeFileError) as exc:
            return str(exc)
        if mfg is None and cosigner is None:
            return "TLV 32: no CVC to enable the download (an unsigned image, and no firmware_manufacturer_cvc)"
        return None


__all__ = ["REFUSED", "RULES_TTL", "Upgrades", "clean", "report_of"]
