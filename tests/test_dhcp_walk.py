"""Where each DHCP server walks its pools: a lone server from each pool's first address up;
servers sharing one lease table each from a point of their own (from the node id), leaping
ahead when the table shows another server walking the same stretch.

Two cores on one in-memory table that follows the shared store's rule (a row changes hands
only when its holder let it go, it ran out, or it is the same client's), fake clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address

import pytest

from dhcp.message import decode
from pktcable.dhcpd import DeviceClass, DhcpServer, Pool, ServerConfig, Subnet
from pktcable.dhcpd.engine import MIN_LEAP, Walk
from pktcable.serve.config import ServeConfig
from pktcable.serve.nodes import walk_seed
from pktcable.store import Lease, LeaseState, MemoryLeaseStore

from .dhcp_helpers import mac_of, request

RELAY = "10.1.0.1"
FIRST, LAST = "10.1.0.10", "10.1.3.254"  # 1,013 addresses
NOW = 1000.0
PG = "postgresql://pktcable@/pktcable"


class Table:
    """The shared lease table, as PgLeaseStore's claim treats it."""

    def __init__(self) -> None:
        self.rows: dict[IPv4Address, Lease] = {}


class TableStore(MemoryLeaseStore):
    shared = True

    def __init__(self, table: Table) -> None:
        super().__init__()
        self.table = table

    def commit(self, now: float | None = None) -> list[Lease]:
        refused = []
        for address, lease in self.staged.items():
            held = self.table.rows.get(address)
            if held is None or held.client == lease.client and held.state is not LeaseState.DECLINED or \
                    held.state is LeaseState.RELEASED or held.expires <= (now or 0.0):
                self.table.rows[address] = lease
            else:
                refused.append(held)
        self.staged.clear()
        return refused

    def bindings_of(self, clients: Iterable[str], now: float) -> list[Lease]:
        wanted = set(clients)
        return sorted((lease for lease in self.table.rows.values() if lease.client in wanted
                       and lease.state is LeaseState.BOUND and lease.expires > now), key=lambda lease: lease.expires)


def server(server_id: str, store: MemoryLeaseStore, seed: int) -> DhcpServer:
    config = ServerConfig(server_id=IPv4Address(server_id), classes=[DeviceClass("cpe", "any", lease_time=3600)],
                          subnets=[Subnet(network="10.1.0.0/22", pools=[Pool(FIRST, LAST)])], walk_seed=seed)
    return DhcpServer(config, store)


def exchange(node: DhcpServer, data: bytes) -> list:  # type: ignore[type-arg]
    node.receive(data, (RELAY, 67), NOW)
    if node.lookups():
        node.learn(node.store.bindings_of(node.lookups(), NOW))
    replies = [decode(r.data) for r in node.datagrams_to_send()]
    while node.next_event() is not None:
        pass
    return replies


def storm(a: DhcpServer, b: DhcpServer, clients: int) -> dict[bytes, IPv4Address]:
    """``clients`` new clients on each node, their DORAs interleaved (both DISCOVERs answered
    before either REQUEST, as in a storm); a NAKed client starts over. What each holds."""
    held: dict[bytes, IPv4Address] = {}
    waiting = {node: [mac_of(base + n) for n in range(clients)] for node, base in ((a, 0), (b, 100_000))}
    for _ in range(10 * clients):
        if not any(waiting.values()):
            break
        offers = {}
        for node, macs in waiting.items():
            if macs:
                (offer,) = exchange(node, request(1, macs[0], giaddr=RELAY))
                offers[node] = offer
        for node, offer in offers.items():
            mac = waiting[node][0]
            (answer,) = exchange(node, request(3, mac, giaddr=RELAY, options=[(50, offer.yiaddr.packed),
                                                                              (54, offer.get(54))]))
            if answer.message_type == 5:
                held[mac] = answer.yiaddr
                waiting[node].pop(0)
    assert not any(waiting.values()), "some clients never got a lease"
    return held


def test_a_lone_server_walks_each_pool_from_its_first_address() -> None:
    node = server("192.0.2.1", MemoryLeaseStore(), 0)
    got = [exchange(node, request(1, mac_of(n), giaddr=RELAY))[0].yiaddr for n in range(5)]
    assert got == [IPv4Address(FIRST) + n for n in range(5)]
    assert walk_seed(ServeConfig(), "192.0.2.1") == 0  # a data dir's SQLite: one node, as ever


def test_a_seed_starts_the_walk_inside_the_pool_and_wraps_round() -> None:
    pool = Pool("10.1.0.10", "10.1.0.19")
    assert Walk.of(pool, 0).ranges == [[int(pool.start), int(pool.end)]]
    walk = Walk.of(pool, 10 + 7)  # mod the pool's 10 addresses: its 8th
    assert walk.ranges == [[int(pool.start) + 7, int(pool.end)], [int(pool.start), int(pool.start) + 6]]
    node = server("192.0.2.1", MemoryLeaseStore(), 0)
    node.engine.walk_seed = 1013 - 2  # the last two addresses first, then from the start
    got = [exchange(node, request(1, mac_of(n), giaddr=RELAY))[0].yiaddr for n in range(4)]
    assert got == [IPv4Address(LAST) - 1, IPv4Address(LAST), IPv4Address(FIRST), IPv4Address(FIRST) + 1]


def test_nodes_on_one_database_start_their_walks_apart() -> None:
    seeds = {name: walk_seed(ServeConfig(store=PG, node_id=name), "192.0.2.1") for name in ("dhcp-a", "dhcp-b")}
    assert seeds["dhcp-a"] != seeds["dhcp-b"]
    assert seeds["dhcp-a"] == walk_seed(ServeConfig(store=PG, node_id="dhcp-a"), "192.0.2.9")  # the id decides
    # Without node_id, the default id (host name and address) tells two nodes of one host apart.
    assert walk_seed(ServeConfig(store=PG), "192.0.2.1") != walk_seed(ServeConfig(store=PG), "192.0.2.4")


def both(seed_a: int, seed_b: int, clients: int = 150) -> tuple[DhcpServer, DhcpServer, dict[bytes, IPv4Address]]:
    table = Table()
    a, b = server("192.0.2.1", TableStore(table), seed_a), server("192.0.2.2", TableStore(table), seed_b)
    held = storm(a, b, clients)
    assert len(set(held.values())) == len(held) == 2 * clients, "an address was ACKed to two clients"
    for mac, address in held.items():  # what each client was told is what the table holds
        assert table.rows[address].mac.replace(":", "") == mac.hex()
    return a, b, held


def naks(*nodes: DhcpServer) -> int:
    return sum(node.metrics["naks"] for node in nodes)


def test_two_nodes_with_their_own_seeds_do_not_collide() -> None:
    seeds = [walk_seed(ServeConfig(store=PG, node_id=name), "192.0.2.1") for name in ("dhcp-a", "dhcp-b")]
    a, b, _ = both(*seeds)
    assert naks(a, b) == 0
    assert a.engine.by_address.keys().isdisjoint(b.engine.by_address.keys())  # neither learned the other's


@pytest.mark.parametrize("gap", [0, 1, 40])
def test_a_node_that_catches_up_with_another_leaps_ahead(gap: int) -> None:
    """Starts 0-40 addresses apart (the worst a hash can give): a few NAKs, then apart for good.
    Without the leap every one of the trailing node's bindings after the gap was refused."""
    a, b, _ = both(0, gap)
    assert 0 < naks(a, b) <= 4  # measured: 1, against 150 (every binding) without the leap


def test_a_leap_takes_the_middle_of_the_widest_stretch_left() -> None:
    walk = Walk(Pool("10.1.0.0", "10.1.0.255"), [[100, 255], [0, 9]], 50)
    walk.leap()
    assert walk.ranges == [[178, 255], [0, 9], [100, 177]] and walk.run == 178
    small = Walk(Pool("10.1.0.0", "10.1.0.255"), [[0, 2 * MIN_LEAP - 2]], 0)
    small.leap()  # too little left: it walks on
    assert small.ranges == [[0, 2 * MIN_LEAP - 2]]
