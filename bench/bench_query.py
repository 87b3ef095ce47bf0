"""Device queries on a large SQLite device store (or a PostgreSQL one: --store URL).

Usage: python bench/bench_query.py [--devices 100000] [--runs 21] [--writes 10000] [--store URL]

Fills a temporary devices.db with N devices (a storm's aftermath: 45 % failed at
H-MTA-19, 40 % done, the rest on the way or new), then times, each as the median of
--runs calls on the store's read connection: the first page of failures, the page
that starts 90 % of the way into the list (by MAC and by address), the newest
changes (sort=-updated), a failed-step filter, and the summary. Each line gives the
page's size and the total the query counted, which every call computes as well.

Then what the query indexes cost the writer: --writes devices each written six times
(a HYBRID.2 run's states) with a step each, in batches of 50 as a storm commits them,
with the indexes and with them dropped; CPU seconds, the best of three.

With ``--store postgresql://...`` the same runs go to that database (its device tables
are emptied first: give it a database of its own). There the server does the work, so
the write figures are wall-clock seconds (this process's CPU beside them), with the
query indexes only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pktcable.store.devices import Device, DeviceStore, SqliteDeviceStore, Step  # noqa: E402
from pktcable.store.query import DeviceQuery, Page  # noqa: E402


def fill(store: DeviceStore, n: int) -> None:
    rng = random.Random(1)
    for i in range(n):
        pick = rng.random()
        state, result = ("FAILED_SET", 7) if pick < 0.45 else ("DONE", 1) if pick < 0.85 else \
            ("CONFIG_READY", None) if pick < 0.95 else ("", None)
        store.put(Device(f"{rng.randrange(2**48):012x}", kind="mta", flow="HYBRID.2", template="mta.txt",
                         ip=f"10.{1 + i // 65536}.{(i // 256) % 256}.{i % 256}" if state else "", state=state,
                         result=result, updated=1_764_700_000 + rng.random() * 3600))
        if i % 5000 == 4999:
            store.commit()
    store.commit()


QUERY_INDEXES = ("device_state", "device_updated", "device_ipnum", "device_kind")
RUN = ("LEASED", "ENROLLED", "CONFIG_READY", "LOCATION_SET", "FILE_SERVED", "DONE")


def open_store(folder: str, url: str | None) -> DeviceStore:
    """A new, empty device store: a SQLite file in ``folder``, or the database ``url`` emptied."""
    if url is None:
        return SqliteDeviceStore(str(Path(folder) / "devices.db"))
    from pktcable.store.pg_devices import PgDeviceStore

    store = PgDeviceStore(url)
    store.db.execute("TRUNCATE device, step")
    return store


def write_cost(n: int, indexes: bool, url: str | None = None) -> tuple[float, float]:
    """CPU and wall seconds to write ``n`` devices through RUN's states, batches of 50."""
    with tempfile.TemporaryDirectory() as tmp:
        store: Any = open_store(tmp, url)
        if not indexes:
            for name in QUERY_INDEXES:
                store.db.execute(f"DROP INDEX {name}")
        rng = random.Random(1)
        macs = [f"{rng.randrange(2**48):012x}" for _ in range(n)]
        start, wall = time.process_time(), time.perf_counter()
        for turn, state in enumerate(RUN):
            for first in range(0, n, 50):
                for i, mac in enumerate(macs[first:first + 50], first):
                    at = turn * 10 + i / n
                    store.put(Device(mac, ip=f"10.1.{i // 256 % 256}.{i % 256}", state=state, updated=at))
                    store.record(Step(mac, at, "H-MTA-15", state))
                store.commit()
        spent, wall = time.process_time() - start, time.perf_counter() - wall
        store.close()
    return spent, wall


def deep_cursor(store: DeviceStore, sort: str, skip: int) -> str | None:
    """The cursor of the page that starts ``skip`` devices in (found page by page, 1,000 at a time)."""
    cursor, seen = None, 0
    while seen < skip:
        page = store.query(DeviceQuery(sort=sort, limit=min(1000, skip - seen), cursor=cursor))
        seen += len(page.items)
        cursor = page.next
    return cursor


def timed(runs: int, call: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--writes", type=int, default=10_000)
    ap.add_argument("--store", metavar="URL", help="a PostgreSQL database to run on instead (emptied first)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(tmp, args.store)
        start = time.perf_counter()
        fill(store, args.devices)
        where = "in PostgreSQL" if args.store else f"{(Path(tmp) / 'devices.db').stat().st_size / 1e6:.1f} MB"
        print(f"filled {args.devices} devices in {time.perf_counter() - start:.1f} s ({where})")
        deep = args.devices * 9 // 10
        cases: list[tuple[str, DeviceQuery]] = [
            ("first page of failures (outcome=fail, 100)", DeviceQuery(outcome="fail")),
            ("first page, failed_step=H-MTA-19 (100)", DeviceQuery(failed_step="H-MTA-19")),
            (f"page at {deep} by mac (100)", DeviceQuery(cursor=deep_cursor(store, "mac", deep))),
            (f"page at {deep} by ip (100)", DeviceQuery(sort="ip", cursor=deep_cursor(store, "ip", deep))),
            ("newest changes, sort=-updated (100)", DeviceQuery(sort="updated", descending=True)),
            ("address prefix 10.1.7. (100)", DeviceQuery(address="10.1.7.")),
            ("free text 'ab12' (100)", DeviceQuery(text="ab12")),
            ("first page of failures, 1,000", DeviceQuery(outcome="fail", limit=1000)),
        ]
        print(f"{'case':44} {'median ms':>10} {'items':>6} {'total':>7}")
        for name, query in cases:
            ms, page = timed(args.runs, lambda q=query: store.query(q))  # type: ignore[misc]
            assert isinstance(page, Page)
            print(f"{name:44} {ms:10.1f} {len(page.items):6} {page.total:7}")
        ms, rows = timed(args.runs, store.summary)
        print(f"{'summary':44} {ms:10.1f} {len(rows):6}")  # type: ignore[arg-type]
        store.close()
    writes = args.writes * len(RUN)
    if args.store:
        cpu, wall = min((write_cost(args.writes, True, args.store) for _ in range(3)), key=lambda c: c[1])
        print(f"{writes} device writes + steps, with the query indexes: {wall:.2f} s "
              f"({wall / writes * 1e6:.0f} us a write; {cpu:.2f} s CPU in this process)")
        return
    for indexes in (True, False):
        best = min(write_cost(args.writes, indexes)[0] for _ in range(3))
        print(f"{writes} device writes + steps, {'with' if indexes else 'without'} the query indexes: "
              f"{best:.2f} s CPU ({best / writes * 1e6:.0f} us a write)")


if __name__ == "__main__":
    main()
