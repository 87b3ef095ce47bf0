"""The data dir of ``pktcable serve`` and the CMTS shared secret.

The data dir holds the device and lease stores and, unless the operator gives
one, the CMTS shared secret (``cm_key``) that every CM file's CMTS MIC is made
with: anyone who reads it can make config files a CMTS accepts. So the folder
is created 0700 and every file serve makes in it is 0600 (SQLite's -wal and
-shm files take the database file's mode).

Who is using it: ``lock`` (an flock on the ``lock`` file in it). ``serve`` and
the commands that read stores while it runs hold it shared; ``pktcable store
restore`` and ``migrate`` need it alone, so they refuse while a serve runs and
a serve refuses to start while they work. The kernel drops the lock with the
process, so a killed serve leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from pktcable.settings import SettingError

__all__ = ["DataDirBusy", "DataDirLock", "SettingError", "cm_key", "lock", "prepare", "private_file"]

if TYPE_CHECKING:
    from .config import ServeConfig

log = logging.getLogger("pktcable.serve")

#: The generated secret's file in the data dir.
SECRET_FILE = "cm_key"
#: Random bytes in a generated secret (written as URL-safe base64 text).
SECRET_BYTES = 32
DIR_MODE = 0o700
FILE_MODE = 0o600
#: The file in the data dir whose flock says who uses it.
LOCK_FILE = "lock"


class DataDirBusy(SettingError):
    """Another process holds the data dir in a way that excludes this use of it."""


class DataDirLock:
    """A held lock on a data dir; ``release`` (or the end of the process) drops it."""

    def __init__(self, folder: Path, fd: int, exclusive: bool) -> None:
        self.folder = folder
        self.exclusive = exclusive
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops its flock
            self._fd = None

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock(folder: Path, *, exclusive: bool) -> DataDirLock:
    """Hold ``folder`` shared (serve, readers) or alone (restore, migrate), without waiting:
    DataDirBusy when the other kind of holder has it."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise SettingError(f"data_dir: cannot open {path}: {exc.strerror or exc}") from None
    try:
        # Root (a migrate or backup by an operator) makes the file the data dir owner's, as
        # SQLite does its -wal and -shm: the service user must still open it.
        owner = folder.stat()
        if os.geteuid() == 0 and os.fstat(fd).st_uid != owner.st_uid:
            os.fchown(fd, owner.st_uid, owner.st_gid)
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        who = "a running pktcable serve (or another command using it)" if exclusive \
            else "pktcable store restore or migrate"
        raise DataDirBusy(f"data_dir: {folder} is in use by {who}; try again when it is done") from None
    except OSError as exc:
        os.close(fd)
        raise SettingError(f"data_dir: cannot lock {path}: {exc.strerror or exc}") from None
    return DataDirLock(folder, fd, exclusive)


def prepare(path: str | os.PathLike[str]) -> Path:
    """The data dir, created 0700 if missing (an existing one keeps its mode)."""
    folder = Path(path)
    if folder.is_dir():
        return folder
    try:
        folder.mkdir(mode=DIR_MODE, parents=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise SettingError(f"data_dir: cannot create {folder}: {exc.strerror or exc}") from None
    return folder


def private_file(path: Path) -> Path:
    """``path`` exists and is 0600 (created empty if missing), before anything writes to it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))
        os.chmod(path, FILE_MODE)
        for extra in (Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
            if extra.exists():
                os.chmod(extra, FILE_MODE)
    except OSError as exc:
        raise SettingError(f"data_dir: cannot make {path} private: {exc.strerror or exc}") from None
    return path


def cm_key(cfg: ServeConfig, data: Path | None) -> bytes:
    """The CMTS shared secret: ``cm_key``, else the ``cm_key_file``'s text, else
    the one kept in the data dir (made on first start). Without any of them
    there is no key, and no default word stands in for one."""
    if cfg.cm_key is not None and cfg.cm_key_file is not None:
        raise SettingError("cm_key: set cm_key or cm_key_file, not both")
    if cfg.cm_key is not None:
        if not cfg.cm_key:
            raise SettingError("cm_key: empty")
        return cfg.cm_key.encode("utf-8")
    if cfg.cm_key_file is not None:
        return _read_key(Path(cfg.cm_key_file), "cm_key_file")
    if data is None:
        raise SettingError("cm_key: not set, and with no data dir there is nowhere to keep a generated one; "
                           "set cm_key or cm_key_file, or run with --demo")
    path = data / SECRET_FILE
    if not path.exists():
        _create_key(path)
    else:
        try:
            os.chmod(path, FILE_MODE)
        except OSError as exc:
            raise SettingError(f"cm_key: cannot make {path} private: {exc.strerror or exc}") from None
    return _read_key(path, "cm_key")


def _create_key(path: Path) -> None:
    text = secrets.token_urlsafe(SECRET_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return  # another serve made it first; read theirs
    except OSError as exc:
        raise SettingError(f"cm_key: cannot create {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    # The path, never the secret: the CMTS must be given the same key.
    log.warning("generated a CMTS shared secret in %s: configure the CMTS with it", path)


def _read_key(path: Path, setting: str) -> bytes:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise SettingError(f"{setting}: {path} is not a regular file")
        if st.st_mode & 0o004:
            raise SettingError(f"{setting}: {path} is readable by every user (chmod o-r)")
        data = path.read_bytes()
    except OSError as exc:
        raise SettingError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    key = data.rstrip(b"\r\n")  # as the reference compiler reads its key file
    if not key:
        raise SettingError(f"{setting}: {path} is empty")
    return key
