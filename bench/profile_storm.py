"""Where `pktcable serve`'s CPU goes per device in a boot storm, by service.

Usage: python bench/profile_storm.py [--count 600] [--rate 20] [--flow hybrid.2]

Runs `pktcable serve` (SQLite stores in a temporary folder, --auto-enroll)
under cProfile with the process CPU clock as its timer, so that time the
server spends descheduled or waiting on the disk (another process busy on a
shared machine) is not charged to whatever function was running, and
`pktcable simulate` against it; then prints, per entry point of the event
loop, the CPU microseconds per device (cumulative: "of which" rows are
inside the row above them). The profiler's own cost inflates every figure
(about 3x); compare rows and runs with each other, not with bench_storm.py.
Keep the rate low enough that every device passes: in overload the figures
include the devices' retransmissions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import runpy
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

#: (row, file the function is in, function): the event loop's entry points into each service.
AREAS = (
    ("DHCP: read, engine, lease commit, reply", "pktcable/dhcpd/transport.py", "_readable"),
    ("  of which lease-store commits", "pktcable/store/leases.py", "commit"),
    ("  of which the back office's lease event (device row, flow start)", "pktcable/serve/app.py",
     "_guarded_dhcp"),
    ("SNMP in: INFORMs decoded, handled, answered; SET Responses", "pktcable/snmp/aio.py", "datagram_received"),
    ("  of which the entity's INFORM handling", "pktcable/serve/app.py", "_guarded_snmp"),
    ("entity task: file built, URL published, SET sent", "pktcable/provision/entity.py", "_configure"),
    ("  of which building the file", "pktcable/delivery/resolvers.py", "build"),
    ("TFTP RRQ: gate, file, transfer socket, first DATA", "pktcable/delivery/tftp_aio.py", "_on_listener"),
    ("TFTP transfers: ACK/DATA, close, delivered event", "pktcable/delivery/tftp_aio.py", "_on_readable"),
    ("TFTP retransmission timer", "pktcable/delivery/tftp_aio.py", "_on_timer"),
    ("ToD", "pktcable/delivery/tod.py", "datagram_received"),
    ("device-store and built-file commits", "pktcable/serve/app.py", "_commit"),
    ("1 s ticker (timers, expiry, commits)", "pktcable/serve/app.py", "_tick"),
    ("event loop, all of it", "asyncio/base_events.py", "run_forever"),
)


def serve_child(out: str, data_dir: str) -> None:
    """The server under the profiler (the parent sends SIGINT to stop it)."""
    sys.argv = ["pktcable", "serve", "--data-dir", data_dir, "--auto-enroll"]
    prof = cProfile.Profile(time.process_time)
    try:
        prof.runcall(runpy.run_module, "pktcable", run_name="__main__")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        prof.dump_stats(out)


def areas(stats_path: str, devices: int) -> list[tuple[str, float]]:
    stats = pstats.Stats(stats_path).stats  # type: ignore[attr-defined]
    rows = []
    for label, path, function in AREAS:
        seconds = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(path) and name == function)
        rows.append((label, seconds / max(devices, 1)))
    return rows


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-child":
        serve_child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=600)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--flow", default="hybrid.2")
    ap.add_argument("--keep", help="also write the profile here (for pstats)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "serve.prof")
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen([sys.executable, __file__, "--serve-child", out, tmp], stderr=log, env=ENV,
                                  cwd=ROOT)
        try:
            for _ in range(200):  # until it has printed its addresses and its store
                if (Path(tmp) / "serve.log").read_text().count("\n") >= 7:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            sim = subprocess.run([sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1",
                                  "--flow", args.flow, "--count", str(args.count), "--rate", str(args.rate),
                                  "--quiet"], capture_output=True, text=True, env=ENV, cwd=ROOT)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
            log.close()
        if args.keep:
            Path(args.keep).write_bytes(Path(out).read_bytes())
        rows = areas(out, args.count)
    print(f"command: python bench/profile_storm.py --count {args.count} --rate {args.rate:g} --flow {args.flow}")
    print(sim.stdout.splitlines()[0] if sim.stdout else sim.stderr[-2000:])
    print("| entry point | server CPU per device (profiled) |")
    print("| --- | --- |")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1e6:,.0f} µs |")


if __name__ == "__main__":
    main()
