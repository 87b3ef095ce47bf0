"""What the shared-table lease write costs: PostgreSQL lease commits as one serve writes
them (plain upsert, ``commit()``) and as serve nodes sharing the table write them (the
conditional upsert that refuses another client's binding, ``commit(now)``).

    python bench/bench_leaseclaim.py --store postgresql://... [--leases 4000] [--runs 5]

Writes into the ``lease4`` table of the database given (use a throw-away one: it is
emptied before each run). Prints, per batch size (leases per commit), the median leases
per second of each write.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pktcable.store import Lease  # noqa: E402
from pktcable.store.pg_leases import PgLeaseStore  # noqa: E402


def rate(store: PgLeaseStore, leases: int, batch: int, now: float | None, run: int) -> float:
    store.db.execute("DELETE FROM lease4")
    store.db.commit()
    started = time.perf_counter()
    for i in range(leases // batch):
        for j in range(batch):
            a = 0x0A000000 + i * batch + j
            store.put(Lease(IPv4Address(a), f"01{a:012x}", "aa:bb:cc:dd:ee:ff", 5000.0 + run))
        store.commit(now)
    return leases // batch * batch / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True, help="a PostgreSQL URL (its lease4 table is emptied)")
    ap.add_argument("--leases", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    store = PgLeaseStore(args.store)
    for batch in (1, 64):
        for name, now in (("upsert (one node)", None), ("conditional (shared)", 1000.0)):
            rates = [rate(store, args.leases, batch, now, run) for run in range(args.runs)]
            print(f"{batch:3d} per commit  {name:21s} median {statistics.median(rates):8.0f} leases/s")
    store.close()


if __name__ == "__main__":
    main()
