"""The lease store in PostgreSQL: what SqliteLeaseStore does, over psycopg 3.

One row per address (the primary key): the database never holds two bindings of
one address. Several serve nodes may share the table: a commit given ``now`` writes each
staged lease with a *conditional* upsert, which replaces the address's row only when it
is this client's, released, or expired at ``now``; a row another client holds (bound or
declined, unexpired) is left alone and returned to the caller, whose engine then treats
the address as taken (a NAK instead of the ACK it had built). PostgreSQL serialises
``INSERT ... ON CONFLICT DO UPDATE`` on the row, so of two nodes binding one address at
once exactly one wins, whatever the interleaving. Without ``now`` (one writer, or a tool)
the write is a plain upsert: the last write holds.

Staged leases go in one transaction per ``commit``, which returns only once PostgreSQL
has made it durable (``synchronous_commit`` as the server sets it; its default, ``on``,
waits for the WAL flush), so every ACK that leaves is on disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address
from typing import Any

from .leases import SCHEMA, Lease, LeaseState
from .pg import Reconnecting, connect, text_row

_COLUMNS = "address, client, mac, expires, state, device_class, subnet, remote_id, hostname, giaddr, circuit_id"
_UPSERT = (f"INSERT INTO lease4 ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (address) "
           "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:]))
#: The shared-table write: the row changes hands only when its holder let it go (released),
#: it ran out, or it is the same client's. A DECLINE's quarantine row names the client that
#: declined, so a DECLINE quarantines only that client's own binding (never one another node
#: has since given to another client), and a quarantine is never the decliner's to bind again
#: before it runs out. One statement per batch,
#: one array per column; RETURNING names the rows written, so a staged address missing from
#: it was refused. (executemany with RETURNING, tried first, measured well below the plain
#: upsert at 64 leases per commit; this form is level with it, bench/bench_leaseclaim.py.)
_TYPES = ("int8", "text", "text", "float8", "text", "text", "text", "text", "text", "text", "text")
_CLAIM = (f"INSERT INTO lease4 ({_COLUMNS}) SELECT * FROM unnest(" + ", ".join(f"%s::{t}[]" for t in _TYPES)
          + ") ON CONFLICT (address) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
          + " WHERE (lease4.client = excluded.client AND lease4.state <> 'declined') OR lease4.state = 'released'"
            " OR lease4.expires <= %s::float8 RETURNING address")
#: A client's bindings in the table, latest last: what a node that does not know the client
#: (its node died, or it moved) serves it from (the lease4_client index).
_BINDINGS = (f"SELECT {_COLUMNS} FROM lease4 WHERE client = ANY(%s) AND state = 'bound' AND expires > %s "
             "ORDER BY expires")

#: The bindings holding some addresses (the primary key): what a node that does not know who
#: holds an address an INFORM came from asks (another node leased it). One round, one query.
_HOLDERS = f"SELECT {_COLUMNS} FROM lease4 WHERE address = ANY(%s) AND state = 'bound' AND expires > %s"


def holders_query(addresses: Iterable[IPv4Address], now: float) -> tuple[str, tuple[object, ...]]:
    """The statement and its parameters that find the bound leases, unexpired at ``now``,
    holding ``addresses`` (sans-IO: the caller runs it)."""
    return _HOLDERS, (sorted({int(address) for address in addresses}), now)


class PgLeaseStore(Reconnecting):
    def __init__(self, url: str) -> None:
        self.url = url
        self.db = connect(url, SCHEMA)
        self.staged: dict[int, tuple[object, ...]] = {}
        #: Told the seconds each commit that wrote took (the back office's commit-latency histogram).
        self.on_commit: Callable[[float], None] | None = None

    def load(self) -> Iterable[Lease]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM lease4 ORDER BY address").fetchall()
        for row in rows:
            yield _lease(row)

    def put(self, lease: Lease) -> None:
        key = int(lease.address)
        self.staged[key] = text_row((key, lease.client, lease.mac, lease.expires, lease.state.value,
                                     lease.device_class, lease.subnet, lease.remote_id, lease.hostname,
                                     lease.giaddr, lease.circuit_id))

    def commit(self, now: float | None = None) -> list[Lease]:
        if not self.staged:
            return []
        staged = self.staged
        self.staged = {}
        started = time.perf_counter()
        taken: list[Lease] = []
        with self.db.transaction():
            cursor = self.db.cursor()
            if now is None:
                cursor.executemany(_UPSERT, list(staged.values()))
            else:
                columns = [list(column) for column in zip(*staged.values(), strict=True)]
                written = {row[0] for row in cursor.execute(_CLAIM, (*columns, now)).fetchall()}
                refused = [key for key in staged if key not in written]
                if refused:
                    rows = cursor.execute(f"SELECT {_COLUMNS} FROM lease4 WHERE address = ANY(%s)",
                                          (refused,)).fetchall()
                    taken = [_lease(row) for row in rows]
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started)
        return taken

    def close(self) -> None:
        self.db.close()

    #: Other serve nodes may write the same table.
    shared = True

    def bindings_of(self, clients: Iterable[str], now: float) -> list[Lease]:
        wanted = list(dict.fromkeys(clients))
        if not wanted:
            return []
        return [_lease(row) for row in self.db.execute(_BINDINGS, (wanted, now)).fetchall()]

    def holders_of(self, addresses: Iterable[IPv4Address], now: float) -> list[Lease]:
        query, params = holders_query(addresses, now)
        if not params[0]:
            return []
        return [_lease(row) for row in self.db.execute(query, params).fetchall()]


def _lease(row: tuple[Any, ...]) -> Lease:
    return Lease(IPv4Address(row[0]), row[1], row[2], row[3], LeaseState(row[4]), row[5], row[6], row[7],
                 row[8], row[9], row[10])


__all__ = ["PgLeaseStore"]
