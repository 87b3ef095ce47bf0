"""Who the Secure flow's KDC inside ``pktcable serve`` (serve/secure.py) gives tickets to.

The device store decides: a device certificate maps to its
principal (the MAC as 12 hex digits) only when the store knows an eMTA of that
MAC, or when ``auto_enroll`` admits devices the store does not know yet. The
store is read on the event loop's thread (the KDC's public-key work runs in
worker threads, and a store connection belongs to the thread that opened it).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from cryptography import x509

from pktcable.secure import kdc as kdccore

if TYPE_CHECKING:
    from pktcable.store.devices import DeviceStore

#: Seconds a worker thread waits for the event loop to look a device up.
LOOKUP_BUDGET = 5.0


class StoreMapper:
    """Device certificate -> principal, when the store knows the eMTA (or auto_enroll)."""

    def __init__(self, devices: DeviceStore, auto_enroll: bool) -> None:
        self.devices, self.auto_enroll = devices, auto_enroll
        self.loop: asyncio.AbstractEventLoop | None = None

    def _admits(self, mac: str) -> bool:
        device = self.devices.get(mac)
        return self.auto_enroll if device is None else device.kind == "mta"

    def __call__(self, cert: x509.Certificate) -> str | None:
        principal = kdccore.mac_principal(cert)
        if principal is None:
            return None
        loop = self.loop
        if loop is None or not loop.is_running():
            return principal if self._admits(principal) else None

        async def ask() -> bool:
            return self._admits(principal)

        admitted = asyncio.run_coroutine_threadsafe(ask(), loop).result(LOOKUP_BUDGET)
        return principal if admitted else None
