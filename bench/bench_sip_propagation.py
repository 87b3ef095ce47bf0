"""Change propagation to SIP phones over real sockets: ``pktcable sip serve`` in its own process,
``--phones`` simulated phones (pktcable/simulate/phone.py) enroll, then one edit of the phones
file (and SIGHUP, which re-reads it and notifies the changed) changes every profile; the figure
is the time from the signal to each phone holding the new version (change NOTIFY, conditional
GET, schema check).

Usage: python bench/bench_sip_propagation.py [--phones 200] [--push-rate 50] [--runs 3]
       [--rate 200] [--profile server.prof] [--sim-procs 1] [--wait SECONDS] [--push-window 100]

Prints, per run and as the median over runs: enrollment seconds and enrollments/s,
propagation p50/p95/max. The pushes leave through the server's token bucket (``--push-rate``
per second, bursts of twice that), so for many phones the last one's time is about
phones / rate. ``--rate`` starts that many phones a second (default: all at once, which
for thousands of phones overruns any server's UDP queue and times SUBSCRIBEs out);
``--profile`` runs the server under cProfile and prints its top functions; ``--sim-procs N``
splits the phones over N simulator processes. After each run it prints the server's counters
(pushes, NOTIFY outcomes, datagrams, retransmissions), the phones' (NOTIFYs received and
answered, GETs, flow states) and the kernel's UDP buffer drops over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pstats
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

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


def _socket_drops(port: int) -> str:
    """Datagrams the kernel dropped on the server's own socket (``ss``'s skmem ``d``), unlike
    /proc/net/snmp not mixed with other programs' sockets."""
    try:
        out = subprocess.run(["ss", "-uamnH", "sport", "=", f":{port}"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.findall(r"\bd(\d+)\)", out)
    return found[0] if found else "?"


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


class _Phones:
    """The simulated phones, in this process or split over ``procs`` child processes (each runs
    its share of the phones on its own event loop, so the simulator's own loop is not what
    limits a push measurement)."""

    def __init__(self, count: int, sip_port: int, rate: float | None, procs: int) -> None:
        self.count, self.sip_port, self.rate, self.procs = count, sip_port, rate, procs
        self.fleet: PhoneFleet | None = None
        self.children: list[subprocess.Popen[str]] = []

    async def enroll(self) -> tuple[float, int, str]:
        """Seconds enrollment took, phones that failed it, what the first failure said."""
        if self.procs == 1:
            self.fleet = PhoneFleet(PhoneConfig("127.0.0.1", self.sip_port), self.count, rate=self.rate)
            await self.fleet.__aenter__()
            elapsed = await self.fleet.enroll()
            failed = [r for r in self.fleet.results if not r.passed]
            return elapsed, len(failed), f"{failed[0].state}: {failed[0].deviations[-1:]}" if failed else ""
        bounds = [self.count * k // self.procs for k in range(self.procs + 1)]
        for k in range(self.procs):
            first, n = bounds[k], bounds[k + 1] - bounds[k]
            rate = [] if self.rate is None else ["--rate", str(self.rate / self.procs)]
            self.children.append(subprocess.Popen(
                [sys.executable, __file__, "--child-of", str(self.sip_port), "--first", str(first),
                 "--phones", str(n), *rate], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        lines = await asyncio.gather(*(self._line(c) for c in self.children))
        return (max(x["enrolled"] for x in lines), sum(x["failed"] for x in lines),
                next((x["example"] for x in lines if x["example"]), ""))

    @staticmethod
    async def _line(child: subprocess.Popen[str]) -> dict[str, Any]:
        assert child.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)
        if not line:
            raise RuntimeError("a simulator process ended early")
        return dict(json.loads(line))

    async def propagation(self, since_wall: float, timeout: float) -> tuple[list[float | None], Counter[str]]:
        """Per enrolled phone, seconds from ``since_wall`` (wall clock) to holding a new version."""
        if self.fleet is not None:
            loop = asyncio.get_running_loop()
            took = await self.fleet.propagation(loop.time() - (time.time() - since_wall), timeout)
            return took, self.fleet.stats()
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write(json.dumps({"since": since_wall, "timeout": timeout}) + "\n")
            child.stdin.flush()
        lines = await asyncio.gather(*(self._line(c) for c in self.children))
        stats: Counter[str] = Counter()
        for x in lines:
            stats.update(x["stats"])
        return [t for x in lines for t in x["took"]], stats

    async def close(self) -> None:
        if self.fleet is not None:
            await self.fleet.close()
        for child in self.children:
            child.kill()
            child.wait()


async def child(sip_port: int, count: int, first: int, rate: float | None) -> None:
    """One simulator process of ``--sim-procs``: enroll, report, wait for the change's time, report."""
    loop = asyncio.get_running_loop()
    async with PhoneFleet(PhoneConfig("127.0.0.1", sip_port), count, first, rate) as fleet:
        elapsed = await fleet.enroll()
        failed = [r for r in fleet.results if not r.passed]
        example = f"{failed[0].state}: {failed[0].deviations[-1:]}" if failed else ""
        print(json.dumps({"enrolled": elapsed, "failed": len(failed), "example": example}), flush=True)
        order = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
        since = loop.time() - (time.time() - order["since"])
        took = await fleet.propagation(since, order["timeout"])
        print(json.dumps({"took": took, "stats": dict(fleet.stats())}), flush=True)


async def run_once(count: int, push_rate: float, rate: float | None = None,
                   profile: Path | None = None, procs: int = 1, wait: float | None = None,
                   window: int = 100) -> tuple[float, list[float]]:
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
                 str(sip_port), "--http-port", str(http_port), "--push-rate", str(push_rate), "--push-window", str(window), "--log-level", "warning"],
                stdout=subprocess.DEVNULL, stderr=err)
        drops = _udp_drops()
        fleet_stats = ""
        sim = _Phones(count, sip_port, rate, procs)
        try:
            await _wait_port(http_port)
            enrolled, failed, example = await sim.enroll()
            print(f"enrolled: {count - failed} of {count} in {enrolled:.2f} s", flush=True)
            if failed:  # reported, and the change is still pushed to the others
                print(f"{failed} phones did not enroll, e.g. {example}", flush=True)
            _phones(phones, count, "G722")
            since = time.time()
            os.kill(server.pid, signal.SIGHUP)
            took, stats = await sim.propagation(since, wait or 60.0 + count / push_rate)
            fleet_stats = " ".join(f"{k}={v}" for k, v in sorted(stats.items()))
            if None in took:
                print(f"{took.count(None)} phones never got the change", flush=True)
            # A phone without the change counts as never (inf): percentiles then say how many did not.
            return enrolled, sorted(math.inf if t is None else t for t in took)
        finally:
            print(f"server socket drops (kernel, receive buffer full): {_socket_drops(sip_port)}", flush=True)
            await sim.close()
            server.terminate()
            server.wait(30)
            after = _udp_drops()
            print("kernel UDP drops, whole host:", " ".join(f"{k}={after[k] - drops.get(k, 0)}" for k in after), flush=True)
            print("server:", _server_counters(log), flush=True)
            print("phones:", fleet_stats or "(not reached)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--push-rate", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=None, help="phones started per second (default: all at once)")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the server (last run) into this file")
    parser.add_argument("--sim-procs", type=int, default=1, help="simulator processes the phones are split over")
    parser.add_argument("--push-window", type=int, default=100, help="the server's pushes in flight at most")
    parser.add_argument("--wait", type=float, default=None,
                        help="seconds to wait for the change (default: 60 + phones / push rate)")
    parser.add_argument("--child-of", type=int, default=None, help=argparse.SUPPRESS)  # a --sim-procs process
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_of is not None:
        asyncio.run(child(args.child_of, args.phones, args.first, args.rate))
        return
    rows = []
    for n in range(args.runs):
        profile = args.profile if n == args.runs - 1 else None
        enrolled, took = asyncio.run(run_once(args.phones, args.push_rate, args.rate, profile, args.sim_procs,
                                            args.wait, args.push_window))
        row = (enrolled, percentile(took, 50), percentile(took, 95), took[-1])
        rows.append(row)
        print(f"run {n + 1}: enrollment {row[0]:.2f} s ({args.phones / row[0]:.0f}/s); propagation first {took[0]:.2f} s, "
              f"p50 {row[1]:.2f} s, p95 {row[2]:.2f} s, max {row[3]:.2f} s")
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    print(f"median of {args.runs}: {args.phones} phones, push rate {args.push_rate:g}/s: enrollment {med[0]:.2f} s "
          f"({args.phones / med[0]:.0f}/s); "
          f"propagation p50 {med[1]:.2f} s, p95 {med[2]:.2f} s, max {med[3]:.2f} s")
    if args.profile:
        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
