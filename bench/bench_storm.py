"""Boot storm: N simulated eMTAs (eCM first) through a flow against `pktcable serve`.

Usage: python bench/bench_storm.py [--count 10000] [--rate 1500] [--flow hybrid.2]

Starts `pktcable serve` as its own process (SQLite stores in a temporary
folder) and `pktcable simulate` as another, both on loopback, on this
machine's two cores. Prints devices provisioned per second, the p99 of the
per-device flow time, failures, and the server's resident memory before and
after (and per device tracked). Then, as the anchor of the server's CPU per
device, Kea's CPU per DORA at the same DHCP rate (two DORAs per device), in the
same run (bench/kea_anchor.py; --no-anchor to skip it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kea_anchor  # noqa: E402 - bench/ is the script folder
from procstat import cpu_seconds, rss_kib  # noqa: E402 - bench/ is the script folder

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=1500.0)
    ap.add_argument("--flow", default="hybrid.2")
    ap.add_argument("--no-anchor", action="store_true", help="skip the Kea anchor")
    ap.add_argument("--anchor-seconds", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--data-dir", tmp, "--auto-enroll"],
                                  stderr=log, text=True, env=ENV, cwd=ROOT)
        try:
            for _ in range(100):  # until it has printed its addresses and its store
                if (Path(tmp) / "serve.log").read_text().count("\n") >= 7:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            before = rss_kib(server.pid)
            cpu_before = cpu_seconds(server.pid)
            report = Path(tmp) / "report.json"
            t0 = time.perf_counter()
            sim = subprocess.run([sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1",
                                  "--flow", args.flow, "--count", str(args.count), "--rate", str(args.rate),
                                  "--report", str(report), "--quiet"], capture_output=True, text=True, env=ENV,
                                 cwd=ROOT)
            wall = time.perf_counter() - t0
            # The simulator is the only child reaped so far: its CPU, to see what is left of two cores.
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            sim_cpu = usage.ru_utime + usage.ru_stime
            after = rss_kib(server.pid)
            cpu = cpu_seconds(server.pid) - cpu_before
            data = json.loads(report.read_text())
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
            log.close()
            errors = [line for line in (Path(tmp) / "serve.log").read_text().splitlines() if "Error" in line]
    print(f"command: python bench/bench_storm.py --count {args.count} --rate {args.rate:g} --flow {args.flow}")
    print(sim.stdout.splitlines()[0] if sim.stdout else sim.stderr[-2000:])
    print(f"devices {data['devices']}, passed {data['passed']}, failed {data['failed']} "
          f"({data['final_states']}); simulate wall {wall:.1f} s")
    print(f"provisioned/s {data['devices_per_s']}; flow time p50 {data['flow_time_s']['p50']} s, "
          f"p99 {data['flow_time_s']['p99']} s")
    print(f"server RSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after: "
          f"{(after - before) / max(args.count, 1) * 1024:.0f} bytes per device tracked")
    print(f"server CPU {cpu:.1f} s: {cpu / max(args.count, 1) * 1e3:.2f} ms per device; "
          f"server {cpu / wall:.2f} + simulator {sim_cpu / wall:.2f} cores busy of {os.cpu_count()}")
    print(f"server errors logged: {len(errors)}", *errors[:5], sep="\n  ")
    for dev in data["deviations"][:10]:
        print(f"  deviation {dev['step']}: {dev['text']} ({dev['devices']} devices)")
    why = "--no-anchor" if args.no_anchor else kea_anchor.why_not()
    if why is not None:
        print(f"Kea anchor: not measured ({why})")
        return
    rate = max(int(2 * args.rate), 1)
    anchor = kea_anchor.measure(rate, args.anchor_seconds)
    print(f"Kea anchor (perfdhcp {rate} DORA/s for {args.anchor_seconds} s): {anchor.dora} DORAs, "
          f"CPU {anchor.cpu:.2f} s: {anchor.per_dora * 1e6:.0f} µs per DORA; server CPU per device = "
          f"{cpu / max(args.count, 1) / anchor.per_dora:.1f} x Kea's per DORA")


if __name__ == "__main__":
    main()
