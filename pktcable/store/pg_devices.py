"""The device store and the built files in PostgreSQL: what SqliteDeviceStore and
SqliteBuiltFiles do (the same tests hold both to it), over psycopg 3.

Changes are staged, as with SQLite, but ``commit`` does not write them: it hands the batch
to a writer thread with a connection of its own (pgwriter.py), which writes the batches in
order, one transaction each, while the event loop goes on (a commit is several round trips,
tens of milliseconds on a loaded machine: on the loop, every answer due meanwhile waited).
``get`` sees a row at once (staged, then the batches not yet written, then the rows written
last); the reads of the database itself (``history``, ``devices``, ``counts``, ``query``,
``summary``) and ``delete``, ``prune``, ``close`` first wait until the writer has written
everything handed to it (``flush``). The loop's own connection reads; ``query`` and
``summary`` read through a small pool (psycopg-pool), each in one REPEATABLE READ,
read-only transaction, so a worker thread sees a committed snapshot. The device query is
query.py's, in PostgreSQL's dialect.

Several serve nodes may write one database, so what this store remembers of the rows is
bounded in time. A DHCP round's new bindings are looked up together, fresh, in one
``SELECT`` (:meth:`PgDeviceStore.prefetched`): the device a client is, created or changed by
another node, is seen at the client's next binding here, and a round of new clients costs
one round trip, not one each. A row this node wrote answers ``get`` for :data:`RECENT_TTL`
seconds after the write (the rest of the device's flow here), then is read again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .built import BuiltFile
from .devices import COLUMNS, RECENT_ROWS, SCHEMA, Device, Retention, Step, copy_device, device_row, row_device
from .pg import Reconnecting, connect, params, redact, text_row
from .pgwriter import Writer
from .query import (
    POSTGRESQL,
    DeviceQuery,
    Page,
    StateCount,
    encode_cursor,
    sql_order,
    sql_table,
    sql_where,
    summarize,
)

#: Reader connections at most (the API's worker threads); one is kept open.
POOL_MAX = 4
#: Seconds a row this node wrote answers ``get`` without a round trip. Longer than a device's
#: whole flow on this node (its file, ToD, INFORM) even in a storm, when flows take 5-15 s:
#: 5 s was measured to cost the storms most of their devices (the rows read again mid-flow, on
#: the event loop), docs/benchmarks.md. A change another node made is hidden this long at
#: most (a device reaching this node by a new binding is read fresh anyway).
RECENT_TTL = 30.0
# A batch is three statements whatever its size, each given one array per column (not
# three per row): the statement count stays fixed as a storm's batches grow. Measured at
# batches of 50 it costs what executemany's pipeline did (bench_query.py --store).
_DEVICE_TYPES = ("text", "text", "text", "text", "text", "text", "text", "text", "int4", "float8", "int8")
_UPSERT = (f"INSERT INTO device ({COLUMNS}, ipnum) SELECT * FROM unnest("
           + ", ".join(f"%s::{t}[]" for t in _DEVICE_TYPES) + ") ON CONFLICT (mac) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in (*COLUMNS.split(", ")[1:], "ipnum")))
_STEPS = ("INSERT INTO step (mac, at, step, event, detail) "
          "SELECT * FROM unnest(%s::text[], %s::float8[], %s::text[], %s::text[], %s::text[])")
# Everything but the newest ``keep`` steps of each device named (id: the order of one instant's steps).
_TRIM = """DELETE FROM step WHERE id IN (SELECT id FROM (
    SELECT id, row_number() OVER (PARTITION BY mac ORDER BY at DESC, id DESC) AS newest
    FROM step WHERE mac = ANY(%s::text[])) AS ranked WHERE newest > %s)"""


@dataclass(slots=True)
class _Batch:
    """What one ``commit`` hands the writer: the devices' rows (by MAC) and the steps."""

    devices: dict[str, Device]
    steps: list[Step]


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _reader_setup(db: Any) -> None:
    # Never prepared: a filter's selectivity varies with its values (half the devices failed,
    # or one), and a generic plan would be one plan for all of them.
    db.prepare_threshold = None
    db.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    db.commit()  # the SET opened a transaction (the pool's connections are not in autocommit)


class PgDeviceStore(Reconnecting):
    def __init__(self, url: str, *, retention: Retention | None = None, pool_max: int = POOL_MAX,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from psycopg_pool import ConnectionPool

        self.retention = retention or Retention()
        #: Told the seconds each batch's write took (the back office's commit-latency histogram),
        #: in the writer thread: it must be thread-safe.
        self.on_commit: Callable[[float], None] | None = None
        self.url = url
        self.db = connect(url, SCHEMA)
        self.staged: dict[str, Device] = {}
        self.staged_steps: list[Step] = []
        # The rows of the last commits, for ``get`` without a round trip, each with when it was
        # written (``clock``): trusted for RECENT_TTL only, as other nodes may write the row.
        self.clock = clock
        self._recent: dict[str, tuple[Device, float]] = {}
        #: A DHCP round's look-up (``prefetched``): MAC -> its row, or None when not stored.
        self._round: dict[str, Device | None] = {}
        #: SELECTs of device rows made (by ``get`` and by a round's look-up): the cost the
        #: caches save, for tests and benchmarks.
        self.reads = 0
        #: Guards ``_recent``, which the writer thread fills and the loop reads.
        self._lock = threading.Lock()
        try:
            self._writer: Writer[_Batch] = Writer(url, self._write, name=f"pktcable-devices {redact(url)}",
                                                  written=self._written)
        except BaseException:
            self.db.close()
            raise
        try:
            self._pool = ConnectionPool(url, min_size=1, max_size=pool_max, open=True, configure=_reader_setup,
                                        kwargs={"autocommit": False, "application_name": "pktcable-reader"},
                                        name=f"pktcable-devices {redact(url)}")
        except BaseException:
            self._writer.close()
            self.db.close()
            raise

    def get(self, mac: str) -> Device | None:
        d = self.staged.get(mac)
        if d is None and mac in self._round:
            d = self._round[mac]
            return None if d is None else copy_device(d)
        if d is None:
            d = self._written_here(mac)
        if d is not None:
            return copy_device(d)
        self.reads += 1
        row = self.db.execute(f"SELECT {COLUMNS} FROM device WHERE mac = %s", (mac,)).fetchone()
        return None if row is None else row_device(row)

    def _written_here(self, mac: str) -> Device | None:
        """The row of ``mac`` this node handed its writer last: in a batch not yet written,
        else in one written within RECENT_TTL; None when there is none."""
        # The batches first, newest first: a batch is added to the recent rows before it
        # leaves the writer's queue, so a row is always in one or the other.
        for batch in reversed(self._writer.pending()):
            found = batch.devices.get(mac)
            if found is not None:
                return found
        with self._lock:
            recent = self._recent.get(mac)
        if recent is not None and self.clock() - recent[1] < RECENT_TTL:
            return recent[0]
        return None

    @contextmanager
    def prefetched(self, macs: Iterable[str]) -> Iterator[None]:
        """Within, ``get`` answers ``macs`` from one fresh ``SELECT`` made on entry (rows this
        node has staged or not yet written excepted): a DHCP round's new bindings, looked up
        in one round trip."""
        unwritten = {mac for batch in self._writer.pending() for mac in batch.devices}
        wanted = [mac for mac in dict.fromkeys(macs) if mac not in self.staged and mac not in unwritten]
        if wanted:
            self.reads += 1
            rows = self.db.execute(f"SELECT {COLUMNS} FROM device WHERE mac = ANY(%s)", (wanted,))
            found = {device.mac: device for device in map(row_device, rows)}
            self._round = {mac: found.get(mac) for mac in wanted}
        try:
            yield
        finally:
            self._round = {}

    def put(self, device: Device) -> None:
        self.staged[device.mac] = copy_device(device)

    def record(self, step: Step) -> None:
        self.staged_steps.append(step)

    def commit(self) -> None:
        """Hand what is staged to the writer thread and return: written in the order
        handed, seen by ``get`` at once, by the other reads once written (they ``flush``).
        Waits only when DEPTH batches are already waiting (the database is that slow)."""
        if not self.staged and not self.staged_steps:
            return
        batch = _Batch(self.staged, self.staged_steps)
        self.staged, self.staged_steps = {}, []
        for mac in batch.devices:
            self._round.pop(mac, None)
        self._writer.submit(batch)

    def flush(self) -> None:
        """Commit what is staged and wait until the writer has written every batch handed
        to it: what the reads of the database itself need to see this node's writes."""
        self.commit()
        self._writer.flush()

    @property
    def failed(self) -> int:
        """Batches the writer could not write (the database's reason is logged at ERROR)."""
        return self._writer.failed

    def _write(self, db: Any, batch: _Batch) -> None:
        """One batch in one transaction (the writer thread, on its own connection)."""
        devices, steps = list(batch.devices.values()), batch.steps
        with db.transaction():
            if devices:
                db.execute(_UPSERT, _columns([text_row(device_row(d)) for d in devices]))
            if steps:
                db.execute(_STEPS, _columns([text_row((s.mac, s.at, s.step, s.event, s.detail)) for s in steps]))
                # prepare=False: planned for these devices each time. A prepared (generic) plan made
                # while the table was small keeps scanning it whole once it has grown (10x slower,
                # measured with bench/bench_query.py --store).
                db.execute(_TRIM, (sorted({s.mac for s in steps}), self.retention.keep), prepare=False)

    def _written(self, batch: _Batch, seconds: float) -> None:
        """After a batch is written (the writer thread): its rows answer ``get`` for
        RECENT_TTL, and the commit-latency histogram is told (prometheus_client's
        observe is thread-safe)."""
        written = self.clock()
        with self._lock:
            recent = self._recent
            for mac, d in batch.devices.items():
                recent.pop(mac, None)
                recent[mac] = (d, written)
            while len(recent) > RECENT_ROWS:
                del recent[next(iter(recent))]
        if self.on_commit is not None:
            self.on_commit(seconds)

    def devices(self) -> Iterable[Device]:
        self.flush()
        return [row_device(row) for row in self.db.execute(f"SELECT {COLUMNS} FROM device ORDER BY mac")]

    def history(self, mac: str) -> list[Step]:
        self.flush()
        rows = self.db.execute("SELECT mac, at, step, event, detail FROM step WHERE mac = %s ORDER BY at, id", (mac,))
        return [Step(*row) for row in rows]

    def counts(self) -> dict[tuple[str, str], int]:
        self.flush()
        rows = self.db.execute("SELECT kind, state, count(*) FROM device GROUP BY kind, state")
        return {(kind, state): n for kind, state, n in rows}

    def delete(self, mac: str) -> bool:
        self.flush()
        with self._lock:
            self._recent.pop(mac, None)
        self._round.pop(mac, None)
        with self.db.transaction():
            found = self.db.execute("DELETE FROM device WHERE mac = %s", (mac,)).rowcount > 0
            self.db.execute("DELETE FROM step WHERE mac = %s", (mac,))
        return found

    def prune(self, now: float) -> int:
        self.flush()
        return self.db.execute("DELETE FROM step WHERE at < %s", (self.retention.cutoff(now),)).rowcount

    def query(self, q: DeviceQuery) -> Page:
        where, args = sql_where(q, page=True, dialect=POSTGRESQL)
        count_where, count_args = sql_where(q, page=False, dialect=POSTGRESQL)
        table = sql_table(q, POSTGRESQL)
        self._writer.flush()  # what this node handed its writer so far is part of the answer
        with self._pool.connection() as db:  # one transaction: one snapshot for the page and its total
            rows = db.execute(params(f"SELECT {COLUMNS} FROM {table} WHERE {where} ORDER BY {sql_order(q)} "
                                     "LIMIT ?"), (*args, q.limit + 1)).fetchall()
            found = db.execute(params(f"SELECT count(*) FROM {table} WHERE {count_where}"), count_args).fetchone()
        total = int(found[0]) if found else 0
        items = [row_device(row) for row in rows[:q.limit]]
        return Page(items, encode_cursor(q, items[-1]) if len(rows) > q.limit else None, total)

    def summary(self) -> list[StateCount]:
        self._writer.flush()
        with self._pool.connection() as db:
            rows = db.execute("SELECT kind, flow, state, result, count(*) FROM device "
                              "GROUP BY kind, flow, state, result").fetchall()
        return summarize(rows)

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._writer.close()
            self.db.close()
            self._pool.close()


class PgBuiltFiles(Reconnecting):
    """SqliteBuiltFiles over PostgreSQL: the device schema's ``built_file`` table, written
    by a writer thread as PgDeviceStore's rows are (``of`` and ``delete`` wait for it)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = connect(url, SCHEMA)
        self.staged: dict[tuple[str, str], BuiltFile] = {}
        try:
            self._writer: Writer[list[BuiltFile]] = Writer(url, _write_files, name=f"pktcable-files {redact(url)}")
        except BaseException:
            self.db.close()
            raise

    def put(self, file: BuiltFile) -> None:
        self.staged[file.mac, file.kind] = file

    def commit(self) -> None:
        """Hand what is staged to the writer thread and return (see PgDeviceStore.commit)."""
        if not self.staged:
            return
        files = list(self.staged.values())
        self.staged = {}
        self._writer.submit(files)

    def flush(self) -> None:
        """Commit what is staged and wait until it is written."""
        self.commit()
        self._writer.flush()

    @property
    def failed(self) -> int:
        """Batches the writer could not write (the database's reason is logged at ERROR)."""
        return self._writer.failed

    def of(self, mac: str) -> list[BuiltFile]:
        self.flush()
        rows = self.db.execute("SELECT mac, kind, name, built, sha1, data FROM built_file WHERE mac = %s "
                               "ORDER BY kind", (mac,))
        return [BuiltFile(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def delete(self, mac: str) -> None:
        self.flush()
        self.db.execute("DELETE FROM built_file WHERE mac = %s", (mac,))

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._writer.close()
            self.db.close()


def _write_files(db: Any, files: list[BuiltFile]) -> None:
    rows = [text_row((f.mac, f.kind, f.name, f.built, f.sha1, f.data)) for f in files]
    with db.transaction():
        db.cursor().executemany(
            "INSERT INTO built_file (mac, kind, name, built, sha1, data) VALUES (%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (mac, kind) DO UPDATE SET name = excluded.name, built = excluded.built, "
            "sha1 = excluded.sha1, data = excluded.data", rows)


__all__ = ["PgBuiltFiles", "PgDeviceStore"]
