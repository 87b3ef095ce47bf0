"""The PostgreSQL backend's common part: which backend a ``store`` URL names, opening a
connection, and schema versions kept in a table.

A store URL is absent or ``sqlite:`` (the data dir's SQLite files, the default), or a
libpq URI: ``postgresql://user@host:5432/pktcable`` or, over a Unix socket,
``postgresql:///pktcable?host=/run/postgresql``. psycopg 3 (the optional extra
``pktcable[postgresql]``) is imported only when such a URL is used, so SQLite users
load nothing more than before.

Schema versions: the stores' :class:`~pktcable.store.sqlite.Schema` lists are the same
for both backends (a version number means the same shape in both); where a step's SQL
differs, its :class:`~pktcable.store.sqlite.Migration` carries PostgreSQL's own. A
PostgreSQL database keeps each store's version in the table ``pktcable_schema`` (SQLite
keeps it in the file's ``user_version``). An upgrade runs in one transaction under an
advisory lock, so two servers starting at once on one database upgrade it once, and a
database written by a newer pktcable is refused (:class:`SchemaError`), never used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .sqlite import Schema, SchemaError

if TYPE_CHECKING:
    import psycopg

BACKENDS = ("sqlite", "postgresql")
#: Longest store URL taken: a libpq URI with every option is far shorter.
MAX_URL = 2048
#: The table that holds each store's schema version.
VERSIONS = "pktcable_schema"
#: Key of the transaction-level advisory lock every upgrade takes ("pktc" in ASCII).
MIGRATION_LOCK = 0x706B7463
#: Seconds to wait for the server when opening a store (libpq's connect_timeout), unless the URL says.
CONNECT_TIMEOUT = 10
_SCHEMES = ("postgresql", "postgres")
#: U+0000 cannot be stored in a PostgreSQL text column (SQLite can): it becomes U+FFFD, the
#: character a client's undecodable bytes already become (DHCP host names are decoded so).
_NUL, _REPLACEMENT = "\x00", "\ufffd"


class StoreUrlError(ValueError):
    """A ``store`` setting that names no backend pktcable has; the message says why."""


@dataclass(frozen=True, slots=True)
class StoreUrl:
    backend: str  # one of BACKENDS
    url: str  # as given ("" for the default)

    @property
    def shown(self) -> str:
        """The URL without its password: what logs and error messages print."""
        return redact(self.url)


def parse_store(text: str | None) -> StoreUrl:
    """The backend ``text`` names; StoreUrlError for anything else (the URL's syntax is
    libpq's, checked by libpq itself when psycopg is there)."""
    if text is None or text in ("", "sqlite:"):
        return StoreUrl("sqlite", "")
    if not isinstance(text, str):
        raise StoreUrlError(f"must be a URL (text), not {type(text).__name__}")
    if len(text) > MAX_URL:
        raise StoreUrlError(f"longer than {MAX_URL} characters")
    scheme = text.partition(":")[0].lower()
    if scheme not in _SCHEMES or not text[len(scheme):].startswith("://"):
        raise StoreUrlError(f"{redact(text)!r}: must be sqlite: or postgresql://... (a libpq URI)")
    try:
        import psycopg.conninfo
    except ImportError:
        raise StoreUrlError("a postgresql store needs psycopg 3: pip install 'pktcable[postgresql]'") from None
    try:
        psycopg.conninfo.conninfo_to_dict(text)
    except psycopg.Error as exc:
        raise StoreUrlError(f"{redact(text)!r}: {_first_line(exc, text)}") from None
    return StoreUrl("postgresql", text)


def names_postgresql(text: str | None) -> bool:
    """Whether ``text`` (a store setting, or a lease table's name handed to a worker) is a
    PostgreSQL URL rather than a SQLite file."""
    return bool(text) and str(text).partition(":")[0].lower() in _SCHEMES and "://" in str(text)


def redact(url: str) -> str:
    """``url`` with the password, in its user part or its query, replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that does not parse>"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.partition(":")[0] + ":***"
        netloc = f"{user}@{host}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    # By hand, not urlunsplit: that drops the empty host of postgresql:///db?host=/socket.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _first_line(exc: BaseException, url: str = "") -> str:
    """libpq's message, first line, with any password of ``url`` in it blotted out: libpq
    quotes the token it could not parse, and that token may be the password."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return text


def explain(exc: BaseException, url: str) -> str:
    """One line for an error about the store ``url``: the URL and libpq's reason, no password."""
    return f"{redact(url)}: {_first_line(exc, url)}"


def _passwords(url: str) -> list[str]:
    """The password of ``url``, as written and percent-decoded, longest first ([] for none)."""
    from urllib.parse import unquote

    found = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    user = parts.netloc.rpartition("@")[0]
    if ":" in user:
        found.append(user.partition(":")[2])
    found += [m.group(1) for m in re.finditer(r"(?i)(?:^|&)password=([^&]*)", parts.query)]
    found += [unquote(secret) for secret in found]
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


class StoreUnavailable(Exception):
    """The PostgreSQL server cannot be reached or refuses us; the message names the URL
    (without its password) and libpq's reason."""


def connect(url: str, schema: Schema | None = None) -> psycopg.Connection[Any]:
    """An autocommit connection to ``url`` (the stores issue their own transactions), with
    ``schema`` created or brought up to date. StoreUnavailable when the server cannot be
    reached, SchemaError for a database newer than this code."""
    import psycopg

    try:
        db = psycopg.connect(url, autocommit=True, **_defaults(url))
    except psycopg.Error as exc:
        raise StoreUnavailable(explain(exc, url)) from None
    try:
        if schema is not None:
            migrate(db, schema, redact(url))
    except BaseException:
        db.close()
        raise
    return db


class Reconnecting:
    """A store's own connection, opened again on its next use after the server dropped it
    (a restart, a failover, an idle timeout): the call that found it broken failed, with
    its batch, as a SQLite write to a failing disk does; the ones after it work again."""

    url: str
    _db: psycopg.Connection[Any]

    @property
    def db(self) -> psycopg.Connection[Any]:
        if self._db.broken:
            self._db = connect(self.url)
        return self._db

    @db.setter
    def db(self, connection: psycopg.Connection[Any]) -> None:
        self._db = connection


def _defaults(url: str) -> dict[str, Any]:
    """Connection parameters the URL does not set itself."""
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(url)
    defaults: dict[str, Any] = {}
    if "connect_timeout" not in given:
        defaults["connect_timeout"] = CONNECT_TIMEOUT
    if "application_name" not in given:
        defaults["application_name"] = "pktcable"
    return defaults


def version(db: psycopg.Connection[Any], schema: Schema) -> int | None:
    """The store's version in the database; None when it has none yet."""
    exists = db.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSIONS,)).fetchone()
    if not exists or not exists[0]:
        return None
    row = db.execute(f"SELECT version FROM {VERSIONS} WHERE store = %s", (schema.name,)).fetchone()
    return None if row is None else int(row[0])


def migrate(db: psycopg.Connection[Any], schema: Schema, where: str = "") -> tuple[int, int]:
    """Bring the database's ``schema`` tables up to ``schema.version`` in one transaction;
    returns (version before, version after). All or nothing, like the SQLite files."""
    with db.transaction():
        # Every pktcable upgrade waits for the one under way: no two create one table.
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute(f"CREATE TABLE IF NOT EXISTS {VERSIONS} (store TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        found = version(db, schema)
        before = 0 if found is None else found
        if before > schema.version or before < 0:
            raise SchemaError(f"{where or schema.name}: {schema.name} store version {before} is not one this "
                              f"pktcable knows (up to {schema.version}); run the pktcable that wrote it, or a newer one")
        if found is None:
            for table in schema.tables:
                if not table.postgresql:
                    raise SchemaError(f"{schema.name}: table {table.name} has no PostgreSQL definition")
                db.execute(table.postgresql)  # type: ignore[arg-type]  # our own constant text
                for index in table.indexes:
                    db.execute(index)  # type: ignore[arg-type]
        for migration in schema.migrations[before:]:
            step = migration.postgresql
            if step is None:  # the same statements in both dialects
                if callable(migration.apply):
                    raise SchemaError(f"{schema.name}: migration {migration.name!r} has no PostgreSQL form")
                step = migration.apply
            if callable(step):
                step(db)
            else:
                for statement in step:
                    db.execute(statement)  # type: ignore[arg-type]
        db.execute(f"INSERT INTO {VERSIONS} (store, version) VALUES (%s, %s) "
                   "ON CONFLICT (store) DO UPDATE SET version = excluded.version", (schema.name, schema.version))
    return before, schema.version


def params(sql: str) -> str:
    """SQL written with ``?`` parameters (the SQLite stores' and query.py's) in psycopg's
    ``%s``: the texts given here hold no other ``?`` and no ``%``."""
    if "%" in sql:
        raise ValueError("SQL with % cannot be converted")
    return sql.replace("?", "%s")


def text_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with U+0000 in any text replaced (see ``_NUL``); the row itself when it has none,
    which is nearly always."""
    if any(isinstance(v, str) and _NUL in v for v in row):
        return tuple(v.replace(_NUL, _REPLACEMENT) if isinstance(v, str) else v for v in row)
    return row


__all__ = ["BACKENDS", "Reconnecting", "StoreUnavailable", "StoreUrl", "StoreUrlError", "connect", "explain",
           "migrate", "names_postgresql", "params", "parse_store", "redact", "text_row", "version"]
