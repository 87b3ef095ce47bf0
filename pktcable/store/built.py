"""The last config file built for each device, per kind (cm, mta), kept so
the API can show an operator what a device was given, also after a restart.

The rows live in the device database (``devices.db``, table ``built_file``, made
by the device store's schema, version 3) through a connection of their own; like the device store they are staged and
written in one transaction per ``commit`` (the server commits them with the
devices), so a boot storm costs one write per batch, not one per file. A
device has at most one row per kind: the table grows with the devices, never
with the builds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from .devices import SCHEMA
from .sqlite import connect


@dataclass(frozen=True, slots=True)
class BuiltFile:
    mac: str
    kind: str  # "cm" or "mta"
    name: str  # the name it was built for (cm-<mac>.cfg, mta-<mac>.cfg, cm.cfg ...)
    built: float
    sha1: str
    data: bytes

    @classmethod
    def of(cls, mac: str, kind: str, name: str, built: float, data: bytes) -> BuiltFile:
        return cls(mac, kind, name, built, hashlib.sha1(data).hexdigest(), bytes(data))


class BuiltFiles(Protocol):
    def put(self, file: BuiltFile) -> None:
        """Stage the device's newest file of its kind."""
        ...

    def commit(self) -> None: ...

    def flush(self) -> None:
        """``commit``, and return once it is written (PostgreSQL's writes go through a thread)."""
        ...

    def of(self, mac: str) -> list[BuiltFile]:
        """The device's last files, CM first."""
        ...

    def delete(self, mac: str) -> None: ...

    def close(self) -> None: ...


#: The kinds of file a device has, in the order the stores list them (ORDER BY kind): a
#: modem's config file, an eMTA's, a SIP phone's profile.
KINDS = ("cm", "mta", "sip")


class MemoryBuiltFiles:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], BuiltFile] = {}

    def put(self, file: BuiltFile) -> None:
        self.rows[file.mac, file.kind] = file

    def commit(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def of(self, mac: str) -> list[BuiltFile]:
        return [self.rows[mac, kind] for kind in KINDS if (mac, kind) in self.rows]

    def delete(self, mac: str) -> None:
        for kind in KINDS:
            self.rows.pop((mac, kind), None)

    def close(self) -> None:
        pass


class SqliteBuiltFiles:
    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        self.db = connect(path, SCHEMA, synchronous=synchronous)
        self.staged: dict[tuple[str, str], BuiltFile] = {}

    def put(self, file: BuiltFile) -> None:
        self.staged[file.mac, file.kind] = file

    def commit(self) -> None:
        if not self.staged:
            return
        rows = [(f.mac, f.kind, f.name, f.built, f.sha1, f.data) for f in self.staged.values()]
        self.staged = {}
        self.db.execute("BEGIN")
        try:
            self.db.executemany("INSERT OR REPLACE INTO built_file VALUES (?,?,?,?,?,?)", rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def flush(self) -> None:
        self.commit()  # written when commit returns

    def of(self, mac: str) -> list[BuiltFile]:
        self.commit()
        rows = self.db.execute("SELECT mac, kind, name, built, sha1, data FROM built_file WHERE mac = ? ORDER BY kind",
                               (mac,))
        return [BuiltFile(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def delete(self, mac: str) -> None:
        self.commit()
        self.db.execute("DELETE FROM built_file WHERE mac = ?", (mac,))

    def close(self) -> None:
        self.commit()
        self.db.close()
