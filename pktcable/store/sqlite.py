"""Opening a store's SQLite file: the connection settings and the schema upgrade,
in one place for the device store and the lease store.

Both stores stage changes and write them in one transaction per batch, so the
connection runs in autocommit mode (``isolation_level=None``) and the stores
issue BEGIN/COMMIT themselves. WAL lets readers (the REST API, ``pktcable
reset`` while ``serve`` runs) go on while a batch is written. A file written by
an older version gets the columns added since, in one transaction, on open.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

#: PRAGMA synchronous levels a store accepts: each survives ``kill -9`` of the server; FULL
#: and EXTRA also survive power loss. OFF is refused: a reply could go out before its row is durable.
SYNCHRONOUS_LEVELS = ("FULL", "NORMAL", "EXTRA")
#: Page cache per connection, KiB. The server writes far more than it reads back: a small
#: cache keeps memory per device down in a boot storm.
CACHE_KIB = 512
#: How long a write waits for another connection's lock (another process on the same file)
#: before it fails with "database is locked", milliseconds.
BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class Table:
    """One table of a store: how to create it, the columns added since the first file
    format (name, declaration; each must have a default), and its indexes."""

    name: str
    create: str
    added: tuple[tuple[str, str], ...] = ()
    indexes: tuple[str, ...] = ()


def connect(path: str, tables: tuple[Table, ...], *, synchronous: str) -> sqlite3.Connection:
    """A connection to the store at ``path`` with its tables created or brought up to date."""
    level = synchronous.upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"synchronous must be {', '.join(SYNCHRONOUS_LEVELS)}, not {synchronous!r}")
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={level}")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")  # negative: a size in KiB, not pages
        upgrade(db, tables)
    except BaseException:
        db.close()
        raise
    return db


def upgrade(db: sqlite3.Connection, tables: tuple[Table, ...]) -> None:
    """Create missing tables and indexes and add missing columns, all or nothing."""
    db.execute("BEGIN IMMEDIATE")  # no other writer between reading the columns and adding them
    try:
        for table in tables:
            db.execute(table.create)
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table.name})")}
            for name, declaration in table.added:
                if name not in have:
                    db.execute(f"ALTER TABLE {table.name} ADD COLUMN {name} {declaration}")
            for index in table.indexes:
                db.execute(index)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
