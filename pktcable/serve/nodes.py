"""A serve node on a shared PostgreSQL database: its row in the ``node`` table, written at
start and every heartbeat, and the shared view of the lease table for the API.

Started and stopped by ``pktcable serve`` around the back office (only with a
PostgreSQL ``store``: a data dir's SQLite files have one node). The writes run in a
worker thread on a connection of their own, so a slow database delays a heartbeat,
never a DHCP reply. A heartbeat that fails is logged and tried again at the next one:
the node keeps serving, and shows as stale to the others until the database is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import weakref
from collections.abc import Callable
from dataclasses import replace
from importlib import metadata
from typing import TYPE_CHECKING

from pktcable.store.leases import Lease
from pktcable.store.pg import names_postgresql
from pktcable.store.pg_nodes import HEARTBEAT, Node, PgNodes, default_id

if TYPE_CHECKING:
    from .app import Backoffice
    from .config import ServeConfig

log = logging.getLogger("pktcable.serve.nodes")
#: The node of each running back office (the API's view finds it here; app.py stays as it is).
_RUNNING: weakref.WeakKeyDictionary[Backoffice, NodeBeat] = weakref.WeakKeyDictionary()


def version() -> str:
    try:
        return metadata.version("pktcable")
    except metadata.PackageNotFoundError:  # a checkout run without installing
        return "unknown"


class NodeBeat:
    def __init__(self, url: str, node: Node, clock: Callable[[], float], interval: float = HEARTBEAT) -> None:
        self.node, self.clock, self.interval = node, clock, interval
        self.table = PgNodes(url)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """The first heartbeat (a database that refuses it fails the start), then one every interval."""
        await asyncio.to_thread(self.table.beat, self.node)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.node = replace(self.node, heartbeat=self.clock())
            try:
                await asyncio.to_thread(self.table.beat, self.node)
            except Exception as exc:  # noqa: BLE001 - the database is away: serve on, beat again later
                log.warning("node %s: heartbeat not written: %s", self.node.id, exc)

    def nodes(self) -> list[Node]:
        return self.table.nodes()

    def leases(self) -> list[Lease]:
        return self.table.leases()

    def bound_lease(self, mac: str, now: float) -> Lease | None:
        return self.table.bound_lease(mac, now)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        try:
            await asyncio.to_thread(self.table.leave, self.node.id)
        except Exception as exc:  # noqa: BLE001 - it goes stale instead
            log.warning("node %s: row not removed: %s", self.node.id, exc)
        self.table.close()


def node_id(cfg: ServeConfig, address: str) -> str:
    """This node's id: the ``node_id`` setting, else host name and advertised address."""
    return cfg.node_id or default_id(socket.gethostname(), address)


def walk_seed(cfg: ServeConfig, address: str) -> int:
    """Where this node's DHCP walk starts in each pool (dhcpd/engine.py), from its id: nodes on
    one database each start elsewhere, so they rarely offer one address at once. 0 (each pool's
    first address, as ever) for a node that shares no database. A hash, not a count of the
    nodes: an id alone places a node, whatever others run or start later."""
    if not names_postgresql(cfg.store):
        return 0
    return int.from_bytes(hashlib.blake2b(node_id(cfg, address).encode(), digest_size=8).digest(), "big")


async def start_node(office: Backoffice) -> NodeBeat | None:
    """The node's heartbeat, when ``office`` stores in PostgreSQL; None otherwise."""
    cfg = office.cfg
    if not names_postgresql(cfg.store):
        return None
    address = str(office.site.advertise)
    now = office.clock()
    interval = float(cfg.node_heartbeat)
    node = Node(node_id(cfg, address), address, version(), now, now, interval)
    beat = NodeBeat(str(cfg.store), node, office.clock, interval)
    try:
        await beat.start()
    except BaseException:
        beat.table.close()
        raise
    _RUNNING[office] = beat
    return beat


def running(office: Backoffice) -> NodeBeat | None:
    """The heartbeat of ``office``'s node, when it shares a database."""
    return _RUNNING.get(office)


async def stop_node(office: Backoffice) -> None:
    beat = _RUNNING.pop(office, None)
    if beat is not None:
        await beat.close()


__all__ = ["NodeBeat", "node_id", "running", "start_node", "stop_node", "version", "walk_seed"]
