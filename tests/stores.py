"""Opening each store on each backend, for the store tests' parametrised fixtures.

A test's ``store`` fixture takes its backend as a fixture parameter ("memory",
"sqlite", "postgresql") and opens the store with :func:`opener`: the same test body
runs against every backend. PostgreSQL comes from the ``pg_url`` fixture (an empty
schema of a session's server, tests/pgserver.py), asked for only by the tests that
run on it, so a run without it starts no server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pktcable.store.devices import DeviceStore, MemoryDeviceStore, SqliteDeviceStore
from pktcable.store.leases import LeaseStore, MemoryLeaseStore, SqliteLeaseStore

#: The persistent backends (the memory stores have nothing to reopen).
PERSISTENT = ("sqlite", "postgresql")


def location(backend: str, request: pytest.FixtureRequest, folder: Path, name: str) -> str:
    """Where a store of ``backend`` lives: a file in ``folder``, or a PostgreSQL URL."""
    if backend == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        return url
    return str(folder / name)


def device_opener(backend: str, request: pytest.FixtureRequest, folder: Path) -> Callable[..., DeviceStore]:
    """A function that opens (again) one device store of ``backend``, with the keywords given."""
    if backend == "memory":
        return lambda **kw: MemoryDeviceStore(**kw)
    where = location(backend, request, folder, "d.db")
    if backend == "postgresql":
        from pktcable.store.pg_devices import PgDeviceStore

        return lambda **kw: PgDeviceStore(where, **kw)
    return lambda **kw: SqliteDeviceStore(where, **kw)


def lease_opener(backend: str, request: pytest.FixtureRequest, folder: Path) -> Callable[[], LeaseStore]:
    if backend == "memory":
        return MemoryLeaseStore
    where = location(backend, request, folder, "leases.db")
    if backend == "postgresql":
        from pktcable.store.pg_leases import PgLeaseStore

        return lambda: PgLeaseStore(where)
    return lambda: SqliteLeaseStore(where)


def built_opener(backend: str, request: pytest.FixtureRequest, folder: Path) -> Callable[[], Any]:
    from pktcable.store.built import MemoryBuiltFiles, SqliteBuiltFiles

    if backend == "memory":
        return MemoryBuiltFiles
    where = location(backend, request, folder, "d.db")
    if backend == "postgresql":
        from pktcable.store.pg_devices import PgBuiltFiles

        return lambda: PgBuiltFiles(where)
    return lambda: SqliteBuiltFiles(where)
