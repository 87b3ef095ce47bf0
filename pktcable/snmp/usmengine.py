"""USM message processing (RFC 3414 3.1/3.2, RFC 3412 7), sans-IO.

One :class:`UsmEngine` is one SNMP engine: its own snmpEngineID, boots and a
clock derived from the ``now`` every call is given (so tests use a fake
clock), its users (localized keys, :class:`usm.UsmUser`), the usmStats
counters, and what it learned of remote authoritative engines (boots and
time, RFC 3414 2.3 "latestReceivedEngineTime").

Which side is authoritative follows RFC 3414 section 4: the receiver of a GET,
SET or INFORM. So the agent of an eMTA is authoritative for the provisioning
server's SET, and the provisioning server is authoritative for the eMTA's
INFORM; a sender that does not know the receiver's engine discovers it
(:meth:`UsmEngine.discovery_probe`, answered by a usmStatsUnknownEngineIDs
Report that carries the engine ID, boots and time).

:meth:`UsmEngine.receive` returns :class:`Accepted` (the ScopedPDU, the user
and the level it was protected with) or :class:`Refused` (the usmStats counter
that grew, and the Report to send back when RFC 3412 7.1.3 wants one).
Malformed datagrams raise :class:`message.SnmpDecodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

from tlv import ber
from tlv.ber import VarBind

from . import message as m
from . import usm, v3
from .message import SnmpDecodeError

#: RFC 3414 3.2 step 7: a message more than 150 s away from the authoritative clock is stale.
TIME_WINDOW = 150
#: snmpEngineBoots at 2^31-1 latches: no message is timely any more (RFC 3414 2.2.2).
MAX_BOOTS = 2**31 - 1
#: usmStats (SNMP-USER-BASED-SM-MIB, 1.3.6.1.6.3.15.1.1): the counters a Report names.
USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
#: The largest datagram we accept and say we accept (msgMaxSize): a UDP payload.
MAX_MESSAGE = 65507
#: Reports sent per second at most, and the burst allowed: a Report answers an unauthenticated
#: datagram, so a flood with a forged source must not turn us into its amplifier. Far above what
#: discovery needs (one per device and boot), far below a flood.
REPORT_RATE = 200.0
REPORT_BURST = 400.0
COUNTER32 = ber.SNMP_TYPE_BY_KEYWORD["counter32"]


class UsmStat(IntEnum):
    """usmStats objects; the value is the arc under :data:`USM_STATS`."""

    UNSUPPORTED_SEC_LEVELS = 1
    NOT_IN_TIME_WINDOWS = 2
    UNKNOWN_USER_NAMES = 3
    UNKNOWN_ENGINE_IDS = 4
    WRONG_DIGESTS = 5
    DECRYPTION_ERRORS = 6

    @property
    def oid(self) -> tuple[int, ...]:
        return (*USM_STATS, self.value, 0)

    @property
    def mib_name(self) -> str:
        return "usmStats" + "".join(w.capitalize() for w in self.name.split("_")).replace("Ids", "IDs")

    @classmethod
    def from_oid(cls, oid: tuple[int, ...]) -> UsmStat | None:
        if len(oid) == len(USM_STATS) + 2 and oid[: len(USM_STATS)] == USM_STATS and oid[-1] == 0:
            try:
                return cls(oid[-2])
            except ValueError:
                return None
        return None


class UsmFailure(Exception):
    """A named USM failure: the counter of the receiver's Report, or our own check."""

    def __init__(self, stat: UsmStat, detail: str) -> None:
        self.stat = stat
        self.detail = detail
        super().__init__(f"{stat.mib_name}: {detail}")


@dataclass(frozen=True, slots=True)
class Accepted:
    """A message that passed USM: ``user`` is None for a noAuthNoPriv message of an
    engine or user we hold no keys for (only discovery Reports are taken that way)."""

    message: v3.V3Message
    scoped: v3.ScopedPdu
    user: usm.UsmUser | None

    @property
    def pdu(self) -> m.Pdu:
        return self.scoped.pdu

    @property
    def level(self) -> tuple[bool, bool]:
        return self.message.authenticated, self.message.private


@dataclass(frozen=True, slots=True)
class Refused:
    stat: UsmStat
    detail: str
    #: The Report datagram for the sender, when the message was reportable.
    report: bytes | None = None


@dataclass(slots=True)
class RemoteClock:
    """A remote authoritative engine as this one last heard of it (RFC 3414 2.3)."""

    boots: int
    time: int
    at: float  # our ``now`` when ``time`` was received

    def estimate(self, now: float) -> int:
        return min(self.time + max(int(now - self.at), 0), v3.MAX_INT31)


@dataclass(slots=True)
class UsmEngine:
    engine_id: bytes
    boots: int = 1
    #: The ``now`` at which snmpEngineTime was 0 (the engine's start).
    started: float = 0.0
    #: Seed of the privacy salt counter (RFC 3414 8.1.1.1 asks for an arbitrary start).
    salt: int = 0
    users: dict[tuple[bytes, bytes], usm.UsmUser] = field(default_factory=dict)
    remote: dict[bytes, RemoteClock] = field(default_factory=dict)
    stats: dict[UsmStat, int] = field(default_factory=lambda: dict.fromkeys(UsmStat, 0))
    #: Reports not sent because REPORT_RATE was exceeded (the counters still grew).
    reports_suppressed: int = 0
    #: Engines we hold users for, with how many: the unknown-engine check is one lookup.
    _engines: dict[bytes, int] = field(default_factory=dict)
    _report_tokens: float = REPORT_BURST
    _report_at: float | None = None

    def __post_init__(self) -> None:
        if len(self.engine_id) not in usm.ENGINE_ID_SIZES:
            raise usm.UsmKeyError(f"an snmpEngineID has 5 to 32 octets, not {len(self.engine_id)}")

    # -- configuration -------------------------------------------------------
    def add_user(self, user: usm.UsmUser) -> None:
        """Keys for one (engine, user) pair; a user without an engine ID is ours."""
        user = user if user.engine_id else replace(user, engine_id=self.engine_id)
        if (user.engine_id, user.name) not in self.users:
            self._engines[user.engine_id] = self._engines.get(user.engine_id, 0) + 1
        self.users[(user.engine_id, user.name)] = user

    def remove_user(self, engine_id: bytes, name: bytes) -> None:
        """Forget a user (its SA expired or was replaced); an empty engine ID is ours."""
        engine_id = engine_id or self.engine_id
        if self.users.pop((engine_id, name), None) is not None:
            left = self._engines[engine_id] - 1
            if left:
                self._engines[engine_id] = left
            else:
                del self._engines[engine_id]
                if engine_id != self.engine_id:
                    self.remote.pop(engine_id, None)

    def time(self, now: float) -> int:
        """snmpEngineTime: whole seconds since the start, at most 2^31-1."""
        return min(max(int(now - self.started), 0), v3.MAX_INT31)

    def learn(self, engine_id: bytes, boots: int, time: int, now: float) -> None:
        """Take a remote engine's clock as given (a discovery Report, or the KM application data)."""
        self.remote[engine_id] = RemoteClock(boots, time, now)

    # -- incoming ------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> Accepted | Refused:
        """RFC 3414 3.2 for one datagram; SnmpDecodeError when it is not an SNMPv3 message."""
        msg = v3.decode(data)
        sec = msg.security
        ours = sec.engine_id == self.engine_id
        if not msg.authenticated and not msg.reportable and msg.scoped is not None and \
                msg.scoped.pdu.type in (m.PduType.REPORT, m.PduType.RESPONSE):
            # A Report of an engine we do not know yet (discovery) or of a failure: unprotected,
            # so it is accepted as such and its caller decides what it may change.
            return Accepted(msg, msg.scoped, self.users.get((sec.engine_id, sec.user_name)))
        if not ours and sec.engine_id not in self.remote and sec.engine_id not in self._engines:
            return self._refuse(msg, UsmStat.UNKNOWN_ENGINE_IDS, f"engine {sec.engine_id.hex() or 'empty'}",
                                now)
        user = self.users.get((sec.engine_id, sec.user_name))
        if user is None:
            return self._refuse(msg, UsmStat.UNKNOWN_USER_NAMES, f"user {sec.user_name!r}", now)
        auth, priv = user.level
        if (msg.authenticated and not auth) or (msg.private and not priv):
            return self._refuse(msg, UsmStat.UNSUPPORTED_SEC_LEVELS,
                                f"user {sec.user_name!r} has no keys for that level", now)
        learned: RemoteClock | None = None
        if msg.authenticated:
            start = msg.auth_offset
            zeroed = data[:start] + b"\0" * v3.AUTH_PARAMS_LENGTH + data[start + v3.AUTH_PARAMS_LENGTH :]
            if not usm.digest_matches(user.auth, user.auth_key, zeroed, sec.auth_params):
                return self._refuse(msg, UsmStat.WRONG_DIGESTS, f"digest for user {sec.user_name!r}", now)
            stale, learned = self._timely(sec, ours, now)
            if stale:
                return self._refuse(msg, UsmStat.NOT_IN_TIME_WINDOWS, stale, now, user)
        scoped = msg.scoped
        if msg.private:
            assert msg.encrypted is not None
            try:
                plain = usm.decrypt(user.priv, user.priv_key, msg.encrypted, salt=sec.priv_params,
                                    boots=sec.boots, time=sec.time)
                # Without integrity in the cipher a wrong privKey shows only here, as a ScopedPDU
                # that does not parse: it counts as the decryption error it is.
                scoped = v3.decode_scoped(plain, 7 if user.priv is usm.PrivProtocol.DES else 0)
            except (usm.DecryptionError, SnmpDecodeError) as exc:
                return self._refuse(msg, UsmStat.DECRYPTION_ERRORS, str(exc), now, user)
        assert scoped is not None
        if not ours and scoped.pdu.type not in (m.PduType.RESPONSE, m.PduType.REPORT, m.PduType.TRAP_V2):
            # A confirmed-class PDU is only for its authoritative engine (RFC 3414 4): keys we hold
            # for a remote engine answer that engine's Responses, they do not make us it.
            return self._refuse(msg, UsmStat.UNKNOWN_ENGINE_IDS, f"engine {sec.engine_id.hex()} is not ours",
                                now)
        if learned is not None:
            self.remote[sec.engine_id] = learned  # only from a message that passed every check
        return Accepted(msg, scoped, user)

    def _timely(self, sec: v3.SecurityParameters, ours: bool, now: float) -> tuple[str, RemoteClock | None]:
        """RFC 3414 3.2 step 7 -> ('' when in time, else why not; a later clock of the
        remote authoritative engine to remember once the message passed, step 7b)."""
        if ours:
            mine = self.time(now)
            if self.boots == MAX_BOOTS or sec.boots != self.boots or abs(sec.time - mine) > TIME_WINDOW:
                return f"boots/time {sec.boots}/{sec.time}, ours {self.boots}/{mine}", None
            return "", None
        learned = None
        clock = self.remote.get(sec.engine_id)
        if clock is None or sec.boots > clock.boots or (sec.boots == clock.boots and sec.time > clock.estimate(now)):
            clock = learned = RemoteClock(sec.boots, sec.time, now)
        if sec.boots == MAX_BOOTS or sec.boots < clock.boots or \
                (sec.boots == clock.boots and sec.time < clock.estimate(now) - TIME_WINDOW):
            return f"boots/time {sec.boots}/{sec.time}, known {clock.boots}/{clock.estimate(now)}", None
        return "", learned

    def _refuse(self, msg: v3.V3Message, stat: UsmStat, detail: str, now: float,
                user: usm.UsmUser | None = None) -> Refused:
        self.stats[stat] += 1
        if not msg.reportable:
            return Refused(stat, detail)
        if not self._may_report(now):
            self.reports_suppressed += 1
            return Refused(stat, detail)
        # RFC 3412 7.1.3: the Report keeps the msgID, and the request-id when it could be read.
        request_id = msg.scoped.pdu.request_id if msg.scoped is not None else 0
        report = m.Pdu(m.PduType.REPORT, request_id, (VarBind(stat.oid, COUNTER32, self.stats[stat]),))
        # RFC 3414 3.2 step 7a: notInTimeWindows goes back authenticated, so that the sender
        # may trust the boots and time it carries; every other Report is noAuthNoPriv.
        signer = user if stat is UsmStat.NOT_IN_TIME_WINDOWS and user is not None else None
        name = msg.security.user_name
        scoped = v3.ScopedPdu(self.engine_id, msg.scoped.context_name if msg.scoped else b"", report)
        return Refused(stat, detail, self._encode(msg.msg_id, scoped, signer, name, self.engine_id,
                                                 self.boots, self.time(now), reportable=False, private=False))

    def _may_report(self, now: float) -> bool:
        """A token bucket of REPORT_RATE per second, REPORT_BURST deep."""
        if self._report_at is not None:
            self._report_tokens = min(REPORT_BURST, self._report_tokens + max(now - self._report_at, 0.0) * REPORT_RATE)
        self._report_at = now
        if self._report_tokens < 1.0:
            return False
        self._report_tokens -= 1.0
        return True

    # -- outgoing ------------------------------------------------------------
    def encode_request(self, pdu: m.Pdu, user: usm.UsmUser, msg_id: int, now: float, *,
                       private: bool | None = None, context_name: bytes = b"") -> bytes:
        """A request (GET, SET, INFORM...) to ``user.engine_id``'s engine, at the user's
        highest level unless ``private`` says otherwise. Our own engine's clock is
        used when the user is ours; a remote one's as last learned (0/0 if never)."""
        auth, priv = user.level
        if user.engine_id == self.engine_id:
            boots, time = self.boots, self.time(now)
        else:
            clock = self.remote.get(user.engine_id)
            boots, time = (clock.boots, clock.estimate(now)) if clock else (0, 0)
        scoped = v3.ScopedPdu(user.engine_id, context_name, pdu)
        confirmed = pdu.type not in (m.PduType.RESPONSE, m.PduType.REPORT, m.PduType.TRAP_V2)
        return self._encode(msg_id, scoped, user if auth else None, user.name, user.engine_id, boots, time,
                            reportable=confirmed, private=priv if private is None else private and priv)

    def encode_response(self, request: Accepted, pdu: m.Pdu, now: float) -> bytes:
        """The Response to an accepted request, at the request's level, from this
        (authoritative) engine; tooBig when it would exceed the request's msgMaxSize."""
        sec = request.message.security
        signer = request.user if request.message.authenticated else None
        args = (sec.user_name, sec.engine_id, self.boots, self.time(now))
        data = self._encode(request.message.msg_id, replace(request.scoped, pdu=pdu), signer, *args,
                            reportable=False, private=request.message.private)
        if len(data) > request.message.max_size:
            # RFC 3416 4.2.1: an answer larger than the requester takes is tooBig, without varbinds.
            too_big = m.Pdu(m.PduType.RESPONSE, pdu.request_id, (), m.ErrorStatus.TOO_BIG, 0)
            data = self._encode(request.message.msg_id, replace(request.scoped, pdu=too_big), signer, *args,
                                reportable=False, private=request.message.private)
        return data

    def discovery_probe(self, msg_id: int, request_id: int) -> bytes:
        """RFC 3414 4: a noAuthNoPriv, reportable GET with no engine ID, no user and no
        varbinds; the answer is a usmStatsUnknownEngineIDs Report from the engine."""
        scoped = v3.ScopedPdu(b"", b"", m.Pdu(m.PduType.GET, request_id))
        return self._encode(msg_id, scoped, None, b"", b"", 0, 0, reportable=True, private=False)

    def _encode(self, msg_id: int, scoped: v3.ScopedPdu, signer: usm.UsmUser | None, user_name: bytes,
                engine_id: bytes, boots: int, time: int, *, reportable: bool, private: bool) -> bytes:
        flags = (v3.FLAG_REPORTABLE if reportable else 0) | (v3.FLAG_AUTH if signer else 0)
        priv_params, data = b"", None
        if private and signer is not None and signer.priv is not usm.PrivProtocol.NONE:
            flags |= v3.FLAG_PRIV
            self.salt = (self.salt + 1) & (2**64 - 1)
            # RFC 3414 8.1.1.1: DES salt = our snmpEngineBoots || a 32-bit counter; RFC 3826
            # 3.1.2.1: the AES salt is a 64-bit counter.
            priv_params = (self.boots.to_bytes(4, "big") + (self.salt & 0xFFFFFFFF).to_bytes(4, "big")
                           if signer.priv is usm.PrivProtocol.DES else self.salt.to_bytes(8, "big"))
            cipher = usm.encrypt(signer.priv, signer.priv_key, v3.encode_scoped(scoped), salt=priv_params,
                                 boots=boots, time=time)
            data = ber.tlv(ber.OCTET_STRING, cipher)
        sec = v3.SecurityParameters(engine_id, boots, time, user_name, b"", priv_params)
        msg = v3.V3Message(msg_id, MAX_MESSAGE, flags, sec, scoped)
        whole, offset = v3.encode(msg, data)
        if signer is None:
            return whole
        digest = usm.sign(signer.auth, signer.auth_key, whole)
        return whole[:offset] + digest + whole[offset + v3.AUTH_PARAMS_LENGTH :]


def report_stat(pdu: m.Pdu) -> UsmStat | None:
    """The usmStats counter a Report names (None: another Report, e.g. snmpUnknownPDUHandlers)."""
    if pdu.type is not m.PduType.REPORT or not pdu.varbinds:
        return None
    return UsmStat.from_oid(pdu.varbinds[0].oid)
