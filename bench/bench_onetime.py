"""What the shared one-time names cost per call, against a PostgreSQL store: a name issued
(written before the SET), a name another node built served (read, then spent), a node's
own name served (spent), and a made-up name asked for (one look-up).

    python bench/bench_onetime.py [--store postgresql://...] [--names 1000] [--runs 5]

Without ``--store``, against a throw-away PostgreSQL server the script starts
(bench/pgserver.py: PostgreSQL's durability defaults, every write a durable commit).
With it, writes into the ``onetime_name`` table of the database given (use a throw-away
one: it is emptied before each run). Prints the median calls per second of each over
the runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgserver  # noqa: E402

from pktcable.delivery.onetime import OneTimeNames  # noqa: E402
from pktcable.store.pg_names import PgSharedNames  # noqa: E402

FILE = bytes(1200)  # an eMTA config file is about this size


def address(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def timed(calls: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return calls / (time.perf_counter() - started)


def one_run(url: str, count: int, run: int) -> dict[str, float]:
    builder, other = PgSharedNames(url), PgSharedNames(url)
    builder.db.execute("DELETE FROM onetime_name")
    a, b = OneTimeNames(shared=builder), OneTimeNames(shared=other)
    now = 1000.0 + run
    names: list[str] = []
    half = count // 2
    out = {"issue": timed(count, lambda: names.extend(
        a.issue(f"mta-{i:012x}.cfg", address(i), now, data=FILE) for i in range(count)))}
    out["served by another node"] = timed(half, lambda: [b.claim(n, address(i), now) for i, n in
                                                        enumerate(names[:half])] and None)
    out["served by its builder"] = timed(count - half, lambda: [a.claim(n, address(i), now) for i, n in
                                                               enumerate(names[half:], half)] and None)
    out["made-up name"] = timed(half, lambda: [b.claim(f"x-{run:04x}{i:016x}.cfg", address(i), now)
                                              for i in range(half)] and None)
    builder.close()
    other.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", help="a PostgreSQL URL (its onetime_name table is emptied); default: a throw-away server")
    ap.add_argument("--names", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if args.store:
        runs = [one_run(args.store, args.names, run) for run in range(args.runs)]
    else:
        with pgserver.running() as pg:
            url = pg.url(pg.new_schema("onetime"))
            runs = [one_run(url, args.names, run) for run in range(args.runs)]
    for what in runs[0]:
        rates = [r[what] for r in runs]
        print(f"{what:24s} median {statistics.median(rates):7.0f}/s  ({1000 / statistics.median(rates):.2f} ms each)")


if __name__ == "__main__":
    main()
