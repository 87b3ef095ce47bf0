from __future__ import annotations

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
