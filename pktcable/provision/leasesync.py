"""Waiting for the DHCP worker's lease records, in shared rounds and bounded.

With the lease table in a worker process (``dhcp_workers = 1``) the back office
sees a lease when the worker's record of it arrives, and an eMTA's INFORM can
overtake the record of the ACK it just got. Such an INFORM waits for a sync
round (the worker answers a SYNC request after every record it wrote before
it) and is judged again. Any host on the cable network can send datagrams that
fail the lease check, so that wait must not cost a SYNC request, a task and a
worker round trip per datagram: waiters share rounds (one SYNC request in
flight, the next one for everyone who came while it was out) and at most
``max_waiting`` wait at once; the caller drops what finds the room full, as if
lost on the way, and the eMTA re-sends it after its INFORM timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("pktcable.provision")

#: Datagrams waiting for a round at once: a boot storm's overtaking INFORMs are a few per
#: round; more than this is someone sending from addresses that hold no lease.
MAX_WAITING = 256


class LeaseSync:
    def __init__(self, sync: Callable[[], Awaitable[None]], max_waiting: int = MAX_WAITING) -> None:
        if max_waiting < 1:
            raise ValueError(f"max_waiting must be at least 1, not {max_waiting}")
        self.sync = sync
        self.max_waiting = max_waiting
        #: Waiters for the round not yet started, and how many wait in all (this one and the running one).
        self._next: list[asyncio.Future[None]] = []
        self.waiting = 0
        self._rounds: asyncio.Task[None] | None = None
        #: SYNC rounds run, and waits refused because ``max_waiting`` were waiting.
        self.rounds = 0
        self.refused = 0

    def join(self) -> asyncio.Future[None] | None:
        """A future done after a whole round that starts after this call (so every lease
        record written before now is in), or None when the room is full."""
        if self.waiting >= self.max_waiting:
            self.refused += 1
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._next.append(waiter)
        self.waiting += 1
        if self._rounds is None or self._rounds.done():
            self._rounds = asyncio.ensure_future(self._run())
        return waiter

    async def _run(self) -> None:
        # A round serves those who joined before its SYNC request left; whoever joins
        # meanwhile waits for the next (a request already out may be answered before
        # their lease record was written).
        while self._next:
            waiters, self._next = self._next, []
            try:
                await self.sync()
            except Exception:  # the waiters are judged on the lease table as it is
                log.exception("waiting for the DHCP worker's lease records failed")
            finally:
                self.rounds += 1
                self.waiting -= len(waiters)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
