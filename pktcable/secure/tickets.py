"""Ticket issuing: what a KDC grants for a verified AS-REQ (RFC 4120 sections 3.1.3,
5.3 and 5.4.2), as pure functions of the request, the policy, the time and keys.

The KDC (:mod:`pktcable.secure.kdc`) decides *whether* to answer; this module
decides *what* the ticket says — flags, times, session key — and encrypts the
Ticket's EncTicketPart in the service's long-term key and the reply's
EncASRepPart in the reply key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import krbcrypto, krbmsg

#: RFC 4120 section 5.4.1: KDCOptions bits a client may set in an AS-REQ.
OPT_FORWARDABLE, OPT_PROXIABLE, OPT_RENEWABLE, OPT_RENEWABLE_OK = 1, 3, 8, 27
#: RFC 4120 section 5.3: TicketFlags bits; RFC 6806 section 11: enc-pa-rep.
FLAG_FORWARDABLE, FLAG_PROXIABLE, FLAG_RENEWABLE, FLAG_INITIAL, FLAG_PRE_AUTHENT = 1, 3, 8, 9, 10
FLAG_ENC_PA_REP = 15
#: RFC 4120 section 5.2.3 (note): a "till" of 1970-01-01 means "as long as the KDC allows".
NO_LIMIT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: RFC 4120 5.3: DOMAIN-X500-COMPRESS, with empty contents for a ticket issued in its own realm.
TRANSITED_X500 = 1
#: RFC 4120 5.4.2 / 7.5.1 last-req type 0: "no information" (the KDC keeps none).
LR_NONE = 0


@dataclass(frozen=True)
class TicketPolicy:
    """How long tickets last. An eMTA renews by a fresh PKINIT exchange at
    TicketEXP - PKINITGracePeriod (pktcMtaDevRealmPkinitGracePeriod, 15..600 min), so
    a lifetime must exceed ten hours for every grace period to leave it some life."""

    lifetime: dt.timedelta = dt.timedelta(days=1)
    renew_lifetime: dt.timedelta = dt.timedelta(days=7)
    #: A request whose ticket would live less than this is refused (KDC_ERR_NEVER_VALID).
    minimum: dt.timedelta = dt.timedelta(minutes=5)
    forwardable: bool = False
    proxiable: bool = False


class NeverValid(ValueError):
    """The requested end time leaves the ticket less than the policy's minimum."""


@dataclass(frozen=True)
class Grant:
    """The decided contents of one ticket."""

    flags: frozenset[int]
    session_key: krbcrypto.Key
    authtime: dt.datetime
    endtime: dt.datetime
    renew_till: dt.datetime | None
    #: None: the ticket starts at authtime (an AS exchange).
    starttime: dt.datetime | None = None


def option(body: Any, bit: int) -> bool:
    """Whether KDCOptions bit ``bit`` is set (asn1crypto reads a BIT STRING as a tuple of 0/1)."""
    bits = body["kdc-options"].native
    return len(bits) > bit and bits[bit] == 1


def decide(body: Any, policy: TicketPolicy, *, now: dt.datetime, session_key: krbcrypto.Key,
           enc_pa_rep: bool, tgt: Grant | None = None) -> Grant:
    """Flags and times for the request ``body`` (a decoded KDC-REQ-BODY) at ``now``; with
    ``tgt`` (a TGS exchange) the ticket inherits its authtime and never outlives it."""
    now = now.replace(microsecond=0)
    till = body["till"].native
    wanted_end = now + policy.lifetime if till is None or till <= NO_LIMIT else till
    end = min(wanted_end, now + policy.lifetime, *([tgt.endtime] if tgt else []))
    if end - now < policy.minimum:
        raise NeverValid(f"the ticket would end at {end:%Y-%m-%dT%H:%M:%SZ}, "
                         f"less than {policy.minimum} after {now:%Y-%m-%dT%H:%M:%SZ}")
    # RFC 4120 2.1/2.2: "initial" only from the AS exchange; pre-authent carries over.
    flags = {FLAG_INITIAL, FLAG_PRE_AUTHENT} if tgt is None else {FLAG_PRE_AUTHENT} & tgt.flags
    if enc_pa_rep:
        flags.add(FLAG_ENC_PA_REP)
    if policy.forwardable and option(body, OPT_FORWARDABLE):
        flags.add(FLAG_FORWARDABLE)
    if policy.proxiable and option(body, OPT_PROXIABLE):
        flags.add(FLAG_PROXIABLE)
    renew_till = None
    rtime = body["rtime"].native
    if option(body, OPT_RENEWABLE) and rtime is not None:
        asked: dt.datetime | None = now + policy.renew_lifetime if rtime <= NO_LIMIT else rtime
    elif option(body, OPT_RENEWABLE_OK) and wanted_end > end:
        asked = wanted_end  # RFC 4120 3.1.3: renewable-ok turns a too-long till into renew-till
    else:
        asked = None
    if tgt is not None:  # renewable only within a renewable TGT's renew-till
        asked = min(asked, tgt.renew_till) if asked and tgt.renew_till and FLAG_RENEWABLE in tgt.flags else None
    if asked is not None and policy.renew_lifetime > dt.timedelta(0):
        limit = min(asked, now + policy.renew_lifetime)
        if limit > end:
            renew_till = limit
            flags.add(FLAG_RENEWABLE)
    if tgt is None:
        return Grant(frozenset(flags), session_key, now, end, renew_till)
    return Grant(frozenset(flags), session_key, tgt.authtime, end, renew_till, starttime=now)


def flag_bits(flags: frozenset[int]) -> tuple[int, ...]:
    """KerberosFlags as the 32-bit string RFC 4120 5.2.8 asks senders to use."""
    return tuple(1 if i in flags else 0 for i in range(32))


def ticket(grant: Grant, body: Any, *, realm: str, service_key: krbcrypto.Key, kvno: int,
           cname: Any = None) -> krbmsg.Ticket:
    """The Ticket for ``grant``: an EncTicketPart encrypted in the service's key (usage 2);
    the client is the request's ``cname`` unless given (a TGS exchange: the TGT's)."""
    part = krbmsg.EncTicketPart({
        "flags": flag_bits(grant.flags),
        "key": {"keytype": grant.session_key.enctype, "keyvalue": grant.session_key.value},
        "crealm": realm,
        "cname": cname or body["cname"].native,
        "transited": {"tr-type": TRANSITED_X500, "contents": b""},
        "authtime": grant.authtime, "starttime": grant.starttime or grant.authtime, "endtime": grant.endtime,
        "renew-till": grant.renew_till,
        "caddr": body["addresses"].native,
    })
    cipher = krbcrypto.encrypt(service_key, krbcrypto.USAGE_TICKET, part.dump())
    return krbmsg.Ticket({"tkt-vno": 5, "realm": realm, "sname": body["sname"].native,
                          "enc-part": {"etype": service_key.enctype, "kvno": kvno, "cipher": cipher}})


def enc_as_rep_part(grant: Grant, body: Any, *, realm: str, reply_key: krbcrypto.Key,
                    encrypted_pa_data: Sequence[tuple[int, bytes]] = (), tgs_usage: int | None = None) -> dict[str, Any]:
    """The AS-REP's enc-part: EncASRepPart (APPLICATION 25) encrypted in the reply key
    (usage 3); with ``tgs_usage``, the TGS-REP's EncTGSRepPart (26) in that usage."""
    kind = krbmsg.EncASRepPart if tgs_usage is None else krbmsg.EncTGSRepPart
    part = kind({
        "key": {"keytype": grant.session_key.enctype, "keyvalue": grant.session_key.value},
        "last-req": [{"lr-type": LR_NONE, "lr-value": grant.authtime}],
        "nonce": body["nonce"].native,
        "flags": flag_bits(grant.flags),
        "authtime": grant.authtime, "starttime": grant.starttime or grant.authtime, "endtime": grant.endtime,
        "renew-till": grant.renew_till,
        "srealm": realm, "sname": body["sname"].native,
        "caddr": body["addresses"].native,
        "encrypted-pa-data": [{"padata-type": t, "padata-value": v} for t, v in encrypted_pa_data] or None,
    })
    usage = krbcrypto.USAGE_AS_REP_ENC_PART if tgs_usage is None else tgs_usage
    return {"etype": reply_key.enctype, "cipher": krbcrypto.encrypt(reply_key, usage, part.dump())}


def new_key(enctype: int, random: Callable[[int], bytes]) -> krbcrypto.Key:
    """A session or reply key of ``enctype`` from the caller's random bytes (RFC 3961 random-to-key)."""
    return krbcrypto.random_to_key(enctype, random(krbcrypto.key_lengths(enctype)[0]))
