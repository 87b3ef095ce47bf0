"""The SNMP provisioning entity (the 122.3 server): enrollment, SET, status.

For each eMTA it runs the server-side flow table (pktcable.flow) and records
every step in the device store:

    H-MTA-15  enrollment INFORM in  -> acknowledged, device looked up
    H-MTA-18  config file built      (ConfigFiles.build)
    H-MTA-19  SET pktcMtaDevConfigFile (URL) and pktcMtaDevProvConfigHash
    H-MTA-23  file served            (the delivery service calls file_served)
    H-MTA-25  status INFORM in       -> pktcMtaDevProvisioningState recorded

and, on demand, SETs pktcMtaDevResetNow on a device found by MAC. The SNMP
endpoint, the clock and the file service are passed in, so tests drive it
without sockets or sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pktcable.flow import Flow, FlowTable, Machine
from pktcable.flow import events as ev
from pktcable.flow.tables import server_table
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.store.devices import Device, DeviceStore, Step
from tlv import ber

log = logging.getLogger("pktcable.provision")
Address = tuple[str, int]
_STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]
_INTEGER = ber.SNMP_TYPE_BY_KEYWORD["integer"]
TRUE = 1  # TruthValue true(1)


class ConfigFiles(Protocol):
    def build(self, device: Device) -> bytes:
        """The device's config file (raises ValueError with a reason)."""
        ...

    def publish(self, device: Device, data: bytes, client_ip: str) -> str:
        """Make ``data`` downloadable by ``client_ip``; returns its URL."""
        ...


class SnmpRequester(Protocol):
    async def request(self, addr: Address, community: bytes, pdu_type: m.PduType,
                      varbinds: tuple, **kw: float) -> m.Message: ...  # type: ignore[type-arg]


@dataclass(frozen=True, slots=True)
class EntityConfig:
    write_community: bytes = b"private"
    agent_port: int = 161  # where each eMTA's SNMP agent listens
    #: Provision eMTAs the store does not know (with ``default_template``);
    #: otherwise an enrollment from an unknown MAC is recorded and not served.
    auto_enroll: bool = False
    default_template: str = "mta"
    default_flow: str = "HYBRID.2"
    #: Seconds a device may spend on its flow before it counts as timed out.
    budget: float = 600.0
    #: Drop a device's flow machine when it finishes (its steps stay in the store).
    forget_finished: bool = False


class ProvisioningEntity:
    def __init__(self, devices: DeviceStore, files: ConfigFiles, snmp: SnmpRequester, clock: Callable[[], float],
                 config: EntityConfig = EntityConfig()) -> None:
        self.devices = devices
        self.files = files
        self.snmp = snmp
        self.clock = clock
        self.config = config
        self.machines: dict[str, Machine] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.unknown_informs = 0
        self.bad_informs = 0
        self._tables: dict[Flow, FlowTable] = {}
        # Files delivered before the SET's response came back: the MTA had the
        # location already (it acted on the SET), so the delivery counts once
        # the SET is confirmed.
        self._served_early: set[str] = set()

    def table(self, flow: Flow) -> FlowTable:
        table = self._tables.get(flow)
        if table is None:
            table = self._tables[flow] = server_table(flow, self.config.budget)
        return table

    # -- bookkeeping -------------------------------------------------------
    def _step(self, mac: str, event: object, machine: Machine | None, detail: str = "") -> None:
        now = self.clock()
        step = machine.info.step if machine is not None else "-"
        log.info("%s %s %s -> %s %s", mac, step, type(event).__name__,
                 machine.state.name if machine is not None else "-", detail)
        self.devices.record(Step(mac, now, step, type(event).__name__, detail))
        device = self.devices.get(mac)
        if device is not None and machine is not None:
            device.state, device.result, device.updated = machine.state.name, machine.result, now
            self.devices.put(device)

    def _feed(self, mac: str, event: object, detail: str = "") -> Machine | None:
        machine = self.machines.get(mac)
        if machine is None:
            return None
        if machine.table.target(machine.state, event) is None:
            # A device doing something its flow has no place for here (an
            # enrollment in a Basic flow, a download before its lease ...):
            # the flow machine would raise; the server records it and goes on.
            step = machine.info.step
            self.devices.record(Step(mac, self.clock(), step, f"Unexpected{type(event).__name__}",
                                     f"in {machine.state.name}"))
            log.warning("%s %s: %s not expected in %s", mac, step, type(event).__name__, machine.state.name)
            return None
        machine.handle(event, self.clock())
        self._step(mac, event, machine, detail)
        if machine.done and self.config.forget_finished:
            # The outcome is in the device store; a boot storm of 10,000
            # devices should not stay in memory once they are done.
            del self.machines[mac]
        return machine

    def lease_acked(self, mac: str, flow: str, ip: str) -> None:
        """MTA-4 (called by the DHCP service): a new flow run starts."""
        self.machines[mac] = Machine(self.table(Flow(flow)), self.clock(), keep_history=False)
        self._step(mac, ev.LeaseAcked(), self.machines[mac], ip)

    def file_served(self, mac: str) -> None:
        """MTA-23 (called by the delivery service)."""
        machine = self.machines.get(mac)
        if machine is not None and machine.state.name == "CONFIG_READY":
            self._served_early.add(mac)
            return
        self._feed(mac, ev.FileServed())

    def check_timers(self) -> None:
        now = self.clock()
        for mac, machine in list(self.machines.items()):
            if machine.handle_timer(now) is not None:
                self._step(mac, ev.ServerTimerExpired(), machine)
                if self.config.forget_finished:
                    del self.machines[mac]

    # -- INFORMs -----------------------------------------------------------
    def handle(self, msg: m.Message, addr: Address) -> m.Message | None:
        """The endpoint's handler: acknowledge PacketCable INFORMs, act on them."""
        if msg.pdu.type is not m.PduType.INFORM:
            return None
        try:
            note = pktc.parse_notification(msg.pdu.varbinds)
        except pktc.NotificationError:
            self.bad_informs += 1
            return msg.response()  # acknowledged (it is a valid INFORM), not acted on
        mac = note.mac.hex()
        if isinstance(note, pktc.Enrollment):
            self._enrollment(mac, note, addr, msg.community)
        else:
            self._status(mac, note)
        self.devices.commit()
        return msg.response()

    def _enrollment(self, mac: str, note: pktc.Enrollment, addr: Address, community: bytes) -> None:
        device = self.devices.get(mac)
        if device is None and self.config.auto_enroll:
            device = Device(mac, kind="mta", template=self.config.default_template, flow=self.config.default_flow)
            self.devices.put(device)
        if device is None:
            self.unknown_informs += 1
            self.devices.record(Step(mac, self.clock(), "H-MTA-15", "EnrollmentFromUnknownDevice", addr[0]))
            return
        if mac not in self.machines or self.machines[mac].done:
            # No lease seen (another DHCP server, or a restart): start at enrollment.
            self.lease_acked(mac, device.flow, addr[0])
        machine = self.machines[mac]
        if machine.state.name == "ENROLLED":
            self._feed(mac, ev.EnrollmentReceived(), "retransmitted")
            return
        device.ip = addr[0]
        self.devices.put(device)
        if self._feed(mac, ev.EnrollmentReceived(), note.type_identifier.decode("latin-1")) is None:
            return  # e.g. an eMTA enrolling although its lease named a Basic flow
        task = asyncio.ensure_future(self._configure(device, note.tree, addr[0]))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _configure(self, device: Device, tree: pktc.Tree, ip: str) -> None:
        mac = device.mac
        try:
            data = self.files.build(device)
        except ValueError as exc:
            self._feed(mac, ev.ConfigBuildFailed(str(exc)), str(exc))
            self.devices.commit()
            return
        url = self.files.publish(device, data, ip)
        digest = hashlib.sha1(data).digest()
        self._feed(mac, ev.ConfigBuilt(), f"{len(data)} bytes, sha1 {digest.hex()}")
        o = pktc.oids(tree)
        varbinds = (ber.VarBind(o.config_file, _STRING, url.encode()), ber.VarBind(o.config_hash, _STRING, digest))
        try:
            reply = await self.snmp.request((ip, self.config.agent_port), self.config.write_community,
                                            m.PduType.SET, varbinds)
        except TimeoutError:
            self._feed(mac, ev.LocationSetFailed("no response"), "no response to the SET")
        else:
            if reply.pdu.error_status:
                status = m.ErrorStatus(reply.pdu.error_status).name
                self._feed(mac, ev.LocationSetFailed(status), status)
            else:
                self._feed(mac, ev.LocationSetAcked(), url)
                if mac in self._served_early:
                    self._served_early.discard(mac)
                    self._feed(mac, ev.FileServed(), "before the SET response arrived")
        self._served_early.discard(mac)
        self.devices.commit()

    def _status(self, mac: str, note: pktc.Status) -> None:
        machine = self.machines.get(mac)
        if machine is None or machine.table.target(machine.state, ev.StatusReceived()) is None:
            state = machine.state.name if machine else "no flow"
            self.devices.record(Step(mac, self.clock(), "MTA-25", "UnexpectedStatus", f"{note.state} in {state}"))
            return
        self._feed(mac, ev.StatusReceived(note.state), str(note.state))

    # -- push ----------------------------------------------------------------
    async def reset(self, mac: str, tree: pktc.Tree = pktc.Tree.CABLELABS) -> bool:
        """SET pktcMtaDevResetNow=true on the device with this MAC."""
        device = self.devices.get(mac)
        if device is None or not device.ip:
            raise KeyError(f"no device {mac} with a known address")
        varbinds = (ber.VarBind(pktc.oids(tree).reset_now, _INTEGER, TRUE),)
        try:
            reply = await self.snmp.request((device.ip, self.config.agent_port), self.config.write_community,
                                            m.PduType.SET, varbinds)
        except TimeoutError:
            ok = False
        else:
            ok = reply.pdu.error_status == 0
        self.devices.record(Step(mac, self.clock(), "MTA-1", "ResetRequested", "ok" if ok else "failed"))
        self.devices.commit()
        return ok
