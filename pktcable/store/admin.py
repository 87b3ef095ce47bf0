"""Who may use the operators' API, and what they did with it.

API tokens are random 256-bit strings, shown once when made
(``pktcable token create``) and kept only as their SHA-256: a stolen
``admin.db`` gives no usable token, and since the tokens are random, a fast
hash is enough (nothing to guess from a dictionary). A token has a name (who,
in the audit log), a role (``read``: look only; ``operator``: change devices,
reset them), when it was made, when it was last used and when it was revoked.

The audit log records every write and reset made through the API: when, who,
in which role, the action, its target, the state before and after (JSON) and
the source address. It is bounded (``AUDIT_KEEP`` newest entries).

``AdminStore(":memory:")`` is the in-memory version (``serve --memory`` and
``--demo``); otherwise the file is ``admin.db`` in the data dir.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from .sqlite import Schema, Table, connect

ROLES = ("read", "operator")
#: Every token starts with this, so a leaked one is recognisable in a log or a paste.
TOKEN_PREFIX = "pkt_"
TOKEN_BYTES = 32  # 256 bits
#: Longest Authorization value looked at: a token is under 50 characters.
TOKEN_LIMIT = 256
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
AUDIT_KEEP = 100_000  # newest audit entries kept
AUDIT_TRIM_EVERY = 1000  # entries written between trims
#: A token's last-used time is written at most this often (seconds): not a write per request.
LAST_USED_GRAIN = 60.0
ADMIN_FILE = "admin.db"

_TABLES = (
    Table("token", """CREATE TABLE IF NOT EXISTS token (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created REAL NOT NULL,
        last_used REAL, revoked REAL)""",
          postgresql="""CREATE TABLE IF NOT EXISTS token (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created DOUBLE PRECISION NOT NULL,
        last_used DOUBLE PRECISION, revoked DOUBLE PRECISION)"""),
    Table("audit", """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, who TEXT NOT NULL, role TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL, before TEXT, after TEXT, source TEXT NOT NULL)""",
          indexes=("CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",),
          postgresql="""CREATE TABLE IF NOT EXISTS audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at DOUBLE PRECISION NOT NULL, who TEXT NOT NULL,
        role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, before TEXT, after TEXT,
        source TEXT NOT NULL)"""),
)


#: Version 0: tokens and the audit log; later changes are migrations here.
SCHEMA = Schema("admin", _TABLES)


@dataclass(frozen=True, slots=True)
class Statements:
    """Every statement of the admin store, each written once, in SQLite's spelling (``?``
    parameters); :meth:`in_dialect` gives another database's. The upsert is the syntax
    both SQLite (3.24+) and PostgreSQL take."""

    in_use: str = "SELECT revoked FROM token WHERE name = ?"
    give: str = ("INSERT INTO token (name, role, hash, created, last_used, revoked) VALUES (?, ?, ?, ?, NULL, NULL) "
                 "ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, "
                 "created = excluded.created, last_used = NULL, revoked = NULL")
    tokens: str = "SELECT name, role, created, last_used, revoked FROM token ORDER BY name"
    revoke: str = "UPDATE token SET revoked = ? WHERE name = ? AND revoked IS NULL"
    find: str = "SELECT name, role, created, last_used, revoked, hash FROM token WHERE hash = ?"
    used: str = "UPDATE token SET last_used = ? WHERE name = ?"
    audit: str = ("INSERT INTO audit (at, who, role, action, target, before, after, source) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    trim: str = "DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?"
    entries: str = ("SELECT id, at, who, role, action, target, before, after, source FROM audit "
                    "WHERE id < ? AND at >= ? ORDER BY id DESC LIMIT ?")

    def in_dialect(self, param: str, lock: str) -> Statements:
        """These statements with ``param`` as the placeholder (none of them has a literal
        ``?``) and ``lock`` after the check of a name that create() is about to give."""
        spelled = {f.name: getattr(self, f.name).replace("?", param) for f in fields(self)}
        spelled["in_use"] += lock
        return Statements(**spelled)


#: SQLite's: create()'s BEGIN IMMEDIATE already holds the whole file against other writers.
SQLITE = Statements()


class AdminError(ValueError):
    """A token command that cannot be done (unknown name, a name in use); the message says why."""


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    role: str
    created: float
    last_used: float | None = None
    revoked: float | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit log entry; ``before``/``after`` are JSON values (None: nothing)."""

    id: int
    at: float
    who: str
    role: str
    action: str
    target: str
    before: Any
    after: Any
    source: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class AdminStore:
    """Tokens and the audit log in one SQLite file (or ``":memory:"``). The PostgreSQL
    store (pg_admin) is this class with another connection, :data:`SQL` and transaction."""

    SQL: ClassVar[Statements] = SQLITE

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time) -> None:
        self.db = connect(path, SCHEMA, synchronous="FULL")
        self.clock = clock
        self._written = 0
        self._used: dict[str, float] = {}  # token name -> last-used time written (one per token)

    # -- tokens ------------------------------------------------------------------------
    def create(self, name: str, role: str) -> str:
        """A new token for ``name`` in ``role``; the token itself, which is kept nowhere.
        A revoked token's name may be given again (the old token stays dead)."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise AdminError(f"name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter "
                             "or digit")
        if role not in ROLES:
            raise AdminError(f"role {role!r}: must be {' or '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with self._transaction():
            row = self.db.execute(self.SQL.in_use, (name,)).fetchone()
            if row is not None and row[0] is None:
                raise AdminError(f"name {name!r}: a token of that name is in use (revoke it first)")
            self.db.execute(self.SQL.give, (name, role, digest(token), self.clock()))
        self._used.pop(name, None)
        return token

    def tokens(self) -> list[Token]:
        return [Token(*row) for row in self.db.execute(self.SQL.tokens)]

    def revoke(self, name: str) -> None:
        found = self.db.execute(self.SQL.revoke, (self.clock(), name)).rowcount
        if not found:
            raise AdminError(f"name {name!r}: no token of that name in use")

    def authenticate(self, token: str) -> Token | None:
        """The live token ``token`` is, or None (unknown, revoked, malformed)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > TOKEN_LIMIT:
            return None
        wanted = digest(token)
        row = self.db.execute(self.SQL.find, (wanted,)).fetchone()
        # The index finds the row; the comparison that decides is constant-time all the same.
        if row is None or not hmac.compare_digest(row[5], wanted) or row[4] is not None:
            return None
        now = self.clock()
        if now - self._used.get(row[0], 0.0) >= LAST_USED_GRAIN:
            self._used[row[0]] = now
            self.db.execute(self.SQL.used, (now, row[0]))
        return Token(row[0], row[1], row[2], now, None)

    # -- audit log ---------------------------------------------------------------------
    def audit(self, who: str, role: str, action: str, target: str, before: Any, after: Any, source: str) -> None:
        """Record one action, durably before returning."""
        self.db.execute(self.SQL.audit,
                        self._text_row((self.clock(), who, role, action, target, _json(before), _json(after), source)))
        self._written += 1
        if self._written >= AUDIT_TRIM_EVERY:
            self._written = 0
            self.db.execute(self.SQL.trim, (AUDIT_KEEP,))

    def entries(self, limit: int, before_id: int | None = None, since: float | None = None) -> list[Entry]:
        """Newest first: at most ``limit`` entries older than entry ``before_id``, none before ``since``."""
        rows = self.db.execute(
            self.SQL.entries, (before_id if before_id is not None else 1 << 62, since if since is not None else float("-inf"), limit))
        return [Entry(r[0], r[1], r[2], r[3], r[4], r[5], _value(r[6]), _value(r[7]), r[8]) for r in rows]

    def close(self) -> None:
        self.db.close()

    # -- what differs by database, besides SQL -------------------------------------------
    def _transaction(self) -> AbstractContextManager[Any]:
        return _immediate(self.db)

    def _text_row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """``row`` as the database can store its text (SQLite: any string as it is)."""
        return row


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction; IMMEDIATE: the check and the write it decides see no other writer."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def open_admin(data_dir: str | None) -> AdminStore:
    """The data dir's admin store, or an in-memory one when there is no data dir."""
    import os

    return AdminStore(os.path.join(data_dir, ADMIN_FILE) if data_dir else ":memory:")


__all__ = ["ADMIN_FILE", "AUDIT_KEEP", "ROLES", "SCHEMA", "SQLITE", "AdminError", "AdminStore", "Entry", "Statements",
           "Token", "open_admin"]
