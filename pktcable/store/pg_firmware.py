"""The firmware catalogue in PostgreSQL: :class:`~pktcable.store.firmware.FirmwareStore`
over psycopg 3, the image bytes in the row (``bytea``) so every serve sharing the
database serves the same images without a shared folder. Each call is its own
transaction, durable when it returns; psycopg serializes the calls of the API's threads
and the delivery's on its one connection."""

from __future__ import annotations

from .firmware import _COLUMNS, SCHEMA, Duplicate, FirmwareImage, _order, check_filename
from .pg import Reconnecting, connect


class PgFirmwareStore(Reconnecting):
    def __init__(self, url: str) -> None:
        self.url = url
        self.db = connect(url, SCHEMA)

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

    def close(self) -> None:
        self.db.close()
