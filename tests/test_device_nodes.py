"""The device store with several serve nodes on one PostgreSQL database: what a node
remembers of the device rows is bounded in time, and a DHCP round's bindings cost one
look-up, not one per lease.

- a round's look-up (``prefetched``) reads fresh: a device another node created or changed
  is seen at the next round that binds it;
- a row this node wrote answers ``get`` for RECENT_TTL seconds (fake clock), then is read again;
- the DHCP transport and the worker's lease stream open one round around a round's events.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv4Network

from dhcp.message import decode
from pktcable.dhcpd import DhcpServer
from pktcable.dhcpd.config import DeviceClass, Pool, ServerConfig, Subnet
from pktcable.dhcpd.events import Event, LeaseBound
from pktcable.dhcpd.transport import DhcpTransport, open_socket
from pktcable.serve import leasewire as wire
from pktcable.serve.lookup import bindings_round
from pktcable.store import Lease
from pktcable.store.devices import Device, MemoryDeviceStore
from pktcable.store.pg_devices import RECENT_TTL, PgDeviceStore

from .dhcp_helpers import mac_of, request

MAC = "0010180a0001"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_device_another_node_created_is_seen_at_the_next_round(pg_url: str) -> None:
    a, b = PgDeviceStore(pg_url), PgDeviceStore(pg_url)
    try:
        with a.prefetched([MAC]):
            assert a.get(MAC) is None
        b.put(Device(MAC, kind="cm", template="gold.txt"))
        b.flush()  # written: commit only hands the batch to b's writer thread
        with a.prefetched([MAC]):
            found = a.get(MAC)
            assert found is not None and found.template == "gold.txt"
        assert a.get(MAC) is not None  # and outside a round, by its own SELECT
    finally:
        a.close()
        b.close()


def test_a_round_of_new_clients_is_one_read(pg_url: str) -> None:
    a = PgDeviceStore(pg_url)
    try:
        a.put(Device(MAC, kind="cm"))
        a.commit()
        macs = [f"0010180b{n:04x}" for n in range(50)] + [MAC]
        reads = a.reads
        with a.prefetched(macs):
            assert [a.get(mac) is None for mac in macs] == [True] * 50 + [False]
        assert a.reads == reads + 1
        a.get(macs[0])  # after the round: no longer answered from it
        assert a.reads == reads + 2
    finally:
        a.close()


def test_a_row_this_node_wrote_is_trusted_for_a_few_seconds_only(pg_url: str) -> None:
    clock = Clock()
    a, b = PgDeviceStore(pg_url, clock=clock), PgDeviceStore(pg_url)
    try:
        a.put(Device(MAC, kind="cm", template="a.txt"))
        a.flush()
        b.put(Device(MAC, kind="cm", template="b.txt"))  # another node changes the row, after a's write
        b.flush()
        reads = a.reads
        assert a.get(MAC).template == "a.txt"  # type: ignore[union-attr]  # its own write, no round trip
        assert a.reads == reads
        with a.prefetched([MAC]):  # a new binding reads fresh at once
            assert a.get(MAC).template == "b.txt"  # type: ignore[union-attr]
        clock.now += RECENT_TTL
        assert a.get(MAC).template == "b.txt"  # type: ignore[union-attr]  # and so does any get after the TTL
        a.put(Device(MAC, kind="cm", template="staged.txt"))
        with a.prefetched([MAC]):  # what this node staged is newer than any row
            assert a.get(MAC).template == "staged.txt"  # type: ignore[union-attr]
    finally:
        a.close()
        b.close()


class Counting(MemoryDeviceStore):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.rounds: list[list[str]] = []
        self.inside = False
        self.fail = fail

    @contextmanager
    def prefetched(self, macs):  # type: ignore[no-untyped-def, override]
        if self.fail:
            raise OSError("database away")
        self.rounds.append(list(macs))
        self.inside = True
        try:
            yield
        finally:
            self.inside = False


def bound(address: str, mac: str) -> LeaseBound:
    return LeaseBound(Lease(IPv4Address(address), f"01:{mac}", mac, 5000.0), "cm", "3.0")


def test_a_round_names_its_bindings_and_survives_a_failed_lookup() -> None:
    store = Counting()
    with bindings_round(store, [bound("10.1.0.10", "00:10:18:0a:00:01"), bound("10.1.0.11", "00:10:18:0a:00:02")]):
        assert store.inside
    assert store.rounds == [["0010180a0001", "0010180a0002"]]
    ran = False
    with bindings_round(Counting(fail=True), [bound("10.1.0.10", "00:10:18:0a:00:01")]):
        ran = True  # the events are told all the same; each get goes its own way
    assert ran


def test_the_transport_opens_one_round_around_a_rounds_events() -> None:
    subnets = [Subnet(IPv4Network("10.1.0.0/24"), [Pool(IPv4Address("10.1.0.10"), IPv4Address("10.1.0.200"))],
                      relays=(IPv4Address("127.0.0.2"),))]
    server = DhcpServer(ServerConfig(IPv4Address("127.0.0.1"), subnets, [DeviceClass("any", "any")], relay_port=9))
    store = Counting()
    told: list[tuple[Event, bool]] = []
    macs = [mac_of(n) for n in range(3)]
    offers = []
    for mac in macs:
        server.receive(request(1, mac, giaddr="127.0.0.2"), ("127.0.0.2", 67), 1000.0)
        offers.extend(decode(r.data) for r in server.datagrams_to_send())

    async def main() -> None:
        transport = DhcpTransport(server, open_socket("127.0.0.1", 0), clock=lambda: 1000.0,
                                  on_event=lambda e: told.append((e, store.inside)),
                                  round=lambda events: bindings_round(store, events))
        try:
            for mac, offer in zip(macs, offers, strict=True):
                transport.intake.push(request(3, mac, giaddr="127.0.0.2", options=[
                    (50, offer.yiaddr.packed), (54, offer.get(54))]), ("127.0.0.2", 67), 1000.0)
            transport._serve()
        finally:
            transport.close()

    asyncio.run(main())
    assert store.rounds == [[mac.hex() for mac in macs]]
    assert len(told) == 3 and all(inside for _, inside in told)


def test_the_worker_stream_opens_one_round_per_read() -> None:
    from pktcable.serve.dhcpworker import _Records

    store = Counting()
    applied: list[bool] = []

    async def main() -> None:
        records = _Records(lambda record: applied.append(store.inside), lambda events: bindings_round(store, events))
        records.data_received(wire.encode_event(bound("10.1.0.10", "00:10:18:0a:00:01"))
                              + wire.encode_event(bound("10.1.0.11", "00:10:18:0a:00:02")) + wire.encode_sync())

    asyncio.run(main())
    assert store.rounds == [["0010180a0001", "0010180a0002"]]
    assert applied == [True, True, True]
