"""API tokens and the audit log in PostgreSQL: :class:`AdminStore`'s behaviour (and
type: the API takes either) over psycopg 3. Tokens are kept as their SHA-256 as in the
SQLite file; each call is its own transaction, durable when it returns."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from .admin import (
    AUDIT_KEEP,
    AUDIT_TRIM_EVERY,
    LAST_USED_GRAIN,
    NAME,
    ROLES,
    SCHEMA,
    TOKEN_BYTES,
    TOKEN_LIMIT,
    TOKEN_PREFIX,
    AdminError,
    AdminStore,
    Entry,
    Token,
    _json,
    _value,
    digest,
)
from .pg import Reconnecting, connect, text_row


class PgAdminStore(Reconnecting, AdminStore):  # type: ignore[misc]  # db is psycopg's, not sqlite3's
    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:  # noqa: D107
        # Not AdminStore.__init__: that opens a SQLite file.
        self.url = url
        self.db = connect(url, SCHEMA)
        self.clock = clock
        self._written = 0
        self._used: dict[str, float] = {}

    def create(self, name: str, role: str) -> str:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise AdminError(f"name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter "
                             "or digit")
        if role not in ROLES:
            raise AdminError(f"role {role!r}: must be {' or '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with self.db.transaction():
            # FOR UPDATE: two operators giving one name at once get one token, not two.
            row = self.db.execute("SELECT revoked FROM token WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is not None and row[0] is None:
                raise AdminError(f"name {name!r}: a token of that name is in use (revoke it first)")
            self.db.execute("INSERT INTO token (name, role, hash, created, last_used, revoked) "
                            "VALUES (%s, %s, %s, %s, NULL, NULL) ON CONFLICT (name) DO UPDATE SET "
                            "role = excluded.role, hash = excluded.hash, created = excluded.created, "
                            "last_used = NULL, revoked = NULL", (name, role, digest(token), self.clock()))
        self._used.pop(name, None)
        return token

    def tokens(self) -> list[Token]:
        return [Token(*row) for row in
                self.db.execute("SELECT name, role, created, last_used, revoked FROM token ORDER BY name")]

    def revoke(self, name: str) -> None:
        found = self.db.execute("UPDATE token SET revoked = %s WHERE name = %s AND revoked IS NULL",
                                (self.clock(), name)).rowcount
        if not found:
            raise AdminError(f"name {name!r}: no token of that name in use")

    def authenticate(self, token: str) -> Token | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > TOKEN_LIMIT:
            return None
        wanted = digest(token)
        row = self.db.execute("SELECT name, role, created, last_used, revoked, hash FROM token WHERE hash = %s",
                              (wanted,)).fetchone()
        if row is None or not hmac.compare_digest(row[5], wanted) or row[4] is not None:
            return None
        now = self.clock()
        if now - self._used.get(row[0], 0.0) >= LAST_USED_GRAIN:
            self._used[row[0]] = now
            self.db.execute("UPDATE token SET last_used = %s WHERE name = %s", (now, row[0]))
        return Token(row[0], row[1], row[2], now, None)

    def audit(self, who: str, role: str, action: str, target: str, before: Any, after: Any, source: str) -> None:
        self.db.execute("INSERT INTO audit (at, who, role, action, target, before, after, source) "
                        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                        text_row((self.clock(), who, role, action, target, _json(before), _json(after), source)))
        self._written += 1
        if self._written >= AUDIT_TRIM_EVERY:
            self._written = 0
            self.db.execute("DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - %s", (AUDIT_KEEP,))

    def entries(self, limit: int, before_id: int | None = None, since: float | None = None) -> list[Entry]:
        rows = self.db.execute(
            "SELECT id, at, who, role, action, target, before, after, source FROM audit "
            "WHERE id < %s AND at >= %s ORDER BY id DESC LIMIT %s",
            (before_id if before_id is not None else 1 << 62, since if since is not None else float("-inf"), limit))
        return [Entry(r[0], r[1], r[2], r[3], r[4], r[5], _value(r[6]), _value(r[7]), r[8]) for r in rows]

    def close(self) -> None:
        self.db.close()


__all__ = ["PgAdminStore"]
