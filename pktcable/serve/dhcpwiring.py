"""The back office's DHCP server, in its own process or in this one.

``dhcp_workers = 0`` (:class:`LocalDhcp`): the DHCP core and its transport run
on the back office's event loop, and the lease gate asks the engine itself.
``dhcp_workers = 1`` (:class:`~pktcable.serve.dhcpworker.DhcpWorker`): the
core, its socket reader and the lease store run in a worker process; the back
office keeps a mirror of the lease table (:mod:`pktcable.serve.leasewire`).

Either way the back office sees the same three things: the core's lease events
(``on_event``), a lease view (``view.bound_lease``, ``view.by_address``) and
the DHCP counters for ``/metrics`` (:meth:`stats`, one shape for both modes).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from ipaddress import IPv4Address
from typing import Any, Protocol

from pktcable.dhcpd import DhcpServer
from pktcable.dhcpd.events import Event
from pktcable.dhcpd.intake import PRIORITY_NAMES
from pktcable.dhcpd.transport import DhcpTransport
from pktcable.store import Lease, LeaseState, LeaseStore


class LeaseView(Protocol):
    """What the back office asks of the lease table: the engine, or the worker's mirror of it."""

    @property
    def by_address(self) -> Mapping[IPv4Address, Lease]: ...

    def bound_lease(self, mac: str, now: float) -> Lease | None: ...

    def learn(self, lease: Lease) -> None:
        """A binding another node made, read from the shared lease table."""
        ...


def server_stats(server: DhcpServer, transport: DhcpTransport | None) -> dict[str, Any]:
    """The DHCP figures ``/metrics`` shows (the worker sends the same dict, as JSON)."""
    return {"metrics": dict(server.metrics), "drops": dict(server.drops), "offers": len(server.engine.offers),
            "queued": transport.queued() if transport is not None else None,
            "intake": {name: transport.intake.depth(p) for p, name in PRIORITY_NAMES.items()}
            if transport is not None else None}


class LocalDhcp:
    """The DHCP server on the back office's own loop (``dhcp_workers = 0``)."""

    #: Always None: the in-process server cannot fail apart from the process.
    failed = None

    def __init__(self, server: DhcpServer, sock: socket.socket, *, interface: str | None,
                 link: IPv4Address | None, clock: Callable[[], float], on_event: Callable[[Event], None],
                 round: Callable[[list[Event]], AbstractContextManager[None]] | None = None) -> None:
        self.server = server
        self.view: LeaseView = server.engine
        self._args = (sock, interface, link, clock, on_event)
        self.round = round
        self.transport: DhcpTransport | None = None

    async def start(self) -> None:
        sock, interface, link, clock, on_event = self._args
        self.transport = DhcpTransport(self.server, sock, interface=interface, on_event=on_event, round=self.round,
                                       link=link, clock=clock)

    def stats(self) -> dict[str, Any]:
        return server_stats(self.server, self.transport)

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        else:
            self._args[0].close()


def learn_shared_holders(table: LeaseStore, view: LeaseView, sources: list[str], now: float) -> set[str]:
    """One round of the entity's wait for leases other nodes bound (a shared lease ``table``):
    the bindings holding ``sources``, put in this node's memory of the leases (``view``: the
    DHCP engine, or the mirror of its worker's) as another node's, so this node's screen and
    lease check pass (and an engine offers those addresses to nobody else). The addresses
    found bound."""
    addresses = []
    for source in sources:
        try:
            addresses.append(IPv4Address(source))
        except ValueError:  # not IPv4: nobody's lease
            continue
    found: set[str] = set()
    for lease in table.holders_of(addresses, now):
        held = view.by_address.get(lease.address)
        # Every binding is in the table before its ACK leaves, so the row is never older
        # than what this node knows of the address, unless a write of this node's own is
        # still staged (a later end): that record stays.
        if held is None or held.state is not LeaseState.BOUND or held.expires <= lease.expires:
            view.learn(lease)
        found.add(str(lease.address))
    return found
