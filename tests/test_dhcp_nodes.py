"""Two DHCP servers on one PostgreSQL lease table: no address is ever bound to two clients.

Each node's engine allocates from its own memory, so two nodes offer the same addresses
(both start at the lowest free one). The shared store refuses a binding another node's
client holds; the refused ACK becomes a NAK and the node learns the address is taken.
"""

from __future__ import annotations

import threading
from ipaddress import IPv4Address

import pytest

from dhcp.message import decode
from pktcable.dhcpd import DeviceClass, DhcpServer, Pool, ServerConfig, Subnet
from pktcable.dhcpd.events import LeaseBound
from pktcable.store import Lease, LeaseState

from .dhcp_helpers import mac_of, request

RELAY = "10.1.0.1"
SID_A, SID_B = "192.0.2.1", "192.0.2.2"
CLIENTS = 200
#: DORA attempts a client makes before the test gives up on it (each NAK teaches its node one
#: taken address, so a client needs at most as many as the other node has bound; far fewer in practice).
ATTEMPTS = CLIENTS + 5


def node(server_id: str, url: str) -> DhcpServer:
    from pktcable.store.pg_leases import PgLeaseStore

    config = ServerConfig(server_id=IPv4Address(server_id), classes=[DeviceClass("cpe", "any", lease_time=3600)],
                          subnets=[Subnet(network="10.1.0.0/24", pools=[Pool("10.1.0.10", "10.1.0.254")])])
    return DhcpServer(config, PgLeaseStore(url))


class Node:
    """One server and the lock that keeps its (single-threaded) core to one caller."""

    def __init__(self, server: DhcpServer) -> None:
        self.server, self.lock = server, threading.Lock()

    def send(self, data: bytes, now: float) -> list:  # type: ignore[type-arg]
        with self.lock:
            self.server.receive(data, (RELAY, 67), now)
            replies = [decode(r.data) for r in self.server.datagrams_to_send()]
            while self.server.next_event() is not None:
                pass
            return replies

    def dora(self, mac: bytes, now: float) -> IPv4Address | None:
        """The address ACKed, or None after a NAK (or no offer)."""
        offers = self.send(request(1, mac, giaddr=RELAY), now)
        if not offers:
            return None
        (offer,) = offers
        (answer,) = self.send(request(3, mac, giaddr=RELAY, options=[(50, offer.yiaddr.packed), (54, offer.get(54))]),
                              now)
        return answer.yiaddr if answer.message_type == 5 else None


def rows(url: str) -> dict[IPv4Address, Lease]:
    from pktcable.store.pg_leases import PgLeaseStore

    store = PgLeaseStore(url)
    try:
        return {lease.address: lease for lease in store.load()}
    finally:
        store.close()


def run_clients(target: Node, macs: list[bytes], held: dict[bytes, IPv4Address], naks: list[int],
                now: float) -> None:
    for mac in macs:
        for _ in range(ATTEMPTS):
            address = target.dora(mac, now)
            if address is not None:
                held[mac] = address
                break
            naks.append(1)


def test_two_nodes_never_bind_one_address_to_two_clients(pg_url: str) -> None:
    a, b = Node(node(SID_A, pg_url)), Node(node(SID_B, pg_url))
    macs = [mac_of(n) for n in range(CLIENTS)]
    now = 1000.0
    for rnd, placement in enumerate(((a, b), (b, a))):  # then every client again, on the other node
        held: dict[bytes, IPv4Address] = {}
        naks: list[int] = []
        threads = [threading.Thread(target=run_clients, args=(placement[i], macs[i::2], held, naks, now + rnd))
                   for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert set(held) == set(macs), f"round {rnd}: {CLIENTS - len(held)} clients got no lease"
        assert len(set(held.values())) == CLIENTS, f"round {rnd}: an address was ACKed to two clients"
        if rnd == 0:
            assert naks, "both nodes started at the lowest address: some bindings must have collided"
        stored = rows(pg_url)
        for mac, address in held.items():  # what each client was told is what the database holds
            lease = stored[address]
            assert (lease.mac.replace(":", ""), lease.state) == (mac.hex(), LeaseState.BOUND)
    for n in (a, b):
        assert n.server.metrics["taken-elsewhere"] > 0 or n.server.metrics["naks"] == 0
        n.server.store.close()


def test_a_refused_binding_is_a_nak_and_the_address_is_known_taken(pg_url: str) -> None:
    a, b = node(SID_A, pg_url), node(SID_B, pg_url)
    for server, mac in ((a, mac_of(1)), (b, mac_of(2))):  # both offer 10.1.0.10
        server.receive(request(1, mac, giaddr=RELAY), (RELAY, 67), 1000.0)
        (offer,) = [decode(r.data) for r in server.datagrams_to_send()]
        assert offer.yiaddr == IPv4Address("10.1.0.10")
    answers = []
    for server, mac in ((a, mac_of(1)), (b, mac_of(2))):
        server.receive(request(3, mac, giaddr=RELAY, options=[(50, IPv4Address("10.1.0.10").packed),
                                                             (54, server.server_id.packed)]), (RELAY, 67), 1001.0)
        (reply,) = [decode(r.data) for r in server.datagrams_to_send()]
        answers.append(reply.message_type)
        events = []
        while (event := server.next_event()) is not None:
            events.append(event)
        assert any(isinstance(e, LeaseBound) for e in events) == (reply.message_type == 5)
    assert answers == [5, 6]  # ACK from a, NAK from b: b's binding was refused
    assert (b.metrics["acks"], b.metrics["naks"], b.metrics["taken-elsewhere"]) == (0, 1, 1)
    assert b.engine.by_address[IPv4Address("10.1.0.10")].mac.replace(":", "") == mac_of(1).hex()
    assert b.engine.lease_of(f"01{mac_of(2).hex()}") is None
    b.receive(request(1, mac_of(2), giaddr=RELAY), (RELAY, 67), 1002.0)  # b now offers another address:
    (offer,) = [decode(r.data) for r in b.datagrams_to_send()]
    # a walks from .10 up, so b leaps to the middle of what it has not walked (.11-.254).
    assert offer.yiaddr == IPv4Address("10.1.0.133")
    a.store.close()
    b.store.close()


def test_the_shared_store_takes_over_only_what_its_holder_let_go(pg_url: str) -> None:
    from pktcable.store.pg_leases import PgLeaseStore

    a, b = PgLeaseStore(pg_url), PgLeaseStore(pg_url)
    x, y, z = IPv4Address("10.1.0.10"), IPv4Address("10.1.0.11"), IPv4Address("10.1.0.12")
    for address, expires, state in ((x, 2000.0, LeaseState.BOUND), (y, 1500.0, LeaseState.BOUND),
                                    (z, 2000.0, LeaseState.RELEASED)):
        a.put(Lease(address, "01aa", "aa:00:00:00:00:01", expires, state))
    assert a.commit(1000.0) == []
    for address in (x, y, z):
        b.put(Lease(address, "01bb", "bb:00:00:00:00:02", 2600.0))
    taken = b.commit(1600.0)  # y ran out at 1500, z was released: only x is still a's
    assert [(lease.address, lease.client) for lease in taken] == [(x, "01aa")]
    a.put(Lease(x, "01aa", "aa:00:00:00:00:01", 3000.0))  # the holder renews its own
    assert a.commit(1700.0) == []
    held = {lease.address: lease.client for lease in a.load()}
    assert held == {x: "01aa", y: "01bb", z: "01bb"}
    a.close()
    b.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_single_server_store_refuses_nothing(backend: str, request: pytest.FixtureRequest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from .stores import lease_opener

    store = lease_opener(backend, request, tmp_path)()
    store.put(Lease(IPv4Address("10.1.0.10"), "01aa", "aa:00:00:00:00:01", 2000.0))
    assert store.commit(1000.0) == []
    store.put(Lease(IPv4Address("10.1.0.10"), "01bb", "bb:00:00:00:00:02", 2000.0))
    assert store.commit(1000.0) == []  # one server owns the table: its engine already decided
    (row,) = store.load()
    assert row.client == "01bb"
    store.close()


def test_every_ack_of_a_refused_binding_in_a_batch_becomes_a_nak(pg_url: str) -> None:
    a, b = node(SID_A, pg_url), node(SID_B, pg_url)
    wanted = IPv4Address("10.1.0.10")
    for server, mac in ((a, mac_of(1)), (b, mac_of(2))):
        server.receive(request(1, mac, giaddr=RELAY), (RELAY, 67), 1000.0)
        server.datagrams_to_send()
    a.receive(request(3, mac_of(1), giaddr=RELAY, options=[(50, wanted.packed), (54, a.server_id.packed)]),
              (RELAY, 67), 1001.0)
    assert [decode(r.data).message_type for r in a.datagrams_to_send()] == [5]
    req = request(3, mac_of(2), giaddr=RELAY, options=[(50, wanted.packed), (54, b.server_id.packed)])
    b.receive(req, (RELAY, 67), 1001.0)
    b.receive(req, (RELAY, 67), 1001.5)  # the client's retransmission, in the same batch
    assert [decode(r.data).message_type for r in b.datagrams_to_send()] == [6, 6]
    assert (a.metrics["acks"], b.metrics["acks"], b.metrics["naks"]) == (1, 0, 2)
    assert b.next_event() is None  # no LeaseBound for a binding the database refused
    a.store.close()
    b.store.close()
