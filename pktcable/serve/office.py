"""What the operators' API (serve/api.py) may ask of the back office, and no more.

The API is a client of :class:`Office`: devices with their history, a reset,
and the registry of its Prometheus metrics (pktcable/serve/metrics.py). It
never sees the services, the stores or the entity behind them, so a change
inside the back office cannot reach the API unless this interface changes, and
the API can be driven by any object that implements these few methods (a
test's fake, another front end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.registry import Collector

from pktcable.store.built import BuiltFile
from pktcable.store.devices import Device, Step
from pktcable.store.leases import Lease
from pktcable.store.pg_nodes import Node
from pktcable.store.query import DeviceQuery, Page, StateCount

if TYPE_CHECKING:
    from pktcable.firmware.codefile import CvcTrust
    from pktcable.firmware.push import Done
    from pktcable.store.firmware import FirmwareStore

    from .phonestatus import PhoneLive


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

    def metrics(self) -> Collector:
        """The back office's metrics (a registry), for ``generate_latest`` to render."""
        ...

    def settle(self) -> None:
        """Commit what the store holds staged (events are committed in bursts), so that a
        query made next sees every event so far (a store that writes in a thread of its
        own makes the query wait for it, in the query's worker thread)."""
        ...

    # Called from a worker thread (asyncio.to_thread): they may read the whole store.
    def query_devices(self, query: DeviceQuery) -> Page:
        """One page of the devices ``query`` selects, with the count of all it selects."""
        ...

    def device_summary(self) -> Sequence[StateCount]:
        """Devices by kind and state with what the state means, failing states first, then by count."""
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

    def phone_live(self, mac: str) -> PhoneLive | None:
        """What the SIP service knows of a phone now (its subscription, the version it serves);
        None when the SIP service is off."""
        ...

    def shared_leases(self) -> Callable[[], list[Lease]] | None:
        """With a database shared by several serve nodes: a function that reads every node's
        leases from it (called in a worker thread), instead of :meth:`lease_snapshot`, which
        holds only this node's. None with a store of this node alone."""
        ...

    def nodes(self) -> list[Node] | None:
        """The serve nodes of a shared database, with their heartbeats (a worker thread); None
        with a store of this node alone."""
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

    def firmware(self) -> FirmwareStore:
        """The firmware catalogue (its methods block: call them from a worker thread)."""
        ...

    def firmware_status(self, mac: str) -> dict[str, Any]:
        """The device's reported versions against its rules' target (serve/upgrades.py
        Upgrades.view); blocks: call it from a worker thread."""
        ...

    def rules_changed(self) -> None:
        """The API changed the firmware rules: decisions from now on read them anew."""
        ...

    def firmware_trust(self) -> CvcTrust | None:
        """What an uploaded image's signature is judged by (None: recorded as not checked)."""
        ...

    def firmware_limit(self) -> int:
        """The largest image an upload may carry, bytes."""
        ...

    async def push_firmware(self, mac: str, filename: str, *, budget: float, poll_every: float,
                            legacy: bool, transport: str | None = None) -> Done:
        """Upgrade the cable modem ``mac`` now by SNMP (docsDevSoftware, pktcable.firmware.push)
        from this server's TFTP (or, with ``transport`` "http", its HTTP); its outcome.
        :class:`NoCurrentLease` when it holds no lease."""
        ...

    def serves_http(self) -> bool:
        """Whether this server's HTTP delivery is on (a modem may download from it by HTTP)."""
        ...

