"""Failover between DHCP cores on one PostgreSQL lease table (fake clock: ``now`` is passed).

A node that does not know a client (a DISCOVER, or a REQUEST for an address: INIT-REBOOT,
RENEWING, REBINDING) looks its binding up in the shared table once per batch and serves
the client its own unexpired address: the clients of a node that died keep their
addresses, and a client that moves between nodes keeps one row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from ipaddress import IPv4Address

from dhcp.message import Message, decode
from pktcable.dhcpd import DeviceClass, DhcpServer, Pool, ServerConfig, Subnet
from pktcable.dhcpd.events import LeaseBound, LeaseDeclined
from pktcable.store import Lease, LeaseState, MemoryLeaseStore

from .dhcp_helpers import mac_of, request
from .test_dhcp_nodes import RELAY, SID_A, SID_B, node, rows

LEASE = 3600.0
CLIENTS = 30


def config(server_id: str) -> ServerConfig:
    return ServerConfig(server_id=IPv4Address(server_id), classes=[DeviceClass("cpe", "any", lease_time=int(LEASE))],
                        subnets=[Subnet(network="10.1.0.0/24", pools=[Pool("10.1.0.10", "10.1.0.254")])])


def ask(server: DhcpServer, data: bytes, now: float) -> tuple[list[Message], list[object]]:
    server.receive(data, (RELAY, 67), now)
    replies = [decode(r.data) for r in server.datagrams_to_send()]
    events = []
    while (event := server.next_event()) is not None:
        events.append(event)
    return replies, events


def dora(server: DhcpServer, mac: bytes, now: float) -> IPv4Address:
    (offer,), _ = ask(server, request(1, mac, giaddr=RELAY), now)
    (ack,), _ = ask(server, request(3, mac, giaddr=RELAY, options=[(50, offer.yiaddr.packed), (54, offer.get(54))]),
                    now)
    assert ack.message_type == 5
    return ack.yiaddr


def rows_per_client(url: str) -> Counter[str]:
    return Counter(lease.client for lease in rows(url).values() if lease.state is LeaseState.BOUND)


def test_a_node_serves_the_clients_of_a_dead_node_at_their_own_addresses(pg_url: str) -> None:
    a = node(SID_A, pg_url)
    b = node(SID_B, pg_url)  # started with a: its memory holds none of a's bindings
    macs = [mac_of(n) for n in range(CLIENTS)]
    held = {mac: dora(a, mac, 1000.0) for mac in macs}
    a.store.close()  # a dies
    now = 1000.0 + LEASE * 0.9  # past T2: the clients broadcast (REBINDING), a CMTS relays to b
    thirds = macs[0::3], macs[1::3], macs[2::3]
    for mac in thirds[0]:  # REBINDING: ciaddr, no server id, no requested address
        (ack,), events = ask(b, request(3, mac, giaddr=RELAY, ciaddr=str(held[mac])), now)
        assert (ack.message_type, ack.yiaddr) == (5, held[mac])
        (bound,) = [e for e in events if isinstance(e, LeaseBound)]
        assert bound.renewal  # the same binding, longer: no new provisioning
    for mac in thirds[1]:  # INIT-REBOOT (the device restarted): its remembered address
        (ack,), _ = ask(b, request(3, mac, giaddr=RELAY, options=[(50, held[mac].packed)]), now)
        assert (ack.message_type, ack.yiaddr) == (5, held[mac])
    for mac in thirds[2]:  # INIT: a DISCOVER is offered its own address, not the lowest free one
        assert dora(b, mac, now) == held[mac]
    assert b.metrics["naks"] == 0 and b.metrics["taken-over"] == CLIENTS
    stored = rows(pg_url)
    for mac, address in held.items():  # one row per client, renewed by b
        lease = stored[address]
        assert lease.mac.replace(":", "") == mac.hex() and lease.expires == now + LEASE
    assert set(rows_per_client(pg_url).values()) == {1}
    # A new client on b is not given any of them (b learned each one it served).
    assert dora(b, mac_of(999), now) not in held.values()
    b.store.close()


def test_a_client_moving_between_live_nodes_keeps_one_row(pg_url: str) -> None:
    a, b = node(SID_A, pg_url), node(SID_B, pg_url)
    mac = mac_of(7)
    first = dora(a, mac, 1000.0)
    assert dora(b, mac, 1100.0) == first  # the CMTS's relay reached b this time
    assert dora(a, mac, 1200.0) == first  # and back: a still knows it, the table agrees
    assert rows_per_client(pg_url) == Counter({f"01:{mac.hex()}": 1})
    assert rows(pg_url)[first].expires == 1200.0 + LEASE
    a.store.close()
    b.store.close()


def test_an_expired_binding_is_not_taken_over(pg_url: str) -> None:
    a, b = node(SID_A, pg_url), node(SID_B, pg_url)
    mac = mac_of(3)
    address = dora(a, mac, 1000.0)
    a.store.close()
    (reply,), _ = ask(b, request(3, mac, giaddr=RELAY, ciaddr=str(address)), 1000.0 + LEASE + 1)
    assert reply.message_type == 6  # authoritative: the lease ran out, the client starts over
    assert b.metrics["taken-over"] == 0
    b.store.close()


def test_a_decline_quarantines_only_the_decliners_own_binding(pg_url: str) -> None:
    a, b = node(SID_A, pg_url), node(SID_B, pg_url)
    x, y = mac_of(1), mac_of(2)
    address = dora(a, x, 1000.0)
    later = 1000.0 + LEASE + 10  # x's lease ran out; b (which never knew it) gives the address to y
    assert dora(b, y, later) == address
    # x, late, DECLINEs to a, whose memory still says x holds it: the table says y does.
    (none, events) = ask(a, request(4, x, giaddr=RELAY, options=[(50, address.packed), (54, a.server_id.packed)]),
                         later + 1)
    assert none == [] and not any(isinstance(e, LeaseDeclined) for e in events)
    assert a.metrics["declines-refused"] == 1
    row = rows(pg_url)[address]
    assert (row.client, row.state) == (f"01:{y.hex()}", LeaseState.BOUND)
    assert a.engine.by_address[address].client == f"01:{y.hex()}"  # a learned who holds it
    # y's own DECLINE is written: the quarantine names y, which may not bind it again meanwhile.
    ask(b, request(4, y, giaddr=RELAY, options=[(50, address.packed), (54, b.server_id.packed)]), later + 2)
    row = rows(pg_url)[address]
    assert (row.client, row.state) == (f"01:{y.hex()}", LeaseState.DECLINED)
    a.store.put(Lease(address, f"01:{y.hex()}", "00:00:00:00:00:02", later + 100))
    assert [lease.state for lease in a.store.commit(later + 3)] == [LeaseState.DECLINED]
    a.store.close()
    b.store.close()


class AnsweringStore(MemoryLeaseStore):
    """A shared store whose look-ups the caller answers (the sans-IO way): asking it fails."""

    shared = True

    def bindings_of(self, clients: Iterable[str], now: float) -> list[Lease]:
        raise AssertionError("the caller answered the look-up: the core must not ask the store")


def test_the_caller_may_answer_the_lookup_itself() -> None:
    server = DhcpServer(config(SID_B), AnsweringStore())
    mac = mac_of(5)
    key = f"01:{mac.hex()}"
    elsewhere = Lease(IPv4Address("10.1.0.77"), key, "00:00:00:00:00:05", 5000.0)
    server.receive(request(1, mac, giaddr=RELAY), (RELAY, 67), 1000.0)
    assert server.lookups() == [key]
    stranger = Lease(IPv4Address("10.1.0.78"), "01:ffffffffffff", "ff:ff:ff:ff:ff:ff", 5000.0)
    server.learn([elsewhere, stranger])  # a binding of a client nobody asked about is not taken
    (offer,) = [decode(r.data) for r in server.datagrams_to_send()]
    assert offer.yiaddr == elsewhere.address
    assert IPv4Address("10.1.0.78") not in server.engine.by_address
    # Known now: its next DISCOVER is served at once, no look-up.
    server.receive(request(1, mac, giaddr=RELAY, xid=2), (RELAY, 67), 1001.0)
    assert server.lookups() == []
    assert [decode(r.data).yiaddr for r in server.datagrams_to_send()] == [elsewhere.address]


def test_a_single_server_store_defers_nothing() -> None:
    server = DhcpServer(config(SID_A), MemoryLeaseStore())
    server.receive(request(1, mac_of(5), giaddr=RELAY), (RELAY, 67), 1000.0)
    assert server.lookups() == []
    assert len(server.datagrams_to_send()) == 1


def test_a_clients_request_waits_behind_its_discover_in_one_batch(pg_url: str) -> None:
    """The DISCOVER (unknown client: looked up at the batch's end) and the REQUEST for the
    other node's OFFER arrive in one batch: the REQUEST must not be handled first, or the
    OFFER made after it would stay held for a client that took the other node's."""
    a, b = node(SID_A, pg_url), node(SID_B, pg_url)
    mac = mac_of(9)
    (offer,), _ = ask(a, request(1, mac, giaddr=RELAY), 1000.0)
    b.receive(request(1, mac, giaddr=RELAY), (RELAY, 67), 1000.0)
    b.receive(request(3, mac, giaddr=RELAY, options=[(50, offer.yiaddr.packed), (54, a.server_id.packed)]),
              (RELAY, 67), 1000.1)
    assert len(b.datagrams_to_send()) == 1  # the OFFER, made and then withdrawn by the REQUEST
    assert b.engine.offer_of(f"01:{mac.hex()}", 1000.2) is None
    a.store.close()
    b.store.close()


def test_an_offer_held_here_gives_way_to_the_binding_another_node_made(pg_url: str) -> None:
    a, b = node(SID_A, pg_url), node(SID_B, pg_url)
    mac = mac_of(10)
    ask(b, request(1, mac, giaddr=RELAY), 1000.0)  # b offers; the client takes a's (b never hears of it)
    b_offer = b.engine.offer_of(f"01:{mac.hex()}", 1000.0)
    ask(a, request(1, mac_of(11), giaddr=RELAY), 1000.0)  # a's lowest address goes to another client first
    address = dora(a, mac, 1000.0)
    assert address != b_offer
    a.store.close()  # a dies; the client starts over while b still holds its offer
    assert dora(b, mac, 1001.0) == address
    assert rows_per_client(pg_url)[f"01:{mac.hex()}"] == 1
    b.store.close()
