"""Value types of DHCP options and sub-options.

Each type converts one value both ways and both forms: ``decode(bytes)`` ->
Python value (``ValueError`` with a reason when the bytes do not fit; callers
wrap it in :class:`dhcp.errors.DhcpDecodeError` with offsets), ``encode(value)``
-> bytes, ``format(value)`` -> text that ``parse(text)`` reads back. Invariant
checked by the property tests: ``encode(decode(b)) == b`` for every accepted b.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from ..errors import DhcpDecodeError


class ValueType:
    name = "value"
    #: The option type ISC dhcpd calls it (used by the isc formatter).
    isc = "string"

    # Every concrete type overrides both; the base refuses rather than guess.
    def decode(self, data: bytes) -> Any:
        raise TypeError(f"{type(self).__name__} has no decoder")

    def encode(self, value: Any) -> bytes:
        raise TypeError(f"{type(self).__name__} has no encoder")

    def format(self, value: Any) -> str:
        return str(value)

    def parse(self, text: str) -> Any:
        raise ValueError(f"{self.name}: cannot be written as text")

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Bytes(ValueType):
    name = "bytes"

    def decode(self, data: bytes) -> bytes:
        return bytes(data)

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray):
            raise ValueError(f"expected bytes, not {type(value).__name__}")
        return bytes(value)

    def format(self, value: bytes) -> str:
        return value.hex()

    def parse(self, text: str) -> bytes:
        try:
            return bytes.fromhex(text.replace(":", "").replace(" ", ""))
        except ValueError:
            raise ValueError(f"not hex: {text!r}") from None


class Text(ValueType):
    """Text as sent; bytes that are not UTF-8 survive as surrogate escapes."""

    name = "text"
    isc = "text"

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8", "surrogateescape")

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise ValueError(f"expected text, not {type(value).__name__}")
        return value.encode("utf-8", "surrogateescape")

    def format(self, value: str) -> str:
        return repr(value)[1:-1] if value.isprintable() else repr(value)

    def parse(self, text: str) -> str:
        return text


class Uint(ValueType):
    def __init__(self, size: int, signed: bool = False) -> None:
        self.size, self.signed = size, signed
        self.name = f"{'int' if signed else 'uint'}{size * 8}"
        self.isc = {1: "unsigned integer 8", 2: "unsigned integer 16", 4: "unsigned integer 32"}[size]
        if signed:
            self.isc = self.isc.replace("unsigned ", "signed ")

    def decode(self, data: bytes) -> int:
        if len(data) != self.size:
            raise ValueError(f"{self.name} needs {self.size} bytes, not {len(data)}")
        return int.from_bytes(data, "big", signed=self.signed)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, not {type(value).__name__}")
        try:
            return value.to_bytes(self.size, "big", signed=self.signed)
        except OverflowError:
            raise ValueError(f"{value} does not fit {self.name}") from None

    def parse(self, text: str) -> int:
        try:
            return int(text, 0)
        except ValueError:
            raise ValueError(f"not an integer: {text!r}") from None


class Flag(Uint):
    """One byte that must be 0 or 1."""

    def __init__(self) -> None:
        super().__init__(1)
        self.name, self.isc = "bool", "boolean"

    def decode(self, data: bytes) -> bool:
        n = super().decode(data)
        if n > 1:
            raise ValueError(f"boolean must be 0 or 1, not {n}")
        return bool(n)

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise ValueError(f"expected a boolean, not {value!r}")
        return bytes((int(value),))

    def format(self, value: bool) -> str:
        return "true" if value else "false"

    def parse(self, text: str) -> bool:
        t = text.strip().lower()
        if t in ("1", "true", "yes", "on"):
            return True
        if t in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {text!r}")


class UintList(ValueType):
    def __init__(self, size: int) -> None:
        self.item = Uint(size)
        self.name = f"{self.item.name}-list"

    def decode(self, data: bytes) -> list[int]:
        n = self.item.size
        if not data or len(data) % n:
            raise ValueError(f"{self.name}: length {len(data)} is not a non-zero multiple of {n}")
        return [int.from_bytes(data[i:i + n], "big") for i in range(0, len(data), n)]

    def encode(self, value: Any) -> bytes:
        if not value:
            raise ValueError(f"{self.name}: empty list")
        return b"".join(self.item.encode(v) for v in value)

    def format(self, value: list[int]) -> str:
        return ",".join(map(str, value))

    def parse(self, text: str) -> list[int]:
        return [self.item.parse(t) for t in text.split(",")]


class Ipv4(ValueType):
    name, isc = "ipv4", "ip-address"

    def decode(self, data: bytes) -> IPv4Address:
        if len(data) != 4:
            raise ValueError(f"an IPv4 address is 4 bytes, not {len(data)}")
        return IPv4Address(data)

    def encode(self, value: Any) -> bytes:
        try:
            return IPv4Address(value).packed
        except ValueError as exc:
            raise ValueError(str(exc)) from None

    def parse(self, text: str) -> IPv4Address:
        try:
            return IPv4Address(text.strip())
        except ValueError:
            raise ValueError(f"not an IPv4 address: {text!r}") from None


class Ipv4List(ValueType):
    name, isc = "ipv4-list", "array of ip-address"

    def decode(self, data: bytes) -> list[IPv4Address]:
        if not data or len(data) % 4:
            raise ValueError(f"an IPv4 address list is a non-zero multiple of 4 bytes, not {len(data)}")
        return [IPv4Address(data[i:i + 4]) for i in range(0, len(data), 4)]

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str | IPv4Address):
            value = [value]
        if not value:
            raise ValueError("empty address list")
        return b"".join(IPV4.encode(v) for v in value)

    def format(self, value: list[IPv4Address]) -> str:
        return ",".join(map(str, value))

    def parse(self, text: str) -> list[IPv4Address]:
        return [IPV4.parse(t) for t in text.split(",")]


class DnsName(ValueType):
    """A domain name in DNS wire form without compression (RFC 1035 §3.1)."""

    name = "fqdn"

    def decode(self, data: bytes) -> str:
        labels, pos = [], 0
        while True:
            if pos >= len(data):
                raise ValueError("DNS name has no terminating zero-length label")
            n = data[pos]
            if n == 0:
                break
            if n > 63:
                raise ValueError(f"label length {n} at byte {pos}: over 63 or a compression pointer")
            label = data[pos + 1:pos + 1 + n]
            if len(label) != n:
                raise ValueError(f"label at byte {pos} runs past the end")
            if not label.isascii() or b"." in label:
                raise ValueError(f"label at byte {pos} is not a plain ASCII label")
            labels.append(label.decode("ascii"))
            pos += 1 + n
        if pos + 1 != len(data):
            raise ValueError(f"{len(data) - pos - 1} bytes after the end of the DNS name")
        return ".".join(labels)

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise ValueError(f"expected a domain name, not {type(value).__name__}")
        out = bytearray()
        for label in value.rstrip(".").split(".") if value.strip(".") else []:
            raw = label.encode("ascii", "strict") if label.isascii() else b""
            if not 1 <= len(raw) <= 63:
                raise ValueError(f"label {label!r} must be 1-63 ASCII characters")
            out += bytes((len(raw),)) + raw
        out.append(0)
        if len(out) > 255:
            raise ValueError("a domain name is at most 255 bytes")
        return bytes(out)

    def parse(self, text: str) -> str:
        self.encode(text)
        return text.rstrip(".")


class Realm(DnsName):
    """Kerberos realm in DNS wire form; RFC 3495 §5.6 wants upper-case ASCII."""

    name = "realm"

    def parse(self, text: str) -> str:
        # Only what we write is held to the rule; what a device sends is read as is.
        if text != text.upper():
            raise ValueError(f"realm {text!r} must be upper case")
        return super().parse(text)


class Mac(ValueType):
    name = "mac"

    def decode(self, data: bytes) -> str:
        if len(data) != 6:
            raise ValueError(f"a MAC address is 6 bytes, not {len(data)}")
        return data.hex(":")

    def encode(self, value: Any) -> bytes:
        raw = BYTES.parse(value) if isinstance(value, str) else value
        if not isinstance(raw, bytes) or len(raw) != 6:
            raise ValueError(f"not a MAC address: {value!r}")
        return raw

    def parse(self, text: str) -> str:
        return self.encode(text.replace("-", ":")).hex(":")


class Oui(ValueType):
    """Option 43.8: 3 bytes binary, or 6 ASCII hex digits (both occur; kept as sent)."""

    name = "oui"

    def decode(self, data: bytes) -> bytes | str:
        if len(data) == 3:
            return bytes(data)
        if len(data) == 6 and all(chr(b) in "0123456789abcdefABCDEF" for b in data):
            return data.decode("ascii")
        raise ValueError(f"an OUI is 3 bytes or 6 hex digits, not {len(data)} bytes")

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bytes) and len(value) == 3:
            return value
        if isinstance(value, str) and len(value) == 6:
            int(value, 16)
            return value.encode("ascii")
        raise ValueError(f"not an OUI: {value!r}")

    def format(self, value: bytes | str) -> str:
        return value.hex(":") if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Backoff:
    """RFC 3495 §5.4/§5.5: nominal timeout, maximum timeout, maximum retries."""

    nominal: int
    maximum: int
    retries: int


class BackoffType(ValueType):
    name = "backoff"

    def decode(self, data: bytes) -> Backoff:
        if len(data) != 12:
            raise ValueError(f"backoff and retry is 12 bytes (3 x uint32), not {len(data)}")
        return Backoff(*(int.from_bytes(data[i:i + 4], "big") for i in (0, 4, 8)))

    def encode(self, value: Any) -> bytes:
        if isinstance(value, tuple | list) and len(value) == 3:
            value = Backoff(*value)
        if not isinstance(value, Backoff):
            raise ValueError(f"expected (nominal, maximum, retries), not {value!r}")
        return b"".join(UINT32.encode(v) for v in (value.nominal, value.maximum, value.retries))

    def format(self, value: Backoff) -> str:
        return f"{value.nominal},{value.maximum},{value.retries}"

    def parse(self, text: str) -> Backoff:
        parts = [UINT32.parse(t) for t in text.split(",")]
        if len(parts) != 3:
            raise ValueError("backoff is three numbers: nominal,maximum,retries")
        return Backoff(*parts)


class ProvServer(ValueType):
    """RFC 3495 §5.3: a type byte, 0 then an FQDN in DNS wire form, 1 then an IPv4 address."""

    name = "prov-server"

    def decode(self, data: bytes) -> str | IPv4Address:
        if not data:
            raise ValueError("empty; the first byte is the address type")
        if data[0] == 0:
            return FQDN.decode(data[1:])
        if data[0] == 1:
            return IPV4.decode(data[1:])
        raise ValueError(f"address type {data[0]} is neither 0 (FQDN) nor 1 (IPv4)")

    def encode(self, value: Any) -> bytes:
        # A dotted quad is an address wherever it comes from (a TOML string, a
        # str() of an address): sent as type 0, a device would try to resolve
        # "10.0.0.1" through DNS and never find its provisioning server.
        if isinstance(value, str):
            try:
                value = IPv4Address(value.strip())
            except ValueError:
                pass
        if isinstance(value, IPv4Address):
            return b"\x01" + value.packed
        return b"\x00" + FQDN.encode(value)

    def parse(self, text: str) -> str | IPv4Address:
        try:
            return IPv4Address(text.strip())
        except ValueError:
            return FQDN.parse(text.strip())


#: RFC 1035 §4.1.4: a length byte with both top bits set starts a two-byte pointer.
_POINTER = 0xC0


def _bad(reason: str, at: int) -> DhcpDecodeError:
    """A decode error at byte ``at`` of the option value (the walker adds where the value starts)."""
    return DhcpDecodeError(f"sip-servers: {reason}", offset=at)


def _name_list(data: bytes, base: int) -> list[str]:
    """Domain names back to back in RFC 1035 wire form, each ending in a zero label or a
    pointer (§4.1.4) to a prior occurrence: before the name it is in, and each further
    jump before the last one's target, so a hostile loop cannot run forever. ``base``: where ``data`` starts in the option value,
    for the byte offsets the errors give."""
    names: list[str] = []
    pos = 0
    while pos < len(data):
        labels: list[str] = []
        size, cursor, end, limit = 1, pos, None, pos
        while True:
            if cursor >= len(data):
                raise _bad("name has no terminating zero-length label", base + pos)
            n = data[cursor]
            if n & _POINTER == _POINTER:
                if cursor + 1 >= len(data):
                    raise _bad("compression pointer cut short", base + cursor)
                target = ((n & 0x3F) << 8) | data[cursor + 1]
                if target >= limit:
                    raise _bad(f"compression pointer to value byte {base + target} does not point back "
                               f"(before byte {base + limit})", base + cursor)
                end = cursor + 2 if end is None else end
                cursor = limit = target
                continue
            if n & _POINTER:
                raise _bad(f"label length {n:#04x}: a reserved label type", base + cursor)
            if n == 0:
                end = cursor + 1 if end is None else end
                break
            label = data[cursor + 1:cursor + 1 + n]
            if len(label) != n:
                raise _bad("label runs past the end", base + cursor)
            if not label.isascii() or b"." in label:
                raise _bad("label is not plain ASCII without dots", base + cursor)
            size += 1 + n
            if size > 255:
                raise _bad("name is longer than 255 bytes", base + pos)
            labels.append(label.decode("ascii"))
            cursor += 1 + n
        if not labels:
            raise _bad("name is the root (empty)", base + pos)
        names.append(".".join(labels))
        pos = end
    return names


class CompressedNames(list[str]):
    """Names read from a compressed option 120, with the bytes they came in: written
    back as they came (``encode(decode(b)) == b``) while the list is left as read."""

    def __init__(self, names: list[str], wire: bytes) -> None:
        super().__init__(names)
        self.wire = wire


class SipServers(ValueType):
    """RFC 3361: an encoding byte, then 0: SIP server domain names (RFC 1035 wire form;
    §3.1 lets them be compressed, clients must read pointers) or 1: IPv4 addresses.
    One option holds one kind. We write names uncompressed. A pointer's offset counts
    from the first name (the byte after the encoding byte), as Wireshark reads it.
    Decoded: a list of names (str) or of addresses (IPv4Address), in order of preference."""

    name = "sip-servers"

    def decode(self, data: bytes) -> list[str] | list[IPv4Address]:
        if not data:
            raise _bad("empty; the first byte is the encoding (0 domain names, 1 IPv4 addresses)", 0)
        if data[0] == 1:
            if len(data) == 1 or (len(data) - 1) % 4:
                raise _bad(f"{len(data) - 1} bytes after encoding 1: not a non-zero multiple of 4", 1)
            return IPV4_LIST.decode(data[1:])
        if data[0] == 0:
            if len(data) == 1:
                raise _bad("encoding 0 with no domain name", 1)
            names = _name_list(data[1:], 1)
            plain = b"\x00" + b"".join(FQDN.encode(n) for n in names)
            return names if plain == data else CompressedNames(names, bytes(data))
        raise _bad(f"encoding byte {data[0]} is neither 0 (domain names) nor 1 (IPv4 addresses)", 0)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, CompressedNames) and _name_list(value.wire[1:], 1) == list(value):
            return value.wire
        items = [value] if isinstance(value, str | IPv4Address) else list(value or ())
        if not items:
            raise ValueError("no SIP server given")
        parsed = [self._one(item) for item in items]
        kinds = {isinstance(p, IPv4Address) for p in parsed}
        if len(kinds) > 1:
            raise ValueError("RFC 3361: one option carries domain names or IPv4 addresses, not both")
        if kinds == {True}:
            return b"\x01" + b"".join(p.packed for p in parsed if isinstance(p, IPv4Address))
        return b"\x00" + b"".join(FQDN.encode(p) for p in parsed)

    @staticmethod
    def _one(item: Any) -> str | IPv4Address:
        # A dotted quad is an address wherever it comes from (as in ProvServer).
        if isinstance(item, IPv4Address):
            return item
        if not isinstance(item, str):
            raise ValueError(f"expected a host name or an IPv4 address, not {type(item).__name__}")
        try:
            return IPv4Address(item.strip())
        except ValueError:
            if not item.strip(". "):
                raise ValueError("empty host name") from None
            return item.strip()

    def format(self, value: list[str] | list[IPv4Address]) -> str:
        return ",".join(map(str, value))

    def parse(self, text: str) -> list[str | IPv4Address]:
        parsed = [self._one(t) for t in text.split(",")]
        self.encode(parsed)
        return parsed


class Bits(Uint):
    """An unsigned bit mask; ``names`` label the bits for display."""

    def __init__(self, size: int, names: dict[int, str]) -> None:
        super().__init__(size)
        self.names = names
        self.name = f"bits{size * 8}"

    def format(self, value: int) -> str:
        labels = [label for bit, label in self.names.items() if value & bit]
        return f"0x{value:0{self.size * 2}x}" + (f" ({', '.join(labels)})" if labels else "")


BYTES, TEXT, FLAG = Bytes(), Text(), Flag()
UINT8, UINT16, UINT32, INT32 = Uint(1), Uint(2), Uint(4), Uint(4, signed=True)
UINT8_LIST, UINT16_LIST = UintList(1), UintList(2)
IPV4, IPV4_LIST, FQDN, REALM, MAC, OUI = Ipv4(), Ipv4List(), DnsName(), Realm(), Mac(), Oui()
BACKOFF, PROV_SERVER, SIP_SERVERS = BackoffType(), ProvServer(), SipServers()
