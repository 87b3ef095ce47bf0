"""Device capabilities carried in option 60 (and binary in option 125.5).

An eCM sends ``docsisX.Y:`` and an eMTA ``pktcX.Y:`` followed by ASCII hex of a
capability TLV: ``05 LL`` then sub-TLVs ``type(1) len(1) value``. The sub-TLV
tables below are option spaces like any other, so the same walker decodes
them and the same errors (with the byte offset in the option value) come out.

Sources: PacketCable MTA capabilities -- PKT-SP-PROV1.5 §8.2 as decoded by the
Wireshark DHCP dissector and a real Netgear CG3000 string; DOCSIS modem
capabilities -- MULPI Annex C.1.3.1 (TLV 5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import DhcpDecodeError
from .options.space import Item, OptionDef, OptionSpace, decode_space, encode_space, register
from .options.types import BYTES, FLAG, UINT8, UINT8_LIST, UINT16, UINT32, Bits, ValueType

CAPABILITY_CONTAINER = 5  # TLV 5, "modem capabilities" / MTA device capabilities

#: PktcCodecType (PKTC-MTA-MIB), 15 from Wireshark.
CODECS = {1: "other", 2: "unknown", 3: "G.729", 4: "reserved", 5: "G.729E", 6: "PCMU", 7: "G.726-32",
          8: "G.728", 9: "PCMA", 10: "G.726-16", 11: "G.726-24", 12: "G.726-40", 13: "iLBC", 14: "BV16",
          15: "telephone-event"}
PKTC_VERSIONS = {0: "1.0", 1: "1.5", 2: "2.0"}
FLOWS = Bits(2, {0x0001: "secure", 0x0002: "hybrid", 0x0004: "basic"})
FLOW_SECURE, FLOW_HYBRID, FLOW_BASIC = 0x0001, 0x0002, 0x0004

_PREF = "PKT-SP-PROV1.5 8.2"
MTA_CAPABILITIES = OptionSpace("pktc-mta-capabilities", (
    OptionDef(1, "pktc-version", UINT8, ref=_PREF + "; 0 = 1.0, 1 = 1.5, 2 = 2.0"),
    OptionDef(2, "endpoints", UINT8, ref=_PREF),
    OptionDef(3, "tgt-support", FLAG, ref=_PREF),
    OptionDef(4, "http-download", FLAG, ref=_PREF),
    OptionDef(5, "mta24-syslog", FLAG, ref=_PREF),
    OptionDef(6, "ncs-service-flow", FLAG, ref=_PREF),
    OptionDef(7, "primary-line", FLAG, ref=_PREF),
    OptionDef(8, "vendor-tlv-types", UINT8_LIST, ref=_PREF),
    OptionDef(9, "nvram-ticket-storage", FLAG, ref=_PREF),
    OptionDef(10, "prov-event-reporting", FLAG, ref=_PREF),
    OptionDef(11, "codecs", UINT8_LIST, ref=_PREF + "; PktcCodecType"),
    OptionDef(12, "silence-suppression", FLAG, ref=_PREF),
    OptionDef(13, "echo-cancellation", FLAG, ref=_PREF),
    OptionDef(14, "rsvp", FLAG, ref=_PREF),
    OptionDef(15, "ugs-ad", FLAG, ref=_PREF),
    OptionDef(16, "ifindex-start", UINT8, ref=_PREF),
    OptionDef(17, "prov-flow-logging", FLAG, ref=_PREF),
    OptionDef(18, "prov-flows", FLOWS, ref=_PREF + "; 1 secure, 2 hybrid, 4 basic"),
    OptionDef(19, "t38-version", UINT8, ref=_PREF),
    OptionDef(20, "t38-error-correction", UINT8, ref=_PREF),
    OptionDef(21, "rfc2833-dtmf", FLAG, ref=_PREF),
    OptionDef(22, "voice-metrics", FLAG, ref=_PREF),
    OptionDef(23, "mib-support", BYTES, ref=_PREF + "; 3-byte entries"),
    OptionDef(24, "mgpi", FLAG, ref=_PREF),
    OptionDef(25, "v152", FLAG, ref=_PREF),
))

_MULPI = "MULPI C.1.3.1"
CM_CAPABILITIES = OptionSpace("docsis-modem-capabilities", (
    OptionDef(1, "concatenation", UINT8, ref=_MULPI + ".1"),
    OptionDef(2, "docsis-version", UINT8, ref=_MULPI + ".2; 0 = 1.0 .. 3 = 3.0, 4 = 3.1"),
    OptionDef(3, "fragmentation", UINT8, ref=_MULPI + ".3"),
    OptionDef(4, "phs", UINT8, ref=_MULPI + ".4"),
    OptionDef(5, "igmp", UINT8, ref=_MULPI + ".5"),
    OptionDef(6, "privacy", UINT8, ref=_MULPI + ".6; 0 BPI, 1 BPI+"),
    OptionDef(7, "downstream-saids", UINT8, ref=_MULPI + ".7"),
    OptionDef(8, "upstream-service-flows", UINT8, ref=_MULPI + ".8"),
    OptionDef(9, "optional-filtering", UINT8, ref=_MULPI + ".9"),
    OptionDef(10, "tx-equalizer-taps-per-symbol", UINT8, ref=_MULPI + ".10"),
    OptionDef(11, "tx-equalizer-taps", UINT8, ref=_MULPI + ".11"),
    OptionDef(12, "dcc", UINT8, ref=_MULPI + ".12"),
    OptionDef(13, "ip-filters", UINT16, ref=_MULPI + ".13"),
    OptionDef(14, "llc-filters", UINT16, ref=_MULPI + ".14"),
    OptionDef(15, "expanded-unicast-sid-space", UINT8, ref=_MULPI + ".15"),
    OptionDef(16, "ranging-hold-off", UINT32, ref=_MULPI + ".16"),
    OptionDef(17, "l2vpn", UINT8, ref=_MULPI + ".17"),
    OptionDef(18, "esafe-host-capability", BYTES, ref=_MULPI + ".18"),
    OptionDef(19, "dut-filtering", UINT8, ref=_MULPI + ".19"),
    OptionDef(20, "us-frequency-range", UINT8, ref=_MULPI + ".20"),
    OptionDef(21, "us-symbol-rate", UINT8, ref=_MULPI + ".21"),
    OptionDef(24, "multiple-tx-channels", UINT8, ref=_MULPI + ".24"),
    OptionDef(29, "multiple-rx-channels", UINT8, ref=_MULPI + ".29"),
    OptionDef(38, "us-drop-classifiers", UINT16, ref=_MULPI + ".38"),
    OptionDef(39, "ipv6", UINT8, ref=_MULPI + ".39"),
))
register(MTA_CAPABILITIES, CM_CAPABILITIES)

#: option-60 prefix kind -> (device kind, capability space)
PREFIXES = {"docsis": ("cm", CM_CAPABILITIES), "pktc": ("mta", MTA_CAPABILITIES)}
_PREFIX = re.compile(r"(docsis|pktc)(\d+\.\d+)(:?)")


@dataclass(frozen=True, slots=True)
class VendorClass:
    """Option 60 as sent, with what the cable prefixes say about the device."""

    text: str
    #: "cm", "mta" or "" for any other client.
    kind: str = ""
    #: The version after the prefix: "3.0" for docsis3.0, "1.5" for pktc1.5.
    version: str = ""
    capabilities: list[Item] | None = field(default=None, compare=False)

    def capability(self, name: str) -> object | None:
        for item in self.capabilities or ():
            if item.name == name:
                value: object = item.value
                return value
        return None


def decode_capabilities(data: bytes, space: OptionSpace, base: int = 0) -> list[Item]:
    """Binary ``05 LL sub-TLVs`` -> items; offsets from ``base``."""
    if len(data) < 2 or data[0] != CAPABILITY_CONTAINER:
        raise DhcpDecodeError("capabilities must start with TLV 5 and its length", offset=base)
    if data[1] != len(data) - 2:
        raise DhcpDecodeError(f"capability TLV 5 length {data[1]} but {len(data) - 2} bytes follow", offset=base)
    return decode_space(space, data[2:], base + 2)


def encode_capabilities(items: list[Item] | list[tuple[int | str, object]], space: OptionSpace) -> bytes:
    body = encode_space(space, items)
    return bytes((CAPABILITY_CONTAINER, len(body))) + body


class VendorClassType(ValueType):
    """Option 60: text; the cable prefixes also get their hex capabilities decoded."""

    name = "vendor-class"
    isc = "text"

    def decode(self, data: bytes) -> VendorClass:
        text = data.decode("utf-8", "surrogateescape")
        m = _PREFIX.match(text)
        if m is None:
            return VendorClass(text)
        kind, space = PREFIXES[m.group(1)]
        if not m.group(3):
            if m.end() != len(text):
                return VendorClass(text)
            return VendorClass(text, kind, m.group(2))  # docsis1.0 carries no capabilities
        hexdigits = text[m.end():]
        if len(hexdigits) % 2:
            raise DhcpDecodeError("odd number of hex digits in the capabilities", offset=len(text))
        try:
            raw = bytes.fromhex(hexdigits)
        except ValueError:
            bad = next(i for i, ch in enumerate(hexdigits) if ch not in "0123456789abcdefABCDEF")
            raise DhcpDecodeError(f"{hexdigits[bad]!r} is not a hex digit", offset=m.end() + bad) from None
        try:
            caps = decode_capabilities(raw, space)
        except DhcpDecodeError as exc:
            # Offsets count hex characters in the option text, where the user looks.
            raise DhcpDecodeError(exc.reason, offset=m.end() + 2 * exc.offset, sub_option=exc.sub_option) from None
        return VendorClass(text, kind, m.group(2), caps)

    def encode(self, value: object) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, VendorClass):
            return value.text.encode("utf-8", "surrogateescape")
        raise ValueError(f"expected text or a VendorClass, not {type(value).__name__}")

    def format(self, value: VendorClass) -> str:
        return value.text

    def parse(self, text: str) -> VendorClass:
        return self.decode(text.encode())


def vendor_class_text(kind: str, version: str, items: list[tuple[int | str, object]]) -> str:
    """Build option 60 text, e.g. ``pktc1.5:`` + hex of the capability TLV."""
    prefix = {"cm": "docsis", "mta": "pktc"}[kind]
    space = PREFIXES[prefix][1]
    return f"{prefix}{version}:" + encode_capabilities(items, space).hex()


class CapabilitiesType(ValueType):
    """Option 125.5: the modem capabilities TLV in binary."""

    name = "modem-capabilities"

    def decode(self, data: bytes) -> list[Item]:
        return decode_capabilities(data, CM_CAPABILITIES)

    def encode(self, value: object) -> bytes:
        if isinstance(value, bytes):
            return value
        if not isinstance(value, list):
            raise ValueError(f"expected bytes or a list of capabilities, not {type(value).__name__}")
        return encode_capabilities(value, CM_CAPABILITIES)


VENDOR_CLASS = VendorClassType()
MODEM_CAPABILITIES = CapabilitiesType()
