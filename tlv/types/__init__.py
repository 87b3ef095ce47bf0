"""Value codecs of the config language: one :class:`ValueType` per encoding.

Every type the keyword tables use has one shared instance here (``UCHAR``,
``HEXSTR``, ``IP_IP6_PORT`` ...); ``BY_NAME`` maps the encoding names used in
the keyword table documentation to them.

Text forms follow what the reference compiler accepts for each encoding, so a
config written for it compiles to the same bytes here. Where it accepts
nonsense (an integer where a string belongs gives pointer bits, ``0x..`` for an
integer gives garbage, out-of-range numbers are silently truncated) we refuse
with a reason instead. Decoding is strict: ``decode`` raises ValueError unless
the bytes are exactly what ``encode`` would produce for the value it returns,
so ``encode(decode(b)) == b`` always holds and anything else stays raw.
"""

from __future__ import annotations

import re

from tlv import ber
from tlv.model import OidContext, ValueType
from tlv.quoting import quote, unescape
from tlv.snmpvalues import SNMP_VARBIND, SNMP_WRITE_CONTROL, SnmpWriteControlType, VarBindType
from tlv.types._base import HEX_TEXT, Strict, number, split_list, unquote
from tlv.types.address import (
    CharIpIp6Type,
    EtherMaskType,
    EtherType,
    Ip6PrefixListType,
    IpListType,
    IpPortType,
    IpType,
    inet_aton,
)

_NUMERIC_OID = re.compile(r"\.?[0-9]+(?:\.[0-9]+)+")

# --- numbers --------------------------------------------------------------


class UIntType(Strict):
    """Unsigned big-endian integer of ``width`` bytes; text is decimal."""

    def __init__(self, name: str, width: int, *, checked: bool = True) -> None:
        self.name = name
        self.width = width
        self.max = (1 << (8 * width)) - 1
        # The reference never range-checks some encodings (uint24); keeping
        # their table limits unenforced keeps every text it accepts valid here.
        self.checked = checked

    def parse(self, text: str, ctx: OidContext | None = None) -> int:
        return number(text, self.name, self.max)

    def encode(self, value: int) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= self.max:
            raise ValueError(f"{self.name}: {value!r} is not in 0..{self.max}")
        return value.to_bytes(self.width, "big")

    def _decode(self, data: bytes) -> int:
        if len(data) != self.width:
            raise ValueError(f"{self.name}: {len(data)} bytes, expected {self.width}")
        return int.from_bytes(data, "big")

    def format(self, value: int, ctx: OidContext | None = None) -> str:
        return str(value)

    def measure(self, value: int) -> int | None:
        return value if self.checked else None


# --- byte strings -----------------------------------------------------------


class HexType(Strict):
    """Raw bytes written as ``0x`` + an even number of hex digits.

    ``size`` fixes the length (the 16-byte MIC digests). The reference also
    accepts the hex text in quotes; ``0x`` alone (empty value) is ours, so a
    zero-length value read from a binary can be written back.
    """

    def __init__(self, name: str, size: int | None = None) -> None:
        self.name = name
        self.size = size

    def parse(self, text: str, ctx: OidContext | None = None) -> bytes:
        m = HEX_TEXT.fullmatch(unquote(text.strip()))
        if not m:
            raise ValueError(
                f"{self.name}: expected 0x followed by an even number of hex digits, not {text!r}"
            )
        value = bytes.fromhex(m.group(1))
        self.encode(value)
        return value

    def encode(self, value: bytes) -> bytes:
        if not isinstance(value, (bytes, bytearray)):
            raise ValueError(f"{self.name}: expected bytes, not {type(value).__name__}")
        if self.size is not None and len(value) != self.size:
            raise ValueError(f"{self.name}: {len(value)} bytes, expected {self.size}")
        return bytes(value)

    def _decode(self, data: bytes) -> bytes:
        return data

    def format(self, value: bytes, ctx: OidContext | None = None) -> str:
        return "0x" + bytes(value).hex()

    def measure(self, value: bytes) -> int | None:
        return len(value)


class StringType(Strict):
    """Text as bytes; ``zero`` appends the NUL the spec wants (strzero).

    Values are bytes so that anything a binary holds survives a text round
    trip. Quoted text is unescaped; an unquoted token (``file.bin``,
    ``10.0.0.1``) is taken literally, as the reference does.
    """

    def __init__(self, name: str, *, zero: bool = False) -> None:
        self.name = name
        self.zero = zero

    def parse(self, text: str, ctx: OidContext | None = None) -> bytes:
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            try:
                return unescape(text[1:-1])
            except ValueError as exc:
                raise ValueError(f"{self.name}: {exc}") from None
        if not text or re.search(r'[\s;{}"]', text):
            raise ValueError(f"{self.name}: expected a quoted string, not {text!r}")
        return text.encode("utf-8")

    def encode(self, value: bytes) -> bytes:
        if not isinstance(value, (bytes, bytearray)):
            raise ValueError(f"{self.name}: expected bytes, not {type(value).__name__}")
        return bytes(value) + (b"\x00" if self.zero else b"")

    def _decode(self, data: bytes) -> bytes:
        if self.zero:
            if not data or data[-1] != 0:
                raise ValueError(f"{self.name}: missing the terminating NUL")
            return data[:-1]
        return data

    def format(self, value: bytes, ctx: OidContext | None = None) -> str:
        return quote(bytes(value))

    def measure(self, value: bytes) -> int | None:
        # The reference compares strlen(), i.e. without the NUL.
        return len(value)


class LenZeroType(Strict):
    """A flag TLV with an empty value. The reference needs some value token
    after the keyword and ignores it; its own tests write ``0x00``."""

    name = "lenzero"

    def parse(self, text: str, ctx: OidContext | None = None) -> None:
        if not text.strip():
            raise ValueError("lenzero: a placeholder value such as 0x00 is required")
        return None

    def encode(self, value: None) -> bytes:
        if value is not None:
            raise ValueError("lenzero: takes no value")
        return b""

    def _decode(self, data: bytes) -> None:
        if data:
            raise ValueError("lenzero: value must be empty")
        return None

    def format(self, value: None, ctx: OidContext | None = None) -> str:
        return "0x00"


# --- number lists -------------------------------------------------------------


class NumberListType(Strict):
    """Comma-separated numbers of ``width`` bytes each (char_list, ushort_list).

    ``counted``: the reference checks the number of items against the row's
    limits for ushort_list only, never for char_list.
    """

    def __init__(self, name: str, width: int, *, counted: bool) -> None:
        self.name = name
        self.width = width
        self.max = (1 << (8 * width)) - 1
        self.counted = counted

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[int, ...]:
        return tuple(number(i, self.name, self.max) for i in split_list(text, self.name))

    def encode(self, value: tuple[int, ...]) -> bytes:
        if not value:
            raise ValueError(f"{self.name}: needs at least one number")
        if any(not isinstance(v, int) or not 0 <= v <= self.max for v in value):
            raise ValueError(f"{self.name}: numbers must be in 0..{self.max}")
        return b"".join(v.to_bytes(self.width, "big") for v in value)

    def _decode(self, data: bytes) -> tuple[int, ...]:
        w = self.width
        if not data or len(data) % w:
            raise ValueError(f"{self.name}: length {len(data)} is not a multiple of {w}")
        return tuple(int.from_bytes(data[i : i + w], "big") for i in range(0, len(data), w))

    def format(self, value: tuple[int, ...], ctx: OidContext | None = None) -> str:
        return ",".join(map(str, value))

    def measure(self, value: tuple[int, ...]) -> int | None:
        return len(value) if self.counted else None


class DualQTagType(Strict):
    """``outer,inner`` VLAN tags -> two 16-bit numbers (4 bytes)."""

    name = "dual_qtag"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[int, int]:
        items = split_list(text, self.name)
        if len(items) != 2:
            raise ValueError("dual_qtag: format is <outer>,<inner>")
        return number(items[0], self.name, 0xFFFF), number(items[1], self.name, 0xFFFF)

    def encode(self, value: tuple[int, int]) -> bytes:
        outer, inner = value
        if not (0 <= outer <= 0xFFFF and 0 <= inner <= 0xFFFF):
            raise ValueError("dual_qtag: tags must be in 0..65535")
        return outer.to_bytes(2, "big") + inner.to_bytes(2, "big")

    def _decode(self, data: bytes) -> tuple[int, int]:
        if len(data) != 4:
            raise ValueError(f"dual_qtag: {len(data)} bytes, expected 4")
        return int.from_bytes(data[:2], "big"), int.from_bytes(data[2:], "big")

    def format(self, value: tuple[int, int], ctx: OidContext | None = None) -> str:
        return f"{value[0]},{value[1]}"


# --- OIDs -----------------------------------------------------------------------


class OidType(Strict):
    """An OBJECT IDENTIFIER as a complete BER element (tag 06, length, arcs).

    Names need ``ctx`` (the MIB registry); without one only dotted numbers
    are understood. Numbers are written with a leading dot because the
    reference lexes a bare four-arc OID as an IPv4 address.
    """

    name = "oid"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[int, ...]:
        text = unquote(text.strip())
        if ctx is not None:
            arcs = tuple(ctx.resolve_oid(text))
        elif _NUMERIC_OID.fullmatch(text):
            arcs = tuple(int(a) for a in text.lstrip(".").split("."))
        else:
            raise ValueError(f"oid: {text!r} is not a numeric OID (names need MIBs)")
        self.encode(arcs)
        return arcs

    def encode(self, value: tuple[int, ...]) -> bytes:
        return ber.tlv(ber.OBJECT_IDENTIFIER, ber.encode_oid(tuple(value)))

    def _decode(self, data: bytes) -> tuple[int, ...]:
        if len(data) < 3 or data[0] != ber.OBJECT_IDENTIFIER or data[1] != len(data) - 2:
            raise ValueError("oid: not one BER OBJECT IDENTIFIER")
        return ber.decode_oid(data[2:])

    def format(self, value: tuple[int, ...], ctx: OidContext | None = None) -> str:
        if ctx is not None:
            return ctx.format_oid(tuple(value))
        return "." + ".".join(map(str, value))


# --- instances ------------------------------------------------------------------

UCHAR = UIntType("uchar", 1)
USHORT = UIntType("ushort", 2)
UINT24 = UIntType("uint24", 3, checked=False)
UINT = UIntType("uint", 4)
HEXSTR = HexType("hexstr")
MD5_DIGEST = HexType("md5", size=16)
STRING = StringType("string")
STRZERO = StringType("strzero", zero=True)
LENZERO = LenZeroType()
ETHER = EtherType()
ETHERMASK = EtherMaskType()
IP = IpType("ip", 4)
IP6 = IpType("ip6", 6)
IP_IP6 = IpType("ip_ip6", 0)
CHAR_IP_IP6 = CharIpIp6Type()
IP_IP6_PORT = IpPortType()
IP_LIST = IpListType("ip_list", 4)
IP6_LIST = IpListType("ip6_list", 6)
IP6_PREFIX_LIST = Ip6PrefixListType()
CHAR_LIST = NumberListType("char_list", 1, counted=False)
USHORT_LIST = NumberListType("ushort_list", 2, counted=True)
DUAL_QTAG = DualQTagType()
OID = OidType()

__all__ = [
    "BY_NAME", "CharIpIp6Type", "DualQTagType", "EtherMaskType", "EtherType", "HexType",
    "Ip6PrefixListType", "IpListType", "IpPortType", "IpType", "LenZeroType", "NumberListType",
    "OidType", "SnmpWriteControlType", "StringType", "UIntType", "VarBindType",
    "inet_aton",
    "CHAR_IP_IP6", "CHAR_LIST", "DUAL_QTAG", "ETHER", "ETHERMASK", "HEXSTR", "IP", "IP6",
    "IP6_LIST", "IP6_PREFIX_LIST", "IP_IP6", "IP_IP6_PORT", "IP_LIST", "LENZERO", "MD5_DIGEST",
    "OID", "SNMP_VARBIND", "SNMP_WRITE_CONTROL", "STRING", "STRZERO", "UCHAR", "UINT", "UINT24",
    "USHORT", "USHORT_LIST",
]

#: Encoding names as the keyword table documentation spells them.
BY_NAME: dict[str, ValueType] = {
    t.name: t
    for t in (
        UCHAR, USHORT, UINT24, UINT, HEXSTR, MD5_DIGEST, STRING, STRZERO, LENZERO,
        ETHER, ETHERMASK, IP, IP6, IP_IP6, CHAR_IP_IP6, IP_IP6_PORT, IP_LIST,
        IP6_LIST, IP6_PREFIX_LIST, CHAR_LIST, USHORT_LIST, DUAL_QTAG, OID,
        SNMP_WRITE_CONTROL, SNMP_VARBIND,
    )
}
