"""The back office's stores, opened from the settings: a PostgreSQL database (the ``store``
setting, shared by several serve nodes) or the data dir's SQLite files, or memory
(no data dir: a demo). Opening them is the first thing serve does, before any socket;
a bad setting leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pktcable.store import LeaseStore, MemoryLeaseStore, SqliteLeaseStore
from pktcable.store.admin import ADMIN_FILE, AdminStore
from pktcable.store.backend import open_postgresql
from pktcable.store.built import BuiltFiles, MemoryBuiltFiles, SqliteBuiltFiles
from pktcable.store.devices import Device, DeviceStore, MemoryDeviceStore, SqliteDeviceStore, normalize_mac
from pktcable.store.firmware import FirmwareStore, MemoryFirmwareStore, SqliteFirmwareStore
from pktcable.store.pg_names import PgSharedNames

from . import datadir
from .config import ServeConfig


@dataclass
class Stores:
    devices: DeviceStore
    #: The lease table, or None with a DHCP worker: the worker is its only writer and opens
    #: it itself from ``leases_db``; this process mirrors it.
    leases: LeaseStore | None
    leases_db: str | None
    #: With a DHCP worker and a lease table other nodes share (PostgreSQL): this process's
    #: handle on it, read only, for the INFORMs from leases another node bound.
    shared_leases: LeaseStore | None
    #: The last file built for each device and kind, beside the devices (the API shows them).
    built: BuiltFiles
    #: API tokens and the audit log.
    admin: AdminStore
    #: The firmware catalogue (PostgreSQL, or data dir firmware.db and firmware/, or memory).
    firmware: FirmwareStore
    #: The CMTS shared secret (the data dir's cm_key, or the setting).
    cm_key: bytes
    #: The one-time names every node on one database may be asked for (None: this node's memory only).
    shared_names: PgSharedNames | None
    #: Held while the stores are open: a restore or migration must not swap files under them.
    data_lock: datadir.DataDirLock | None


def open_stores(cfg: ServeConfig, clock: Callable[[], float]) -> Stores:
    # The data dir is 0700 and its files 0600: it holds the CMTS shared secret.
    data: Path | None = datadir.prepare(cfg.data_dir) if cfg.data_dir else None
    lock = datadir.lock(data, exclusive=False) if data is not None else None
    if data is not None and cfg.store in (None, "", "sqlite:"):
        for db in ("devices.db", "leases.db", ADMIN_FILE):
            datadir.private_file(data / db)
    cm_key = datadir.cm_key(cfg, data)  # before any store opens: a bad key setting leaves nothing behind
    retention = cfg.retention()
    # The store setting: a PostgreSQL database, or (absent, "sqlite:") the data dir's files.
    store_url = cfg.store if cfg.store not in (None, "", "sqlite:") else None
    postgresql = open_postgresql(store_url, retention, clock) if store_url else None
    if postgresql is not None:
        devices: DeviceStore = postgresql.devices
        leases: LeaseStore = postgresql.leases
    else:
        devices = SqliteDeviceStore(str(data / "devices.db"), retention=retention) if data \
            else MemoryDeviceStore(retention)
        leases = SqliteLeaseStore(str(data / "leases.db")) if data else MemoryLeaseStore()
    if cfg.dhcp_workers and not leases.shared:
        leases.close()
    return Stores(
        devices=devices, leases=None if cfg.dhcp_workers else leases,
        leases_db=store_url or (str(data / "leases.db") if data else None),
        shared_leases=leases if cfg.dhcp_workers and leases.shared else None,
        built=postgresql.built if postgresql is not None else
        SqliteBuiltFiles(str(data / "devices.db")) if data else MemoryBuiltFiles(),
        admin=postgresql.admin if postgresql is not None else
        AdminStore(str(data / ADMIN_FILE) if data else ":memory:", clock=clock),
        firmware=postgresql.firmware if postgresql is not None else
        SqliteFirmwareStore(data) if data else MemoryFirmwareStore(),
        shared_names=postgresql.names if postgresql is not None else None, cm_key=cm_key, data_lock=lock)


def seed(devices: DeviceStore, cfg: ServeConfig) -> None:
    """The [[devices]] rows into the store: what they set replaces the stored
    kind, flow, template and vars; what the device did (address, state) stays."""
    for row in cfg.devices:
        kind = row.get("kind", "mta")
        mac = normalize_mac(row["mac"])
        device = devices.get(mac) or Device(mac)
        device.kind, device.flow = kind, row.get("flow", cfg.realms[0] if kind == "mta" else "")
        device.template, device.vars = row.get("template", ""), dict(row.get("vars", {}))
        devices.put(device)
    devices.commit()
