"""What the benchmarks read of a server process from /proc."""

from __future__ import annotations

import os
from pathlib import Path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (serve's DHCP worker)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> tuple[float, dict[int, float]]:
    """CPU seconds of ``pid`` and of each of its live children, by pid (a child that exited
    meanwhile reads as 0: the caller compares the same pids before and after)."""
    own = cpu_seconds(pid)
    kids: dict[int, float] = {}
    for child in children(pid):
        try:
            kids[child] = cpu_seconds(child)
        except OSError:
            continue
    return own, kids


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
