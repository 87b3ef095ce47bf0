"""The one-time file names in PostgreSQL, so every serve node on one database can serve a
name another node built (:class:`~pktcable.delivery.onetime.SharedNames`), and the
shared lease table's answer to "may this address have this device's file".

The rows live in ``onetime_name`` (the device schema, version 4): the name, its target
(``mta-<mac>.cfg``), the client address it was made for, when it expires, and the bytes
it serves. A write is one statement (an upsert on (target, client): a newer name for the
same device and address replaces the older one, as in a node's memory); a look-up is one
primary-key read; spending is one DELETE that says whether the row was still there, so of
two nodes asked for one name at once exactly one serves it. Every failure of the
database is a :class:`~pktcable.delivery.onetime.SharedNamesError`: the node serves on
from memory.

The connection is this store's own: the device store's is written in batches, and a name
must be in the table before its SET leaves, not at the next batch.
"""

from __future__ import annotations

import logging
from typing import Any

from pktcable.delivery.onetime import Issued, SharedNamesError

from .devices import SCHEMA
from .leases import Lease
from .pg import Reconnecting, StoreUnavailable, connect, explain, text_row
from .pg_leases import _COLUMNS as _LEASE_COLUMNS
from .pg_leases import _lease

log = logging.getLogger("pktcable.store.onetime")
_PUT = ("INSERT INTO onetime_name (name, target, client_ip, expires, data) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (target, client_ip) DO UPDATE SET name = excluded.name, expires = excluded.expires, "
        "data = excluded.data")
_FIND = "SELECT target, client_ip, expires, data FROM onetime_name WHERE name = %s AND expires > %s"
#: A MAC's binding, latest first (the lease rows keep the MAC as the client sent it, aa:bb:...).
_BOUND = (f"SELECT {_LEASE_COLUMNS} FROM lease4 WHERE mac = %s AND state = 'bound' AND expires > %s "
          "ORDER BY expires DESC LIMIT 1")


class PgSharedNames(Reconnecting):
    """``onetime_name`` on a connection of its own (autocommit: each call is committed, so seen by
    every node, when it returns). A failure is logged once, until a call succeeds again."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = connect(url, SCHEMA)
        self._tuned: Any = None  # the connection synchronous_commit was turned off on
        self._failing = False  # the last call failed (logged once until one succeeds)

    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        import psycopg

        try:
            db = self.db  # opened again after the server dropped it
            if db is not self._tuned:
                # A row here lives 60 s and matters only while the device may ask: it must be
                # visible to the other nodes when the call returns (a commit is, at once),
                # not survive a crash of the database server. Without the flush each write
                # costs a fraction of a durable commit (bench/bench_onetime.py).
                db.execute("SET synchronous_commit = off")
                self._tuned = db
            cursor = db.execute(sql, args)  # type: ignore[arg-type]  # our own constant text
            if self._failing:
                log.warning("one-time name table: reachable again")
                self._failing = False
            return cursor
        except StoreUnavailable as exc:  # its message names the URL without the password already
            raise self._failed(str(exc)) from None
        except psycopg.Error as exc:
            raise self._failed(explain(exc, self.url)) from None

    def _failed(self, why: str) -> SharedNamesError:
        # Told once per outage, not per call: a boot storm would log every device otherwise.
        if not self._failing:
            log.warning("one-time name table: %s; this node serves the names it built from memory", why)
            self._failing = True
        return SharedNamesError(why)

    def put(self, name: str, issued: Issued) -> None:
        self._run(_PUT, text_row((name, issued.target, issued.client_ip, issued.expires, issued.data)))

    def find(self, name: str, now: float) -> Issued | None:
        row = self._run(_FIND, (name, now)).fetchone()
        if row is None:
            return None
        return Issued(row[0], row[1], float(row[2]), None if row[3] is None else bytes(row[3]), shared=True)

    def spend(self, name: str) -> bool:
        return bool(self._run("DELETE FROM onetime_name WHERE name = %s", (name,)).rowcount)

    def sweep(self, now: float) -> int:
        return int(self._run("DELETE FROM onetime_name WHERE expires <= %s", (now,)).rowcount)

    def bound_lease(self, mac: str, now: float) -> Lease | None:
        """The binding ``mac`` (12 hex digits) holds at ``now`` in the shared lease table, or None."""
        key = mac.replace(":", "").replace("-", "").lower()
        if len(key) != 12:
            return None
        row = self._run(_BOUND, (":".join(key[i:i + 2] for i in range(0, 12, 2)), now)).fetchone()
        return None if row is None else _lease(row)

    def close(self) -> None:
        self.db.close()


__all__ = ["PgSharedNames"]
