"""The back office's lookups behind the file gate and the template resolver: who
holds which address (the DHCP lease table, in this process or mirrored from the
DHCP worker), the device rows, and what an eMTA declared in its option 60."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address

from pktcable.delivery.resolvers import BuildFailed, SharedNamesError, TemplateResolver
from pktcable.dhcpd.events import Event, LeaseBound
from pktcable.snmp import pktc
from pktcable.store.devices import Device, DeviceStore, normalize_mac
from pktcable.store.leases import Lease

from .dhcpwiring import LeaseView

Address = tuple[str, int]
log = logging.getLogger("pktcable.serve")


@contextmanager
def bindings_round(store: DeviceStore, events: list[Event]) -> Iterator[None]:
    """Around one DHCP round's events: the device rows of its bindings in one look-up
    (PostgreSQL: one round trip per round, not one per lease; read fresh, since another
    node may have written them)."""
    macs = [normalize_mac(e.lease.mac) for e in events if isinstance(e, LeaseBound) and e.lease.mac]
    with ExitStack() as stack:
        try:
            stack.enter_context(store.prefetched(macs))
        except Exception as exc:  # noqa: BLE001 - the database is away: each event's own get fails, counted
            log.warning("device rows of a DHCP round not read: %s", exc)
        yield


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an eMTA's option 60 (capability TLV 5) declared in its last DHCP REQUEST."""

    #: Sub-TLV 4, "HTTP download file access method supported".
    http: bool = False
    #: Sub-TLV 23 (MIB support), when it names exactly one MTA MIB tree.
    tree: pktc.Tree | None = None

    @classmethod
    def of(cls, event: LeaseBound) -> Capabilities:
        vendor = event.vendor
        if vendor is None:
            return cls()
        mib = vendor.capability("mib-support")
        return cls(http=vendor.capability("http-download") is True,
                   tree=pktc.tree_of_mib_support(mib) if isinstance(mib, bytes) else None)


def lease_allows(lease: Lease | None, kind: str, client_ip: str) -> str | None:
    """None when ``lease`` lets ``client_ip`` have its device's ``kind`` file, else why not."""
    if lease is None:
        return "no-lease"
    if client_ip == str(lease.address) or (kind == "cm" and lease.giaddr and client_ip == lease.giaddr):
        return None
    return "other-address"


class SharedLeaseHolders:
    """Who may fetch a device's file by the lease table every node shares (several nodes on
    one database): the device may hold a lease another node bound, which this node's memory
    does not know. One query per call: the file gate asks it only for a live one-time name
    of the shared store whose device this node knows no lease of."""

    def __init__(self, bound_lease: Callable[[str, float], Lease | None], clock: Callable[[], float]) -> None:
        self._bound_lease = bound_lease
        self._clock = clock

    def may_fetch(self, mac: str, kind: str, client_ip: str) -> str | None:
        try:
            lease = self._bound_lease(mac, self._clock())
        except SharedNamesError:
            return "no-lease"  # the database is away: no proof of a lease, no file
        return lease_allows(lease, kind, client_ip)


class StoreLookup:
    """The template resolver's view of the device store: by MAC, or by the
    address the device holds a lease on (the DHCP engine's own index, or the
    DHCP worker's mirror of it); and who may fetch a device's file."""

    def __init__(self, store: DeviceStore, engine: LeaseView, clock: Callable[[], float] = time.time,
                 decorate: Callable[[Device], Device] | None = None) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        #: What the file builder needs besides the stored row (the device's MIB tree).
        self.decorate = decorate or (lambda device: device)

    def may_fetch(self, mac: str, kind: str, client_ip: str) -> str | None:
        """A device's file is for the address it holds a bound lease on; a CM's
        also for the relay its lease came through, since a CMTS may proxy the
        CM's TFTP request (DOCSIS MULPI, TFTP proxy) from its giaddr."""
        return lease_allows(self.engine.bound_lease(mac, self.clock()), kind, client_ip)

    def mac_at(self, ip: str) -> str | None:
        try:
            lease = self.engine.by_address.get(IPv4Address(ip))
        except ValueError:
            return None
        return None if lease is None else lease.mac.replace(":", "")

    def by_mac(self, mac: str) -> Device | None:
        device = self.store.get(mac)
        return None if device is None else self.decorate(device)

    def by_ip(self, ip: str) -> Device | None:
        mac = self.mac_at(ip)
        return None if mac is None else self.by_mac(mac)


class RecordingResolver:
    """The template resolver, telling ``record`` (MAC, kind, name, bytes) of each device file it
    builds; ``finish`` may add to a file what its template does not say (a CM's upgrade TLVs,
    serve/upgrades.py), after the template's cache: two modems of one template share the
    template's part, not their upgrades."""

    def __init__(self, inner: TemplateResolver, record: Callable[[str, str, str, bytes], None],
                 finish: Callable[[Device, bytes], bytes] | None = None) -> None:
        self._inner = inner
        self._record = record
        self._finish = finish

    def resolve(self, name: str, client: Address) -> bytes:
        device = self._inner.device_for(name, client)
        data = self._inner.build(device, client[0], name)
        if self._finish is not None:
            data = self._finish(device, data)
        self._record(device.mac, device.kind, name, data)
        return data


#: The device variable that names an eMTA's MIB tree (cablelabs, ietf, euro); templates read it too.
MIB_TREE_VAR = "mib_tree"


def mib_tree_for(device: Device, trees: Mapping[str, pktc.Tree], declared: Mapping[str, Capabilities],
                 default: str) -> pktc.Tree:
    """The MIB tree an eMTA's config file is written for, from what the device said first:
    the tree of its enrollment INFORM (``trees``, Hybrid flows); else the device's own
    ``mib_tree`` variable (the operator knows the model); else capability TLV 23 of its
    option 60 (``declared``), when it names exactly one MTA MIB; else ``default`` (the
    ``mib_tree`` setting). ValueError for a device variable that names no tree."""
    if device.mac in trees:
        return trees[device.mac]
    named = device.vars.get(MIB_TREE_VAR)
    if named is not None:
        try:
            return pktc.Tree(named)
        except ValueError:
            raise ValueError(f"device variable {MIB_TREE_VAR} is {named!r}, not one of "
                             f"{', '.join(t.value for t in pktc.Tree)}") from None
    capabilities = declared.get(device.mac)
    if capabilities is not None and capabilities.tree is not None:
        return capabilities.tree
    return pktc.Tree(default)


def build_trial_files(templates: TemplateResolver, realm: str) -> None:
    """Build one CM and one MTA file (of each MIB tree) from the templates before serving, so
    the MIB registry, the schema and the compiled templates are loaded at start-up and a
    broken template is known now, not at the first modem."""
    trial = [Device("000000000000", kind="cm", template="cm.txt")]
    trial += [Device("000000000000", kind="mta", flow=realm, template="mta.txt",
                     vars={MIB_TREE_VAR: tree.value}) for tree in pktc.Tree]
    for device in trial:
        try:
            templates.build(device)
        except BuildFailed as exc:
            log.warning("template %s does not build without device variables%s: %s", device.template,
                        f" ({MIB_TREE_VAR} {device.vars[MIB_TREE_VAR]})" if device.vars else "", exc.reason)
