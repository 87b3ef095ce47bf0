"""The back office: DHCP, TFTP/HTTP/ToD, the SNMP provisioning entity and the
device store in one asyncio process (or the DHCP server in a worker process of
its own, ``dhcp_workers = 1``: :mod:`pktcable.serve.dhcpwiring`), wired so that
each device's steps flow from one service to the next:

    DHCP ACK (MTA-4)   -> device recorded, its server-side flow starts
    INFORM (MTA-15)    -> file built from its template, URL + hash SET
    TFTP/HTTP (MTA-23) -> the flow learns the file was delivered
    INFORM (MTA-25)    -> outcome recorded

A cable modem's row follows the CM table (pktcable.flow CM_TABLE): LEASED at
its ACK (CM-4), CONFIG_SERVED or CONFIG_FAILED by its file's transfer
(CM-5/6). A lease renewal is no new binding: it starts no run, for either kind.

Per device it decides what the device can take, from what the device said:
the MIB tree its config file is written for (:meth:`Backoffice.mib_tree`)
and whether its file URL may be http:// (:meth:`Backoffice.takes_http`).
A bug in any handler is logged once with its traceback and counted in
``internal_errors`` by where it happened; the service goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import replace
from ipaddress import IPv4Address
from typing import TypeVar

import jinja2
from aiohttp import web
from prometheus_client.registry import Collector

from pktcable.admission import Admission, AdmissionLimits
from pktcable.delivery.catalogue import CatalogueResolver
from pktcable.delivery.http import HttpServer, listen
from pktcable.delivery.resolvers import (
    BuildFailed,
    ChainResolver,
    HolderGate,
    OneTimeNames,
    OneTimeResolver,
    TemplateResolver,
)
from pktcable.delivery.tftp import TransferConfig
from pktcable.delivery.tftp_aio import TftpServer
from pktcable.delivery.tod import TodServer
from pktcable.dhcpd import DhcpServer
from pktcable.dhcpd.events import Event, LeaseBound, LeaseExpired, LeaseReleased
from pktcable.dhcpd.transport import open_socket
from pktcable.flow import events as ev
from pktcable.mibctx import MibContext
from pktcable.provision.entity import EntityConfig, ProvisioningEntity, internal_error
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint
from pktcable.snmp.usmengine import Accepted
from pktcable.store import LeaseState, LeaseStore
from pktcable.store.admin import AdminStore
from pktcable.store.built import BuiltFile, BuiltFiles
from pktcable.store.devices import Device, DeviceStore, Step, normalize_mac
from pktcable.store.firmware import FirmwareStore

from . import secure, swchecks
from .cmflow import CmFlow
from .config import ServeConfig, api_ssl, firmware_cvcs, firmware_trust
from .dhcpwiring import LeaseView, LocalDhcp, learn_shared_holders
from .dhcpworker import DhcpWorker, WorkerSetup
from .leasewire import LeaseMirror
from .lookup import (
    MIB_TREE_VAR,
    Capabilities,
    RecordingResolver,
    SharedLeaseHolders,
    StoreLookup,
    bindings_round,
    build_trial_files,
    mib_tree_for,
)
from .metrics import Metrics
from .office import NoCurrentLease
from .sipwiring import SipWiring
from .site import dhcp_config, naming, resolve_site
from .stores import open_stores, seed
from .upgrades import Upgrades

log = logging.getLogger("pktcable.serve")
T = TypeVar("T")
Address = tuple[str, int]
_NAME = re.compile(r"(?P<kind>cm|mta)-(?P<mac>[0-9a-f]{12})\.cfg")
PRUNE_INTERVAL = 3600.0  # seconds between sweeps of step history past its age (history_days)
#: Seconds the device store's writes of a burst wait to go to disk together. Steps are
#: history, not promises to a device (leases are committed before their ACK leaves), so
#: a crash loses at most this much of it, and a boot storm pays one commit per window.
COMMIT_WINDOW = 0.05


#: Settings a SIGHUP applies (Backoffice.reload); the others take a restart.
RELOADABLE = ("devices", "templates")


class Backoffice:
    def __init__(self, cfg: ServeConfig, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.clock = clock
        #: Where the services listen and the address the devices are told (before anything opens).
        self.site = resolve_site(cfg)
        stores = open_stores(cfg, clock)
        self._data_lock = stores.data_lock
        cm_key = stores.cm_key
        self.devices: DeviceStore = stores.devices
        self._leases_db = stores.leases_db
        self.leases: LeaseStore | None = stores.leases
        #: The lease table other nodes share, where this node looks up their bindings (None: not shared).
        self.shared_leases = stores.shared_leases or (self.leases if self.leases and self.leases.shared else None)
        #: The Prometheus registry of this back office (histograms observed as things happen,
        #: the services' counters read at scrape time).
        self.metrics_registry = Metrics()
        #: The cable modems' rows, by the CM table.
        self.cm_flow = CmFlow(self.devices, clock, self.metrics_registry, self._commit_soon)
        for name, store in (("devices", self.devices), ("leases", self.leases)):
            if hasattr(store, "on_commit"):  # the stores that write (SQLite, PostgreSQL)
                setattr(store, "on_commit", self.metrics_registry.committed(name).observe)  # noqa: B010
        self.built: BuiltFiles = stores.built
        self.admin: AdminStore = stores.admin
        self.firmware: FirmwareStore = stores.firmware
        self.firmware_trust = firmware_trust(cfg)
        manufacturer_cvc, cosigner_cvc = firmware_cvcs(cfg)
        #: Devices' reported versions, the rules' decisions, the CM file's upgrade TLVs.
        self.upgrades = Upgrades(self.firmware, clock, self.site.advertise, manufacturer=cfg.firmware_manufacturer,
                                 manufacturer_cvc=manufacturer_cvc, cosigner_cvc=cosigner_cvc, cm_key=cm_key,
                                 cvc_always=cfg.firmware_cvc_always)
        seed(self.devices, cfg)
        self.dhcp_config = dhcp_config(cfg, self.site)
        #: The DHCP core, when it runs in this process (dhcp_workers = 0); None with a worker.
        self.dhcp = DhcpServer(self.dhcp_config, self.leases) if self.leases is not None else None
        #: Who holds which address: the engine itself, or the mirror of the worker's table.
        self.lease_view: LeaseView = self.dhcp.engine if self.dhcp is not None else LeaseMirror()
        #: The DHCP service once started (dhcpwiring): its counters, and the worker's failure.
        self.dhcp_service: LocalDhcp | DhcpWorker | None = None
        #: Bugs caught in a handler, by where (pktcable_internal_errors_total).
        self.internal_errors: Counter[str] = Counter()
        self.secure_events = secure.SecureEvents(lambda: self.entity, self.lease_view, self.clock,
                                                 self.internal_errors)
        #: What each eMTA holding a lease declared in its option 60 (dropped with the lease).
        self.capabilities: dict[str, Capabilities] = {}
        self.lookup = StoreLookup(self.devices, self.lease_view, clock, decorate=self.with_mib_tree)
        # The operator's templates first, then the shipped cm.txt / mta.txt. A Basic-flow
        # file carries the hash object of the device's own MIB tree (mib_tree below).
        loader = jinja2.FileSystemLoader(cfg.templates) if cfg.templates else None
        #: Object names of the MIBs, for the files built here and the templates the API checks.
        self.mib = MibContext()
        self.templates = TemplateResolver(self.lookup, loader, ctx=self.mib, cm_key=cm_key,
                                          mta_hash=lambda device: device.vars.get(MIB_TREE_VAR, cfg.mib_tree))
        # One-time names carry the bytes the entity hashed (Hybrid flows), bounded, gone with the name;
        # on a PostgreSQL store every node can serve them (delivery/onetime.py).
        self._shared_names = shared = stores.shared_names
        self.names = OneTimeNames(lifetime=60.0, shared=shared)
        # Every name, over TFTP and HTTP, passes the gate: a device's file goes to its lease holder only.
        recorded = RecordingResolver(self.templates, self._record_file, self.upgrades.cm_file)
        # The catalogue's images last: a device's own file name always means that device's file.
        self.files = HolderGate(ChainResolver([OneTimeResolver(self.names, recorded, clock), recorded,
                                               CatalogueResolver(self.firmware)]),
                                self.lookup, self.lookup, clock, self.names,
                                shared_holders=SharedLeaseHolders(shared.bound_lease, clock) if shared else None)
        self.tftp = TftpServer(self.files, self.site.listen, cfg.tftp_port, on_complete=self._guarded_delivered,
                               max_sessions_per_client=cfg.tftp_max_per_client,
                               config=TransferConfig(max_timeout_option=cfg.tftp_max_timeout,
                                                     max_duration=cfg.tftp_max_duration),
                               admission=Admission(AdmissionLimits(cfg.tftp_admit_sessions)),
                               continues=lambda name: self.names.get(name, self.clock()) is not None)
        #: SIP phones' provisioning (sip_port), serve/sipwiring.py; their profiles ride on HTTP.
        self.sip = SipWiring(cfg, self.devices, cm_key, clock, self._commit_soon, self._record_file,
                             self.upgrades) if cfg.sip_port else None
        self.http = HttpServer(self.files, self.site.listen, cfg.http_port, on_served=self._guarded_delivered,
                               header_timeout=cfg.http_header_timeout,
                               versioned=self.sip.plain_route() if self.sip else None) \
            if cfg.http_port else None
        self.tod = TodServer(self.site.listen, cfg.tod_port)
        self.snmp: SnmpEndpoint | None = None
        self.entity: ProvisioningEntity | None = None
        self.sw_checks: swchecks.SwChecks | None = None  # asks modems still behind an offer why
        #: The Secure flow's KDC and key management, when the settings run them.
        self.secure_settings = secure.check(cfg)
        self.secure: secure.SecureServices | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._commit_timer: asyncio.TimerHandle | None = None
        self._next_prune = 0.0
        self._api: web.AppRunner | None = None
        self._api_server: asyncio.Server | None = None
        self.metrics_registry.attach(self)

    # -- what each device can take ----------------------------------------------
    def mib_tree(self, device: Device) -> pktc.Tree:
        """The MIB tree an eMTA's config file is written for, from what the
        device said first: the tree of its enrollment INFORM (Hybrid flows);
        else the device's own ``mib_tree`` variable (the operator knows the
        model); else capability TLV 23 of its option 60, when it names exactly
        one MTA MIB; else the ``mib_tree`` setting. ValueError for a device
        variable that names no tree."""
        trees = self.entity.trees if self.entity is not None else {}
        return mib_tree_for(device, trees, self.capabilities, self.cfg.mib_tree)

    def with_mib_tree(self, device: Device) -> Device:
        """The device as the template sees it: ``mib_tree`` set (an eMTA's only)."""
        if device.kind != "mta":
            return device
        try:
            tree = self.mib_tree(device)
        except ValueError:
            return device  # the template's hash lookup names the bad value
        return replace(device, vars={**device.vars, MIB_TREE_VAR: tree.value})

    def takes_http(self, mac: str) -> bool:
        """Whether the eMTA declared HTTP file download (capability sub-TLV 4) in its option 60."""
        declared = self.capabilities.get(mac)
        return declared is not None and declared.http

    def reload(self, cfg: ServeConfig) -> list[str]:
        """SIGHUP: the [[devices]] rows and the templates of ``cfg`` (checked) take
        effect now; the names of other settings that differ are returned, since
        they take a restart (sockets, stores, keys). A device dropped from the
        list stays in the store: the store is the truth, and the API deletes."""
        from dataclasses import fields

        waiting = [f.name for f in fields(cfg) if f.name not in RELOADABLE
                   and getattr(cfg, f.name) != getattr(self.cfg, f.name)]
        seed(self.devices, cfg)
        self.templates.reload(jinja2.FileSystemLoader(cfg.templates) if cfg.templates else None)
        self.cfg.devices, self.cfg.templates = cfg.devices, cfg.templates
        self.warm_up()
        if self.sip is not None:
            self.sip.changed(self.sip.all_phones())  # a template or [[devices]] edit: the changed are told
        return waiting

    # -- wiring ---------------------------------------------------------------
    def build(self, device: Device) -> bytes:
        """ConfigFiles.build for the entity."""
        if not device.template:
            device.template = "mta.txt" if device.kind == "mta" else "cm.txt"
        try:
            data = self.templates.build(self.with_mib_tree(device) if device.kind == "mta" else device, device.ip)
        except BuildFailed as exc:
            raise ValueError(exc.reason) from None
        self._record_file(device.mac, device.kind, f"{device.kind}-{device.mac}.cfg", data)
        return data

    def _record_file(self, mac: str, kind: str, name: str, data: bytes) -> None:
        """Keep the device's newest file of its kind (written with the next store commit)."""
        self.built.put(BuiltFile.of(mac, kind, name, self.clock(), data))

    def publish(self, device: Device, data: bytes, client_ip: str) -> str:
        """ConfigFiles.publish: a one-time name for this device's address, in
        an http:// URL only for an eMTA that declared HTTP download (else a
        real eMTA could not fetch it); tftp:// otherwise."""
        name = self.names.issue(f"mta-{device.mac}.cfg", client_ip, self.clock(), suffix=".cfg", data=data)
        if self.cfg.file_scheme == "http" and self.http is not None and self.takes_http(device.mac):
            return f"http://{self.site.url_host(self.http.address[1], 80)}/{name}"
        return f"tftp://{self.site.url_host(self.cfg.tftp_port, 69)}/{name}"

    # -- handlers: a bug costs one event, is logged once and counted -----------------------
    def _dhcp_round(self, events: list[Event]) -> AbstractContextManager[None]:
        return bindings_round(self.devices, events)

    def _guarded_dhcp(self, event: Event) -> None:
        try:
            self._on_dhcp(event)
        except Exception:
            internal_error(self.internal_errors, "dhcp", "%s", type(event).__name__)

    def _guarded_delivered(self, name: str, client: Address, complete: bool) -> None:
        try:
            self._delivered(name, client, complete)
        except Exception:
            internal_error(self.internal_errors, "delivery", "%s to %s", name, client[0])

    def _guarded_v3(self, request: Accepted, addr: Address) -> m.Pdu | None | Awaitable[m.Pdu | None]:
        assert self.entity is not None
        try:
            reply = self.entity.handle_v3(request, addr)
        except Exception:
            internal_error(self.internal_errors, "snmp", "SNMPv3 from %s", addr[0])
            return None
        return self._guarded_later(reply, f"SNMPv3 from {addr[0]}") if isinstance(reply, Awaitable) else reply

    def _guarded_snmp(self, msg: m.Message, addr: Address) -> m.Message | None | Awaitable[m.Message | None]:
        assert self.entity is not None
        try:
            reply = self.entity.handle(msg, addr)
        except Exception:
            # No Response: the eMTA retransmits, and may find the bug gone (e.g. a store hiccup).
            internal_error(self.internal_errors, "snmp", "%s from %s", msg.pdu.type.name, addr[0])
            return None
        return self._guarded_later(reply, f"{msg.pdu.type.name} from {addr[0]}") \
            if isinstance(reply, Awaitable) else reply

    async def _guarded_later(self, reply: Awaitable[T], what: str) -> T | None:
        try:
            return await reply
        except Exception:
            internal_error(self.internal_errors, "snmp", "%s", what)
            return None

    async def _lease_sync(self) -> None:
        """The entity's wait for the DHCP worker's lease records (ProvisioningEntity.lease_sync)."""
        if isinstance(self.dhcp_service, DhcpWorker):
            await self.dhcp_service.caught_up()

    async def _shared_holders(self, sources: list[str]) -> set[str]:
        """One round of the entity's wait for leases other nodes bound (dhcpwiring.learn_shared_holders)."""
        assert self.shared_leases is not None
        return learn_shared_holders(self.shared_leases, self.lease_view, sources, self.clock())

    def leased_address(self, mac: str) -> str | None:
        """The address the DHCP server leases to ``mac`` now: the only one the
        entity believes an INFORM for it from, and sends its SETs to."""
        lease = self.lease_view.bound_lease(mac, self.clock())
        return None if lease is None else str(lease.address)

    def address_leased(self, source: str) -> bool:
        """Whether the DHCP server leases ``source`` to some device now (bound, unexpired):
        who may send to the SNMP entity at all (ProvisioningEntity.screen)."""
        try:
            lease = self.lease_view.by_address.get(IPv4Address(source))
        except ValueError:  # not an IPv4 address: no lease of ours
            return False
        return lease is not None and lease.state is LeaseState.BOUND and lease.expires > self.clock()

    def _on_dhcp(self, event: Event) -> None:
        if isinstance(event, (LeaseReleased, LeaseExpired)):
            self.capabilities.pop(normalize_mac(event.lease.mac), None)
            return
        if not isinstance(event, LeaseBound):
            return
        lease = event.lease
        mac = normalize_mac(lease.mac)
        ip = str(lease.address)
        if event.kind == "mta":
            self.capabilities[mac] = Capabilities.of(event)
        device = self.devices.get(mac)
        if device is None:
            if not self.cfg.auto_enroll or event.kind not in ("cm", "mta"):
                return
            device = Device(mac, kind=event.kind, flow=event.realm or "", template=f"{event.kind}.txt")
        if not event.renewal or device.ip != ip:
            device.updated = self.clock()
        device.ip = ip
        if lease.remote_id and device.kind != "cm":
            device.cm_mac = lease.remote_id.replace(":", "")  # option 82 remote id: the eMTA's modem
        if event.realm:
            device.flow = event.realm
        if not device.template and device.kind != "sip":  # a phone's empty layout is "generic"
            device.template = f"{device.kind}.txt"
        self.devices.put(device)
        self._commit_soon()
        if event.report is not None and not event.renewal:  # a reboot may bring a new image; a renewal cannot
            self.upgrades.dhcp_report(mac, event.report)
        label = "DHCP" if device.kind == "sip" else "MTA-4"  # a phone's lease is no PacketCable step
        if device.kind == "cm":
            self.cm_flow.event(mac, ev.LeaseRenewed() if event.renewal else ev.LeaseAcked(), ip)
        elif event.renewal:  # the same binding, longer: the eMTA's run (or its outcome) stands
            self.devices.record(Step(mac, self.clock(), label, "LeaseRenewed", ip))
        elif event.realm and self.entity is not None:
            self.entity.lease_acked(mac, event.realm, ip)
        else:
            self.devices.record(Step(mac, self.clock(), label, "LeaseAcked", ip))
        log.info("%s %s lease %s%s%s", mac, device.kind, ip, f" realm {event.realm}" if event.realm else "",
                 " (renewed)" if event.renewal else "", extra={"mac": mac})

    def _delivered(self, name: str, client: Address, complete: bool) -> None:
        # A one-time name names its device by its target (also one another node built), else by its address.
        match = _NAME.fullmatch(self.names.spent_target(name) or name)
        mac = match.group("mac") if match else self.lookup.mac_at(client[0])
        if mac is None:
            return
        device = self.devices.get(mac)
        if device is not None and device.kind == "cm":
            self.cm_flow.event(mac, ev.FileServed() if complete else ev.TransferFailed(), name)
            if complete and self.sw_checks is not None:
                self.sw_checks.file_served(mac)  # its file offered an image: ask later if it is still behind
        elif not complete:
            self.devices.record(Step(mac, self.clock(), "MTA-22/23", "TransferFailed", name))
        elif device is not None and device.kind == "mta" and self.entity is not None and mac in self.entity.machines:
            self.entity.file_served(mac)
        else:  # an eMTA's whose flow already ended (its status INFORM came first), or a device not stored
            self.devices.record(Step(mac, self.clock(), "MTA-23" if device is not None else "CM-5/6", "FileServed",
                                     name))
        log.info("%s file %s %s to %s", mac, name, "delivered" if complete else "not delivered", client[0],
                 extra={"mac": mac})

    def forget(self, mac: str) -> bool:
        """Remove a device from the store and from every running flow."""
        if self.entity is not None:
            self.entity.forget(mac)
        self.capabilities.pop(mac, None)
        self.built.delete(mac)
        self.firmware.forget_device(mac)
        self.upgrades.forget(mac)
        return self.devices.delete(mac)

    # -- the operators' API reaches the back office through these only (office.Office) ----------
    def list_devices(self) -> Iterable[Device]:
        return self.devices.devices()

    def get_device(self, mac: str) -> Device | None:
        return self.devices.get(mac)

    def device_history(self, mac: str) -> list[Step]:
        return self.devices.history(mac)

    def save_device(self, device: Device) -> None:
        self.devices.put(device)
        self.devices.commit()
        if self.sip is not None:
            self.sip.changed([device.mac])

    async def reset_device(self, mac: str) -> bool:
        if self.entity is None:  # not started: nothing is leased yet
            raise NoCurrentLease(f"no lease for {mac}: the server has not started")
        try:
            return await self.entity.reset(mac)
        except KeyError as exc:
            raise NoCurrentLease(exc.args[0] if exc.args else mac) from None

    def metrics(self) -> Collector:
        return self.metrics_registry.registry

    def _commit_soon(self) -> None:
        """One store commit per burst of events, COMMIT_WINDOW after its first (not per
        event, nor per message: a commit costs as much as all the other work of a step)."""
        if self._commit_timer is None:
            self._commit_timer = asyncio.get_running_loop().call_later(COMMIT_WINDOW, self.commit_batch)

    def commit_batch(self) -> None:
        """The burst's changes to the stores now. SQLite writes them before this returns; a
        PostgreSQL store hands them to its writer thread and returns (``get`` sees them at
        once; its reads of the database, ``query`` and ``summary`` in the API's worker
        thread among them, wait there for the write), so the event loop never waits for it."""
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        self.devices.commit()
        self.built.commit()

    def commit_now(self) -> None:
        """The burst's changes written when this returns, on every backend: visible to
        other nodes and any other connection (waits for the writer thread on PostgreSQL)."""
        self.commit_batch()
        self.devices.flush()
        self.built.flush()

    def _prune_history(self) -> None:
        """Drop step history past its age, hourly (and at start-up, after a long stop)."""
        now = self.clock()
        if now >= self._next_prune:
            self.devices.prune(now)
            # Capabilities are kept for lease holders only (a lease may lapse without an event).
            for mac in [mac for mac in self.capabilities if self.lease_view.bound_lease(mac, now) is None]:
                del self.capabilities[mac]
            self._next_prune = now + PRUNE_INTERVAL

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.entity is not None:
                self.entity.check_timers()
            self.names.expire(self.clock())
            self.devices.commit()
            self.built.commit()
            self._prune_history()

    # -- life cycle -------------------------------------------------------------
    def warm_up(self) -> None:
        build_trial_files(self.templates, self.cfg.realms[0])

    async def start(self) -> None:
        cfg = self.cfg
        self.warm_up()
        site = self.site
        with naming("snmp", site.listen, cfg.snmp_port):
            self.snmp = await open_endpoint(site.listen, cfg.snmp_port, None, buffer=4 << 20,
                                            timeout=cfg.snmp_timeout, retries=cfg.snmp_retries,
                                            usm=secure.usm_engine(site.advertise) if self.secure_settings else None)
        self.entity = ProvisioningEntity(
            self.devices, self, self.snmp, self.clock,
            EntityConfig(write_community=cfg.write_community.encode(), inform_community=cfg.inform_community.encode(),
                         agent_port=cfg.agent_port, auto_enroll=cfg.auto_enroll, default_template="mta.txt",
                         default_flow=cfg.realms[0], budget=cfg.server_budget, forget_finished=cfg.forget_finished,
                         admission=AdmissionLimits(cfg.enroll_max_in_flight, cfg.enroll_rate)),
            leased_address=self.leased_address, internal_errors=self.internal_errors,
            observer=self.metrics_registry, commit=self._commit_soon,
            lease_sync=self._lease_sync if cfg.dhcp_workers else None, reports=self.upgrades,
            address_leased=self.address_leased,
            shared_leases=self._shared_holders if self.shared_leases is not None else None,
        )
        self.snmp.screen = self.entity.screen
        self.sw_checks = swchecks.for_office(self, self._commit_soon)
        self.snmp.handler = self._guarded_snmp
        self.snmp.v3_handler = self._guarded_v3
        self.snmp.on_usm_refused = self.secure_events.usm_refused
        if self.secure_settings is not None:
            from .kdcservice import StoreMapper

            self.secure = secure.SecureServices(self.secure_settings, site.listen, site.advertise,
                                                self.secure_events.keyed, self.secure_events.key_refused,
                                                mapper=StoreMapper(self.devices, cfg.auto_enroll))
            with naming("kdc/km", site.listen, self.secure_settings.km_port):
                await self.secure.start()
        with naming("dhcp", site.dhcp_listen, cfg.dhcp_port):
            sock = open_socket(site.dhcp_listen, cfg.dhcp_port, site.interface)
        # A direct request is placed on the served link by the interface's address.
        link = site.advertise if site.interface else None
        if self.dhcp is not None:
            self.dhcp_service = LocalDhcp(self.dhcp, sock, interface=site.interface, link=link, clock=self.clock,
                                          on_event=self._guarded_dhcp, round=self._dhcp_round)
        else:
            assert isinstance(self.lease_view, LeaseMirror)
            from pktcable.cli.logs import followed_macs

            setup = WorkerSetup(self.dhcp_config, self._leases_db, site.interface, link, cfg.log_level,
                                cfg.log_format, followed_macs(), -1, -1)
            self.dhcp_service = DhcpWorker(setup, sock, self._guarded_dhcp, self.lease_view, self._dhcp_round)
        await self.dhcp_service.start()
        await self.tftp.start()  # its error names the service and port itself
        if self.http is not None:
            with naming("http", site.listen, cfg.http_port):
                await self.http.start()
        with naming("tod", site.listen, cfg.tod_port):
            await self.tod.start()
        if self.sip is not None:
            await self.sip.start(site, self.http)  # its errors name the port (SIP or HTTPS) that failed
        if cfg.api_port:
            from .api import make_api
            from .apiauth import Access, allowed_hosts
            from .officeview import OfficeView

            # The API's own keep-alive and request-head deadline: a local process that opens
            # connections and never sends a request cannot hold them.
            access = Access(self.admin, allowed_hosts(cfg.api_address, cfg.api_hosts), cfg.metrics_open, self.clock)
            self._api = web.AppRunner(make_api(OfficeView(self), access), access_log=None,
                                      keepalive_timeout=cfg.http_header_timeout)
            await self._api.setup()
            with naming("api", cfg.api_address, cfg.api_port):
                self._api_server = await listen(self._api, cfg.api_address, cfg.api_port, cfg.http_header_timeout,
                                                ssl_context=api_ssl(cfg))
        self._ticker = asyncio.ensure_future(self._tick())

    def addresses(self) -> dict[str, Address]:
        out = {"dhcp": (self.site.dhcp_listen, self.cfg.dhcp_port), "tftp": self.tftp.address,
               "tod": self.tod.address}
        if self.secure is not None:
            out |= self.secure.addresses()
        if self.snmp is not None:
            out["snmp"] = self.snmp.address
        if self.http is not None:
            out["http"] = self.http.address
        out |= self.sip.addresses() if self.sip is not None else {}
        if self._api_server is not None:
            host, port = self._api_server.sockets[0].getsockname()[:2]
            out["api"] = (host, port)
        return out

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._api_server is not None:
            self._api_server.close()
        if self._api is not None:
            await self._api.cleanup()
        if self.entity is not None and self.entity.tasks:
            await asyncio.gather(*self.entity.tasks, return_exceptions=True)
        if self.sw_checks is not None:
            await self.sw_checks.close()
        if self.dhcp_service is not None:
            await self.dhcp_service.close()
        self.tftp.close()
        if self.http is not None:
            await self.http.close()
        await self.tod.close()
        if self.sip is not None:
            await self.sip.close()
        if self.secure is not None:
            await self.secure.close()
        if self.snmp is not None:
            self.snmp.close()
        self.devices.close()
        self.built.close()
        for leases in {id(s): s for s in (self.leases, self.shared_leases) if s is not None}.values():
            leases.close()
        self.admin.close()
        self.firmware.close()
        if self._shared_names is not None:
            self._shared_names.close()
        if self._data_lock is not None:
            self._data_lock.release()
