"""``pktcable token``: the API's tokens, kept hashed in the data dir's admin.db (or in the
PostgreSQL database of the serve ``store`` setting)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pktcable.exitcodes import ExitStatus

from .common import fail

if TYPE_CHECKING:
    from pktcable.store.admin import AdminStore

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(command: F) -> F:
    """Where the tokens are: ``--data-dir`` (its admin.db) or ``--store`` (a PostgreSQL URL)."""
    command = click.option("--store", "store_url", metavar="URL",
                           help="The serve store setting's PostgreSQL URL instead of a data dir.")(command)
    return click.option("--data-dir", type=click.Path(file_okay=False),
                        help="The serve data folder (its admin.db holds the tokens).")(command)


@contextmanager
def _store(data_dir: str | None, store_url: str | None = None) -> Iterator[AdminStore]:
    """The data dir's admin store, with the data dir held shared (as a serve holds it):
    a restore or migration cannot swap the file while a token is written. Or the
    admin store in the PostgreSQL database ``store_url`` names."""
    from pktcable.serve import datadir
    from pktcable.settings import SettingError
    from pktcable.store.admin import ADMIN_FILE, AdminStore

    if (data_dir is None) == (store_url is None):
        fail("give --data-dir or --store URL, one of them", ExitStatus.USAGE)
    if store_url is not None:
        with _postgresql(store_url) as store:
            yield store
        return
    assert data_dir is not None

    try:
        folder = datadir.prepare(data_dir)
        held = datadir.lock(folder, exclusive=False)
        store = AdminStore(str(datadir.private_file(folder / ADMIN_FILE)))
    except datadir.DataDirBusy as exc:
        fail(str(exc), ExitStatus.IO)
    except SettingError as exc:
        fail(f"--data-dir: {exc.problem or exc}", ExitStatus.USAGE)
    except Exception as exc:  # sqlite3.Error, SchemaError: a file that is no admin store this code reads
        fail(f"--data-dir: {data_dir}/{ADMIN_FILE}: {exc}", ExitStatus.USAGE)
    try:
        yield store
    finally:
        store.close()
        held.release()


@contextmanager
def _postgresql(url: str) -> Iterator[AdminStore]:
    from pktcable.store.pg import StoreUnavailable, StoreUrlError, explain, parse_store
    from pktcable.store.sqlite import SchemaError

    try:
        parse_store(url)
        import psycopg

        from pktcable.store.pg_admin import PgAdminStore

        store = PgAdminStore(url)
    except StoreUrlError as exc:
        fail(f"--store: {exc}", ExitStatus.USAGE)
    except StoreUnavailable as exc:
        fail(f"--store {exc}", ExitStatus.IO)
    except (SchemaError, psycopg.Error) as exc:
        fail(f"--store {explain(exc, url)}", ExitStatus.USAGE)
    try:
        yield store
    finally:
        store.close()


@click.group("token")
def token_group() -> None:
    """Tokens for the REST API and the dashboard (role read or operator).

    Examples:

    \b
      pktcable token create --data-dir /var/lib/pktcable --name alice --role operator
      pktcable token list --data-dir /var/lib/pktcable
      pktcable token revoke --data-dir /var/lib/pktcable --name alice
      pktcable token revoke --data-dir /var/lib/pktcable --name grafana-scraper
    """


@token_group.command("create")
@data_dir_option
@click.option("--name", required=True, help="Who holds it (shown in the audit log).")
@click.option("--role", required=True, type=click.Choice(["read", "operator"]),
              help="read: look only; operator: also change, delete, reset and reprovision devices.")
def create_cmd(data_dir: str | None, store_url: str | None, name: str, role: str) -> None:
    """Make a token and print it, once: only its hash is kept.

    Examples:

    \b
      pktcable token create --data-dir /var/lib/pktcable --name alice --role operator
      pktcable token create --data-dir /var/lib/pktcable --name grafana --role read
      pktcable token create --store 'postgresql:///pktcable?host=/run/postgresql' --name bob --role read
    """
    from pktcable.store.admin import AdminError

    with _store(data_dir, store_url) as store:
        try:
            token = store.create(name, role)
        except AdminError as exc:
            fail(f"--{exc}", ExitStatus.USAGE)
    click.echo(token)


@token_group.command("list")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(data_dir: str | None, store_url: str | None, as_json: bool) -> None:
    """List the tokens: name, role, created, last used, revoked (never the tokens).

    Examples:

    \b
      pktcable token list --data-dir /var/lib/pktcable
      pktcable token list --data-dir /var/lib/pktcable --json
    """
    from dataclasses import asdict

    with _store(data_dir, store_url) as store:
        tokens = store.tokens()
    if as_json:
        click.echo(json.dumps([asdict(t) for t in tokens], indent=2))
        return

    def when(t: float | None) -> str:
        return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    for t in tokens:
        click.echo(f"{t.name:20} {t.role:8} created {when(t.created)} last used {when(t.last_used)}"
                   + (f" revoked {when(t.revoked)}" if t.revoked is not None else ""))


@token_group.command("revoke")
@data_dir_option
@click.option("--name", required=True, help="The token's name.")
def revoke_cmd(data_dir: str | None, store_url: str | None, name: str) -> None:
    """Revoke a token: the API refuses it from the next request on.

    Examples:

    \b
      pktcable token revoke --data-dir /var/lib/pktcable --name alice
      pktcable token revoke --data-dir /var/lib/pktcable --name grafana-scraper
    """
    from pktcable.store.admin import AdminError

    with _store(data_dir, store_url) as store:
        try:
            store.revoke(name)
        except AdminError as exc:
            fail(f"--{exc}", ExitStatus.USAGE)
    click.echo(f"{name}: revoked")
