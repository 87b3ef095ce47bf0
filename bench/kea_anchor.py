"""The Kea anchor of the boot-storm benchmark: Kea's CPU per DORA, measured in the same run.

Kea (kea-dhcp4, raw sockets, memfile leases written to disk) serves perfdhcp
over a veth pair between two network namespaces of its own (names unlike
bench_dhcp.py's, so the two benchmarks can run at once); the CPU seconds
kea-dhcp4 used while perfdhcp ran, divided by the ACKs perfdhcp received, is
the anchor a `pktcable serve` device is compared with (a HYBRID.2 device is
two DORAs plus ToD, two downloads, two INFORMs and a SET). Needs root,
iproute2, kea-dhcp4-server and perfdhcp.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from procstat import cpu_seconds  # noqa: E402 - bench/ is the script folder

SRV, CLI, SDEV, CDEV = "pkanchor-s", "pkanchor-c", "pka-s", "pka-c"


@dataclass(frozen=True)
class KeaAnchor:
    dora: int  # ACKs perfdhcp received
    cpu: float  # seconds kea-dhcp4 used meanwhile

    @property
    def per_dora(self) -> float:
        return self.cpu / max(self.dora, 1)


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def _down() -> None:
    for ns in (SRV, CLI):
        for pid in _sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _sh("ip", "netns", "del", ns, check=False)


def _up() -> None:
    _down()
    _sh("ip", "netns", "add", SRV)
    _sh("ip", "netns", "add", CLI)
    _sh("ip", "link", "add", SDEV, "type", "veth", "peer", "name", CDEV)
    _sh("ip", "link", "set", SDEV, "netns", SRV)
    _sh("ip", "link", "set", CDEV, "netns", CLI)
    _sh("ip", "-n", SRV, "addr", "add", "198.18.0.1/15", "dev", SDEV)
    _sh("ip", "-n", CLI, "addr", "add", "198.18.0.2/15", "dev", CDEV)
    for ns, dev in ((SRV, SDEV), (CLI, CDEV)):
        _sh("ip", "-n", ns, "link", "set", dev, "up")


def _config(workdir: Path) -> dict:  # type: ignore[type-arg]
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": [SDEV], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": True, "name": str(workdir / "leases4.csv"),
                           "lfc-interval": 0},
        "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800, "authoritative": True,
        "subnet4": [{"id": 1, "subnet": "198.18.0.0/15", "pools": [{"pool": "198.18.0.10 - 198.19.255.250"}],
                     "option-data": [{"name": "routers", "data": "198.18.0.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": str(workdir / "kea.log")}],
                     "severity": "WARN"}]}}


def why_not() -> str | None:
    """Why the anchor cannot be measured here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("kea-dhcp4", "perfdhcp", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def measure(rate: int, seconds: int) -> KeaAnchor:
    """Kea under ``rate`` DORAs per second of perfdhcp for ``seconds``."""
    _up()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "kea.json").write_text(json.dumps(_config(work)))
            env = dict(os.environ, KEA_PIDFILE_DIR=tmp, KEA_LOCKFILE_DIR=tmp)
            # ip netns exec execs the command: the child's pid is kea-dhcp4's own.
            kea = subprocess.Popen(["ip", "netns", "exec", SRV, "kea-dhcp4", "-c", str(work / "kea.json")], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.5)
                if kea.poll() is not None:
                    raise RuntimeError("kea-dhcp4 did not start")
                before = cpu_seconds(kea.pid)
                out = _sh("ip", "netns", "exec", CLI, "perfdhcp", "-4", "-l", CDEV, "-r", str(rate), "-R", "100000",
                          "-p", str(seconds), check=False).stdout
                cpu = cpu_seconds(kea.pid) - before
            finally:
                kea.terminate()
                kea.wait(10)
    finally:
        _down()
    received = re.findall(r"received packets: (\d+)", out)  # DISCOVER-OFFER, then REQUEST-ACK
    if len(received) < 2:
        raise RuntimeError(f"perfdhcp printed no REQUEST-ACK statistics: {out[-500:]}")
    return KeaAnchor(int(received[1]), cpu)
