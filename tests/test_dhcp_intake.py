"""The DHCP intake: priorities, bounds and shedding (sans-IO, on a fake clock), and overload
through a real socket."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections import Counter
from ipaddress import IPv4Address, IPv4Network

from dhcp.message import decode
from pktcable.dhcpd import DhcpServer
from pktcable.dhcpd.config import DeviceClass, Pool, ServerConfig, Subnet
from pktcable.dhcpd.intake import Intake, Priority, classify
from pktcable.dhcpd.transport import DhcpTransport, open_socket
from tests.dhcp_helpers import mac_of, request

SID = IPv4Address("127.0.0.1")
OURS = SID.packed
RELAY = "127.0.0.2"
SRC = (RELAY, 67)
BUDGET = 10.0  # seconds for one step on a loaded machine


def discover(n: int) -> bytes:
    return request(1, mac_of(n), xid=n, giaddr=RELAY)


def selecting(n: int, server: bytes = OURS) -> bytes:
    return request(3, mac_of(n), xid=n, giaddr=RELAY, options=[(54, server), (50, bytes((10, 1, 0, 10)))])


def renewing(n: int) -> bytes:
    return request(3, mac_of(n), xid=n, ciaddr="10.1.0.10")


def xid_of(data: bytes) -> int:
    return decode(data).xid


# -- classification --------------------------------------------------------------------------------------

def test_classify_puts_exchanges_in_progress_first_and_new_ones_last() -> None:
    assert classify(selecting(1), OURS) is Priority.BOUND
    assert classify(renewing(1), OURS) is Priority.BOUND
    assert classify(selecting(1, server=bytes((10, 9, 9, 9))), OURS) is Priority.OTHER
    init_reboot = request(3, mac_of(1), options=[(50, bytes((10, 1, 0, 10)))])
    assert classify(init_reboot, OURS) is Priority.OTHER
    for kind in (4, 7, 8):  # DECLINE, RELEASE, INFORM
        assert classify(request(kind, mac_of(1), ciaddr="10.1.0.10"), OURS) is Priority.OTHER
    assert classify(discover(1), OURS) is Priority.NEW


def test_classify_never_raises_and_ranks_unreadable_datagrams_last() -> None:
    good = selecting(1)
    rng = random.Random(7)
    samples = [b"", b"\x01" * 239, good[:240], good[:241], bytes(300), good[:236] + b"BOOT" + good[240:],
               request(99, mac_of(1)), good[:243], good[:-3]]
    samples += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(200, 400))) for _ in range(300)]
    samples += [good[:240] + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 60))) for _ in range(300)]
    for data in samples:
        classify(data, OURS)  # must not raise
    for data in samples[:7]:  # no type, or an unknown one
        assert classify(data, OURS) is Priority.NEW, data[:8]
    # Cut before option 54: a REQUEST without a server id, that is no answer to our OFFER.
    assert classify(good[:243], OURS) is Priority.OTHER


# -- order -----------------------------------------------------------------------------------------------

def test_without_a_backlog_datagrams_keep_their_arrival_order() -> None:
    intake = Intake(OURS)
    intake.push(discover(1), SRC, 0.0)
    intake.push(selecting(1), SRC, 0.0)
    intake.push(discover(2), SRC, 0.0)
    taken = intake.take(0.0, 8)
    assert [decode(d).message_type for d, _ in taken] == [1, 3, 1]
    assert len(intake) == 0 and not intake.shed


def test_under_a_backlog_requests_overtake_discovers_oldest_first() -> None:
    intake = Intake(OURS)
    for n in range(10):
        intake.push(discover(n), SRC, 0.0)
    intake.push(selecting(100), SRC, 0.1)
    intake.push(renewing(101), SRC, 0.1)
    intake.push(request(7, mac_of(102), xid=102, ciaddr="10.1.0.11"), SRC, 0.1)  # RELEASE
    first = [xid_of(d) for d, _ in intake.take(0.2, 5)]
    assert first == [100, 101, 102, 0, 1]  # in progress, then other, then the oldest DISCOVERs
    assert [xid_of(d) for d, _ in intake.take(0.3, 100)] == list(range(2, 10))


# -- bounds ----------------------------------------------------------------------------------------------

def test_when_full_a_request_takes_the_place_of_the_newest_discover() -> None:
    intake = Intake(OURS, limit=4)
    for n in range(4):
        assert intake.push(discover(n), SRC, 0.0) is None
    assert intake.push(discover(4), SRC, 0.0) == "new-full"  # the arrival is shed
    assert intake.push(selecting(50), SRC, 0.0) == "new-full"  # discover 3 makes room
    assert len(intake) == 4
    assert [xid_of(d) for d, _ in intake.take(0.0, 2)] == [50, 0]
    assert intake.shed == {"new-full": 2}


def test_a_request_for_our_offer_is_shed_only_when_all_queued_are_such_requests() -> None:
    intake = Intake(OURS, limit=3)
    intake.push(discover(1), SRC, 0.0)
    intake.push(request(8, mac_of(2), ciaddr="10.1.0.12"), SRC, 0.0)  # INFORM (other)
    intake.push(selecting(3), SRC, 0.0)
    assert intake.push(selecting(4), SRC, 0.0) == "new-full"
    assert intake.push(selecting(5), SRC, 0.0) == "other-full"
    assert intake.push(selecting(6), SRC, 0.0) == "bound-full"  # the arrival: the others stay
    assert intake.push(discover(7), SRC, 0.0) == "new-full"
    assert [xid_of(d) for d, _ in intake.take(0.0, 10)] == [3, 4, 5]


def test_random_traffic_stays_bounded_and_every_datagram_is_served_or_counted() -> None:
    rng = random.Random(12)
    intake = Intake(OURS, limit=50, max_wait=0.5)
    makers = (discover, selecting, renewing, lambda n: request(8, mac_of(n), ciaddr="10.1.0.12"),
              lambda n: bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300))))
    now, pushed, served = 0.0, 0, 0
    for _ in range(3000):
        now += rng.random() * 0.02
        if rng.random() < 0.7:
            intake.push(rng.choice(makers)(rng.randrange(1000)), SRC, now)
            pushed += 1
        else:
            served += len(intake.take(now, rng.randrange(1, 20)))
        assert len(intake) <= 50
        assert len(intake) == sum(intake.depth(p) for p in Priority)
    assert pushed == served + len(intake) + sum(intake.shed.values())
    assert set(intake.shed) <= {"new-full", "other-full", "bound-full", "new-stale", "new-over-capacity"}


# -- admission at capacity -------------------------------------------------------------------------------

def test_stale_discovers_are_shed_when_their_turn_comes_requests_are_not() -> None:
    drops: Counter[str] = Counter()
    intake = Intake(OURS, max_wait=1.0, drops=drops)
    intake.push(discover(1), SRC, 0.0)
    intake.push(renewing(2), SRC, 0.0)
    intake.push(discover(3), SRC, 0.8)
    assert [xid_of(d) for d, _ in intake.take(1.5, 10)] == [2, 3]
    assert intake.shed == {"new-stale": 1}
    # Under a backlog too (the other path through take), and counted with the core's drops.
    for n in range(200):
        intake.push(discover(100 + n), SRC, 2.0)
    intake.push(renewing(4), SRC, 3.5)
    assert [xid_of(d) for d, _ in intake.take(3.5, 10)] == [4]
    assert intake.shed == {"new-stale": 201} and drops == {"shed-new-stale": 201}


def test_new_discovers_are_admitted_at_the_measured_capacity() -> None:
    intake = Intake(OURS, max_wait=60.0)
    for n in range(1000):
        intake.push(discover(n), SRC, 0.0)
    assert intake.capacity is None and not intake.shed  # nothing measured yet: the limit bounds it
    now = 0.0
    for _ in range(20):  # the core serves 10 datagrams per 0.1 s round: 100/s
        intake.take(now, 10)
        now += 0.1
    assert intake.capacity is not None and abs(intake.capacity - 100) < 1
    assert intake.push(discover(4000), SRC, now) is None  # 8 s of work is within 60 s
    intake.max_wait = 1.0
    # 800 queued is 8 s of work: a new DISCOVER would wait far beyond max_wait ...
    assert intake.push(discover(5000), SRC, now) == "new-over-capacity"
    # ... an exchange in progress is still taken, and served first.
    assert intake.push(selecting(6000), SRC, now) is None
    assert xid_of(intake.take(now, 1)[0][0]) == 6000


def test_an_idle_server_does_not_measure_its_load_as_capacity() -> None:
    intake = Intake(OURS, max_wait=1.0)
    for step in range(50):  # 2 DISCOVERs every second, each round takes all there is
        now = float(step)
        intake.push(discover(2 * step), SRC, now)
        intake.push(discover(2 * step + 1), SRC, now)
        assert len(intake.take(now, 10)) == 2
    assert intake.capacity is None
    assert not intake.shed


# -- overload through a real socket ----------------------------------------------------------------------

def overload_config() -> ServerConfig:
    subnets = [Subnet(IPv4Network("10.1.0.0/24"), [Pool(IPv4Address("10.1.0.10"), IPv4Address("10.1.0.200"))],
                      relays=(IPv4Address(RELAY),))]
    return ServerConfig(SID, subnets, [DeviceClass("any", "any")])


def test_requests_for_our_offers_survive_a_discover_flood_on_a_real_socket() -> None:
    cfg = overload_config()
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.bind((RELAY, 0))
    relay.settimeout(BUDGET)
    cfg.relay_port = relay.getsockname()[1]
    server = DhcpServer(cfg)
    sock = open_socket(str(SID), 0)
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    holder: list[DhcpTransport] = []
    started, stop = threading.Event(), asyncio.Event()

    async def main() -> None:
        transport = DhcpTransport(server, sock, clock=lambda: 1000.0)  # time stands still: no staleness
        transport.intake.limit = 60
        holder.append(transport)
        started.set()
        try:
            await stop.wait()
        finally:
            transport.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert started.wait(BUDGET)
        holders = range(1, 21)
        offers = {}
        for n in holders:  # 20 clients get an OFFER
            relay.sendto(discover(n), (str(SID), port))
            reply = decode(relay.recvfrom(4096)[0])
            offers[reply.xid] = reply.yiaddr.packed
        # The server stalls (a slow disk, say) while 200 new DISCOVERs and then the 20 REQUESTs
        # for its OFFERs arrive: all wait in the socket when it wakes up.
        gate = threading.Event()
        loop.call_soon_threadsafe(gate.wait, BUDGET)
        flood = 200  # few enough for a 208 KiB default socket buffer: no kernel drops
        for n in range(1000, 1000 + flood):
            relay.sendto(request(1, mac_of(n % 7 + 500), xid=n, giaddr=RELAY), (str(SID), port))
        for n in holders:
            relay.sendto(request(3, mac_of(n), xid=n, giaddr=RELAY, options=[(54, OURS), (50, offers[n])]),
                         (str(SID), port))
        gate.set()
        acks: set[int] = set()
        offered = 0
        while len(acks) < len(holders):
            reply = decode(relay.recvfrom(4096)[0])
            if reply.message_type == 5:
                acks.add(reply.xid)
            else:
                assert reply.message_type == 2
                offered += 1
        assert acks == set(holders)  # never shed, never NAKed
        shed = holder[0].intake.shed
        assert shed["new-full"] >= flood - 60  # the queue holds 60: the newest DISCOVERs went
        assert set(shed) == {"new-full"}
        assert server.drops["shed-new-full"] == shed["new-full"]
        relay.settimeout(1.0)
        try:
            while True:
                assert decode(relay.recvfrom(4096)[0]).message_type == 2
                offered += 1
        except TimeoutError:
            pass
        assert offered + shed["new-full"] == flood  # every DISCOVER was answered or counted
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(BUDGET)
        loop.close()
        relay.close()
