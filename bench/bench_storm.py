"""Boot storm: N simulated eMTAs (eCM first) through a flow against `pktcable serve`.

Usage:
    python bench/bench_storm.py [--count 10000] [--rate 1500] [--flow hybrid.2] [--workers 1]
    python bench/bench_storm.py --herd [--runs 3] [--no-kea]
    python bench/bench_storm.py --server-dhcp-workers 0,1 [--rates 600,800,1000] [--runs 3]
    python bench/bench_storm.py --flows hybrid.2@300,secure@8 [--count 300] [--runs 3] [--profile DIR]

Starts `pktcable serve` as its own process (SQLite stores in a temporary
folder, free ports) and `pktcable simulate` as another (or --workers of
them), both on loopback, on this machine's cores. Prints devices provisioned
per second, overall and over time (from the completion times in the report),
failures and retries, the p50/p99 of the per-device flow time, each step's
p50/p95, the server's and the simulator's CPU per device, and the server's
resident memory.

--herd is the thundering herd: 10,000 devices offered within 10 s, each
retrying as real ones do (RFC 2131 back-off from 4 s up to 64 s, a failed
walk started over) within a 300 s device budget. Kea (bench/kea.py) is the
anchor, measured in the same run: its CPU per DORA, and the ratio of the
server's CPU per device to it. --runs N repeats everything and prints the
medians too.

--server-dhcp-workers 0,1 runs every storm against both server modes (DHCP in
the serve process, or in its DHCP worker process), one after the other within
each run, and --rates R1,R2 ... sweeps the offered rate; the server's CPU is
the sum of serve and its worker. The end is a table of the medians per mode
and rate, and each mode's knee (its best provisioned/s over the rates).

--flows F1,F2 ... runs a storm of each flow within each run, one after the
other against a fresh server each (default count 300: the Secure flow costs
about ten times HYBRID.2). For SECURE a lab PKI is made once, in a temporary
folder, with a device certificate for each simulated eMTA (indices 0 to
count - 1, as `simulate` plays them), and serve runs its KDC and key
management with the lab's realm first in `realms`. FLOW@RATE gives a flow
its own offered rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from procstat import rss_kib, tree_cpu_seconds  # noqa: E402 - bench/ is the script folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.ports import free_port  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
#: The Secure flow's own steps (PKINIT AS exchange, key management, the SNMPv3 enrollment
#: INFORM, the file's decryption): their per-device medians are printed with each run's.
SECURE_STEPS = ("MTA-9/10 AS_EXCHANGE", "MTA-13/14 KEY_MANAGEMENT", "MTA-15 ENROLL", "MTA-23 DECRYPT")
PORTS = ("dhcp", "relay", "tftp", "tod", "snmp", "agent")
SECURE_PORTS = ("kdc", "km")
REALM = "LAB.EXAMPLE.NET"


def make_lab(folder: Path, count: int) -> Path:
    """A lab PKI with the device certificates of eMTAs 0 ... count - 1 (what
    `pktcable pki init` and `pki devices --count` write)."""
    import datetime as dt

    from pktcable.secure.labdir import LabPki, LabSettings
    from pktcable.simulate.identity import Identity

    now = dt.datetime.now(dt.UTC)
    lab = LabPki.create(folder, LabSettings(REALM, "Example Cable", "kdc.lab.example.net", "prov.lab.example.net"),
                        now=now)
    for index in range(count):
        lab.issue_device(Identity.make(index).mta_mac, now=now)
    return folder


def secure_settings(lab: Path) -> str:
    """serve.toml lines for the Secure flow: the lab's realm offered first, KDC and KM on."""
    return f'realms = ["{REALM}", "HYBRID.2"]\nsecure_pki = "{lab}"\nkdc = true\nkm = true\n'


def start_server(tmp: Path, ports: dict[str, int], profile: Path | None = None,
                 dhcp_workers: int = 0, extra: str = "") -> subprocess.Popen[str]:
    """`pktcable serve` on free ports (another benchmark may hold the
    defaults), HTTP and the API off, auto-enrollment on; returns once its last
    service (ToD) is bound."""
    conf = tmp / "serve.toml"
    conf.write_text("".join(f"{k}_port = {v}\n" for k, v in ports.items()) +
                    f'http_port = 0\napi_port = 0\nauto_enroll = true\ndata_dir = "{tmp}"\n'
                    f"dhcp_workers = {dhcp_workers}\n" + extra)
    log = open(tmp / "serve.log", "w")  # noqa: SIM115 - the child holds it; closed with the folder
    server = subprocess.Popen([sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []),
                               "-m", "pktcable", "serve", "--config", str(conf)],
                              stderr=log, text=True, env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"serve exited: {(tmp / 'serve.log').read_text()[-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", ports["tod"]))  # the last service serve opens
            except OSError:
                return server
        time.sleep(0.1)
    server.kill()
    raise SystemExit("serve did not bind its DHCP port in 60 s")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rates(timeline: dict[str, Any], width: float) -> list[float]:
    """Devices provisioned per second in buckets of ``width`` seconds."""
    per = max(1, round(width / timeline["bucket_s"]))
    passed = timeline["passed"]
    return [sum(passed[i:i + per]) / (per * timeline["bucket_s"]) for i in range(0, len(passed), per)]


def storm(args: argparse.Namespace, profile: Path | None = None, dhcp_workers: int = 0,
          lab: Path | None = None) -> dict[str, Any]:
    """One storm of ``args.flow`` against a fresh server; the figures of it.
    With ``profile`` (a folder), the server and the simulator run under
    cProfile, their stats in serve.prof and simulate.prof there. ``lab``:
    the lab PKI a SECURE storm needs."""
    secure = args.flow.lower() == "secure"
    if secure and lab is None:
        raise SystemExit("the Secure flow needs a lab PKI")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        ports = {k: free_port() for k in PORTS + (SECURE_PORTS if secure else ())}
        server = start_server(tmp, ports, profile / "serve.prof" if profile else None, dhcp_workers,
                              secure_settings(lab) if secure and lab else "")
        try:
            before = rss_kib(server.pid)
            own_before, kids_before = tree_cpu_seconds(server.pid)
            report = tmp / "report.json"
            cmd = [sys.executable, *(["-m", "cProfile", "-o", str(profile / "simulate.prof")] if profile else []),
                   "-m", "pktcable", "simulate", "--server", "127.0.0.1", "--flow", args.flow,
                   "--count", str(args.count), "--rate", str(args.rate), "--workers", str(args.workers),
                   "--report", str(report), "--quiet", "--dhcp-timeout", str(args.dhcp_timeout),
                   "--dhcp-retries", str(args.dhcp_retries),
                   *(["--device-budget", str(args.device_budget)] if args.device_budget else []),
                   *(["--pki", str(lab)] if secure else []),
                   *[f"--{k}-port={v}" for k, v in ports.items()]]
            sim_before = children_cpu()
            t0 = time.perf_counter()
            sim = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
            wall = time.perf_counter() - t0
            sim_cpu = children_cpu() - sim_before
            after = rss_kib(server.pid)
            own_after, kids_after = tree_cpu_seconds(server.pid)
            # serve and its DHCP worker (the same worker before and after, unless it died: then
            # its CPU is lost and the server's figure is low; the log says so).
            worker_cpu = sum(kids_after.get(pid, 0.0) - cpu for pid, cpu in kids_before.items())
            cpu = own_after - own_before + worker_cpu
            if not report.exists():
                raise SystemExit(f"simulate wrote no report:\n{sim.stderr[-3000:]}")
            data = json.loads(report.read_text())
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
            errors = [line for line in (tmp / "serve.log").read_text().splitlines() if "Error" in line]
    n = max(data["devices"], 1)
    return {"data": data, "wall": wall, "errors": errors, "rss_before": before, "rss_after": after,
            "server_cpu_ms": cpu / n * 1e3, "sim_cpu_ms": sim_cpu / n * 1e3, "server_cpu_s": cpu,
            "sim_cpu_s": sim_cpu, "worker_cpu_s": worker_cpu, "first_line": sim.stdout.splitlines()[0] if sim.stdout else sim.stderr[-2000:]}


def where_time_goes(stats_file: Path, top: int = 12) -> str:
    """Busy time (own time by source file, profiler included; waiting in
    epoll is idle and left out): the shares of the busiest."""
    import pstats

    by: dict[str, float] = {}
    for (filename, _, func), (_, _, own, _, _) in pstats.Stats(str(stats_file)).stats.items():  # type: ignore[attr-defined]
        if "/pktcable/" in filename or "/dhcp/" in filename or "/tlv/" in filename or "/mibs/" in filename:
            key = filename[filename.rindex("/", 0, filename.rindex("/")) + 1:]
        elif filename == "~":
            key = func  # a built-in: sendto, recvfrom, select ...
        else:
            key = Path(filename).name
        if "poll" in key and "epoll" in key or key == "<method 'poll' of 'select.epoll' objects>":
            continue  # the event loop waiting: idle, not work
        by[key] = by.get(key, 0.0) + own
    total = sum(by.values()) or 1.0
    rows = sorted(by.items(), key=lambda kv: -kv[1])[:top]
    return f"{total:.1f} s busy: " + ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in rows)


def knee_ratio(series: list[float]) -> float:
    """The lowest provisioning rate while the herd drains, against the best:
    the buckets between the first and the last one at half the best rate or
    more (the ramp up and the retry tail are not the knee)."""
    if not series:
        return 0.0
    best = max(series)
    busy = [i for i, r in enumerate(series) if r >= best / 2]
    body = series[busy[0]:busy[-1] + 1]
    return min(body) / best if best else 0.0


def show(run: dict[str, Any], args: argparse.Namespace, kea: dict[str, Any] | None) -> dict[str, float]:
    data = run["data"]
    series = rates(data["timeline"], args.bucket)
    print(run["first_line"])
    print(f"devices {data['devices']}, passed {data['passed']}, failed {data['failed']} ({data['final_states']}); "
          f"retries {data.get('retries', 0)} on {data.get('devices_retried', 0)} devices; "
          f"simulate wall {run['wall']:.1f} s")
    provisioned = data["passed"] / data["elapsed_s"] if data["elapsed_s"] else 0.0
    print(f"provisioned/s {provisioned:.1f} (passed devices over the run); flow time p50 {data['flow_time_s']['p50']} s, "
          f"p99 {data['flow_time_s']['p99']} s")
    print(f"provisioned/s per {args.bucket:g} s: " + " ".join(f"{r:.0f}" for r in series))
    relay = data.get("relay", {})
    print(f"relay: {relay.get('sent', 0)} DHCP datagrams sent ({relay.get('retransmissions', 0)} retransmissions), "
          f"{relay.get('received', 0)} replies received")
    print(f"server RSS {run['rss_before'] / 1024:.1f} MiB before, {run['rss_after'] / 1024:.1f} MiB after")
    if run["worker_cpu_s"]:
        print(f"of the server CPU, the DHCP worker process: {run['worker_cpu_s']:.1f} s "
              f"({100 * run['worker_cpu_s'] / max(run['server_cpu_s'], 1e-9):.0f} %)")
    print(f"server CPU {run['server_cpu_s']:.1f} s: {run['server_cpu_ms']:.2f} ms per device; "
          f"simulator CPU {run['sim_cpu_s']:.1f} s: {run['sim_cpu_ms']:.2f} ms per device "
          f"({run['sim_cpu_ms'] / run['server_cpu_ms']:.2f} of the server's)")
    figures = {"provisioned_per_s": provisioned, "failed": data["failed"], "p50": data["flow_time_s"]["p50"],
               "p99": data["flow_time_s"]["p99"], "server_cpu_ms": run["server_cpu_ms"],
               "sim_cpu_ms": run["sim_cpu_ms"], "peak_per_s": max(series, default=0.0),
               "knee_ratio": knee_ratio(series), "worker_cpu_share": run["worker_cpu_s"] / max(run["server_cpu_s"], 1e-9),
               "server_cores": run["server_cpu_s"] / max(run["wall"], 1e-9)}
    steps = data.get("steps", {})
    if steps:
        print("step p50 / p95 ms: " + ", ".join(f"{step} {row['p50'] * 1e3:.1f} / {row['p95'] * 1e3:.1f}"
                                                for step, row in steps.items()))
    for step in SECURE_STEPS:  # the Secure flow's own steps, in the medians too
        if step in steps:
            figures[f"{step} p50 (ms)"] = steps[step]["p50"] * 1e3
    if kea is not None:
        ratio = run["server_cpu_ms"] / kea["cpu_per_dora_ms"] if kea["cpu_per_dora_ms"] else float("inf")
        print(f"Kea: {kea['leases']} leases, {kea['drops']} drops, {kea['cpu_per_dora_ms']:.3f} ms CPU per DORA "
              f"({kea['command']}); server CPU per device / Kea CPU per DORA = {ratio:.2f}")
        figures["kea_cpu_per_dora_ms"] = kea["cpu_per_dora_ms"]
        figures["ratio_to_kea"] = ratio
    print(f"server errors logged: {len(run['errors'])}", *run["errors"][:5], sep="\n  ")
    for dev in data["deviations"][:10]:
        print(f"  deviation {dev['step']}: {dev['text']} ({dev['devices']} devices)")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, help="devices per storm (default 10000; 300 with --flows)")
    ap.add_argument("--rate", type=float, help="devices offered per second (default 1500; 30 with --flows)")
    ap.add_argument("--flow", default="hybrid.2")
    ap.add_argument("--flows", type=lambda text: text.split(","),
                    help="a storm of each flow within each run, e.g. hybrid.2,secure or hybrid.2@300,secure@8 "
                         "(FLOW@RATE: that flow's offered rate; default: --flow alone)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--herd", action="store_true", help="10,000 devices within 10 s, retrying within 300 s each")
    ap.add_argument("--device-budget", type=float)
    ap.add_argument("--dhcp-timeout", type=float, default=1.0)
    ap.add_argument("--dhcp-retries", type=int, default=3)
    ap.add_argument("--bucket", type=float, default=2.0, help="seconds per rate-over-time bucket")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-kea", "--no-anchor", dest="no_kea", action="store_true", help="skip the Kea anchor")
    ap.add_argument("--kea-rate", type=float, help="DORAs/s offered to Kea (default: the storm's, two per device)")
    ap.add_argument("--anchor-seconds", type=float, default=5.0, help="seconds of perfdhcp against Kea")
    ap.add_argument("--server-dhcp-workers", default="0", type=lambda text: [int(n) for n in text.split(",")],
                    help="server modes to run each storm against, e.g. 0,1 (serve's dhcp_workers)")
    ap.add_argument("--rates", type=lambda text: [float(r) for r in text.split(",")],
                    help="a sweep of offered rates, e.g. 600,800,1000 (default: --rate alone)")
    ap.add_argument("--profile", type=Path, help="a folder: cProfile the server and the simulator (one worker) of the "
                                                 "first run into it (a subfolder per flow with --flows), and print "
                                                 "where their time goes")
    args = ap.parse_args()
    # FLOW@RATE: that flow's own offered rate (the Secure flow's simulator is ~5x the server's CPU per device).
    flows = [f.strip().lower().partition("@")[0] for f in (args.flows or [args.flow])]
    own_rate = {f.partition("@")[0].strip().lower(): float(f.partition("@")[2])
                for f in (args.flows or []) if "@" in f}
    if args.count is None:
        args.count = 300 if args.flows else 10000
    if args.rate is None:
        args.rate = 30.0 if args.flows else 1500.0
    if args.herd:
        args.count, args.rate = 10000, 1000.0
        # RFC 2131 4.1 as real devices do it: 4 s, 8 s ... 64 s, +-1 s.
        args.dhcp_timeout, args.dhcp_retries = 4.0, 4
        args.device_budget = args.device_budget or 300.0
        args.kea_rate = args.kea_rate or 1000.0  # the DORA rate the herd's figures were anchored at
    command = " ".join(["python bench/bench_storm.py", *sys.argv[1:]])
    try:  # root may raise the hard limit: 10,000 devices keep 10,000 agent sockets (and serve a TFTP each)
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        pass
    kea_cpu = None
    if not args.no_kea:
        from kea import kea_cpu_per_dora  # bench/kea.py: the Kea anchor

        kea_cpu = kea_cpu_per_dora
    rates = args.rates or [args.rate]
    modes = args.server_dhcp_workers
    cases = [(flow, rate, mode) for flow in flows for rate in ([own_rate[flow]] if flow in own_rate else rates)
             for mode in modes]
    runs: dict[tuple[str, float, int], list[dict[str, float]]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as labs:
        lab = None
        if "secure" in flows:
            t0 = time.perf_counter()
            lab = make_lab(Path(labs) / "lab", args.count)
            print(f"lab PKI with {args.count} device certificates made in {time.perf_counter() - t0:.1f} s")
        for n in range(args.runs):
            kea = kea_cpu(args.kea_rate or 2 * rates[0], args.anchor_seconds) if kea_cpu is not None else None
            # The flows and modes one after the other within a run: the machine's other load hits them alike.
            for flow, rate, mode in cases:
                args.rate, args.flow = rate, flow
                first = n == 0 and mode == modes[0] and rate == (own_rate.get(flow) or rates[0])
                profile = None
                if args.profile and first:
                    profile = args.profile / flow if len(flows) > 1 else args.profile
                    profile.mkdir(parents=True, exist_ok=True)
                print(f"--- run {n + 1}/{args.runs}, flow {flow}, rate {rate:g}/s, server dhcp_workers = {mode}: "
                      f"{command}")
                run = storm(args, profile, mode, lab)
                runs[flow, rate, mode].append(show(run, args, kea))
                if profile is not None:
                    for who in ("serve", "simulate"):
                        print(f"profile of {who}: {where_time_goes(profile / f'{who}.prof')}")
    if args.runs > 1 or len(cases) > 1:
        for (flow, rate, mode), figures in runs.items():
            print(f"--- medians of {args.runs} runs, flow {flow}, rate {rate:g}/s, dhcp_workers = {mode}: {command}")
            for key in dict.fromkeys(key for r in figures for key in r):  # a step may be missing from a run
                values = [r[key] for r in figures if key in r]
                print(f"  {key} {statistics.median(values):.3f}   (runs: " + ", ".join(f"{v:.3f}" for v in values) + ")")
        table(runs, args.runs, command)


def table(runs: dict[tuple[str, float, int], list[dict[str, float]]], count: int, command: str) -> None:
    """The medians per flow, mode and rate as a Markdown table, and each one's knee."""
    def med(figures: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in figures)

    kea = all("ratio_to_kea" in r for figures in runs.values() for r in figures)
    print(f"\nmedians of {count} runs: {command}\n")
    print("| flow | dhcp_workers | offered/s | provisioned/s | failed | p50 (s) | p99 (s) "
          "| server CPU per device (ms) | worker share | server cores | knee ratio |"
          + (" Kea CPU per DORA (ms) | server / Kea |" if kea else ""))
    print("| --- " * (13 if kea else 11) + "|")
    for (flow, rate, mode), figures in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        print(f"| {flow.upper()} | {mode} | {rate:g} | {med(figures, 'provisioned_per_s'):.1f} "
              f"| {med(figures, 'failed'):.0f} | {med(figures, 'p50'):.3f} | {med(figures, 'p99'):.3f} "
              f"| {med(figures, 'server_cpu_ms'):.2f} "
              f"| {100 * med(figures, 'worker_cpu_share'):.0f} % | {med(figures, 'server_cores'):.2f} "
              f"| {med(figures, 'knee_ratio'):.2f} |"
              + (f" {med(figures, 'kea_cpu_per_dora_ms'):.3f} | {med(figures, 'ratio_to_kea'):.1f} |" if kea else ""))
    for flow, mode in sorted({(flow, mode) for flow, _, mode in runs}):
        best = max((med(figures, "provisioned_per_s"), rate) for (f, rate, m), figures in runs.items()
                   if m == mode and f == flow)
        print(f"knee, {flow.upper()}, dhcp_workers = {mode}: {best[0]:.1f} provisioned/s (median), "
              f"offered {best[1]:g}/s")


if __name__ == "__main__":
    main()
