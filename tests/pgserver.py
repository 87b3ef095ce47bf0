"""A throw-away PostgreSQL server for the store tests, from the distribution's binaries.

One server per test session (initdb + pg_ctl in a temporary folder, listening on a
Unix socket in that folder only, no TCP), and one schema per test: each test's URL sets
``search_path`` to a schema of its own, dropped afterwards, so tests see empty stores
and never each other's rows. Like :func:`tests.peers.require`: skipped when the
binaries or psycopg are missing, a failure under CI=true (.ci/run installs them).

initdb refuses to run as root; as root the server runs as the ``postgres`` user the
Debian package creates (``runuser``), in a folder handed to it.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from .peers import CI

#: The server's major version first, then any other one installed.
PREFERRED = "15"
#: Seconds pg_ctl waits for the server to come up (a loaded 2-core machine is slow).
START_TIMEOUT = 60
_PACKAGE = "postgresql-15 (Debian), see .ci/run"


def _missing(why: str) -> None:
    if CI:
        pytest.fail(f"missing: {why}; CI=true: the CI script must install it")
    pytest.skip(f"missing: {why}")


def bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: (PREFERRED not in p, p))
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Server:
    """A running server: ``url(schema)`` connects to the database ``postgres`` in that schema."""

    def __init__(self, folder: Path, binaries: Path, user: str) -> None:
        self.folder = folder
        self.binaries = binaries
        self.user = user
        self.socket_dir = folder / "sock"
        self._names = itertools.count(1)

    def url(self, schema: str = "public") -> str:
        return (f"postgresql://{self.user}@/postgres?host={quote(str(self.socket_dir), safe='/')}"
                f"&options={quote(f'-csearch_path={schema}')}")

    def new_schema(self) -> str:
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]  # our own name
        return name

    def drop_schema(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"DROP SCHEMA {name} CASCADE")  # type: ignore[arg-type]


def _as_owner(argv: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


def start() -> Iterator[Server]:
    binaries = bin_dir()
    if binaries is None:
        _missing(f"PostgreSQL server binaries (initdb, pg_ctl): {_PACKAGE}")
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        _missing("psycopg / psycopg-pool (pip install -e '.[test]')")
    assert binaries is not None
    owner: str | None = None
    if os.geteuid() == 0:
        owner = "postgres"
        if shutil.which("runuser") is None:
            _missing("runuser (util-linux), to run PostgreSQL as a user other than root")
        try:
            import pwd

            pwd.getpwnam(owner)
        except KeyError:
            _missing(f"the {owner} user ({_PACKAGE} creates it)")
    folder = Path(tempfile.mkdtemp(prefix="pktcable-pg-"))  # short: a socket path has ~100 bytes
    data, sock = folder / "data", folder / "sock"
    sock.mkdir()
    if owner:
        shutil.chown(folder, owner)
        shutil.chown(sock, owner)
    log = folder / "server.log"
    try:
        # The database's own collation is a language's (ICU en-US): the stores must not depend on
        # it, their text columns say COLLATE "C" (a '.' in an address prefix sorts as a byte).
        subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                  "-E", "UTF8", "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US"],
                                 owner), check=True, capture_output=True, timeout=120)
        # No TCP; fsync off: these tests check what the stores do, not the disk (faster on a busy machine).
        options = f"-k {sock} -c listen_addresses='' -c fsync=off -c max_connections=200"
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                                  "-t", str(START_TIMEOUT), "-o", options, "start"], owner),
                       check=True, capture_output=True, timeout=START_TIMEOUT + 30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        stderr = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc}: {stderr.decode(errors='replace')[-2000:]} {text}")
    try:
        yield Server(folder, binaries, "postgres")
    finally:
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner),
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
