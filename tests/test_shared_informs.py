"""An eMTA's INFORM reaching a serve node that did not lease it (several nodes on one
shared lease table): the datagram waits, undecoded, for a round of the shared table, and
is heard once the lease another node bound is learned. Fake clocks and a fake table: the
rounds' sharing, their bound, and the brief memory of an unleased source."""

from __future__ import annotations

import asyncio

import pytest

from pktcable.provision.screen import UNLEASED
from pktcable.provision.sharedleases import SharedLeaseRounds
from pktcable.snmp import message as m
from pktcable.snmp import pktc

from .test_provision import MAC, TREE, inform, make
from .test_snmp_screen import LEASED, UNLEASED_SOURCE, enrollment, office


class Table:
    """The shared lease table another node wrote: address -> MAC. Each query is recorded;
    what it finds is put in the node's memory (``leases``: MAC -> address), as the back
    office puts it in its DHCP engine."""

    def __init__(self, leases: dict[str, str], bound: dict[str, str]) -> None:
        self.leases, self.bound = leases, bound
        self.queries: list[list[str]] = []
        self.gate: asyncio.Event | None = None

    async def lookup(self, sources: list[str]) -> set[str]:
        self.queries.append(list(sources))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        found = {source for source in sources if source in self.bound}
        for source in found:
            self.leases[self.bound[source]] = source
        return found


async def _drain(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def test_an_inform_from_a_lease_another_node_bound_is_learned_and_heard() -> None:
    """Node B's memory holds no lease for the eMTA: its INFORM waits for one query of the
    shared table, the binding is learned, the INFORM is decoded, answered and acted on;
    the next datagram from that source passes in memory, without a query."""
    async def scenario() -> None:
        leases: dict[str, str] = {}
        table = Table(leases, {LEASED: MAC})
        entity, endpoint, wire, clock = office(leases)
        entity.shared_rounds = SharedLeaseRounds(table.lookup, clock)
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        assert wire.sent == []
        while not wire.sent:
            await asyncio.sleep(0)
        assert table.queries == [[LEASED]] and entity.rejected == {} and endpoint.stats.screened == 0
        assert entity.machines[MAC].state.name in ("CONFIG_BUILDING", "LOCATION_SET", "ENROLLED")
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC), request_id=6), (LEASED, 1000))
        await _drain()
        assert len(wire.sent) == 2 and table.queries == [[LEASED]]

    asyncio.run(scenario())


def test_a_flood_from_an_unleased_address_costs_one_query_per_round() -> None:
    """1,000 datagrams from one address nobody leased, and 100 from others, while a round
    is out: they share the next round (one query for all their sources); then the
    address is remembered unleased for a moment and its datagrams are dropped without
    a query; once that lapses, one more query."""
    async def scenario() -> None:
        leases: dict[str, str] = {}
        table = Table(leases, {})
        entity, endpoint, wire, clock = office(leases)
        rounds = entity.shared_rounds = SharedLeaseRounds(table.lookup, clock, negative_ttl=2.0)
        table.gate = asyncio.Event()
        endpoint.datagram_received(b"\x00", ("10.2.0.1", 1))
        await asyncio.sleep(0)  # the first round's query is out
        others = [f"10.1.0.{n}" for n in range(100)]
        for source in others:
            endpoint.datagram_received(b"\x00", (source, 1))
        for _ in range(1000):
            endpoint.datagram_received(b"\x00", (UNLEASED_SOURCE, 1))
        assert len(table.queries) == 1 and rounds.rounds.waiting == rounds.rounds.max_waiting
        table.gate.set()
        await _drain()
        assert len(table.queries) == 2 and rounds.rounds.waiting == 0
        # The room held 255 more: the 100 others and 155 of the flood, one query for their 101 sources.
        assert table.queries[1] == sorted([*others, UNLEASED_SOURCE])
        assert entity.rejected == {UNLEASED: 1101} and endpoint.stats.malformed == 0 and wire.sent == []
        # Known unleased: dropped at once, no round.
        for _ in range(500):
            endpoint.datagram_received(b"\x00", (UNLEASED_SOURCE, 1))
        await _drain()
        assert len(table.queries) == 2 and rounds.known_unleased == 500
        clock.now += 2.5
        for _ in range(500):
            endpoint.datagram_received(b"\x00", (UNLEASED_SOURCE, 1))
        await _drain()
        assert table.queries[2:] == [[UNLEASED_SOURCE]]
        assert entity.rejected == {UNLEASED: 2101}

    asyncio.run(scenario())


def test_a_source_leased_after_a_miss_is_heard_once_the_memory_lapses() -> None:
    async def scenario() -> None:
        leases: dict[str, str] = {}
        table = Table(leases, {})
        entity, endpoint, wire, clock = office(leases)
        entity.shared_rounds = SharedLeaseRounds(table.lookup, clock, negative_ttl=2.0)
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        await _drain()
        assert wire.sent == [] and entity.rejected == {UNLEASED: 1}
        table.bound[LEASED] = MAC  # the other node binds it now
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        await _drain()
        assert wire.sent == [] and len(table.queries) == 1  # still remembered unleased
        clock.now += 2.5
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        while not wire.sent:
            await asyncio.sleep(0)
        assert len(table.queries) == 2 and MAC in entity.machines

    asyncio.run(scenario())


def test_a_failing_table_ends_the_wait_and_remembers_nothing() -> None:
    async def scenario() -> None:
        entity, endpoint, wire, clock = office({})
        calls = 0

        async def broken(sources: list[str]) -> set[str]:
            nonlocal calls
            calls += 1
            raise OSError("database away")

        entity.shared_rounds = SharedLeaseRounds(broken, clock)
        endpoint.datagram_received(b"\x00", (UNLEASED_SOURCE, 1))
        await _drain()
        endpoint.datagram_received(b"\x00", (UNLEASED_SOURCE, 1))
        await _drain()
        assert calls == 2 and entity.rejected == {UNLEASED: 2} and wire.sent == []

    asyncio.run(scenario())


def test_the_memory_of_unleased_sources_is_bounded() -> None:
    async def scenario() -> None:
        table = Table({}, {})
        clock = lambda: 0.0  # noqa: E731
        rounds = SharedLeaseRounds(table.lookup, clock, max_negative=10)
        for n in range(50):
            waiter = rounds.join(f"10.3.0.{n}")
            assert waiter is not None
            await waiter
        assert len(rounds._unleased) == 10 and rounds.join("10.3.0.49") is None
        assert rounds.join("10.3.0.0") is not None  # forgotten: asked again

    asyncio.run(scenario())


def test_bad_settings_are_refused() -> None:
    async def lookup(sources: list[str]) -> set[str]:
        return set()

    with pytest.raises(ValueError):
        SharedLeaseRounds(lookup, lambda: 0.0, negative_ttl=-1)
    with pytest.raises(ValueError):
        SharedLeaseRounds(lookup, lambda: 0.0, max_negative=0)


STATUS_PASS = 1  # pktcMtaDevProvisioningState pass


@pytest.mark.parametrize("state", ["LOCATION_SET", "SET_UNANSWERED", "FILE_SERVED"])
def test_a_final_status_for_a_run_another_node_started_ends_that_run(state: str) -> None:
    """This node never saw the device's lease nor its enrollment; the shared device row
    says where another node's run is. The eMTA's final status ends that run here: the
    outcome is on the device, with a step saying the run was taken up."""
    entity, store, _ = make()
    device = store.get(MAC)
    assert device is not None
    device.state = state
    store.put(device)
    reply = entity.handle(inform(pktc.Status(TREE, bytes.fromhex(MAC), 77, STATUS_PASS)), ("10.0.0.9", 50000))
    assert isinstance(reply, m.Message) and reply.pdu.type is m.PduType.RESPONSE
    device = store.get(MAC)
    assert device is not None and device.state == "DONE" and device.result == STATUS_PASS
    events = [step.event for step in store.history(MAC)]
    assert events[-2:] == ["RunTakenUp", "StatusReceived"] and entity.unexpected.total() == 0


@pytest.mark.parametrize(("flow", "state"), [("HYBRID.2", "DONE"), ("HYBRID.2", ""), ("HYBRID.2", "NO_SUCH"),
                                             ("SECURE", "LOCATION_SET"), ("nonsense", "LOCATION_SET")])
def test_a_status_with_no_run_to_take_up_stays_unexpected(flow: str, state: str) -> None:
    """A run that ended, a row with no state, a Secure run (its status comes over SNMPv3 to
    the node holding the association), a flow with no table: nothing is taken up."""
    entity, store, _ = make()
    device = store.get(MAC)
    assert device is not None
    device.flow, device.state = flow, state
    store.put(device)
    entity.handle(inform(pktc.Status(TREE, bytes.fromhex(MAC), 77, STATUS_PASS)), ("10.0.0.9", 50000))
    events = [step.event for step in store.history(MAC)]
    assert "RunTakenUp" not in events and events[-1] == "UnexpectedStatusReceived" and MAC not in entity.machines


def test_a_source_this_node_knows_under_another_device_learns_the_newer_binding() -> None:
    """This node's memory holds the address as another device's (an old binding); another
    node has since bound it to MAC. The screen lets it through (the address is leased),
    the lease check fails, and the INFORM waits for one query of the shared table, which
    says who holds it now: it is heard."""
    async def scenario() -> None:
        leases = {"02aa000000ff": LEASED}
        table = Table(leases, {LEASED: MAC})
        entity, endpoint, wire, clock = office(leases)
        entity.shared_rounds = SharedLeaseRounds(table.lookup, clock)
        endpoint.datagram_received(enrollment(bytes.fromhex(MAC)), (LEASED, 1000))
        while not wire.sent:
            await asyncio.sleep(0)
        assert table.queries == [[LEASED]] and entity.rejected == {} and MAC in entity.machines

    asyncio.run(scenario())


def test_an_inform_naming_a_mac_the_table_does_not_lease_there_is_answered_and_rejected() -> None:
    """A leased host naming another device's MAC: one query, then rejected with a Response
    (a valid PDU); a repeat within the memory of the answer costs no query and is rejected
    the same way."""
    async def scenario() -> None:
        leases = {"02aa000000ff": LEASED}
        table = Table(leases, {})
        entity, endpoint, wire, clock = office(leases)
        entity.shared_rounds = SharedLeaseRounds(table.lookup, clock)
        for n in range(2):
            endpoint.datagram_received(enrollment(bytes.fromhex(MAC), request_id=10 + n), (LEASED, 1000))
            while len(wire.sent) <= n:
                await asyncio.sleep(0)
        assert len(table.queries) == 1 and entity.rejected == {"not-leased-address": 2} and MAC not in entity.machines

    asyncio.run(scenario())


def test_a_machine_is_resumed_only_in_a_state_of_its_table() -> None:
    from enum import Enum

    from pktcable.flow import Flow, Machine
    from pktcable.flow.tables import server_table

    table = server_table(Flow.HYBRID_2)
    state = next(s for s in table.states if s.name == "LOCATION_SET")
    machine = Machine.resumed(table, state, 5.0)
    assert machine.state is state and not machine.done and len(machine.history) == 1
    assert machine.next_deadline() is not None  # its budget runs from the take-up

    class Elsewhere(Enum):
        LOCATION_SET = "x"

    with pytest.raises(ValueError):
        Machine.resumed(table, Elsewhere.LOCATION_SET, 5.0)
