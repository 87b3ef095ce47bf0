from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
COMPAT = DATA / "docsis-compat"


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
