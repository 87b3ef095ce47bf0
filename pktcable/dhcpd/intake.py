"""The bounded, prioritised intake between the socket reader and the DHCP core (sans-IO).

In a boot storm (a node comes back and thousands of modems DISCOVER at once)
the server gets more datagrams than it can answer. Which ones it answers is a
choice, made here, not left to the kernel's socket queue (first come, first
served, dropped at the tail when full):

* An exchange in progress is worth more than a new one: a REQUEST for an OFFER
  we made completes a lease we already paid half of, and a RENEWING/REBINDING
  REQUEST keeps a working device online. Those go first (:attr:`Priority.BOUND`).
* Then what is neither in progress nor new: INIT-REBOOT, INFORM, RELEASE,
  DECLINE, a REQUEST naming another server (:attr:`Priority.OTHER`).
* New exchanges last (:attr:`Priority.NEW`: DISCOVER, and datagrams whose type
  cannot be read cheaply; the core refuses most of those anyway).

New DISCOVERs are admitted at the capacity the intake measures (datagrams the
core took per second while there was a backlog): one that would wait longer
than ``max_wait`` before its turn is shed on arrival, and one that has waited
that long anyway (the capacity dropped) is shed when its turn comes. Its client
retransmits (RFC 2131 §4.1: after about 4 s), by which time the exchanges the
server did answer are done. When the queue is full, a datagram of a higher
priority takes the place of the newest one of the lowest priority queued: the
oldest exchanges stay, the newest DISCOVERs go first. A REQUEST for our OFFER
is shed only when the whole queue holds such REQUESTs.

Classification reads two options from the raw bytes (no decode): 53 and 54. A
sender can lie about them; that buys it a place in a bounded queue and the core
still checks everything (a REQUEST for an offer that does not exist gets a NAK).

:class:`Intake` takes datagrams and times and returns decisions; the transport
feeds it from the socket and the core from it.
"""

from __future__ import annotations

from collections import Counter, deque
from enum import IntEnum

#: Datagrams the intake holds at most (all priorities). At ~600 octets each, about 2.5 MB.
INTAKE_LIMIT = 4096
#: Seconds a DISCOVER may wait for its turn. A client gives an OFFER a few seconds (RFC 2131
#: §4.1 retransmits after 4 s), but one that waited this long means the server is behind, and
#: a queue that holds more than this much work makes every OFFER late: the client's REQUEST
#: then comes after its own timer (or a test tool's 1 s) gave up.
DISCOVER_MAX_WAIT = 0.5
#: Up to this many datagrams waiting are served in arrival order: no backlog to speak of.
IN_ORDER = 128
#: Weight of the newest measurement in the capacity estimate (exponential moving average).
_SMOOTHING = 0.2

#: The fixed BOOTP header and the magic cookie (RFC 2131 §2, §3).
_OPTIONS_AT = 240
_COOKIE = b"\x63\x82\x53\x63"
_CIADDR = slice(12, 16)
_ZERO = bytes(4)
_DISCOVER, _REQUEST = 1, 3


class Priority(IntEnum):
    """Lower is served first."""

    BOUND = 0
    OTHER = 1
    NEW = 2


#: Metric label of each priority (``pktcable_dhcp_intake_queued{priority}``).
PRIORITY_NAMES = {Priority.BOUND: "bound", Priority.OTHER: "other", Priority.NEW: "new"}


def classify(data: bytes, server_id: bytes) -> Priority:
    """The priority of a raw datagram for a server whose identifier (option 54) is ``server_id``."""
    if len(data) <= _OPTIONS_AT or data[236:_OPTIONS_AT] != _COOKIE:
        return Priority.NEW
    kind = sid = None
    pos, stop = _OPTIONS_AT, len(data)
    while pos < stop:
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255 or pos + 1 >= stop:
            break
        end = pos + 2 + data[pos + 1]
        if code == 53 and end == pos + 3 and end <= stop:
            kind = data[pos + 2]
        elif code == 54:
            sid = data[pos + 2:end]
        if kind is not None and (sid is not None or kind != _REQUEST):
            break  # option 54 matters for a REQUEST only
        pos = end
    if kind == _DISCOVER or kind is None:
        return Priority.NEW
    if kind == _REQUEST:
        if sid is not None:  # SELECTING: our OFFER, or another server's
            return Priority.BOUND if sid == server_id else Priority.OTHER
        if data[_CIADDR] != _ZERO:  # RENEWING or REBINDING
            return Priority.BOUND
    return Priority.OTHER if 2 <= kind <= 18 else Priority.NEW


class Intake:
    """Queues by priority, bounded to ``limit`` datagrams, with DISCOVERs admitted at capacity.

    ``push`` a datagram as it arrives, ``take`` the next ones to serve. Every shed
    datagram is counted in :attr:`shed` under a fixed word: ``<priority>-full``
    (no room), ``new-over-capacity`` (it would wait longer than ``max_wait``),
    ``new-stale`` (it did wait that long)."""

    def __init__(self, server_id: bytes, limit: int = INTAKE_LIMIT, max_wait: float = DISCOVER_MAX_WAIT,
                 drops: Counter[str] | None = None) -> None:
        self.server_id, self.limit, self.max_wait = server_id, limit, max_wait
        #: Where else each shed datagram is counted, as ``shed-<reason>`` (the core's drops).
        self.drops = drops
        #: One FIFO per priority of (arrival number, arrival time, datagram, source address).
        self.queues: tuple[deque[tuple[int, float, bytes, tuple[str, int]]], ...] = tuple(
            deque() for _ in Priority)
        self.shed: Counter[str] = Counter()
        #: Datagrams per second the core was measured to take while there was a backlog; None until then.
        self.capacity: float | None = None
        self._size = 0
        self._last_take: float | None = None
        self._taken = 0
        self._arrivals = 0
        self._work = self._spent = 0.0

    def __len__(self) -> int:
        return self._size

    def depth(self, priority: Priority) -> int:
        return len(self.queues[priority])

    def push(self, data: bytes, addr: tuple[str, int], now: float) -> str | None:
        """Queue a datagram; returns None, or the reason a datagram (this one or a newer one of a
        lower priority, to make room) was shed."""
        priority = classify(data, self.server_id)
        if priority is Priority.NEW and self.capacity is not None and \
                self._size >= self.capacity * self.max_wait:
            return self._count("new-over-capacity")
        if self._size >= self.limit:
            lowest = next((p for p in reversed(Priority) if p > priority and self.queues[p]), None)
            if lowest is None:
                return self._count(f"{PRIORITY_NAMES[priority]}-full")
            self.queues[lowest].pop()  # the newest of the lowest priority queued
            self._size -= 1
            reason: str | None = self._count(f"{PRIORITY_NAMES[lowest]}-full")
        else:
            reason = None
        self._arrivals += 1
        self.queues[priority].append((self._arrivals, now, data, addr))
        self._size += 1
        return reason

    def take(self, now: float, count: int) -> list[tuple[bytes, tuple[str, int]]]:
        """Up to ``count`` datagrams to serve now, highest priority and oldest first; DISCOVERs
        that waited longer than ``max_wait`` are shed on the way. Call it once per round of
        serving: the time between calls while a backlog remains measures the capacity."""
        if self._last_take is not None and now > self._last_take:
            # Averages of the datagrams and of the seconds per round, then their ratio: an average
            # of per-round rates would let a few quick rounds (the process had the CPU to itself)
            # outweigh the slow ones, and overestimate.
            spent = now - self._last_take
            if self.capacity is None:
                self._work, self._spent = float(self._taken), spent
            else:
                self._work += _SMOOTHING * (self._taken - self._work)
                self._spent += _SMOOTHING * (spent - self._spent)
            self.capacity = self._work / self._spent
        horizon = now - self.max_wait
        if self._size <= min(count, IN_ORDER):
            # No backlog to speak of: arrival order, so that a client's DISCOVER is served
            # before a REQUEST sent right behind it.
            new = self.queues[Priority.NEW]
            fresh = [item for item in new if item[1] >= horizon]
            if len(fresh) < len(new):
                self._count("new-stale", len(new) - len(fresh))
                new.clear()
                new.extend(fresh)
            items = sorted(item for queue in self.queues for item in queue)
            for queue in self.queues:
                queue.clear()
            self._size = 0
            out = [(data, addr) for _, _, data, addr in items]
        else:
            out = []
            for priority in Priority:
                queue = self.queues[priority]
                while queue and len(out) < count:
                    _, arrived, data, addr = queue.popleft()
                    self._size -= 1
                    if priority is Priority.NEW and arrived < horizon:
                        self._count("new-stale")
                        continue
                    out.append((data, addr))
        # Only a round that leaves a backlog measures capacity: an idle server's rate is its load.
        self._last_take, self._taken = (now, len(out)) if self._size else (None, 0)
        return out

    def _count(self, reason: str, n: int = 1) -> str:
        self.shed[reason] += n
        if self.drops is not None:
            self.drops["shed-" + reason] += n
        return reason
