"""SNMPv3 messages (RFC 3412 section 6) with USM security parameters (RFC 3414 2.4), sans-IO.

    SNMPv3Message ::= SEQUENCE { msgVersion INTEGER (3), msgGlobalData HeaderData,
                                 msgSecurityParameters OCTET STRING, msgData ScopedPduData }
    HeaderData    ::= SEQUENCE { msgID, msgMaxSize INTEGER, msgFlags OCTET STRING (SIZE(1)),
                                 msgSecurityModel INTEGER }
    ScopedPduData ::= CHOICE { plaintext ScopedPDU, encryptedPDU OCTET STRING }
    ScopedPDU     ::= SEQUENCE { contextEngineID OCTET STRING, contextName OCTET STRING, data PDU }
    UsmSecurityParameters ::= SEQUENCE { msgAuthoritativeEngineID OCTET STRING,
        msgAuthoritativeEngineBoots INTEGER, msgAuthoritativeEngineTime INTEGER,
        msgUserName OCTET STRING (SIZE(0..32)), msgAuthenticationParameters OCTET STRING,
        msgPrivacyParameters OCTET STRING }

Only the framing lives here: the PDU inside is :mod:`message`'s, and digests,
ciphers and the time window are :mod:`usmengine`'s. As in :mod:`message`, the
decoder is strict and bounded (every size is checked against the RFC's
ranges before it is used) and raises :class:`SnmpDecodeError` with the byte
offset and the field. It also reports where msgAuthenticationParameters' octets
are, so that the digest is checked over the datagram exactly as received.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlv import ber

from . import message as m
from .message import Cursor, SnmpDecodeError

VERSION_3 = 3
SECURITY_MODEL_USM = 3
#: RFC 3412 msgFlags bits.
FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE = 0x01, 0x02, 0x04
#: RFC 3412: msgMaxSize is at least 484 octets; msgID and the engine values at most 2^31-1.
MIN_MAX_SIZE = 484
MAX_INT31 = 2**31 - 1
#: msgAuthenticationParameters of HMAC-*-96 and msgPrivacyParameters of DES/AES.
AUTH_PARAMS_LENGTH = 12
PRIV_PARAMS_LENGTH = 8
MAX_ENGINE_ID = 32
MAX_USER_NAME = 32
MAX_CONTEXT_NAME = 32  # SnmpAdminString (SIZE(0..32)) in the SNMP-VIEW-BASED-ACM-MIB


@dataclass(frozen=True, slots=True)
class SecurityParameters:
    """UsmSecurityParameters: the authoritative engine's identity and clock, the user,
    the digest (12 octets, or none) and the privacy salt (8 octets, or none)."""

    engine_id: bytes
    boots: int
    time: int
    user_name: bytes
    auth_params: bytes = b""
    priv_params: bytes = b""


@dataclass(frozen=True, slots=True)
class ScopedPdu:
    context_engine_id: bytes
    context_name: bytes
    pdu: m.Pdu


@dataclass(frozen=True, slots=True)
class V3Message:
    msg_id: int
    max_size: int
    flags: int
    security: SecurityParameters
    #: The plaintext ScopedPDU; None when the message carries an encryptedPDU.
    scoped: ScopedPdu | None = None
    encrypted: bytes | None = None
    #: Where msgAuthenticationParameters' contents start in the decoded datagram (-1: encoded here).
    auth_offset: int = -1

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & FLAG_AUTH)

    @property
    def private(self) -> bool:
        return bool(self.flags & FLAG_PRIV)

    @property
    def reportable(self) -> bool:
        return bool(self.flags & FLAG_REPORTABLE)


def encode_scoped(scoped: ScopedPdu) -> bytes:
    return ber.tlv(ber.SEQUENCE, ber.tlv(ber.OCTET_STRING, scoped.context_engine_id)
                   + ber.tlv(ber.OCTET_STRING, scoped.context_name) + m.encode_pdu(scoped.pdu))


def encode(msg: V3Message, scoped_data: bytes | None = None) -> tuple[bytes, int]:
    """-> (datagram, offset of msgAuthenticationParameters' contents).

    ``scoped_data`` is msgData ready made (an encryptedPDU's TLV); otherwise the
    plaintext ScopedPDU is encoded. With the auth flag and no ``auth_params`` the
    12 zero octets RFC 3414 6.3.1 computes the digest over are put in."""
    sec = msg.security
    auth_params = sec.auth_params or (b"\0" * AUTH_PARAMS_LENGTH if msg.authenticated else b"")
    head = (ber.tlv(ber.OCTET_STRING, sec.engine_id) + ber.tlv(ber.INTEGER, ber.encode_int(sec.boots))
            + ber.tlv(ber.INTEGER, ber.encode_int(sec.time)) + ber.tlv(ber.OCTET_STRING, sec.user_name))
    auth_tlv = ber.tlv(ber.OCTET_STRING, auth_params)
    usm_body = head + auth_tlv + ber.tlv(ber.OCTET_STRING, sec.priv_params)
    usm = ber.tlv(ber.SEQUENCE, usm_body)
    # Offset of the digest inside msgSecurityParameters' contents: SEQUENCE header, the
    # fields before it, the digest's own tag and length.
    in_usm = (len(usm) - len(usm_body)) + len(head) + (len(auth_tlv) - len(auth_params))
    if scoped_data is None:
        if msg.scoped is None:
            raise ValueError("an SNMPv3 message needs a ScopedPDU or its encryption")
        scoped_data = encode_scoped(msg.scoped)
    global_data = ber.tlv(ber.SEQUENCE, ber.tlv(ber.INTEGER, ber.encode_int(msg.msg_id))
                          + ber.tlv(ber.INTEGER, ber.encode_int(msg.max_size))
                          + ber.tlv(ber.OCTET_STRING, bytes((msg.flags,)))
                          + ber.tlv(ber.INTEGER, ber.encode_int(SECURITY_MODEL_USM)))
    before = ber.tlv(ber.INTEGER, ber.encode_int(VERSION_3)) + global_data
    sec_octets = ber.tlv(ber.OCTET_STRING, usm)
    body = before + sec_octets + scoped_data
    whole = ber.tlv(ber.SEQUENCE, body)
    offset = (len(whole) - len(body)) + len(before) + (len(sec_octets) - len(usm)) + in_usm
    return whole, offset


def peek_version(data: bytes) -> int | None:
    """msgVersion of a datagram (to route it to the v1/v2c or the v3 decoder); None
    when even that much does not parse."""
    try:
        c = Cursor(data)
        _, s, e = c.element(ber.SEQUENCE, "message SEQUENCE")
        return Cursor(data, s, e).integer("msgVersion")
    except SnmpDecodeError:
        return None


def _octets(c: Cursor, what: str, limit: int) -> bytes:
    _, s, e = c.element(ber.OCTET_STRING, what)
    if e - s > limit:
        raise SnmpDecodeError(f"{what} has {e - s} octets, at most {limit}", s)
    return c.data[s:e]


def _int31(c: Cursor, what: str, low: int = 0) -> int:
    pos = c.pos
    value = c.integer(what)
    if not low <= value <= MAX_INT31:
        raise SnmpDecodeError(f"{what} {value} is outside {low}..{MAX_INT31}", pos)
    return value


def decode(data: bytes) -> V3Message:
    """Bytes of one datagram -> V3Message (encryptedPDU left encrypted), or SnmpDecodeError."""
    outer = Cursor(data)
    _, s, e = outer.element(ber.SEQUENCE, "SNMPv3Message")
    if e != len(data):
        raise SnmpDecodeError("bytes after the message", e)
    c = Cursor(data, s, e)
    version = c.integer("msgVersion")
    if version != VERSION_3:
        raise SnmpDecodeError(f"msgVersion {version} is not 3", s)
    _, gs, ge = c.element(ber.SEQUENCE, "msgGlobalData")
    g = Cursor(data, gs, ge)
    msg_id = _int31(g, "msgGlobalData.msgID")
    max_size = _int31(g, "msgGlobalData.msgMaxSize", MIN_MAX_SIZE)
    _, fs, fe = g.element(ber.OCTET_STRING, "msgGlobalData.msgFlags")
    if fe - fs != 1:
        raise SnmpDecodeError(f"msgFlags has {fe - fs} octets, not 1", fs)
    flags = data[fs]
    if flags & FLAG_PRIV and not flags & FLAG_AUTH:
        raise SnmpDecodeError("msgFlags: privacy without authentication (RFC 3412 7.2 step 5)", fs)
    pos = g.pos
    model = _int31(g, "msgGlobalData.msgSecurityModel", 1)
    if model != SECURITY_MODEL_USM:
        raise SnmpDecodeError(f"msgSecurityModel {model} is not USM (3)", pos)
    if g.pos != ge:
        raise SnmpDecodeError("bytes after msgGlobalData's fields", g.pos)
    _, ss, se = c.element(ber.OCTET_STRING, "msgSecurityParameters")
    u_outer = Cursor(data, ss, se)
    _, us, ue = u_outer.element(ber.SEQUENCE, "UsmSecurityParameters")
    if ue != se:
        raise SnmpDecodeError("bytes after UsmSecurityParameters", ue)
    u = Cursor(data, us, ue)
    engine_id = _octets(u, "msgAuthoritativeEngineID", MAX_ENGINE_ID)
    boots = _int31(u, "msgAuthoritativeEngineBoots")
    time = _int31(u, "msgAuthoritativeEngineTime")
    user = _octets(u, "msgUserName", MAX_USER_NAME)
    _, as_, ae = u.element(ber.OCTET_STRING, "msgAuthenticationParameters")
    if ae - as_ not in ((AUTH_PARAMS_LENGTH,) if flags & FLAG_AUTH else (0, AUTH_PARAMS_LENGTH)):
        raise SnmpDecodeError(f"msgAuthenticationParameters has {ae - as_} octets", as_)
    _, ps, pe = u.element(ber.OCTET_STRING, "msgPrivacyParameters")
    if pe - ps not in ((PRIV_PARAMS_LENGTH,) if flags & FLAG_PRIV else (0, PRIV_PARAMS_LENGTH)):
        raise SnmpDecodeError(f"msgPrivacyParameters has {pe - ps} octets", ps)
    if u.pos != ue:
        raise SnmpDecodeError("bytes after UsmSecurityParameters' fields", u.pos)
    security = SecurityParameters(engine_id, boots, time, user, data[as_:ae], data[ps:pe])
    if flags & FLAG_PRIV:
        _, xs, xe = c.element(ber.OCTET_STRING, "encryptedPDU")
        scoped, encrypted = None, data[xs:xe]
    else:
        scoped, encrypted = _scoped(c), None
    if c.pos != e:
        raise SnmpDecodeError("bytes after msgData", c.pos)
    return V3Message(msg_id, max_size, flags, security, scoped, encrypted, as_)


def decode_scoped(plaintext: bytes, padding: int = 0) -> ScopedPdu:
    """A decrypted ScopedPDU; up to ``padding`` octets may follow it (DES pads to 8)."""
    c = Cursor(plaintext)
    scoped = _scoped(c)
    if len(plaintext) - c.pos > padding:
        raise SnmpDecodeError("bytes after the ScopedPDU", c.pos)
    return scoped


def _scoped(c: Cursor) -> ScopedPdu:
    _, s, e = c.element(ber.SEQUENCE, "ScopedPDU")
    x = Cursor(c.data, s, e)
    context_engine_id = _octets(x, "contextEngineID", MAX_ENGINE_ID)
    context_name = _octets(x, "contextName", MAX_CONTEXT_NAME)
    pdu = m.decode_pdu(x)
    if x.pos != e:
        raise SnmpDecodeError("bytes after the ScopedPDU's PDU", x.pos)
    return ScopedPdu(context_engine_id, context_name, pdu)
