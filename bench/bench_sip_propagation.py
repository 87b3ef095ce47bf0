"""Change propagation to SIP phones over real sockets: ``pktcable sip serve`` in its own process,
``--phones`` simulated phones (pktcable/simulate/phone.py) enroll, then one edit of the phones
file (and SIGHUP, which re-reads it and notifies the changed) changes every profile; the figure
is the time from the signal to each phone holding the new version (change NOTIFY, conditional
GET, schema check).

Usage: python bench/bench_sip_propagation.py [--phones 200] [--push-rate 50] [--runs 3]
       [--rate 200] [--profile server.prof]

Prints, per run and as the median over runs: enrollment seconds and enrollments/s,
propagation p50/p95/max. The pushes leave through the server's token bucket (``--push-rate``
per second, bursts of twice that), so for many phones the last one's time is about
phones / rate. ``--rate`` starts that many phones a second (default: all at once, which
for thousands of phones overruns any server's UDP queue and times SUBSCRIBEs out);
``--profile`` runs the server under cProfile and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pktcable.simulate.phone import PhoneConfig, phone_mac
from pktcable.simulate.phonefleet import PhoneFleet
from pktcable.simulate.report import percentile


def _udp_drops() -> dict[str, int]:
    """The kernel's UDP counters (all sockets of the host): datagrams dropped on a full receive
    or send buffer, which no socket API reports to the program."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    except OSError:
        return {}
    names, values = lines[0][1:], lines[1][1:]
    return {n: int(v) for n, v in zip(names, values, strict=True) if n in ("RcvbufErrors", "SndbufErrors", "InErrors")}


def _server_counters(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("counters: ")]
    return lines[-1][len("counters: "):] if lines else "(none printed)"


def _free(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _phones(path: Path, count: int, codec: str) -> None:
    path.write_text(json.dumps([{"mac": phone_mac(n), "template": "generic", "vars": {
        "registrar": "sip.example.net", "lines": [{"user": str(1000 + n), "password": "pw"}], "codecs": [codec]}}
        for n in range(count)]))


async def _wait_port(port: int, budget: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not come up")


async def run_once(count: int, push_rate: float, rate: float | None = None,
                   profile: Path | None = None) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        phones = Path(tmp) / "phones.json"
        _phones(phones, count, "PCMU")
        sip_port, http_port = _free(socket.SOCK_DGRAM), _free(socket.SOCK_STREAM)
        # cProfile writes its file when the server exits by itself (SIGTERM stops it cleanly).
        prof = ["-m", "cProfile", "-o", str(profile)] if profile else []
        log = Path(tmp) / "server.log"
        with log.open("wb") as err:
            server = subprocess.Popen(
                [sys.executable, *prof, "-m", "pktcable", "sip", "serve", "--phones", str(phones), "--sip-port",
                 str(sip_port), "--http-port", str(http_port), "--push-rate", str(push_rate), "--log-level", "warning"],
                stdout=subprocess.DEVNULL, stderr=err)
        drops = _udp_drops()
        fleet_stats = ""
        try:
            await _wait_port(http_port)
            async with PhoneFleet(PhoneConfig("127.0.0.1", sip_port), count, rate=rate) as fleet:
                enrolled = await fleet.enroll()
                failed = [r for r in fleet.results if not r.passed]
                print(f"enrolled: {count - len(failed)} of {count} in {enrolled:.2f} s", flush=True)
                if failed:  # reported, and the change is still pushed to the others
                    print(f"{len(failed)} phones did not enroll, e.g. {failed[0].state}: {failed[0].deviations[-1:]}",
                          flush=True)
                _phones(phones, count, "G722")
                since = asyncio.get_running_loop().time()
                os.kill(server.pid, signal.SIGHUP)
                took = await fleet.propagation(since, 60.0 + count / push_rate)
                fleet_stats = " ".join(f"{k}={v}" for k, v in sorted(fleet.stats().items()))
            if None in took:
                print(f"{took.count(None)} phones never got the change", flush=True)
            # A phone without the change counts as never (inf): percentiles then say how many did not.
            return enrolled, sorted(math.inf if t is None else t for t in took)
        finally:
            server.terminate()
            server.wait(30)
            after = _udp_drops()
            print("kernel UDP drops:", " ".join(f"{k}={after[k] - drops.get(k, 0)}" for k in after), flush=True)
            print("server:", _server_counters(log), flush=True)
            print("phones:", fleet_stats or "(not reached)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--push-rate", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=None, help="phones started per second (default: all at once)")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the server (last run) into this file")
    args = parser.parse_args()
    rows = []
    for n in range(args.runs):
        profile = args.profile if n == args.runs - 1 else None
        enrolled, took = asyncio.run(run_once(args.phones, args.push_rate, args.rate, profile))
        row = (enrolled, percentile(took, 50), percentile(took, 95), took[-1])
        rows.append(row)
        print(f"run {n + 1}: enrollment {row[0]:.2f} s ({args.phones / row[0]:.0f}/s); propagation p50 {row[1]:.2f} s, p95 {row[2]:.2f} s, "
              f"max {row[3]:.2f} s")
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    print(f"median of {args.runs}: {args.phones} phones, push rate {args.push_rate:g}/s: enrollment {med[0]:.2f} s "
          f"({args.phones / med[0]:.0f}/s); "
          f"propagation p50 {med[1]:.2f} s, p95 {med[2]:.2f} s, max {med[3]:.2f} s")
    if args.profile:
        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
