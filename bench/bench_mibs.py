"""Cold-start cost of the OID registry: import plus the first resolve.

Each sample is a fresh interpreter, so nothing is warm but the OS file cache.
Bytecode goes to a temporary cache directory (compiled once before timing),
which is how an installed copy runs; ``--no-bytecode`` times the worst case
where the data module is compiled from source on every start.

Usage: python bench/bench_mibs.py [--runs N] [--no-bytecode]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import dataclasses, re"  # the config compiler imports these anyway
# The registry as the product builds it: pktcable.mibdata reads the generated tables for mibs.
FIRST_RESOLVE = BASELINE + "; from pktcable.mibdata import default_registry; default_registry().resolve('sysContact.0')"
FIRST_FORMAT = (
    BASELINE + "; from pktcable.mibdata import default_registry; r = default_registry(); "
    "r.format(r.resolve('sysContact.0'))"
)


def _time(code: str, runs: int, env: dict[str, str]) -> float:
    """Median wall time of ``python -c code`` in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="compile the modules from source on every start")
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env.pop("PYTHONPYCACHEPREFIX", None)
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache  # keeps the source tree clean
            subprocess.run([sys.executable, "-c", FIRST_FORMAT], cwd=ROOT, env=env, check=True)
        base = _time(BASELINE, args.runs, env)
        resolve = _time(FIRST_RESOLVE, args.runs, env)
        fmt = _time(FIRST_FORMAT, args.runs, env)
    mode = "source (no bytecode)" if args.no_bytecode else "bytecode"
    print(f"command: python bench/bench_mibs.py --runs {args.runs}"
          + (" --no-bytecode" if args.no_bytecode else ""))
    print(f"python {sys.version.split()[0]}, {mode}, median of {args.runs} fresh processes")
    print(f"  interpreter + {BASELINE!r}: {base:7.1f} ms")
    print(f"  + import the registry, first resolve: {resolve:7.1f} ms  (+{resolve - base:.1f} ms)")
    print(f"  + first resolve and format:           {fmt:7.1f} ms  (+{fmt - base:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
