"""``pktcable simulate --workers N``: the devices split between N processes.

One Python process plays a few hundred devices a second; a boot storm past
the server's knee needs more, and a real plant has many CMTSs. Each worker
is a ``pktcable simulate`` process of its own with its own relay address
(giaddr: the server sees N relays), a consecutive share of the device
indexes and its share of the rate. The parent starts them, waits until
every one has opened its relay (a line ``ready`` on its stdout), lets them
all go at once (a line on their stdin), counts the devices they finish (one
character each on their stdout: ``1`` passed, ``0`` failed) and merges the
per-device rows they write into one report.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from .config import DeviceResult
from .net import RelayStats
from .report import from_rows

READY = b"ready\n"
GO = b"go\n"
PASSED, FAILED = b"1", b"0"


class WorkerError(Exception):
    """A worker process did not start or did not finish its share."""


@dataclass(frozen=True, slots=True)
class Share:
    first: int
    count: int
    rate: float | None
    relay: str


def shares(count: int, rate: float | None, first: int, relay: str, workers: int) -> list[Share]:
    """Consecutive index ranges as even as they go, the rate split the same
    way (each worker offers its devices at its share of it), relay addresses
    counting up from ``relay``."""
    workers = max(1, min(workers, count))
    base, extra = divmod(count, workers)
    out, start = [], first
    for i in range(workers):
        n = base + (i < extra)
        out.append(Share(start, n, None if not rate else rate * n / count, str(IPv4Address(relay) + i)))
        start += n
    return out


def worker_command(common: Sequence[str], share: Share, rows: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pktcable", "simulate", *common, "--first", str(share.first),
           "--count", str(share.count), "--relay", share.relay, "--worker-rows", str(rows), "--quiet"]
    if share.rate:
        cmd += ["--rate", repr(share.rate)]
    return cmd


async def run_workers(common: Sequence[str], parts: Sequence[Share],
                      progress: Callable[[bool], None] | None = None,
                      relay_stats: RelayStats | None = None) -> tuple[list[DeviceResult], float]:
    """Run one worker per share; every device's result in index order and
    the seconds from the common start until the last worker finished (the
    workers' relay counts added into ``relay_stats``)."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="pktcable-sim-") as tmp:
        files = [Path(tmp) / f"worker{i}.json" for i in range(len(parts))]
        procs = [await asyncio.create_subprocess_exec(*worker_command(common, share, rows), stdin=asyncio.subprocess.PIPE,
                                                      stdout=asyncio.subprocess.PIPE)
                 for share, rows in zip(parts, files, strict=True)]
        try:
            for i, proc in enumerate(procs):
                assert proc.stdout is not None
                if await proc.stdout.readline() != READY:
                    raise WorkerError(f"worker {i} ({parts[i].relay}) did not start: exit status {await proc.wait()}")
            start = loop.time()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(GO)
                await proc.stdin.drain()
            await asyncio.gather(*(_follow(proc, progress) for proc in procs))
            elapsed = loop.time() - start
            for i, proc in enumerate(procs):
                if await proc.wait() not in (0, 1):  # 1: some of its devices failed, told in its rows
                    raise WorkerError(f"worker {i} ({parts[i].relay}) ended with exit status {proc.returncode}")
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        results = []
        for rows in files:
            told = json.loads(rows.read_text())
            results += from_rows(told["devices"])
            if relay_stats is not None:
                for name, value in told["relay"].items():
                    setattr(relay_stats, name, getattr(relay_stats, name) + int(value))
    results.sort(key=lambda r: r.index)
    return results, elapsed


async def _follow(proc: asyncio.subprocess.Process, progress: Callable[[bool], None] | None) -> None:
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(4096):
        if progress is not None:
            for byte in chunk:
                if byte in b"01":
                    progress(byte == PASSED[0])


class WorkerSide:
    """The worker's end: ``ready`` then wait for ``go`` (the gate the runner
    awaits), one character per finished device, flushed by :meth:`flush`."""

    def __init__(self) -> None:
        self.out = sys.stdout.buffer
        self.pending = bytearray()

    async def gate(self) -> None:
        self.out.write(READY)
        self.out.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.readline)
        if line != GO:
            raise WorkerError("the parent went away before the start")

    def device(self, passed: bool) -> None:
        self.pending += PASSED if passed else FAILED

    def flush(self) -> None:
        if self.pending:
            self.out.write(self.pending)
            self.out.flush()
            self.pending.clear()
