"""Lease storage: one row per address.

The DHCP core stages changes with ``put``; the transport calls ``commit``
once per batch of datagrams and only then sends the replies, so every ACK
that leaves is already durable (group commit: one fsync covers a burst).
SQLite runs in WAL mode; ``synchronous=FULL`` by default survives power loss,
``NORMAL`` still survives ``kill -9`` of the server (the WAL write has reached
the kernel when ``commit`` returns) at a fraction of the cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address
from typing import Protocol

from .sqlite import Migration, Schema, Table, connect


class LeaseState(Enum):
    BOUND = "bound"
    RELEASED = "released"  # the client gave it back; it remembers who had it
    DECLINED = "declined"  # a client saw the address in use (RFC 2131 §4.4.4): quarantined


@dataclass(slots=True)
class Lease:
    address: IPv4Address
    #: Who holds it: option 61 when sent, else htype + chaddr, as hex.
    client: str
    mac: str
    expires: float
    state: LeaseState = LeaseState.BOUND
    device_class: str = ""
    subnet: str = ""
    #: Option 82 remote id (the CM MAC for cable); links an MTA or CPE to its modem.
    remote_id: str = ""
    hostname: str = ""
    #: The relay (giaddr) the binding came through, "" for a client on the server's own link:
    #: the path a RELEASE/DECLINE or a CM's file request may come back on.
    giaddr: str = ""
    #: Option 82 circuit id (the relay's name for the client's port) as hex, "" when none: with
    #: ``remote_id`` and ``giaddr`` it names the path a RELEASE or DECLINE must come back on.
    circuit_id: str = ""


class LeaseStore(Protocol):
    def load(self) -> Iterable[Lease]:
        """Every stored lease (at start-up)."""
        ...

    def put(self, lease: Lease) -> None:
        """Stage a new or changed lease (keyed by address)."""
        ...

    def commit(self, now: float | None = None) -> list[Lease]:
        """Make every staged change durable; returns only when it is.

        With ``now``, a store shared by several servers refuses to write over another
        client's binding that is still held at ``now`` (bound or declined, unexpired): it
        returns the leases it kept instead of the refused ones (the other client's), so the
        caller learns the address is taken. A single-server store refuses nothing: [].
        Without ``now`` every staged change is written (last write holds)."""
        ...

    def close(self) -> None: ...

    #: Whether other servers write the same table (a PostgreSQL store): only then is a client
    #: this server does not know worth looking up (:meth:`bindings_of`).
    shared: bool

    def bindings_of(self, clients: Iterable[str], now: float) -> list[Lease]:
        """The bound leases, unexpired at ``now``, that ``clients`` hold in the table: another
        server's bindings, for a server that takes over its clients. [] when not shared."""
        ...

    def holders_of(self, addresses: Iterable[IPv4Address], now: float) -> list[Lease]:
        """The bound leases, unexpired at ``now``, holding ``addresses`` in the table: another
        server's bindings, for a server an INFORM reaches from one. [] when not shared."""
        ...


class MemoryLeaseStore:
    """For tests and for servers that may forget on restart."""

    def __init__(self) -> None:
        self.rows: dict[IPv4Address, Lease] = {}
        self.staged: dict[IPv4Address, Lease] = {}
        self.commits = 0

    def load(self) -> Iterable[Lease]:
        return [_copy(v) for v in self.rows.values()]

    def put(self, lease: Lease) -> None:
        self.staged[lease.address] = _copy(lease)

    def commit(self, now: float | None = None) -> list[Lease]:
        if self.staged:
            self.rows.update(self.staged)
            self.staged.clear()
            self.commits += 1
        return []

    def close(self) -> None:
        pass

    shared = False

    def bindings_of(self, clients: Iterable[str], now: float) -> list[Lease]:
        return []

    def holders_of(self, addresses: Iterable[IPv4Address], now: float) -> list[Lease]:
        return []


def _copy(lease: Lease) -> Lease:
    return Lease(lease.address, lease.client, lease.mac, lease.expires, lease.state, lease.device_class,
                 lease.subnet, lease.remote_id, lease.hostname, lease.giaddr, lease.circuit_id)


_COLUMNS = "address, client, mac, expires, state, device_class, subnet, remote_id, hostname, giaddr, circuit_id"
_LEASE4 = """
CREATE TABLE IF NOT EXISTS lease4 (
    address INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    mac TEXT NOT NULL,
    expires REAL NOT NULL,
    state TEXT NOT NULL,
    device_class TEXT NOT NULL,
    subnet TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    giaddr TEXT NOT NULL DEFAULT '',
    circuit_id TEXT NOT NULL DEFAULT ''
)"""
#: PostgreSQL: an address is 32 bits unsigned (BIGINT, checked); the primary key is what
#: makes one address one row: the database never holds two bindings of one address.
_LEASE4_PG = """
CREATE TABLE IF NOT EXISTS lease4 (
    address BIGINT PRIMARY KEY CHECK (address BETWEEN 0 AND 4294967295),
    client TEXT NOT NULL,
    mac TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    device_class TEXT NOT NULL,
    subnet TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    giaddr TEXT NOT NULL DEFAULT '',
    circuit_id TEXT NOT NULL DEFAULT ''
)"""
#: A lease file from before the relay path was kept gets its columns on open.
_TABLES = (Table("lease4", _LEASE4, added=(("giaddr", "TEXT NOT NULL DEFAULT ''"),
                                           ("circuit_id", "TEXT NOT NULL DEFAULT ''")), postgresql=_LEASE4_PG),)
#: The serve nodes sharing the table (a PostgreSQL store; a SQLite file has one, unused): each
#: writes its own row at start and again every heartbeat (pktcable/serve/nodes.py).
_NODE = """CREATE TABLE node (
    id TEXT PRIMARY KEY, address TEXT NOT NULL, version TEXT NOT NULL, started REAL NOT NULL,
    heartbeat REAL NOT NULL, interval REAL NOT NULL)"""
_NODE_PG = """CREATE TABLE node (
    id TEXT COLLATE "C" PRIMARY KEY, address TEXT NOT NULL, version TEXT NOT NULL,
    started DOUBLE PRECISION NOT NULL, heartbeat DOUBLE PRECISION NOT NULL, interval DOUBLE PRECISION NOT NULL)"""
SCHEMA = Schema("leases", _TABLES, (
    # Version 1: a node that does not know a client looks its binding up by client (failover).
    Migration("client index", ("CREATE INDEX lease4_client ON lease4 (client)",)),
    # Version 2: the serve nodes on one database, and when each was last alive.
    Migration("nodes", (_NODE,), (_NODE_PG,)),
))


class SqliteLeaseStore:
    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.db = connect(path, SCHEMA, synchronous=synchronous)
        self.staged: dict[int, tuple[object, ...]] = {}
        #: Told the seconds each commit that wrote took (the back office's commit-latency histogram).
        self.on_commit: Callable[[float], None] | None = None

    def load(self) -> Iterable[Lease]:
        for row in self.db.execute(f"SELECT {_COLUMNS} FROM lease4 ORDER BY address"):
            yield Lease(IPv4Address(row[0]), row[1], row[2], row[3], LeaseState(row[4]), row[5], row[6], row[7],
                        row[8], row[9], row[10])

    def put(self, lease: Lease) -> None:
        key = int(lease.address)
        self.staged[key] = (key, lease.client, lease.mac, lease.expires, lease.state.value, lease.device_class,
                            lease.subnet, lease.remote_id, lease.hostname, lease.giaddr, lease.circuit_id)

    def commit(self, now: float | None = None) -> list[Lease]:
        """One server owns a SQLite file: nothing to refuse."""
        if not self.staged:
            return []
        rows = list(self.staged.values())
        self.staged.clear()
        started = time.perf_counter()
        self.db.execute("BEGIN")
        try:
            self.db.executemany(f"INSERT OR REPLACE INTO lease4 ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started)
        return []

    def close(self) -> None:
        self.db.close()

    #: One server owns a SQLite file: what it does not know, nobody bound.
    shared = False

    def bindings_of(self, clients: Iterable[str], now: float) -> list[Lease]:
        return []

    def holders_of(self, addresses: Iterable[IPv4Address], now: float) -> list[Lease]:
        return []
