"""The SNMP provisioning entity (the 122.3 server): enrollment, SET, status.

For each eMTA it runs the server-side flow table (pktcable.flow) and records
every step in the device store:

    H-MTA-15  enrollment INFORM in  -> acknowledged, device looked up
    H-MTA-18  config file built      (ConfigFiles.build)
    H-MTA-19  SET pktcMtaDevConfigFile (URL) and pktcMtaDevProvConfigHash
    H-MTA-23  file served            (the delivery service calls file_served)
    H-MTA-25  status INFORM in       -> pktcMtaDevProvisioningState recorded

and, on demand, SETs pktcMtaDevResetNow on a device found by MAC. What each
event does in each state is the flow table's alone (pktcable.flow.tables):
an enrollment INFORM starts the device's run over (a rebooted or reset eMTA
provisions again from MTA-1), one repeating the run's
pktcMtaDevCorrelationId is fed as EnrollmentRetransmitted, and an event the
table has no row for is an UnexpectedEvent: recorded as a step, logged (at
most once per device per interval) and counted by flow, state and event.
The MIB tree of a device's enrollment INFORM (CableLabs, IETF, Euro) is the
tree its SETs use, and what :attr:`ProvisioningEntity.trees` tells the file
builder. The SNMP
endpoint, the clock, the file service and the DHCP server's view of who holds
which address (``leased_address``) are passed in, so tests drive it without
sockets or sleeps.

Trust: the INFORM port is open to the whole cable network, so an INFORM is
believed only when its community is the INFORM community and it comes from
the address the DHCP server currently leases to the MAC it names; every SET
this entity sends goes to that leased address, never to an address a sender
chose (see :meth:`ProvisioningEntity.handle`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from pktcable.admission import Admission
from pktcable.flow import Entered, Flow, FlowTable, Machine
from pktcable.flow import events as ev
from pktcable.flow.machine import UnexpectedEvent
from pktcable.flow.tables import outcome, server_table
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.usmengine import Accepted, UsmFailure
from pktcable.store.devices import Device, DeviceStore, Step
from tlv import ber

from . import secureentity
from .agentset import reset_now, set_varbinds
from .leasesync import LeaseSync
from .ports import (
    DEFAULT_CONFIG,
    INTERNAL_ERROR_PLACES,
    ConfigFiles,
    EntityConfig,
    FlowObserver,
    NoObserver,
    SnmpRequester,
    SoftwareReports,
    internal_error,
)
from .ratelog import RateLimitedLog
from .screen import OVER_BUDGET, UNLEASED, RejectBudget, SourceScreen
from .secureentity import protect_file
from .sharedleases import Lookup, SharedLeaseRounds
from .takeup import resumable

log = logging.getLogger("pktcable.provision")
Address = tuple[str, int]
_STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]
MAC_OCTETS = 6  # pktcMtaDevMacAddress / ifPhysAddress of an Ethernet MTA

#: Why an INFORM was not acted on: the ``reason`` label of
#: pktcable_informs_rejected_total, in the order the checks run.
REJECT_REASONS = (UNLEASED, OVER_BUDGET, "bad-community", "not-pktc", "bad-mac", "not-leased-address", "unknown-device", "not-snmpv3")

#: MAC (12 lower-case hex digits) -> the IPv4 address the DHCP server leases to
#: it now (bound, unexpired), as text, or None.
LeasedAddress = Callable[[str], "str | None"]
#: An IPv4 address as text -> whether the DHCP server leases it to some device now.
AddressLeased = Callable[[str], bool]

#: The ``state`` label of an event for a device with no flow running.
NO_FLOW = "-"


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (tests driving the entity synchronously)
        return None


class ProvisioningEntity:
    def __init__(self, devices: DeviceStore, files: ConfigFiles, snmp: SnmpRequester, clock: Callable[[], float],
                 config: EntityConfig = DEFAULT_CONFIG, *, leased_address: LeasedAddress,
                 internal_errors: Counter[str] | None = None, observer: FlowObserver | None = None,
                 commit: Callable[[], None] | None = None,
                 lease_sync: Callable[[], Awaitable[None]] | None = None,
                 reports: SoftwareReports | None = None,
                 address_leased: AddressLeased | None = None,
                 shared_leases: Lookup | None = None) -> None:
        self.devices = devices
        #: Where each enrollment's pktcMtaDevSwCurrentVers goes (the firmware store's device versions).
        self.reports = reports
        #: Makes the staged steps durable: the store's own commit by default; the back
        #: office passes one that groups the commits of a burst of messages into one.
        self.commit = commit or devices.commit
        self.files = files
        self.snmp = snmp
        self.clock = clock
        self.config = config
        self.leased_address = leased_address
        #: With the lease table in another process (a DHCP worker), the lease of a device
        #: whose ACK has just left may not have reached ``leased_address`` yet: an INFORM
        #: that fails the lease check waits for this once, then is checked again.
        self.lease_sync = lease_sync
        self._lease_rounds: LeaseSync | None = None
        #: With a lease table several serve nodes share, an INFORM may come from an address
        #: another node leased: its datagrams wait for a round of the shared table
        #: (pktcable.provision.sharedleases), which puts what it finds in this node's memory.
        self.shared_rounds = None if shared_leases is None else SharedLeaseRounds(shared_leases, clock)
        #: Who may send at all (the endpoint's screen, before decoding); None: everyone.
        self.source_screen = None if address_leased is None else SourceScreen(
            address_leased, RejectBudget(burst=config.reject_burst, rate=config.reject_rate,
                                         max_sources=config.reject_log_sources), clock, self._reject,
            self._wait_for_lease)
        self.machines: dict[str, Machine] = {}
        self.observer: FlowObserver = observer or NoObserver()
        #: When each device's current run started (one entry per running flow; gone at its end).
        self._run_started: dict[str, float] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        #: Bugs caught in this entity's handlers, by where (pktcable_internal_errors_total).
        self.internal_errors: Counter[str] = internal_errors if internal_errors is not None else Counter()
        #: The MIB tree of each device's last enrollment INFORM (one entry per device the store knows).
        self.trees: dict[str, pktc.Tree] = {}
        # The run each device's flow is in: its correlation id, and the task building and SETting its file.
        self._correlation: dict[str, tuple[int, tuple[int, int | None]]] = {}
        self._configuring: dict[str, asyncio.Task[None]] = {}
        #: INFORMs not acted on, by reason (REJECT_REASONS).
        self.rejected: Counter[str] = Counter()
        #: New runs let in, and enrollment INFORMs dropped unanswered by reason (admission.refused).
        self.admission = Admission(config.admission)
        self.reject_log = RateLimitedLog(log, interval=config.reject_log_interval,
                                         max_sources=config.reject_log_sources, max_lines=config.reject_log_lines)
        self._tables: dict[Flow, FlowTable] = {}
        #: Secure: associations, SNMPv3 users and refusals (secureentity.SecureState).
        self.secure = secureentity.SecureState()
        #: Events a device's flow has no row for, by (flow, state, event) names
        #: (pktcable_unexpected_events_total); bounded by the tables' sizes.
        self.unexpected: Counter[tuple[str, str, str]] = Counter()
        self.unexpected_log = RateLimitedLog(log, interval=config.reject_log_interval,
                                             max_sources=config.reject_log_sources,
                                             max_lines=config.reject_log_lines)

    @property
    def unknown_informs(self) -> int:
        return self.rejected["unknown-device"]

    @property
    def bad_informs(self) -> int:
        return self.rejected["not-pktc"]

    def table(self, flow: Flow) -> FlowTable:
        table = self._tables.get(flow)
        if table is None:
            table = self._tables[flow] = server_table(flow, self.config.budget)
        return table

    # -- bookkeeping -------------------------------------------------------
    def _step(self, mac: str, machine: Machine, detail: str = "", previous: Entered | None = None) -> None:
        """Record the transition the machine just made, in the log, the store and
        the histograms; ``previous``: the device's step before it."""
        now = self.clock()
        entered = machine.history[-1]
        name = type(entered.event).__name__
        log.info("%s %s %s -> %s %s", mac, entered.step, name, machine.state.name, detail, extra={"mac": mac})
        self.devices.record(Step(mac, now, entered.step, name, detail))
        table, flow = machine.table, machine.table.flow
        if previous is not None:
            self.observer.step(flow, entered.step, max(0.0, now - previous.at))
        # A run is timed from its lease; an enrollment right after the lease goes on with that
        # run, one anywhere else (an eMTA that rebooted without asking DHCP) starts another.
        restart = type(entered.event) in table.budget_from and (
            previous is None or entered.state is table.start or previous.state is not table.start)
        if restart or mac not in self._run_started:
            if not machine.done:
                self._run_started[mac] = now
        elif machine.done:
            started = self._run_started.pop(mac)
            self.observer.provisioned(flow, outcome(machine.result, True), max(0.0, now - started))
        device = self.devices.get(mac)
        if device is not None:
            device.state, device.result, device.updated = machine.state.name, machine.result, now
            self.devices.put(device)

    def _feed(self, mac: str, event: object, detail: str = "") -> bool:
        """Feed one event to the device's flow; whether its table had a row for it."""
        machine = self.machines.get(mac)
        if machine is None:
            self._unexpected(mac, None, event, detail)
            return False
        previous = machine.history[-1]
        try:
            machine.handle(event, self.clock())
        except UnexpectedEvent as exc:
            self._unexpected(mac, machine, exc.event, detail)
            return False
        self._step(mac, machine, detail, previous)
        if machine.done and self.config.forget_finished:
            # The outcome is in the device store; a boot storm of 10,000
            # devices should not stay in memory once they are done.
            self._forget_run(mac)
        return True

    def _unexpected(self, mac: str, machine: Machine | None, event: object, detail: str) -> None:
        """A device doing something its flow has no place for here (an enrollment
        in a Basic flow, a status with no run ...): recorded, logged, counted; the
        run goes on as it was."""
        flow = machine.table.flow if machine is not None else NO_FLOW
        state = machine.state.name if machine is not None else NO_FLOW
        name = type(event).__name__
        self.unexpected[(flow, state, name)] += 1
        step = machine.info.step if machine is not None else NO_FLOW
        where = f"in {state}" if machine is not None else "no flow running"
        self.devices.record(Step(mac, self.clock(), step, f"Unexpected{name}",
                                 f"{where}: {detail}" if detail else where))
        self.unexpected_log.log(mac, self.clock(), "%s %s: %s not expected in %s (flow %s)",
                                mac, step, name, state, flow)

    def _forget_run(self, mac: str) -> None:
        self.secure.refusal_at.pop(mac, None)
        self._end_run(mac)
        del self.machines[mac]
        self._run_started.pop(mac, None)

    def lease_acked(self, mac: str, flow: str, ip: str) -> bool:
        """MTA-4 (called by the DHCP service): a new run starts. A flow
        this server has no table for (a device row naming one, say) is
        recorded on the device, not raised per lease; returns whether a run started."""
        self._end_run(mac)
        try:
            table = self.table(Flow.of(flow))
        except ValueError:
            self.machines.pop(mac, None)
            self.devices.record(Step(mac, self.clock(), "MTA-4", "FlowNotSupported",
                                     f"{flow!r} is none of {', '.join(Flow)}"))
            log.warning("%s: flow %r is none of %s; not provisioned", mac, flow, ", ".join(Flow), extra={"mac": mac})
            return False
        machine = self.machines.get(mac)
        if machine is None or machine.table is not table:
            # The first run this server sees, or one in another flow: a machine of that
            # flow's table, whose start state is where its LeaseAcked row leads.
            machine = self.machines[mac] = Machine(table, self.clock(), keep_history=False,
                                                   started_by=ev.LeaseAcked())
            self._step(mac, machine, ip)
            return True
        return self._feed(mac, ev.LeaseAcked(), ip)

    def file_served(self, mac: str) -> None:
        """MTA-23 (called by the delivery service)."""
        self._feed(mac, ev.FileServed())

    def _end_run(self, mac: str) -> None:
        """Whatever the device's previous run still had in flight is void."""
        task = self._configuring.pop(mac, None)
        # Not the task ending its own run (its last event made the flow final).
        if task is not None and not task.done() and task is not _current_task():
            task.cancel()
        self._correlation.pop(mac, None)

    def forget(self, mac: str) -> None:
        self.secure.forget(mac, getattr(self.snmp, "usm", None))
        self._end_run(mac)
        self.machines.pop(mac, None)
        self.trees.pop(mac, None)
        self._run_started.pop(mac, None)

    def running(self) -> int:
        """Devices whose flow has not reached a final state (read at scrape time)."""
        return sum(1 for machine in self.machines.values() if not machine.done)

    def check_timers(self) -> None:
        now = self.clock()
        for mac, machine in list(self.machines.items()):
            previous = machine.history[-1]
            if machine.handle_timer(now) is not None:
                self._step(mac, machine, previous=previous)
                if self.config.forget_finished and machine.done:
                    self._forget_run(mac)

    # -- INFORMs -----------------------------------------------------------
    def screen(self, addr: Address) -> bool | Awaitable[bool]:
        """The endpoint's screen: whether a datagram from ``addr`` is decoded at all
        (pktcable.provision.screen: not from an address leased to no device, nor from a
        source that spent its budget of rejected INFORMs)."""
        return True if self.source_screen is None else self.source_screen(addr)

    def _wait_for_lease(self, source: str) -> asyncio.Future[None] | None:
        """The screen's wait for a lease of ``source`` not in memory: a round of the shared
        table (several nodes), else of the DHCP worker's records, else none."""
        if self.shared_rounds is not None:
            return self.shared_rounds.join(source)
        rounds = self._sync_rounds()
        return None if rounds is None else rounds.join()

    def _sync_rounds(self) -> LeaseSync | None:
        """The shared, bounded wait for the DHCP worker's lease records (None without a worker)."""
        if self.lease_sync is None:
            return None
        if self._lease_rounds is None or self._lease_rounds.sync is not self.lease_sync:
            self._lease_rounds = LeaseSync(self.lease_sync)
        return self._lease_rounds

    def handle(self, msg: m.Message, addr: Address, secured: bool = False, *,
               synced: bool = False) -> m.Message | None | Awaitable[m.Message | None]:
        """The endpoint's handler: check PacketCable INFORMs, answer them, act on them.

        An INFORM is acted on only when (a) its community is the INFORM
        community, (b) the MAC it reports is 6 octets, and (c) it comes from
        the address the DHCP server leases to that MAC now; an enrollment for
        a MAC the store does not know is acted on only with ``auto_enroll``,
        a status INFORM for one never.

        Whether a rejected INFORM is answered follows SNMPv2c (RFC 1901,
        RFC 3584 section 4): a message whose community is not the INFORM
        community fails authentication and is discarded without any reply
        (no Response, so a sender cannot probe communities or use us as a
        reflector). Any other INFORM is a valid PDU under a valid community,
        and its sender is owed the Response (RFC 3416 section 4.2.7) whether
        or not we act on it: a notification that is not PacketCable's, a MAC
        that is not 6 octets, a source that does not hold the MAC's lease, a
        device we do not provision are answered and change nothing in the
        store: no device row, no step. Each is counted in ``rejected`` by
        reason and logged at most once per source per minute.

        Overload is the other silence: an enrollment that would start a new run
        while the admission bounds are reached (``EntityConfig.admission``) is
        dropped unanswered, as if lost on the way, so that the eMTA re-sends it;
        counted in ``admission.refused``. A re-sent copy of an enrollment already
        answered, and a status INFORM, are never dropped.
        """
        if msg.pdu.type is not m.PduType.INFORM:
            return None
        source = addr[0]
        if msg.community != self.config.inform_community:
            self._reject("bad-community", source, "community not accepted")
            return None
        try:
            note = pktc.parse_notification(msg.pdu.varbinds)
        except pktc.NotificationError as exc:
            self._reject("not-pktc", source, str(exc))
            return msg.response()
        if len(note.mac) != MAC_OCTETS:
            self._reject("bad-mac", source, f"a MAC of {len(note.mac)} octets")
            return msg.response()
        mac = note.mac.hex()
        leased = self.leased_address(mac)
        if leased != source and not synced and (self.lease_sync is not None or self.shared_rounds is not None):
            # The source holds a lease in memory, but not this MAC's: the record of the MAC's
            # lease may be on its way (a worker), or another node bound it since (shared table).
            rounds = self.shared_rounds.rounds if self.shared_rounds is not None else self._sync_rounds()
            assert rounds is not None
            full = rounds.waiting >= rounds.max_waiting
            waiter = self.shared_rounds.join(source) if self.shared_rounds is not None else rounds.join()
            if waiter is not None:
                return self._handle_synced(waiter, msg, addr, secured)
            if full:
                # No room to wait: dropped unanswered, so that a real eMTA re-sends it.
                self._reject("not-leased-address", source, f"{mac}: too many INFORMs wait for lease records, "
                             "dropped unanswered")
                return None
            # Else the shared table was asked about this source a moment ago: judged as it is.
        if leased != source:
            self._reject("not-leased-address", source,
                         f"{mac} is leased to {leased}" if leased else f"{mac} holds no lease")
            return msg.response()
        device = self.devices.get(mac)
        if device is None and (isinstance(note, pktc.Status) or not self.config.auto_enroll):
            self._reject("unknown-device", source, f"{mac} is not in the device store")
            return msg.response()
        machine = self.machines.get(mac)
        if machine is not None and machine.table.flow == Flow.SECURE.value and not secured:
            # The Secure flow's INFORMs travel over SNMPv3 with the association's keys; a
            # community INFORM naming such a device proves nothing about who sent it.
            self._reject("not-snmpv3", source, f"{mac} runs the Secure flow: SNMPv2c INFORM ignored")
            return msg.response()
        if isinstance(note, pktc.Enrollment):
            sent_as = _sent_as(msg)
            # Only an INFORM that starts a new run may be turned away: a re-sent copy of
            # one already acknowledged belongs to a run in flight, and so does a status INFORM.
            if self._correlation.get(mac) != (note.correlation_id, sent_as):
                refused = self.admission.admit(self.clock(), len(self._configuring))
                if refused is not None:
                    # No Response and nothing recorded: the eMTA re-sends its INFORM after its
                    # INFORM timeout, by when the runs in flight may have made room.
                    self.reject_log.log("overload", self.clock(), "enrollment INFORMs dropped unanswered (%s): "
                                        "%d runs waiting for their file and SET", refused, len(self._configuring))
                    return None
            self._enrollment(mac, note, source, device, sent_as)
        else:
            self._status(mac, note)
        self.commit()
        return msg.response()

    async def _handle_synced(self, waiter: Awaitable[None], msg: m.Message, addr: Address,
                             secured: bool) -> m.Message | None:
        await waiter
        reply = self.handle(msg, addr, secured, synced=True)
        assert not isinstance(reply, Awaitable)
        return reply

    def _reject(self, reason: str, source: str, detail: str) -> None:
        self.rejected[reason] += 1
        if self.source_screen is not None and reason not in (UNLEASED, OVER_BUDGET):
            self.source_screen.budget.charge(source, self.clock())
        self.reject_log.log(source, self.clock(), "INFORM from %s not acted on (%s): %s", source, reason, detail)

    def _enrollment(self, mac: str, note: pktc.Enrollment, ip: str, device: Device | None,
                    sent_as: tuple[int, int | None] = (0, None)) -> None:
        """``ip``: the address leased to ``mac``, which the enrollment came from;
        ``sent_as``: what tells a re-sent copy of one INFORM from a new one (_sent_as)."""
        if device is None:  # only with auto_enroll (handle checked)
            device = Device(mac, kind="mta", template=self.config.default_template, flow=self.config.default_flow)
            self.devices.put(device)
        machine = self.machines.get(mac)
        if machine is None:
            # No lease seen (another DHCP server, a restart, a forgotten finished flow): start at enrollment.
            if not self.lease_acked(mac, device.flow, ip):
                return
            machine = self.machines[mac]
        if self._correlation.get(mac) == (note.correlation_id, sent_as):
            retry = ev.EnrollmentRetransmitted()
            # The table says in which states the same correlation id is a retry; in
            # the others (the run got further) the eMTA started over with it.
            if machine.table.target(machine.state, retry) is not None:
                self._feed(mac, retry, f"correlation id {note.correlation_id}")
                return
        if not self._feed(mac, ev.EnrollmentReceived(),
                          f"{note.type_identifier.decode('latin-1')} ({note.tree.value} MIB)"):
            return  # recorded as unexpected (a Basic flow's lease)
        self._end_run(mac)  # a new run: the old one's SET is void
        self._correlation[mac] = (note.correlation_id, sent_as)
        self.trees[mac] = note.tree
        if self.reports is not None:
            self.reports.reported(mac, note.sw_version)
        device.ip = ip
        self.devices.put(device)
        task = asyncio.ensure_future(self._configure(device, note.tree, ip))
        self._configuring[mac] = task
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, mac))

    def _task_done(self, mac: str, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        # By its MAC, not by a search of every run in flight (hundreds in a storm).
        if self._configuring.get(mac) is task:
            del self._configuring[mac]

    async def _configure(self, device: Device, tree: pktc.Tree, ip: str) -> None:
        try:
            await self._configure_run(device, tree, ip)
        except asyncio.CancelledError:
            raise  # a newer enrollment took over
        except Exception as exc:
            internal_error(self.internal_errors, "configure", "%s", device.mac)
            machine = self.machines.get(device.mac)
            if machine is not None:
                for failed in (ev.ConfigBuildFailed(f"internal error: {type(exc).__name__}"),
                               ev.LocationSetFailed(f"internal error: {type(exc).__name__}")):
                    if machine.table.target(machine.state, failed) is not None:
                        self._feed(device.mac, failed, failed.reason)
                        break
            self.commit()

    async def _configure_run(self, device: Device, tree: pktc.Tree, ip: str) -> None:
        mac = device.mac
        try:
            data = self.files.build(device)
        except ValueError as exc:
            self._feed(mac, ev.ConfigBuildFailed(str(exc)), str(exc))
            self.commit()
            return
        sa = self.secure.associations.get(mac) if self.machines[mac].table.flow == Flow.SECURE.value else None
        extra: tuple[ber.VarBind, ...] = ()
        if sa is not None:
            try:
                protected, extra = protect_file(data, tree, sa)
            except ValueError as exc:
                self._feed(mac, ev.ConfigBuildFailed(str(exc)), str(exc))
                self.commit()
                return
            served, digest, what = protected.data, protected.config_hash, f", {protected.alg.name}"
        else:
            served, digest, what = data, hashlib.sha1(data).digest(), ""
        url = self.files.publish(device, served, ip)
        self._feed(mac, ev.ConfigBuilt(), f"{len(data)} bytes, sha1 {digest.hex()}{what}")
        o = pktc.oids(tree)
        varbinds = (ber.VarBind(o.config_file, _STRING, url.encode()), ber.VarBind(o.config_hash, _STRING, digest),
                    *extra)
        if self.leased_address(mac) != ip:
            # The lease ended or moved while the file was built: whoever holds
            # ``ip`` now is not this device and gets no SET with our community.
            self._feed(mac, ev.LocationSetFailed("lease ended"), f"{ip} is no longer leased to {mac}")
            self.commit()
            return
        try:
            reply = await self._set(mac, sa, ip, varbinds)
        except TimeoutError:
            reply = None
        except UsmFailure as exc:  # the eMTA's USM refused our SET: the keys do not work
            self._feed(mac, ev.LocationSetFailed(exc.stat.mib_name), str(exc))
            self.commit()
            return
        # The table places the outcome wherever the run is by now: the file may have been
        # fetched already, or a status INFORM may have ended the run, before this reply.
        if reply is None:
            # Not yet a failure: a Response lost on the way back looks the same, and the eMTA
            # then fetches its file (SET_UNANSWERED waits for that, then fails the SET).
            self._feed(mac, ev.LocationSetUnanswered(), "no response to the SET")
        elif reply.pdu.error_status:
            code = reply.pdu.error_status
            status = m.ErrorStatus(code).name if code in set(m.ErrorStatus) else f"error-status {code}"
            self._feed(mac, ev.LocationSetFailed(status), status)
        else:
            self._feed(mac, ev.LocationSetAcked(), url)
        self.commit()

    # -- Secure: key management (MTA-13/14) -----------------------------------
    def keys_established(self, client: str, sa: object, ip: str) -> bool:
        """MTA-13/14: key management keyed ``client`` from ``ip`` (secureentity.keys_established)."""
        return secureentity.keys_established(self, client, sa, ip)

    def secure_refusal(self, mac: str, event: object, detail: str) -> None:
        """A refused AP Request or SNMPv3 message from ``mac``'s address (secureentity.secure_refusal)."""
        secureentity.secure_refusal(self, mac, event, detail)

    def handle_v3(self, request: Accepted, addr: Address) -> m.Pdu | None | Awaitable[m.Pdu | None]:
        """The endpoint's ``v3_handler`` (secureentity.handle_v3)."""
        return secureentity.handle_v3(self, request, addr)

    async def _set(self, mac: str, sa: object, ip: str, varbinds: tuple[ber.VarBind, ...]) -> m.Message:
        """A SET to the device's agent (agentset.set_varbinds)."""
        return await set_varbinds(self.snmp, (ip, self.config.agent_port), self.config.write_community, sa, varbinds)

    def _status(self, mac: str, note: pktc.Status) -> None:
        event = ev.StatusReceived(note.state)
        if mac not in self.machines:
            self._resume(mac, event)
        self._feed(mac, event, str(note.state))

    def _resume(self, mac: str, event: object) -> None:
        """A status INFORM for a device with no run here: another node's run, taken up where
        the shared device row says it is when its table takes this status (takeup.resumable)."""
        device = self.devices.get(mac)
        machine = None if device is None else resumable(device, self.table, event, self.clock())
        if machine is not None:
            self.machines[mac] = machine
            self.devices.record(Step(mac, self.clock(), machine.info.step, "RunTakenUp",
                                     f"in {machine.state.name}, as the device store records it (another node's run)"))
            log.info("%s: run taken up in %s from the device store", mac, machine.state.name, extra={"mac": mac})

    # -- push ----------------------------------------------------------------
    async def reset(self, mac: str, tree: pktc.Tree | None = None) -> bool:
        """SET pktcMtaDevResetNow=true on the device with this MAC, at the
        address leased to it now (not the one the store last saw: that address
        may belong to another device by now). KeyError when it holds no lease.
        ``tree``: the MIB tree to SET in; by default the one the device
        enrolled with, CableLabs for a device never seen enrolling."""
        tree = tree or self.trees.get(mac, pktc.Tree.CABLELABS)
        ip = self.leased_address(mac)
        if ip is None:
            raise KeyError(f"no lease for {mac}: its address is not known")
        ok = await reset_now(self.snmp, (ip, self.config.agent_port), self.config.write_community, tree)
        self.devices.record(Step(mac, self.clock(), "MTA-1", "ResetRequested", "ok" if ok else "failed"))
        self.commit()
        return ok


def _sent_as(msg: m.Message) -> tuple[int, int | None]:
    """What one INFORM keeps across its retransmissions and a new one does not:
    its request-id and its sysUpTime (RFC 3416 4.2.7: a retransmission is the
    same message). An eMTA that rebooted, or was reset, may reuse its
    correlation id and even start its request-ids over, but its uptime is new."""
    uptime = next((vb.value for vb in msg.pdu.varbinds if vb.oid == m.SYS_UPTIME), None)
    return msg.pdu.request_id, uptime if isinstance(uptime, int) else None


#: Re-exported: the back office and the tests import these from here, as before the split.
__all__ = ["INTERNAL_ERROR_PLACES", "REJECT_REASONS", "ConfigFiles", "EntityConfig", "FlowObserver", "NoObserver",
           "ProvisioningEntity", "SnmpRequester", "SoftwareReports", "internal_error"]
