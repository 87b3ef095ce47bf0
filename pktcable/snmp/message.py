"""SNMPv2c messages (RFC 3416 PDUs in the RFC 1901 community message), sans-IO.

The provisioning exchange needs a handful of PDUs at high rates (a boot storm
is ~3 messages per device), so this is a small codec of our own on top of the
config compiler's BER VarBinds; the tests check it byte for byte against
pysnmp and against net-snmp peers on the wire. Decoding accepts any definite
BER length form (peers differ) and raises :class:`SnmpDecodeError` with the
byte offset for anything else.

Every datagram comes from the network, so decoding is bounded by its size:
the grammar below is walked iteratively at a fixed depth (a constructed value
inside a VarBind is an unknown value tag, not something to descend into),
OIDs obey the RFC 2578 limits (see :mod:`tlv.ber`) and a message carries at
most ``MAX_VARBINDS`` VarBinds, so a 65 KB datagram costs about as much as a
normal INFORM of a few hundred bytes.

The PDU codec (:func:`encode_pdu`, :func:`decode_pdu`) is shared with the
SNMPv3 ScopedPDU (:mod:`pktcable.snmp.v3`).

    Message ::= SEQUENCE { version INTEGER, community OCTET STRING, data PDU }
    PDU     ::= [tag] IMPLICIT SEQUENCE { request-id, error-status, error-index,
                                          variable-bindings SEQUENCE OF VarBind }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache

from tlv import ber
from tlv.ber import VarBind

VERSION_1, VERSION_2C = 0, 1
#: Distinct OIDs whose decoding is remembered: every eMTA's INFORMs name the same
#: objects, so decoding them once saves a third of a message's decoding; a sender of
#: random OIDs only churns this bounded table.
OID_CACHE = 1024


class PduType(IntEnum):
    GET = 0xA0
    GET_NEXT = 0xA1
    RESPONSE = 0xA2
    SET = 0xA3
    GET_BULK = 0xA5
    INFORM = 0xA6
    TRAP_V2 = 0xA7
    REPORT = 0xA8


class ErrorStatus(IntEnum):
    """RFC 3416 error-status values."""

    NO_ERROR = 0
    TOO_BIG = 1
    NO_SUCH_NAME = 2
    BAD_VALUE = 3
    READ_ONLY = 4
    GEN_ERR = 5
    NO_ACCESS = 6
    WRONG_TYPE = 7
    WRONG_LENGTH = 8
    WRONG_ENCODING = 9
    WRONG_VALUE = 10
    NO_CREATION = 11
    INCONSISTENT_VALUE = 12
    RESOURCE_UNAVAILABLE = 13
    COMMIT_FAILED = 14
    UNDO_FAILED = 15
    AUTHORIZATION_ERROR = 16
    NOT_WRITABLE = 17
    INCONSISTENT_NAME = 18


# Values a Response may carry instead of a value (RFC 3416 section 3).
NO_SUCH_OBJECT = ber.SnmpType("noSuchObject", 0x80, "null")
NO_SUCH_INSTANCE = ber.SnmpType("noSuchInstance", 0x81, "null")
END_OF_MIB_VIEW = ber.SnmpType("endOfMibView", 0x82, "null")
_VALUE_TYPES: dict[int, ber.SnmpType] = {
    **ber.SNMP_TYPE_BY_TAG,
    **{t.tag: t for t in (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW)},
}
NULL = ber.SNMP_TYPE_BY_KEYWORD["null"]

# Far above any PDU of the provisioning flows (an INFORM carries under 20) and
# any GetBulk answer we ask for, low enough that a full 65 KB datagram of tiny
# VarBinds is refused before it costs more than about a millisecond.
MAX_VARBINDS = 256

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)


class SnmpDecodeError(ValueError):
    def __init__(self, reason: str, offset: int) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(f"offset {offset}: {reason}")


@dataclass(frozen=True, slots=True)
class Pdu:
    type: PduType
    request_id: int
    varbinds: tuple[VarBind, ...] = ()
    error_status: int = 0
    error_index: int = 0  # GetBulk: non-repeaters / max-repetitions live here
    #: The contents of the variable-bindings SEQUENCE as received (decode sets it): an
    #: INFORM's Response echoes them as they came, instead of encoding each VarBind again.
    received_varbinds: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Message:
    community: bytes
    pdu: Pdu
    version: int = VERSION_2C

    def response(
        self, varbinds: Sequence[VarBind] | None = None, error_status: int = 0, error_index: int = 0
    ) -> Message:
        """The Response to this request (an INFORM's echoes its varbinds)."""
        if varbinds is None:
            vbs, received = self.pdu.varbinds, self.pdu.received_varbinds
        else:
            vbs, received = tuple(varbinds), None
        pdu = Pdu(PduType.RESPONSE, self.pdu.request_id, vbs, error_status, error_index, received)
        return Message(self.community, pdu, self.version)


def null_varbind(oid: tuple[int, ...]) -> VarBind:
    return VarBind(oid, NULL, None)


def notification(oid: tuple[int, ...], uptime: int, varbinds: Sequence[VarBind]) -> tuple[VarBind, ...]:
    """Varbinds of a v2 notification: sysUpTime.0, snmpTrapOID.0, then the objects."""
    return (
        VarBind(SYS_UPTIME, ber.SNMP_TYPE_BY_KEYWORD["timeticks"], uptime),
        VarBind(SNMP_TRAP_OID, ber.SNMP_TYPE_BY_KEYWORD["objectid"], oid),
        *varbinds,
    )


def _varbind(vb: VarBind) -> bytes:
    value = b"" if vb.type.kind == "null" else ber.encode_value(vb.type, vb.value)
    return ber.tlv(ber.SEQUENCE, ber.tlv(ber.OBJECT_IDENTIFIER, ber.encode_oid(vb.oid)) + ber.tlv(vb.type.tag, value))


def encode_pdu(pdu: Pdu) -> bytes:
    """One PDU's TLV: the ``data`` of a v1/v2c message and of an SNMPv3 ScopedPDU."""
    body = (
        ber.tlv(ber.INTEGER, ber.encode_int(pdu.request_id))
        + ber.tlv(ber.INTEGER, ber.encode_int(pdu.error_status))
        + ber.tlv(ber.INTEGER, ber.encode_int(pdu.error_index))
        + ber.tlv(ber.SEQUENCE, pdu.received_varbinds if pdu.received_varbinds is not None
                  else b"".join(_varbind(vb) for vb in pdu.varbinds))
    )
    return ber.tlv(pdu.type, body)


def encode(msg: Message) -> bytes:
    return ber.tlv(
        ber.SEQUENCE,
        ber.tlv(ber.INTEGER, ber.encode_int(msg.version))
        + ber.tlv(ber.OCTET_STRING, msg.community)
        + encode_pdu(msg.pdu),
    )


@dataclass(slots=True)
class Cursor:
    data: bytes
    pos: int = 0
    end: int = field(default=-1)

    def __post_init__(self) -> None:
        if self.end < 0:
            self.end = len(self.data)

    def element(self, expect: int | None = None, what: str = "element") -> tuple[int, int, int]:
        """-> (tag, start of contents, end of contents); moves past it."""
        data, pos, end = self.data, self.pos, self.end
        if pos + 2 > end:
            raise SnmpDecodeError(f"{what} truncated", pos)
        tag, first = data[pos], data[pos + 1]
        if expect is not None and tag != expect:
            raise SnmpDecodeError(f"expected {what} (tag 0x{expect:02x}), found tag 0x{tag:02x}", pos)
        start = pos + 2
        if first & 0x80:
            n = first & 0x7F
            if n == 0 or n > 4 or start + n > end:
                raise SnmpDecodeError(f"bad length of {what}", pos + 1)
            length = int.from_bytes(data[start : start + n], "big")
            start += n
        else:
            length = first
        if start + length > end:
            raise SnmpDecodeError(f"{what} runs past its container", pos)
        self.pos = start + length
        return tag, start, start + length

    def integer(self, what: str) -> int:
        _, s, e = self.element(ber.INTEGER, what)
        if s == e or e - s > 9:
            raise SnmpDecodeError(f"bad {what}", s)
        return int.from_bytes(self.data[s:e], "big", signed=True)


@lru_cache(maxsize=OID_CACHE)
def _decode_oid(octets: bytes) -> tuple[int, ...]:
    return ber.decode_oid(octets)  # an error is raised each time, never remembered


def decode(data: bytes) -> Message:
    """Bytes of one datagram -> Message, or SnmpDecodeError."""
    outer = Cursor(data)
    _, s, e = outer.element(ber.SEQUENCE, "message SEQUENCE")
    if e != len(data):
        raise SnmpDecodeError("bytes after the message", e)
    c = Cursor(data, s, e)
    version = c.integer("version")
    if version not in (VERSION_1, VERSION_2C):
        raise SnmpDecodeError(f"SNMP version {version} is not v1/v2c", s)
    _, cs, ce = c.element(ber.OCTET_STRING, "community")
    community = data[cs:ce]
    pdu = decode_pdu(c)
    if c.pos != e:
        raise SnmpDecodeError("bytes after the PDU", c.pos)
    return Message(community, pdu, version)


def decode_pdu(c: Cursor) -> Pdu:
    """The PDU at the cursor (moved past it); shared with the SNMPv3 ScopedPDU."""
    data = c.data
    pos = c.pos
    tag, ps, pe = c.element(None, "PDU")
    try:
        kind = PduType(tag)
    except ValueError:
        raise SnmpDecodeError(f"unknown PDU type 0x{tag:02x}", pos) from None
    p = Cursor(data, ps, pe)
    request_id = p.integer("request-id")
    error_status = p.integer("error-status")
    error_index = p.integer("error-index")
    _, vs, ve = p.element(ber.SEQUENCE, "variable-bindings")
    varbinds: list[VarBind] = []
    v = Cursor(data, vs, ve)
    while v.pos < ve:
        if len(varbinds) == MAX_VARBINDS:
            raise SnmpDecodeError(f"more than {MAX_VARBINDS} VarBinds", v.pos)
        _, bs, be = v.element(ber.SEQUENCE, "VarBind")
        b = Cursor(data, bs, be)
        _, os_, oe = b.element(ber.OBJECT_IDENTIFIER, "VarBind name")
        tag_pos = b.pos
        tag, xs, xe = b.element(None, "VarBind value")
        if b.pos != be:
            raise SnmpDecodeError("bytes after a VarBind value", b.pos)
        t = _VALUE_TYPES.get(tag)
        if t is None:
            raise SnmpDecodeError(f"unknown value tag 0x{tag:02x}", tag_pos)
        try:
            oid = _decode_oid(data[os_:oe])
        except ber.BerError as exc:
            raise SnmpDecodeError(exc.reason, os_ + exc.offset) from None
        try:
            value = None if t.kind == "null" else ber.decode_value(t, data[xs:xe])
        except ValueError as exc:
            raise SnmpDecodeError(str(exc), xs) from None
        varbinds.append(VarBind(oid, t, value))
    return Pdu(kind, request_id, tuple(varbinds), error_status, error_index, data[vs:ve])
