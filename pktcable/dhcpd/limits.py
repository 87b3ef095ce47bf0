"""Bounds on what clients can make the DHCP core remember.

Every table keyed by something a sender chooses (option 60, giaddr, link
selection, client identity) has a named size limit here. The caches are
"cleared when full": a hit costs one dict lookup and no bookkeeping (an LRU
would reorder on every packet of a boot storm), and, unlike a cache that stops
taking keys when full, a flood of junk keys cannot keep the real ones out for
longer than one refill; the real keys come back after one miss each.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: Decoded option 60 strings kept per server. One entry per model line and firmware in real
#: networks (tens to a few hundred); an entry with a full capability TLV costs a few KB.
VENDOR_CACHE_LIMIT = 1024
#: Option 60 values longer than one option instance are decoded every time, not kept: no real
#: capability string needs more, and long keys would multiply the cache's worst case.
VENDOR_CACHE_MAX_KEY = 255
#: Links (giaddr, ciaddr, option 82.5/118) whose subnet list is kept. Real networks have one
#: entry per relay address plus, for direct clients, one per renewing address.
SUBNET_CACHE_LIMIT = 4096
#: Clients whose recent DECLINEs are remembered for ``decline_limit``. Only lease holders on
#: their binding path get here, so this is bounded by the pools too; when it is full of clients
#: still inside their window, further DECLINEs are refused (counted as ``decline-table-full``).
DECLINE_CLIENTS_LIMIT = 16384


class ClearingCache(Generic[K, V]):
    """A dict that empties itself instead of growing past ``limit`` entries."""

    __slots__ = ("data", "limit")

    def __init__(self, limit: int) -> None:
        self.data: dict[K, V] = {}
        self.limit = limit

    def get(self, key: K) -> V | None:
        return self.data.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self.data) >= self.limit:
            self.data.clear()
        self.data[key] = value

    def __len__(self) -> int:
        return len(self.data)


class DeclineLimiter:
    """At most ``limit`` DECLINEs per client per ``window`` seconds (sliding window), with at
    most ``max_clients`` clients remembered at once."""

    def __init__(self, limit: int, window: float, max_clients: int = DECLINE_CLIENTS_LIMIT) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        #: client -> times of its DECLINEs in the window, oldest last DECLINE first, so a sweep
        #: stops at the first client still inside its window.
        self.recent: OrderedDict[str, list[float]] = OrderedDict()

    def refuse(self, client: str, now: float) -> str | None:
        """None when ``client`` may decline now (and counts it), else the metrics key saying why not."""
        if self.limit <= 0:
            return "decline-limit"
        times = self.recent.get(client)
        if times is not None:
            times[:] = [t for t in times if t > now - self.window]
        else:
            if len(self.recent) >= self.max_clients and not self._sweep(now):
                return "decline-table-full"
            times = self.recent[client] = []
        if len(times) >= self.limit:
            return "decline-limit"
        times.append(now)
        self.recent.move_to_end(client)
        return None

    def _sweep(self, now: float) -> bool:
        """Forget clients whose window has passed; True when room was made."""
        horizon, recent = now - self.window, self.recent
        while recent:
            times = next(iter(recent.values()))
            if times and times[-1] > horizon:
                break
            recent.popitem(last=False)
        return len(recent) < self.max_clients

    def __len__(self) -> int:
        return len(self.recent)
