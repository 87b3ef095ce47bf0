"""Compile speed: one cold MTA compile, and 1,000 files in one process.

Usage: python bench/bench_compile.py [--runs N]
Prints the medians; docs/benchmarks.md records them with this command.
The reference figures it compares with were measured on this kind of machine
(2 cores): one file with its MIBs ~0.26 s cold; 1,000 files in one process
1.77 s (CM) / 0.44 s (MTA).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "docsis-compat"
PKTCABLE = [sys.executable, "-m", "pktcable"]


def timed(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs + 1):  # one warm-up run for the page cache and .pyc files
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples[1:])


def batch(kind: str, src: Path, extra: list[str], runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        for i in range(1000):
            p = Path(tmp) / f"{kind}{i:04d}.txt"
            shutil.copyfile(src, p)
            inputs.append(str(p))
        out = Path(tmp) / "out"
        return timed([*PKTCABLE, "compile", *inputs, "--out-dir", str(out), *extra], runs)


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
    print(f"interpreter start alone:           {bare:.3f} s")
    print(f"cold compile, one MTA file (+hash): {mta:.3f} s   (reference 0.26 s)")
    print(f"cold compile, one CM file:          {cm:.3f} s   (reference 0.24-0.27 s)")
    runs = max(1, args.runs // 3)
    mta_batch = batch("mta", DATA / "mta_ncs.txt", ["--hash", "cablelabs"], runs)
    cm_batch = batch("cm", DATA / "cm_basic.txt", ["--key", str(DATA / "key")], runs)
    print(f"1,000 MTA files, one process:       {mta_batch:.2f} s  (reference 0.44 s)")
    print(f"1,000 CM files, one process:        {cm_batch:.2f} s  (reference 1.77 s)")


if __name__ == "__main__":
    main()
