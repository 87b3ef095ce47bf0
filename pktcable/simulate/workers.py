"""``pktcable simulate --workers N``: the devices split between N processes.

One Python process plays a few hundred devices a second; a boot storm past
the server's knee needs more, and a real plant has many CMTSs. Each worker
is a process of its own (``python -m pktcable.simulate.workers``) with its
own relay address (giaddr: the server sees N relays), a consecutive share of
the device indexes and its share of the rate. The parent writes each its
task (one JSON line on its stdin: the settings, its share, where to leave
its rows), waits until every one has opened its relay (a line ``ready`` on
its stdout), lets them all go at once (a line on their stdin), counts the
devices they finish (one character each on their stdout: ``1`` passed,
``0`` failed) and merges the per-device rows they write into one report.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pktcable.flow import Flow, Timing
from pktcable.snmp.pktc import Tree

from .config import DeviceResult, SimConfig
from .net import RelayStats
from .report import from_rows, to_rows

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


def config_to_json(config: SimConfig) -> dict[str, Any]:
    out = {f.name: getattr(config, f.name) for f in fields(SimConfig)}
    out["timing"] = asdict(config.timing)
    out["tree"] = config.tree.value
    for key, value in out.items():
        if isinstance(value, bytes):
            out[key] = value.decode("latin-1")
    return out


def config_from_json(data: dict[str, Any]) -> SimConfig:
    config = SimConfig(**{**data, "timing": Timing(**data["timing"]), "tree": Tree(data["tree"]),
                          "also_servers": tuple(data.get("also_servers", ()))})
    for f in fields(SimConfig):
        if isinstance(getattr(SimConfig(server=""), f.name), bytes):
            setattr(config, f.name, str(getattr(config, f.name)).encode("latin-1"))
    return config


def task(config: SimConfig, flow: Flow, share: Share, rows: Path) -> bytes:
    """One worker's task: a JSON line on its stdin."""
    return json.dumps({"config": config_to_json(replace(config, relay=share.relay)), "flow": flow.value,
                       "first": share.first, "count": share.count, "rate": share.rate,
                       "rows": str(rows)}).encode() + b"\n"


async def run_workers(config: SimConfig, flow: Flow, parts: Sequence[Share],
                      progress: Callable[[bool], None] | None = None,
                      relay_stats: RelayStats | None = None) -> tuple[list[DeviceResult], float]:
    """Run one worker per share; every device's result in index order and
    the seconds from the common start until the last worker finished (the
    workers' relay counts added into ``relay_stats``)."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="pktcable-sim-") as tmp:
        files = [Path(tmp) / f"worker{i}.json" for i in range(len(parts))]
        procs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "pktcable.simulate.workers",
                                                      stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                 for _ in parts]
        try:
            for proc, share, rows in zip(procs, parts, files, strict=True):
                assert proc.stdin is not None
                proc.stdin.write(task(config, flow, share, rows))
                await proc.stdin.drain()
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


def main() -> None:
    """A worker: its task from stdin, ``ready`` once its relay is open, its
    devices when the parent says go, its rows in the file the task names."""
    from pktcable.cli.common import raise_fd_limit

    from .runner import simulate

    raise_fd_limit()
    told = json.loads(sys.stdin.buffer.readline())
    config = config_from_json(told["config"])
    side = WorkerSide()
    stats = RelayStats()

    async def run() -> list[DeviceResult]:
        async def flushing() -> None:
            while True:
                await asyncio.sleep(0.2)
                side.flush()

        flusher = asyncio.ensure_future(flushing())
        try:
            results, _ = await simulate(config, Flow.of(told["flow"]), told["count"], told["rate"], told["first"],
                                        lambda r: side.device(r.passed), side.gate, stats)
        finally:
            flusher.cancel()
        side.flush()
        return results

    try:
        results = asyncio.run(run())
    except OSError as exc:
        sys.stderr.write(f"pktcable: worker: cannot open the relay socket {config.relay}:{config.relay_port}: {exc}\n")
        sys.exit(6)
    Path(told["rows"]).write_text(json.dumps({"devices": to_rows(results), "relay": asdict(stats)}))
    sys.exit(0 if all(r.passed for r in results) else 1)


if __name__ == "__main__":
    main()
