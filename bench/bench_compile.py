"""Compile speed: one cold MTA compile, and 1,000 files in one process.

Usage: python bench/bench_compile.py [--runs N]
Prints the medians; docs/benchmarks.md records them with this command.
The reference figures it compares with were measured on this kind of machine
(2 cores): one file with its MIBs ~0.26 s cold; 1,000 files in one process
1.77 s (CM) / 0.44 s (MTA).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "docsis-compat"
PKTCABLE = [sys.executable, "-m", "pktcable"]
# Measure what an installed copy does: byte-compiled modules are cached.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], runs: int, out_dir: Path | None = None) -> Timing:
    """Median wall time of ``runs`` runs after one warm-up (page cache, .pyc).

    With ``out_dir``, each run writes into a new empty folder under it: on
    this machine's file system (ext4 mounted with discard) replacing or
    deleting 1,000 files just written costs more than compiling them, and
    that would measure the disk, not the compiler.
    """
    samples: list[float] = []
    cpu: list[tuple[float, float]] = []
    for i in range(runs + 1):
        run_cmd = [*cmd, "--out-dir", str(out_dir / f"run{i}")] if out_dir else cmd
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(run_cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=ENV)
        samples.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
    return Timing(
        statistics.median(samples[1:]),
        statistics.median(u for u, _ in cpu[1:]),
        statistics.median(s for _, s in cpu[1:]),
    )


class Timing(NamedTuple):
    wall: float
    user: float
    sys: float

    def __str__(self) -> str:
        return f"{self.wall:.3f} s wall ({self.user:.3f} user, {self.sys:.3f} sys)"


def batch(kind: str, src: Path, extra: list[str], runs: int, distinct: bool = False) -> Timing:
    """1,000 copies of ``src``; with ``distinct`` every file differs in its
    string values (per-device files), so no statement repeats across files."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        text = src.read_text()
        for i in range(1000):
            p = Path(tmp) / f"{kind}{i:04d}.txt"
            p.write_text(text.replace('"', f'"{i:04d}', 1) if distinct else text)
            inputs.append(str(p))
        return timed([*PKTCABLE, "compile", *inputs, *extra], runs, Path(tmp))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "x.bin")
        mta = timed([*PKTCABLE, "compile", str(DATA / "mta_ncs.txt"), "--hash", "cablelabs", "-o", out], args.runs)
        cm = timed([*PKTCABLE, "compile", str(DATA / "cm_basic.txt"), "--key", str(DATA / "key"), "-o", out],
                   args.runs)
        bare = timed([sys.executable, "-c", "pass"], args.runs)
    print(f"interpreter start alone:            {bare}")
    print(f"cold compile, one MTA file (+hash): {mta}   (reference 0.26 s)")
    print(f"cold compile, one CM file:          {cm}   (reference 0.24-0.27 s)")
    runs = max(1, args.runs // 3)
    mta_batch = batch("mta", DATA / "mta_ncs.txt", ["--hash", "cablelabs"], runs)
    cm_batch = batch("cm", DATA / "cm_basic.txt", ["--key", str(DATA / "key")], runs)
    mta_distinct = batch("mta", DATA / "mta_ncs.txt", ["--hash", "cablelabs"], runs, distinct=True)
    cm_distinct = batch("cm", DATA / "cm_basic.txt", ["--key", str(DATA / "key")], runs, distinct=True)
    print(f"1,000 MTA files, one process:       {mta_batch}  (reference 0.44 s)")
    print(f"1,000 CM files, one process:        {cm_batch}  (reference 1.77 s)")
    print(f"1,000 distinct MTA files:           {mta_distinct}")
    print(f"1,000 distinct CM files:            {cm_distinct}")


if __name__ == "__main__":
    main()
