"""The store files of a data dir, in one registry, and what can be done to them as files:
bring them up to date, check them, back them up and restore them.

Backups are made with SQLite's online backup API, each file in one step (one read
transaction): a consistent copy while ``serve`` goes on writing. The archive is one
tar file: ``manifest.json`` first (each file's name, schema version, size and
SHA-256), then the copies. A restore verifies all of it into a new folder beside
the data dir, then swaps the folders by rename, so a data dir is never left half
restored; it needs the data dir to itself (see :func:`pktcable.serve.datadir.lock`).
Files of the data dir that are no store (the CMTS shared secret ``cm_key``) are
neither in the archive nor touched by a restore: the secret stays where it is.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sqlite import BUSY_TIMEOUT_MS, Schema, SchemaError, connect, file_version

ARCHIVE_FORMAT = "pktcable-store-backup"
ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
#: Bounds on an archive's table of contents: it is read before anything is verified.
MAX_MANIFEST = 64 * 1024
MAX_MEMBERS = 16
_CHUNK = 1 << 20
FILE_MODE = 0o600
DIR_MODE = 0o700


class ArchiveError(Exception):
    """A backup archive that is not one, is damaged, or does not match its manifest."""


@dataclass(frozen=True, slots=True)
class StoreFile:
    """One store file of a data dir: its name and where its schema is (``module:attribute``;
    "" when this registry does not know it yet: the file is still backed up, restored and
    checked, only ``migrate`` leaves it to the code that opens it)."""

    name: str
    schema: str = ""

    def load_schema(self) -> Schema | None:
        if not self.schema:
            return None
        module, _, attribute = self.schema.partition(":")
        found: Schema = getattr(importlib.import_module(module), attribute)
        return found


#: Every store file a data dir can hold (those present are the ones a command works on).
STORE_FILES: tuple[StoreFile, ...] = (
    StoreFile("devices.db", "pktcable.store.devices:SCHEMA"),
    StoreFile("leases.db", "pktcable.store.leases:SCHEMA"),
    # The API's accounts and audit log (store/admin.py).
    StoreFile("admin.db", "pktcable.store.admin:SCHEMA"),
)
_BY_NAME = {f.name: f for f in STORE_FILES}


def present(data_dir: Path) -> list[StoreFile]:
    """The registry's files that exist in ``data_dir``, in registry order."""
    return [f for f in STORE_FILES if (data_dir / f.name).is_file()]


def _open(path: Path) -> sqlite3.Connection:
    """A connection that reads a store file and changes nothing in it."""
    db = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute("PRAGMA query_only=ON")
    return db


# --- migrate and check -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migrated:
    name: str
    before: int
    after: int
    #: False: the registry has no schema for it (its version is only read).
    known: bool = True


def migrate(data_dir: Path) -> list[Migrated]:
    """Bring every store file of ``data_dir`` up to this code's schema (SchemaError for
    a file newer than the code: nothing is changed in that one)."""
    done = []
    for store in present(data_dir):
        path = data_dir / store.name
        schema = store.load_schema()
        if schema is None:
            db = _open(path)
            try:
                version = file_version(db)
            finally:
                db.close()
            done.append(Migrated(store.name, version, version, known=False))
            continue
        db = _open(path)
        try:
            before = file_version(db)
        finally:
            db.close()
        connect(str(path), schema, synchronous="FULL").close()
        done.append(Migrated(store.name, before, schema.version))
    return done


@dataclass(frozen=True, slots=True)
class Checked:
    name: str
    version: int
    problems: list[str]


def check(data_dir: Path, max_problems: int = 20) -> list[Checked]:
    """``PRAGMA integrity_check`` of every store file, and its version against this code."""
    found = []
    for store in present(data_dir):
        try:
            db = _open(data_dir / store.name)
            try:
                version = file_version(db)
                rows = db.execute(f"PRAGMA integrity_check({max_problems:d})").fetchall()
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            found.append(Checked(store.name, -1, [str(exc)]))
            continue
        problems = [row[0] for row in rows if row[0] != "ok"]
        schema = store.load_schema()
        if schema is not None and version > schema.version:
            problems.append(f"version {version} is newer than this pktcable knows (up to {schema.version})")
        found.append(Checked(store.name, version, problems))
    return found


# --- backup ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_store(source: Path, target: Path) -> int:
    """A consistent copy of one store file (online backup, one step), as a single file
    without WAL; returns its schema version."""
    src = sqlite3.connect(str(source), timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        src.execute("PRAGMA query_only=ON")
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)  # pages=-1: the whole file under one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")  # self-contained: no -wal beside it
            version = file_version(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return version


def backup(data_dir: Path, archive: Path, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Write every store file of ``data_dir`` into the archive ``archive`` (replaced
    whole, 0600); returns the manifest."""
    stores = present(data_dir)
    if not stores:
        raise FileNotFoundError(f"{data_dir}: no store files ({', '.join(f.name for f in STORE_FILES)})")
    work = Path(str(archive) + f".tmp{os.getpid()}")
    work.mkdir(mode=DIR_MODE)
    try:
        entries: list[dict[str, Any]] = []
        for store in stores:
            copy = work / store.name
            version = copy_store(data_dir / store.name, copy)
            entries.append({"name": store.name, "version": version, "size": copy.stat().st_size,
                            "sha256": _sha256(copy)})
        manifest: dict[str, Any] = {"format": ARCHIVE_FORMAT, "format_version": ARCHIVE_VERSION,
                                       "created": clock(), "files": entries}
        text = json.dumps(manifest, indent=2).encode()
        partial = work / "archive"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(text), FILE_MODE, int(clock())
            tar.addfile(info, io.BytesIO(text))
            for entry in entries:
                info = tarfile.TarInfo(entry["name"])
                info.size, info.mode, info.mtime = entry["size"], FILE_MODE, int(clock())
                with open(work / entry["name"], "rb") as f:
                    tar.addfile(info, f)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, archive)  # never a half-written archive under its name
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


# --- restore -----------------------------------------------------------------------------


def _manifest(tar: tarfile.TarFile) -> tuple[dict[str, dict[str, Any]], list[tarfile.TarInfo]]:
    members = []
    for member in tar:
        members.append(member)
        if len(members) > MAX_MEMBERS:
            raise ArchiveError(f"more than {MAX_MEMBERS} members: not a pktcable store backup")
    if not members or members[0].name != MANIFEST or not members[0].isfile() or members[0].size > MAX_MANIFEST:
        raise ArchiveError(f"no {MANIFEST} first: not a pktcable store backup")
    raw = tar.extractfile(members[0])
    assert raw is not None
    try:
        manifest = json.loads(raw.read())
    except ValueError:
        raise ArchiveError(f"{MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError("not a pktcable store backup")
    if manifest.get("format_version") != ARCHIVE_VERSION:
        raise ArchiveError(f"backup format {manifest.get('format_version')!r}: this pktcable reads "
                           f"{ARCHIVE_VERSION}")
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise ArchiveError(f"{MANIFEST} lists no files")
    entries: dict[str, dict[str, Any]] = {}
    for entry in files:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in _BY_NAME or name in entries:
            raise ArchiveError(f"{MANIFEST}: {name!r} is not a store file (or is listed twice)")
        if not (isinstance(entry.get("sha256"), str) and isinstance(entry.get("version"), int)
                and isinstance(entry.get("size"), int)):
            raise ArchiveError(f"{MANIFEST}: {name}: size, version or sha256 missing")
        entries[name] = entry
    names = [m.name for m in members[1:]]
    if sorted(names) != sorted(entries):
        raise ArchiveError(f"the archive holds {', '.join(names) or 'nothing'}, its manifest lists "
                           f"{', '.join(entries)}")
    return entries, members[1:]


def _unpack(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: dict[str, Any], target: Path) -> None:
    if not member.isfile():
        raise ArchiveError(f"{member.name} is not a regular file")
    if member.size != entry["size"]:
        raise ArchiveError(f"{member.name}: {member.size} bytes, the manifest says {entry['size']}")
    source = tar.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != entry["sha256"]:
        raise ArchiveError(f"{member.name}: SHA-256 does not match the manifest (damaged archive)")
    try:
        db = _open(target)
        try:
            version = file_version(db)
            ok = db.execute("PRAGMA integrity_check(1)").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ArchiveError(f"{member.name}: {exc}") from None
    if version != entry["version"] or ok != "ok":
        raise ArchiveError(f"{member.name}: version {version} (manifest: {entry['version']}), "
                           f"integrity check: {ok}")
    schema = _BY_NAME[member.name].load_schema()
    if schema is not None and version > schema.version:
        raise SchemaError(f"{member.name}: version {version} is newer than this pktcable knows "
                          f"(up to {schema.version}); restore it with the pktcable that made it")


def _is_store_file(name: str) -> bool:
    for store in STORE_FILES:
        if name == store.name or name in (f"{store.name}-wal", f"{store.name}-shm", f"{store.name}-journal"):
            return True
    return False


def restore(archive: Path, data_dir: Path) -> list[dict[str, Any]]:
    """Replace the store files of ``data_dir`` with the archive's, verified, all at once.
    The caller holds the data dir's lock alone. Returns the manifest's file entries."""
    data_dir = data_dir.absolute()
    staging = data_dir.parent / f".{data_dir.name}.restore-{secrets.token_hex(4)}"
    staging.mkdir(mode=DIR_MODE)
    try:
        try:
            with tarfile.open(archive, mode="r:") as tar:
                entries, members = _manifest(tar)
                for member in members:
                    _unpack(tar, member, entries[member.name], staging / member.name)
        except (tarfile.TarError, EOFError) as exc:
            raise ArchiveError(f"not a readable tar archive: {exc}") from None
        # What is not a store (the CMTS secret, the lock file, the firmware catalogue's
        # firmware.db and its images in firmware/) stays as it is.
        if data_dir.is_dir():
            for item in data_dir.iterdir():
                if _is_store_file(item.name) or item.is_symlink():
                    continue
                if item.is_file():
                    shutil.copy2(item, staging / item.name)
                elif item.is_dir():
                    shutil.copytree(item, staging / item.name, symlinks=True)
            owner = data_dir.stat()
            os.chmod(staging, owner.st_mode & 0o7777)
            _give(staging, owner.st_uid, owner.st_gid)
        _swap(staging, data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(entries.values())


def _give(folder: Path, uid: int, gid: int) -> None:
    """The restored folder and its files belong to whoever owned the data dir: root restoring
    the data dir of a service user (systemd's StateDirectory, whose parent only root may
    write) must not leave files the service cannot open."""
    if (uid, gid) == (os.geteuid(), os.getegid()):
        return
    for path in (folder, *folder.rglob("*")):
        os.chown(path, uid, gid, follow_symlinks=False)


def _swap(staging: Path, data_dir: Path) -> None:
    """``staging`` becomes ``data_dir``; the old one is removed only once that is done."""
    if not data_dir.exists():
        os.rename(staging, data_dir)
        return
    old = data_dir.parent / f".{data_dir.name}.old-{secrets.token_hex(4)}"
    os.rename(data_dir, old)
    try:
        os.rename(staging, data_dir)
    except BaseException:
        os.rename(old, data_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
