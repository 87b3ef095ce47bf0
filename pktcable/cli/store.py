"""``pktcable store``: the data dir's store files (migrate, check, backup, restore).

Exit statuses: 0 done; 1 a file or archive that did not verify (damaged, newer
than this pktcable, failed integrity check); 2 bad arguments (no such data dir,
no store files); 6 the data dir is in use (a running serve) or a file cannot be
read or written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pktcable.exitcodes import ExitStatus

from .common import fail

if TYPE_CHECKING:
    from pktcable.store.files import Checked

data_dir_option = click.option("--data-dir", required=True, type=click.Path(file_okay=False),
                               help="The serve data folder.")


def _existing(data_dir: str) -> Path:
    folder = Path(data_dir)
    if not folder.is_dir():
        fail(f"--data-dir {data_dir}: no such folder", ExitStatus.USAGE)
    return folder


@click.group("store", context_settings={"help_option_names": ["-h", "--help"]})
def store_group() -> None:
    """The store files of a serve data dir: upgrade, check, back up, restore.

    Examples:

    \b
      pktcable store migrate --data-dir /var/lib/pktcable
      pktcable store check --data-dir /var/lib/pktcable
      pktcable store backup --data-dir /var/lib/pktcable --to /backup/pktcable.tar
      pktcable store restore --data-dir /var/lib/pktcable --from /backup/pktcable.tar
    """


@store_group.command("migrate")
@click.option("--data-dir", type=click.Path(file_okay=False), help="The serve data folder (SQLite stores).")
@click.option("--store", "store_url", metavar="URL",
              help="A PostgreSQL store instead: the serve setting's URL (postgresql://...).")
def migrate_cmd(data_dir: str | None, store_url: str | None) -> None:
    """Bring every store up to this pktcable's schema version and print the versions.

    serve does the same when it opens its stores; this does it ahead of time (after an
    upgrade, before starting). A data dir must be free: stop serve first. A PostgreSQL
    database is upgraded under a lock, each store in one transaction.

    Examples:

    \b
      pktcable store migrate --data-dir /var/lib/pktcable
      pktcable store migrate --data-dir ./demo-data
      pktcable store migrate --store 'postgresql:///pktcable?host=/run/postgresql'
    """
    from pktcable.serve.datadir import DataDirBusy, lock
    from pktcable.settings import SettingError
    from pktcable.store.files import migrate
    from pktcable.store.sqlite import SchemaError

    if (data_dir is None) == (store_url is None):
        fail("give --data-dir (SQLite) or --store URL (PostgreSQL), one of them", ExitStatus.USAGE)
    if store_url is not None:
        _migrate_postgresql(store_url)
        return
    assert data_dir is not None
    folder = _existing(data_dir)
    try:
        with lock(folder, exclusive=True):
            done = migrate(folder)
    except DataDirBusy as exc:
        fail(str(exc), ExitStatus.IO)
    except SettingError as exc:
        fail(str(exc), ExitStatus.IO)
    except SchemaError as exc:
        fail(str(exc), ExitStatus.INVALID)
    except sqlite3.DatabaseError as exc:
        fail(f"--data-dir {data_dir}: {exc}", ExitStatus.INVALID)
    if not done:
        fail(f"--data-dir {data_dir}: no store files in it", ExitStatus.USAGE)
    for m in done:
        if not m.known:
            click.echo(f"{m.name}: version {m.after} (brought up to date by the serve that uses it)")
        elif m.before == m.after:
            click.echo(f"{m.name}: version {m.after}, up to date")
        else:
            click.echo(f"{m.name}: version {m.before} -> {m.after}")


def _show_nodes(url: str) -> None:
    """The serve nodes of a shared database, one line each: alive, or stale (its heartbeats
    stopped: dead, hung or cut off). Shown, not judged: the exit status is the schema's."""
    import time

    from pktcable.store.pg_nodes import list_nodes

    now = time.time()
    try:
        found = list_nodes(url)
    except Exception as exc:  # noqa: BLE001 - the versions were read: say why the nodes were not
        click.echo(f"nodes: not read: {exc}")
        return
    for node in found:
        click.echo(f"node {node.id}: {node.address}, pktcable {node.version}, {node.status(now)} "
                   f"(heartbeat {max(0.0, now - node.heartbeat):.0f} s ago, up since {_when(node.started)})")


def _when(at: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_postgresql(url: str) -> list[Checked]:
    import psycopg

    from pktcable.store.backend import check_postgresql
    from pktcable.store.pg import StoreUnavailable, StoreUrlError, explain

    try:
        return check_postgresql(url)
    except StoreUrlError as exc:
        fail(f"--store: {exc}", ExitStatus.USAGE)
    except StoreUnavailable as exc:
        fail(f"--store {exc}", ExitStatus.IO)
    except psycopg.Error as exc:
        fail(f"--store {explain(exc, url)}", ExitStatus.INVALID)


def _migrate_postgresql(url: str) -> None:
    import psycopg  # parse_store has told an operator without it what to install

    from pktcable.store.backend import migrate_postgresql
    from pktcable.store.pg import StoreUnavailable, StoreUrlError, explain
    from pktcable.store.sqlite import SchemaError

    try:
        done = migrate_postgresql(url)
    except StoreUrlError as exc:
        fail(f"--store: {exc}", ExitStatus.USAGE)
    except StoreUnavailable as exc:
        fail(f"--store {exc}", ExitStatus.IO)
    except SchemaError as exc:
        fail(str(exc), ExitStatus.INVALID)
    except psycopg.Error as exc:
        fail(f"--store {explain(exc, url)}", ExitStatus.INVALID)
    for m in done:
        click.echo(f"{m.name}: version {m.after}, up to date" if m.before == m.after
                   else f"{m.name}: version {m.before} -> {m.after}")


@store_group.command("check")
@click.option("--data-dir", type=click.Path(file_okay=False), help="The serve data folder (SQLite stores).")
@click.option("--store", "store_url", metavar="URL",
              help="A PostgreSQL store instead: each store's schema version against this pktcable's.")
def check_cmd(data_dir: str | None, store_url: str | None) -> None:
    """Check every store file (SQLite integrity check, schema version); exits 1 on a problem.

    Safe while serve runs: it only reads. A PostgreSQL store's data is the server's to
    check (its own checksums and amcheck); this compares each store's schema version.

    Examples:

    \b
      pktcable store check --data-dir /var/lib/pktcable
      pktcable store check --data-dir ./restored-data
      pktcable store check --store 'postgresql:///pktcable?host=/run/postgresql'
    """
    from pktcable.store.files import check

    if (data_dir is None) == (store_url is None):
        fail("give --data-dir (SQLite) or --store URL (PostgreSQL), one of them", ExitStatus.USAGE)
    found: list[Checked]
    if store_url is not None:
        found = _check_postgresql(store_url)
    else:
        assert data_dir is not None
        found = check(_existing(data_dir))
    if not found:
        fail(f"--data-dir {data_dir}: no store files in it", ExitStatus.USAGE)
    bad = False
    for c in found:
        if c.problems:
            bad = True
            click.echo(f"{c.name}: version {c.version}: " + "; ".join(c.problems))
        else:
            click.echo(f"{c.name}: version {c.version}, ok")
    if store_url is not None:
        _show_nodes(store_url)
    raise SystemExit(int(ExitStatus.INVALID if bad else ExitStatus.OK))


@store_group.command("backup")
@data_dir_option
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False),
              help="The archive to write (a tar file; replaced whole).")
def backup_cmd(data_dir: str, target: str) -> None:
    """Copy every store file, consistent and online (serve may run and write), into one archive.

    The archive holds a manifest (each file's schema version, size and SHA-256) and the
    copies; it is written 0600. The CMTS shared secret (cm_key) is not in it: keep it
    safe on its own.

    Examples:

    \b
      pktcable store backup --data-dir /var/lib/pktcable --to /backup/pktcable-2026-12-01.tar
      pktcable store backup --data-dir ./demo-data --to demo.tar
    """
    from pktcable.store.files import backup

    folder = _existing(data_dir)
    try:
        manifest = backup(folder, Path(target))
    except FileNotFoundError as exc:
        fail(str(exc), ExitStatus.USAGE)
    except sqlite3.DatabaseError as exc:
        fail(f"--data-dir {data_dir}: {exc}", ExitStatus.INVALID)
    except OSError as exc:
        fail(f"--to {target}: {exc.strerror or exc}", ExitStatus.IO)
    for entry in manifest["files"]:
        click.echo(f"{entry['name']}: version {entry['version']}, {entry['size']} bytes, sha256 {entry['sha256']}")
    click.echo(f"wrote {target}")


@store_group.command("restore")
@data_dir_option
@click.option("--from", "source", required=True, type=click.Path(dir_okay=False),
              help="An archive made by pktcable store backup.")
def restore_cmd(data_dir: str, source: str) -> None:
    """Replace the data dir's store files with an archive's, verified first, all at once.

    Refused while serve runs on the data dir. The archive is checked against its
    manifest (SHA-256, sizes, versions) and each file's integrity before anything is
    replaced; the files are then swapped in by one rename, so a failed restore leaves
    the data dir as it was. Files that are no store (cm_key) stay.

    Examples:

    \b
      pktcable store restore --data-dir /var/lib/pktcable --from /backup/pktcable-2026-12-01.tar
      pktcable store restore --data-dir ./restored-data --from demo.tar
    """
    from pktcable.serve.datadir import DataDirBusy, lock, prepare
    from pktcable.settings import SettingError
    from pktcable.store.files import ArchiveError, restore
    from pktcable.store.sqlite import SchemaError

    archive = Path(source)
    if not archive.is_file():
        fail(f"--from {source}: no such file", ExitStatus.USAGE)
    try:
        folder = prepare(data_dir)
        with lock(folder, exclusive=True):
            entries = restore(archive, folder)
    except DataDirBusy as exc:
        fail(str(exc), ExitStatus.IO)
    except SettingError as exc:
        fail(str(exc), ExitStatus.IO)
    except (ArchiveError, SchemaError) as exc:
        fail(f"--from {source}: {exc}; nothing was changed", ExitStatus.INVALID)
    except OSError as exc:
        fail(f"restore into {data_dir}: {exc.strerror or exc}; nothing was changed", ExitStatus.IO)
    for entry in entries:
        click.echo(f"{entry['name']}: version {entry['version']}, restored")
