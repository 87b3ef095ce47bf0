"""The lease store in PostgreSQL: what SqliteLeaseStore does, over psycopg 3.

One row per address (the primary key): the database never holds two bindings of
one address. The write is an upsert, right while one serve (one lease engine) owns the
table; several nodes on one database will need allocation in the database instead (a
row lock on the address, ``SELECT ... FOR UPDATE SKIP LOCKED`` over the free ones), so
that a node cannot replace a binding another node made. Staged leases go in one transaction per ``commit``, which returns only
once PostgreSQL has made it durable (``synchronous_commit`` as the server sets it;
its default, ``on``, waits for the WAL flush), so every ACK that leaves is on disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address

from .leases import SCHEMA, Lease, LeaseState
from .pg import Reconnecting, connect, text_row

_COLUMNS = "address, client, mac, expires, state, device_class, subnet, remote_id, hostname, giaddr, circuit_id"
_UPSERT = (f"INSERT INTO lease4 ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (address) "
           "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:]))


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
            yield Lease(IPv4Address(row[0]), row[1], row[2], row[3], LeaseState(row[4]), row[5], row[6], row[7],
                        row[8], row[9], row[10])

    def put(self, lease: Lease) -> None:
        key = int(lease.address)
        self.staged[key] = text_row((key, lease.client, lease.mac, lease.expires, lease.state.value,
                                     lease.device_class, lease.subnet, lease.remote_id, lease.hostname,
                                     lease.giaddr, lease.circuit_id))

    def commit(self) -> None:
        if not self.staged:
            return
        rows = list(self.staged.values())
        self.staged.clear()
        started = time.perf_counter()
        with self.db.transaction():
            self.db.cursor().executemany(_UPSERT, rows)
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started)

    def close(self) -> None:
        self.db.close()


__all__ = ["PgLeaseStore"]
