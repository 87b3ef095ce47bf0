"""What the operators' API (serve/api.py) may ask of the back office, and no more.

The API is a client of :class:`Office`: devices with their history, a reset,
and a snapshot of the counters as plain data. It never sees the services, the
stores or the entity behind them, so a change inside the back office cannot
reach the API unless this interface changes, and the API can be driven by any
object that implements these few methods (a test's fake, another front end).

:func:`backoffice_metrics` builds the snapshot from the services of a
:class:`~pktcable.serve.app.Backoffice`; the API renders it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pktcable.provision.entity import INTERNAL_ERROR_PLACES, REJECT_REASONS
from pktcable.store.built import BuiltFile
from pktcable.store.devices import Device, Step
from pktcable.store.leases import Lease
from pktcable.store.query import DeviceQuery, Page

if TYPE_CHECKING:
    from .app import Backoffice

#: One sample of a family: its labels and its value.
Sample = tuple[Mapping[str, str], float]


@dataclass(frozen=True, slots=True)
class Family:
    """One counter family, as the Prometheus text format names it: ``name``
    without the ``pktcable_`` prefix, its one-line help, counter or gauge,
    and its samples in the order they are shown."""

    name: str
    help: str
    kind: Literal["counter", "gauge"]
    samples: tuple[Sample, ...]


class NoCurrentLease(LookupError):
    """A reset for a device that holds no DHCP lease now: there is no address
    it may be sent to (the store's last one may be another device's by now)."""


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A template the server can build from: its name, the kind of file it makes, its size in bytes."""

    name: str
    kind: str
    size: int


@dataclass(frozen=True, slots=True)
class TextError:
    """A problem in template or config text, where it is (1-based; 0: the whole text)."""

    line: int
    column: int
    message: str


class NoSuchTemplate(LookupError):
    """A template name the server has no template for."""


class Office(Protocol):
    """Everything the API does with the back office."""

    def list_devices(self) -> Iterable[Device]:
        """Every device in the store."""
        ...

    def get_device(self, mac: str) -> Device | None:
        """The device with this normalised MAC, or None."""
        ...

    def device_history(self, mac: str) -> Sequence[Step]:
        """The device's recorded steps, oldest first."""
        ...

    def save_device(self, device: Device) -> None:
        """Create or replace the device's row, durably before returning."""
        ...

    def forget(self, mac: str) -> bool:
        """Remove the device from the store and from any running flow; False
        when there was no such device."""
        ...

    async def reset_device(self, mac: str) -> bool:
        """Ask the eMTA, at the address leased to it now, to reset; whether it
        acknowledged. :class:`NoCurrentLease` when it holds no lease."""
        ...

    def metrics(self) -> Sequence[Family]:
        """The counters of every service, now."""
        ...

    # Called from a worker thread (asyncio.to_thread): they may read the whole store.
    def query_devices(self, query: DeviceQuery) -> Page:
        """One page of the devices ``query`` selects, with the count of all it selects."""
        ...

    def device_summary(self) -> list[dict[str, Any]]:
        """Devices by kind and state: ``{"kind", "state", "count", "outcome", "failed_step"}``,
        failing states first, then by count, descending."""
        ...

    def describe_file(self, data: bytes) -> str:
        """A built config file decoded to config text."""
        ...

    # Called on the event loop: each is a lookup, not a scan.
    def current_lease(self, mac: str) -> Lease | None:
        """The DHCP lease ``mac`` holds now (bound, unexpired), or None."""
        ...

    def lease_snapshot(self) -> list[Lease]:
        """Every lease the DHCP server has, as a new list (to filter away from the event loop;
        the API only reads the leases in it)."""
        ...

    def built_files(self, mac: str) -> Sequence[BuiltFile]:
        """The last file built for the device, per kind."""
        ...

    async def reprovision(self, mac: str) -> bool:
        """Clear the device's flow state and reset the eMTA so that it provisions anew;
        whether it acknowledged. :class:`NoCurrentLease` when it holds no lease."""
        ...

    def templates(self) -> Sequence[TemplateInfo]:
        """The templates the server builds from, the operator's over the shipped ones."""
        ...

    def template_text(self, name: str) -> str:
        """The text of template ``name``; :class:`NoSuchTemplate` when there is none."""
        ...

    def preview(self, template: str, mac: str) -> bytes:
        """The device's file as it would be built from ``template`` now (nothing is recorded);
        LookupError for an unknown device or template, ValueError with the reason when it does not build."""
        ...

    def validate_template(self, kind: str, text: str) -> list[TextError]:
        """The problems of template text of this kind (cm or mta), rendered for a trial device and compiled."""
        ...

    def settings(self) -> dict[str, Any]:
        """The running settings, secrets redacted."""
        ...


def backoffice_metrics(office: Backoffice) -> list[Family]:
    """The snapshot of a Backoffice's counters: one family per service
    counter, those of services not started (SNMP, the entity) left out."""
    families: list[Family] = []

    def family(name: str, help_text: str, kind: Literal["counter", "gauge"], samples: Iterable[Sample]) -> None:
        families.append(Family(name, help_text, kind, tuple(samples)))

    family("dhcp_packets_total", "DHCP server events by kind.", "counter",
           [({"event": k}, v) for k, v in sorted(office.dhcp.metrics.items())])
    stats = office.tftp.stats
    family("tftp_transfers_total", "TFTP transfers by outcome.", "counter",
           [({"outcome": "completed"}, stats.completed), ({"outcome": "failed"}, stats.failed)]
           + [({"outcome": f"refused-{k}"}, v) for k, v in sorted(stats.refused.items())])
    family("tftp_sessions", "TFTP transfers in flight.", "gauge", [({}, office.tftp.active)])
    family("file_refusals_total", "Requests for a device's file from an address its lease does not allow.",
           "counter", [({"reason": k}, v) for k, v in sorted(office.files.refused.items())])
    if office.snmp is not None:
        s = office.snmp.stats
        family("snmp_messages_total", "SNMP messages of the provisioning entity.", "counter",
               [({"kind": "received"}, s.received), ({"kind": "malformed"}, s.malformed),
                ({"kind": "answered"}, s.answered), ({"kind": "retransmissions"}, s.retransmissions),
                ({"kind": "timeouts"}, s.timeouts)])
    entity = office.entity
    if entity is not None:
        family("informs_rejected_total", "INFORMs not acted on, by reason (bad-community ones unanswered).",
               "counter", [({"reason": r}, entity.rejected[r]) for r in REJECT_REASONS])
        family("flows_in_progress", "Devices whose flow is running.", "gauge", [({}, len(entity.machines))])
        family("unexpected_events_total", "Events a device's flow table has no row for in its state (recorded, "
               "run unchanged).", "counter",
               [({"flow": f, "state": st, "event": e}, n) for (f, st, e), n in sorted(entity.unexpected.items())])
    family("internal_errors_total", "Bugs caught in a handler (logged with a traceback), by where.", "counter",
           [({"where": w}, office.internal_errors[w]) for w in INTERNAL_ERROR_PLACES])
    states: Counter[tuple[str, str]] = Counter()
    for (kind, state), n in office.devices.counts().items():
        states[kind, state or "NEW"] += n
    family("devices", "Devices in the store by kind and flow state.", "gauge",
           [({"kind": kind, "state": state}, n) for (kind, state), n in sorted(states.items())])
    return families
