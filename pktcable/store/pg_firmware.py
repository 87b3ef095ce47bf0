"""The firmware catalogue in PostgreSQL: :class:`~pktcable.store.firmware.FirmwareStore`
over psycopg 3, the image bytes in the row (``bytea``) so every serve sharing the
database serves the same images without a shared folder. Each call is its own
transaction, durable when it returns; psycopg serializes the calls of the API's threads
and the delivery's on its one connection."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Sequence
from typing import Any

from .firmware import _COLUMNS, SCHEMA, Duplicate, FirmwareImage, _order, check_filename
from .fwrules import SqlRules
from .pg import Reconnecting, connect, params


class PgFirmwareStore(Reconnecting, SqlRules):
    def __init__(self, url: str) -> None:
        self.url = url
        self.db = connect(url, SCHEMA)
        # A transaction of several statements (a rule's replacement, a device report) must
        # not interleave with another thread's on the one connection.
        self.lock = threading.Lock()

    def add(self, image: FirmwareImage, data: bytes) -> None:
        import psycopg

        check_filename(image.filename)
        try:
            self.db.execute(f"INSERT INTO firmware_image ({_COLUMNS}, data) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                            (image.filename, image.vendor, image.model, image.hw_version, image.version, image.size,
                             image.sha256, image.signature, image.added, data))
        except psycopg.errors.UniqueViolation:
            if self.get(image.filename) is not None:
                raise Duplicate("filename", f"{image.filename!r} is already in the catalogue") from None
            raise Duplicate("version", f"{'/'.join(_order(image))} is already in the catalogue") from None

    def list(self) -> list[FirmwareImage]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM firmware_image ORDER BY vendor, model, hw_version, version")
        return [FirmwareImage(*r) for r in rows]

    def get(self, filename: str) -> FirmwareImage | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM firmware_image WHERE filename = %s", (filename,)).fetchone()
        return FirmwareImage(*row) if row else None

    def data(self, filename: str) -> bytes | None:
        row = self.db.execute("SELECT data FROM firmware_image WHERE filename = %s", (filename,)).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, filename: str) -> bool:
        return bool(self.db.execute("DELETE FROM firmware_image WHERE filename = %s", (filename,)).rowcount)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> builtins.list[tuple[Any, ...]]:
        return self.db.execute(params(sql), args).fetchall()  # type: ignore[arg-type]  # our own constant text

    def _run(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> builtins.list[int]:
        with self.lock:
            db = self.db
            with db.transaction():
                return [db.execute(params(sql), args).rowcount  # type: ignore[arg-type]  # our own constant text
                        for sql, args in statements]

    def close(self) -> None:
        self.db.close()
