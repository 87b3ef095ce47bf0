"""What the operators' API (serve/api.py) may ask of the back office, and no more.

The API is a client of :class:`Office`: devices with their history, a reset,
and the registry of its Prometheus metrics (pktcable/serve/metrics.py). It
never sees the services, the stores or the entity behind them, so a change
inside the back office cannot reach the API unless this interface changes, and
the API can be driven by any object that implements these few methods (a
test's fake, another front end).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from prometheus_client.registry import Collector

from pktcable.store.devices import Device, Step


class NoCurrentLease(LookupError):
    """A reset for a device that holds no DHCP lease now: there is no address
    it may be sent to (the store's last one may be another device's by now)."""


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
