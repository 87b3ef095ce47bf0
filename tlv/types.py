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

import ipaddress
import re
from typing import Any

from tlv import ber
from tlv.model import OidContext, ValueType

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
IPAddr = IPv4 | IPv6

_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX]((?:[0-9A-Fa-f]{2})*)")
_MAC = re.compile(r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}")
_NUMERIC_OID = re.compile(r"\.?[0-9]+(?:\.[0-9]+)+")


def _unquote(text: str) -> str:
    """Address-like values may be quoted: the reference hands the string
    contents to the same address parser, so ``"10.0.0.1"`` works there too."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _number(text: str, what: str, limit: int) -> int:
    """A decimal integer in 0..limit.

    The reference reads integers with atoi and stores them unsigned; negative
    or oversized numbers wrap silently there, so we refuse them.
    """
    text = text.strip()
    if text.startswith("0x") or text.startswith("0X"):
        raise ValueError(f"{what}: expected a decimal integer, not hex {text}")
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{what}: expected a decimal integer, not {text!r}")
    value = int(text)
    if value > limit:
        raise ValueError(f"{what}: {value} does not fit (max {limit})")
    return value


def inet_aton(text: str) -> bytes | None:
    """IPv4 text -> 4 bytes with the classic BSD rules, or None.

    The reference uses inet_aton, so ``010.0.0.1`` is octal (8.0.0.1),
    ``0x0a.1`` is hex and ``10.1`` means 10.0.0.1; we reproduce that rather
    than compile such text to different bytes.
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    nums = []
    for part in parts:
        if re.fullmatch(r"0[xX][0-9A-Fa-f]*", part):
            nums.append(int(part[2:] or "0", 16))
        elif re.fullmatch(r"0[0-7]*", part):
            nums.append(int(part, 8))
        elif re.fullmatch(r"[1-9][0-9]*", part):
            nums.append(int(part))
        else:
            return None
    *head, last = nums
    if any(n > 255 for n in head) or last >= 1 << (8 * (5 - len(nums))):
        return None
    return bytes(head) + last.to_bytes(5 - len(nums), "big")


def _ipv4(text: str, what: str) -> IPv4:
    packed = inet_aton(text)
    if packed is None:
        raise ValueError(f"{what}: invalid IPv4 address {text!r}")
    return IPv4(packed)


def _ipv6(text: str, what: str) -> IPv6:
    # Python accepts "%zone" suffixes that inet_pton does not.
    if "%" not in text:
        try:
            return IPv6(text)
        except ValueError:
            pass
    raise ValueError(f"{what}: invalid IPv6 address {text!r}")


def _ip_either(text: str, what: str) -> IPAddr:
    """IPv6 first, then IPv4, the order the reference tries them in."""
    if ":" in text:
        return _ipv6(text, what)
    return _ipv4(text, what)


def _mac(text: str, what: str) -> bytes:
    if not _MAC.fullmatch(text):
        raise ValueError(f"{what}: invalid MAC address {text!r} (want aa:bb:cc:dd:ee:ff)")
    return bytes(int(p, 16) for p in text.split(":"))


def _format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _split_list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in _unquote(text).split(",")]
    if not items or any(not item for item in items):
        raise ValueError(f"{what}: expected a comma-separated list, not {text!r}")
    return items


class _Strict(ValueType):
    """Shared decode discipline: accept bytes only if they re-encode identically."""

    def _decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        value = self._decode(bytes(data))
        if self.encode(value) != data:
            raise ValueError(f"{self.name}: non-canonical encoding")
        return value


# --- numbers --------------------------------------------------------------


class UIntType(_Strict):
    """Unsigned big-endian integer of ``width`` bytes; text is decimal."""

    def __init__(self, name: str, width: int, *, checked: bool = True) -> None:
        self.name = name
        self.width = width
        self.max = (1 << (8 * width)) - 1
        # The reference never range-checks some encodings (uint24); keeping
        # their table limits unenforced keeps every text it accepts valid here.
        self.checked = checked

    def parse(self, text: str, ctx: OidContext | None = None) -> int:
        return _number(text, self.name, self.max)

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


class HexType(_Strict):
    """Raw bytes written as ``0x`` + an even number of hex digits.

    ``size`` fixes the length (the 16-byte MIC digests). The reference also
    accepts the hex text in quotes; ``0x`` alone (empty value) is ours, so a
    zero-length value read from a binary can be written back.
    """

    def __init__(self, name: str, size: int | None = None) -> None:
        self.name = name
        self.size = size

    def parse(self, text: str, ctx: OidContext | None = None) -> bytes:
        m = _HEX.fullmatch(_unquote(text.strip()))
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


def unescape(body: str) -> bytes:
    """Contents of a quoted string (quotes removed) -> bytes.

    ``\\"`` and ``\\ `` are what the reference knows; ``\\\\`` and ``\\xNN`` are
    ours so that any byte can be written. A backslash before anything else
    stays a literal backslash, as in the reference.
    """
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            nxt = body[i + 1]
            if nxt in '"\\ ':
                out.append(ord(nxt))
                i += 2
                continue
            if nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", body[i + 2 : i + 4]):
                out.append(int(body[i + 2 : i + 4], 16))
                i += 4
                continue
        if ch == '"':
            raise ValueError('unescaped " inside a quoted string')
        out.extend(ch.encode("utf-8"))
        i += 1
    return bytes(out)


def escape(value: bytes) -> str:
    """Bytes -> quoted string text that :func:`unescape` reads back exactly."""
    parts = ['"']
    for b in value:
        if b in (0x22, 0x5C):
            parts.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            parts.append(chr(b))
        else:
            parts.append(f"\\x{b:02x}")
    parts.append('"')
    return "".join(parts)


class StringType(_Strict):
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
        return escape(bytes(value))

    def measure(self, value: bytes) -> int | None:
        # The reference compares strlen(), i.e. without the NUL.
        return len(value)


class LenZeroType(_Strict):
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


# --- MAC addresses ------------------------------------------------------------


class EtherType(_Strict):
    """MAC address ``aa:bb:cc:dd:ee:ff`` -> 6 bytes (value: bytes)."""

    name = "ether"

    def parse(self, text: str, ctx: OidContext | None = None) -> bytes:
        return _mac(_unquote(text.strip()), self.name)

    def encode(self, value: bytes) -> bytes:
        if not isinstance(value, (bytes, bytearray)) or len(value) != 6:
            raise ValueError("ether: expected 6 bytes")
        return bytes(value)

    def _decode(self, data: bytes) -> bytes:
        if len(data) != 6:
            raise ValueError(f"ether: {len(data)} bytes, expected 6")
        return data

    def format(self, value: bytes, ctx: OidContext | None = None) -> str:
        return _format_mac(value)


class EtherMaskType(_Strict):
    """``mac/mask`` -> 12 bytes (value: (mac, mask))."""

    name = "ethermask"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[bytes, bytes]:
        mac, sep, mask = _unquote(text.strip()).partition("/")
        if not sep:
            raise ValueError("ethermask: format is <mac_address>/<mac_mask>")
        return _mac(mac, self.name), _mac(mask, self.name)

    def encode(self, value: tuple[bytes, bytes]) -> bytes:
        mac, mask = value
        if len(mac) != 6 or len(mask) != 6:
            raise ValueError("ethermask: expected two 6-byte addresses")
        return bytes(mac) + bytes(mask)

    def _decode(self, data: bytes) -> tuple[bytes, bytes]:
        if len(data) != 12:
            raise ValueError(f"ethermask: {len(data)} bytes, expected 12")
        return data[:6], data[6:]

    def format(self, value: tuple[bytes, bytes], ctx: OidContext | None = None) -> str:
        return f"{_format_mac(value[0])}/{_format_mac(value[1])}"


# --- IP addresses -------------------------------------------------------------


def _addr_bytes(value: Any, what: str, allowed: tuple[type, ...]) -> bytes:
    if not isinstance(value, allowed):
        raise ValueError(f"{what}: unexpected value {value!r}")
    return value.packed


class IpType(_Strict):
    """IPv4 (``version=4``), IPv6 (``6``) or either (``0``, by length)."""

    def __init__(self, name: str, version: int) -> None:
        self.name = name
        self.version = version
        self.allowed: tuple[type, ...] = {4: (IPv4,), 6: (IPv6,), 0: (IPv4, IPv6)}[version]

    def parse(self, text: str, ctx: OidContext | None = None) -> IPAddr:
        text = _unquote(text.strip())
        if self.version == 4:
            return _ipv4(text, self.name)
        if self.version == 6:
            return _ipv6(text, self.name)
        return _ip_either(text, self.name)

    def encode(self, value: IPAddr) -> bytes:
        return _addr_bytes(value, self.name, self.allowed)

    def _decode(self, data: bytes) -> IPAddr:
        if len(data) == 4 and self.version in (4, 0):
            return IPv4(data)
        if len(data) == 16 and self.version in (6, 0):
            return IPv6(data)
        raise ValueError(f"{self.name}: {len(data)} bytes is not an address")

    def format(self, value: IPAddr, ctx: OidContext | None = None) -> str:
        return str(value)


class CharIpIp6Type(_Strict):
    """Address-family byte (1 = IPv4, 2 = IPv6) followed by the address."""

    name = "char_ip_ip6"

    def parse(self, text: str, ctx: OidContext | None = None) -> IPAddr:
        return _ip_either(_unquote(text.strip()), self.name)

    def encode(self, value: IPAddr) -> bytes:
        packed = _addr_bytes(value, self.name, (IPv4, IPv6))
        return bytes((1 if len(packed) == 4 else 2,)) + packed

    def _decode(self, data: bytes) -> IPAddr:
        if len(data) == 5 and data[0] == 1:
            return IPv4(data[1:])
        if len(data) == 17 and data[0] == 2:
            return IPv6(data[1:])
        raise ValueError("char_ip_ip6: want 01 + 4 bytes or 02 + 16 bytes")

    def format(self, value: IPAddr, ctx: OidContext | None = None) -> str:
        return str(value)


class IpPortType(_Strict):
    """``address/port`` -> address (4 or 16 bytes) + 2-byte port."""

    name = "ip_ip6_port"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[IPAddr, int]:
        addr, sep, port = _unquote(text.strip()).rpartition("/")
        if not sep:
            raise ValueError("ip_ip6_port: format is <address>/<port>")
        return _ip_either(addr, self.name), _number(port, self.name, 0xFFFF)

    def encode(self, value: tuple[IPAddr, int]) -> bytes:
        addr, port = value
        packed = _addr_bytes(addr, self.name, (IPv4, IPv6))
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"ip_ip6_port: port {port!r} not in 0..65535")
        return packed + port.to_bytes(2, "big")

    def _decode(self, data: bytes) -> tuple[IPAddr, int]:
        if len(data) not in (6, 18):
            raise ValueError(f"ip_ip6_port: {len(data)} bytes, expected 6 or 18")
        addr: IPAddr = IPv4(data[:4]) if len(data) == 6 else IPv6(data[:16])
        return addr, int.from_bytes(data[-2:], "big")

    def format(self, value: tuple[IPAddr, int], ctx: OidContext | None = None) -> str:
        return f"{value[0]}/{value[1]}"


class IpListType(_Strict):
    """Comma-separated IPv4 or IPv6 addresses, concatenated."""

    def __init__(self, name: str, version: int) -> None:
        self.name = name
        self.version = version
        self.size = 4 if version == 4 else 16
        self.cls: type = IPv4 if version == 4 else IPv6

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[IPAddr, ...]:
        conv = _ipv4 if self.version == 4 else _ipv6
        return tuple(conv(item, self.name) for item in _split_list(text, self.name))

    def encode(self, value: tuple[IPAddr, ...]) -> bytes:
        if not value:
            raise ValueError(f"{self.name}: needs at least one address")
        return b"".join(_addr_bytes(a, self.name, (self.cls,)) for a in value)

    def _decode(self, data: bytes) -> tuple[IPAddr, ...]:
        if not data or len(data) % self.size:
            raise ValueError(f"{self.name}: length {len(data)} is not a multiple of {self.size}")
        return tuple(self.cls(data[i : i + self.size]) for i in range(0, len(data), self.size))

    def format(self, value: tuple[IPAddr, ...], ctx: OidContext | None = None) -> str:
        return ",".join(str(a) for a in value)


class Ip6PrefixListType(_Strict):
    """``addr/len,addr/len`` -> 17 bytes each (address + prefix length)."""

    name = "ip6_prefix_list"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[tuple[IPv6, int], ...]:
        out = []
        for item in _split_list(text, self.name):
            addr, sep, plen = item.partition("/")
            if not sep:
                raise ValueError(f"ip6_prefix_list: {item!r} lacks /<prefix length>")
            out.append((_ipv6(addr, self.name), _number(plen, self.name, 128)))
        return tuple(out)

    def encode(self, value: tuple[tuple[IPv6, int], ...]) -> bytes:
        if not value:
            raise ValueError("ip6_prefix_list: needs at least one prefix")
        out = bytearray()
        for addr, plen in value:
            if not isinstance(plen, int) or not 0 <= plen <= 128:
                raise ValueError(f"ip6_prefix_list: prefix length {plen!r} not in 0..128")
            out += _addr_bytes(addr, self.name, (IPv6,)) + bytes((plen,))
        return bytes(out)

    def _decode(self, data: bytes) -> tuple[tuple[IPv6, int], ...]:
        if not data or len(data) % 17:
            raise ValueError(f"ip6_prefix_list: length {len(data)} is not a multiple of 17")
        items = tuple((IPv6(data[i : i + 16]), data[i + 16]) for i in range(0, len(data), 17))
        if any(plen > 128 for _, plen in items):
            raise ValueError("ip6_prefix_list: prefix length over 128")
        return items

    def format(self, value: tuple[tuple[IPv6, int], ...], ctx: OidContext | None = None) -> str:
        return ",".join(f"{a}/{n}" for a, n in value)


# --- number lists -------------------------------------------------------------


class NumberListType(_Strict):
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
        return tuple(_number(i, self.name, self.max) for i in _split_list(text, self.name))

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


class DualQTagType(_Strict):
    """``outer,inner`` VLAN tags -> two 16-bit numbers (4 bytes)."""

    name = "dual_qtag"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[int, int]:
        items = _split_list(text, self.name)
        if len(items) != 2:
            raise ValueError("dual_qtag: format is <outer>,<inner>")
        return _number(items[0], self.name, 0xFFFF), _number(items[1], self.name, 0xFFFF)

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


class OidType(_Strict):
    """An OBJECT IDENTIFIER as a complete BER element (tag 06, length, arcs).

    Names need ``ctx`` (the MIB registry); without one only dotted numbers
    are understood. Numbers are written with a leading dot because the
    reference lexes a bare four-arc OID as an IPv4 address.
    """

    name = "oid"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[int, ...]:
        text = _unquote(text.strip())
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


# --- SNMP placeholders (TLV 10, 11) -------------------------------------------


class _RawHex(HexType):
    def _decode(self, data: bytes) -> bytes:
        if not data:
            raise ValueError(f"{self.name}: empty value")
        return data


class SnmpWriteControlType(_RawHex):
    """TLV 10 (OID + one flag byte). Placeholder: keeps the bytes as hex."""

    def __init__(self) -> None:
        super().__init__("snmp_write_control")


class VarBindType(_RawHex):
    """TLV 11 and the nested SnmpMibObject rows (one BER VarBind).
    Placeholder: keeps the bytes as hex."""

    def __init__(self) -> None:
        super().__init__("snmp_varbind")


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
SNMP_WRITE_CONTROL = SnmpWriteControlType()
SNMP_VARBIND = VarBindType()

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
