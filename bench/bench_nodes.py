"""Several serve nodes: leases/s and devices/s for one node on SQLite, one node on
PostgreSQL and two nodes on one PostgreSQL database, in the same run.

    python bench/bench_nodes.py [--rate 1000] [--seconds 10] [--count 600] [--device-rate 60] [--runs 3]
    python bench/bench_nodes.py --cases pg2 --phases leases --profile DIR

Each run measures each case in turn (sqlite, pg, pg2: the machine's other load hits them
alike), each with fresh serve processes and, on PostgreSQL, a fresh schema of one
throw-away PostgreSQL server the script starts (bench/pgserver.py, its durability
defaults kept). Two phases per case:

- leases: perfdhcp (full DORA, as a relay, 100 000 simulated clients) from a client
  network namespace to serve in a server namespace (bench/kea.py's veth pair), serve's
  [dhcp] table giving one /15 subnet and pool. Two nodes listen on 198.18.0.1 and
  198.18.0.4 and take one perfdhcp each (198.18.0.2 and .3, disjoint MAC ranges), each
  offered half of --rate; leases/s is the sum of the two perfdhcp rates.
- devices: `pktcable simulate` storms of --count eCM + eMTA pairs (--flow, default
  HYBRID.2) at --device-rate against serve on loopback (127.0.0.2; the second node on
  127.0.0.3, ports of its own). Two nodes take one simulator each, half the devices
  (--first keeps their MACs apart) at half the rate; devices/s is the passed devices
  of both over the longer of the two runs.

Server CPU is serve's (all nodes) over the measured part, from /proc, per lease ACKed or
per device played (passed or not); on PostgreSQL the database server's CPU (postmaster
and its backends) is given apart. Each node's DHCP counters and store-commit timings come
from its /metrics (offers, ACKs, NAKs, bindings the shared table refused). Afterwards the
script reads the store: no address may be held by two clients (the lease table's key
makes that hold for rows; the device table's addresses are checked for two devices
told one address), and clients holding two bound addresses are counted.

--profile DIR runs the first node of each case and phase of the first run under
cProfile (wall clock: a database round trip the event loop waits for shows as time)
and prints its busiest functions. --other DIR runs each PostgreSQL case a second time,
right after the first, with serve from another checkout (a store change against the tree
before it, in the same run). Needs root, iproute2, perfdhcp (kea-admin) and
PostgreSQL's server binaries with psycopg.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kea  # noqa: E402
import pgserver  # noqa: E402
from procstat import tree_cpu_seconds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPATH"] = str(ROOT)
#: case: (nodes, store). Names as the table prints them.
CASES = {"sqlite": (1, "sqlite"), "pg": (1, "postgresql"), "pg2": (2, "postgresql")}
LABEL = {"sqlite": "one node, SQLite", "pg": "one node, PostgreSQL", "pg2": "two nodes, one PostgreSQL"}
#: Leases phase: the nodes' addresses in the server namespace, perfdhcp's in the client one.
LEASE_NODES = ("198.18.0.1", "198.18.0.4")
LEASE_CLIENTS = ("198.18.0.2", "198.18.0.3")
CLIENT_MACS = ("00:0c:01:00:00:00", "00:0d:01:00:00:00")
#: Devices phase: the nodes on loopback.
DEVICE_NODES = ("127.0.0.2", "127.0.0.3")
PORTS = ("dhcp", "relay", "tftp", "tod", "snmp", "agent")
START_TIMEOUT = 60.0
#: ``--other DIR``: another checkout whose serve runs the PostgreSQL cases again (case name + AT_OTHER).
OTHER: Path | None = None
AT_OTHER = "@other"


def base(case: str) -> str:
    return case.removesuffix(AT_OTHER)


def label(case: str) -> str:
    return LABEL[base(case)] + (" (other tree)" if case.endswith(AT_OTHER) else "")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free for UDP and TCP on every address (ToD listens on both; the simulator's
    relay socket is on 127.0.0.1, the node on another loopback address), taken below the
    kernel's ephemeral range: a storm's thousands of sockets (and other jobs') are given
    ports from that range, and one of them could take ours between this check and the bind."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(max(1025, low - 12000), low)
        if port in _HANDED_OUT:  # free now, but given to another service that has not bound it yet
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                udp.bind(("0.0.0.0", port))
                tcp.bind(("0.0.0.0", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


@dataclass
class Node:
    proc: subprocess.Popen[bytes]
    folder: Path
    address: str
    ports: dict[str, int] = field(default_factory=dict)
    netns: str | None = None

    def log(self) -> str:
        return (self.folder / "serve.log").read_text(errors="replace")

    def dhcp_counts(self) -> dict[str, int]:
        """The node's DHCP events (acks, naks, taken-elsewhere ...) from its /metrics."""
        url = f"http://{self.address}:{self.ports['api']}/metrics"
        text = subprocess.run([*(["ip", "netns", "exec", self.netns] if self.netns else []), "curl", "-sf",
                               "--max-time", "20", url], capture_output=True, text=True).stdout
        counts: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if line.startswith("pktcable_dhcp_packets_total{"):
                counts[name.split('"')[1]] = int(float(value))
            elif line.startswith("pktcable_store_commit_seconds_"):
                # commits: how many, their seconds in ms, and how many took over 100 ms
                store = name.split('store="')[1].split('"')[0]
                if name.startswith("pktcable_store_commit_seconds_count"):
                    counts[f"{store} commits"] = int(float(value))
                elif name.startswith("pktcable_store_commit_seconds_sum"):
                    counts[f"{store} commit ms"] = round(1e3 * float(value))
                elif 'le="0.1"' in name:
                    counts[f"{store} le100ms"] = int(float(value))
        for store in ("devices", "leases"):
            if f"{store} le100ms" in counts:
                counts[f"{store} over 100 ms"] = counts.get(f"{store} commits", 0) - counts.pop(f"{store} le100ms")
        return counts


def dhcp_table(address: str) -> str:
    """serve's [dhcp] table for perfdhcp's clients: bench/kea.py's subnet and pool, any client."""
    return (f'[dhcp]\n[dhcp.server]\nserver_id = "{address}"\n[[dhcp.subnet]]\nnetwork = "{kea.NETWORK}"\n'
            f'options = {{ routers = ["{address}"] }}\n[[dhcp.subnet.pool]]\nstart = "{kea.POOL[0]}"\n'
            f'end = "{kea.POOL[1]}"\n[[dhcp.class]]\nname = "any"\nkind = "any"\n')


def start_node(folder: Path, address: str, ports: dict[str, int], store: str | None, extra: str = "",
               netns: str | None = None, profile: Path | None = None, other: bool = False) -> Node:
    """`pktcable serve` on ``address`` (from the --other tree's code with ``other``); returns
    once it has printed its listening lines."""
    folder.mkdir(parents=True)
    conf = folder / "serve.toml"
    host = address.partition("/")[0]
    api_port = ports.get("api") or free_port()
    conf.write_text(f'address = "{address}"\n' + "".join(f"{k}_port = {v}\n" for k, v in ports.items() if k != "api")
                    + f'http_port = 0\napi_address = "{host}"\napi_port = {api_port}\nmetrics_open = true\n'
                    + f'auto_enroll = true\ndata_dir = "{folder}"\n'
                    + (f'store = "{store}"\n' if store else "") + extra)
    cmd = [*(["ip", "netns", "exec", netns] if netns else []), sys.executable,
           *(["-m", "cProfile", "-o", str(profile)] if profile else []),
           "-m", "pktcable", "serve", "--config", str(conf)]
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - the child holds it
    root = OTHER if other else ROOT
    assert root is not None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=dict(ENV, PYTHONPATH=str(root)), cwd=root)
    node = Node(proc, folder, host, {**ports, "api": api_port}, netns)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve on {address} exited: {node.log()[-2000:]}")
        if "\nstore " in "\n" + node.log():  # the last line serve prints once it listens
            return node
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"serve on {address} did not start in {START_TIMEOUT:g} s")


def stop_node(node: Node) -> list[str]:
    """SIGINT (serve closes its stores; cProfile writes its stats); the error lines of its log."""
    if node.proc.poll() is None:
        node.proc.send_signal(signal.SIGINT)
        try:
            node.proc.wait(60)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(10)
    lines = node.log().splitlines()
    # An error line, or a traceback's first and last lines (the exception itself).
    errors = [line for line in lines if "ERROR" in line]
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = next((j for j in range(i + 1, len(lines)) if not lines[j].startswith((" ", "Traceback"))), i)
            errors.append(f"{line} ... {lines[end - 2].strip()} | {lines[end]}")
    return errors


class CpuMeter:
    """CPU seconds of processes (and their live children) between start() and stop()."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = [tree_cpu_seconds(pid) for pid in pids]

    def stop(self) -> float:
        total = 0.0
        for pid, (own0, kids0) in zip(self.pids, self.before, strict=True):
            own1, kids1 = tree_cpu_seconds(pid)
            # A child born during the run (a new backend) counts whole; one gone meanwhile is lost.
            total += own1 - own0 + sum(cpu - kids0.get(child, 0.0) for child, cpu in kids1.items())
        return total


def store_check(case: str, pg: pgserver.Server, schema: str, folders: list[Path], now: float) -> dict[str, int]:
    """What the store holds after a phase: lease rows, bound unexpired ones, addresses held by
    two rows (the key forbids it: must be 0), clients with two bound addresses, and
    addresses the device table gives two devices (must be 0)."""
    queries = {
        "lease_rows": "SELECT count(*) FROM lease4",
        "bound": f"SELECT count(*) FROM lease4 WHERE state = 'bound' AND expires > {now}",
        "address_two_rows": "SELECT count(*) FROM (SELECT address FROM lease4 GROUP BY address "
                            "HAVING count(*) > 1) t",
        "client_two_bound": f"SELECT count(*) FROM (SELECT client FROM lease4 WHERE state = 'bound' AND "
                            f"expires > {now} GROUP BY client HAVING count(*) > 1) t",
        "device_ip_twice": "SELECT count(*) FROM (SELECT ip FROM device WHERE ip <> '' GROUP BY ip "
                           "HAVING count(*) > 1) t",
    }
    if CASES[base(case)][1] == "postgresql":
        return {k: int(pg.sql(q, schema)[0][0]) for k, q in queries.items()}  # type: ignore[call-overload]
    with sqlite3.connect(folders[0] / "leases.db") as leases, sqlite3.connect(folders[0] / "devices.db") as devices:
        return {k: int((devices if k.startswith("device") else leases).execute(q).fetchone()[0])
                for k, q in queries.items()}


def leases_phase(case: str, pg: pgserver.Server, args: argparse.Namespace, run: int,
                 profile: Path | None) -> dict[str, Any]:
    nodes_n, kind = CASES[base(case)]
    schema = pg.new_schema(f"l{run}_{case.replace(AT_OTHER, '_other')}") if kind == "postgresql" else ""
    store = pg.url(schema) if kind == "postgresql" else None
    ports = {"dhcp": 67, "relay": 67, "tftp": 10069, "tod": 10037, "snmp": 10162, "agent": 10161, "api": 10088}
    with kea.namespaces(), tempfile.TemporaryDirectory() as tmp:
        for i in range(1, nodes_n):
            kea.sh("ip", "-n", kea.SRV, "addr", "add", f"{LEASE_NODES[i]}/15", "dev", kea.SDEV)
            kea.sh("ip", "-n", kea.CLI, "addr", "add", f"{LEASE_CLIENTS[i]}/15", "dev", kea.CDEV)
        nodes: list[Node] = []
        try:  # a node that fails to start must not leave the one before it running
            for i in range(nodes_n):
                nodes.append(start_node(Path(tmp) / f"node{i}", f"{LEASE_NODES[i]}/15", ports, store,
                                        dhcp_table(LEASE_NODES[i]), kea.SRV, profile if i == 0 else None,
                                        case.endswith(AT_OTHER)))
            serve_cpu = CpuMeter([n.proc.pid for n in nodes])
            db_cpu = CpuMeter([pg.pid]) if kind == "postgresql" else None
            rate = args.rate / nodes_n
            perf = [subprocess.Popen(["ip", "netns", "exec", kea.CLI, "perfdhcp", "-4", "-l", LEASE_CLIENTS[i],
                                      "-r", str(int(rate)), "-R", str(kea.CLIENTS), "-p", str(args.seconds),
                                      "-b", f"mac={CLIENT_MACS[i]}", LEASE_NODES[i]],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    for i in range(nodes_n)]
            results = [kea.parse_perfdhcp(p.communicate(timeout=args.seconds + 60)[0]) for p in perf]
            cpu = serve_cpu.stop()
            dbcpu = db_cpu.stop() if db_cpu else 0.0
            counts = [n.dhcp_counts() for n in nodes]
        finally:
            errors = [line for n in nodes for line in stop_node(n)]
        check = store_check(case, pg, schema, [n.folder for n in nodes], time.time())
    acks = sum(r.acks for r in results)
    return {"per_s": sum(r.rate for r in results), "per_node": [round(r.rate) for r in results],
            "acks": acks, "lost_pct": [round(r.lost, 1) for r in results],
            "non_unique": sum(r.non_unique for r in results), "serve_cpu_ms": 1e3 * cpu / max(acks, 1),
            "db_cpu_ms": 1e3 * dbcpu / max(acks, 1), "check": check, "errors": errors, "dhcp": counts}


def devices_phase(case: str, pg: pgserver.Server, args: argparse.Namespace, run: int,
                  profile: Path | None) -> dict[str, Any]:
    nodes_n, kind = CASES[base(case)]
    schema = pg.new_schema(f"d{run}_{case.replace(AT_OTHER, '_other')}") if kind == "postgresql" else ""
    store = pg.url(schema) if kind == "postgresql" else None
    with tempfile.TemporaryDirectory() as tmp:
        nodes: list[Node] = []
        try:
            for i in range(nodes_n):
                nodes.append(start_node(Path(tmp) / f"node{i}", DEVICE_NODES[i], {k: free_port() for k in PORTS},
                                        store, profile=profile if i == 0 else None, other=case.endswith(AT_OTHER)))
            serve_cpu = CpuMeter([n.proc.pid for n in nodes])
            db_cpu = CpuMeter([pg.pid]) if kind == "postgresql" else None
            half = args.count // nodes_n
            sims = []
            for i, node in enumerate(nodes):
                report = Path(tmp) / f"report{i}.json"
                cmd = [sys.executable, "-m", "pktcable", "simulate", "--server", node.address, "--flow", args.flow,
                       "--count", str(half), "--first", str(i * half), "--rate", str(args.device_rate / nodes_n),
                       "--report", str(report), "--quiet", "--dhcp-timeout", "1", "--dhcp-retries", "3",
                       *(["--device-budget", str(args.device_budget)] if args.device_budget else []),
                       *[f"--{k}-port={v}" for k, v in node.ports.items() if k in PORTS]]
                sims.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                              env=ENV, cwd=ROOT), report))
            reports = []
            for sim, report in sims:
                _, err = sim.communicate()
                if not report.exists():
                    raise SystemExit(f"simulate wrote no report:\n{err[-3000:]}")
                reports.append(json.loads(report.read_text()))
            cpu = serve_cpu.stop()
            dbcpu = db_cpu.stop() if db_cpu else 0.0
            counts = [n.dhcp_counts() for n in nodes]
        finally:
            errors = [line for n in nodes for line in stop_node(n)]
        check = store_check(case, pg, schema, [n.folder for n in nodes], time.time())
    passed = sum(r["passed"] for r in reports)
    elapsed = max(r["elapsed_s"] for r in reports)
    return {"per_s": passed / elapsed if elapsed else 0.0, "per_node": [r["passed"] for r in reports],
            "passed": passed, "failed": sum(r["failed"] for r in reports),
            "retries": sum(r.get("retries", 0) for r in reports),
            # two simulators: the larger of their percentiles
            "p50": max(r["flow_time_s"]["p50"] for r in reports), "p99": max(r["flow_time_s"]["p99"] for r in reports),
            # per device played, passed or not: a failed device cost the server work too
            "serve_cpu_ms": 1e3 * cpu / (half * nodes_n), "db_cpu_ms": 1e3 * dbcpu / (half * nodes_n),
            "check": check, "errors": errors, "dhcp": counts,
            "deviations": [f"{d['step']}: {d['text']} ({d['devices']})" for r in reports for d in r["deviations"][:5]]}


def top_functions(stats_file: Path, top: int) -> list[str]:
    """The busiest functions by own time (the event loop's idle wait left out), and the
    cumulative time of the lease-store commit."""
    import pstats

    stats = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    rows = [(own, calls, cum, f"{Path(f).parent.name}/{Path(f).name}:{line}({func})")
            for (f, line, func), (_, calls, own, cum, _) in stats.items()
            if "poll' of 'select.epoll" not in func]
    busy = sum(r[0] for r in rows) or 1.0
    lines = [f"{busy:.1f} s busy (own time, wall clock, the epoll wait left out)"]
    lines += [f"  {100 * own / busy:5.1f} %  {own:7.2f} s  {calls:9d} calls  {name}"
              for own, calls, _, name in sorted(rows, reverse=True)[:top]]
    commits = [(cum, calls, name) for own, calls, cum, name in rows
               if "store/" in name and name.endswith("(commit)")]
    lines += [f"  cumulative {cum:.2f} s in {calls} calls of {name}" for cum, calls, name in commits]
    return lines


def show(phase: str, case: str, r: dict[str, Any]) -> None:
    unit = "leases" if phase == "leases" else "devices"
    extra = (f"acks {r['acks']}, lost % {r['lost_pct']}, perfdhcp non-unique {r['non_unique']}" if phase == "leases"
             else f"passed {r['passed']}, failed {r['failed']}, retries {r['retries']}, p50 {r['p50']} s, "
                  f"p99 {r['p99']} s")
    print(f"  {phase} {label(case)}: {r['per_s']:.1f} {unit}/s (per node {r['per_node']}); {extra}; "
          f"serve CPU {r['serve_cpu_ms']:.3f} ms, database CPU {r['db_cpu_ms']:.3f} ms per "
          + ("lease (ACK)" if phase == "leases" else "device played"))
    print(f"    store afterwards: {r['check']}")
    keep = ("offers", "acks", "naks", "taken-elsewhere", "dropped", "leases commits", "leases commit ms",
            "leases over 100 ms", "devices commits", "devices commit ms", "devices over 100 ms")
    print("    DHCP per node: " + "; ".join(", ".join(f"{k} {c.get(k, 0)}" for k in keep) for c in r["dhcp"]))
    for line in r["errors"][:8] + r.get("deviations", [])[:5]:
        print(f"    {line}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="sqlite,pg,pg2", type=lambda s: s.split(","),
                    help="of sqlite, pg, pg2 (default all three)")
    ap.add_argument("--phases", default="leases,devices", type=lambda s: s.split(","))
    ap.add_argument("--rate", type=float, default=1000.0, help="DORAs/s perfdhcp offers in all (split over nodes)")
    ap.add_argument("--seconds", type=int, default=10, help="seconds of perfdhcp")
    ap.add_argument("--count", type=int, default=600, help="eCM + eMTA pairs per storm (split over nodes)")
    ap.add_argument("--device-rate", type=float, default=60.0, help="devices started per second in all")
    ap.add_argument("--device-budget", type=float,
                    help="seconds each simulated device keeps trying (default: one walk, as bench_storm.py; with a "
                         "budget an overloaded server also gets the failed walks again)")
    ap.add_argument("--flow", default="hybrid.2")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--profile", type=Path, help="folder: cProfile node 1 of each case and phase of run 1")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--other", type=Path, metavar="DIR",
                    help="another pktcable checkout: each PostgreSQL case runs again right after, its serve nodes "
                         "from DIR (a change to the store measured against the tree before it, same run)")
    args = ap.parse_args()
    if unknown := set(args.cases) - set(CASES):
        ap.error(f"unknown cases {sorted(unknown)}")
    command = " ".join(["python bench/bench_nodes.py", *sys.argv[1:]])
    if args.other:
        global OTHER
        OTHER = args.other.resolve()
        args.cases = [c for case in args.cases for c in ([case, case + AT_OTHER] if CASES[case][1] == "postgresql"
                                                         else [case])]
    try:  # the storm's eMTAs hold an agent socket each
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        pass
    # SIGTERM as Ctrl-C: the nodes, namespaces and PostgreSQL are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    phases = {"leases": leases_phase, "devices": devices_phase}
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with pgserver.running() as pg:
        print(f"{command}\nPostgreSQL {pg.version} (fsync, synchronous_commit on; Unix socket); "
              f"load average {os.getloadavg()}")
        for run in range(args.runs):
            for phase in args.phases:
                for case in args.cases:
                    profile = None
                    if args.profile and run == 0:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profile = (args.profile / f"{phase}-{case}.prof").resolve()
                    r = phases[phase](case, pg, args, run, profile)
                    results.setdefault((phase, case), []).append(r)
                    print(f"--- run {run + 1}/{args.runs}, load average {os.getloadavg()}")
                    show(phase, case, r)
                    if profile is not None and profile.exists():
                        print(f"    profile of node 1 ({profile}):", *top_functions(profile, args.top), sep="\n    ")
    table(results, args, command)


def table(results: dict[tuple[str, str], list[dict[str, Any]]], args: argparse.Namespace, command: str) -> None:
    def med(rs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in rs))

    print(f"\nmedians of {args.runs} runs: {command}\n")
    print("| phase | configuration | per second (runs) | median | serve CPU per unit (ms) "
          "| database CPU per unit (ms) | addresses held twice |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (phase, case), rs in results.items():
        unit = "leases" if phase == "leases" else "devices"
        twice = sum(r["check"]["address_two_rows"] + r["check"]["device_ip_twice"] for r in rs)
        each = ", ".join(f"{r['per_s']:.0f}" for r in rs)
        print(f"| {unit} | {label(case)} | {each} | **{med(rs, 'per_s'):.0f}** "
              f"| {med(rs, 'serve_cpu_ms'):.3f} | {med(rs, 'db_cpu_ms'):.3f} | {twice} |")


if __name__ == "__main__":
    main()
