"""The lease engine: which address a client gets, and the lease table.

Rules that keep an address with one client at a time (RFC 2131 §4.3.1):
an address is handed out only if nobody else holds an unexpired lease on it,
nobody else has an unexpired offer on it, it is not reserved for another MAC
and it is not in decline quarantine. Allocation is deterministic: the client's
previous address, then the address it asks for, then the next never-used
address of the first eligible pool, then the free address whose lease ended
longest ago. No clock and no randomness: the caller passes ``now``.

Servers sharing one lease table each walk every pool from a point of their own (``walk_seed``,
from the node's id), so they rarely offer the same address at the same moment; a binding
the table refuses on a stretch this server is walking means another server walks it too, and
the walk leaps to the middle of the largest stretch not walked yet (the rest is walked later).
A lone server (seed 0) walks each pool from its first address up, as it always did.

An offer that is never taken up costs nothing: when its hold lapses, when the
client REQUESTs another server's offer, or when a new offer replaces it, an
address that never became a lease goes back to the never-used addresses (the
scan cursor has passed it, so it is kept in :attr:`LeaseEngine.returned`).
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address

from pktcable.store import Lease, LeaseState, LeaseStore

from .config import Pool

#: Stale entries the expiry heap and the offer queue may carry beyond twice the live ones
#: before they are rebuilt (amortised O(1) per entry).
SLACK = 1024


def mac_key(mac: str) -> str:
    """"00:11:22:AA:bb:cc" -> "001122aabbcc" (the form the device store keys by)."""
    return mac.replace(":", "").replace("-", "").lower()


@dataclass(slots=True)
class Walk:
    """A pool's never-scanned addresses: ranges ``[next, last]`` (ints), walked in order."""

    pool: Pool  # held, so the id() the walks are keyed by stays this pool's
    ranges: list[list[int]]
    #: Where the current run began: a refused binding in ``[run, ranges[0][0])`` is another
    #: server walking the same stretch right behind or ahead of this one.
    run: int

    @classmethod
    def of(cls, pool: Pool, seed: int) -> Walk:
        first, last = int(pool.start), int(pool.end)
        origin = first + seed % (last - first + 1)
        ranges = [[origin, last]] + ([[first, origin - 1]] if origin > first else [])
        return cls(pool, ranges, origin)

    def leap(self) -> None:
        """Go on from the middle of the largest stretch not walked yet; its first half is walked
        after the others. Another server's walk, caught up with, is left behind at once."""
        widest = max(range(len(self.ranges)), key=lambda i: self.ranges[i][1] - self.ranges[i][0])
        low, high = self.ranges[widest]
        if high - low < 2 * MIN_LEAP:
            return  # too little left to be worth splitting: walk on
        middle = (low + high + 1) // 2
        del self.ranges[widest]
        self.ranges[:0] = [[middle, high]]
        self.ranges.append([low, middle - 1])
        self.run = middle


#: The shortest stretch a leap leaves behind (a smaller one is walked through instead).
MIN_LEAP = 16


class LeaseEngine:
    def __init__(self, store: LeaseStore, reserved: dict[IPv4Address, str], offer_hold: float,
                 decline_hold: float, walk_seed: int = 0) -> None:
        self.store = store
        self.reserved = reserved  # address -> MAC it is reserved for
        self.offer_hold, self.decline_hold = offer_hold, decline_hold
        self.by_address: dict[IPv4Address, Lease] = {}
        self.by_client: dict[str, Lease] = {}
        #: MAC (lower-case hex, no separators) -> its latest lease: who may fetch a device's file
        #: or answer for it over SNMP is decided by this.
        self.by_mac: dict[str, Lease] = {}
        #: client -> (address, expires) of a pending offer; address -> client.
        self.offers: dict[str, tuple[IPv4Address, float]] = {}
        self.offered: dict[IPv4Address, str] = {}
        self._offer_queue: deque[tuple[float, str]] = deque()
        self._expiry: list[tuple[float, int]] = []
        #: ``now`` of the last :meth:`expire`: leases ending by then have been reported.
        self._expired_until = float("-inf")
        #: Where each pool's walk starts (mod its size): 0 for a lone server, from the node id
        #: when servers share the table.
        self.walk_seed = walk_seed
        #: Per pool (by identity): its never-scanned addresses.
        self._walks: dict[int, Walk] = {}
        #: Offered, never leased addresses behind a cursor whose offer ended (sorted ints): at
        #: most one entry per pool address, so bounded by the configured pools.
        self.returned: list[int] = []
        for lease in store.load():
            self._index(lease)

    def _index(self, lease: Lease) -> None:
        old = self.by_address.get(lease.address)
        if old is not None and self.by_client.get(old.client) is old:
            del self.by_client[old.client]
        if old is not None and old.mac and self.by_mac.get(mac_key(old.mac)) is old:
            del self.by_mac[mac_key(old.mac)]  # else every MAC that ever held the address stays
        self.by_address[lease.address] = lease
        if lease.client and lease.state is not LeaseState.DECLINED:
            self.by_client[lease.client] = lease
        if lease.mac and lease.state is not LeaseState.DECLINED:
            self.by_mac[mac_key(lease.mac)] = lease
        if lease.state is LeaseState.BOUND:
            heap = self._expiry
            heapq.heappush(heap, (lease.expires, int(lease.address)))
            if len(heap) > 2 * len(self.by_address) + SLACK:
                # Each renewal leaves its old deadline behind; rebuild before renewals pile up.
                # Leases already reported as expired stay out, so none is reported twice.
                heap[:] = [(held.expires, int(a)) for a, held in self.by_address.items()
                           if held.state is LeaseState.BOUND and held.expires > self._expired_until]
                heapq.heapify(heap)

    # -- queries ---------------------------------------------------------------------------------------

    def available(self, address: IPv4Address, client: str, mac: str, now: float) -> bool:
        owner = self.reserved.get(address)
        if owner is not None and owner != mac:
            return False
        holder = self.offered.get(address)
        if holder is not None and holder != client and self.offers[holder][1] > now:
            return False
        lease = self.by_address.get(address)
        if lease is None or lease.client == client and lease.state is not LeaseState.DECLINED:
            return True
        if lease.state is LeaseState.RELEASED:
            return True
        return lease.expires <= now

    def bound_lease(self, mac: str, now: float) -> Lease | None:
        """The lease this MAC holds now (bound, unexpired, still its address's lease), or None."""
        lease = self.by_mac.get(mac_key(mac))
        if lease is None or lease.state is not LeaseState.BOUND or lease.expires <= now or \
                self.by_address.get(lease.address) is not lease:
            return None
        return lease

    def lease_of(self, client: str) -> Lease | None:
        return self.by_client.get(client)

    def offer_of(self, client: str, now: float) -> IPv4Address | None:
        offer = self.offers.get(client)
        return offer[0] if offer is not None and offer[1] > now else None

    def leases_with_remote_id(self, remote_id: str) -> list[Lease]:
        return [lease for lease in self.by_address.values() if lease.remote_id == remote_id]

    # -- allocation ------------------------------------------------------------------------------------

    def choose(self, client: str, mac: str, pools: list[Pool], requested: IPv4Address | None,
               reserved: IPv4Address | None, now: float) -> IPv4Address | None:
        if reserved is not None:
            return reserved if self.available(reserved, client, mac, now) else None
        offer = self.offer_of(client, now)
        if offer is not None and any(offer in p for p in pools):
            return offer
        lease = self.by_client.get(client)
        if lease is not None and any(lease.address in p for p in pools) and \
                self.available(lease.address, client, mac, now):
            return lease.address
        if requested is not None and any(requested in p for p in pools) and \
                self.available(requested, client, mac, now):
            return requested
        for pool in pools:
            fresh = self._fresh(pool, client, mac, now)
            if fresh is not None:
                return fresh
        return self._reclaim(pools, client, mac, now)

    def _fresh(self, pool: Pool, client: str, mac: str, now: float) -> IPv4Address | None:
        returned = self.returned
        i = bisect.bisect_left(returned, int(pool.start))
        while i < len(returned) and returned[i] <= int(pool.end):
            address = IPv4Address(returned[i])
            if address in self.by_address or address in self.reserved:
                del returned[i]  # leased (asked for by name) or reserved since: no longer never-used
            elif address in self.offered:
                i += 1  # offered again to someone else; it comes back here if that offer ends too
            else:
                del returned[i]
                return address
        walk = self._walks.get(id(pool))
        if walk is None:
            walk = self._walks[id(pool)] = Walk.of(pool, self.walk_seed)
        ranges = walk.ranges
        while ranges:
            span = ranges[0]
            while span[0] <= span[1]:
                address = IPv4Address(span[0])
                span[0] += 1
                if address not in self.by_address and address not in self.offered and \
                        address not in self.reserved:
                    return address
            del ranges[0]
            if ranges:
                walk.run = ranges[0][0]
        return None

    def _reclaim(self, pools: list[Pool], client: str, mac: str, now: float) -> IPv4Address | None:
        best: tuple[float, IPv4Address] | None = None
        for address, lease in self.by_address.items():
            if any(address in p for p in pools) and self.available(address, client, mac, now):
                if best is None or (lease.expires, address) < best:
                    best = (lease.expires, address)
        if best is None:  # offered-but-lapsed addresses never became leases
            for address in self.offered:
                if any(address in p for p in pools) and self.available(address, client, mac, now):
                    return address
        return best[1] if best else None

    def offer(self, client: str, address: IPv4Address, now: float) -> None:
        previous = self._take_offer(client)
        if previous is not None and previous != address:
            self._give_back(previous)
        expires = now + self.offer_hold
        self.offers[client] = (address, expires)
        self.offered[address] = client
        queue = self._offer_queue
        queue.append((expires, client))
        if len(queue) > 2 * len(self.offers) + SLACK:
            # Repeated DISCOVERs leave superseded offers queued; keep only the live ones.
            self._offer_queue = deque(sorted((exp, c) for c, (_, exp) in self.offers.items()))

    def withdraw(self, client: str) -> None:
        """The client's offer ends unused (lapsed, declined, or another server's offer taken)."""
        address = self._take_offer(client)
        if address is not None:
            self._give_back(address)

    def _take_offer(self, client: str) -> IPv4Address | None:
        offer = self.offers.pop(client, None)
        if offer is None or self.offered.get(offer[0]) != client:
            return None
        del self.offered[offer[0]]
        return offer[0]

    def _give_back(self, address: IPv4Address) -> None:
        """An address offered but never leased is free again. Leased ones need nothing: the lease
        table finds them (:meth:`_reclaim`)."""
        if address in self.by_address or address in self.reserved:
            return
        key = int(address)
        i = bisect.bisect_left(self.returned, key)
        if i == len(self.returned) or self.returned[i] != key:
            self.returned.insert(i, key)

    # -- lease changes (each staged in the store; the caller commits before replying) ------------------

    def bind(self, lease: Lease) -> Lease:
        offered = self._take_offer(lease.client)
        if offered is not None and offered != lease.address:
            self._give_back(offered)
        old = self.by_client.get(lease.client)
        if old is not None and old.address != lease.address and old.state is LeaseState.BOUND:
            old.state, old.expires = LeaseState.RELEASED, min(old.expires, lease.expires)
            self.store.put(old)
        self._index(lease)
        self.store.put(lease)
        return lease

    def taken(self, holder: Lease) -> None:
        """The shared store refused a binding: ``holder`` (another client's lease, written by
        another server) holds the address. Known from now on, so it is offered to nobody else;
        the client whose binding was refused loses it here too. On a stretch this server is walking,
        another server walks it too: this one leaps ahead (:meth:`Walk.leap`)."""
        self._index(holder)
        at = int(holder.address)
        for walk in self._walks.values():
            if walk.ranges and walk.run <= at < walk.ranges[0][0]:
                walk.leap()

    def learn(self, lease: Lease) -> None:
        """``lease`` is a binding another server made (read from the shared table): the client
        holds the address, so this server serves it that address. The table is the truth for
        the address's row: an offer of it to another client here is withdrawn."""
        holder = self.offered.get(lease.address)
        self._index(lease)
        if holder is not None and holder != lease.client:
            self.withdraw(holder)
        offer = self.offers.get(lease.client)
        if offer is not None and offer[0] != lease.address:  # an offer made before the binding was known
            self.withdraw(lease.client)

    def release(self, lease: Lease, now: float) -> None:
        lease.state, lease.expires = LeaseState.RELEASED, now
        self.store.put(lease)

    def decline(self, address: IPv4Address, client: str, now: float) -> Lease:
        self.withdraw(client)
        old = self.by_address.get(address)
        # The quarantine names who declined (a shared store writes it only over that client's
        # own binding); no MAC, so no device is found by it.
        lease = Lease(address, client, "", now + self.decline_hold, LeaseState.DECLINED,
                      subnet=old.subnet if old else "")
        if old is not None and self.by_client.get(old.client) is old:
            del self.by_client[old.client]
        if old is not None and self.by_mac.get(mac_key(old.mac)) is old:
            del self.by_mac[mac_key(old.mac)]
        self.by_address[address] = lease
        self.store.put(lease)
        return lease

    # -- time ------------------------------------------------------------------------------------------

    def expire(self, now: float) -> Iterable[Lease]:
        """Drop lapsed offers; yield leases that ran out since the last call."""
        queue = self._offer_queue
        while queue and queue[0][0] <= now:
            expires, client = queue.popleft()
            offer = self.offers.get(client)
            if offer is not None and offer[1] == expires:
                self.withdraw(client)
        heap = self._expiry
        self._expired_until = max(self._expired_until, now)
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            lease = self.by_address.get(IPv4Address(key))
            if lease is not None and lease.expires == expires and lease.state is LeaseState.BOUND:
                yield lease

    def next_deadline(self) -> float | None:
        times = [t for t in (self._offer_queue[0][0] if self._offer_queue else None,
                             self._expiry[0][0] if self._expiry else None) if t is not None]
        return min(times) if times else None
