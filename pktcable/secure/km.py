"""Kerberized key management for SNMPv3 (secure flow MTA-13/14), both sides, sans-IO.

:class:`KmServer` is the provisioning server's side on UDP 1293: it verifies an
AP Request (the AP-REQ, then the HMAC, then the Wake Up nonce), picks the
ciphersuite by its own preference among the MTA's, and answers an AP Reply
with a fresh subkey; anything refused is answered with an Error Reply
carrying a KRB-ERROR and reported as a :class:`Refused` event whose reason is
the RFC 4120 error name. :class:`KmClient` is the MTA's: it sends the AP
Request (unsolicited, or after a server's Wake Up), retransmits on the backoff
of option 122.5 / ``pktcMtaDevProvUnsolicitedKey*``, and checks the AP Reply's
AP-REP and HMAC before it derives the SNMPv3 keys.

Neither side reads a clock or a socket: ``now`` (POSIX seconds) comes in with
every call, datagrams come in as bytes, and every call returns events
(:class:`Send`, :class:`Established`, ...) for the caller to carry out. An
exchange's result is a :class:`pktcable.secure.kmkeys.SnmpSa`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac as hmac_compare
import os
import typing
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from . import kmcodec as km
from . import krbap, krbcrypto, krbmsg
from .kmkeys import SnmpSa, ap_reply_hmac_key, ap_request_hmac_key, km_hmac, snmp_sa
from .krbap import ApError, Principal
from .krbcrypto import Key

Address = tuple[str, int]

#: Server preference: SHA-1 before MD5, privacy before none (docs/secure.md).
DEFAULT_SUITES: tuple[km.Ciphersuite, ...] = (
    (km.SNMP_AUTH_SHA1, km.SNMP_PRIV_DES), (km.SNMP_AUTH_MD5, km.SNMP_PRIV_DES),
    (km.SNMP_AUTH_SHA1, km.SNMP_PRIV_NULL), (km.SNMP_AUTH_MD5, km.SNMP_PRIV_NULL))


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes
    peer: Address | None = None  # None: the client's one server


@dataclass(frozen=True, slots=True)
class Established:
    sa: SnmpSa
    peer: Address | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refused a datagram; ``reason`` is a Kerberos error name or one of
    malformed, unexpected, no-common-ciphersuite, nonce-mismatch."""

    peer: Address
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The client ignored a datagram (forged, stale or wrong) and keeps waiting."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class ServerError:
    """The server answered an Error Reply; the client keeps retrying on its backoff (a
    KRB-ERROR is not authenticated, so it cannot end the exchange by itself)."""

    code: int
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    detail: str


Event = Send | Established | Refused | Rejected | ServerError | Failed


def _spr_hmac(subkey: bytes, header: bytes, reply_hmac: bytes) -> bytes:
    """Security Parameter Recovered: the header, then the AP Reply's HMAC it acknowledges,
    keyed like the AP Reply (from the subkey): proof of holding that reply's subkey."""
    return km_hmac(ap_reply_hmac_key(subkey), header + reply_hmac)


# -- the provisioning server ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ServerPolicy:
    suites: tuple[km.Ciphersuite, ...] = DEFAULT_SUITES
    sa_lifetime: int = 7 * 86_400       # seconds; the MTA starts again after lifetime - grace
    grace_period: int = 3_600
    ack_required: bool = False
    skew: float = krbap.DEFAULT_SKEW
    #: How long the server keeps a Wake Up's nonce (matches the IETF/CableLabs MIB's
    #: pktcMtaDevProvSolicitedKeyTimeout upper range: the MTA will not answer later).
    wake_up_timeout: float = 600.0
    #: How long an AP Reply is kept to answer a retransmitted (identical) AP Request.
    reply_cache_time: float = 60.0
    max_peers: int = 100_000


@dataclass
class _Pending:
    value: object
    expires: float


class KmServer:
    """The provisioning server's key management (one per service principal)."""

    def __init__(self, service: Principal, keys: krbap.KeyLookup, engine_id: bytes, *,
                 policy: ServerPolicy | None = None, engine_boots: int = 1, engine_started: float = 0.0,
                 random_bytes: Callable[[int], bytes] = os.urandom,
                 make_subkey: Callable[[int], Key] = krbcrypto.random_key) -> None:
        self.service, self.keys, self.engine_id = service, keys, engine_id
        self.policy = policy or ServerPolicy()
        self.engine_boots, self.engine_started = engine_boots, engine_started
        self.random_bytes, self.make_subkey = random_bytes, make_subkey
        self.replay = krbap.ReplayCache(2 * self.policy.skew)
        self._wake: OrderedDict[Address, _Pending] = OrderedDict()      # peer -> nonce
        self._replies: OrderedDict[tuple[Address, bytes], _Pending] = OrderedDict()  # -> AP Reply octets
        self._acks: OrderedDict[Address, _Pending] = OrderedDict()      # peer -> (sa, expected SPR HMAC)

    # -- server-initiated ---------------------------------------------------------------------
    def wake_up(self, peer: Address, now: float) -> list[Event]:
        """A Wake Up asking ``peer`` for an AP Request (first keying or rekeying: for the
        SNMPv3 DOI the server rekeys this way; the Rekey message is the IPsec DOI's)."""
        # A repeated Wake Up (the first may be lost) keeps its nonce: the MTA may answer either.
        pending = self._get(self._wake, peer, now)
        nonce = pending if isinstance(pending, int) else int.from_bytes(self.random_bytes(4), "big") or 1
        self._put(self._wake, peer, _Pending(nonce, now + self.policy.wake_up_timeout), now)
        return [Send(km.encode(km.WakeUp(nonce, str(self.service))), peer)]

    rekey = wake_up

    # -- datagrams ----------------------------------------------------------------------------
    def receive(self, data: bytes, peer: Address, now: float) -> list[Event]:
        try:
            message = km.decode(data)
        except km.KmDecodeError as exc:
            return [Refused(peer, "malformed", str(exc))]
        if isinstance(message, km.ApRequest):
            return self._ap_request(message, data, peer, now)
        if isinstance(message, km.SecParamRecovered):
            return self._recovered(message, data, peer, now)
        if isinstance(message, km.ErrorReply):
            return [Refused(peer, "error-reply", _error_text(message.krb_error))]
        return [Refused(peer, "unexpected", f"KMMID {message.KMMID.name} is not sent to a server")]

    def _error(self, peer: Address, now: float, code: int, why: str, client: Principal | None = None,
               reason: str | None = None) -> list[Event]:
        der = krbap.krb_error(code, self.service, now=now, text=why, client=client)
        return [Send(km.encode(km.ErrorReply(der)), peer), Refused(peer, reason or krbap.ERROR_NAMES[code], why)]

    def _ap_request(self, msg: km.ApRequest, data: bytes, peer: Address, now: float) -> list[Event]:
        digest = hashlib.sha256(data).digest()
        cached = self._get(self._replies, (peer, digest), now)
        if cached is not None:  # the MTA retransmitted: our reply was lost, send it again
            return [Send(cached, peer)]  # type: ignore[arg-type]
        if msg.doi != km.Doi.SNMPV3 or not isinstance(msg.app_data, km.SnmpAppData):
            return self._error(peer, now, krbap.KRB_ERR_GENERIC, "this server keys SNMPv3 (DOI 2) only",
                               reason="unexpected")
        try:
            verified = krbap.verify_ap_req(msg.ap_req, self.service, self.keys, now=now, replay=self.replay,
                                           skew=self.policy.skew)
        except ApError as exc:
            return self._error(peer, now, exc.code, exc.why)
        expected = km_hmac(ap_request_hmac_key(verified.session_key.value), km.signed_part(data))
        if not hmac_compare.compare_digest(expected, msg.hmac):
            return self._error(peer, now, krbap.KRB_AP_ERR_MODIFIED, "the AP Request's SHA-1 HMAC does not verify",
                               verified.client)
        wake = self._get(self._wake, peer, now)
        if wake is not None and msg.server_nonce != wake:
            return self._error(peer, now, krbap.KRB_AP_ERR_MODIFIED,
                               f"server nonce {msg.server_nonce:#010x} is not our Wake Up's", verified.client,
                               reason="nonce-mismatch")
        offered = set(msg.ciphersuites)
        suite = next((s for s in self.policy.suites if s in offered), None)
        if suite is None:
            return self._error(peer, now, krbap.KRB_ERR_GENERIC, "no common ciphersuite (offered "
                               + ", ".join(f"{a:#04x}/{p:#04x}" for a, p in msg.ciphersuites) + ")",
                               verified.client, reason="no-common-ciphersuite")
        subkey = self.make_subkey(verified.session_key.enctype)
        app = km.SnmpAppData(self.engine_id, self.engine_boots, max(int(now - self.engine_started), 0),
                             msg.app_data.user_name)
        reply = km.ApReply(krbap.build_ap_rep(verified, subkey), app, (suite,), self.policy.sa_lifetime,
                           self.policy.grace_period, msg.reestablish, self.policy.ack_required)
        reply = km.with_hmac(reply, lambda signed: km_hmac(ap_reply_hmac_key(subkey.value), signed))
        out = km.encode(reply)
        self._wake.pop(peer, None)
        self._put(self._replies, (peer, digest), _Pending(out, now + self.policy.reply_cache_time), now)
        sa = snmp_sa(subkey.value, suite, msg.app_data, lifetime=self.policy.sa_lifetime,
                     grace_period=self.policy.grace_period, now=now, client=str(verified.client))
        if self.policy.ack_required:
            spr = _spr_hmac(subkey.value, bytes([km.Kmmid.SEC_PARAM_RECOVERED, msg.doi, msg.version]), reply.hmac)
            self._put(self._acks, peer, _Pending((sa, spr), now + self.policy.reply_cache_time), now)
            return [Send(out, peer)]
        return [Send(out, peer), Established(sa, peer)]

    def _recovered(self, msg: km.SecParamRecovered, data: bytes, peer: Address, now: float) -> list[Event]:
        pending = self._get(self._acks, peer, now)
        if pending is None:
            return [Refused(peer, "unexpected", "Security Parameter Recovered without an AP Reply to acknowledge")]
        sa, expected = typing.cast(tuple[SnmpSa, bytes], pending)
        if not hmac_compare.compare_digest(expected, msg.hmac):
            return [Refused(peer, "KRB_AP_ERR_MODIFIED", "the Security Parameter Recovered HMAC does not verify")]
        self._acks.pop(peer, None)
        return [Established(sa, peer)]

    # -- bounded tables -----------------------------------------------------------------------
    def _put(self, table: OrderedDict, key: object, item: _Pending, now: float) -> None:  # type: ignore[type-arg]
        while table and (len(table) >= self.policy.max_peers or next(iter(table.values())).expires <= now):
            table.popitem(last=False)
        table[key] = item
        table.move_to_end(key)

    @staticmethod
    def _get(table: OrderedDict, key: object, now: float) -> object | None:  # type: ignore[type-arg]
        item = table.get(key)
        if item is None:
            return None
        if item.expires <= now:
            del table[key]
            return None
        return item.value


def _error_text(der: bytes) -> str:
    try:
        code, text = krbap.read_krb_error(der)
    except krbmsg.KerberosDecodeError as exc:
        return f"unreadable KRB-ERROR: {exc}"
    return f"{krbap.ERROR_NAMES.get(code, code)}: {text}"


# -- the MTA ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class KmBackoff:
    """Option 122.5 / pktcMtaDevProvUnsolicitedKey{Nom,Max}Timeout, ...MaxRetries: the first
    wait is the nominal timeout, each next one twice the one before, none longer than
    the maximum; ``retries`` retransmissions after the first AP Request. Defaults: the
    CableLabs MIB's DEFVALs (30 s, 600 s, 8)."""

    nominal: float = 30.0
    maximum: float = 600.0
    retries: int = 8

    def waits(self, rng: object = None) -> tuple[float, ...]:
        return tuple(min(self.nominal * 2**n, self.maximum) for n in range(max(self.retries, 0) + 1))


class ClientState(enum.Enum):
    IDLE = "idle"
    WAITING = "waiting"
    ESTABLISHED = "established"
    FAILED = "failed"


@dataclass
class KmClient:
    """The MTA's side: one ticket for the provisioning server, one SNMPv3 engine and user."""

    ticket: bytes
    session_key: Key
    client: Principal
    app_data: km.SnmpAppData
    suites: tuple[km.Ciphersuite, ...] = DEFAULT_SUITES
    backoff: KmBackoff = field(default_factory=KmBackoff)
    #: pktcMtaDevProvSolicitedKeyTimeout (CableLabs DEFVAL 120 s).
    solicited_timeout: float = 120.0
    state: ClientState = ClientState.IDLE
    sa: SnmpSa | None = None
    _sent: krbap.SentApReq | None = None
    _datagram: bytes = b""
    _waits: tuple[float, ...] = ()
    _attempt: int = 0
    _deadline: float | None = None
    _give_up: float | None = None
    _last_error: str = ""
    _nonce: int = 0
    _fresh: bool = False  # the next retransmission carries a new authenticator

    @property
    def service(self) -> str:
        ticket = krbmsg.Ticket.load(self.ticket)
        return "/".join(ticket["sname"]["name-string"].native) + "@" + ticket["realm"].native

    @property
    def deadline(self) -> float | None:
        """When :meth:`poll` has something to do (a retransmission or giving up)."""
        return self._deadline

    def start(self, now: float, nonce: int = 0) -> list[Event]:
        """Send an AP Request (``nonce``: the Wake Up's, 0 when the MTA starts it)."""
        self._build(now, nonce)
        self.state, self.sa, self._attempt, self._last_error = ClientState.WAITING, None, 0, ""
        self._waits = self.backoff.waits()
        self._deadline = now + self._waits[0]
        self._give_up = now + self.solicited_timeout if nonce else None
        return [Send(self._datagram)]

    def _build(self, now: float, nonce: int) -> None:
        self._sent = krbap.build_ap_req(self.ticket, self.session_key, self.client, now=now)
        request = km.ApRequest(self._sent.der, nonce, self.app_data, self.suites)
        key = ap_request_hmac_key(self.session_key.value)
        self._datagram = km.encode(km.with_hmac(request, lambda signed: km_hmac(key, signed)))
        self._nonce, self._fresh = nonce, False

    def poll(self, now: float) -> list[Event]:
        if self.state is not ClientState.WAITING or self._deadline is None or now < self._deadline:
            return []
        if self._give_up is not None and now >= self._give_up:
            return self._fail("solicited-timeout", f"no AP Reply within {self.solicited_timeout:g} s of the "
                                                   "server's Wake Up")
        self._attempt += 1
        if self._attempt >= len(self._waits):
            return self._fail("no-reply", f"no AP Reply after {len(self._waits) - 1} retransmissions"
                                          + (f" (last: {self._last_error})" if self._last_error else ""))
        self._deadline = now + self._waits[self._attempt]
        if self._give_up is not None:
            self._deadline = min(self._deadline, self._give_up)
        if self._fresh:  # the server saw the last authenticator: sending it again is a replay
            self._build(now, self._nonce)
        return [Send(self._datagram)]

    def _fail(self, reason: str, detail: str) -> list[Event]:
        self.state, self._deadline = ClientState.FAILED, None
        return [Failed(reason, detail)]

    def receive(self, data: bytes, now: float) -> list[Event]:
        try:
            message = km.decode(data)
        except km.KmDecodeError as exc:
            return [Rejected("malformed", str(exc))]
        if isinstance(message, km.WakeUp):
            if message.server_principal != self.service:
                return [Rejected("not-our-server", f"Wake Up from {message.server_principal}, our ticket is for "
                                                   f"{self.service}")]
            if self.state is ClientState.WAITING and message.server_nonce == self._nonce:
                return [Rejected("busy", "already answering this Wake Up")]
            # Idle, keyed (the server rekeys), or waiting with another nonce (the server's
            # Wake Up crossed our own AP Request, which it will refuse): answer this one.
            return self.start(now, message.server_nonce)
        if isinstance(message, km.ErrorReply):
            if self.state is not ClientState.WAITING:
                return [Rejected("unexpected", "Error Reply with no AP Request outstanding")]
            try:
                code, text = krbap.read_krb_error(message.krb_error)
            except krbmsg.KerberosDecodeError as exc:
                return [Rejected("malformed", str(exc))]
            self._last_error = f"{krbap.ERROR_NAMES.get(code, code)}: {text}"
            self._fresh = True
            return [ServerError(code, krbap.ERROR_NAMES.get(code, str(code)), text)]
        if isinstance(message, km.ApReply):
            return self._ap_reply(message, data, now)
        return [Rejected("unexpected", f"KMMID {message.KMMID.name} is not sent to an MTA")]

    def _ap_reply(self, msg: km.ApReply, data: bytes, now: float) -> list[Event]:
        if self.state is not ClientState.WAITING or self._sent is None:
            return [Rejected("unexpected", "AP Reply with no AP Request outstanding")]
        try:
            contents = krbap.read_ap_rep(msg.ap_rep, self._sent)
        except ApError as exc:
            return [Rejected(exc.name, exc.why)]
        subkey = contents.subkey.value
        expected = km_hmac(ap_reply_hmac_key(subkey), km.signed_part(data))
        if not hmac_compare.compare_digest(expected, msg.hmac):
            return [Rejected("KRB_AP_ERR_MODIFIED", "the AP Reply's SHA-1 HMAC does not verify")]
        if len(msg.ciphersuites) != 1 or msg.ciphersuites[0] not in self.suites:
            return [Rejected("bad-ciphersuite", f"the server selected {msg.ciphersuites}, we offered {self.suites}")]
        self.sa = snmp_sa(subkey, msg.ciphersuites[0], self.app_data, lifetime=msg.sa_lifetime,
                          grace_period=msg.grace_period, now=now, client=str(self.client))
        self.state, self._deadline = ClientState.ESTABLISHED, None
        events: list[Event] = []
        if msg.ack_required:
            header = bytes([km.Kmmid.SEC_PARAM_RECOVERED, msg.doi, msg.version])
            ack = km.SecParamRecovered(_spr_hmac(subkey, header, msg.hmac), msg.doi, msg.version)
            events.append(Send(km.encode(ack)))
        events.append(Established(self.sa))
        return events

