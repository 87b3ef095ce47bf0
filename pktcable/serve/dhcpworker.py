"""The DHCP worker process of ``pktcable serve`` (``dhcp_workers = 1``), both sides.

The back office opens the DHCP socket (so a port in use is told at start-up,
by name) and hands it, with one end of a socket pair, to a child process
``python -m pktcable.serve.dhcpworker``. The child runs the DHCP core, its
transport and the lease store (``leases.db``: the child is its only writer)
and streams lease records to the parent (:mod:`pktcable.serve.leasewire`):
first its whole lease table, then READY, then each round's leases, written
after they are durable and before that round's replies leave, and its
counters once a second.

The parent (:class:`DhcpWorker`) mirrors the lease table, hands each ACK to the
back office as the in-process server would (the device's flow starts from it)
and watches the child. A worker that dies (or whose stream is damaged) is
logged and started again on the same socket: datagrams that arrive meanwhile
wait in the socket's queue. More than :data:`MAX_RESTARTS` deaths within
:data:`RESTART_WINDOW` seconds is a fault a restart does not cure: the parent
gives up and ``serve`` exits with status 7 (docs/serve.md, "DHCP worker").

The child ignores SIGINT (a Ctrl-C reaches the whole process group: the parent
orders the shutdown), stops on SIGTERM, and stops by itself when the parent's
end of the pair closes, so it never outlives the back office.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pktcable.dhcpd import DhcpServer
from pktcable.dhcpd.config import ServerConfig
from pktcable.dhcpd.events import Event, LeaseReleased
from pktcable.dhcpd.transport import DhcpTransport

from . import leasewire as wire
from .dhcpwiring import server_stats

log = logging.getLogger("pktcable.serve.dhcpworker")
#: Seconds a worker has to load its lease table and say READY (a large SQLite table, a loaded machine).
START_BUDGET = 60.0
#: Seconds between the worker's counters (what /metrics shows is at most this old).
STATS_INTERVAL = 1.0
#: Deaths within RESTART_WINDOW seconds past which the parent gives up.
MAX_RESTARTS = 3
RESTART_WINDOW = 60.0
#: Seconds between a death and the restart (a crash at start-up must not spin).
RESTART_DELAY = 0.5
#: Seconds the worker has to finish after SIGTERM before it is killed.
STOP_BUDGET = 10.0
#: Octets of records the parent has not read yet past which the worker stops (a parent that
#: stopped reading is hung; the restart or the exit is the parent's watchdog's).
MAX_BACKLOG = 64 << 20
READ_SIZE = 1 << 16  # the child's reads of its end (the parent sends only sync requests)
#: Seconds caught_up waits for the worker's SYNC record: a worker that slow is overloaded
#: or dying, and the INFORM is judged on the mirror as it is.
SYNC_BUDGET = 2.0


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What the child needs, sent pickled on its stdin (parent and child are the same program)."""

    server: ServerConfig
    #: leases.db, a PostgreSQL store's URL, or None for a lease table in memory (gone with
    #: the worker).
    leases_db: str | None
    interface: str | None
    link: IPv4Address | None
    log_level: str
    log_format: str
    log_macs: tuple[str, ...]
    dhcp_fd: int
    stream_fd: int


# -- the child ------------------------------------------------------------------------------------

class _Stream:
    """The child's end: records out, batched per round of the transport."""

    def __init__(self, writer: asyncio.StreamWriter, server: DhcpServer) -> None:
        self.writer, self.server = writer, server

    def round(self, events: list[Event]) -> None:
        self.write(wire.encode_round(events, self.server.engine.by_address))

    def write(self, data: bytes) -> None:
        if not data:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BACKLOG:
            log.error("dhcp worker: the back office has not read %d octets of leases: stopping", MAX_BACKLOG)
            os._exit(1)
        self.writer.write(data)


async def _child(setup: WorkerSetup) -> None:
    from pktcable.store import LeaseStore, MemoryLeaseStore, SqliteLeaseStore
    from pktcable.store.pg import names_postgresql

    loop = asyncio.get_running_loop()
    store: LeaseStore
    if names_postgresql(setup.leases_db):  # the serve store setting's URL (postgres:// too)
        from pktcable.store.pg_leases import PgLeaseStore

        store = PgLeaseStore(setup.leases_db)  # type: ignore[arg-type]  # not None: a URL
    else:
        store = SqliteLeaseStore(setup.leases_db) if setup.leases_db else MemoryLeaseStore()
    server = DhcpServer(setup.server, store)
    sock = socket.socket(fileno=setup.dhcp_fd)
    sock.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=setup.stream_fd))
    stream = _Stream(writer, server)
    stream.write(b"".join(wire.encode_lease(wire.Kind.SNAPSHOT, lease) for lease in server.engine.by_address.values()))
    stream.write(wire.encode_ready())
    transport = DhcpTransport(server, sock, interface=setup.interface, link=setup.link, on_events=stream.round)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def parent_gone() -> None:
        # The parent sends only sync requests; EOF is its end closing. A SYNC record is
        # written after every record of the ACKs already sent (the stream is ordered), so
        # when the parent reads it, its mirror holds every lease a device may act on.
        while data := await reader.read(READ_SIZE):
            stream.write(wire.encode_sync() * data.count(wire.SYNC_REQUEST))
        stop.set()

    async def counters() -> None:
        while True:
            stream.write(wire.encode_stats({**server_stats(server, transport), "cpu": time.process_time(),
                                            "pid": os.getpid()}))
            await asyncio.sleep(STATS_INTERVAL)

    tasks = [asyncio.ensure_future(parent_gone()), asyncio.ensure_future(counters())]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        transport.close()
        store.close()
        writer.close()


def main() -> None:
    from pktcable.cli.logs import setup as log_setup

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup: WorkerSetup = pickle.load(sys.stdin.buffer)
    sys.stdin.close()
    log_setup(setup.log_level, setup.log_format, setup.log_macs)
    asyncio.run(_child(setup))


# -- the parent -----------------------------------------------------------------------------------

class WorkerFailed(RuntimeError):
    """The worker could not be started, or died too often: DHCP is not served."""


class _Records(asyncio.Protocol):
    """The parent's end of the pair: records applied as the bytes arrive, in the loop's
    callback for the socket itself. A StreamReader would wake a task one loop turn later,
    and an INFORM read in the same turn could then reach the entity ahead of its lease."""

    def __init__(self, apply: Callable[[wire.Record], None],
                 round: Callable[[list[Event]], AbstractContextManager[None]] | None = None) -> None:
        self.apply = apply
        #: Opens around the records of one read, given their lease events (the transport's ``round``).
        self.round = round
        self.frames = wire.FrameReader()
        loop = asyncio.get_running_loop()
        #: Done at READY (the whole table is in the mirror).
        self.ready: asyncio.Future[None] = loop.create_future()
        #: Done with why the stream ended (the worker exited, or sent damage).
        self.ended: asyncio.Future[str] = loop.create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.ended.done():
            return
        records: list[wire.Record] = []
        damage: wire.WireError | None = None
        try:
            for record in self.frames.feed(data):
                records.append(record)
        except wire.WireError as exc:  # the records before the damage are applied all the same
            damage = exc
        events: list[Event] = [r.event for r in records if r.kind is wire.Kind.BOUND and r.event is not None]
        try:
            told = self.round(events) if self.round is not None and events else nullcontext()
        except Exception:  # the back office's bug costs the round's look-up, never the worker
            log.exception("lease events from the dhcp worker")
            told = nullcontext()
        with told:
            for record in records:
                try:
                    self.apply(record)
                except Exception:  # the back office's bug costs one lease event, never the worker
                    log.exception("lease event from the dhcp worker")
                if record.kind is wire.Kind.READY and not self.ready.done():
                    self.ready.set_result(None)
        if damage is not None:
            self.ended.set_result(f"sent a damaged lease stream ({damage})")
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result("exited")


class DhcpWorker:
    """The back office's side: the child process, the lease mirror, the counters."""

    def __init__(self, setup: WorkerSetup, sock: socket.socket, on_event: Callable[[Event], None],
                 mirror: wire.LeaseMirror | None = None,
                 round: Callable[[list[Event]], AbstractContextManager[None]] | None = None) -> None:
        self.setup, self.sock, self.on_event, self.round = setup, sock, on_event, round
        self.mirror = mirror if mirror is not None else wire.LeaseMirror()
        self.view = self.mirror
        #: The worker's last counters (server_stats' shape, plus its CPU seconds and pid).
        self.last_stats: dict[str, Any] = {}
        #: Times the worker was started again after it died.
        self.restarts = 0
        #: Done (with the reason) when the parent gave up on the worker: serve exits.
        self.failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.proc: asyncio.subprocess.Process | None = None
        self._follower: asyncio.Task[None] | None = None
        self._records: _Records | None = None
        self._closing = False
        self._deaths: deque[float] = deque()
        #: The sync requests in flight (caught_up), oldest first.
        self._syncs: deque[asyncio.Future[None]] = deque()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stats(self) -> dict[str, Any]:
        return self.last_stats

    async def start(self) -> None:
        """Start the worker; returns once it serves (WorkerFailed if it does not within START_BUDGET)."""
        await self._spawn()
        self._follower = asyncio.ensure_future(self._follow())

    async def _spawn(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        setup = WorkerSetup(**{**{f: getattr(self.setup, f) for f in WorkerSetup.__dataclass_fields__},
                               "dhcp_fd": self.sock.fileno(), "stream_fd": child.fileno()})
        # The child imports this very pktcable, wherever it was found.
        here = str(Path(__file__).resolve().parent.parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pktcable.serve.dhcpworker", stdin=asyncio.subprocess.PIPE,
                pass_fds=(self.sock.fileno(), child.fileno()), env=env)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        assert self.proc.stdin is not None
        self.proc.stdin.write(pickle.dumps(setup))
        await self.proc.stdin.drain()
        self.proc.stdin.close()
        records = self._records = _Records(self._apply, self.round)  # a new worker's stream starts afresh
        await asyncio.get_running_loop().connect_accepted_socket(lambda: records, parent)
        either: list[asyncio.Future[Any]] = [records.ready, records.ended]
        await asyncio.wait(either, timeout=START_BUDGET, return_when=asyncio.FIRST_COMPLETED)
        if not records.ready.done():
            await self._end_child()
            why = records.ended.result() if records.ended.done() else "no answer"
            raise WorkerFailed(f"dhcp worker did not start: {why}")
        log.info("dhcp worker pid %d serving, %d leases", self.proc.pid, len(self.mirror.by_address))

    async def caught_up(self, budget: float = SYNC_BUDGET) -> None:
        """Returns once every lease record the worker wrote before now is in the mirror
        (or after ``budget`` seconds, or at once with no worker): for an INFORM from a
        device whose ACK left the worker just before its lease record reached us. Each
        caller sends its own request (a request already in flight may have been answered
        before the caller's lease was written); the answers come back in order. (The
        records are applied in the socket's own callback, so an INFORM rarely overtakes
        its lease; rarely is not never: the loop's order of ready sockets is not ours.)"""
        records = self._records
        transport = records.transport if records is not None else None
        if transport is None or transport.is_closing() or records is None or records.ended.done():
            return
        answered = asyncio.get_running_loop().create_future()
        self._syncs.append(answered)
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(wire.SYNC_REQUEST)
        try:
            await asyncio.wait_for(answered, budget)
        except TimeoutError:
            pass

    def _apply(self, record: wire.Record) -> None:
        if record.kind is wire.Kind.STATS:
            self.last_stats = record.stats
            return
        if record.kind is wire.Kind.SYNC:
            if self._syncs:
                answered = self._syncs.popleft()
                if not answered.done():
                    answered.set_result(None)
            return
        self.mirror.apply(record)
        if record.kind is wire.Kind.BOUND:
            assert record.event is not None
            self.on_event(record.event)
        elif record.kind is wire.Kind.RELEASED:
            assert record.lease is not None
            self.on_event(LeaseReleased(record.lease))

    async def _follow(self) -> None:
        while True:
            assert self._records is not None
            why = await self._records.ended
            if self._closing:
                return
            status = await self._end_child()
            log.error("dhcp worker pid %s %s (exit status %s)", self.pid, why, status)
            now = time.monotonic()
            self._deaths.append(now)
            while self._deaths and self._deaths[0] < now - RESTART_WINDOW:
                self._deaths.popleft()
            if len(self._deaths) > MAX_RESTARTS:
                return self._give_up(f"dhcp worker died {len(self._deaths)} times in {RESTART_WINDOW:g} s")
            await asyncio.sleep(RESTART_DELAY)
            try:
                await self._spawn()
            except (WorkerFailed, OSError) as exc:
                return self._give_up(str(exc))
            self.restarts += 1
            log.warning("dhcp worker started again (pid %d, restart %d)", self.pid, self.restarts)

    def _give_up(self, why: str) -> None:
        log.critical("%s: giving up, DHCP is not served", why)
        if not self.failed.done():
            self.failed.set_result(why)

    async def _end_child(self) -> int | None:
        """Stop the child (SIGTERM, then SIGKILL after STOP_BUDGET); its exit status."""
        if self._records is not None and self._records.transport is not None:
            self._records.transport.close()
        while self._syncs:  # no answer will come from this child: nobody waits out the budget
            answered = self._syncs.popleft()
            if not answered.done():
                answered.set_result(None)
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(proc.wait(), STOP_BUDGET)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        return proc.returncode

    async def close(self) -> None:
        self._closing = True
        status = await self._end_child()
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if status not in (None, 0):
            log.warning("dhcp worker exit status %s at shutdown", status)
        self.sock.close()


if __name__ == "__main__":
    main()
