"""Device storage: what the back office knows of each cable modem and eMTA,
and the history of every provisioning step it went through.

Same discipline as the lease store: changes are staged and made durable by
one ``commit`` per batch (the server commits before it answers), SQLite in WAL
mode by default, an in-memory version for tests and demos.

History is bounded by a :class:`Retention`: a device keeps its newest
``keep`` steps (enforced as each batch is written, so a device that loops
through its flow, or a sender that makes it loop, cannot grow its history),
and ``prune(now)`` drops steps older than ``days`` (the server calls it
periodically). A MAC whose every step has aged out leaves nothing behind.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from pktcable.flow import DEFAULT_FLOW

from .query import (
    NO_IP,
    DeviceQuery,
    Page,
    StateCount,
    encode_cursor,
    ip_number,
    select,
    sql_order,
    sql_table,
    sql_where,
    summarize,
)
from .sqlite import BUSY_TIMEOUT_MS, Migration, Schema, Table, connect

DAY = 86400.0
HISTORY_KEEP = 200  # steps per device: a full flow is under 20, retries included
HISTORY_DAYS = 30.0
#: Committed rows the SQLite store keeps in memory for ``get`` (a few seconds of a boot storm).
RECENT_ROWS = 1024


@dataclass(frozen=True, slots=True)
class Retention:
    """How much step history a device keeps: at most ``keep`` steps, none
    older than ``days``."""

    keep: int = HISTORY_KEEP
    days: float = HISTORY_DAYS

    def __post_init__(self) -> None:
        if isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 1:
            raise ValueError(f"history_keep must be a whole number of steps >= 1, not {self.keep!r}")
        if isinstance(self.days, bool) or not isinstance(self.days, int | float) or not 0 < self.days < 1e6:
            raise ValueError(f"history_days must be a number of days > 0, not {self.days!r}")

    def cutoff(self, now: float) -> float:
        """Steps recorded before this time are past their age."""
        return now - self.days * DAY


@dataclass(slots=True)
class Device:
    """One device, keyed by its MAC (lower-case hex, no separators).

    ``kind`` is "cm" or "mta"; an eMTA names its modem in ``cm_mac``.
    ``flow`` is the realm of option 122.6 for an MTA: a :class:`pktcable.flow.Flow` value.
    ``template`` names the config template; ``vars`` are its per-device values.
    ``state``/``result`` mirror the server-side flow machine.
    """

    mac: str
    kind: str = "mta"
    cm_mac: str = ""
    flow: str = DEFAULT_FLOW.value
    template: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    ip: str = ""
    state: str = ""
    result: int | None = None
    updated: float = 0.0


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of a device's history."""

    mac: str
    at: float
    step: str  # spec step label, e.g. "H-MTA-15"
    event: str  # what happened, e.g. "EnrollmentReceived"
    detail: str = ""


def normalize_mac(text: str) -> str:
    """"00:11:22:33:44:55", "0011.2233.4455", "00-11-..." -> "001122334455"."""
    digits = "".join(c for c in text.lower() if c in "0123456789abcdef")
    if len(digits) != 12:
        raise ValueError(f"not a MAC address: {text!r}")
    return digits


def copy_device(d: Device) -> Device:
    """The caller's own copy (its ``vars`` too): a store never hands out the object it keeps.
    Positional construction: about five times cheaper than ``dataclasses.replace``, and
    the store copies on every get and put (a dozen per device in a boot storm)."""
    return Device(d.mac, d.kind, d.cm_mac, d.flow, d.template, dict(d.vars), d.ip, d.state, d.result, d.updated)


#: A device row's columns, in the order :func:`device_row` gives and :func:`row_device` reads
#: (both SQL stores; ``ipnum``, the address as a number, is written after them).
COLUMNS = "mac, kind, cm_mac, flow, template, vars, ip, state, result, updated"


def device_row(d: Device) -> tuple[Any, ...]:
    """The values of ``COLUMNS`` and ``ipnum`` for ``d``."""
    return (d.mac, d.kind, d.cm_mac, d.flow, d.template, json.dumps(d.vars, sort_keys=True), d.ip, d.state,
            d.result, d.updated, ip_number(d.ip))


def row_device(row: Sequence[Any]) -> Device:
    """The device a row of ``COLUMNS`` holds."""
    return Device(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8], row[9])


class DeviceStore(Protocol):
    def get(self, mac: str) -> Device | None: ...

    def prefetched(self, macs: Iterable[str]) -> AbstractContextManager[None]:
        """Within, ``get`` may answer ``macs`` from one look-up made on entry (a DHCP round's
        new bindings); a store whose ``get`` is a local read does nothing."""
        ...

    def put(self, device: Device) -> None:
        """Stage a new or changed device."""
        ...

    def record(self, step: Step) -> None:
        """Stage one history entry."""
        ...

    def commit(self) -> None:
        """Make everything staged durable (PostgreSQL: hand it to the writer thread, which
        makes it so; ``get`` and the store's own reads see it at once)."""
        ...

    def flush(self) -> None:
        """``commit``, and return once it is written (other connections and nodes see it)."""
        ...

    def devices(self) -> Iterable[Device]: ...

    def history(self, mac: str) -> list[Step]: ...

    def counts(self) -> dict[tuple[str, str], int]:
        """How many devices there are of each (kind, state), without loading them."""
        ...

    def delete(self, mac: str) -> bool:
        """Forget a device and its history (durable at once); False if unknown."""
        ...

    def prune(self, now: float) -> int:
        """Drop history older than the retention age; returns how many steps went."""
        ...

    def query(self, q: DeviceQuery) -> Page:
        """One page of the devices ``q`` filters, in its order (committed changes only;
        safe to call from a worker thread while the event loop writes)."""
        ...

    def summary(self) -> list[StateCount]:
        """How many devices are in each state, with what it means: failures first,
        then by count (committed changes only; thread-safe like ``query``)."""
        ...

    def close(self) -> None: ...


class MemoryDeviceStore:
    def __init__(self, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        self.rows: dict[str, Device] = {}
        self.steps: dict[str, list[Step]] = {}

    def get(self, mac: str) -> Device | None:
        found = self.rows.get(mac)
        return None if found is None else copy_device(found)

    def prefetched(self, macs: Iterable[str]) -> AbstractContextManager[None]:
        return nullcontext()

    def put(self, device: Device) -> None:
        self.rows[device.mac] = copy_device(device)

    def record(self, step: Step) -> None:
        steps = self.steps.setdefault(step.mac, [])
        steps.append(step)
        if len(steps) > self.retention.keep:
            del steps[0]

    def commit(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def devices(self) -> Iterable[Device]:
        return [self.get(mac) for mac in sorted(self.rows)]  # type: ignore[misc]

    def history(self, mac: str) -> list[Step]:
        return list(self.steps.get(mac, ()))

    def counts(self) -> dict[tuple[str, str], int]:
        return dict(Counter((d.kind, d.state) for d in self.rows.values()))

    def delete(self, mac: str) -> bool:
        self.steps.pop(mac, None)
        return self.rows.pop(mac, None) is not None

    def prune(self, now: float) -> int:
        cutoff, gone = self.retention.cutoff(now), 0
        kept: dict[str, list[Step]] = {}  # a new dict: a dict never shrinks by deleting from it
        for mac, steps in self.steps.items():
            fresh = [s for s in steps if s.at >= cutoff]
            gone += len(steps) - len(fresh)
            if fresh:
                kept[mac] = fresh
        self.steps = kept
        return gone

    def query(self, q: DeviceQuery) -> Page:
        # list(): one step under the GIL, so a writer on another thread cannot change it mid-way.
        page = select(q, list(self.rows.values()))
        page.items = [copy_device(d) for d in page.items]  # the caller's own copies
        return page

    def summary(self) -> list[StateCount]:
        groups = Counter((d.kind, d.flow, d.state, d.result) for d in list(self.rows.values()))
        return summarize((*key, n) for key, n in groups.items())

    def close(self) -> None:
        pass


# PostgreSQL: text compares byte by byte (COLLATE "C"), as SQLite's does, whatever the
# database's locale: a MAC or address prefix is a range of the index, and the order of
# a page is the memory store's. DOUBLE PRECISION: SQLite's REAL has 8 bytes, PostgreSQL's 4.
_TABLES = (
    Table("device", """CREATE TABLE IF NOT EXISTS device (
        mac TEXT PRIMARY KEY, kind TEXT NOT NULL, cm_mac TEXT NOT NULL, flow TEXT NOT NULL,
        template TEXT NOT NULL, vars TEXT NOT NULL, ip TEXT NOT NULL, state TEXT NOT NULL,
        result INTEGER, updated REAL NOT NULL)""",
          postgresql="""CREATE TABLE IF NOT EXISTS device (
        mac TEXT COLLATE "C" PRIMARY KEY, kind TEXT COLLATE "C" NOT NULL, cm_mac TEXT COLLATE "C" NOT NULL,
        flow TEXT COLLATE "C" NOT NULL, template TEXT COLLATE "C" NOT NULL, vars TEXT NOT NULL,
        ip TEXT COLLATE "C" NOT NULL, state TEXT COLLATE "C" NOT NULL, result INTEGER,
        updated DOUBLE PRECISION NOT NULL)"""),
    Table("step", """CREATE TABLE IF NOT EXISTS step (
        mac TEXT NOT NULL, at REAL NOT NULL, step TEXT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL)""",
          # For prune(): steps arrive in time order, so step_at only ever grows at its end.
          indexes=("CREATE INDEX IF NOT EXISTS step_mac ON step (mac, at)",
                   "CREATE INDEX IF NOT EXISTS step_at ON step (at)"),
          # id: what SQLite's rowid is to the history's order (steps of one instant) and its trim.
          postgresql="""CREATE TABLE IF NOT EXISTS step (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, mac TEXT COLLATE "C" NOT NULL,
        at DOUBLE PRECISION NOT NULL, step TEXT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL)"""),
)


def _number_addresses(db: sqlite3.Connection) -> None:
    """Version 1: each device's address as a number too (``ipnum``), so that sorting by
    address puts 10.1.0.9 before 10.1.0.10; filled in for the rows already there."""
    db.execute(f"ALTER TABLE device ADD COLUMN ipnum INTEGER NOT NULL DEFAULT {NO_IP}")
    rows = db.execute("SELECT mac, ip FROM device WHERE ip <> ''").fetchall()
    db.executemany("UPDATE device SET ipnum = ? WHERE mac = ?", [(ip_number(ip), mac) for mac, ip in rows])


def _number_addresses_pg(db: Any) -> None:
    """Version 1 in PostgreSQL (a psycopg connection)."""
    db.execute(f"ALTER TABLE device ADD COLUMN ipnum BIGINT NOT NULL DEFAULT {NO_IP}")
    rows = db.execute("SELECT mac, ip FROM device WHERE ip <> ''").fetchall()
    if rows:
        db.cursor().executemany("UPDATE device SET ipnum = %s WHERE mac = %s",
                                [(ip_number(ip), mac) for mac, ip in rows])


SCHEMA = Schema("devices", _TABLES, (
    Migration("address numbers", _number_addresses, _number_addresses_pg),
    # Version 2: the sorts and filters of DeviceStore.query; each index ends in the MAC,
    # the tie-break of every sort, so a keyset page is one range of one index.
    Migration("query indexes", (
        "CREATE INDEX device_state ON device (state, mac)",
        "CREATE INDEX device_updated ON device (updated, mac)",
        "CREATE INDEX device_ipnum ON device (ipnum, mac)",
        "CREATE INDEX device_kind ON device (kind, mac)",
    )),
    # Version 3: the last config file built for each device and kind (store/built.py).
    Migration("built files", ("""CREATE TABLE built_file (
        mac TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, built REAL NOT NULL, sha1 TEXT NOT NULL,
        data BLOB NOT NULL, PRIMARY KEY (mac, kind))""",), ("""CREATE TABLE built_file (
        mac TEXT COLLATE "C" NOT NULL, kind TEXT COLLATE "C" NOT NULL, name TEXT NOT NULL,
        built DOUBLE PRECISION NOT NULL, sha1 TEXT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (mac, kind))""",)),
    # Version 4: the one-time file names every serve node on one database may be asked for
    # (pktcable/store/pg_names.py; a SQLite file has the table, unused: one node, in memory).
    # At most one name per target and client, as in a node's memory; expired rows are swept.
    Migration("one-time names", ("""CREATE TABLE onetime_name (
        name TEXT PRIMARY KEY, target TEXT NOT NULL, client_ip TEXT NOT NULL, expires REAL NOT NULL,
        data BLOB, UNIQUE (target, client_ip))""", "CREATE INDEX onetime_name_expires ON onetime_name (expires)"),
              ("""CREATE TABLE onetime_name (
        name TEXT COLLATE "C" PRIMARY KEY, target TEXT COLLATE "C" NOT NULL, client_ip TEXT COLLATE "C" NOT NULL,
        expires DOUBLE PRECISION NOT NULL, data BYTEA, UNIQUE (target, client_ip))""",
               "CREATE INDEX onetime_name_expires ON onetime_name (expires)")),
))
# An upsert rather than INSERT OR REPLACE: REPLACE deletes the row and inserts a new one
# (a new rowid, so the MAC's index entry is rewritten too); an update changes the row in
# place (10 to 15 % less CPU per write, measured by bench/bench_query.py's write figures).
_UPSERT = (f"INSERT INTO device ({COLUMNS}, ipnum) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (mac) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in (*COLUMNS.split(", ")[1:], "ipnum")))
# Everything but the newest ``keep`` steps of one device.
_TRIM = """DELETE FROM step WHERE rowid IN (
    SELECT rowid FROM step WHERE mac = ? ORDER BY at DESC, rowid DESC LIMIT -1 OFFSET ?)"""


class SqliteDeviceStore:
    def __init__(self, path: str, *, synchronous: str = "NORMAL", retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        #: Told the seconds each commit that wrote took (the back office's commit-latency histogram).
        self.on_commit: Callable[[float], None] | None = None
        self.path = path
        self.db = connect(path, SCHEMA, synchronous=synchronous)
        self.staged: dict[str, Device] = {}
        self.staged_steps: list[Step] = []
        # The rows of the last commits, newest last: a device's next step usually comes a
        # few milliseconds after its previous one was written, and this connection is the
        # database's only writer, so a row here is the row on disk (no SELECT for it).
        self._recent: dict[str, Device] = {}
        # query() and summary() read on a connection of their own per thread: a worker
        # thread reads a committed snapshot (WAL) while the event loop writes on self.db.
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def get(self, mac: str) -> Device | None:
        d = self.staged.get(mac) or self._recent.get(mac)
        if d is not None:
            return copy_device(d)
        row = self.db.execute(f"SELECT {COLUMNS} FROM device WHERE mac = ?", (mac,)).fetchone()
        return None if row is None else row_device(row)

    def prefetched(self, macs: Iterable[str]) -> AbstractContextManager[None]:
        return nullcontext()  # a lookup is a read of a local file, and this is its only writer

    def put(self, device: Device) -> None:
        self.staged[device.mac] = copy_device(device)

    def record(self, step: Step) -> None:
        self.staged_steps.append(step)

    def commit(self) -> None:
        if not self.staged and not self.staged_steps:
            return
        devices, steps = list(self.staged.values()), self.staged_steps
        self.staged, self.staged_steps = {}, []
        started = time.perf_counter()
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                _UPSERT,
                [device_row(d) for d in devices],
            )
            self.db.executemany("INSERT INTO step VALUES (?,?,?,?,?)",
                                [(s.mac, s.at, s.step, s.event, s.detail) for s in steps])
            keep = self.retention.keep
            self.db.executemany(_TRIM, [(mac, keep) for mac in {s.mac for s in steps}])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        recent = self._recent
        for d in devices:
            recent.pop(d.mac, None)  # re-inserted at the end: the oldest rows go first
            recent[d.mac] = d
        while len(recent) > RECENT_ROWS:
            del recent[next(iter(recent))]
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started)

    def flush(self) -> None:
        self.commit()  # written when commit returns

    def devices(self) -> Iterable[Device]:
        self.commit()
        return [row_device(row) for row in self.db.execute(f"SELECT {COLUMNS} FROM device ORDER BY mac")]

    def history(self, mac: str) -> list[Step]:
        self.commit()
        rows = self.db.execute("SELECT * FROM step WHERE mac = ? ORDER BY at, rowid", (mac,))
        return [Step(*row) for row in rows]

    def counts(self) -> dict[tuple[str, str], int]:
        self.commit()
        rows = self.db.execute("SELECT kind, state, count(*) FROM device GROUP BY kind, state")
        return {(kind, state): n for kind, state, n in rows}

    def delete(self, mac: str) -> bool:
        self.commit()
        self._recent.pop(mac, None)
        self.db.execute("BEGIN")
        try:
            found = self.db.execute("DELETE FROM device WHERE mac = ?", (mac,)).rowcount > 0
            self.db.execute("DELETE FROM step WHERE mac = ?", (mac,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return found

    def prune(self, now: float) -> int:
        self.commit()
        return self.db.execute("DELETE FROM step WHERE at < ?", (self.retention.cutoff(now),)).rowcount

    def _reader(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            return self.db  # another connection would open another, empty, database
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=BUSY_TIMEOUT_MS / 1000)
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA query_only=ON")  # this connection never writes, whoever holds it
            with self._readers_lock:
                self._readers.append(db)
            self._local.db = db
        return db

    def query(self, q: DeviceQuery) -> Page:
        where, params = sql_where(q, page=True)
        count_where, count_params = sql_where(q, page=False)
        db = self._reader()
        db.execute("BEGIN")  # one snapshot for the page and its total
        try:
            table = sql_table(q)
            rows = db.execute(f"SELECT {COLUMNS} FROM {table} WHERE {where} ORDER BY {sql_order(q)} LIMIT ?",
                              (*params, q.limit + 1)).fetchall()
            total: int = db.execute(f"SELECT count(*) FROM {table} WHERE {count_where}", count_params).fetchone()[0]
        finally:
            db.execute("COMMIT")
        items = [row_device(row) for row in rows[:q.limit]]
        return Page(items, encode_cursor(q, items[-1]) if len(rows) > q.limit else None, total)

    def summary(self) -> list[StateCount]:
        # NOT INDEXED: one scan and a small grouping tree beat walking an index with a
        # lookup per row (half the time, measured in bench/bench_query.py).
        rows = self._reader().execute("SELECT kind, flow, state, result, count(*) FROM device NOT INDEXED "
                                      "GROUP BY kind, flow, state, result").fetchall()
        return summarize(rows)

    def close(self) -> None:
        self.commit()
        self.db.close()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for db in readers:
            db.close()
