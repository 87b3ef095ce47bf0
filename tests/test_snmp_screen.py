"""Who may send to the SNMP provisioning entity, decided before decoding: a source
without a lease, or one that spent its budget of rejected INFORMs, costs a lookup
and nothing more; the wait for a DHCP worker's lease records is shared and bounded.
Fake clocks and fake transports: no sockets, no sleeps."""

from __future__ import annotations

import asyncio
import random

import pytest

from pktcable.provision.entity import REJECT_REASONS, EntityConfig, ProvisioningEntity
from pktcable.provision.leasesync import LeaseSync
from pktcable.provision.screen import OVER_BUDGET, UNLEASED, RejectBudget
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.aio import SnmpEndpoint
from pktcable.store.devices import Device, MemoryDeviceStore

from .test_provision import MAC, Clock, FakeSnmp, Files, settle

TREE = pktc.Tree.CABLELABS
LEASED = "10.0.0.9"  # leased to MAC
HOLDER = "10.0.0.10"  # leased to another device
UNLEASED_SOURCE = "10.0.0.66"


class Wire:
    """The endpoint's transport: what it sent, where."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


def enrollment(mac: bytes, community: bytes = b"public", request_id: int = 5) -> bytes:
    note = pktc.Enrollment(TREE, b"eMTA", b"2.4.1", b"pktc1.5:051f0101", mac, 77)
    return m.encode(m.Message(community, m.Pdu(m.PduType.INFORM, request_id, note.varbinds(100))))


def office(leases: dict[str, str] | None = None, **config: object) -> tuple[ProvisioningEntity, SnmpEndpoint, Wire,
                                                                            Clock]:
    """An entity behind an endpoint with its screen, as serve wires them; ``leases``: MAC -> address."""
    leases = {MAC: LEASED, "02aa000000ff": HOLDER} if leases is None else leases
    store = MemoryDeviceStore()
    store.put(Device(MAC, flow="HYBRID.2", template="mta"))
    clock = Clock()
    entity = ProvisioningEntity(store, Files(), FakeSnmp(), clock, EntityConfig(**config),  # type: ignore[arg-type]
                                leased_address=leases.get, address_leased=lambda ip: ip in leases.values())
    endpoint = SnmpEndpoint(entity.handle, screen=entity.screen)
    wire = Wire()
    endpoint.transport = wire  # type: ignore[assignment]
    return entity, endpoint, wire, clock


def test_a_datagram_from_an_unleased_source_is_not_decoded_nor_answered() -> None:
    """Whatever it carries (a good INFORM, a guessed community, bytes that are no
    BER at all), it is dropped before decoding: not counted malformed, no Response,
    counted and logged as unleased-source."""
    async def scenario() -> None:
        entity, endpoint, wire, _ = office()
        rng = random.Random(1)
        for data in (enrollment(bytes.fromhex(MAC)), enrollment(rng.randbytes(6), b"guess"), b"\xff" * 40):
            endpoint.datagram_received(data, (UNLEASED_SOURCE, 1000))
        assert wire.sent == [] and endpoint.stats.screened == 3 and endpoint.stats.malformed == 0
        assert entity.rejected == {UNLEASED: 3}
        # The same INFORM from the address leased to its MAC is heard and answered.
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        assert len(wire.sent) == 1 and m.decode(wire.sent[0][0]).pdu.type is m.PduType.RESPONSE
        await settle(entity)
        assert entity.machines[MAC].state.name == "LOCATION_SET"

    asyncio.run(scenario())


def test_a_leased_source_that_keeps_being_rejected_is_dropped_undecoded_until_its_budget_refills() -> None:
    """A host with a lease sends enrollments naming MACs not its own: each is decoded,
    answered and rejected until it has spent its budget (burst 5 here); then its
    datagrams are dropped undecoded, unanswered. One more is heard per 1/rate s.
    The device at another address is not touched by it."""
    async def scenario() -> None:
        entity, endpoint, wire, clock = office(reject_burst=5, reject_rate=0.5)
        rng = random.Random(2)
        for n in range(50):
            endpoint.datagram_received(enrollment(rng.randbytes(6), b"guess" if n % 3 == 0 else b"public"),
                                       (HOLDER, 1000))
        assert entity.rejected["not-leased-address"] + entity.rejected["bad-community"] == 5
        assert entity.rejected[OVER_BUDGET] == 45 and endpoint.stats.screened == 45
        answered = len(wire.sent)
        assert answered == entity.rejected["not-leased-address"]  # a bad community is never answered
        clock.now += 1.9  # not yet a whole token at 0.5/s
        endpoint.datagram_received(enrollment(rng.randbytes(6)), (HOLDER, 1000))
        assert entity.rejected[OVER_BUDGET] == 46
        clock.now += 0.2
        endpoint.datagram_received(enrollment(rng.randbytes(6)), (HOLDER, 1000))
        assert entity.rejected["not-leased-address"] + entity.rejected["bad-community"] == 6
        assert len(wire.sent) == answered + 1
        # The real eMTA at its own address provisions as ever.
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        await settle(entity)
        assert entity.machines[MAC].state.name == "LOCATION_SET"

    asyncio.run(scenario())


def test_reject_budget_refills_at_its_rate_ignores_a_clock_stepping_back_and_stays_bounded() -> None:
    budget = RejectBudget(burst=3, rate=1.0, max_sources=8)
    for _ in range(3):
        assert not budget.spent("a", 0.0)
        budget.charge("a", 0.0)
    assert budget.spent("a", 0.0) and budget.spent("a", 0.99) and not budget.spent("a", 1.0)
    assert not budget.spent("b", 0.0)  # another source has its own
    budget.charge("a", 1.0)
    assert budget.spent("a", -100.0)  # a clock stepping back adds nothing
    for n in range(1000):
        budget.charge(f"10.0.{n >> 8}.{n & 255}", 2.0)
    assert len(budget) == 8
    with pytest.raises(ValueError):
        RejectBudget(burst=0)


def test_without_a_lease_table_to_ask_nothing_is_screened() -> None:
    """An entity built without ``address_leased`` (tools, tests driving it by hand) screens nothing."""
    entity = ProvisioningEntity(MemoryDeviceStore(), Files(), FakeSnmp(), Clock(),  # type: ignore[arg-type]
                                leased_address={}.get)
    assert entity.screen((UNLEASED_SOURCE, 1)) is True and entity.rejected == {}


def test_the_screen_reasons_are_exported_first_in_the_order_the_checks_run() -> None:
    assert REJECT_REASONS[:3] == (UNLEASED, OVER_BUDGET, "bad-community")


# -- with a DHCP worker: the wait for its lease records ----------------------------------------------------------


def test_an_inform_from_a_source_whose_lease_is_on_its_way_waits_undecoded_and_is_heard() -> None:
    """With a DHCP worker, an eMTA's first INFORM can come before the record of its
    lease: the screen holds the datagram, undecoded, for one sync round; the lease
    arrives meanwhile, and the INFORM is decoded, answered and acted on."""
    async def scenario() -> None:
        leases: dict[str, str] = {}
        entity, endpoint, wire, _ = office(leases)
        syncs = 0

        async def lease_sync() -> None:
            nonlocal syncs
            syncs += 1
            await asyncio.sleep(0)
            leases[MAC] = LEASED  # the record arrives while the datagram waits

        entity.lease_sync = lease_sync
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        assert wire.sent == []
        while not wire.sent:
            await asyncio.sleep(0)
        await settle(entity)
        assert syncs == 1 and entity.rejected == {} and endpoint.stats.screened == 0
        assert entity.machines[MAC].state.name == "LOCATION_SET"

    asyncio.run(scenario())


def test_a_flood_from_unleased_sources_shares_sync_rounds_and_waits_bounded() -> None:
    """2,000 datagrams from addresses without a lease while a sync round is out: at
    most ``MAX_WAITING`` of them wait (the rest are dropped at once), they share
    two rounds (the one out, and the next for those who came during it), none is
    decoded, and all end as unleased-source."""
    async def scenario() -> None:
        entity, endpoint, wire, _ = office()
        release = asyncio.Event()
        syncs = 0

        async def lease_sync() -> None:
            nonlocal syncs
            syncs += 1
            await release.wait()

        entity.lease_sync = lease_sync
        endpoint.datagram_received(b"\x00", (UNLEASED_SOURCE, 1))
        await asyncio.sleep(0)  # the first round's SYNC is out
        for n in range(2000):
            endpoint.datagram_received(b"\x00", (f"10.1.{n >> 8}.{n & 255}", 1))
        rounds = entity._lease_rounds
        assert rounds is not None and rounds.waiting == rounds.max_waiting
        assert entity.rejected[UNLEASED] == 2001 - rounds.max_waiting
        release.set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert syncs == 2 and rounds.waiting == 0
        assert entity.rejected == {UNLEASED: 2001} and endpoint.stats.screened == 2001
        assert endpoint.stats.malformed == 0 and wire.sent == []

    asyncio.run(scenario())


def test_lease_sync_rounds_serve_only_those_who_joined_before_the_request_left() -> None:
    async def scenario() -> None:
        started: list[asyncio.Future[None]] = []

        async def sync() -> None:
            done = asyncio.get_running_loop().create_future()
            started.append(done)
            await done

        rounds = LeaseSync(sync, max_waiting=3)
        first = rounds.join()
        await asyncio.sleep(0)
        second, third = rounds.join(), rounds.join()  # while the first round is out
        assert rounds.join() is None and rounds.refused == 1  # the room is full
        assert first is not None and second is not None and third is not None
        started[0].set_result(None)
        await asyncio.sleep(0)
        assert first.done() and not second.done() and len(started) == 2
        started[1].set_result(None)
        await asyncio.sleep(0)
        assert second.done() and third.done() and rounds.waiting == 0 and rounds.rounds == 2

    asyncio.run(scenario())


def test_a_failing_sync_still_ends_the_wait() -> None:
    async def scenario() -> None:
        async def sync() -> None:
            raise OSError("the worker's pipe is gone")

        rounds = LeaseSync(sync)
        waiter = rounds.join()
        assert waiter is not None
        await asyncio.wait_for(waiter, 5)
        assert rounds.waiting == 0

    asyncio.run(scenario())
