"""API tokens and the audit log in PostgreSQL: :class:`AdminStore`'s behaviour (and
type: the API takes either) over psycopg 3. Every statement is the SQLite store's, in
PostgreSQL's spelling (:data:`POSTGRESQL`); tokens are kept as their SHA-256 as in the
SQLite file; each call is its own transaction, durable when it returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from .admin import SCHEMA, SQLITE, AdminStore, Statements
from .pg import Reconnecting, connect, text_row

#: psycopg's placeholders; FOR UPDATE: two operators giving one name at once get one
#: token, not two (PostgreSQL locks the row where SQLite holds the whole file).
POSTGRESQL = SQLITE.in_dialect("%s", " FOR UPDATE")


class PgAdminStore(Reconnecting, AdminStore):  # type: ignore[misc]  # db is psycopg's, not sqlite3's
    SQL: ClassVar[Statements] = POSTGRESQL

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:  # noqa: D107
        # Not AdminStore.__init__: that opens a SQLite file.
        self.url = url
        self.db = connect(url, SCHEMA)
        self.clock = clock
        self._written = 0
        self._used: dict[str, float] = {}

    def _transaction(self) -> AbstractContextManager[Any]:
        return self.db.transaction()

    def _text_row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return text_row(row)  # PostgreSQL text cannot hold U+0000


__all__ = ["POSTGRESQL", "PgAdminStore"]
