"""Who may send to the SNMP provisioning entity at all, decided per datagram from
its source address before anything is decoded (sans-IO: the clock is passed in).

Decoding an INFORM and checking it costs some 100 microseconds of Python; a
lookup costs a few. So the endpoint asks this screen first (``SnmpEndpoint.screen``):

- a source the DHCP server leases to no device is dropped undecoded: nothing it
  says can pass the entity's lease check, and a community is not accepted from
  an address it is not meant for (RFC 3584 section 5.2.1, the transport tag of a
  community: an authentication failure, so no Response);
- a source that holds a lease but keeps sending INFORMs the entity rejects (MACs
  not its own, a wrong community) has a budget of them: ``burst`` at once,
  refilled at ``rate`` per second. Once spent, its datagrams are dropped
  undecoded until the budget refills. A real eMTA sends two INFORMs per boot, and
  the retransmissions of each; none of them is rejected, so the budget never
  touches it. The table of sources is bounded (the least recently charged is
  forgotten first), so a sweep of sources costs fixed memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: Rejected INFORMs a leased source may send at once, and how many more per second.
DEFAULT_BURST = 20
DEFAULT_RATE = 1.0
#: Sources whose budget is remembered at once.
DEFAULT_MAX_SOURCES = 4096


@dataclass(slots=True)
class _Budget:
    tokens: float
    at: float


class RejectBudget:
    """Per-source budget of rejected INFORMs (a token bucket each)."""

    def __init__(self, *, burst: int = DEFAULT_BURST, rate: float = DEFAULT_RATE,
                 max_sources: int = DEFAULT_MAX_SOURCES) -> None:
        if burst < 1 or rate <= 0 or max_sources < 1:
            raise ValueError("burst and max_sources must be at least 1, rate positive")
        self.burst, self.rate, self.max_sources = burst, rate, max_sources
        self._sources: OrderedDict[str, _Budget] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sources)

    def _refilled(self, budget: _Budget, now: float) -> float:
        # A clock stepping back adds nothing.
        return min(float(self.burst), budget.tokens + max(0.0, now - budget.at) * self.rate)

    def spent(self, source: str, now: float) -> bool:
        """Whether ``source`` has used up its budget (its datagrams are dropped undecoded)."""
        budget = self._sources.get(source)
        return budget is not None and self._refilled(budget, now) < 1.0

    def charge(self, source: str, now: float) -> None:
        """``source`` sent an INFORM that was rejected."""
        budget = self._sources.get(source)
        if budget is None:
            if len(self._sources) >= self.max_sources:
                self._sources.popitem(last=False)
            budget = self._sources[source] = _Budget(float(self.burst), now)
        else:
            self._sources.move_to_end(source)
        budget.tokens, budget.at = max(0.0, self._refilled(budget, now) - 1.0), max(budget.at, now)


#: Why the screen dropped a datagram: its source holds no lease, or spent its budget.
UNLEASED, OVER_BUDGET = "unleased-source", "source-over-budget"
Address = tuple[str, int]


class SourceScreen:
    """The endpoint's screen. ``address_leased``: whether the DHCP server leases an
    address (text) to a device now; ``wait``: given a source address not leased in
    memory, an awaitable done after a shared round that may have learned its lease (a
    DHCP worker's lease records, or the shared lease table of several nodes), or None
    when there is nothing to wait for or no room to wait; ``reject``: counts and logs a
    drop (reason, source, detail)."""

    def __init__(self, address_leased: Callable[[str], bool], budget: RejectBudget, clock: Callable[[], float],
                 reject: Callable[[str, str, str], None],
                 wait: Callable[[str], Awaitable[None] | None]) -> None:
        self.address_leased = address_leased
        self.budget = budget
        self.clock = clock
        self.reject = reject
        self.wait = wait

    def verdict(self, source: str) -> str | None:
        """None when a datagram from ``source`` is to be decoded; else why not (UNLEASED, OVER_BUDGET)."""
        if not self.address_leased(source):
            return UNLEASED
        if self.budget.spent(source, self.clock()):
            return OVER_BUDGET
        return None

    def __call__(self, addr: Address) -> bool | Awaitable[bool]:
        """Whether a datagram from ``addr`` is decoded. One from an address without a lease
        waits, undecoded, for a round when that lease may be on its way (a DHCP worker's
        record of it, or another node's binding in the shared table) and the bounded room
        has space, then is judged again."""
        source = addr[0]
        why = self.verdict(source)
        if why is None:
            return True
        waiter = self.wait(source) if why == UNLEASED else None
        if waiter is not None:
            return self._after(waiter, source)
        self.reject(why, source, "dropped undecoded")
        return False

    async def _after(self, waiter: Awaitable[None], source: str) -> bool:
        await waiter
        why = self.verdict(source)
        if why is None:
            return True
        self.reject(why, source, "dropped undecoded")
        return False
