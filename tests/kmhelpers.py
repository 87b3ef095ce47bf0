"""Tickets as a KDC would issue them, for the key-management tests: a service key,
an EncTicketPart with a session key, sealed in the service key (RFC 4120 5.3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pktcable.secure import krbcrypto, krbmsg
from pktcable.secure.krbap import Principal
from pktcable.secure.krbcrypto import Key

REALM = "LAB.EXAMPLE.NET"
SERVICE = Principal(REALM, ("mtaprovsrvr", "prov.lab.example.net"), 2)
CLIENT = Principal(REALM, ("0010180a0b0c",))
T0 = 1_800_000_000.0  # a fixed POSIX time (2027-01-15) for fake clocks


@dataclass(frozen=True)
class Issued:
    ticket: bytes
    session_key: Key
    service_key: Key
    kvno: int


def issue(*, client: Principal = CLIENT, service: Principal = SERVICE, now: float = T0, life: float = 36_000,
          service_key: Key | None = None, kvno: int = 2,
          enctype: int = krbcrypto.AES256_CTS_HMAC_SHA1_96) -> Issued:
    skey = service_key or krbcrypto.random_key(enctype)
    session = krbcrypto.random_key(enctype)
    start = dt.datetime.fromtimestamp(now, dt.UTC).replace(microsecond=0)
    part = krbmsg.EncTicketPart({
        "flags": tuple([0] * 32), "key": {"keytype": session.enctype, "keyvalue": session.value},
        "crealm": client.realm, "cname": client.asn1(), "transited": {"tr-type": 1, "contents": b""},
        "authtime": start, "endtime": start + dt.timedelta(seconds=life),
    })
    ticket = krbmsg.Ticket({
        "tkt-vno": 5, "realm": service.realm, "sname": service.asn1(),
        "enc-part": {"etype": skey.enctype, "kvno": kvno,
                     "cipher": krbcrypto.encrypt(skey, krbcrypto.USAGE_TICKET, part.dump())},
    })
    return Issued(bytes(ticket.dump()), session, skey, kvno)


def lookup(issued: Issued):  # type: ignore[no-untyped-def]
    def keys(etype: int, kvno: int | None) -> Key | None:
        if etype == issued.service_key.enctype and kvno in (None, issued.kvno):
            return issued.service_key
        return None
    return keys
