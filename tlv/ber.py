"""BER for what config files carry: OIDs and SNMP VarBinds (RFC 3416 ObjectSyntax).

A small encoder/decoder of our own, because config compilation encodes one
VarBind per TLV 11 and pyasn1 spends ~90 us on each (measured in
docs/benchmarks.md); the test suite checks every form against pyasn1 as the
oracle. The decoder is strict: it accepts only the canonical encoding (minimal
lengths and integers) plus one exception, the 4-byte VarBind SEQUENCE header
the docsis tool writes for long strings (see :func:`docsis_long_header`). A
decoded VarBind remembers which header it had, so
``encode_varbind(decode_varbind(b)) == b`` holds for every ``b`` it accepts
and anything else stays raw bytes upstream.

OBJECT IDENTIFIER values are bounded as RFC 2578 section 3.5 bounds them (at
most 128 sub-identifiers, each at most 2^32-1), in both directions: the
decoder refuses a longer or larger one as soon as it sees it, so the work per
OID stays linear in its size (an unbounded sub-identifier would grow a Python
int byte by byte, quadratic in the input).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from .record import FrozenRecord

# ObjectSyntax tags (RFC 2578 / RFC 3416).
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x30
IP_ADDRESS = 0x40
COUNTER32 = 0x41
GAUGE32 = 0x42  # also Unsigned32
TIME_TICKS = 0x43
OPAQUE = 0x44
COUNTER64 = 0x46

Value = int | bytes | tuple[int, ...] | str | None

# RFC 2578 section 3.5: the limits of an OBJECT IDENTIFIER value.
MAX_OID_ARCS = 128
MAX_SUBID = 2**32 - 1
# The first encoded sub-identifier carries two arcs (40 * X + Y), so with X = 2
# it may exceed MAX_SUBID by the 80 that encodes X.
_MAX_FIRST_SUBID = MAX_SUBID + 80
# Longest content of an INTEGER-like value: a Counter64 with a leading zero.
MAX_INTEGER_OCTETS = 9


class BerError(ValueError):
    """BER that cannot be decoded: ``reason`` says why, ``offset`` is the byte
    offset within the contents handed to the decoder (callers add where those
    contents start in their own input)."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason)


class SnmpType(FrozenRecord):
    """A value type of ``SnmpMibObject``: its keyword, BER tag and kind."""

    __slots__ = ("keyword", "tag", "kind")
    keyword: str
    tag: int
    kind: str  # "int", "uint32", "uint64", "bytes", "ip", "oid", "null"

    def __init__(self, keyword: str, tag: int, kind: str) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "keyword", keyword)
        setattr_(self, "tag", tag)
        setattr_(self, "kind", kind)


# Keywords as the config language spells them. Aliases map onto one row so
# decode prints a single canonical keyword per tag (the first one listed).
SNMP_TYPES: tuple[SnmpType, ...] = (
    SnmpType("Integer", INTEGER, "int"),
    SnmpType("Unsigned32", GAUGE32, "uint32"),
    SnmpType("Gauge32", GAUGE32, "uint32"),
    SnmpType("Counter32", COUNTER32, "uint32"),
    SnmpType("Counter64", COUNTER64, "uint64"),
    SnmpType("TimeTicks", TIME_TICKS, "uint32"),
    SnmpType("IPAddress", IP_ADDRESS, "ip"),
    SnmpType("String", OCTET_STRING, "bytes"),
    SnmpType("HexString", OCTET_STRING, "bytes"),
    SnmpType("ObjectID", OBJECT_IDENTIFIER, "oid"),
    SnmpType("Opaque", OPAQUE, "bytes"),
    SnmpType("Null", NULL, "null"),
)
SNMP_TYPE_ALIASES = {"gauge": "Gauge32", "counter": "Counter32", "unsigned": "Unsigned32"}
SNMP_TYPE_BY_KEYWORD: dict[str, SnmpType] = {t.keyword.lower(): t for t in SNMP_TYPES}
for _alias, _kw in SNMP_TYPE_ALIASES.items():
    SNMP_TYPE_BY_KEYWORD[_alias] = SNMP_TYPE_BY_KEYWORD[_kw.lower()]
SNMP_TYPE_BY_TAG: dict[int, SnmpType] = {}
for _t in SNMP_TYPES:
    SNMP_TYPE_BY_TAG.setdefault(_t.tag, _t)

_UINT_LIMIT = {"uint32": 1 << 32, "uint64": 1 << 64}


class VarBind(FrozenRecord):
    """``SEQUENCE { name OBJECT IDENTIFIER, value ObjectSyntax }``.

    ``value`` is an int (Integer, counters, gauges, ticks), bytes (strings,
    Opaque, IpAddress as 4 bytes), a tuple of arcs (ObjectID) or None (Null).

    ``long_header`` is the form of the SEQUENCE header: True for the 4-byte
    ``30 82 HH LL`` form, False for the minimal one, None (a value written in
    text) for whatever the encoder's rule picks. Decoding sets it so that
    re-encoding gives back the very bytes read; it takes no part in equality.
    """

    __slots__ = ("oid", "type", "value", "long_header")
    _uncompared = frozenset({"long_header"})
    oid: tuple[int, ...]
    type: SnmpType
    value: Value
    long_header: bool | None

    def __init__(self, oid: tuple[int, ...], type: SnmpType, value: Value, long_header: bool | None = None) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "oid", oid)
        setattr_(self, "type", type)
        setattr_(self, "value", value)
        setattr_(self, "long_header", long_header)


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(content)) + content


@lru_cache(maxsize=4096)
def encode_oid(arcs: tuple[int, ...]) -> bytes:
    """OID contents octets (no tag, no length); cached, as batches repeat OIDs."""
    if len(arcs) < 2:
        raise ValueError("an OID needs at least two arcs")
    if len(arcs) > MAX_OID_ARCS:
        raise ValueError(f"an OID has at most {MAX_OID_ARCS} arcs, not {len(arcs)}")
    first, second = arcs[0], arcs[1]
    dotted = ".".join(map(str, arcs))
    if min(arcs) < 0:
        raise ValueError(f"OID arcs are not negative: {dotted}")
    # X.690 8.19.4: the first two arcs share one sub-identifier (40 * X + Y).
    if first > 2:
        raise ValueError(f"an OID starts with 0, 1 or 2, not {first}: {dotted}")
    if first < 2 and second > 39:
        raise ValueError(f"under {first} the second arc is at most 39, not {second}: {dotted}")
    if max(arcs) > MAX_SUBID:
        raise ValueError(f"OID sub-identifiers are at most {MAX_SUBID}: {dotted}")
    out = bytearray()
    for arc in (first * 40 + second, *arcs[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = []
        while arc:
            chunk.append(arc & 0x7F)
            arc >>= 7
        chunk.reverse()
        out.extend(b | 0x80 for b in chunk[:-1])
        out.append(chunk[-1])
    return bytes(out)


def decode_oid(data: bytes) -> tuple[int, ...]:
    """OID contents octets -> arcs; rejects non-minimal sub-identifiers and
    OIDs beyond the RFC 2578 limits (:class:`BerError` with the offset)."""
    if not data:
        raise BerError("empty OID")
    arcs: list[int] = []
    value = 0
    limit = _MAX_FIRST_SUBID
    start = True
    for pos, b in enumerate(data):
        if start and b == 0x80:
            raise BerError("OID sub-identifier with a leading 0x80 byte", pos)
        value = (value << 7) | (b & 0x7F)
        if value > limit:
            raise BerError(f"OID sub-identifier above {MAX_SUBID}", pos)
        start = not b & 0x80
        if start:
            if len(arcs) == MAX_OID_ARCS - 1:  # the first sub-identifier holds two arcs
                raise BerError(f"OID longer than {MAX_OID_ARCS} arcs", pos)
            arcs.append(value)
            value = 0
            limit = MAX_SUBID
    if not start:
        raise BerError("OID ends inside a sub-identifier", len(data))
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return head + tuple(arcs[1:])


def encode_int(value: int) -> bytes:
    """Two's complement, minimal length."""
    n = (value + (value < 0)).bit_length() // 8 + 1
    return value.to_bytes(n, "big", signed=True)


def encode_value(t: SnmpType, value: Value) -> bytes:
    """Content octets of one ObjectSyntax value, checked against its type."""
    kind = t.kind
    if kind == "int":
        if not isinstance(value, int) or not -(1 << 31) <= value < 1 << 31:
            raise ValueError(f"{t.keyword} takes -2147483648..2147483647, not {value!r}")
        return encode_int(value)
    if kind in _UINT_LIMIT:
        if not isinstance(value, int) or not 0 <= value < _UINT_LIMIT[kind]:
            raise ValueError(f"{t.keyword} takes 0..{_UINT_LIMIT[kind] - 1}, not {value!r}")
        return encode_int(value)
    if kind == "bytes":
        if not isinstance(value, bytes):
            raise ValueError(f"{t.keyword} takes bytes")
        return value
    if kind == "ip":
        if not isinstance(value, bytes) or len(value) != 4:
            raise ValueError("IPAddress takes 4 bytes")
        return value
    if kind == "oid":
        if not isinstance(value, tuple):
            raise ValueError("ObjectID takes an OID")
        return encode_oid(value)
    if value is not None:
        raise ValueError("Null takes no value")
    return b""


# The docsis tool hands a String or HexString VarBind to net-snmp's encoder
# once ``string length + OID sub-identifier count + 8 >= 0x7F``
# (docsis src/docsis_snmp.c, encode_vbind); below that, and for every other
# type, it uses its own builder with a one-byte SEQUENCE length.
_DOCSIS_LONG_LIMIT = 0x7F - 8


def docsis_long_header(vb: VarBind) -> bool:
    """Whether the docsis tool writes this VarBind's SEQUENCE header in the
    4-byte form ``30 82 HH LL`` (net-snmp's snmp_build_var_op always reserves
    four header bytes and asn_build_sequence fills them with a 2-byte length,
    whatever the length). Only the outer header: net-snmp writes the name's
    and the value's lengths minimally (asn_build_header/asn_build_length).
    The count is of sub-identifiers, not of encoded bytes, which is why the
    threshold in contents length moves with the OID (docs/config-language.md).
    """
    if vb.type.tag != OCTET_STRING or not isinstance(vb.value, bytes):
        return False
    return len(vb.value) + len(vb.oid) >= _DOCSIS_LONG_LIMIT


def encode_varbind(vb: VarBind, *, minimal: bool = False) -> bytes:
    """One VarBind. Its SEQUENCE header keeps the form ``vb.long_header``
    says; when that is None, the docsis tool's form (byte-identical files),
    or the minimal one with ``minimal``."""
    body = tlv(OBJECT_IDENTIFIER, encode_oid(vb.oid)) + tlv(vb.type.tag, encode_value(vb.type, vb.value))
    long = vb.long_header
    if long is None:
        long = not minimal and docsis_long_header(vb)
    if long:
        if len(body) > 0xFFFF:
            raise ValueError(f"a VarBind of {len(body)} bytes does not fit a 2-byte BER length")
        return bytes((SEQUENCE, 0x82)) + len(body).to_bytes(2, "big") + body
    return tlv(SEQUENCE, body)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def element(self, two_byte_length: bool = False) -> tuple[int, bytes]:
        """The next element's tag and contents. Lengths must be minimal, except
        that ``two_byte_length`` also accepts ``82 HH LL`` for any length."""
        data, pos = self.data, self.pos
        if pos + 2 > len(data):
            raise ValueError("BER element truncated")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            n = first & 0x7F
            if n == 0 or n > 4 or pos + n > len(data):
                raise ValueError("unsupported or truncated BER length")
            length = int.from_bytes(data[pos : pos + n], "big")
            if (length < 0x80 or data[pos] == 0) and not (two_byte_length and n == 2):
                raise ValueError("non-minimal BER length")
            pos += n
        if pos + length > len(data):
            raise ValueError("BER element longer than its container")
        self.pos = pos + length
        return tag, data[pos : pos + length]


def decode_value(t: SnmpType, content: bytes) -> Value:
    kind = t.kind
    if kind in ("int", "uint32", "uint64"):
        if not content:
            raise ValueError("empty INTEGER")
        if len(content) > MAX_INTEGER_OCTETS:
            raise ValueError(f"INTEGER of {len(content)} octets; {t.keyword} takes at most {MAX_INTEGER_OCTETS}")
        if len(content) > 1 and (
            (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
        ):
            raise ValueError("non-minimal INTEGER")
        value = int.from_bytes(content, "big", signed=True)
        encode_value(t, value)  # range check for the type
        return value
    if kind == "ip":
        if len(content) != 4:
            raise ValueError("IpAddress must be 4 bytes")
        return content
    if kind == "oid":
        return decode_oid(content)
    if kind == "null":
        if content:
            raise ValueError("NULL with contents")
        return None
    return content


def decode_varbind(data: bytes) -> VarBind:
    """Strict canonical decode of one VarBind filling ``data`` exactly; the
    SEQUENCE header may also be the docsis tool's 4-byte form."""
    outer = _Reader(data)
    tag, body = outer.element(two_byte_length=True)
    if tag != SEQUENCE or outer.pos != len(data):
        raise ValueError("not a single VarBind SEQUENCE")
    inner = _Reader(body)
    tag, name = inner.element()
    if tag != OBJECT_IDENTIFIER:
        raise ValueError("VarBind name is not an OBJECT IDENTIFIER")
    oid = decode_oid(name)
    tag, content = inner.element()
    if inner.pos != len(body):
        raise ValueError("bytes after the VarBind value")
    t = SNMP_TYPE_BY_TAG.get(tag)
    if t is None:
        raise ValueError(f"unsupported SNMP value tag 0x{tag:02x}")
    return VarBind(oid, t, decode_value(t, content), long_header=outer.pos - len(body) == 4)


def ip_bytes(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed
