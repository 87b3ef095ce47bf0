from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
COMPAT = DATA / "docsis-compat"


@pytest.fixture(scope="session", autouse=True)
def _own_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """serve's default data dir is $XDG_DATA_HOME/pktcable: a test that starts serve without
    --data-dir must not read or write the user's own (a newer schema left there by another
    checkout made serve refuse to start), nor leave files there. Subprocesses inherit it."""
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    yield
    if before is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = before


@pytest.fixture(scope="session")
def mib_ctx():  # type: ignore[no-untyped-def]
    from pktcable.mibctx import MibContext

    return MibContext()


@pytest.fixture(scope="session")
def compat_key() -> bytes:
    return (COMPAT / "key").read_bytes().rstrip(b"\r\n")


@pytest.fixture(scope="session")
def postgresql():  # type: ignore[no-untyped-def]
    """A PostgreSQL server for this session (tests/pgserver.py); skipped (failed under CI) without one."""
    from .pgserver import start

    yield from start()


@pytest.fixture
def pg_url(postgresql) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A store URL of an empty schema of its own, dropped after the test."""
    schema = postgresql.new_schema()
    yield postgresql.url(schema)
    postgresql.drop_schema(schema)


#: The store backends every store test runs against ("memory" too where the test takes it).
BACKENDS = ("sqlite", "postgresql")
