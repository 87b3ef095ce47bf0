"""The provisioning entity: enrollment -> build -> SET -> served -> status."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from pktcable.flow import ProvisioningState, ServerState
from pktcable.flow.tables import SET_UNANSWERED_WAIT
from pktcable.provision.entity import EntityConfig, ProvisioningEntity
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import open_endpoint
from pktcable.store.devices import Device, MemoryDeviceStore

from .peers import require

MAC = "001122334455"
TREE = pktc.Tree.CABLELABS


class Files:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[tuple[str, str]] = []

    def build(self, device: Device) -> bytes:
        if self.fail:
            raise ValueError("template mta: line 3: unknown keyword")
        return b"\xfe\x01\x01config for " + device.mac.encode() + b"\xfe\x01\xff"

    def publish(self, device: Device, data: bytes, client_ip: str) -> str:
        self.published.append((device.mac, client_ip))
        return f"tftp://127.0.0.1/{device.mac}.bin"


class FakeSnmp:
    def __init__(self, error: int = 0, silent: bool = False) -> None:
        self.error, self.silent = error, silent
        self.sent: list[tuple[tuple[str, int], bytes, tuple]] = []  # type: ignore[type-arg]

    async def request(self, addr, community, pdu_type, varbinds, **kw):  # type: ignore[no-untyped-def]
        self.sent.append((addr, community, varbinds))
        if self.silent:
            raise TimeoutError("no response")
        msg = m.Message(community, m.Pdu(pdu_type, 1, varbinds))
        return msg.response(error_status=self.error, error_index=1 if self.error else 0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def inform(note: pktc.Enrollment | pktc.Status) -> m.Message:
    return m.Message(b"public", m.Pdu(m.PduType.INFORM, 5, note.varbinds(100)))


ENROLL = pktc.Enrollment(TREE, b"eMTA", b"2.4.1", b"pktc1.5:051f0101", bytes.fromhex(MAC), 77)


def make(files: Files | None = None, snmp: FakeSnmp | None = None, leases: dict[str, str] | None = None,
         **config: object):  # type: ignore[no-untyped-def]
    """An entity whose DHCP server leases 10.0.0.9 to MAC (or ``leases``: MAC -> address)."""
    store = MemoryDeviceStore()
    store.put(Device(MAC, flow="HYBRID.2", template="mta"))
    clock = Clock()
    leases = {MAC: "10.0.0.9"} if leases is None else leases
    entity = ProvisioningEntity(store, files or Files(), snmp or FakeSnmp(), clock, EntityConfig(**config),  # type: ignore[arg-type]
                                leased_address=leases.get)
    return entity, store, clock


async def settle(entity: ProvisioningEntity) -> None:
    while entity.tasks:
        await asyncio.gather(*entity.tasks)


def test_hybrid2_server_flow() -> None:
    async def scenario() -> None:
        snmp = FakeSnmp()
        entity, store, clock = make(snmp=snmp, agent_port=16161)
        entity.lease_acked(MAC, "HYBRID.2", "10.0.0.9")
        reply = entity.handle(inform(ENROLL), ("10.0.0.9", 50000))
        assert reply is not None and reply.pdu.type is m.PduType.RESPONSE and reply.pdu.request_id == 5
        await settle(entity)
        (addr, community, varbinds), = snmp.sent
        assert addr == ("10.0.0.9", 16161) and community == b"private"
        data = Files().build(Device(MAC))
        assert varbinds[0].value == f"tftp://127.0.0.1/{MAC}.bin".encode()
        assert varbinds[1].value == hashlib.sha1(data).digest()
        assert entity.machines[MAC].state is ServerState.LOCATION_SET
        entity.file_served(MAC)
        clock.now += 1
        entity.handle(inform(pktc.Status(TREE, bytes.fromhex(MAC), 77, 1)), ("10.0.0.9", 50000))
        machine = entity.machines[MAC]
        assert machine.state is ServerState.DONE and machine.result == ProvisioningState.PASS
        steps = [(s.step, s.event) for s in store.history(MAC)]
        assert steps == [("MTA-4", "LeaseAcked"), ("H-MTA-15/18", "EnrollmentReceived"),
                         ("H-MTA-19", "ConfigBuilt"), ("H-MTA-20...22", "LocationSetAcked"),
                         ("H-MTA-23/25", "FileServed"), ("H-MTA-25", "StatusReceived")]
        assert store.get(MAC).state == "DONE" and store.get(MAC).result == 1  # type: ignore[union-attr]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "files, snmp, state",
    [
        (Files(fail=True), FakeSnmp(), ServerState.FAILED_BUILD),
        (Files(), FakeSnmp(error=m.ErrorStatus.NOT_WRITABLE), ServerState.FAILED_SET),
        (Files(), FakeSnmp(silent=True), ServerState.FAILED_SET),
    ],
)
def test_failures_end_in_named_states(files: Files, snmp: FakeSnmp, state: ServerState) -> None:
    async def scenario() -> None:
        entity, store, clock = make(files, snmp)
        entity.handle(inform(ENROLL), ("10.0.0.9", 50000))
        await settle(entity)
        if snmp.silent:
            # A SET without a Response may still have reached the eMTA: the server waits
            # for it to fetch its file before calling the SET failed.
            assert entity.machines[MAC].state is ServerState.SET_UNANSWERED
            clock.now += SET_UNANSWERED_WAIT
            entity.check_timers()
        assert entity.machines[MAC].state is state
        assert entity.machines[MAC].result == ProvisioningState.FAIL_OTHER_REASON

    asyncio.run(scenario())


def test_unknown_device_is_acknowledged_but_not_served() -> None:
    entity, store, _ = make(leases={MAC: "10.0.0.9", "0a0b0c0d0e0f": "10.0.0.7"})
    other = pktc.Enrollment(TREE, b"x", b"1", b"pktc1.5:", bytes.fromhex("0a0b0c0d0e0f"), 1)
    assert entity.handle(inform(other), ("10.0.0.7", 1)) is not None
    assert entity.unknown_informs == 1 and not entity.tasks
    assert store.get("0a0b0c0d0e0f") is None and store.history("0a0b0c0d0e0f") == []


def test_auto_enroll_serves_an_unknown_device() -> None:
    async def scenario() -> None:
        entity, store, _ = make(leases={"0a0b0c0d0e0f": "10.0.0.7"}, auto_enroll=True)
        other = pktc.Enrollment(TREE, b"x", b"1", b"pktc1.5:", bytes.fromhex("0a0b0c0d0e0f"), 1)
        entity.handle(inform(other), ("10.0.0.7", 1))
        await settle(entity)
        assert entity.machines["0a0b0c0d0e0f"].state is ServerState.LOCATION_SET

    asyncio.run(scenario())


def test_silent_device_times_out() -> None:
    entity, _, clock = make()
    entity.lease_acked(MAC, "HYBRID.2", "10.0.0.9")
    clock.now += 601
    entity.check_timers()
    assert entity.machines[MAC].state is ServerState.TIMED_OUT


def test_not_a_pktc_inform_is_acknowledged_and_counted() -> None:
    entity, _, _ = make()
    msg = m.Message(b"public", m.Pdu(m.PduType.INFORM, 9, m.notification((1, 3, 6, 1, 6, 3, 1, 1, 5, 1), 1, [])))
    assert entity.handle(msg, ("10.0.0.1", 1)) is not None and entity.bad_informs == 1


def test_snmpinform_enrollment_drives_a_set_on_a_real_agent() -> None:
    """net-snmp sends the enrollment; our entity answers it and SETs the
    config-file location on an agent listening on 127.0.0.1."""
    tool = require("snmpinform")
    o = pktc.oids(TREE)

    def dotted(oid: tuple[int, ...]) -> str:
        return ".".join(map(str, oid))

    async def scenario() -> None:
        view = MibView({b"private": True})
        view.define(o.config_file, "String", b"", writable=True)
        view.define(o.config_hash, "String", b"", writable=True)
        agent = await open_endpoint("127.0.0.1", 0, lambda msg, addr: view.handle(msg))
        client = await open_endpoint("127.0.0.1", 0, timeout=0.5, retries=2)
        store = MemoryDeviceStore()
        store.put(Device(MAC, flow="HYBRID.2"))
        entity = ProvisioningEntity(store, Files(), client, Clock(), EntityConfig(agent_port=agent.address[1]),
                                    leased_address={MAC: "127.0.0.1"}.get)
        server = await open_endpoint("127.0.0.1", 0, entity.handle)
        try:
            proc = await asyncio.create_subprocess_exec(
                tool, "-v2c", "-c", "public", "-r", "0", "-t", "3", "-m", "", "-M", "/nonexistent",
                f"127.0.0.1:{server.address[1]}", "", dotted(o.enrollment),
                dotted(o.sys_descr), "s", "eMTA", dotted(o.sw_version), "s", "2.4.1",
                dotted(o.type_identifier), "s", "pktc1.5:051f0101", dotted(o.mac), "x", MAC,
                dotted(o.correlation_id), "i", "77", stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 0, err
            await settle(entity)
            assert view.value(o.config_file) == f"tftp://127.0.0.1/{MAC}.bin".encode()
            assert entity.machines[MAC].state is ServerState.LOCATION_SET
        finally:
            for ep in (agent, client, server):
                ep.close()

    asyncio.run(scenario())


def test_reset_sets_reset_now_on_the_device_found_by_mac() -> None:
    async def scenario() -> None:
        snmp = FakeSnmp()
        leases: dict[str, str] = {}
        entity, store, _ = make(snmp=snmp, leases=leases, agent_port=16161)
        with pytest.raises(KeyError):
            await entity.reset(MAC)  # no lease, so no address known yet
        leases[MAC] = "10.0.0.9"
        assert await entity.reset(MAC)
        (addr, community, (vb,)), = snmp.sent
        assert addr == ("10.0.0.9", 16161) and vb.oid == pktc.oids(TREE).reset_now and vb.value == 1
        assert store.history(MAC)[-1].event == "ResetRequested"
        silent, _, _ = make(snmp=FakeSnmp(silent=True))
        assert not await silent.reset(MAC)

    asyncio.run(scenario())


def test_enrollment_in_a_basic_flow_is_recorded_not_raised() -> None:
    entity, store, _ = make()
    entity.lease_acked(MAC, "BASIC.2", "10.0.0.9")
    reply = entity.handle(inform(ENROLL), ("10.0.0.9", 50000))
    assert reply is not None and not entity.tasks  # acknowledged, nothing built
    assert store.history(MAC)[-1].event == "UnexpectedEnrollmentReceived"
    entity.file_served(MAC)
    assert entity.machines[MAC].state is ServerState.FILE_SERVED


def test_enrollments_past_the_in_flight_bound_are_dropped_unanswered() -> None:
    """Overload: an enrollment that would start a new run while ``max_in_flight`` runs
    wait for their file and SET gets no Response (the eMTA re-sends it) and leaves
    nothing behind; INFORMs of runs in flight are still answered."""
    from pktcable.admission import AdmissionLimits

    async def scenario() -> None:
        other = "00112233aaaa"
        leases = {MAC: "10.0.0.9", other: "10.0.0.10"}
        entity, store, clock = make(leases=leases, auto_enroll=True, admission=AdmissionLimits(max_in_flight=1))
        first = inform(ENROLL)
        assert entity.handle(first, ("10.0.0.9", 50000)) is not None  # admitted: its SET task is in flight
        enroll_other = pktc.Enrollment(TREE, b"eMTA", b"2.4.1", b"pktc1.5:051f0101", bytes.fromhex(other), 78)
        assert entity.handle(inform(enroll_other), ("10.0.0.10", 50000)) is None
        assert entity.admission.refused == {"in-flight": 1} and store.get(other) is None
        assert store.history(other) == []
        # The first INFORM re-sent (its Response lost) belongs to the run in flight: answered, no new run.
        assert entity.handle(first, ("10.0.0.9", 50000)) is not None
        assert entity.admission.admitted == 1
        await settle(entity)  # the SET answered: the run is out of the costly part
        clock.now += 1
        assert entity.handle(inform(enroll_other), ("10.0.0.10", 50001)) is not None  # re-sent: now let in
        assert entity.admission.admitted == 2 and store.get(other) is not None
        await settle(entity)
        # A status INFORM is never turned away, even at the bound.
        entity.handle(inform(ENROLL), ("10.0.0.9", 50000))  # same INFORM: a retransmission, no new run
        reply = entity.handle(inform(pktc.Status(TREE, bytes.fromhex(other), 78, 1)), ("10.0.0.10", 50000))
        assert reply is not None

    asyncio.run(scenario())


def test_enrollment_rate_bound() -> None:
    from pktcable.admission import AdmissionLimits

    entity, store, clock = make(admission=AdmissionLimits(rate=1.0, burst=1))
    entity.lease_acked(MAC, "HYBRID.2", "10.0.0.9")

    async def scenario() -> None:
        assert entity.handle(inform(ENROLL), ("10.0.0.9", 50000)) is not None
        await settle(entity)
        # The eMTA rebooted at once: a new run (new uptime), and no token left for it.
        again = m.Message(b"public", m.Pdu(m.PduType.INFORM, 6, ENROLL.varbinds(900)))
        assert entity.handle(again, ("10.0.0.9", 50000)) is None
        assert entity.admission.refused == {"rate": 1}
        clock.now += 1.0
        assert entity.handle(again, ("10.0.0.9", 50000)) is not None
        await settle(entity)

    asyncio.run(scenario())


def test_secure_refusals_are_recorded_at_most_once_a_second_per_device() -> None:
    """Refused AP Requests and SNMPv3 messages naming a Secure device can be forged at any
    rate: one a second reaches its history, the others are counted; other flows record none."""
    from pktcable.flow import events as ev

    entity, store, clock = make()
    assert entity.lease_acked(MAC, "LAB.EXAMPLE.NET", "10.0.0.9")  # a Kerberos realm: the Secure flow
    for n in range(50):
        clock.now = 1000.0 + n * 0.1  # 10 a second for 5 s
        entity.secure_refusal(MAC, ev.UsmFailed("usmStatsWrongDigests"), "usmStatsWrongDigests: forged")
    recorded = [s for s in store.history(MAC) if s.event == "UsmFailed"]
    assert len(recorded) == 5 and entity.secure.refusals_unrecorded == 45
    assert entity.machines[MAC].state.name == "LEASED"  # the run goes on
    hybrid, hybrid_store, _ = make()
    hybrid.lease_acked(MAC, "HYBRID.2", "10.0.0.9")
    hybrid.secure_refusal(MAC, ev.KeyRequestRefused("KRB_AP_ERR_REPEAT"), "replay")
    assert [s.event for s in hybrid_store.history(MAC)] == ["LeaseAcked"]
