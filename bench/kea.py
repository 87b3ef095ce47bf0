"""Kea as a DHCPv4 anchor: network namespaces, perfdhcp, and Kea's CPU per DORA.

Two network namespaces joined by a veth pair (server 198.18.0.1/15, load
generator 198.18.0.2/15, the RFC 2544 benchmarking range). perfdhcp runs full
DORA exchanges as a relay (``-l``: giaddr set, answers to giaddr:67) for
100 000 simulated clients; the pool holds ~131 000 addresses. Needs root,
iproute2, kea-dhcp4-server and kea-admin (perfdhcp).

The namespace and veth names carry this process's id, so two benchmarks (say
the DHCP one and the boot-storm one) can run at the same time without taking
each other's links down.

    from kea import kea_cpu_per_dora
    kea_cpu_per_dora(3000, 10)
    # {'leases': 29998, 'drops': 0.0, 'cpu_s': 1.9, 'cpu_per_dora_ms': 0.063, 'command': '...'}

Run as a script it prints that dict: ``python bench/kea.py --rate 3000 --seconds 10``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procstat import cpu_seconds  # noqa: E402

_TAG = str(os.getpid() % 100000)
#: Namespaces and veth ends (interface names: at most 15 octets).
SRV, CLI = f"pkbench-s{_TAG}", f"pkbench-c{_TAG}"
SDEV, CDEV = f"pkb-s{_TAG}", f"pkb-c{_TAG}"
SERVER_ADDR, CLIENT_ADDR, NETWORK = "198.18.0.1", "198.18.0.2", "198.18.0.0/15"
POOL = ("198.18.0.10", "198.19.255.250")
#: Simulated clients perfdhcp cycles through (-R); fewer than the pool holds, so no run
#: runs out of addresses.
CLIENTS = 100_000


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def link_up() -> None:
    link_down()
    sh("ip", "netns", "add", SRV)
    sh("ip", "netns", "add", CLI)
    sh("ip", "link", "add", SDEV, "type", "veth", "peer", "name", CDEV)
    sh("ip", "link", "set", SDEV, "netns", SRV)
    sh("ip", "link", "set", CDEV, "netns", CLI)
    sh("ip", "-n", SRV, "addr", "add", f"{SERVER_ADDR}/15", "dev", SDEV)
    sh("ip", "-n", CLI, "addr", "add", f"{CLIENT_ADDR}/15", "dev", CDEV)
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


@contextmanager
def namespaces() -> Iterator[None]:
    """A fresh veth pair between the server and the client namespace, removed on exit."""
    link_up()
    try:
        yield
    finally:
        link_down()


def kea_config(workdir: Path, persist: bool) -> dict:  # type: ignore[type-arg]
    """Kea 2.2 single-threaded memfile, the same pool, lifetimes and router as pktcable's bench config."""
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": [SDEV], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": persist, "name": str(workdir / "leases4.csv"),
                           "lfc-interval": 0},
        "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800, "authoritative": True,
        "subnet4": [{"id": 1, "subnet": NETWORK, "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                     "option-data": [{"name": "routers", "data": SERVER_ADDR}]}],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": str(workdir / "kea.log")}],
                     "severity": "WARN"}]}}


def start_in_server_ns(cmd: list[str], env: dict[str, str], cwd: Path, what: str,
                       settle: float = 1.5) -> subprocess.Popen[bytes]:
    """``cmd`` in the server namespace (``ip netns exec`` execs it: the pid is the server's)."""
    proc = subprocess.Popen(["ip", "netns", "exec", SRV, *cmd], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(settle)
    if proc.poll() is not None:
        raise SystemExit(f"{what} did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
    return proc


def start_kea(workdir: Path, persist: bool = False) -> subprocess.Popen[bytes]:
    conf = workdir / "kea.json"
    conf.write_text(json.dumps(kea_config(workdir, persist)))
    env = dict(os.environ, KEA_PIDFILE_DIR=str(workdir), KEA_LOCKFILE_DIR=str(workdir))
    return start_in_server_ns(["kea-dhcp4", "-c", str(conf)], env, workdir, "kea-dhcp4")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def perfdhcp_command(rate: float, seconds: float) -> list[str]:
    return ["ip", "netns", "exec", CLI, "perfdhcp", "-4", "-l", CDEV, "-r", str(int(rate)), "-R", str(CLIENTS),
            "-p", str(max(1, round(seconds)))]


@dataclass
class PerfResult:
    """What one perfdhcp run reports."""

    #: Completed 4-way exchanges per second (perfdhcp's "Rate").
    rate: float = 0.0
    #: Drop percentages of the DISCOVER-OFFER and of the REQUEST-ACK exchange.
    drops_do: float = 100.0
    drops_ra: float = 100.0
    #: DISCOVERs sent and ACKs received: the exchanges started and completed.
    discovers: int = 0
    acks: int = 0
    #: Addresses perfdhcp saw given to two clients (must stay 0).
    non_unique: int = 0
    raw: str = field(default="", repr=False)

    @property
    def lost(self) -> float:
        """Percent of the exchanges started that got no ACK."""
        return 100.0 * (1 - self.acks / self.discovers) if self.discovers else 100.0


def parse_perfdhcp(out: str) -> PerfResult:
    result = PerfResult(raw=out)
    m = re.search(r"Rate: ([\d.]+) 4-way exchanges/second", out)
    result.rate = float(m.group(1)) if m else 0.0
    drops = re.findall(r"drops ratio: ([\d.]+) ?%", out)
    result.drops_do = float(drops[0]) if drops else 100.0
    result.drops_ra = float(drops[1]) if len(drops) > 1 else 100.0
    sent = re.findall(r"sent packets: (\d+)", out)
    received = re.findall(r"received packets: (\d+)", out)
    result.discovers = int(sent[0]) if sent else 0
    result.acks = int(received[1]) if len(received) > 1 else 0
    result.non_unique = sum(int(n) for n in re.findall(r"non unique addresses: (\d+)", out))
    return result


def perfdhcp(rate: float, seconds: float) -> PerfResult:
    return parse_perfdhcp(sh(*perfdhcp_command(rate, seconds), check=False).stdout)


def measure(proc: subprocess.Popen[bytes], rate: float, seconds: float) -> tuple[PerfResult, float]:
    """One perfdhcp run against the server ``proc``, with the CPU seconds the server used meanwhile."""
    before = cpu_seconds(proc.pid)
    result = perfdhcp(rate, seconds)
    return result, cpu_seconds(proc.pid) - before


def kea_cpu_per_dora(rate: float, seconds: float, persist: bool = True) -> dict:  # type: ignore[type-arg]
    """Kea's CPU seconds per completed DORA at ``rate`` offered exchanges/s for ``seconds``.

    Starts Kea (memfile; by default with its leases written to disk, as pktcable's
    default store keeps them) and perfdhcp in a fresh pair of network
    namespaces, and returns ``leases`` (ACKs perfdhcp received), ``drops`` (percent
    of the exchanges perfdhcp started that got no ACK), ``cpu_s`` (Kea's user + system
    CPU seconds over the perfdhcp run, start-up excluded), ``cpu_per_dora_ms`` and
    ``command`` (the perfdhcp command line, for the benchmark's notes)."""
    with namespaces(), tempfile.TemporaryDirectory() as tmp:
        proc = start_kea(Path(tmp), persist)
        try:
            result, cpu = measure(proc, rate, seconds)
        finally:
            stop(proc)
    command = shlex.join(perfdhcp_command(rate, seconds)[4:])  # without "ip netns exec NS"
    return {"leases": result.acks, "drops": round(result.lost, 3), "cpu_s": round(cpu, 3),
            "cpu_per_dora_ms": round(1000 * cpu / result.acks, 4) if result.acks else float("inf"),
            "command": f"kea-dhcp4 2.2 memfile (persist {str(persist).lower()}) against {command}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=3000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    print(kea_cpu_per_dora(args.rate, args.seconds))


if __name__ == "__main__":
    main()
