"""The firmware catalogue: the images a back office hands to its devices.

An image is one file (a DOCSIS code file, usually) with what it is for (vendor, model,
hardware version), its version, the name devices fetch it by over TFTP or HTTP, its size
and SHA-256, and its signature status as judged when it was added. Rules and rollouts
that pick an image for a device, and the versions devices report, live in the same
store (pktcable/store/fwrules.py, the schema's migration 1).

Two backends: :class:`MemoryFirmwareStore` (tests, embedding) and
:class:`SqliteFirmwareStore`, whose rows live in ``firmware.db`` in the data dir and whose
image bytes live beside it in ``firmware/<filename>`` (0700 folder, 0600 files, written
to a temporary name and renamed, so a crash never leaves half an image under a name a
device may fetch). Files, not BLOBs: a 50 MB image then costs a TFTP server a ``read``,
not a database page walk, and ``firmware.db`` stays small for backups of the rows.

The caller judges the signature (:func:`signature_status`) with the trust it holds; the
store keeps the verdict as text ("signed by <org>", "unsigned", "refused: <reason>").
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .fwrules import RULES_MIGRATION, MemoryRules, RuleExists, SqlRules, VersionSeen
from .sqlite import Schema, Table, connect

if TYPE_CHECKING:
    from pktcable.firmware.codefile import CvcTrust
    from pktcable.firmware.rules import DeviceFirmware, Rule

#: Default largest image the catalogue takes, bytes (the ``firmware_max_bytes`` limit).
#: Cable modem images run to tens of MB; the code file reader's own bound is 128 MiB.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: A name a device can ask for over TFTP and HTTP without quoting, and no path: letters,
#: digits, dot, dash, underscore, starting with a letter or digit, up to 128 characters.
FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Vendor, model, hardware version and version: printable text, bounded.
MAX_FIELD = 64
DIR_MODE = 0o700
FILE_MODE = 0o600

SCHEMA = Schema("firmware", (
    Table("firmware_image",
          "CREATE TABLE IF NOT EXISTS firmware_image (filename TEXT PRIMARY KEY, vendor TEXT NOT NULL, "
          "model TEXT NOT NULL, hw_version TEXT NOT NULL, version TEXT NOT NULL, size INTEGER NOT NULL, "
          "sha256 TEXT NOT NULL, signature TEXT NOT NULL, added REAL NOT NULL, "
          "UNIQUE (vendor, model, hw_version, version))",
          # PostgreSQL keeps the bytes in the row (store/pg_firmware.py): serves sharing one
          # database share no folder. SQLite keeps them in the data dir's firmware/.
          postgresql="CREATE TABLE IF NOT EXISTS firmware_image (filename TEXT PRIMARY KEY, "
                     "vendor TEXT NOT NULL, model TEXT NOT NULL, hw_version TEXT NOT NULL, version TEXT NOT NULL, "
                     "size BIGINT NOT NULL, sha256 TEXT NOT NULL, signature TEXT NOT NULL, "
                     "added DOUBLE PRECISION NOT NULL, data BYTEA NOT NULL, "
                     "UNIQUE (vendor, model, hw_version, version))"),
), (RULES_MIGRATION,))


class FirmwareError(ValueError):
    """An image refused by the catalogue; ``field`` names the culprit (``filename``,
    ``vendor``, ``size`` ...) so the API and CLI can point at it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Duplicate(FirmwareError):
    """The catalogue already has that filename, or that (vendor, model, hw_version, version)."""


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    filename: str
    vendor: str
    model: str
    hw_version: str
    version: str
    size: int
    sha256: str
    signature: str
    added: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_filename(name: str) -> str:
    if not FILENAME.fullmatch(name) or ".." in name:
        raise FirmwareError("filename", f"{name!r} is not a safe file name (letters, digits, '.', '-', '_', "
                            "starting with a letter or digit, up to 128 characters, no '..')")
    return name


def make_image(filename: str, vendor: str, model: str, hw_version: str, version: str, data: bytes,
               signature: str, added: float, *, max_bytes: int = MAX_IMAGE_BYTES) -> FirmwareImage:
    """The catalogue entry for ``data``, every field checked (FirmwareError otherwise)."""
    check_filename(filename)
    for field, value in (("vendor", vendor), ("model", model), ("hw_version", hw_version), ("version", version)):
        if not value or len(value) > MAX_FIELD or not value.isprintable():
            raise FirmwareError(field, f"{value!r}: give 1 to {MAX_FIELD} printable characters")
    if not data:
        raise FirmwareError("size", "the image is empty")
    if len(data) > max_bytes:
        raise FirmwareError("size", f"{len(data)} bytes is over the limit of {max_bytes}")
    return FirmwareImage(filename, vendor, model, hw_version, version, len(data),
                         hashlib.sha256(data).hexdigest(), signature, added)


def signature_status(data: bytes, trust: CvcTrust | None, now: dt.datetime | None) -> str:
    """The verdict kept with an image: "unsigned" when it is no code file at all (a raw
    image), "signed by <org>[, co-signed by <org>]" when the code file verifies against
    ``trust``, "refused: <reason>" when it does not, "not checked" with no trust to judge by."""
    from pktcable.firmware import codefile

    if not looks_signed(data):
        return "unsigned"
    if trust is None:
        return "not checked"
    state = codefile.AccessState(codefile.AccessStart(_EPOCH, _EPOCH),
                                 codefile.AccessStart(_EPOCH, _EPOCH) if trust.cosigner else None)
    try:
        result = codefile.verify(data, trust, now, state)
    except codefile.CodeFileError as exc:
        return f"refused: {exc.reason}"
    text = f"signed by {result.manufacturer.organization}"
    if result.cosigner is not None:
        text += f", co-signed by {result.cosigner.organization}"
    return text


#: No stored access times: a catalogue judges who signed, not whether a device would
#: still take it after a newer image (that is the device's state, not the image's).
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


#: DER of the OID id-signedData (1.2.840.113549.1.7.2), the first field of a code file's ContentInfo.
_SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")


def looks_signed(data: bytes) -> bool:
    """Meant to be a code file (a raw image is "unsigned", not a damaged code file): a
    SEQUENCE whose first member is id-signedData, after the tag and 1 to 5 length bytes."""
    return data[:1] == b"\x30" and _SIGNED_DATA_OID in data[2:7 + len(_SIGNED_DATA_OID)]


class FirmwareStore(Protocol):
    def add(self, image: FirmwareImage, data: bytes) -> None:
        """Keep ``image`` (from :func:`make_image` over ``data``); Duplicate if its filename
        or its (vendor, model, hw_version, version) is already there."""
        ...

    def list(self) -> list[FirmwareImage]:
        """Every image, by vendor, model, hardware version, version."""
        ...

    def get(self, filename: str) -> FirmwareImage | None: ...

    def data(self, filename: str) -> bytes | None:
        """The image's bytes, None when the catalogue has no such file."""
        ...

    def delete(self, filename: str) -> bool: ...

    def add_rule(self, rule: Rule) -> None:
        """Keep a new rule; RuleExists if one of its name is there."""
        ...

    def put_rule(self, rule: Rule) -> None:
        """Keep ``rule`` in place of the one of its name (or as a new one)."""
        ...

    def rule(self, name: str) -> Rule | None: ...

    def rules(self) -> builtins.list[Rule]:
        """Every rule, by name."""
        ...

    def delete_rule(self, name: str) -> bool: ...

    def record_device(self, report: DeviceFirmware, source: str, at: float) -> bool:
        """What a device reported of itself (its empty fields keep what was known); True
        when its software version changed (a new row of its version history)."""
        ...

    def device(self, mac: str) -> DeviceFirmware | None: ...

    def versions(self, mac: str) -> builtins.list[VersionSeen]:
        """The versions the device was seen running, newest first."""
        ...

    def forget_device(self, mac: str) -> bool: ...

    def close(self) -> None: ...


def _order(image: FirmwareImage) -> tuple[str, str, str, str]:
    return image.vendor, image.model, image.hw_version, image.version


class MemoryFirmwareStore(MemoryRules):
    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, tuple[FirmwareImage, bytes]] = {}

    def add(self, image: FirmwareImage, data: bytes) -> None:
        if image.filename in self.images:
            raise Duplicate("filename", f"{image.filename!r} is already in the catalogue")
        if any(_order(i) == _order(image) for i, _ in self.images.values()):
            raise Duplicate("version", f"{'/'.join(_order(image))} is already in the catalogue")
        self.images[image.filename] = (image, bytes(data))

    def list(self) -> list[FirmwareImage]:
        return sorted((i for i, _ in self.images.values()), key=_order)

    def get(self, filename: str) -> FirmwareImage | None:
        entry = self.images.get(filename)
        return entry[0] if entry else None

    def data(self, filename: str) -> bytes | None:
        entry = self.images.get(filename)
        return entry[1] if entry else None

    def delete(self, filename: str) -> bool:
        return self.images.pop(filename, None) is not None

    def close(self) -> None:
        pass


_COLUMNS = "filename, vendor, model, hw_version, version, size, sha256, signature, added"


class SqliteFirmwareStore(SqlRules):
    """Rows in ``<data_dir>/firmware.db``, bytes in ``<data_dir>/firmware/``."""

    def __init__(self, data_dir: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        self.folder = Path(data_dir) / "firmware"
        self.folder.mkdir(mode=DIR_MODE, exist_ok=True)
        path = Path(data_dir) / "firmware.db"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))  # 0600 before SQLite writes
        self.db = connect(str(path), SCHEMA, synchronous=synchronous)
        # One connection shared by the event loop (TFTP/HTTP reads) and the API's worker
        # threads (uploads): its transactions must not interleave.
        self.lock = threading.RLock()

    def add(self, image: FirmwareImage, data: bytes) -> None:
        check_filename(image.filename)
        path = self.folder / image.filename
        temp = self.folder / f".{image.filename}.{os.getpid()}.tmp"
        with self.lock:
            self._add(image, data, path, temp)

    def _add(self, image: FirmwareImage, data: bytes, path: Path, temp: Path) -> None:
        # Row first, bytes second, committed last: a row never names a file that is not
        # whole, and a refused row (a duplicate) leaves no file behind.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            try:
                self.db.execute(f"INSERT INTO firmware_image ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                                (image.filename, image.vendor, image.model, image.hw_version, image.version,
                                 image.size, image.sha256, image.signature, image.added))
            except sqlite3.IntegrityError:
                raise self._duplicate(image) from None
            if path.exists():
                raise Duplicate("filename", f"{image.filename!r} is already in the firmware folder")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.rename(temp, path)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _duplicate(self, image: FirmwareImage) -> Duplicate:
        if self.get(image.filename) is not None:
            return Duplicate("filename", f"{image.filename!r} is already in the catalogue")
        return Duplicate("version", f"{'/'.join(_order(image))} is already in the catalogue")

    def list(self) -> list[FirmwareImage]:
        with self.lock:
            rows = self.db.execute(f"SELECT {_COLUMNS} FROM firmware_image "
                                   "ORDER BY vendor, model, hw_version, version").fetchall()
        return [FirmwareImage(*r) for r in rows]

    def get(self, filename: str) -> FirmwareImage | None:
        with self.lock:
            row = self.db.execute(f"SELECT {_COLUMNS} FROM firmware_image WHERE filename = ?",
                                  (filename,)).fetchone()
        return FirmwareImage(*row) if row else None

    def data(self, filename: str) -> bytes | None:
        if not FILENAME.fullmatch(filename) or ".." in filename or self.get(filename) is None:
            return None  # only catalogued names: a stray file in the folder is never served
        try:
            return (self.folder / filename).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, filename: str) -> bool:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                gone = self.db.execute("DELETE FROM firmware_image WHERE filename = ?", (filename,)).rowcount > 0
                if gone:
                    (self.folder / filename).unlink(missing_ok=True)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return gone

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> builtins.list[tuple[Any, ...]]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def _run(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> builtins.list[int]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                counts = [self.db.execute(sql, args).rowcount for sql, args in statements]
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return counts

    def close(self) -> None:
        with self.lock:
            self.db.close()


__all__ = ["MAX_IMAGE_BYTES", "SCHEMA", "Duplicate", "RuleExists", "VersionSeen", "FirmwareError", "FirmwareImage", "FirmwareStore",
           "MemoryFirmwareStore", "SqliteFirmwareStore", "make_image", "signature_status"]
