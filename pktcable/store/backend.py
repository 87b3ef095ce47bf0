"""Opening a back office's stores from the ``store`` setting: the PostgreSQL side (the
SQLite side is the data dir's files, opened where it always was, serve/app.py).

Every failure to open is one :class:`~pktcable.settings.SettingError` naming ``store``
(the URL without its password, and why): serve prints it as one line and exits 2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pktcable.settings import SettingError, named

from . import pg
from .admin import AdminStore
from .built import BuiltFiles
from .devices import DeviceStore, Retention
from .firmware import FirmwareStore
from .leases import LeaseStore
from .pg import StoreUnavailable, parse_store, redact
from .sqlite import Schema, SchemaError

if TYPE_CHECKING:
    from .files import Checked, Migrated
    from .pg_names import PgSharedNames


@dataclass(slots=True)
class Stores:
    devices: DeviceStore
    leases: LeaseStore
    built: BuiltFiles
    admin: AdminStore
    firmware: FirmwareStore
    #: The one-time file names every node may be asked for (pg_names.PgSharedNames).
    names: PgSharedNames


def open_postgresql(url: str, retention: Retention, clock: Callable[[], float] = time.time) -> Stores:
    """The six stores in the database ``url`` names (each schema brought up to date);
    SettingError for a bad URL, a server that cannot be reached, or a newer schema."""
    import psycopg

    from .pg_admin import PgAdminStore
    from .pg_devices import PgBuiltFiles, PgDeviceStore
    from .pg_firmware import PgFirmwareStore
    from .pg_leases import PgLeaseStore
    from .pg_names import PgSharedNames

    parse_store(url)  # a URL given in code is held to what a settings file's is
    opened: list[Any] = []
    try:
        opened.append(PgDeviceStore(url, retention=retention))
        opened.append(PgLeaseStore(url))
        opened.append(PgBuiltFiles(url))
        opened.append(PgAdminStore(url, clock=clock))
        opened.append(PgFirmwareStore(url))
        opened.append(PgSharedNames(url))
    except (StoreUnavailable, SchemaError) as exc:
        _close(opened)
        raise named("store", str(exc)) from None
    except psycopg.Error as exc:  # the server answered, but not as a store it can hold (rights, a table of ours)
        _close(opened)
        raise named("store", pg.explain(exc, url)) from None
    return Stores(*opened)


def migrate_postgresql(url: str) -> list[Migrated]:
    """``pktcable store migrate --store URL``: every store's tables in the database brought up
    to this code's version, each in its own transaction (as serve does when it opens them).
    StoreUnavailable, SchemaError and psycopg's errors go to the caller."""
    from .files import Migrated

    parse_store(url)
    db = pg.connect(url)
    done = []
    try:
        for schema in _schemas():
            before, after = pg.migrate(db, schema, redact(url))
            done.append(Migrated(schema.name, before, after))
    finally:
        db.close()
    return done


def check_postgresql(url: str) -> list[Checked]:
    """``pktcable store check --store URL``: each store's schema version in the database
    against this code's (a store not there yet, or newer than the code, is a problem).
    Reads only, in one read-only transaction."""
    from .files import Checked

    parse_store(url)
    db = pg.connect(url)
    found = []
    try:
        with db.transaction():
            db.execute("SET TRANSACTION READ ONLY")
            for schema in _schemas():
                have = pg.version(db, schema)
                problems = []
                if have is None:
                    problems.append("not in this database (serve or pktcable store migrate creates it)")
                elif have > schema.version:
                    problems.append(f"version {have} is newer than this pktcable knows (up to {schema.version})")
                found.append(Checked(schema.name, -1 if have is None else have, problems))
    finally:
        db.close()
    return found


def _schemas() -> list[Schema]:
    """Every store's schema in a database: the data dir's store files', and the firmware
    catalogue's (a data dir keeps that one apart, beside its image files)."""
    from .files import STORE_FILES
    from .firmware import SCHEMA as FIRMWARE

    found = [schema for schema in (store.load_schema() for store in STORE_FILES) if schema is not None]
    return [*found, FIRMWARE]


def _close(stores: list[Any]) -> None:
    for store in stores:
        try:
            store.close()
        except Exception:  # noqa: BLE001, S110 - the error that made us close them is the one told
            pass


__all__ = ["SettingError", "Stores", "check_postgresql", "migrate_postgresql", "open_postgresql"]
