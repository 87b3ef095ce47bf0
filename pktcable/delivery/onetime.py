"""One-time file names: a name made for one exchange (one client IP, one download, a
short life), and the resolver that serves them.

The Hybrid flows' server SETs an eMTA's file URL and the hash of the file's bytes; the
one-time name carries those very bytes, so what the device downloads is what was hashed.

Several serve nodes on one database: a device may ask a node other than the one that
built its name (nodes behind one service address). :class:`OneTimeNames` then takes a
:class:`SharedNames` store (pktcable/store/pg_names.py over PostgreSQL): each name is
written there before :meth:`OneTimeNames.issue` returns (so before the SET goes out), a
node asked for a name it does not hold reads it from there (one indexed look-up, then it
is held in memory like its own), and a download spends the name there too, so a name is
served once whichever node is asked. Sans-IO: the table takes the time as an argument and
the store as an interface; it never opens a connection itself.
"""

from __future__ import annotations

import secrets
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .base import Address, NotFound, Resolver, peek

#: Live one-time names at most (older ones are dropped first, counted in ``evicted``).
MAX_ISSUED_NAMES = 65_536
#: Bytes held for live one-time names at most (a config file is a few KiB).
MAX_ISSUED_BYTES = 64 << 20
#: Names remembered as not in the shared store: a request's gate, resolver and TFTP
#: admission each ask, and an unknown name must cost one look-up, not three. Tokens are
#: never reused, so a name found missing stays missing (it cannot be issued later).
MISSES_KEPT = 1024
#: Names spent here whose target is remembered, so the end of the download (TFTP's
#: completion, later than the spend) can still tell whose file it was.
SPENT_KEPT = 4096
#: The shared store's calls, as ``shared_errors`` counts their failures.
SHARED_OPERATIONS = ("put", "find", "spend", "sweep")
#: Seconds between sweeps of the shared store's expired rows (one DELETE on its index).
SHARED_SWEEP_EVERY = 10.0


@dataclass(slots=True)
class Issued:
    """A live one-time name: what it stands for, for whom, until when; ``data``
    is the file itself when it was built at issue time (it dies with the name).
    ``shared`` says it is in the shared store (written there, or read from it)."""

    target: str
    client_ip: str
    expires: float
    data: bytes | None = None
    shared: bool = False


class SharedNamesError(Exception):
    """The shared store could not be read or written (the database is away); the message says why."""


class SharedNames(Protocol):
    """One-time names every node can see. Each call is one round trip, seen by every node
    when it returns; failures raise :class:`SharedNamesError`."""

    def put(self, name: str, issued: Issued) -> None:
        """Store ``name``, replacing any other name of the same target and client."""
        ...

    def find(self, name: str, now: float) -> Issued | None:
        """The live entry of ``name`` (for any client), or None."""
        ...

    def spend(self, name: str) -> bool:
        """Delete ``name``; False when it was not there (spent by another node, or swept)."""
        ...

    def sweep(self, now: float) -> int:
        """Delete the names expired by ``now``; how many went."""
        ...


class OneTimeNames:
    """Names made for one exchange: one client IP, one download, a short life.

    Sans-IO: the caller passes the time. A name is spent by the first request
    from its IP (even one that later fails), so a leaked name is worth nothing.
    A new name for the same target and client replaces the older one. The table
    is bounded by count and by the bytes it holds; when full, the oldest names
    (the nearest to expiry) go first.

    With ``shared``, names are also written to, read from and spent in the shared
    store. A node cut off from it keeps serving the names it built from memory
    (each failure counted in ``shared_errors`` by operation): a device whose node is
    up still gets its file; only another node cannot serve it meanwhile.
    """

    def __init__(self, lifetime: float = 60.0, prefix: str = "x-", token: Callable[[], str] | None = None, *,
                 max_names: int = MAX_ISSUED_NAMES, max_bytes: int = MAX_ISSUED_BYTES,
                 shared: SharedNames | None = None) -> None:
        if max_names < 1 or max_bytes < 0:
            raise ValueError("max_names must be at least 1 and max_bytes not negative")
        self.lifetime = lifetime
        self.prefix = prefix
        self.max_names = max_names
        self.max_bytes = max_bytes
        self.shared = shared
        self._token = token or (lambda: secrets.token_hex(10))
        self._issued: dict[str, Issued] = {}
        self._latest: dict[tuple[str, str], str] = {}  # (target, client IP) -> its live name
        self._bytes = 0
        self._misses: OrderedDict[str, None] = OrderedDict()
        self._spent: OrderedDict[str, str] = OrderedDict()  # name -> target, the latest SPENT_KEPT
        self._next_sweep = 0.0
        self.evicted = 0  # names dropped before their time because the table was full
        #: Names this node did not build, read from the shared store.
        self.adopted = 0
        #: Calls to the shared store that failed, by operation (put, find, spend, sweep).
        self.shared_errors: Counter[str] = Counter()

    def issue(self, target: str, client_ip: str, now: float, suffix: str = ".cfg", data: bytes | None = None) -> str:
        """A fresh name for ``target``, valid for ``client_ip`` only; ``data``, if
        given, is what the name serves (so the bytes go when the name goes). With a
        shared store the name is in it when this returns (unless the store failed)."""
        size = len(data) if data is not None else 0
        if size > self.max_bytes:
            raise ValueError(f"a {size}-byte file exceeds the one-time table's {self.max_bytes} bytes")
        self.expire(now)
        older = self._latest.get((target, client_ip))
        if older is not None:
            self._drop(older)
        name = f"{self.prefix}{self._token()}{suffix}"
        if name in self._issued:
            raise ValueError("token generator repeated itself")
        issued = Issued(target, client_ip, now + self.lifetime, data)
        if self.shared is not None:
            try:
                self.shared.put(name, issued)
                issued.shared = True
            except SharedNamesError:
                self.shared_errors["put"] += 1  # served from here only, as without a shared store
        self._hold(name, issued)
        self._latest[(target, client_ip)] = name
        return name

    def get(self, name: str, now: float) -> Issued | None:
        """The live entry of ``name`` held here (for anyone; nothing is spent, nothing is read)."""
        issued = self._issued.get(name)
        return issued if issued is not None and issued.expires > now else None

    def find(self, name: str, now: float) -> Issued | None:
        """As :meth:`get`, and a name not held here is read from the shared store (then held)."""
        issued = self._issued.get(name)
        if issued is not None or self.shared is None or name in self._misses or not name.startswith(self.prefix):
            return issued if issued is not None and issued.expires > now else None
        try:
            issued = self.shared.find(name, now)
        except SharedNamesError:
            self.shared_errors["find"] += 1
            return None
        if issued is None or issued.expires <= now:
            self._misses[name] = None
            if len(self._misses) > MISSES_KEPT:
                self._misses.popitem(last=False)
            return None
        issued.shared = True
        self.adopted += 1
        self._hold(name, issued)
        return issued

    def claim(self, name: str, client_ip: str, now: float, spend: bool = True) -> Issued | None:
        """The entry of ``name`` if it is live and issued to ``client_ip``; spends it unless ``spend`` is false."""
        issued = self.find(name, now)
        if issued is None:
            if name in self._issued:
                self._drop(name)  # expired
            return None
        if issued.client_ip != client_ip:
            return None  # not spent: the rightful client may still come
        if spend:
            self._drop(name)
            if issued.shared and self.shared is not None:
                try:
                    if not self.shared.spend(name):
                        return None  # another node served it first: one download, whoever is asked
                except SharedNamesError:
                    self.shared_errors["spend"] += 1  # the node that holds it serves it
            self._spent[name] = issued.target
            if len(self._spent) > SPENT_KEPT:
                self._spent.popitem(last=False)
        return issued

    def spent_target(self, name: str) -> str | None:
        """The target of ``name`` if it was spent here lately (whose file a finished download was)."""
        return self._spent.get(name)

    def take(self, name: str, client_ip: str, now: float) -> str | None:
        """The target of ``name`` if it is live and issued to ``client_ip``; spends it."""
        issued = self.claim(name, client_ip, now)
        return None if issued is None else issued.target

    def revoke(self, name: str) -> bool:
        issued = self._issued.get(name)
        if issued is None:
            return False
        self._drop(name)
        if issued.shared and self.shared is not None:
            try:
                self.shared.spend(name)
            except SharedNamesError:
                self.shared_errors["spend"] += 1
        return True

    def expire(self, now: float) -> None:
        # Issue order is expiry order (one lifetime), so stop at the first live name. A name
        # read from the shared store may expire before names held longer: it waits for them
        # (its own expiry is checked at every use; the table's bounds count it meanwhile).
        while self._issued:
            name, issued = next(iter(self._issued.items()))
            if issued.expires > now:
                break
            self._drop(name)
        if self.shared is not None and now >= self._next_sweep:
            self._next_sweep = now + SHARED_SWEEP_EVERY
            try:
                self.shared.sweep(now)
            except SharedNamesError:
                self.shared_errors["sweep"] += 1

    def _hold(self, name: str, issued: Issued) -> None:
        size = len(issued.data) if issued.data is not None else 0
        while self._issued and (len(self._issued) >= self.max_names or self._bytes + size > self.max_bytes):
            self._drop(next(iter(self._issued)))
            self.evicted += 1
        self._issued[name] = issued
        self._bytes += size

    def _drop(self, name: str) -> None:
        issued = self._issued.pop(name)
        if issued.data is not None:
            self._bytes -= len(issued.data)
        key = (issued.target, issued.client_ip)
        if self._latest.get(key) == name:
            del self._latest[key]

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._issued)


class OneTimeResolver:
    """Serves names from a :class:`OneTimeNames` table: the bytes issued with
    the name, else its target through ``inner``.

    Names without the table's prefix go to ``fallback`` (for example firmware
    from a directory), or are not found.
    """

    def __init__(self, names: OneTimeNames, inner: Resolver, clock: Callable[[], float],
                 fallback: Resolver | None = None) -> None:
        self.names = names
        self._inner = inner
        self._clock = clock
        self._fallback = fallback

    def resolve(self, name: str, client: Address) -> bytes:
        return self._serve(name, client, spend=True)

    def peek(self, name: str, client: Address) -> bytes:
        """As :meth:`resolve`, without spending the name (HTTP HEAD)."""
        return self._serve(name, client, spend=False)

    def _serve(self, name: str, client: Address, spend: bool) -> bytes:
        if not name.startswith(self.names.prefix):
            if self._fallback is None:
                raise NotFound(name, "not a per-exchange name")
            return self._fallback.resolve(name, client) if spend else peek(self._fallback, name, client)
        issued = self.names.claim(name, client[0], self._clock(), spend=spend)
        if issued is None:
            raise NotFound(name, "unknown, expired, spent or issued to another client")
        if issued.data is not None:
            return issued.data
        return self._inner.resolve(issued.target, client) if spend else peek(self._inner, issued.target, client)
