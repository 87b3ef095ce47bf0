"""The DHCPv4 core, sans-IO: lease lifecycle, relays, device classes, persistence."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhcp.message import BROADCAST, decode
from dhcp.options import CCC, SPACES, decode_space
from pktcable.dhcpd import DeviceClass, DhcpServer, Pool, Reservation, ServerConfig, Subnet
from pktcable.dhcpd.events import FlowNotSupported, LeaseBound
from pktcable.store import LeaseState, LeaseStore, MemoryLeaseStore, SqliteLeaseStore

from .dhcp_helpers import CG3000, mac_of, opt60, relay82, request
from .stores import PERSISTENT, lease_opener

RELAY = "10.1.0.1"
SID = "192.0.2.1"


def config(**kw) -> ServerConfig:  # type: ignore[no-untyped-def]
    classes = [
        DeviceClass("cm", "cm", lease_time=600, next_server=IPv4Address(SID), filename="cm/{mac}.cfg",
                    options={"time-servers": [SID], "time-offset": -3600, "log-servers": [SID]},
                    ccc={"dhcp-server-1": IPv4Address(SID)}),
        DeviceClass("mta", "mta", lease_time=900, realms=("BASIC.1",), next_server=IPv4Address(SID),
                    filename="mta/{mac}.cfg", hostname="mta-{mac}",
                    options={"domain-name-servers": [SID], "domain-name": "voice.example.net", "log-servers": [SID]},
                    ccc={"prov-server": "prov.example.net", "prov-timer": 10}),
        DeviceClass("cpe", "any", lease_time=300),
    ]
    subnets = [
        Subnet(network="10.1.0.0/24", pools=[Pool("10.1.0.10", "10.1.0.19", ("cm",))],
               options={"routers": [RELAY]}),
        Subnet(network="10.2.0.0/24", pools=[Pool("10.2.0.10", "10.2.0.19", ("mta",)),
                                             Pool("10.2.0.100", "10.2.0.102", ("cpe",))],
               options={"routers": ["10.2.0.1"]}, relays=(IPv4Address(RELAY),)),
        Subnet(network="192.0.2.0/24", pools=[Pool("192.0.2.50", "192.0.2.52")]),
    ]
    kw.setdefault("subnets", subnets)
    return ServerConfig(server_id=IPv4Address(SID), classes=classes, **kw)


class Harness:
    def __init__(self, server: DhcpServer) -> None:
        self.server, self.now = server, 1000.0

    def send(self, data: bytes, src: tuple[str, int] = (RELAY, 67), link: str | None = None):  # type: ignore[no-untyped-def]
        self.server.receive(data, src, self.now, IPv4Address(link) if link else None)
        return [(decode(r.data), r) for r in self.server.datagrams_to_send()]

    def dora(self, mac: bytes, options: list | None = None, giaddr: str | None = RELAY):  # type: ignore[no-untyped-def, type-arg]
        (offer, _), = self.send(request(1, mac, giaddr=giaddr, options=options))
        (ack, r), = self.send(request(3, mac, giaddr=giaddr, options=[
            (50, offer.yiaddr.packed), (54, offer.get(54)), *(options or [])]))
        assert ack.message_type == 5
        return ack, r


@pytest.fixture
def h() -> Harness:
    return Harness(DhcpServer(config()))


def test_relayed_cm_dora(h: Harness) -> None:
    mac = mac_of(1)
    ack, reply = h.dora(mac, [opt60("docsis3.0:0506010101020103")])
    assert reply.addr == (RELAY, 67) and reply.mac is None
    assert ack.yiaddr == IPv4Address("10.1.0.10") and ack.giaddr == IPv4Address(RELAY)
    assert ack.siaddr == IPv4Address(SID) and ack.file.rstrip(b"\0") == f"cm/{mac.hex()}.cfg".encode()
    assert ack.get(2) == (-3600).to_bytes(4, "big", signed=True) and ack.get(4) == IPv4Address(SID).packed
    assert ack.get(51) == (600).to_bytes(4, "big") and ack.get(3) == IPv4Address(RELAY).packed
    assert decode_space(CCC, ack.get(122) or b"")[0].value == IPv4Address(SID)


def test_relayed_mta_gets_option_122_and_basic_file(h: Harness) -> None:
    mac = mac_of(2)
    ack, _ = h.dora(mac, [opt60(CG3000), (43, bytes.fromhex("0204454d5441")), relay82(mac_of(1))])
    assert ack.yiaddr in (IPv4Address(f"10.2.0.{i}") for i in range(10, 20))
    ccc = {i.name: i.value for i in decode_space(CCC, ack.get(122) or b"")}
    assert ccc == {"prov-server": "prov.example.net", "realm": "BASIC.1", "prov-timer": 10}
    assert ack.get(12) == f"mta-{mac.hex()}".encode() and ack.get(15) == b"voice.example.net"
    assert ack.get(6) == IPv4Address(SID).packed and ack.get(1) == IPv4Address("255.255.255.0").packed
    assert ack.file.rstrip(b"\0") == f"mta/{mac.hex()}.cfg".encode()
    assert ack.get(82) is not None  # echoed to the relay (RFC 3046)
    assert [lease.mac for lease in h.server.devices_behind(mac_of(1).hex(":"))] == [mac.hex(":")]


def test_realm_follows_capability_tlv_18() -> None:
    cfg = config()
    cfg.classes[1].realms = ("HYBRID.2", "BASIC.1")
    h = Harness(DhcpServer(cfg))
    basic_only = "pktc1.5:050701010112020004"  # 05 07 | 01 01 01 (1.5) | 12 02 0004 (basic only)
    ack, _ = h.dora(mac_of(3), [opt60(basic_only)])
    assert {i.name: i.value for i in decode_space(CCC, ack.get(122) or b"")}["realm"] == "BASIC.1"
    cfg.reservations.append(Reservation(mac_of(4).hex(), realm="HYBRID.1"))
    h2 = Harness(DhcpServer(cfg))
    ack, _ = h2.dora(mac_of(4), [opt60(basic_only)])
    assert ack.file.rstrip(b"\0") == b""  # hybrid flows get no config file name
    events = []
    while (e := h2.server.next_event()) is not None:
        events.append(e)
    assert any(isinstance(e, FlowNotSupported) for e in events)


def test_direct_clients_broadcast_and_unicast(h: Harness) -> None:
    (offer, r), = h.send(request(1, mac_of(5), flags=BROADCAST), src=("0.0.0.0", 68), link=SID)
    assert r.addr == ("255.255.255.255", 68) and offer.yiaddr == IPv4Address("192.0.2.50")
    (offer, r), = h.send(request(1, mac_of(6)), src=("0.0.0.0", 68), link=SID)
    assert r.addr == ("192.0.2.51", 68) and r.mac == mac_of(6)


def test_request_for_another_server_withdraws_offer(h: Harness) -> None:
    (offer, _), = h.send(request(1, mac_of(7)))
    assert h.send(request(3, mac_of(7), options=[(50, offer.yiaddr.packed), (54, bytes([192, 0, 2, 99]))])) == []
    assert h.server.engine.offer_of("01:" + mac_of(7).hex(), h.now) is None


def test_nak_for_address_not_offered(h: Harness) -> None:
    h.send(request(1, mac_of(8), giaddr=RELAY))
    (nak, r), = h.send(request(3, mac_of(8), giaddr=RELAY, options=[(50, bytes([10, 2, 0, 15])), (54, IPv4Address(SID).packed)]))
    assert nak.message_type == 6 and nak.flags & BROADCAST and r.addr == (RELAY, 67)


def test_init_reboot_renew_rebind(h: Harness) -> None:
    mac = mac_of(9)
    ack, _ = h.dora(mac)
    addr = ack.yiaddr.packed
    (again, _), = h.send(request(3, mac, giaddr=RELAY, options=[(50, addr)]))  # INIT-REBOOT
    assert again.message_type == 5 and again.yiaddr == ack.yiaddr
    (wrong, _), = h.send(request(3, mac, giaddr=RELAY, options=[(50, bytes([10, 2, 0, 200]))]))
    assert wrong.message_type == 6
    (off_net, _), = h.send(request(3, mac, giaddr=RELAY, options=[(50, bytes([172, 16, 0, 1]))]))
    assert off_net.message_type == 6
    h.now += 200  # renewing: unicast from the client, ciaddr set
    (renew, r), = h.send(request(3, mac, ciaddr=str(ack.yiaddr)), src=(str(ack.yiaddr), 68))
    assert renew.message_type == 5 and r.addr == (str(ack.yiaddr), 68)
    lease = h.server.engine.lease_of("01:" + mac.hex())
    assert lease is not None and lease.expires == h.now + 300
    (nak, _), = h.send(request(3, mac_of(10), ciaddr=str(ack.yiaddr)), src=(str(ack.yiaddr), 68))
    assert nak.message_type == 6


def test_decline_quarantines_and_release_frees(h: Harness) -> None:
    a, _ = h.dora(mac_of(11))
    h.send(request(4, mac_of(11), giaddr=RELAY, options=[(50, a.yiaddr.packed), (54, IPv4Address(SID).packed)]))
    b, _ = h.dora(mac_of(11))
    assert b.yiaddr != a.yiaddr
    assert h.server.engine.by_address[a.yiaddr].state is LeaseState.DECLINED
    h.send(request(7, mac_of(11), ciaddr=str(b.yiaddr), options=[(54, IPv4Address(SID).packed)]),
           src=(str(b.yiaddr), 68))
    assert h.server.engine.by_address[b.yiaddr].state is LeaseState.RELEASED
    c, _ = h.dora(mac_of(11))  # the same client gets its released address back
    assert c.yiaddr == b.yiaddr


def test_inform_gets_options_without_lease(h: Harness) -> None:
    (ack, r), = h.send(request(8, mac_of(12), ciaddr="192.0.2.77"), src=("192.0.2.77", 68), link=SID)
    assert ack.message_type == 5 and ack.yiaddr == IPv4Address(0) and ack.get(51) is None
    assert r.addr == ("192.0.2.77", 68)


def test_pool_exhaustion_and_expiry(h: Harness) -> None:
    got = [h.dora(mac_of(20 + i), giaddr=None)[0].yiaddr for i in range(3)]  # link defaults to server id
    assert len(set(got)) == 3
    assert h.send(request(1, mac_of(30), giaddr=None)) == []  # 192.0.2.50-52 all bound
    assert h.server.metrics["pool-exhausted"] == 1
    h.now += 301
    h.server.handle_timer(h.now)
    ack, _ = h.dora(mac_of(30), giaddr=None)
    assert ack.yiaddr in got


def test_reservation_by_mac(h: Harness) -> None:
    cfg = config(reservations=[Reservation(mac_of(40).hex(":"), address=IPv4Address("10.2.0.18"),
                                           hostname="mta-front-door")])
    h = Harness(DhcpServer(cfg))
    ack, _ = h.dora(mac_of(40), [opt60(CG3000)])
    assert ack.yiaddr == IPv4Address("10.2.0.18") and ack.get(12) == b"mta-front-door"
    (offer, _), = h.send(request(1, mac_of(41), options=[opt60(CG3000), (50, bytes([10, 2, 0, 18]))]))
    assert offer.yiaddr != IPv4Address("10.2.0.18")


def test_malformed_packets_are_counted_and_dropped(h: Harness) -> None:
    for bad in (b"", b"\x01" * 300, request(1, mac_of(1))[:-3] + b"\x3c\x09pktc1.5:zz",
                request(1, mac_of(1), options=[(82, b"\x02\x09abc")])):
        assert h.send(bad) == []
    assert h.server.metrics["malformed"] == 4


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 8))
def test_nothing_a_client_sends_raises(tail: bytes, kind: int) -> None:
    h = Harness(DhcpServer(config()))
    base = request(kind, mac_of(50))
    h.send(base[:240] + tail)
    h.send(base[:-1] + tail)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([1, 3, 4, 7, 99]), st.integers(0, 400)),
                max_size=60))
def test_no_address_is_ever_held_by_two_clients(steps: list[tuple[int, int, int]]) -> None:
    """Random DISCOVER/REQUEST/DECLINE/RELEASE/time steps; every ACKed lease stays exclusive."""
    h = Harness(DhcpServer(config()))
    offers: dict[int, IPv4Address] = {}
    acked: dict[IPv4Address, tuple[int, float]] = {}  # address -> (client, expires)
    for client, kind, dt in steps:
        mac = mac_of(100 + client)
        if kind == 99:
            h.now += dt
            h.server.handle_timer(h.now)
            continue
        opts = []
        if kind in (3, 4) and client in offers:
            opts = [(50, offers[client].packed), (54, IPv4Address(SID).packed)]
        ciaddr = str(offers[client]) if kind == 7 and client in offers else None
        for msg, _ in h.send(request(kind, mac, giaddr=None, ciaddr=ciaddr, options=opts)):
            if msg.message_type == 2:
                offers[client] = msg.yiaddr
            if msg.message_type == 5:
                holder = acked.get(msg.yiaddr)
                assert holder is None or holder[0] == client or holder[1] <= h.now, "address given twice"
                acked[msg.yiaddr] = (client, h.now + 300)
        if kind in (4, 7) and client in offers:
            acked.pop(offers[client], None) if acked.get(offers[client], (None,))[0] == client else None


@pytest.fixture(params=PERSISTENT)
def opener(request: pytest.FixtureRequest, tmp_path) -> Callable[[], LeaseStore]:  # type: ignore[no-untyped-def]
    """Opens (again) one lease store of each persistent backend."""
    return lease_opener(request.param, request, tmp_path)


def test_leases_survive_restart(opener: Callable[[], LeaseStore]) -> None:
    store = opener()
    h = Harness(DhcpServer(config(), store))
    h.server.receive(request(1, mac_of(60), giaddr=RELAY, options=[opt60(CG3000)]), (RELAY, 67), h.now)
    (offer,) = h.server.datagrams_to_send()
    h.server.receive(request(3, mac_of(60), giaddr=RELAY, options=[
        opt60(CG3000), (50, decode(offer.data).yiaddr.packed), (54, IPv4Address(SID).packed)]), (RELAY, 67), h.now)
    assert opener().load() and not list(opener().load())  # staged, not yet durable
    (ack,) = h.server.datagrams_to_send()  # commits first
    rows = list(opener().load())
    assert [(r.address, r.mac, r.device_class) for r in rows] == [(decode(ack.data).yiaddr, mac_of(60).hex(":"),
                                                                   "mta")]
    store.close()
    h2 = Harness(DhcpServer(config(), opener()))
    (offer2, _), = h2.send(request(1, mac_of(60), giaddr=RELAY, options=[opt60(CG3000)]))
    assert offer2.yiaddr == decode(ack.data).yiaddr
    (other, _), = h2.send(request(1, mac_of(61), giaddr=RELAY, options=[opt60(CG3000)]))
    assert other.yiaddr != offer2.yiaddr


def test_events_and_memory_store_commit(h: Harness) -> None:
    store = MemoryLeaseStore()
    h = Harness(DhcpServer(config(), store))
    h.dora(mac_of(70))
    assert store.commits == 1 and len(store.rows) == 1
    events = []
    while (e := h.server.next_event()) is not None:
        events.append(e)
    assert [type(e) for e in events] == [LeaseBound]
    assert SPACES["ccc"] is CCC


def test_lease_keeps_its_relay_and_is_found_by_mac(opener: Callable[[], LeaseStore]) -> None:
    h = Harness(DhcpServer(config(), opener()))
    ack, _ = h.dora(mac_of(80))
    lease = h.server.engine.bound_lease(mac_of(80).hex(":").upper(), h.now)
    assert lease is not None and lease.address == ack.yiaddr and lease.giaddr == RELAY
    assert h.server.engine.bound_lease(mac_of(80).hex(), h.now + 10_000) is None  # expired
    assert h.server.engine.bound_lease(mac_of(81).hex(), h.now) is None
    h.send(request(7, mac_of(80), ciaddr=str(ack.yiaddr), giaddr=RELAY))
    assert h.server.engine.bound_lease(mac_of(80).hex(), h.now) is None  # released
    (row,) = opener().load()
    assert row.giaddr == RELAY


def test_lease_file_without_relay_column_is_upgraded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    db = str(tmp_path / "leases.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE lease4 (address INTEGER PRIMARY KEY, client TEXT NOT NULL, mac TEXT NOT NULL, "
                "expires REAL NOT NULL, state TEXT NOT NULL, device_class TEXT NOT NULL, subnet TEXT NOT NULL, "
                "remote_id TEXT NOT NULL, hostname TEXT NOT NULL)")
    con.execute("INSERT INTO lease4 VALUES (167837962, 'c', '02:aa:00:00:00:01', 9e9, 'bound', 'cm', "
                "'10.1.0.0/24', '', '')")
    con.commit()
    con.close()
    (row,) = SqliteLeaseStore(db).load()
    assert row.mac == "02:aa:00:00:00:01" and row.giaddr == ""


def _bound(server: DhcpServer) -> list[LeaseBound]:
    out = []
    while (event := server.next_event()) is not None:
        if isinstance(event, LeaseBound):
            out.append(event)
    return out


def test_a_renewal_is_reported_as_one_and_a_reboot_is_not(h: Harness) -> None:
    """RENEWING/REBINDING extends the binding the client holds (no new provisioning
    run); SELECTING and INIT-REBOOT are a device starting over."""
    mac = mac_of(13)
    ack, _ = h.dora(mac)
    assert [e.renewal for e in _bound(h.server)] == [False]
    h.now += 200
    h.send(request(3, mac, ciaddr=str(ack.yiaddr)), src=(str(ack.yiaddr), 68))  # RENEWING (unicast)
    h.send(request(3, mac, giaddr=RELAY, ciaddr=str(ack.yiaddr)))  # REBINDING (broadcast, relayed)
    assert [e.renewal for e in _bound(h.server)] == [True, True]
    h.send(request(3, mac, giaddr=RELAY, options=[(50, ack.yiaddr.packed)]))  # INIT-REBOOT: it rebooted
    assert [e.renewal for e in _bound(h.server)] == [False]


def test_every_dropped_datagram_is_counted_by_a_fixed_reason(h: Harness) -> None:
    h.send(b"\x01" * 300)  # malformed
    h.send(request(3, mac_of(14), giaddr=RELAY))  # REQUEST with nothing to go on
    h.send(request(8, mac_of(14)), src=("192.0.2.77", 68))  # INFORM without ciaddr
    h.send(request(1, mac_of(15), giaddr="203.0.113.1"))  # from a relay on no subnet
    assert dict(h.server.drops) == {"malformed": 1, "incomplete-request": 1, "incomplete-inform": 1, "no-subnet": 1}
    assert h.server.metrics["dropped"] == 3  # the malformed one has its own counter
