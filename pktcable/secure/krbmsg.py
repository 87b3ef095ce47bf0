"""Kerberos V5 messages (RFC 4120 section 5) as asn1crypto classes.

Each class is the RFC's ASN.1 written as a field table: name, type, and the
context tag ("explicit": n, the module's default EXPLICIT TAGS). Field names are
the RFC's, so a reader can hold this file next to RFC 4120 section 5 and
appendix A. The Secure flow uses: AS-REQ/AS-REP (PKINIT, MTA-9/10), TGS-REQ/
TGS-REP (MTA-11/12), AP-REQ/AP-REP (key management, MTA-13/14), KRB-SAFE (the
KDC's MTA-FQDN query) and KRB-ERROR.

Decoding is strict (:func:`load`): a message must be exactly one DER value of
the expected application tag, or :class:`KerberosDecodeError` says which
message and why.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from asn1crypto import core

from .krbnames import KerberosString, PrincipalName

#: RFC 4120 section 7.5.7: message types (also the APPLICATION tag of each message).
AS_REQ, AS_REP, TGS_REQ, TGS_REP, AP_REQ_TYPE, AP_REP_TYPE = 10, 11, 12, 13, 14, 15
KRB_SAFE_TYPE, KRB_ERROR_TYPE = 20, 30
#: RFC 4120 section 7.5.2: pre-authentication data types; RFC 4556: PKINIT's.
PA_TGS_REQ, PA_ENC_TIMESTAMP, PA_PK_AS_REQ, PA_PK_AS_REP = 1, 2, 16, 17
#: The pre-RFC PKINIT draft's padata types (draft-ietf-cat-kerberos-pk-init-09), which
#: some PacketCable 1.x devices send; a setting selects them (docs/secure.md).
PA_PK_AS_REQ_OLD, PA_PK_AS_REP_OLD = 14, 15
#: RFC 6806 section 11: the client asks for (and the KDC answers with) a checksum of the
#: AS-REQ inside the encrypted part; MIT kinit 1.20 sends it.
PA_REQ_ENC_PA_REP = 149


class KerberosTime(core.GeneralizedTime):
    """GeneralizedTime without fractions, always UTC ("YYYYMMDDHHMMSSZ", RFC 4120 5.2.3)."""

    def set(self, value: Any) -> None:
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).replace(microsecond=0)
        super().set(value)


class Realm(KerberosString):
    pass


class Int32List(core.SequenceOf):
    _child_spec = core.Integer


class HostAddress(core.Sequence):
    _fields = [
        ("addr-type", core.Integer, {"explicit": 0}),
        ("address", core.OctetString, {"explicit": 1}),
    ]


class HostAddresses(core.SequenceOf):
    _child_spec = HostAddress


class AuthorizationDataEntry(core.Sequence):
    _fields = [
        ("ad-type", core.Integer, {"explicit": 0}),
        ("ad-data", core.OctetString, {"explicit": 1}),
    ]


class AuthorizationData(core.SequenceOf):
    _child_spec = AuthorizationDataEntry


class PAData(core.Sequence):
    # RFC 4120: padata-type is [1] and padata-value [2] (tag 0 is unused, for history).
    _fields = [
        ("padata-type", core.Integer, {"explicit": 1}),
        ("padata-value", core.OctetString, {"explicit": 2}),
    ]


class MethodData(core.SequenceOf):
    _child_spec = PAData


class KerberosFlags(core.BitString):
    pass


class EncryptedData(core.Sequence):
    _fields = [
        ("etype", core.Integer, {"explicit": 0}),
        ("kvno", core.Integer, {"explicit": 1, "optional": True}),
        ("cipher", core.OctetString, {"explicit": 2}),
    ]


class EncryptionKey(core.Sequence):
    _fields = [
        ("keytype", core.Integer, {"explicit": 0}),
        ("keyvalue", core.OctetString, {"explicit": 1}),
    ]


class Checksum(core.Sequence):
    _fields = [
        ("cksumtype", core.Integer, {"explicit": 0}),
        ("checksum", core.OctetString, {"explicit": 1}),
    ]


class Ticket(core.Sequence):
    explicit = (1, 1)  # [APPLICATION 1]
    _fields = [
        ("tkt-vno", core.Integer, {"explicit": 0}),
        ("realm", Realm, {"explicit": 1}),
        ("sname", PrincipalName, {"explicit": 2}),
        ("enc-part", EncryptedData, {"explicit": 3}),
    ]


class Tickets(core.SequenceOf):
    _child_spec = Ticket


class TransitedEncoding(core.Sequence):
    _fields = [
        ("tr-type", core.Integer, {"explicit": 0}),
        ("contents", core.OctetString, {"explicit": 1}),
    ]


class EncTicketPart(core.Sequence):
    explicit = (1, 3)
    _fields = [
        ("flags", KerberosFlags, {"explicit": 0}),
        ("key", EncryptionKey, {"explicit": 1}),
        ("crealm", Realm, {"explicit": 2}),
        ("cname", PrincipalName, {"explicit": 3}),
        ("transited", TransitedEncoding, {"explicit": 4}),
        ("authtime", KerberosTime, {"explicit": 5}),
        ("starttime", KerberosTime, {"explicit": 6, "optional": True}),
        ("endtime", KerberosTime, {"explicit": 7}),
        ("renew-till", KerberosTime, {"explicit": 8, "optional": True}),
        ("caddr", HostAddresses, {"explicit": 9, "optional": True}),
        ("authorization-data", AuthorizationData, {"explicit": 10, "optional": True}),
    ]


class KDCReqBody(core.Sequence):
    _fields = [
        ("kdc-options", KerberosFlags, {"explicit": 0}),
        ("cname", PrincipalName, {"explicit": 1, "optional": True}),
        ("realm", Realm, {"explicit": 2}),
        ("sname", PrincipalName, {"explicit": 3, "optional": True}),
        ("from", KerberosTime, {"explicit": 4, "optional": True}),
        ("till", KerberosTime, {"explicit": 5}),
        ("rtime", KerberosTime, {"explicit": 6, "optional": True}),
        ("nonce", core.Integer, {"explicit": 7}),
        ("etype", Int32List, {"explicit": 8}),
        ("addresses", HostAddresses, {"explicit": 9, "optional": True}),
        ("enc-authorization-data", EncryptedData, {"explicit": 10, "optional": True}),
        ("additional-tickets", Tickets, {"explicit": 11, "optional": True}),
    ]


_KDC_REQ_FIELDS = [
    ("pvno", core.Integer, {"explicit": 1}),
    ("msg-type", core.Integer, {"explicit": 2}),
    ("padata", MethodData, {"explicit": 3, "optional": True}),
    ("req-body", KDCReqBody, {"explicit": 4}),
]


class ASReq(core.Sequence):
    explicit = (1, AS_REQ)
    _fields = _KDC_REQ_FIELDS


class TGSReq(core.Sequence):
    explicit = (1, TGS_REQ)
    _fields = _KDC_REQ_FIELDS


_KDC_REP_FIELDS = [
    ("pvno", core.Integer, {"explicit": 0}),
    ("msg-type", core.Integer, {"explicit": 1}),
    ("padata", MethodData, {"explicit": 2, "optional": True}),
    ("crealm", Realm, {"explicit": 3}),
    ("cname", PrincipalName, {"explicit": 4}),
    ("ticket", Ticket, {"explicit": 5}),
    ("enc-part", EncryptedData, {"explicit": 6}),
]


class ASRep(core.Sequence):
    explicit = (1, AS_REP)
    _fields = _KDC_REP_FIELDS


class TGSRep(core.Sequence):
    explicit = (1, TGS_REP)
    _fields = _KDC_REP_FIELDS


class LastReqEntry(core.Sequence):
    _fields = [
        ("lr-type", core.Integer, {"explicit": 0}),
        ("lr-value", KerberosTime, {"explicit": 1}),
    ]


class LastReq(core.SequenceOf):
    _child_spec = LastReqEntry


_ENC_KDC_REP_FIELDS = [
    ("key", EncryptionKey, {"explicit": 0}),
    ("last-req", LastReq, {"explicit": 1}),
    ("nonce", core.Integer, {"explicit": 2}),
    ("key-expiration", KerberosTime, {"explicit": 3, "optional": True}),
    ("flags", KerberosFlags, {"explicit": 4}),
    ("authtime", KerberosTime, {"explicit": 5}),
    ("starttime", KerberosTime, {"explicit": 6, "optional": True}),
    ("endtime", KerberosTime, {"explicit": 7}),
    ("renew-till", KerberosTime, {"explicit": 8, "optional": True}),
    ("srealm", Realm, {"explicit": 9}),
    ("sname", PrincipalName, {"explicit": 10}),
    ("caddr", HostAddresses, {"explicit": 11, "optional": True}),
    # RFC 6806 section 11: PA-REQ-ENC-PA-REP and friends; MIT krb5kdc 1.20 always sends it.
    ("encrypted-pa-data", MethodData, {"explicit": 12, "optional": True}),
]


class EncASRepPart(core.Sequence):
    explicit = (1, 25)
    _fields = _ENC_KDC_REP_FIELDS


class EncTGSRepPart(core.Sequence):
    explicit = (1, 26)
    _fields = _ENC_KDC_REP_FIELDS


class APReq(core.Sequence):
    explicit = (1, AP_REQ_TYPE)
    _fields = [
        ("pvno", core.Integer, {"explicit": 0}),
        ("msg-type", core.Integer, {"explicit": 1}),
        ("ap-options", KerberosFlags, {"explicit": 2}),
        ("ticket", Ticket, {"explicit": 3}),
        ("authenticator", EncryptedData, {"explicit": 4}),
    ]


class Authenticator(core.Sequence):
    explicit = (1, 2)
    _fields = [
        ("authenticator-vno", core.Integer, {"explicit": 0}),
        ("crealm", Realm, {"explicit": 1}),
        ("cname", PrincipalName, {"explicit": 2}),
        ("cksum", Checksum, {"explicit": 3, "optional": True}),
        ("cusec", core.Integer, {"explicit": 4}),
        ("ctime", KerberosTime, {"explicit": 5}),
        ("subkey", EncryptionKey, {"explicit": 6, "optional": True}),
        ("seq-number", core.Integer, {"explicit": 7, "optional": True}),
        ("authorization-data", AuthorizationData, {"explicit": 8, "optional": True}),
    ]


class APRep(core.Sequence):
    explicit = (1, AP_REP_TYPE)
    _fields = [
        ("pvno", core.Integer, {"explicit": 0}),
        ("msg-type", core.Integer, {"explicit": 1}),
        ("enc-part", EncryptedData, {"explicit": 2}),
    ]


class EncAPRepPart(core.Sequence):
    explicit = (1, 27)
    _fields = [
        ("ctime", KerberosTime, {"explicit": 0}),
        ("cusec", core.Integer, {"explicit": 1}),
        ("subkey", EncryptionKey, {"explicit": 2, "optional": True}),
        ("seq-number", core.Integer, {"explicit": 3, "optional": True}),
    ]


class KrbSafeBody(core.Sequence):
    _fields = [
        ("user-data", core.OctetString, {"explicit": 0}),
        ("timestamp", KerberosTime, {"explicit": 1, "optional": True}),
        ("usec", core.Integer, {"explicit": 2, "optional": True}),
        ("seq-number", core.Integer, {"explicit": 3, "optional": True}),
        ("s-address", HostAddress, {"explicit": 4}),
        ("r-address", HostAddress, {"explicit": 5, "optional": True}),
    ]


class KrbSafe(core.Sequence):
    explicit = (1, KRB_SAFE_TYPE)
    _fields = [
        ("pvno", core.Integer, {"explicit": 0}),
        ("msg-type", core.Integer, {"explicit": 1}),
        ("safe-body", KrbSafeBody, {"explicit": 2}),
        ("cksum", Checksum, {"explicit": 3}),
    ]


class KrbError(core.Sequence):
    explicit = (1, KRB_ERROR_TYPE)
    _fields = [
        ("pvno", core.Integer, {"explicit": 0}),
        ("msg-type", core.Integer, {"explicit": 1}),
        ("ctime", KerberosTime, {"explicit": 2, "optional": True}),
        ("cusec", core.Integer, {"explicit": 3, "optional": True}),
        ("stime", KerberosTime, {"explicit": 4}),
        ("susec", core.Integer, {"explicit": 5}),
        ("error-code", core.Integer, {"explicit": 6}),
        ("crealm", Realm, {"explicit": 7, "optional": True}),
        ("cname", PrincipalName, {"explicit": 8, "optional": True}),
        ("realm", Realm, {"explicit": 9}),
        ("sname", PrincipalName, {"explicit": 10}),
        ("e-text", KerberosString, {"explicit": 11, "optional": True}),
        ("e-data", core.OctetString, {"explicit": 12, "optional": True}),
    ]


class PAEncTsEnc(core.Sequence):
    _fields = [
        ("patimestamp", KerberosTime, {"explicit": 0}),
        ("pausec", core.Integer, {"explicit": 1, "optional": True}),
    ]


class TypedDataEntry(core.Sequence):
    _fields = [
        ("data-type", core.Integer, {"explicit": 0}),
        ("data-value", core.OctetString, {"explicit": 1, "optional": True}),
    ]


class TypedData(core.SequenceOf):
    """RFC 4120 5.9.1 TYPED-DATA: a KRB-ERROR's e-data for errors that are not about
    pre-authentication methods (those carry METHOD-DATA), e.g. RFC 4556's certificate
    errors with TD-INVALID-CERTIFICATES."""

    _child_spec = TypedDataEntry


#: The messages a KDC or key-management peer receives, by APPLICATION tag.
MESSAGES: dict[int, type[core.Sequence]] = {
    AS_REQ: ASReq, AS_REP: ASRep, TGS_REQ: TGSReq, TGS_REP: TGSRep, AP_REQ_TYPE: APReq,
    AP_REP_TYPE: APRep, KRB_SAFE_TYPE: KrbSafe, KRB_ERROR_TYPE: KrbError,
}


class KerberosDecodeError(ValueError):
    """Bytes that are not the Kerberos message they were taken for."""


def message_type(data: bytes) -> int:
    """The APPLICATION tag of a DER Kerberos message (its msg-type), without decoding it."""
    if len(data) < 2 or data[0] & 0xE0 != 0x60 or data[0] & 0x1F == 0x1F:
        raise KerberosDecodeError(f"offset 0: not a Kerberos message (first octet {data[:1].hex() or 'none'})")
    return data[0] & 0x1F


def load(data: bytes, expected: type[core.Sequence] | None = None) -> Any:
    """Decode one whole message strictly: the tag must be the expected message's (or any
    of :data:`MESSAGES`), nothing may follow it, and every field must parse (asn1crypto
    parses lazily: ``.native`` forces it here, so errors surface now, not later)."""
    tag = message_type(data)
    spec = expected or MESSAGES.get(tag)
    if spec is None:
        raise KerberosDecodeError(f"offset 0: APPLICATION {tag} is not a message this peer takes")
    name = spec.__name__
    try:
        value = spec.load(data, strict=True)
        value.native  # noqa: B018 - forces the lazy parse of every field
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise KerberosDecodeError(f"{name}: {exc}") from None
    if value["msg-type"].native != tag:
        raise KerberosDecodeError(f"{name}: msg-type {value['msg-type'].native} under APPLICATION {tag}")
    return value


#: Universal tags that DER encodes constructed: SEQUENCE and SET (strings are primitive).
_DER_CONSTRUCTED = {16, 17}
#: Nesting deeper than this is no Kerberos message (and would cost recursion).
_DER_MAX_DEPTH = 64


def check_der(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> None:
    """KerberosDecodeError unless ``data[start:end]`` is DER at every level (RFC 4120
    section 5.1: messages are DER): definite lengths in their shortest form, tag numbers
    in theirs, strings primitive. asn1crypto's parser also takes BER, so the KDC asks
    this first. The error gives the byte offset of the first offending octet."""
    end = len(data) if end is None else end
    if depth > _DER_MAX_DEPTH:
        raise KerberosDecodeError(f"offset {start}: nested more than {_DER_MAX_DEPTH} deep")
    at = start
    while at < end:
        first = data[at]
        tag_at, at = at, at + 1
        number = first & 0x1F
        if number == 0x1F:  # high tag number form: base-128, no leading 0x80, at least 31
            number = 0
            if at < end and data[at] == 0x80:
                raise KerberosDecodeError(f"offset {at}: tag number with a leading zero octet")
            while True:
                if at >= end:
                    raise KerberosDecodeError(f"offset {at}: tag number runs past the end")
                number = number << 7 | data[at] & 0x7F
                at += 1
                if not data[at - 1] & 0x80:
                    break
            if number < 0x1F:
                raise KerberosDecodeError(f"offset {tag_at}: tag {number} in the long form")
        if at >= end:
            raise KerberosDecodeError(f"offset {at}: length missing")
        size, at = data[at], at + 1
        if size == 0x80:
            raise KerberosDecodeError(f"offset {at - 1}: indefinite length (BER, not DER)")
        if size & 0x80:
            count = size & 0x7F
            if count > 4 or at + count > end:
                raise KerberosDecodeError(f"offset {at - 1}: length of {count} octets")
            size = int.from_bytes(data[at:at + count], "big")
            if data[at] == 0 or size < 0x80:
                raise KerberosDecodeError(f"offset {at - 1}: length {size} not in its shortest form")
            at += count
        if at + size > end:
            raise KerberosDecodeError(f"offset {tag_at}: {size} octets announced, {end - at} left")
        constructed = bool(first & 0x20)
        if first & 0xC0 == 0 and constructed != (number in _DER_CONSTRUCTED):
            raise KerberosDecodeError(f"offset {tag_at}: universal tag {number} "
                                      f"{'constructed' if constructed else 'primitive'} (DER has it the other way)")
        if constructed:
            check_der(data, at, at + size, depth + 1)
        at += size


def req_body_der(req: Any) -> bytes:
    """The KDC-REQ-BODY of a decoded AS-REQ or TGS-REQ, as the bytes it arrived in: the
    PKINIT paChecksum (RFC 4556 3.2.1) and the TGS authenticator's checksum are over
    them. (asn1crypto's ``req["req-body"].dump()`` keeps the field's [4] tag; hashing
    that never matches the sender's checksum.)"""
    return bytes(req["req-body"].untag().dump())


#: The APPLICATION tags of the encrypted parts of AS-REP and TGS-REP (RFC 4120 section 5.4.2).
ENC_AS_REP_PART, ENC_TGS_REP_PART = 25, 26


def load_enc_kdc_rep_part(data: bytes) -> Any:
    """Decode the decrypted enc-part of an AS-REP or TGS-REP, whichever of the two tags
    it carries. RFC 4120 5.4.2's compatibility note allows a KDC to send EncTGSRepPart
    (APPLICATION 26) in an AS-REP, and MIT krb5kdc 1.20 does (tests/data/kerberos):
    a client that insists on APPLICATION 25 cannot read MIT's replies."""
    tag = message_type(data)
    parts: dict[int, type[core.Sequence]] = {ENC_AS_REP_PART: EncASRepPart, ENC_TGS_REP_PART: EncTGSRepPart}
    spec = parts.get(tag)
    if spec is None:
        raise KerberosDecodeError(f"offset 0: APPLICATION {tag} is not an EncKDCRepPart (25 or 26)")
    try:
        value = spec.load(data, strict=True)
        value.native  # noqa: B018 - forces the lazy parse of every field
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise KerberosDecodeError(f"{spec.__name__}: {exc}") from None
    return value
