"""The serve nodes sharing one PostgreSQL database, and the view of the lease table every
one of them shares.

Each node keeps one row in ``node`` (the leases schema, version 2): its id, the address
it serves from, its pktcable version, when it started, and its last heartbeat, written
every ``interval`` seconds. A node whose heartbeat is more than :data:`STALE_AFTER`
intervals old is *stale*: dead, hung, or cut off from the database. A node that stops
cleanly deletes its row. Times are the writing node's clock (the nodes' clocks must agree,
NTP, as the lease table already needs).

The same connection reads the shared lease table for the REST API and the dashboard: any
node shows every node's leases, not only the ones it bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .leases import SCHEMA, Lease
from .pg import Reconnecting, connect, text_row
from .pg_leases import _COLUMNS, _lease

#: Seconds between a node's heartbeats.
HEARTBEAT = 5.0
#: Heartbeats a node may miss before it counts as stale (two lost to a slow database is normal).
STALE_AFTER = 3
#: Longest node id taken (a host name and an address fit with room to spare).
MAX_ID = 128

_NODE_COLUMNS = "id, address, version, started, heartbeat, interval"
_BEAT = (f"INSERT INTO node ({_NODE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
         "address = excluded.address, version = excluded.version, started = excluded.started, "
         "heartbeat = excluded.heartbeat, interval = excluded.interval")
#: A MAC's binding, latest first: the lease rows keep the MAC as the client sent it (aa:bb:...).
_BOUND = f"SELECT {_COLUMNS} FROM lease4 WHERE mac = %s AND state = 'bound' AND expires > %s ORDER BY expires DESC LIMIT 1"


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    address: str
    version: str
    started: float
    heartbeat: float
    #: Seconds between its heartbeats (each node says its own).
    interval: float

    def stale(self, now: float) -> bool:
        """Whether it missed more than STALE_AFTER heartbeats by ``now``."""
        return now - self.heartbeat > STALE_AFTER * self.interval

    def status(self, now: float) -> str:
        return "stale" if self.stale(now) else "alive"


def check_id(text: str) -> str:
    """A node id as given by the ``node_id`` setting; ValueError saying why it is not one."""
    if not text or len(text) > MAX_ID or not text.isprintable() or text != text.strip():
        raise ValueError(f"must be 1 to {MAX_ID} printable characters without surrounding spaces")
    return text


def default_id(hostname: str, address: str) -> str:
    """The id of a node that names none: its host name and the address it serves from (two
    nodes on one host differ by address)."""
    return f"{hostname}/{address}"[:MAX_ID]


class PgNodes(Reconnecting):
    """The ``node`` table and the shared lease table, read and written on one connection of
    its own (apart from the lease store's, which the DHCP core holds)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = connect(url, SCHEMA)

    def beat(self, node: Node) -> None:
        """Write ``node``'s row (at start, then every heartbeat)."""
        self.db.execute(_BEAT, text_row((node.id, node.address, node.version, node.started, node.heartbeat,
                                         node.interval)))

    def leave(self, node_id: str) -> None:
        """A node that stops cleanly takes its row with it: only dead nodes go stale."""
        self.db.execute("DELETE FROM node WHERE id = %s", (node_id,))

    def nodes(self) -> list[Node]:
        return [_node(row) for row in self.db.execute(f"SELECT {_NODE_COLUMNS} FROM node ORDER BY id").fetchall()]

    def leases(self) -> list[Lease]:
        """Every row of the shared lease table (whichever node wrote it)."""
        return [_lease(row) for row in self.db.execute(f"SELECT {_COLUMNS} FROM lease4 ORDER BY address").fetchall()]

    def bound_lease(self, mac: str, now: float) -> Lease | None:
        """The binding ``mac`` holds at ``now`` in the shared table, or None."""
        key = mac.replace(":", "").replace("-", "").lower()
        if len(key) != 12:
            return None
        row = self.db.execute(_BOUND, (":".join(key[i:i + 2] for i in range(0, 12, 2)), now)).fetchone()
        return None if row is None else _lease(row)

    def close(self) -> None:
        self.db.close()


def _node(row: tuple[Any, ...]) -> Node:
    return Node(row[0], row[1], row[2], float(row[3]), float(row[4]), float(row[5]))


def list_nodes(url: str) -> list[Node]:
    """The nodes of the database ``url`` (``pktcable store check``), without creating anything:
    [] when the table is not there yet."""
    from .pg import connect as plain

    db = plain(url)
    try:
        exists = db.execute("SELECT to_regclass('node') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return []
        return [_node(row) for row in db.execute(f"SELECT {_NODE_COLUMNS} FROM node ORDER BY id").fetchall()]
    finally:
        db.close()


__all__ = ["HEARTBEAT", "STALE_AFTER", "Node", "PgNodes", "check_id", "default_id", "list_nodes"]
