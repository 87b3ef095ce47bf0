"""DHCPv4 throughput: perfdhcp against pktcable's server and against Kea, same run, same pool.

Two network namespaces joined by a veth pair (server 198.18.0.1/15, load
generator 198.18.0.2/15, the RFC 2544 benchmarking range). perfdhcp runs full
DORA exchanges as a relay (``-l``: giaddr set, answers to giaddr:67) with
100 000 simulated clients; the pool holds ~131 000 addresses. Needs root,
iproute2, kea-dhcp4-server and kea-admin (perfdhcp).

    python bench/bench_dhcp.py --rate 8000 --rate 12000 --seconds 20

Prints one Markdown table row per (server, rate): completed exchanges per
second and the drop percentages perfdhcp reports.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRV, CLI, SDEV, CDEV = "pkbench-s", "pkbench-c", "pkb-s", "pkb-c"

OURS = """
[server]
server_id = "198.18.0.1"
[[subnet]]
network = "198.18.0.0/15"
options = { routers = ["198.18.0.1"] }
[[subnet.pool]]
start = "198.18.0.10"
end = "198.19.255.250"
[[class]]
name = "any"
kind = "any"
"""


def kea_config(workdir: Path, persist: bool) -> dict:  # type: ignore[type-arg]
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": [SDEV], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": persist, "name": str(workdir / "leases4.csv"),
                           "lfc-interval": 0},
        "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800, "authoritative": True,
        "subnet4": [{"id": 1, "subnet": "198.18.0.0/15", "pools": [{"pool": "198.18.0.10 - 198.19.255.250"}],
                     "option-data": [{"name": "routers", "data": "198.18.0.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": str(workdir / "kea.log")}],
                     "severity": "WARN"}]}}


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def link_up() -> None:
    link_down()
    sh("ip", "netns", "add", SRV)
    sh("ip", "netns", "add", CLI)
    sh("ip", "link", "add", SDEV, "type", "veth", "peer", "name", CDEV)
    sh("ip", "link", "set", SDEV, "netns", SRV)
    sh("ip", "link", "set", CDEV, "netns", CLI)
    sh("ip", "-n", SRV, "addr", "add", "198.18.0.1/15", "dev", SDEV)
    sh("ip", "-n", CLI, "addr", "add", "198.18.0.2/15", "dev", CDEV)
    for ns, dev in ((SRV, SDEV), (CLI, CDEV)):
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def link_down() -> None:
    for ns in (SRV, CLI):
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", ns, check=False)


def start_server(kind: str, workdir: Path) -> subprocess.Popen[bytes]:
    if kind.startswith("kea"):
        conf = workdir / "kea.json"
        conf.write_text(json.dumps(kea_config(workdir, kind == "kea-persist")))
        env = dict(os.environ, KEA_PIDFILE_DIR=str(workdir), KEA_LOCKFILE_DIR=str(workdir))
        cmd = ["kea-dhcp4", "-c", str(conf)]
    else:
        conf = workdir / "pktcable.toml"
        conf.write_text(OURS)
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "pktcable", "dhcp", "serve", "--config", str(conf), "--interface", SDEV,
               "--quiet"]
        if kind != "pktcable-memory":
            sync = "NORMAL" if kind == "pktcable-sqlite-normal" else "FULL"
            cmd += ["--data-dir", str(workdir), "--synchronous", sync]
    proc = subprocess.Popen(["ip", "netns", "exec", SRV, *cmd], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(1.5)
    if proc.poll() is not None:
        raise SystemExit(f"{kind} did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
    return proc


def perfdhcp(rate: int, seconds: int) -> dict[str, float]:
    out = sh("ip", "netns", "exec", CLI, "perfdhcp", "-4", "-l", CDEV, "-r", str(rate), "-R", "100000",
             "-p", str(seconds), check=False).stdout
    result: dict[str, float] = {}
    m = re.search(r"Rate: ([\d.]+) 4-way exchanges/second", out)
    result["rate"] = float(m.group(1)) if m else 0.0
    drops = re.findall(r"drops ratio: ([\d.]+) ?%", out)
    result["drops_do"] = float(drops[0]) if drops else 100.0
    result["drops_ra"] = float(drops[1]) if len(drops) > 1 else 100.0
    # perfdhcp's own check that no address went to two clients
    result["non_unique"] = float(sum(int(n) for n in re.findall(r"non unique addresses: (\d+)", out)))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, action="append", help="offered exchanges/s (repeatable)")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--server", action="append",
                    choices=["kea", "kea-persist", "pktcable-memory", "pktcable-sqlite-normal", "pktcable-sqlite"])
    args = ap.parse_args()
    rates = args.rate or [8000, 12000]
    servers = args.server or ["kea", "pktcable-sqlite"]
    print("| server | offered/s | completed leases/s (runs) | median | drops DO / RA (median run) | non-unique |")
    print("| --- | --- | --- | --- | --- | --- |")
    try:
        for rate in rates:
            for kind in servers:
                runs = []
                for _ in range(args.runs):
                    link_up()
                    with tempfile.TemporaryDirectory() as tmp:
                        proc = start_server(kind, Path(tmp))
                        try:
                            runs.append(perfdhcp(rate, args.seconds))
                        finally:
                            os.killpg(proc.pid, signal.SIGTERM)
                            proc.wait(10)
                    link_down()
                runs.sort(key=lambda r: r["rate"])
                mid = runs[len(runs) // 2]
                rates_text = ", ".join(f"{r['rate']:.0f}" for r in runs)
                print(f"| {kind} | {rate} | {rates_text} | **{mid['rate']:.0f}** | "
                      f"{mid['drops_do']:.2f} % / {mid['drops_ra']:.2f} % | {mid['non_unique']:.0f} |", flush=True)
    finally:
        link_down()


if __name__ == "__main__":
    main()
