"""Address codecs: MAC addresses and IPv4/IPv6 addresses, lists and prefixes.

IPv4 text is read with the classic BSD inet_aton rules because that is what
the reference compiler does (``010.0.0.1`` is 8.0.0.1); IPv6 as inet_pton.
"""

from __future__ import annotations

import ipaddress
import re

from tlv.model import OidContext
from tlv.types._base import Strict, number, split_list, unquote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
IPAddr = IPv4 | IPv6

_MAC = re.compile(r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}")


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


# --- MAC addresses ------------------------------------------------------------


class EtherType(Strict):
    """MAC address ``aa:bb:cc:dd:ee:ff`` -> 6 bytes (value: bytes)."""

    name = "ether"

    def parse(self, text: str, ctx: OidContext | None = None) -> bytes:
        return _mac(unquote(text.strip()), self.name)

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


class EtherMaskType(Strict):
    """``mac/mask`` -> 12 bytes (value: (mac, mask))."""

    name = "ethermask"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[bytes, bytes]:
        mac, sep, mask = unquote(text.strip()).partition("/")
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


def _addr_bytes(value: Any, what: str, allowed: tuple[type[IPv4 | IPv6], ...]) -> bytes:
    if not isinstance(value, allowed):
        raise ValueError(f"{what}: unexpected value {value!r}")
    return value.packed


#: The address classes an IpType accepts, by its ``version`` (0: either).
_CLASSES_BY_VERSION: dict[int, tuple[type[IPv4 | IPv6], ...]] = {4: (IPv4,), 6: (IPv6,), 0: (IPv4, IPv6)}


class IpType(Strict):
    """IPv4 (``version=4``), IPv6 (``6``) or either (``0``, by length)."""

    def __init__(self, name: str, version: int) -> None:
        self.name = name
        self.version = version
        self.allowed = _CLASSES_BY_VERSION[version]

    def parse(self, text: str, ctx: OidContext | None = None) -> IPAddr:
        text = unquote(text.strip())
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


class CharIpIp6Type(Strict):
    """Address-family byte (1 = IPv4, 2 = IPv6) followed by the address."""

    name = "char_ip_ip6"

    def parse(self, text: str, ctx: OidContext | None = None) -> IPAddr:
        return _ip_either(unquote(text.strip()), self.name)

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


class IpPortType(Strict):
    """``address/port`` -> address (4 or 16 bytes) + 2-byte port."""

    name = "ip_ip6_port"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[IPAddr, int]:
        addr, sep, port = unquote(text.strip()).rpartition("/")
        if not sep:
            raise ValueError("ip_ip6_port: format is <address>/<port>")
        return _ip_either(addr, self.name), number(port, self.name, 0xFFFF)

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


class IpListType(Strict):
    """Comma-separated IPv4 or IPv6 addresses, concatenated."""

    def __init__(self, name: str, version: int) -> None:
        self.name = name
        self.version = version
        self.size = 4 if version == 4 else 16
        self.cls: type[IPv4 | IPv6] = IPv4 if version == 4 else IPv6

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[IPAddr, ...]:
        conv = _ipv4 if self.version == 4 else _ipv6
        return tuple(conv(item, self.name) for item in split_list(text, self.name))

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


class Ip6PrefixListType(Strict):
    """``addr/len,addr/len`` -> 17 bytes each (address + prefix length)."""

    name = "ip6_prefix_list"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[tuple[IPv6, int], ...]:
        out = []
        for item in split_list(text, self.name):
            addr, sep, plen = item.partition("/")
            if not sep:
                raise ValueError(f"ip6_prefix_list: {item!r} lacks /<prefix length>")
            out.append((_ipv6(addr, self.name), number(plen, self.name, 128)))
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
