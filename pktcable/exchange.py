"""One request/retry core for every client exchange over a datagram transport.

A request goes out, a timer runs, the same datagram goes out again after each
wait of a backoff schedule, and the first response that carries the request's
id and passes the caller's check ends the exchange; when the last wait runs
out, the exchange has timed out. The SNMP requester and the simulator's DHCP
relay, TFTP client and ToD client all run on it (and so can a KM exchange
over UDP).

Sans-IO, like the DHCP and TFTP cores: time, ids and the random source come in
as arguments, and every call returns the actions the caller must carry out
(:class:`Send` a datagram, :class:`Answered`, :class:`TimedOut`). An asyncio
adapter is pktcable.exchange_aio.
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

#: RFC 2131 4.1: the first retransmission waits 4 s, each next one twice as long
#: up to 64 s (16 times the first), each randomized by +-1 s (a quarter of the first).
RFC2131_BASE = 4.0
RFC2131_CAP = 16
RFC2131_JITTER = 0.25
#: How many finished exchanges are remembered, so that a late or duplicate
#: response is told apart from one nobody asked for. A bound, not a cache to
#: grow: the oldest are forgotten first.
REMEMBER_FINISHED = 1024


class ExchangeError(Exception):
    """A request the core refuses to start (the caller's bug, never a peer's)."""


class Backoff(Protocol):
    def waits(self, rng: random.Random) -> tuple[float, ...]:
        """How long to wait for a response after each transmission: one
        entry per transmission, the first for the original."""
        ...


@dataclass(frozen=True, slots=True)
class FixedBackoff:
    """The same wait after every transmission: SNMP's ``timeout`` x (``retries`` + 1)."""

    timeout: float
    retries: int

    def waits(self, rng: random.Random | None = None) -> tuple[float, ...]:
        return (max(self.timeout, 0.0),) * (max(self.retries, 0) + 1)


@dataclass(frozen=True, slots=True)
class DoublingBackoff:
    """RFC 2131 4.1 with its shape kept when ``base`` is scaled: each wait twice
    the one before, at most ``cap`` bases, each moved by up to ``jitter`` bases
    either way (drawn from the injected ``rng``: reproducible per seed)."""

    base: float = RFC2131_BASE
    retries: int = 4
    cap: float = RFC2131_CAP
    jitter: float = RFC2131_JITTER

    def waits(self, rng: random.Random) -> tuple[float, ...]:
        spread = self.base * self.jitter
        return tuple(max(min(self.base * 2**n, self.base * self.cap) + rng.uniform(-spread, spread), 0.0)
                     for n in range(max(self.retries, 0) + 1))


class Verdict(Enum):
    """What became of one response handed to :meth:`Exchanges.receive`."""

    MATCHED = "matched"  # it answered an exchange in progress
    REFUSED = "refused"  # right id, but the caller's check said no (wrong peer, wrong kind)
    DUPLICATE = "duplicate"  # its exchange was answered already
    LATE = "late"  # its exchange had timed out or was cancelled
    UNKNOWN = "unknown"  # no exchange with that id (never, or too long ago)


@dataclass(frozen=True, slots=True)
class Send(Generic[K]):
    key: K
    datagram: bytes
    dest: object
    attempt: int  # 0 for the original, n for the n-th retransmission


@dataclass(frozen=True, slots=True)
class Answered(Generic[K, R]):
    key: K
    response: R
    attempts: int  # transmissions made


@dataclass(frozen=True, slots=True)
class TimedOut(Generic[K]):
    key: K
    attempts: int


Action = Send[K] | Answered[K, R] | TimedOut[K]


@dataclass(slots=True)
class ExchangeStats:
    started: int = 0
    sent: int = 0
    retransmissions: int = 0
    matched: int = 0
    refused: int = 0
    duplicates: int = 0
    late: int = 0
    unknown: int = 0
    timeouts: int = 0
    cancelled: int = 0


@dataclass(slots=True)
class _Pending(Generic[R]):
    datagram: bytes
    dest: object
    waits: tuple[float, ...]
    accept: Callable[[R], bool] | None
    attempt: int = 0
    deadline: float = 0.0


@dataclass(slots=True)
class Exchanges(Generic[K, R]):
    """The exchanges in progress, keyed by the id their responses carry (an
    SNMP request-id, a DHCP xid with the client's MAC, a TFTP block)."""

    remember: int = REMEMBER_FINISHED
    stats: ExchangeStats = field(default_factory=ExchangeStats)
    _pending: dict[K, _Pending[R]] = field(default_factory=dict)
    #: key -> True when it was answered, False when it timed out or was cancelled.
    _finished: OrderedDict[K, bool] = field(default_factory=OrderedDict)
    #: (deadline, attempt, seq, key): entries of an attempt already past are skipped when popped.
    _timers: list[tuple[float, int, int, K]] = field(default_factory=list)
    _seq: int = 0

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def start(self, key: K, datagram: bytes, dest: object, waits: Sequence[float], now: float,
              accept: Callable[[R], bool] | None = None) -> list[Action[K, R]]:
        """Begin an exchange: its first :class:`Send`. ``accept`` sees each
        response with ``key`` and says whether it is the answer."""
        if key in self._pending:
            raise ExchangeError(f"an exchange with id {key!r} is in progress")
        if not waits:
            raise ExchangeError("a backoff schedule needs at least one wait")
        # A new exchange may reuse a finished one's id (a DHCPREQUEST keeps its OFFER's xid).
        self._finished.pop(key, None)
        pending = _Pending(datagram, dest, tuple(max(w, 0.0) for w in waits), accept)
        self._pending[key] = pending
        self.stats.started += 1
        return [self._transmit(key, pending, now)]

    def receive(self, key: K, response: R, now: float) -> tuple[Verdict, list[Action[K, R]]]:
        pending = self._pending.get(key)
        if pending is None:
            answered = self._finished.get(key)
            verdict = Verdict.UNKNOWN if answered is None else Verdict.DUPLICATE if answered else Verdict.LATE
            self._count(verdict)
            return verdict, []
        if pending.accept is not None and not pending.accept(response):
            self._count(Verdict.REFUSED)
            return Verdict.REFUSED, []
        self._finish(key, answered=True)
        self._count(Verdict.MATCHED)
        return Verdict.MATCHED, [Answered(key, response, pending.attempt + 1)]

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do; None: nothing waits."""
        while self._timers:
            deadline, attempt, _, key = self._timers[0]
            pending = self._pending.get(key)
            if pending is not None and pending.attempt == attempt:
                return deadline
            heapq.heappop(self._timers)  # answered, cancelled or already retransmitted
        return None

    def handle_timer(self, now: float) -> list[Action[K, R]]:
        """Retransmit what waited long enough, time out what has no wait left."""
        actions: list[Action[K, R]] = []
        while (deadline := self.next_timer()) is not None and deadline <= now:
            _, _, _, key = heapq.heappop(self._timers)
            pending = self._pending[key]
            if pending.attempt + 1 < len(pending.waits):
                pending.attempt += 1
                self.stats.retransmissions += 1
                actions.append(self._transmit(key, pending, now))
            else:
                self._finish(key, answered=False)
                self.stats.timeouts += 1
                actions.append(TimedOut(key, pending.attempt + 1))
        return actions

    def cancel(self, key: K) -> None:
        """Give up an exchange (its caller went away); a response to it later is late."""
        if key in self._pending:
            self._finish(key, answered=False)
            self.stats.cancelled += 1

    def _transmit(self, key: K, pending: _Pending[R], now: float) -> Send[K]:
        pending.deadline = now + pending.waits[pending.attempt]
        self._seq += 1
        heapq.heappush(self._timers, (pending.deadline, pending.attempt, self._seq, key))
        self.stats.sent += 1
        return Send(key, pending.datagram, pending.dest, pending.attempt)

    def _finish(self, key: K, *, answered: bool) -> None:
        del self._pending[key]
        self._finished[key] = answered
        while len(self._finished) > self.remember:
            self._finished.popitem(last=False)
        # Stale heap entries go when popped; keep the heap from outgrowing the work in progress.
        if len(self._timers) > 4 * len(self._pending) + 64:
            self._timers = [t for t in self._timers if t[3] in self._pending and self._pending[t[3]].attempt == t[1]]
            heapq.heapify(self._timers)

    def _count(self, verdict: Verdict) -> None:
        if verdict is Verdict.MATCHED:
            self.stats.matched += 1
        elif verdict is Verdict.REFUSED:
            self.stats.refused += 1
        elif verdict is Verdict.DUPLICATE:
            self.stats.duplicates += 1
        elif verdict is Verdict.LATE:
            self.stats.late += 1
        else:
            self.stats.unknown += 1
