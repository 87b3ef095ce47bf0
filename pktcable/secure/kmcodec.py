"""PacketCable Kerberized key management messages (UDP 1293, secure flow MTA-13/14).

The wire format as Wireshark's ``pktc`` dissector reads it (the PacketCable
security specification itself is not public): a 3-octet header (KMMID, DOI,
version) and a body that is a fixed sequence of fields per KMMID. Each message
is a dataclass whose body fields stand in wire order, each annotated with its
codec; :data:`LAYOUTS` is read from those annotations, and one encoder and one
decoder walk it. Multi-octet integers are big-endian.

Decoding is strict: a datagram is exactly one message, every length is checked
against what is left, flags are 0 or 1, strings are ASCII, and a failure is a
:class:`KmDecodeError` naming the byte offset, the field path and why. The
HMAC is always the last 20 octets of the messages that carry one, so the
octets it covers are the datagram without them (:func:`signed_part`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Annotated, Any, ClassVar, TypeAlias, get_type_hints

from . import krbmsg

#: Largest datagram either side accepts: an AP-REQ with a PKINIT-issued ticket
#: is well under 2 kB; 4 kB leaves room and bounds what a peer can make us parse.
MAX_MESSAGE = 4096
#: Protocol version 1.0 (high nibble major, low nibble minor). A peer with
#: another major version speaks a format we cannot check; other minors are read.
VERSION = 0x10
HMAC_SIZE = 20
PRINCIPAL_MAX = 255


class Kmmid(IntEnum):
    WAKE_UP = 0x01
    AP_REQUEST = 0x02
    AP_REPLY = 0x03
    SEC_PARAM_RECOVERED = 0x04
    REKEY = 0x05
    ERROR_REPLY = 0x06


class Doi(IntEnum):
    IPSEC = 0x01
    SNMPV3 = 0x02


#: SNMPv3 ciphersuite codes (authentication, privacy transform).
SNMP_AUTH_MD5, SNMP_AUTH_SHA1 = 0x21, 0x22
SNMP_PRIV_NULL, SNMP_PRIV_DES = 0x20, 0x21
#: IPsec ciphersuite codes (MTA to CMS; decoded, not negotiated by this project).
IPSEC_AUTH = {0x01: "HMAC-MD5-96", 0x02: "HMAC-SHA1-96"}
IPSEC_ENC = {0x03: "3DES", 0x04: "RC5", 0x05: "IDEA", 0x06: "CAST", 0x07: "Blowfish", 0x0B: "NULL", 0x0C: "AES-128"}


class KmDecodeError(ValueError):
    """A datagram that is not a well-formed key-management message."""

    def __init__(self, offset: int, field: str, why: str) -> None:
        super().__init__(f"offset {offset}, {field}: {why}")
        self.offset, self.field, self.why = offset, field, why


@dataclass(frozen=True, slots=True)
class SnmpAppData:
    """DOI 2 application data: the sender's SNMPv3 engine and the USM user."""

    engine_id: bytes
    engine_boots: int
    engine_time: int
    user_name: str


@dataclass(frozen=True, slots=True)
class IpsecAppData:
    """DOI 1 application data: the SPI of the sender's inbound security association."""

    spi: int


AppData: TypeAlias = SnmpAppData | IpsecAppData
Ciphersuite: TypeAlias = tuple[int, int]  # (authentication algorithm, encryption transform)


class _Reader:
    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.offset, self.path = data, 0, path

    def fail(self, field: str, why: str, offset: int | None = None) -> KmDecodeError:
        return KmDecodeError(self.offset if offset is None else offset, f"{self.path}.{field}", why)

    def take(self, field: str, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise self.fail(field, f"needs {size} octets, {len(self.data) - self.offset} left")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk


# -- field codecs: (encode(value, doi, kmmid) -> bytes, decode(reader, field, doi, kmmid) -> value) ------

def _u8_enc(value: int, doi: int, kmmid: int) -> bytes:
    return value.to_bytes(1, "big")


def _u8_dec(r: _Reader, f: str, doi: int, kmmid: int) -> int:
    return r.take(f, 1)[0]


def _u32_enc(value: int, doi: int, kmmid: int) -> bytes:
    return value.to_bytes(4, "big")


def _u32_dec(r: _Reader, f: str, doi: int, kmmid: int) -> int:
    return int.from_bytes(r.take(f, 4), "big")


def _flag_enc(value: bool, doi: int, kmmid: int) -> bytes:
    return b"\x01" if value else b"\x00"


def _flag_dec(r: _Reader, f: str, doi: int, kmmid: int) -> bool:
    start = r.offset
    octet = r.take(f, 1)[0]
    if octet > 1:
        raise r.fail(f, f"a flag is 0 or 1, not {octet}", start)
    return octet == 1


def _hmac_enc(value: bytes, doi: int, kmmid: int) -> bytes:
    if len(value) != HMAC_SIZE:
        raise ValueError(f"an HMAC is {HMAC_SIZE} octets, not {len(value)}")
    return value


def _hmac_dec(r: _Reader, f: str, doi: int, kmmid: int) -> bytes:
    return r.take(f, HMAC_SIZE)


def _ascii(value: str, field: str) -> bytes:
    raw = value.encode("ascii")
    if b"\0" in raw:
        raise ValueError(f"{field} may not contain NUL")
    return raw


def _cstring_enc(value: str, doi: int, kmmid: int) -> bytes:
    raw = _ascii(value, "a principal")
    if not raw or len(raw) > PRINCIPAL_MAX:
        raise ValueError(f"a principal is 1..{PRINCIPAL_MAX} characters, not {len(raw)}")
    return raw + b"\0"


def _cstring_dec(r: _Reader, f: str, doi: int, kmmid: int) -> str:
    start = r.offset
    end = r.data.find(b"\0", start, start + PRINCIPAL_MAX + 1)
    if end < 0:
        raise r.fail(f, f"no NUL within {PRINCIPAL_MAX + 1} octets", start)
    raw = r.take(f, end - start + 1)[:-1]
    if not raw:
        raise r.fail(f, "empty", start)
    if not raw.isascii() or not raw.decode().isprintable():
        raise r.fail(f, "not printable ASCII", start)
    return raw.decode()


_TIME_FORMAT = "%y%m%d%H%M%SZ"


def _timestamp_enc(value: dt.datetime, doi: int, kmmid: int) -> bytes:
    return value.astimezone(dt.UTC).strftime(_TIME_FORMAT).encode()


def _timestamp_dec(r: _Reader, f: str, doi: int, kmmid: int) -> dt.datetime:
    start = r.offset
    raw = r.take(f, 13)
    try:
        return dt.datetime.strptime(raw.decode("ascii"), _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except (UnicodeDecodeError, ValueError):
        raise r.fail(f, f"not a YYMMDDhhmmssZ time: {raw!r}", start) from None


def _der_length(r: _Reader, f: str) -> int:
    """The total size of the DER value at the reader's offset (definite lengths only, as DER requires)."""
    start = r.offset
    head = r.data[start:start + 2]
    if len(head) < 2:
        raise r.fail(f, "truncated Kerberos message header", start)
    first = head[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 3:
        raise r.fail(f, f"DER length of {count} octets (0 is indefinite, over 3 is oversized)", start + 1)
    raw = r.data[start + 2:start + 2 + count]
    if len(raw) < count:
        raise r.fail(f, "truncated DER length", start + 1)
    return 2 + count + int.from_bytes(raw, "big")


def _krb(expected: int, name: str) -> tuple[Callable[..., bytes], Callable[..., bytes]]:
    """The Kerberos message of a KM message, kept as its DER octets (the AP exchange
    verifies it); here only its tag and its length are checked."""
    def enc(value: bytes, doi: int, kmmid: int) -> bytes:
        return value

    def dec(r: _Reader, f: str, doi: int, kmmid: int) -> bytes:
        start = r.offset
        try:
            tag = krbmsg.message_type(r.data[start:])
        except krbmsg.KerberosDecodeError as exc:
            raise r.fail(f, str(exc).removeprefix("offset 0: "), start) from None
        if tag != expected:
            raise r.fail(f, f"Kerberos APPLICATION {tag}, expected {expected} ({name})", start)
        return r.take(f, _der_length(r, f))
    return enc, dec


#: Which (DOI, KMMID) pairs carry application data (Wireshark's table: SNMPv3 in AP
#: Request/Reply; IPsec in those and Rekey, the CMS's server-initiated rekeying).
_APP_DATA = {(Doi.SNMPV3, Kmmid.AP_REQUEST), (Doi.SNMPV3, Kmmid.AP_REPLY), (Doi.IPSEC, Kmmid.AP_REQUEST),
             (Doi.IPSEC, Kmmid.AP_REPLY), (Doi.IPSEC, Kmmid.REKEY)}


def _app_enc(value: AppData, doi: int, kmmid: int) -> bytes:
    if (doi, kmmid) not in _APP_DATA:
        raise ValueError(f"no application data is defined for DOI {doi} in KMMID {kmmid}")
    if doi == Doi.SNMPV3:
        if not isinstance(value, SnmpAppData):
            raise ValueError("DOI 2 (SNMPv3) takes SnmpAppData")
        user = _ascii(value.user_name, "usmUserName")
        if not 5 <= len(value.engine_id) <= 32 or not 1 <= len(user) <= 32:
            raise ValueError("snmpEngineID is 5..32 octets and usmUserName 1..32 (RFC 3411, RFC 3414)")
        return (bytes([len(value.engine_id)]) + value.engine_id + value.engine_boots.to_bytes(4, "big")
                + value.engine_time.to_bytes(4, "big") + bytes([len(user)]) + user)
    if not isinstance(value, IpsecAppData):
        raise ValueError("DOI 1 (IPsec) takes IpsecAppData")
    return value.spi.to_bytes(4, "big")


def _app_dec(r: _Reader, f: str, doi: int, kmmid: int) -> AppData:
    if (doi, kmmid) not in _APP_DATA:
        raise r.fail(f, f"no application data is defined for DOI {doi} in KMMID {kmmid}")
    if doi == Doi.IPSEC:
        return IpsecAppData(_u32_dec(r, f + ".spi", doi, kmmid))
    start = r.offset
    size = r.take(f + ".engine_id_length", 1)[0]
    if not 5 <= size <= 32:
        raise r.fail(f + ".engine_id_length", f"snmpEngineID is 5..32 octets (RFC 3411), not {size}", start)
    engine = r.take(f + ".engine_id", size)
    boots = _u32_dec(r, f + ".engine_boots", doi, kmmid)
    time = _u32_dec(r, f + ".engine_time", doi, kmmid)
    start = r.offset
    size = r.take(f + ".user_name_length", 1)[0]
    if not 1 <= size <= 32:
        raise r.fail(f + ".user_name_length", f"usmUserName is 1..32 octets (RFC 3414), not {size}", start)
    start = r.offset
    user = r.take(f + ".user_name", size)
    if not user.isascii() or not user.decode().isprintable():
        raise r.fail(f + ".user_name", "not printable ASCII", start)
    return SnmpAppData(engine, boots, time, user.decode())


def _suites_enc(value: tuple[Ciphersuite, ...], doi: int, kmmid: int) -> bytes:
    if len(value) > 255:
        raise ValueError("at most 255 ciphersuites")
    return bytes([len(value)]) + b"".join(bytes([auth, enc]) for auth, enc in value)


def _suites_dec(r: _Reader, f: str, doi: int, kmmid: int) -> tuple[Ciphersuite, ...]:
    count = r.take(f + ".count", 1)[0]
    raw = r.take(f, 2 * count)
    return tuple((raw[i], raw[i + 1]) for i in range(0, len(raw), 2))


_Codec: TypeAlias = tuple[Callable[..., bytes], Callable[..., Any]]
U32: _Codec = (_u32_enc, _u32_dec)
FLAG: _Codec = (_flag_enc, _flag_dec)
HMAC: _Codec = (_hmac_enc, _hmac_dec)
PRINCIPAL: _Codec = (_cstring_enc, _cstring_dec)
TIMESTAMP: _Codec = (_timestamp_enc, _timestamp_dec)
APP_DATA: _Codec = (_app_enc, _app_dec)
SUITES: _Codec = (_suites_enc, _suites_dec)
AP_REQ: _Codec = _krb(krbmsg.AP_REQ_TYPE, "KRB_AP_REQ")
AP_REP: _Codec = _krb(krbmsg.AP_REP_TYPE, "KRB_AP_REP")
KRB_ERROR: _Codec = _krb(krbmsg.KRB_ERROR_TYPE, "KRB_ERROR")

# A body field's annotation names its codec, so each field is written once: the
# dataclass field (its type, its default) and its place in the wire layout.
_U32: TypeAlias = Annotated[int, U32]
_Flag: TypeAlias = Annotated[bool, FLAG]
_Hmac: TypeAlias = Annotated[bytes, HMAC]
_Principal: TypeAlias = Annotated[str, PRINCIPAL]
_Timestamp: TypeAlias = Annotated[dt.datetime, TIMESTAMP]
_AppData: TypeAlias = Annotated[AppData, APP_DATA]
_Suites: TypeAlias = Annotated[tuple[Ciphersuite, ...], SUITES]
_NO_HMAC = bytes(HMAC_SIZE)


@dataclass(frozen=True, slots=True)
class WakeUp:
    KMMID: ClassVar[Kmmid] = Kmmid.WAKE_UP
    server_nonce: _U32
    server_principal: _Principal
    doi: int = Doi.SNMPV3
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class ApRequest:
    KMMID: ClassVar[Kmmid] = Kmmid.AP_REQUEST
    ap_req: Annotated[bytes, AP_REQ]
    server_nonce: _U32
    app_data: _AppData
    ciphersuites: _Suites
    reestablish: _Flag = False
    hmac: _Hmac = _NO_HMAC
    doi: int = Doi.SNMPV3
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class ApReply:
    KMMID: ClassVar[Kmmid] = Kmmid.AP_REPLY
    ap_rep: Annotated[bytes, AP_REP]
    app_data: _AppData
    ciphersuites: _Suites  # the selected one: a list of one
    sa_lifetime: _U32
    grace_period: _U32
    reestablish: _Flag = False
    ack_required: _Flag = False
    hmac: _Hmac = _NO_HMAC
    doi: int = Doi.SNMPV3
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class SecParamRecovered:
    KMMID: ClassVar[Kmmid] = Kmmid.SEC_PARAM_RECOVERED
    hmac: _Hmac = _NO_HMAC
    doi: int = Doi.SNMPV3
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Rekey:
    KMMID: ClassVar[Kmmid] = Kmmid.REKEY
    server_nonce: _U32
    server_principal: _Principal
    timestamp: _Timestamp
    app_data: _AppData
    ciphersuites: _Suites
    sa_lifetime: _U32
    grace_period: _U32
    reestablish: _Flag = False
    hmac: _Hmac = _NO_HMAC
    doi: int = Doi.IPSEC  # the CMS rekeys IPsec associations
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class ErrorReply:
    KMMID: ClassVar[Kmmid] = Kmmid.ERROR_REPLY
    krb_error: Annotated[bytes, KRB_ERROR]
    doi: int = Doi.SNMPV3
    version: int = VERSION


KmMessage: TypeAlias = WakeUp | ApRequest | ApReply | SecParamRecovered | Rekey | ErrorReply
MESSAGES: dict[int, type[Any]] = {cls.KMMID: cls for cls in (WakeUp, ApRequest, ApReply, SecParamRecovered,
                                                              Rekey, ErrorReply)}
_Layout: TypeAlias = tuple[tuple[str, _Codec], ...]


def _layout(cls: type[Any]) -> _Layout:
    """``cls``'s body in wire order: each field whose annotation carries a codec."""
    hints = get_type_hints(cls, include_extras=True)
    return tuple((f.name, hints[f.name].__metadata__[0]) for f in fields(cls)
                 if hasattr(hints[f.name], "__metadata__"))


#: The table the one encoder and the one decoder walk.
LAYOUTS: dict[type[Any], _Layout] = {cls: _layout(cls) for cls in MESSAGES.values()}
_NAMES = {Kmmid.WAKE_UP: "wake_up", Kmmid.AP_REQUEST: "ap_request", Kmmid.AP_REPLY: "ap_reply",
          Kmmid.SEC_PARAM_RECOVERED: "sec_param_recovered", Kmmid.REKEY: "rekey", Kmmid.ERROR_REPLY: "error_reply"}


def encode(message: KmMessage) -> bytes:
    """The datagram of ``message``; ValueError for a value the format cannot carry."""
    if message.doi not in (Doi.IPSEC, Doi.SNMPV3) or not 0 <= message.version <= 0xFF:
        raise ValueError(f"DOI {message.doi} / version {message.version} cannot be sent")
    out = [bytes([message.KMMID, message.doi, message.version])]
    for name, (enc, _) in LAYOUTS[type(message)]:
        out.append(enc(getattr(message, name), message.doi, message.KMMID))
    data = b"".join(out)
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"{len(data)} octets: over the {MAX_MESSAGE}-octet limit")
    return data


def decode(data: bytes) -> KmMessage:
    """One whole datagram as a message, or KmDecodeError (offset, field path, why)."""
    if len(data) > MAX_MESSAGE:
        raise KmDecodeError(0, "datagram", f"{len(data)} octets: over the {MAX_MESSAGE}-octet limit")
    if len(data) < 3:
        raise KmDecodeError(0, "header", f"needs 3 octets, got {len(data)}")
    kmmid, doi, version = data[0], data[1], data[2]
    cls = MESSAGES.get(kmmid)
    if cls is None:
        raise KmDecodeError(0, "header.kmmid", f"unknown KMMID {kmmid:#04x}")
    if doi not in (Doi.IPSEC, Doi.SNMPV3):
        raise KmDecodeError(1, "header.doi", f"unknown DOI {doi}")
    if version >> 4 != VERSION >> 4:
        raise KmDecodeError(2, "header.version", f"major version {version >> 4}, this peer speaks {VERSION >> 4}")
    reader = _Reader(data, _NAMES[Kmmid(kmmid)])
    reader.offset = 3
    values: dict[str, Any] = {"doi": doi, "version": version}
    for name, (_, dec) in LAYOUTS[cls]:
        values[name] = dec(reader, name, doi, kmmid)
    if reader.offset != len(data):
        raise KmDecodeError(reader.offset, f"{reader.path}", f"{len(data) - reader.offset} octets after the message")
    return cls(**values)  # type: ignore[no-any-return]


def signed_part(data: bytes) -> bytes:
    """The octets a KM HMAC covers: the whole message before the HMAC (its last field)."""
    return data[:-HMAC_SIZE]


def with_hmac(message: Any, sign: Callable[[bytes], bytes]) -> Any:
    """``message`` with its HMAC set to ``sign`` of the octets the HMAC covers."""
    return replace(message, hmac=sign(signed_part(encode(message))))

