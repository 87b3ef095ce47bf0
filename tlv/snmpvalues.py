"""Value types of the SNMP TLVs: SnmpMibObject (TLV 11/64) and SnmpWriteControl (TLV 10).

Text forms::

    SnmpMibObject <oid> <Type> <value>;     e.g. ifAdminStatus.9 Integer up
    SnmpWriteControl <oid> <0|1>;            TLV 10: BER OID, then one flag byte

OIDs and enum labels go through the OidContext the compiler passes in; with
none, only numeric OIDs and numbers are understood.
"""

from __future__ import annotations

import ipaddress
import re

from . import ber
from .model import OidContext, ValueType
from .quoting import quote, unquote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any

# A word of a value; a quoted index ('A B') inside it may hold spaces.
_WORD = re.compile(r"\s*((?:[^\s']|'[^']*'?)+)")


def _split_words(text: str, count: int) -> list[str]:
    """Split off ``count - 1`` leading words; the last part is the rest."""
    parts = text.split(" ", count - 1)
    # What the compiler hands over: tokens joined by one space. Without a
    # quoted index, the leading words are what lies between single spaces.
    if len(parts) == count and all(p.split() == [p] and "'" not in p for p in parts[:-1]):
        parts[-1] = parts[-1].strip()
        return parts
    parts = []
    pos = 0
    for _ in range(count - 1):
        m = _WORD.match(text, pos)
        if m is None:
            break
        parts.append(m.group(1))
        pos = m.end()
    parts.append(text[pos:].strip())
    return parts


def _resolve(text: str, ctx: OidContext | None) -> tuple[int, ...]:
    if ctx is not None:
        return ctx.resolve_oid(text)
    digits = text[1:] if text.startswith(".") else text
    try:
        return tuple(int(a) for a in digits.split("."))
    except ValueError:
        raise ValueError(f"cannot resolve {text!r} without MIBs; write it numerically") from None


def _format_oid(oid: tuple[int, ...], ctx: OidContext | None) -> str:
    if ctx is not None:
        return ctx.format_oid(oid)
    return "." + ".".join(map(str, oid))


def _printable(data: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in data)


class VarBindType(ValueType):
    name = "snmp_varbind"

    def parse(self, text: str, ctx: OidContext | None = None) -> ber.VarBind:
        words = _split_words(text, 3)
        if len(words) < 3 or not words[2]:
            raise ValueError("expected <OID> <Type> <value>, e.g. sysContact.0 String \"noc\"")
        oid_text, type_text, value_text = words
        oid = _resolve(oid_text, ctx)
        t = ber.SNMP_TYPE_BY_KEYWORD.get(type_text.lower())
        if t is None:
            names = ", ".join(x.keyword for x in ber.SNMP_TYPES)
            raise ValueError(f"unknown SNMP type {type_text!r}; one of {names}")
        value = self._value(t, value_text, oid, ctx)
        return ber.VarBind(oid, t, value)

    def _value(self, t: ber.SnmpType, text: str, oid: tuple[int, ...], ctx: OidContext | None) -> Any:
        kind = t.kind
        if kind in ("int", "uint32", "uint64"):
            try:
                value = int(text, 10)
            except ValueError:
                label = getattr(ctx, "enum_value", None)
                found = label(oid, text) if label else None
                if found is None:
                    raise ValueError(f"{t.keyword} takes a number or an enum label of the object, not {text!r}") from None
                value = found
            ber.encode_value(t, value)
            return value
        if kind == "ip":
            try:
                return ipaddress.IPv4Address(text).packed
            except ValueError:
                raise ValueError(f"not an IPv4 address: {text!r}") from None
        if kind == "oid":
            return _resolve(text, ctx)
        if kind == "null":
            if text not in ("", "0"):
                raise ValueError("Null takes no value")
            return None
        if t.keyword == "String":
            return unquote(text)
        return _hex(text)

    def problems(self, value: ber.VarBind, ctx: OidContext | None) -> list[tuple[str, str]]:
        # MIB constraints (type, enum, range, SIZE, INDEX ranges): only a
        # context backed by MIBs knows them.
        check = getattr(ctx, "check_varbind", None)
        if check is None:
            return []
        found: list[tuple[str, str]] = check(value.oid, value.type.tag, value.type.keyword, value.value)
        return found

    def encode(self, value: ber.VarBind) -> bytes:
        return ber.encode_varbind(value)

    def decode(self, data: bytes) -> ber.VarBind:
        vb = ber.decode_varbind(data)
        if vb.type.tag == ber.OCTET_STRING and isinstance(vb.value, bytes) and not _printable(vb.value):
            vb = vb.replace(type=ber.SNMP_TYPE_BY_KEYWORD["hexstring"])
        return vb

    def minimal_ber(self, value: ber.VarBind) -> ber.VarBind:
        return value.replace(long_header=False)

    def format(self, value: ber.VarBind, ctx: OidContext | None = None) -> str:
        t, v = value.type, value.value
        head = f"{_format_oid(value.oid, ctx)} {t.keyword}"
        if t.kind in ("int", "uint32", "uint64"):
            assert isinstance(v, int)
            label = getattr(ctx, "enum_label", None)
            name = label(value.oid, v) if label else None
            return f"{head} {v}" + (f" /* {name} */" if name else "")
        if t.kind == "ip":
            assert isinstance(v, bytes)
            return f"{head} {ipaddress.IPv4Address(v)}"
        if t.kind == "oid":
            assert isinstance(v, tuple)
            return f"{head} {_format_oid(v, ctx)}"
        if t.kind == "null":
            return f"{head} 0"
        assert isinstance(v, bytes)
        if t.keyword == "String":
            return f"{head} {quote(v)}"
        return f"{head} 0x{v.hex()}"

    def measure(self, value: Any) -> int | None:
        return None


def _hex(text: str) -> bytes:
    if not text.lower().startswith("0x") or len(text) % 2:
        raise ValueError(f"expected hex bytes such as 0x00ff, not {text!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError(f"bad hex {text!r}") from None


class SnmpWriteControlType(ValueType):
    """TLV 10 (MULPI C.1.2.4): an OID, then 0 (allow write) or 1 (disallow)."""

    name = "snmp_write_control"

    def parse(self, text: str, ctx: OidContext | None = None) -> tuple[tuple[int, ...], int]:
        words = _split_words(text, 2)
        if len(words) != 2 or words[1] not in ("0", "1"):
            raise ValueError("expected <OID> <0|1>")
        return _resolve(words[0], ctx), int(words[1])

    def encode(self, value: tuple[tuple[int, ...], int]) -> bytes:
        oid, flag = value
        return ber.tlv(ber.OBJECT_IDENTIFIER, ber.encode_oid(oid)) + bytes((flag,))

    def decode(self, data: bytes) -> tuple[tuple[int, ...], int]:
        if len(data) < 4 or data[0] != ber.OBJECT_IDENTIFIER or data[1] != len(data) - 3:
            raise ValueError("expected a BER OID and one flag byte")
        if data[-1] > 1:
            raise ValueError("flag byte must be 0 or 1")
        return ber.decode_oid(data[2:-1]), data[-1]

    def format(self, value: tuple[tuple[int, ...], int], ctx: OidContext | None = None) -> str:
        return f"{_format_oid(value[0], ctx)} {value[1]}"


SNMP_VARBIND = VarBindType()
SNMP_WRITE_CONTROL = SnmpWriteControlType()
