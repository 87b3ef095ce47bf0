"""The TGS exchange (RFC 4120 section 3.3; PacketCable MTA-11/MTA-12): a service ticket
for the holder of a TGT this KDC issued, as when option 122.7 asks the eMTA to
fetch a TGT first.

The request carries, in PA-TGS-REQ, an AP-REQ: the TGT, and an authenticator
encrypted in the TGT's session key whose checksum covers the req-body. Checked
in order: the TGT opens with ``krbtgt/REALM``'s key and is for that service,
it is current, the authenticator opens and names the TGT's client, its clock
is within the skew and its checksum is the body's. No replay cache: a replayed
authenticator only gets its sender another copy of a reply encrypted to the
session key it already lacks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import krbcrypto, krbmsg, tickets

if TYPE_CHECKING:
    from .kdc import Kdc

#: RFC 4120 7.5.1: key usages of the TGS exchange.
USAGE_TGS_REQ_AUTH_CKSUM = 6
USAGE_TGS_REQ_AUTHENTICATOR = 7
USAGE_TGS_REP_SESSION = 8
USAGE_TGS_REP_SUBKEY = 9


def serve(kdc: Kdc, msg: Any, now: dt.datetime, random: Callable[[int], bytes]) -> tuple[bytes, str]:
    """(TGS-REP, client principal) for a decoded TGS-REQ, or a kdc.Refusal raised."""
    from .kdc import ErrorCode, Refusal

    config, body = kdc.config, msg["req-body"]
    padata = [p["padata-value"].native for p in msg["padata"] or [] if p["padata-type"].native == krbmsg.PA_TGS_REQ]
    if len(padata) != 1:
        raise Refusal(ErrorCode.KDC_ERR_PADATA_TYPE_NOSUPP, f"{len(padata)} PA-TGS-REQ, expected one")
    try:
        ap = krbmsg.load(padata[0], krbmsg.APReq)
    except krbmsg.KerberosDecodeError as exc:
        raise Refusal(ErrorCode.KRB_ERR_GENERIC, f"PA-TGS-REQ: {exc}") from None
    tgt_name = ("krbtgt", config.realm)
    ticket = ap["ticket"]
    if ticket["realm"].native != config.realm or tuple(ticket["sname"]["name-string"].native) != tgt_name:
        raise Refusal(ErrorCode.KRB_AP_ERR_NOT_US, "the ticket in PA-TGS-REQ is not this realm's TGT")
    service = config.services.get(tgt_name)
    if service is None:
        raise Refusal(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "this KDC issues no TGTs")
    tgt_part = _open(service.key, krbcrypto.USAGE_TICKET, ticket["enc-part"], krbmsg.EncTicketPart, "the TGT")
    tgt = _grant(tgt_part)
    skew = config.max_skew
    if now > tgt.endtime + skew:
        raise Refusal(ErrorCode.KRB_AP_ERR_TKT_EXPIRED, f"the TGT ended at {tgt.endtime:%Y-%m-%dT%H:%M:%SZ}")
    if (tgt.starttime or tgt.authtime) > now + skew:
        raise Refusal(ErrorCode.KRB_AP_ERR_TKT_NYV, "the TGT is not yet valid")
    session = krbcrypto.Key(tgt_part["key"]["keytype"].native, tgt_part["key"]["keyvalue"].native)
    auth = _open(session, USAGE_TGS_REQ_AUTHENTICATOR, ap["authenticator"], krbmsg.Authenticator, "the authenticator")
    cname = tgt_part["cname"].native
    if auth["crealm"].native != tgt_part["crealm"].native or auth["cname"].native != cname:
        raise Refusal(ErrorCode.KRB_AP_ERR_BADMATCH, "the authenticator names another client than the TGT")
    ctime = auth["ctime"].native + dt.timedelta(microseconds=auth["cusec"].native)
    if abs(ctime - now) > skew:
        raise Refusal(ErrorCode.KRB_AP_ERR_SKEW, f"client time {ctime:%Y-%m-%dT%H:%M:%SZ} is more than "
                      f"{skew.total_seconds():g} s from {now:%Y-%m-%dT%H:%M:%SZ}")
    check = auth["cksum"]
    if check.native is None:
        raise Refusal(ErrorCode.KRB_AP_ERR_INAPP_CKSUM, "the authenticator has no checksum of the req-body")
    try:
        krbcrypto.verify_checksum(session, USAGE_TGS_REQ_AUTH_CKSUM, krbmsg.req_body_der(msg),
                                  check["cksumtype"].native, check["checksum"].native)
    except krbcrypto.KerberosCryptoError as exc:
        raise Refusal(ErrorCode.KRB_AP_ERR_MODIFIED, f"req-body checksum: {exc}") from None
    sname = body["sname"].native
    target = config.services.get(tuple(sname["name-string"])) if sname else None
    if target is None or (body["realm"].native != config.realm):
        shown = "/".join(sname["name-string"]) if sname else "(none)"
        raise Refusal(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, f"service {shown}@{body['realm'].native} is unknown")
    enctypes = [e for e in body["etype"].native if e in config.enctypes]
    if not enctypes:
        raise Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP, f"none of the enctypes {body['etype'].native} is offered")
    try:
        grant = tickets.decide(body, config.policy, now=now, session_key=tickets.new_key(enctypes[0], random),
                               enc_pa_rep=False, tgt=tgt)
    except tickets.NeverValid as exc:
        raise Refusal(ErrorCode.KDC_ERR_NEVER_VALID, str(exc)) from None
    issued = tickets.ticket(grant, body, realm=config.realm, service_key=target.key, kvno=target.kvno, cname=cname)
    subkey = auth["subkey"].native
    reply_key, usage = ((krbcrypto.Key(subkey["keytype"], subkey["keyvalue"]), USAGE_TGS_REP_SUBKEY) if subkey
                        else (session, USAGE_TGS_REP_SESSION))
    rep = krbmsg.TGSRep({
        "pvno": 5, "msg-type": krbmsg.TGS_REP, "crealm": config.realm, "cname": cname, "ticket": issued,
        "enc-part": tickets.enc_as_rep_part(grant, body, realm=config.realm, reply_key=reply_key, tgs_usage=usage),
    })
    return bytes(rep.dump()), cname["name-string"][0]


def _open(key: krbcrypto.Key, usage: int, enc: Any, kind: Any, what: str) -> Any:
    from .kdc import ErrorCode, Refusal

    if enc["etype"].native != key.enctype:
        raise Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP, f"{what} is in enctype {enc['etype'].native}, "
                      f"the key is {key.enctype}")
    try:
        value = kind.load(krbcrypto.decrypt(key, usage, enc["cipher"].native), strict=True)
        value.native  # noqa: B018 - forces the lazy parse of every field
    except krbcrypto.KerberosCryptoError:
        raise Refusal(ErrorCode.KRB_AP_ERR_MODIFIED, f"{what} does not decrypt (wrong key or altered)") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise Refusal(ErrorCode.KRB_ERR_GENERIC, f"{what}: {exc}") from None
    return value


def _grant(part: Any) -> tickets.Grant:
    """What a TGT granted, for the limits of the tickets issued with it."""
    bits = part["flags"].native
    flags = frozenset(i for i, bit in enumerate(bits) if bit)
    key = krbcrypto.Key(part["key"]["keytype"].native, part["key"]["keyvalue"].native)
    return tickets.Grant(flags, key, part["authtime"].native, part["endtime"].native, part["renew-till"].native,
                         starttime=part["starttime"].native)
