"""Waiting for the shared lease table: the leases other serve nodes bound.

Several serve nodes on one PostgreSQL lease table answer behind one service
address, so an eMTA's INFORM (its final status, or an enrollment after the node
that leased it died) can reach a node whose memory does not hold that lease.
Such a datagram waits, undecoded, for a round of the shared table, and is
judged again. Like the DHCP worker's sync rounds (:mod:`.leasesync`, which runs
them), the wait is shared and bounded, because any host on the cable network
can send from an address nobody leased:

- one query per round, for every source address that joined before it left
  (the unexpired bindings holding them, found by the table's primary key);
  whoever joins meanwhile waits for the next round;
- at most ``max_waiting`` datagrams wait at once, the rest are dropped unanswered
  (an eMTA re-sends its INFORM after its timeout);
- a source the table did not lease is remembered as such for ``negative_ttl``
  seconds (at most ``max_negative`` sources, the oldest forgotten first), and its
  datagrams are dropped without waiting meanwhile: a flood from an unleased
  address costs one query, then nothing until the memory of it lapses.

Sans-IO apart from the round itself: the clock is passed in, and ``lookup``
(the back office's) asks the table and puts what it found in the node's lease
memory, so the next datagram from that source passes without a round.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from .leasesync import MAX_WAITING, LeaseSync

log = logging.getLogger("pktcable.provision")

#: Seconds a source the shared table did not lease is refused without a round. Short: a
#: lease another node binds meanwhile is found this much later (the eMTA re-sends anyway).
NEGATIVE_TTL = 2.0
#: Sources remembered as unleased at once (a sweep of sources costs fixed memory).
MAX_NEGATIVE = 4096

#: Given the source addresses of a round, learns the bindings holding them; returns the
#: addresses it found bound.
Lookup = Callable[[list[str]], Awaitable[set[str]]]


class SharedLeaseRounds:
    def __init__(self, lookup: Lookup, clock: Callable[[], float], *, max_waiting: int = MAX_WAITING,
                 negative_ttl: float = NEGATIVE_TTL, max_negative: int = MAX_NEGATIVE) -> None:
        if negative_ttl < 0 or max_negative < 1:
            raise ValueError("negative_ttl must not be negative, max_negative at least 1")
        self.lookup, self.clock = lookup, clock
        self.negative_ttl, self.max_negative = negative_ttl, max_negative
        self.rounds = LeaseSync(self._round, max_waiting)
        #: Sources of the datagrams waiting for the round not yet started.
        self._wanted: set[str] = set()
        #: Source -> until when it is known unleased (oldest first).
        self._unleased: OrderedDict[str, float] = OrderedDict()
        #: Queries sent, bindings learned, and datagrams refused because their source was known unleased.
        self.queries = 0
        self.learned = 0
        self.known_unleased = 0

    def join(self, source: str) -> asyncio.Future[None] | None:
        """A future done once a round that starts after this call has asked the shared table
        about ``source``; None when the datagram is not to wait (its source was found
        unleased a moment ago, or the room is full)."""
        until = self._unleased.get(source)
        if until is not None:
            if until > self.clock():
                self.known_unleased += 1
                return None
            del self._unleased[source]
        waiter = self.rounds.join()
        if waiter is not None:
            self._wanted.add(source)
        return waiter

    @property
    def refused(self) -> int:
        """Waits refused because the room was full."""
        return self.rounds.refused

    async def _round(self) -> None:
        # Taken in the same step as LeaseSync takes this round's waiters: a source joining
        # while the query is out is asked about in the next round.
        wanted, self._wanted = sorted(self._wanted), set()
        if not wanted:
            return
        self.queries += 1
        try:
            found = await self.lookup(wanted)
        except Exception:  # the database is away: judged on memory as it is, asked again next time
            log.exception("asking the shared lease table about %d source addresses failed", len(wanted))
            return
        self.learned += len(found)
        until = self.clock() + self.negative_ttl
        for source in wanted:
            if source in found:
                self._unleased.pop(source, None)
                continue
            self._unleased[source] = until
            self._unleased.move_to_end(source)
            if len(self._unleased) > self.max_negative:
                self._unleased.popitem(last=False)


__all__ = ["MAX_NEGATIVE", "NEGATIVE_TTL", "Lookup", "SharedLeaseRounds"]
