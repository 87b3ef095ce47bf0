"""The Kerberos AP exchange (RFC 4120 sections 3.2 and 5.5): AP-REQ and AP-REP.

The MTA builds an AP-REQ from the ticket it got from the KDC and the ticket's
session key; the provisioning server verifies it with its service key (the
ticket decrypts, the authenticator decrypts with the session key inside, the
names match, the clock is close, the authenticator is new) and answers with
an AP-REP whose EncAPRepPart carries the subkey the SNMPv3 keys come from.

Sans-IO: time (POSIX seconds), keys and randomness come in as arguments; the
only state is :class:`ReplayCache`, bounded in entries and in time. Every
refusal is an :class:`ApError` with the RFC 4120 error code (section 7.5.9), so
a server can answer it as a KRB-ERROR and a test can name it.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import krbcrypto, krbmsg
from .krbcrypto import Key

#: RFC 4120 section 7.5.9: the error codes the AP exchange ends in.
KRB_AP_ERR_BAD_INTEGRITY = 31
KRB_AP_ERR_TKT_EXPIRED = 32
KRB_AP_ERR_TKT_NYV = 33
KRB_AP_ERR_REPEAT = 34
KRB_AP_ERR_NOT_US = 35
KRB_AP_ERR_BADMATCH = 36
KRB_AP_ERR_SKEW = 37
KRB_AP_ERR_BADVERSION = 39
KRB_AP_ERR_MSG_TYPE = 40
KRB_AP_ERR_MODIFIED = 41
KRB_AP_ERR_BADKEYVER = 44
KRB_AP_ERR_NOKEY = 45
KRB_AP_ERR_MUT_FAIL = 46
KRB_ERR_GENERIC = 60
ERROR_NAMES = {
    KRB_AP_ERR_BAD_INTEGRITY: "KRB_AP_ERR_BAD_INTEGRITY", KRB_AP_ERR_TKT_EXPIRED: "KRB_AP_ERR_TKT_EXPIRED",
    KRB_AP_ERR_TKT_NYV: "KRB_AP_ERR_TKT_NYV", KRB_AP_ERR_REPEAT: "KRB_AP_ERR_REPEAT",
    KRB_AP_ERR_NOT_US: "KRB_AP_ERR_NOT_US", KRB_AP_ERR_BADMATCH: "KRB_AP_ERR_BADMATCH",
    KRB_AP_ERR_SKEW: "KRB_AP_ERR_SKEW", KRB_AP_ERR_BADVERSION: "KRB_AP_ERR_BADVERSION",
    KRB_AP_ERR_MSG_TYPE: "KRB_AP_ERR_MSG_TYPE", KRB_AP_ERR_MODIFIED: "KRB_AP_ERR_MODIFIED",
    KRB_AP_ERR_BADKEYVER: "KRB_AP_ERR_BADKEYVER", KRB_AP_ERR_NOKEY: "KRB_AP_ERR_NOKEY",
    KRB_AP_ERR_MUT_FAIL: "KRB_AP_ERR_MUT_FAIL", KRB_ERR_GENERIC: "KRB_ERR_GENERIC",
}
#: RFC 4120 section 5.5.1: APOptions bits (bit 0 is reserved).
AP_OPT_USE_SESSION_KEY, AP_OPT_MUTUAL_REQUIRED = 1, 2
#: RFC 4120 section 1.6 suggests 5 minutes as the acceptable clock skew.
DEFAULT_SKEW = 300.0
DEFAULT_REPLAY_ENTRIES = 100_000


class ApError(Exception):
    """An AP-REQ or AP-REP refused, with its RFC 4120 error code."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(f"{ERROR_NAMES.get(code, code)}: {why}")
        self.code, self.why = code, why

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, str(self.code))


def _time(now: float) -> tuple[dt.datetime, int]:
    """(KerberosTime, microseconds) of a POSIX time."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    return moment.replace(microsecond=0), moment.microsecond


def _posix(value: dt.datetime, usec: int = 0) -> float:
    return value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp() + usec / 1e6


@dataclass(frozen=True, slots=True)
class Principal:
    realm: str
    components: tuple[str, ...]
    name_type: int = 1

    def __str__(self) -> str:
        return "/".join(self.components) + "@" + self.realm

    def asn1(self) -> dict[str, Any]:
        return {"name-type": self.name_type, "name-string": list(self.components)}


@dataclass(frozen=True, slots=True)
class SentApReq:
    """What the client keeps of an AP-REQ to check the AP-REP against (RFC 4120 3.2.5)."""

    der: bytes
    ctime: dt.datetime
    cusec: int
    session_key: Key


def build_ap_req(ticket: bytes, session_key: Key, client: Principal, *, now: float, subkey: Key | None = None,
                 seq: int | None = None, mutual: bool = True) -> SentApReq:
    """An AP-REQ presenting ``ticket`` (the DER Ticket as the KDC issued it) with a new
    authenticator encrypted in the ticket's session key (key usage 11)."""
    ctime, cusec = _time(now)
    auth: dict[str, Any] = {"authenticator-vno": 5, "crealm": client.realm, "cname": client.asn1(),
                            "cusec": cusec, "ctime": ctime}
    if subkey is not None:
        auth["subkey"] = {"keytype": subkey.enctype, "keyvalue": subkey.value}
    if seq is not None:
        auth["seq-number"] = seq
    plain = krbmsg.Authenticator(auth).dump()
    options: set[int] = {AP_OPT_MUTUAL_REQUIRED} if mutual else set()
    req = krbmsg.APReq({
        "pvno": 5, "msg-type": krbmsg.AP_REQ_TYPE,
        "ap-options": _flags(options),
        "ticket": krbmsg.Ticket.load(ticket),
        "authenticator": {"etype": session_key.enctype,
                          "cipher": krbcrypto.encrypt(session_key, krbcrypto.USAGE_AP_REQ_AUTHENTICATOR, plain)},
    })
    return SentApReq(bytes(req.dump()), ctime, cusec, session_key)


def _flags(bits: set[int]) -> krbmsg.KerberosFlags:
    """A 32-bit KerberosFlags (RFC 4120 5.2.8: at least 32 bits are sent)."""
    return krbmsg.KerberosFlags(tuple(1 if i in bits else 0 for i in range(32)))


@dataclass(frozen=True, slots=True)
class VerifiedApReq:
    client: Principal
    session_key: Key
    ctime: dt.datetime
    cusec: int
    subkey: Key | None
    seq: int | None
    ticket_end: float
    mutual: bool


class ReplayCache:
    """Authenticators seen, keyed by (client, ctime, cusec) (RFC 4120 3.2.3), each kept
    for ``window`` seconds: long enough that one replayed within the skew is still
    found, and forgotten after, when the skew check refuses it anyway. At most
    ``max_entries``: when full the cache refuses new authenticators (KRB_ERR_GENERIC)
    rather than forget one still inside the window, which would let it be replayed."""

    def __init__(self, window: float = 2 * DEFAULT_SKEW, max_entries: int = DEFAULT_REPLAY_ENTRIES) -> None:
        self.window, self.max_entries = window, max_entries
        self._seen: OrderedDict[tuple[str, float, int], float] = OrderedDict()  # key -> expiry

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, expiry = next(iter(self._seen.items()))
            if expiry > now:
                break
            del self._seen[key]

    def check_and_add(self, client: str, ctime: dt.datetime, cusec: int, now: float) -> None:
        self._expire(now)
        key = (client, _posix(ctime), cusec)
        if key in self._seen:
            raise ApError(KRB_AP_ERR_REPEAT, f"authenticator of {client} at {ctime:%Y-%m-%dT%H:%M:%S}.{cusec:06d}Z "
                                             "was already used")
        if len(self._seen) >= self.max_entries:
            raise ApError(KRB_ERR_GENERIC, f"replay cache full ({self.max_entries} authenticators in "
                                           f"{self.window:g} s)")
        self._seen[key] = now + self.window


KeyLookup = Callable[[int, int | None], Key | None]


def verify_ap_req(der: bytes, service: Principal, keys: KeyLookup, *, now: float, replay: ReplayCache,
                  skew: float = DEFAULT_SKEW) -> VerifiedApReq:
    """Check an AP-REQ as RFC 4120 3.2.3 says, in its order; ``keys(etype, kvno)`` is the
    service key of that type and version (None: we have none). The authenticator is
    entered in ``replay`` only once everything else has passed."""
    try:
        req = krbmsg.load(der, krbmsg.APReq)
    except krbmsg.KerberosDecodeError as exc:
        raise ApError(KRB_AP_ERR_MSG_TYPE, str(exc)) from None
    if req["pvno"].native != 5:
        raise ApError(KRB_AP_ERR_BADVERSION, f"pvno {req['pvno'].native}")
    ticket = req["ticket"]
    if ticket["tkt-vno"].native != 5:
        raise ApError(KRB_AP_ERR_BADVERSION, f"tkt-vno {ticket['tkt-vno'].native}")
    sname = tuple(ticket["sname"]["name-string"].native)
    if ticket["realm"].native != service.realm or sname != service.components:
        raise ApError(KRB_AP_ERR_NOT_US, f"ticket for {'/'.join(sname)}@{ticket['realm'].native}, we are {service}")
    if AP_OPT_USE_SESSION_KEY in _bits(req["ap-options"]):
        raise ApError(KRB_AP_ERR_NOKEY, "use-session-key (user-to-user) is not offered")
    enc = ticket["enc-part"]
    key = keys(enc["etype"].native, enc["kvno"].native)
    if key is None:
        code = KRB_AP_ERR_BADKEYVER if keys(enc["etype"].native, None) is not None else KRB_AP_ERR_NOKEY
        raise ApError(code, f"no service key of enctype {enc['etype'].native} kvno {enc['kvno'].native}")
    try:
        part = krbmsg.EncTicketPart.load(krbcrypto.decrypt(key, krbcrypto.USAGE_TICKET, enc["cipher"].native))
        part.native  # noqa: B018 - forces the lazy parse
    except krbcrypto.KerberosCryptoError as exc:
        raise ApError(KRB_AP_ERR_BAD_INTEGRITY, f"ticket: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ApError(KRB_AP_ERR_BAD_INTEGRITY, f"ticket's EncTicketPart: {exc}") from None
    session = Key(part["key"]["keytype"].native, part["key"]["keyvalue"].native)
    sealed = req["authenticator"]
    if sealed["etype"].native != session.enctype:
        raise ApError(KRB_AP_ERR_BAD_INTEGRITY, f"authenticator in enctype {sealed['etype'].native}, "
                                                f"session key is {session.enctype}")
    try:
        auth = krbmsg.Authenticator.load(krbcrypto.decrypt(session, krbcrypto.USAGE_AP_REQ_AUTHENTICATOR,
                                                           sealed["cipher"].native))
        auth.native  # noqa: B018
    except krbcrypto.KerberosCryptoError as exc:
        raise ApError(KRB_AP_ERR_BAD_INTEGRITY, f"authenticator: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ApError(KRB_AP_ERR_BAD_INTEGRITY, f"authenticator's contents: {exc}") from None
    client = Principal(part["crealm"].native, tuple(part["cname"]["name-string"].native),
                       part["cname"]["name-type"].native)
    said = Principal(auth["crealm"].native, tuple(auth["cname"]["name-string"].native))
    if (said.realm, said.components) != (client.realm, client.components):
        raise ApError(KRB_AP_ERR_BADMATCH, f"authenticator names {said}, ticket {client}")
    ctime, cusec = auth["ctime"].native, auth["cusec"].native
    if abs(_posix(ctime, cusec) - now) > skew:
        raise ApError(KRB_AP_ERR_SKEW, f"authenticator time {ctime:%Y-%m-%dT%H:%M:%SZ} is "
                                       f"{_posix(ctime, cusec) - now:+.0f} s from ours (allowed {skew:g} s)")
    start = part["starttime"].native or part["authtime"].native
    if _posix(start) - skew > now:
        raise ApError(KRB_AP_ERR_TKT_NYV, f"ticket valid from {start:%Y-%m-%dT%H:%M:%SZ}")
    end = _posix(part["endtime"].native)
    if end + skew < now:
        raise ApError(KRB_AP_ERR_TKT_EXPIRED, f"ticket ended {part['endtime'].native:%Y-%m-%dT%H:%M:%SZ}")
    replay.check_and_add(str(client), ctime, cusec, now)
    sub = auth["subkey"].native
    return VerifiedApReq(client, session, ctime, cusec,
                         Key(sub["keytype"], sub["keyvalue"]) if sub else None, auth["seq-number"].native, end,
                         AP_OPT_MUTUAL_REQUIRED in _bits(req["ap-options"]))


def _bits(flags: Any) -> set[int]:
    return {i for i, bit in enumerate(flags.native) if bit} if flags.native is not None else set()


def build_ap_rep(verified: VerifiedApReq, subkey: Key, seq: int | None = None) -> bytes:
    """The AP-REP for a verified AP-REQ: its ctime/cusec echoed and ``subkey`` carried,
    encrypted in the ticket's session key (key usage 12, RFC 4120 5.5.2)."""
    part: dict[str, Any] = {"ctime": verified.ctime, "cusec": verified.cusec,
                            "subkey": {"keytype": subkey.enctype, "keyvalue": subkey.value}}
    if seq is not None:
        part["seq-number"] = seq
    plain = krbmsg.EncAPRepPart(part).dump()
    key = verified.session_key
    rep = krbmsg.APRep({"pvno": 5, "msg-type": krbmsg.AP_REP_TYPE,
                        "enc-part": {"etype": key.enctype,
                                     "cipher": krbcrypto.encrypt(key, krbcrypto.USAGE_AP_REP_ENC_PART, plain)}})
    return bytes(rep.dump())


@dataclass(frozen=True, slots=True)
class ApRepContents:
    subkey: Key
    seq: int | None


def read_ap_rep(der: bytes, sent: SentApReq) -> ApRepContents:
    """The subkey of an AP-REP answering ``sent``: it must decrypt with the session key
    and echo the authenticator's ctime and cusec (KRB_AP_ERR_MUT_FAIL otherwise)."""
    try:
        rep = krbmsg.load(der, krbmsg.APRep)
    except krbmsg.KerberosDecodeError as exc:
        raise ApError(KRB_AP_ERR_MSG_TYPE, str(exc)) from None
    enc = rep["enc-part"]
    try:
        part = krbmsg.EncAPRepPart.load(krbcrypto.decrypt(sent.session_key, krbcrypto.USAGE_AP_REP_ENC_PART,
                                                          enc["cipher"].native))
        part.native  # noqa: B018
    except krbcrypto.KerberosCryptoError as exc:
        raise ApError(KRB_AP_ERR_BAD_INTEGRITY, f"AP-REP: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ApError(KRB_AP_ERR_BAD_INTEGRITY, f"EncAPRepPart: {exc}") from None
    if part["ctime"].native != sent.ctime or part["cusec"].native != sent.cusec:
        raise ApError(KRB_AP_ERR_MUT_FAIL, "the AP-REP does not echo our authenticator's time")
    sub = part["subkey"].native
    if not sub:
        raise ApError(KRB_AP_ERR_MUT_FAIL, "the AP-REP carries no subkey")
    return ApRepContents(Key(sub["keytype"], sub["keyvalue"]), part["seq-number"].native)


def krb_error(code: int, service: Principal, *, now: float, text: str | None = None,
              client: Principal | None = None) -> bytes:
    """A KRB-ERROR (RFC 4120 5.9.1) from ``service``."""
    stime, susec = _time(now)
    value: dict[str, Any] = {"pvno": 5, "msg-type": krbmsg.KRB_ERROR_TYPE, "stime": stime, "susec": susec,
                             "error-code": code, "realm": service.realm, "sname": service.asn1()}
    if client is not None:
        value["crealm"], value["cname"] = client.realm, client.asn1()
    if text:
        value["e-text"] = text[:200]
    return bytes(krbmsg.KrbError(value).dump())


def read_krb_error(der: bytes) -> tuple[int, str]:
    """(error code, e-text) of a KRB-ERROR."""
    err = krbmsg.load(der, krbmsg.KrbError)
    return err["error-code"].native, err["e-text"].native or ""
