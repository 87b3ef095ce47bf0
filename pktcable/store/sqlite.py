"""Opening a store's SQLite file: the connection settings, the schema version and
its migrations, in one place for every store of a data dir.

Every store stages changes and writes them in one transaction per batch, so the
connection runs in autocommit mode (``isolation_level=None``) and the stores
issue BEGIN/COMMIT themselves. WAL lets readers (the REST API, ``pktcable
reset`` while ``serve`` runs) go on while a batch is written.

Schema versions: a store's file carries its version in ``PRAGMA user_version``.
Version 0 is the shape its :class:`Table` list describes (a file written before
versions existed is version 0 too: the columns it lacks are added on open, as
they always were); every change after that is a :class:`Migration` in the
store's :class:`Schema`, applied in order, with the new version, in the same
transaction as the check of the old one. So a file is either upgraded whole or
left exactly as it was, and a file written by a newer pktcable (a version above
the last migration this code knows) is refused with :class:`SchemaError`, never
used: the code would not know what its rows mean.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: PRAGMA synchronous levels a store accepts: each survives ``kill -9`` of the server; FULL
#: and EXTRA also survive power loss. OFF is refused: a reply could go out before its row is durable.
SYNCHRONOUS_LEVELS = ("FULL", "NORMAL", "EXTRA")
#: Page cache per connection, KiB. The server writes far more than it reads back: a small
#: cache keeps memory per device down in a boot storm.
CACHE_KIB = 512
#: How long a write waits for another connection's lock (another process on the same file)
#: before it fails with "database is locked", milliseconds.
BUSY_TIMEOUT_MS = 5000


class SchemaError(sqlite3.DatabaseError):
    """A store file this code cannot use as it is (written by a newer pktcable). A database
    error like any other file in the data dir that is no store of ours, for the callers
    that already report those."""


@dataclass(frozen=True, slots=True)
class Table:
    """One table of a store's version-0 shape: how to create it, the columns added
    before schema versions existed (name, declaration; each must have a default),
    and its indexes."""

    name: str
    create: str
    added: tuple[tuple[str, str], ...] = ()
    indexes: tuple[str, ...] = ()
    #: The same table in PostgreSQL's dialect, with every column (a PostgreSQL store has no
    #: files from before schema versions); its indexes are ``indexes``, which both dialects read.
    postgresql: str = ""


#: A migration in Python: gets the connection inside the upgrade's transaction.
MigrationFunction = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class Migration:
    """One step from version n-1 to n: SQL statements run in order (one statement each:
    ``executescript`` would commit the upgrade's transaction half way), or a function.

    ``postgresql`` is the same step for a PostgreSQL store (pktcable/store/pg.py): its
    statements, or a function given the psycopg connection; ``None`` when ``apply``'s
    statements read the same in both dialects. One list, so a version number means the
    same shape in both backends."""

    name: str
    apply: tuple[str, ...] | MigrationFunction
    postgresql: tuple[str, ...] | Callable[[Any], None] | None = None

    def run(self, db: sqlite3.Connection) -> None:
        if callable(self.apply):
            self.apply(db)
        else:
            for statement in self.apply:
                db.execute(statement)


@dataclass(frozen=True, slots=True)
class Schema:
    """A store's tables (version 0) and its migrations; its version is how many there are."""

    name: str
    tables: tuple[Table, ...]
    migrations: tuple[Migration, ...] = ()

    @property
    def version(self) -> int:
        return len(self.migrations)


def file_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def _check_version(schema: Schema, found: int, path: str) -> None:
    if found > schema.version:
        raise SchemaError(f"{path}: {schema.name} store version {found} is newer than this pktcable knows "
                          f"(up to {schema.version}); run the pktcable that wrote it, or a newer one")
    if found < 0:
        raise SchemaError(f"{path}: {schema.name} store version {found} is not one pktcable writes")


def connect(path: str, tables: tuple[Table, ...] | Schema, *, synchronous: str) -> sqlite3.Connection:
    """A connection to the store at ``path`` with its schema created or brought up to date
    (``tables`` alone: a store with no migrations yet, version 0). Raises SchemaError for a
    file newer than this code and ValueError for a bad ``synchronous``."""
    schema = tables if isinstance(tables, Schema) else Schema(path, tables)
    level = synchronous.upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"synchronous must be {', '.join(SYNCHRONOUS_LEVELS)}, not {synchronous!r}")
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Before anything writes to it (WAL mode is kept in the file's header): a file
        # from a newer pktcable is left untouched. migrate() checks again under the lock.
        _check_version(schema, file_version(db), path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={level}")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # negative: a size in KiB, not pages
        migrate(db, schema, path)
    except BaseException:
        db.close()
        raise
    return db


def migrate(db: sqlite3.Connection, schema: Schema, path: str = "") -> tuple[int, int]:
    """Bring the file up to ``schema.version`` in one transaction; returns (version before,
    version after). All or nothing: a migration that fails leaves the file as it was."""
    db.execute("BEGIN IMMEDIATE")  # no other writer between reading the version and writing the new one
    try:
        before = file_version(db)
        _check_version(schema, before, path or schema.name)
        if before == 0:
            upgrade(db, schema.tables)
        for migration in schema.migrations[before:]:
            migration.run(db)
        if schema.version != before:
            db.execute(f"PRAGMA user_version={schema.version:d}")  # part of the transaction
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return before, schema.version


def upgrade(db: sqlite3.Connection, tables: tuple[Table, ...]) -> None:
    """Version 0: create missing tables and indexes and add missing columns (inside the
    caller's transaction)."""
    for table in tables:
        db.execute(table.create)
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table.name})")}
        for name, declaration in table.added:
            if name not in have:
                db.execute(f"ALTER TABLE {table.name} ADD COLUMN {name} {declaration}")
        for index in table.indexes:
            db.execute(index)
