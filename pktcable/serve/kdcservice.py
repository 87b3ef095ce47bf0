"""The Secure flow's KDC inside ``pktcable serve``: on when the setting ``pki_dir``
names a lab PKI (``pktcable pki init``), on ``kdc_port`` (UDP and TCP) at the
address the other services use.

The device store decides who gets tickets: a device certificate maps to its
principal (the MAC as 12 hex digits) only when the store knows an eMTA of that
MAC, or when ``auto_enroll`` admits devices the store does not know yet. The
store is read on the event loop's thread (the KDC's public-key work runs in
worker threads, and a store connection belongs to the thread that opened it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from pktcable.secure import kdc as kdccore
from pktcable.secure import kdclab, pki
from pktcable.secure.kdcnet import KdcServer
from pktcable.secure.labdir import LabPki

if TYPE_CHECKING:
    from pktcable.store.devices import DeviceStore

    from .config import ServeConfig

#: Seconds a worker thread waits for the event loop to look a device up.
LOOKUP_BUDGET = 5.0


def check_pki_dir(folder: str) -> str | None:
    """Why ``folder`` cannot serve as the KDC's lab PKI, or None when it can."""
    try:
        lab = LabPki.open(Path(folder))
        kdclab.config(lab).check()
    except (pki.PkiError, ValueError, OSError) as exc:
        return str(exc)
    return None


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


async def start_kdc(cfg: ServeConfig, devices: DeviceStore, listen: str) -> KdcServer | None:
    """The KDC of ``cfg``, listening (None without pki_dir)."""
    if cfg.pki_dir is None:
        return None
    lab = LabPki.open(Path(cfg.pki_dir))
    mapper = StoreMapper(devices, cfg.auto_enroll)
    mapper.loop = asyncio.get_running_loop()
    core = kdccore.Kdc(kdclab.config(lab, mapper=mapper, max_skew=dt.timedelta(seconds=cfg.kdc_max_skew)))
    server = KdcServer(core, listen, cfg.kdc_port)
    await server.start()
    return server
