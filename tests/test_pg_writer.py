"""The PostgreSQL device store writes in a thread of its own (store/pgwriter.py): a commit
on the event loop hands its batch over and returns, whatever the database is doing.

A slow database is made real: another connection holds ``LOCK TABLE device IN EXCLUSIVE
MODE`` (reads go on, writes wait) for HOLD seconds.

- the commit returns at once, ``get`` answers the row from the batch in flight (no SELECT,
  and the row is not in the database yet), ``history`` waits until it is written;
- at most DEPTH batches are in flight: the next commit waits for the database;
- a batch the database refuses is logged and counted, the next one is written, and the
  failure shows in the metrics;
- ``query`` from a worker thread waits for the batches handed before it;
- batches are written in the order handed; ``close`` never waits longer than asked;
- the back office's burst commit (and the API's settle) hands over, ``commit_now`` waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from pktcable.store.devices import Device, Step
from pktcable.store.pg_devices import PgBuiltFiles, PgDeviceStore
from pktcable.store.pgwriter import DEPTH, Writer
from pktcable.store.query import DeviceQuery

MAC = "0010180c0001"
#: Seconds the table stays locked: far above what a hand-over takes on a loaded machine.
HOLD = 3.0
#: Seconds a commit that hands its batch over may take, at most (a list append and a notify).
QUICK = HOLD / 2
#: Seconds a table stays locked at most, whatever the test does.
LOCK_LIMIT = 20.0


@contextmanager
def locked(url: str, table: str = "device") -> Iterator[Any]:
    """``table`` locked against writes by another connection until the caller releases it
    (``release()``), or on leaving."""
    holder = psycopg.connect(url)  # not autocommit: the lock lasts until the transaction ends
    holder.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    done = threading.Lock()

    def release() -> None:
        with done:
            if not holder.closed:
                holder.rollback()
                holder.close()

    # Released after LOCK_LIMIT whatever happens: a store whose commit waits for the lock
    # (on the caller's thread) fails the test rather than hanging it.
    watchdog = threading.Timer(LOCK_LIMIT, release)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield release
    finally:
        watchdog.cancel()
        release()


def test_a_commit_returns_while_the_database_is_slow(pg_url: str) -> None:
    store = PgDeviceStore(pg_url)
    try:
        with locked(pg_url) as release:
            store.put(Device(MAC, kind="mta", state="DONE", result=1))
            store.record(Step(MAC, 1.0, "MTA-25", "InformReceived", "ok"))
            timer = threading.Timer(HOLD, release)
            started = time.monotonic()
            timer.start()
            store.commit()
            handed = time.monotonic() - started
            assert handed < QUICK  # on the loop before: the whole HOLD, waiting for the lock
            reads = store.reads
            found = store.get(MAC)
            assert found is not None and found.state == "DONE"  # from the batch in flight
            assert store.reads == reads
            with psycopg.connect(pg_url, autocommit=True) as other:  # not in the database yet
                assert other.execute("SELECT count(*) FROM device").fetchone() == (0,)
            assert [s.event for s in store.history(MAC)] == ["InformReceived"]  # waits for the write
            assert time.monotonic() - started >= HOLD * 0.9
            timer.join()
        assert store.failed == 0
    finally:
        store.close()


def test_at_most_depth_batches_are_in_flight(pg_url: str) -> None:
    store = PgDeviceStore(pg_url)
    try:
        with locked(pg_url) as release:
            for n in range(DEPTH):
                store.put(Device(f"0010180c{n:04x}"))
                started = time.monotonic()
                store.commit()
                assert time.monotonic() - started < QUICK
            store.put(Device(f"0010180c{DEPTH:04x}"))
            blocked = threading.Thread(target=store.commit)
            blocked.start()
            blocked.join(HOLD / 3)
            assert blocked.is_alive()  # the database is that slow: the commit waits, memory does not grow
            release()
            blocked.join(30.0)
            assert not blocked.is_alive()
        assert [d.mac for d in store.devices()] == [f"0010180c{n:04x}" for n in range(DEPTH + 1)]
    finally:
        store.close()


def test_a_batch_the_database_refuses_is_logged_counted_and_the_next_is_written(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    store = PgDeviceStore(pg_url)
    try:
        # The server ends the writer's connection (a restart, a failover): the batch that
        # finds it broken is lost, as a commit on the loop raised with its batch before.
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store._writer.db.info.backend_pid,))
        store.put(Device(MAC, template="lost.txt"))
        with caplog.at_level(logging.ERROR, logger="pktcable.store"):
            store.flush()
        assert store.failed == 1
        assert any("not written" in r.getMessage() for r in caplog.records)
        assert "password" not in store._writer.last_error
        store.put(Device("0010180c0002", template="kept.txt"))
        store.record(Step("0010180c0002", 2.0, "MTA-1", "LeaseAcked", ""))
        store.flush()  # a new connection, the batch written
        assert store.failed == 1
        assert [d.mac for d in store.devices()] == ["0010180c0002"]
        assert len(store.history("0010180c0002")) == 1
    finally:
        store.close()


def test_a_write_failure_shows_in_the_metrics(pg_url: str, tmp_path: Any) -> None:
    import asyncio

    from pktcable.serve.app import Backoffice
    from pktcable.serve.config import ServeConfig, check

    office = Backoffice(check(ServeConfig(data_dir=str(tmp_path / "data"), store=pg_url)))
    try:
        devices = office.devices
        assert isinstance(devices, PgDeviceStore)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (devices._writer.db.info.backend_pid,))
        devices.put(Device(MAC))
        devices.flush()
        sample = office.metrics_registry.registry.get_sample_value
        assert sample("pktcable_store_write_failures_total", {"store": "devices"}) == 1.0
        assert sample("pktcable_store_write_failures_total", {"store": "built_files"}) == 0.0
    finally:
        asyncio.run(office.close())


def test_a_query_from_a_worker_thread_waits_for_the_batches_handed_before_it(pg_url: str) -> None:
    store = PgDeviceStore(pg_url)
    try:
        with locked(pg_url) as release:
            store.put(Device(MAC, state="DONE"))
            store.commit()  # as the API's settle() does on the loop before its query
            timer = threading.Timer(HOLD / 2, release)
            timer.start()
            pages: list[Any] = []
            worker = threading.Thread(target=lambda: pages.append(store.query(DeviceQuery())))
            worker.start()
            worker.join(60.0)
            timer.join()
        (page,) = pages
        assert [d.mac for d in page.items] == [MAC] and page.total == 1
        assert [s.state for s in store.summary() if s.count] == ["DONE"]
    finally:
        store.close()


def test_built_files_are_written_by_a_writer_too(pg_url: str) -> None:
    from pktcable.store.built import BuiltFile

    files = PgBuiltFiles(pg_url)
    try:
        with locked(pg_url, "built_file") as release:
            files.put(BuiltFile.of(MAC, "mta", f"mta-{MAC}.cfg", 5.0, b"cfg"))
            timer = threading.Timer(HOLD, release)
            started = time.monotonic()
            timer.start()
            files.commit()
            assert time.monotonic() - started < QUICK
            assert [f.data for f in files.of(MAC)] == [b"cfg"]  # waits for the write
            assert time.monotonic() - started >= HOLD * 0.9
            timer.join()
    finally:
        files.close()


def test_batches_are_written_in_the_order_handed(pg_url: str) -> None:
    seen: list[int] = []
    times: list[float] = []
    def write(db: Any, n: int) -> None:  # a round trip, the number as the database gives it back
        seen.append(db.execute("SELECT %s::int", (n,)).fetchone()[0])

    writer: Writer[int] = Writer(pg_url, write, name="test", written=lambda n, seconds: times.append(seconds))
    try:
        for n in range(50):
            writer.submit(n)
        assert writer.flush(60.0)
        assert seen == list(range(50)) and len(times) == 50
    finally:
        writer.close()
    with pytest.raises(RuntimeError):
        writer.submit(50)


def test_close_waits_no_longer_than_asked(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # A database that does not answer: each batch takes HOLD seconds.
    writer: Writer[float] = Writer(pg_url, lambda db, seconds: db.execute("SELECT pg_sleep(%s)", (seconds,)),
                                   name="test")
    writer.submit(HOLD)
    writer.submit(HOLD)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="pktcable.store"):
        writer.close(timeout=0.2)
    assert time.monotonic() - started < HOLD
    assert any("not written" in r.getMessage() for r in caplog.records)


def test_the_back_offices_burst_commit_hands_over_and_commit_now_waits(pg_url: str, tmp_path: Any) -> None:
    import asyncio

    from pktcable.serve.app import Backoffice
    from pktcable.serve.config import ServeConfig, check

    office = Backoffice(check(ServeConfig(data_dir=str(tmp_path / "data"), store=pg_url)))
    try:
        with locked(pg_url) as release:
            office.devices.put(Device(MAC, state="DONE"))
            started = time.monotonic()
            office.commit_batch()  # the burst timer's and the API settle's: the loop does not wait
            assert time.monotonic() - started < QUICK
            office.devices.put(Device("0010180c0002"))
            timer = threading.Timer(HOLD, release)
            timer.start()
            office.commit_now()  # written for every node when it returns
            assert time.monotonic() - started >= HOLD * 0.9
            timer.join()
        with psycopg.connect(pg_url, autocommit=True) as other:
            assert other.execute("SELECT mac FROM device ORDER BY mac").fetchall() == [(MAC,), ("0010180c0002",)]
    finally:
        asyncio.run(office.close())
