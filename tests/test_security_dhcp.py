"""Hostile DHCP senders against the server on loopback UDP.

The server runs its real transport in a thread; the legitimate relay (a CMTS)
is 127.0.0.2, a second configured relay and the attacker's own host are
127.0.0.66, and direct clients live on 127.77.0.0/24 so a lease holder can
speak from its own leased address. The forged packets are built by scapy, an
encoder the project did not write, and sent with plain UDP sockets. Tests that
measure memory or count table entries drive the sans-IO core directly.
"""

from __future__ import annotations

import asyncio
import gc
import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP  # the test extra's packet builder

from dhcp.message import decode
from pktcable.dhcpd import DeviceClass, DhcpServer, Pool, ServerConfig, Subnet
from pktcable.dhcpd.config import from_dict
from pktcable.dhcpd.engine import SLACK
from pktcable.dhcpd.events import Dropped, Event, LeaseBound, LeaseDeclined, LeaseReleased
from pktcable.dhcpd.limits import (
    SUBNET_CACHE_LIMIT,
    VENDOR_CACHE_LIMIT,
    DeclineLimiter,
)
from pktcable.dhcpd.transport import DhcpTransport, open_socket
from pktcable.store import LeaseState, SqliteLeaseStore

SID = "127.0.0.1"
RELAY = "127.0.0.2"  # the CMTS the devices really sit behind
OTHER = "127.0.0.66"  # another relay the server also serves, and the attacker's host
DIRECT = "127.77.0.1"  # the server's own link for unrelayed clients
DIRECT_LEASE = "127.77.0.10"
CM_MAC = bytes.fromhex("02cc00000001")
MTA_MAC = bytes.fromhex("02dd00000001")
CIRCUIT = b"cable-1/0/0:7"
BUDGET = 10.0  # seconds for one reply or event on a loaded machine


def relay82(remote: bytes = CM_MAC, circuit: bytes = CIRCUIT) -> bytes:
    return bytes((1, len(circuit))) + circuit + bytes((2, len(remote))) + remote


def packet(kind: str, mac: bytes, *, giaddr: str = "0.0.0.0", ciaddr: str = "0.0.0.0", xid: int = 1,
           htype: int = 1, hlen: int = 6, options: list | None = None) -> bytes:  # type: ignore[type-arg]
    """A client message as scapy encodes it (option 82 only when a relay adds it)."""
    opts = [("message-type", kind), *(options or []), "end"]
    return bytes(BOOTP(op=1, htype=htype, hlen=hlen, hops=0 if giaddr == "0.0.0.0" else 1, xid=xid,
                       ciaddr=ciaddr, giaddr=giaddr, chaddr=mac.ljust(16, b"\0")) / DHCP(options=opts))


def config(**kw) -> ServerConfig:  # type: ignore[no-untyped-def]
    classes = [DeviceClass("mta", "mta", lease_time=600, realms=("BASIC.1",)), DeviceClass("cpe", "any")]
    subnets = [
        Subnet("10.1.0.0/24", [Pool("10.1.0.10", "10.1.0.40")], relays=(IPv4Address(RELAY),)),
        Subnet("10.9.0.0/24", [Pool("10.9.0.10", "10.9.0.40")], relays=(IPv4Address(OTHER),)),
        Subnet("127.77.0.0/24", [Pool(DIRECT_LEASE, "127.77.0.20")]),
    ]
    return ServerConfig(IPv4Address(SID), subnets, classes, **kw)


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


class Live:
    """The server's real asyncio transport on 127.0.0.1, in a thread; events land in a queue."""

    def __init__(self, cfg: ServerConfig, store: SqliteLeaseStore | None = None) -> None:
        self.relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where replies to relays go
        self.relay.bind((RELAY, 0))
        self.relay.settimeout(BUDGET)
        cfg.relay_port = self.relay.getsockname()[1]
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the attacker's relay port
        self.other.bind((OTHER, cfg.relay_port))
        self.clock = FakeClock()
        self.server = DhcpServer(cfg, store)
        self.events: queue.Queue[Event] = queue.Queue()
        self.sock = open_socket(SID, 0)
        self.port = self.sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        assert started.wait(BUDGET), "server thread did not start"

    def _run(self, started: threading.Event) -> None:
        async def main() -> None:
            transport = DhcpTransport(self.server, self.sock, link=IPv4Address(DIRECT), clock=self.clock,
                                      on_event=self.events.put)
            started.set()
            try:
                await self._stop.wait()
            finally:
                transport.close()

        self.loop.run_until_complete(main())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(BUDGET)
        self.loop.close()
        self.relay.close()
        self.other.close()

    def send(self, data: bytes, source: str = RELAY) -> None:
        if source == RELAY:
            self.relay.sendto(data, (SID, self.port))
            return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((source, 0))
            s.sendto(data, (SID, self.port))

    def event(self, match: Callable[[Event], bool]) -> Event:
        """The next event ``match`` accepts (others are skipped)."""
        while True:
            try:
                event = self.events.get(timeout=BUDGET)
            except queue.Empty:
                raise AssertionError("the server reported nothing in time") from None
            if match(event):
                return event

    def outcome(self) -> Event:
        """What became of the last RELEASE/DECLINE: honoured or dropped."""
        return self.event(lambda e: isinstance(e, Dropped | LeaseReleased | LeaseDeclined))

    def reply(self) -> object:
        data, _ = self.relay.recvfrom(4096)
        return decode(data)

    def relayed_dora(self, mac: bytes, remote: bytes = CM_MAC, circuit: bytes = CIRCUIT, xid: int = 1) -> IPv4Address:
        """A device behind the CMTS gets a lease: the CMTS adds giaddr and option 82."""
        extra = [("vendor_class_id", b"pktc1.0"), ("relay_agent_information", relay82(remote, circuit))]
        self.send(packet("discover", mac, giaddr=RELAY, xid=xid, options=extra))
        offer = self.reply()
        assert offer.message_type == 2, offer  # type: ignore[attr-defined]
        address = offer.yiaddr  # type: ignore[attr-defined]
        self.send(packet("request", mac, giaddr=RELAY, xid=xid, options=[
            ("requested_addr", str(address)), ("server_id", SID), *extra]))
        assert self.reply().message_type == 5  # type: ignore[attr-defined]
        bound = self.event(lambda e: isinstance(e, LeaseBound))
        assert bound.lease.address == address  # type: ignore[union-attr]
        return address  # type: ignore[no-any-return]

    def direct_dora(self, mac: bytes) -> IPv4Address:
        """A client on the server's own link (no relay); replies are broadcast, so the lease is
        read from the server's event rather than from an OFFER."""
        self.send(packet("discover", mac, options=[("requested_addr", DIRECT_LEASE)]), DIRECT)
        self.send(packet("request", mac, options=[("requested_addr", DIRECT_LEASE), ("server_id", SID)]), DIRECT)
        bound = self.event(lambda e: isinstance(e, LeaseBound))
        assert bound.lease.address == IPv4Address(DIRECT_LEASE)  # type: ignore[union-attr]
        return bound.lease.address  # type: ignore[union-attr]

    def state(self, address: IPv4Address) -> LeaseState | None:
        lease = self.server.engine.by_address.get(address)
        return lease.state if lease is not None else None


@pytest.fixture
def live() -> Iterator[Live]:
    server = Live(config())
    yield server
    server.close()


def refused(event: Event, key: str) -> bool:
    return isinstance(event, Dropped) and event.reason.startswith(key + ":")


# -- RELEASE ---------------------------------------------------------------------------------------------

def test_release_from_another_relay_keeps_the_lease(live: Live) -> None:
    address = live.relayed_dora(MTA_MAC)
    # The attacker knows the MTA's MAC, address and option 82 and relays through a CMTS the
    # server also serves.
    live.send(packet("release", MTA_MAC, giaddr=OTHER, ciaddr=str(address),
                     options=[("server_id", SID), ("relay_agent_information", relay82())]), OTHER)
    assert refused(live.outcome(), "release-wrong-relay")
    assert live.state(address) is LeaseState.BOUND
    assert live.server.engine.bound_lease(MTA_MAC.hex(), live.clock.now) is not None
    assert live.server.metrics["release-wrong-relay"] == 1


def test_release_with_forged_giaddr_from_another_port_keeps_the_lease(live: Live) -> None:
    address = live.relayed_dora(MTA_MAC)
    # Unicast straight to the server, claiming the real relay, but from another cable port.
    live.send(packet("release", MTA_MAC, giaddr=RELAY, ciaddr=str(address),
                     options=[("server_id", SID), ("relay_agent_information", relay82(circuit=b"cable-9/0/0:1"))]),
              OTHER)
    assert refused(live.outcome(), "release-wrong-option-82")
    # ... or behind another modem on the right port.
    live.send(packet("release", MTA_MAC, giaddr=RELAY, ciaddr=str(address),
                     options=[("relay_agent_information", relay82(remote=bytes.fromhex("02cc00000099")))]), OTHER)
    assert refused(live.outcome(), "release-wrong-option-82")
    assert live.state(address) is LeaseState.BOUND


def test_release_straight_from_another_host_keeps_the_lease(live: Live) -> None:
    relayed = live.relayed_dora(MTA_MAC)
    direct = live.direct_dora(bytes.fromhex("02ee00000001"))
    for mac, address in ((MTA_MAC, relayed), (bytes.fromhex("02ee00000001"), direct)):
        live.send(packet("release", mac, ciaddr=str(address), options=[("server_id", SID)]), OTHER)
        assert refused(live.outcome(), "release-wrong-source")
        assert live.state(address) is LeaseState.BOUND


def test_forged_renewal_cannot_move_the_binding_path(live: Live) -> None:
    address = live.relayed_dora(MTA_MAC)
    # A unicast renewal from elsewhere (the server answers it: it cannot tell) must not make
    # the attacker's path the binding's.
    live.send(packet("request", MTA_MAC, ciaddr=str(address)), OTHER)
    live.event(lambda e: isinstance(e, LeaseBound))
    lease = live.server.engine.bound_lease(MTA_MAC.hex(), live.clock.now)
    assert lease is not None and lease.giaddr == RELAY and lease.circuit_id == CIRCUIT.hex(":")
    live.send(packet("release", MTA_MAC, ciaddr=str(address)), OTHER)
    assert refused(live.outcome(), "release-wrong-source")
    assert live.state(address) is LeaseState.BOUND


def test_holder_releases_on_its_own_path(live: Live) -> None:
    relayed = live.relayed_dora(MTA_MAC)
    live.send(packet("release", MTA_MAC, giaddr=RELAY, ciaddr=str(relayed),
                     options=[("server_id", SID), ("relay_agent_information", relay82())]))
    assert isinstance(live.outcome(), LeaseReleased) and live.state(relayed) is LeaseState.RELEASED
    mac = bytes.fromhex("02ee00000002")
    direct = live.direct_dora(mac)
    live.send(packet("release", mac, ciaddr=str(direct), options=[("server_id", SID)]), DIRECT_LEASE)
    assert isinstance(live.outcome(), LeaseReleased) and live.state(direct) is LeaseState.RELEASED


# -- DECLINE ---------------------------------------------------------------------------------------------

def decline(mac: bytes, address: IPv4Address, giaddr: str = RELAY, option82: bytes | None = None) -> bytes:
    return packet("decline", mac, giaddr=giaddr, options=[
        ("requested_addr", str(address)), ("server_id", SID),
        ("relay_agent_information", relay82() if option82 is None else option82)])


def test_decline_from_another_relay_keeps_the_address_in_service(live: Live) -> None:
    address = live.relayed_dora(MTA_MAC)
    live.send(decline(MTA_MAC, address, giaddr=OTHER), OTHER)
    assert refused(live.outcome(), "decline-wrong-relay")
    live.send(decline(MTA_MAC, address, option82=relay82(remote=bytes.fromhex("02cc00000099"))), OTHER)
    assert refused(live.outcome(), "decline-wrong-option-82")
    live.send(packet("decline", MTA_MAC, options=[("requested_addr", str(address)), ("server_id", SID)]), OTHER)
    assert refused(live.outcome(), "decline-wrong-relay")  # a relayed binding is not declined directly
    assert live.state(address) is LeaseState.BOUND


def test_decline_storm_quarantines_at_most_the_limit(live: Live) -> None:
    assert live.server.config.decline_limit == 3  # the default
    quarantined, limited = [], 0
    for round_ in range(8):  # a client that declines every address it gets
        address = live.relayed_dora(MTA_MAC, xid=round_ + 1)
        live.send(decline(MTA_MAC, address))
        outcome = live.outcome()
        if isinstance(outcome, LeaseDeclined):
            quarantined.append(address)
        else:
            assert refused(outcome, "decline-limit")
            limited += 1
    assert len(quarantined) == 3 and limited == 5
    assert sum(lease.state is LeaseState.DECLINED for lease in live.server.engine.by_address.values()) == 3
    assert live.server.metrics["decline-limit"] == 5
    # An hour later the client's real conflicts count again.
    live.clock.now += live.server.config.decline_window
    address = live.relayed_dora(MTA_MAC, xid=99)
    live.send(decline(MTA_MAC, address))
    assert isinstance(live.outcome(), LeaseDeclined)


def test_holder_declines_on_its_own_path(live: Live) -> None:
    address = live.relayed_dora(MTA_MAC)
    live.send(decline(MTA_MAC, address))
    assert isinstance(live.outcome(), LeaseDeclined) and live.state(address) is LeaseState.DECLINED


# -- hardware types --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("htype", "hlen"), [(6, 6), (32, 0), (1, 16), (1, 4), (0, 6)])
def test_discover_with_non_ethernet_hardware_gets_no_offer(live: Live, htype: int, hlen: int) -> None:
    live.send(packet("discover", MTA_MAC, giaddr=RELAY, xid=7, htype=htype, hlen=hlen))
    assert refused(live.event(lambda e: isinstance(e, Dropped)), "bad-hardware")
    # A real client right after: its OFFER is the first and only datagram (replies leave in order).
    live.send(packet("discover", CM_MAC, giaddr=RELAY, xid=8))
    first = live.reply()
    assert first.message_type == 2 and first.xid == 8  # type: ignore[attr-defined]
    assert live.server.metrics["bad-hardware"] == 1 and live.server.metrics["offers"] == 1


def test_request_with_non_ethernet_hardware_gets_no_reply(live: Live) -> None:
    live.send(packet("request", MTA_MAC, giaddr=RELAY, xid=7, htype=6, options=[("requested_addr", "10.1.0.11")]))
    assert refused(live.event(lambda e: isinstance(e, Dropped)), "bad-hardware")
    live.send(packet("discover", CM_MAC, giaddr=RELAY, xid=8))
    assert live.reply().xid == 8  # type: ignore[attr-defined]
    assert live.server.metrics["naks"] == 0 and live.server.metrics["acks"] == 0


# -- bounded tables (sans-IO: every datagram counted, memory measured) ---------------------------------

#: Resident-memory growth allowed for 100 000 distinct option 60 strings plus 100 000 distinct
#: relay addresses. The caches hold at most VENDOR_CACHE_LIMIT decoded strings (each with its
#: capability items, ~2 KB) and SUBNET_CACHE_LIMIT links: under 3 MB together; a subnet cache
#: keyed without bound grows by about 20 MB under the same traffic.
MEMORY_BOUND = 8 << 20


def resident() -> int:
    """The process's resident set in bytes (tracemalloc would be exact but makes the 100 000
    decodes four times slower)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE"))


def capability_string(n: int) -> bytes:
    """A distinct, valid eMTA option 60 with a capability TLV as long as a real one (CG3000's)."""
    subs = bytes((1, 1, 1, 2, 1, n & 0xFF, 16, 1, (n >> 8) & 0xFF, 19, 1, (n >> 16) & 0xFF))
    subs += bytes((9, 1, 1, 12, 1, 1, 13, 1, 1, 18, 2, 0, 7, 11, 4, 6, 9, 3, 4))
    return b"pktc1.5:" + (bytes((5, len(subs))) + subs).hex().encode()


GIADDR_AT = 24  # offset of giaddr in the BOOTP header


def test_100k_distinct_option_60_and_links_keep_memory_bounded() -> None:
    """100 000 DISCOVERs, each with an option 60 and a relay address never seen before (scapy
    builds one, the rest differ in those bytes only); each key is decoded, looked up and dropped."""
    server = DhcpServer(config())
    template = packet("discover", bytes.fromhex("02ff00000001"), giaddr="11.0.0.0",
                      options=[("vendor_class_id", capability_string(0))])
    at, size = template.index(capability_string(0)), len(capability_string(0))
    base = int(IPv4Address("11.0.0.0"))

    def run(start: int, count: int) -> None:
        for n in range(start, start + count):
            data = template[:GIADDR_AT] + (base + n).to_bytes(4, "big") + template[GIADDR_AT + 4:at] + \
                capability_string(n) + template[at + size:]
            server.receive(data, (RELAY, 67), 0.0)
            server.datagrams_to_send()
            while server.next_event() is not None:
                pass

    run(0, 5000)  # warm up: code paths, interned objects, both caches filled once
    gc.collect()
    before = resident()
    run(5000, 100_000)
    gc.collect()
    grown = resident() - before
    assert server.metrics["received"] == 105_000 and server.metrics["malformed"] == 0
    assert len(server.policy.vendor_cache) <= VENDOR_CACHE_LIMIT
    assert len(server.policy._subnets) <= SUBNET_CACHE_LIMIT
    assert grown < MEMORY_BOUND, f"grew {grown} bytes"


def sans_io_dora(server: DhcpServer, mac: bytes, now: float, xid: int = 1) -> IPv4Address:
    extra = [("relay_agent_information", relay82())]
    server.receive(packet("discover", mac, giaddr=RELAY, xid=xid, options=extra), (RELAY, 67), now)
    (offer,) = server.datagrams_to_send()
    address = decode(offer.data).yiaddr
    server.receive(packet("request", mac, giaddr=RELAY, xid=xid, options=[
        ("requested_addr", str(address)), ("server_id", SID), *extra]), (RELAY, 67), now)
    (ack,) = server.datagrams_to_send()
    assert decode(ack.data).message_type == 5
    return address


CHADDR_AT, CIADDR_AT = 28, 12  # offsets in the BOOTP header
PLACEHOLDER = IPv4Address("10.255.255.254")


def patched(template: bytes, mac: bytes, address: IPv4Address) -> bytes:
    """``template`` (built by scapy once) for another MAC and address: option 50 and ciaddr
    carry ``PLACEHOLDER`` in the template."""
    data = template[:CHADDR_AT] + mac + template[CHADDR_AT + 6:]
    data = data.replace(b"\x32\x04" + PLACEHOLDER.packed, b"\x32\x04" + address.packed)
    if data[CIADDR_AT:CIADDR_AT + 4] == PLACEHOLDER.packed:
        data = data[:CIADDR_AT] + address.packed + data[CIADDR_AT + 4:]
    return data


def test_mac_churn_keeps_lease_tables_bounded() -> None:
    """5 000 MACs each take a lease and give it back: the tables stay the pool's size."""
    server = DhcpServer(config())
    extra = [("relay_agent_information", relay82())]
    discover = packet("discover", MTA_MAC, giaddr=RELAY, options=extra)
    request = packet("request", MTA_MAC, giaddr=RELAY, options=[
        ("requested_addr", str(PLACEHOLDER)), ("server_id", SID), *extra])
    release = packet("release", MTA_MAC, giaddr=RELAY, ciaddr=str(PLACEHOLDER), options=extra)
    for n in range(5000):
        mac, now = b"\x02\xab" + n.to_bytes(4, "big"), 100.0 + n
        server.receive(patched(discover, mac, PLACEHOLDER), (RELAY, 67), now)
        (offer,) = server.datagrams_to_send()
        address = decode(offer.data).yiaddr
        server.receive(patched(request, mac, address), (RELAY, 67), now)
        server.receive(patched(release, mac, address), (RELAY, 67), now)
        server.datagrams_to_send()
        while server.next_event() is not None:
            pass
    engine = server.engine
    assert server.metrics["acks"] == 5000 and server.metrics["releases"] == 5000
    assert len(engine.by_mac) <= 31 and len(engine.by_client) <= 31 and len(engine.by_address) <= 31


def test_renewal_and_discover_floods_keep_engine_queues_bounded() -> None:
    server = DhcpServer(config())
    address = sans_io_dora(server, MTA_MAC, 0.0)
    renew = packet("request", MTA_MAC, ciaddr=str(address))
    discover = packet("discover", CM_MAC, giaddr=RELAY)
    for n in range(5000):
        server.receive(renew, (str(address), 68), 0.001 * n)
        server.receive(discover, (RELAY, 67), 0.001 * n)
        server.datagrams_to_send()
    assert server.metrics["acks"] == 5001 and server.metrics["offers"] == 5001
    engine = server.engine
    assert len(engine._expiry) <= 2 * len(engine.by_address) + SLACK + 1
    assert len(engine._offer_queue) <= 2 * len(engine.offers) + SLACK + 1
    # Nothing live was lost in the rebuilds: the lease still expires once, the offer lapses.
    expired = list(engine.expire(10_000.0))
    assert [lease.address for lease in expired] == [address] and not engine.offers
    assert list(engine.expire(20_000.0)) == []


def test_decline_tracking_table_stays_bounded() -> None:
    limiter = DeclineLimiter(limit=3, window=60.0, max_clients=1000)
    refusals = 0
    for n in range(100_000):  # a new client every 10 ms: 6 000 inside any window
        if limiter.refuse(f"client-{n}", n * 0.01) is not None:
            refusals += 1
        assert len(limiter) <= 1000
    assert refusals > 0  # the table was full of clients inside their window
    assert limiter.refuse("late", 100_000.0) is None  # and frees itself once they are past it
    assert DeclineLimiter(0, 60.0).refuse("any", 0.0) == "decline-limit"


# -- settings and persistence ----------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value"), [("decline_limit", -1), ("decline_limit", 2.5), ("decline_limit", True),
                                            ("decline_window", 0), ("decline_window", "1h")])
def test_bad_decline_settings_are_refused_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        from_dict({"server": {"server_id": SID, key: value}})


def test_decline_settings_come_from_the_server_table() -> None:
    cfg = from_dict({"server": {"server_id": SID, "decline_limit": 1, "decline_window": 60}})
    server = DhcpServer(ServerConfig(cfg.server_id, config().subnets, decline_limit=cfg.decline_limit,
                                     decline_window=cfg.decline_window))
    for round_, expected in enumerate([None, "decline-limit"]):
        address = sans_io_dora(server, MTA_MAC, 0.0, xid=round_)
        server.receive(decline(MTA_MAC, address), (RELAY, 67), 0.0)
        assert server.metrics["declines"] == 1 and server.metrics["decline-limit"] == (expected is not None)


def test_binding_path_survives_restart_and_old_lease_files(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "leases.db"
    old = sqlite3.connect(db)  # a lease file from before option 82 circuit ids were kept
    old.execute("CREATE TABLE lease4 (address INTEGER PRIMARY KEY, client TEXT NOT NULL, mac TEXT NOT NULL, "
                "expires REAL NOT NULL, state TEXT NOT NULL, device_class TEXT NOT NULL, subnet TEXT NOT NULL, "
                "remote_id TEXT NOT NULL, hostname TEXT NOT NULL, giaddr TEXT NOT NULL DEFAULT '')")
    old.commit()
    old.close()
    server = DhcpServer(config(), SqliteLeaseStore(str(db)))
    address = sans_io_dora(server, MTA_MAC, 0.0)
    server.store.close()
    server = DhcpServer(config(), SqliteLeaseStore(str(db)))
    lease = server.engine.by_address[address]
    assert (lease.giaddr, lease.remote_id, lease.circuit_id) == (RELAY, CM_MAC.hex(":"), CIRCUIT.hex(":"))
    server.receive(packet("release", MTA_MAC, giaddr=RELAY, ciaddr=str(address),
                          options=[("relay_agent_information", relay82(circuit=b"other"))]), (RELAY, 67), 1.0)
    assert server.metrics["release-wrong-option-82"] == 1 and lease.state is LeaseState.BOUND
    server.store.close()
