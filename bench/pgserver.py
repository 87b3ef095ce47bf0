"""A throw-away PostgreSQL server for the benchmarks, from the distribution's binaries.

initdb and pg_ctl in a temporary folder; the server listens on a Unix socket in that
folder only (no TCP). Unlike the test suite's server, it keeps PostgreSQL's durability
defaults (``fsync`` and ``synchronous_commit`` on): a benchmark measures what a
deployment would pay for each commit, as SQLite's store pays its ``synchronous=FULL``.

initdb refuses to run as root; as root the server runs as the ``postgres`` user the
Debian package creates (``runuser``), in a folder handed to it.

    with pgserver.running() as pg:
        url = pg.url(pg.new_schema("bench1"))
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

#: The server's major version first, then any other one installed.
PREFERRED = "15"
START_TIMEOUT = 60


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: (PREFERRED not in p, p))
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql-15")
    return Path(initdb).parent


class Server:
    """A running server: ``url(schema)`` connects to the database ``postgres`` in that schema."""

    def __init__(self, folder: Path, binaries: Path, version: str) -> None:
        self.folder = folder
        self.binaries = binaries
        self.version = version
        self.socket_dir = folder / "sock"

    @property
    def pid(self) -> int:
        """The postmaster's process id (its backends and helpers are its children)."""
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def url(self, schema: str = "public") -> str:
        return (f"postgresql://postgres@/postgres?host={quote(str(self.socket_dir), safe='/')}"
                f"&options={quote(f'-csearch_path={schema}')}")

    def sql(self, statement: str, schema: str = "public") -> list[tuple[object, ...]]:
        """Run one statement (autocommit); its rows, if it returns any."""
        import psycopg

        with psycopg.connect(self.url(schema), autocommit=True) as db:
            cur = db.execute(statement)  # type: ignore[arg-type,unused-ignore]  # the bench's own SQL
            return cur.fetchall() if cur.description else []

    def new_schema(self, name: str) -> str:
        """An empty schema ``name`` (dropped first if a previous case left it)."""
        self.sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        self.sql(f"CREATE SCHEMA {name}")
        return name


def _as_owner(argv: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


@contextmanager
def running() -> Iterator[Server]:
    """A fresh server for the duration of the block, stopped and removed after it."""
    binaries = bin_dir()
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="pktcable-pgb-"))  # short: a socket path has ~100 bytes
    data, sock, log = folder / "data", folder / "sock", folder / "server.log"
    sock.mkdir()
    if owner:
        shutil.chown(folder, owner)
        shutil.chown(sock, owner)
    try:
        subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                  "-E", "UTF8", "--locale=C.UTF-8"], owner),
                       check=True, capture_output=True, timeout=120)
        options = f"-k {sock} -c listen_addresses='' -c max_connections=100"
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                                  "-t", str(START_TIMEOUT), "-o", options, "start"], owner),
                       check=True, capture_output=True, timeout=START_TIMEOUT + 30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit(f"PostgreSQL did not start: {exc}: {text}") from None
    version = (data / "PG_VERSION").read_text().strip()
    try:
        yield Server(folder, binaries, version)
    finally:
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], owner),
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
