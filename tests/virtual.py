"""Virtual time and an in-memory network for end-to-end tests.

:class:`VirtualLoop` is asyncio's selector loop with its own clock: when no
callback is ready, the clock jumps to the next scheduled timer instead of
waiting for it, so ``asyncio.sleep``, ``wait_for`` and ``call_later`` cost no
wall time and a 600 s provisioning timer expires at once. The same code runs
as on real sockets: only the loop and the sockets differ.

:class:`VirtualNetwork` stands in for UDP. Every address is a host (as every
127.x.y.z is on Linux loopback); a datagram sent is delivered on the next
turn of the loop, in the order sent, or lost or duplicated as the seeded
random source says. The services open their sockets through the ``socket``
module name of their own module and through the loop
(``create_datagram_endpoint``, ``add_reader``, ``sock_recvfrom``);
:func:`virtual_sockets` points the first at the network while the second is
the loop's own business. Nothing outside this process is ever reached:
a real socket handed to ``create_datagram_endpoint`` is an error.

What the virtual network does not model (and the real-socket tests cover):
latency (every datagram takes one loop turn), ICMP port-unreachable, TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import random
import selectors
import socket as _socket
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

Address = tuple[str, int]
T = TypeVar("T")

#: Where the virtual clock starts: a plausible Unix time, since the Backoffice
#: reads the loop's time as one (history timestamps, lease expiry).
EPOCH = 1_700_000_000.0
#: The largest UDP payload over IPv4 (65535 - 8 octets UDP - 20 octets IP).
MAX_DATAGRAM = 65507
#: Linux's default receive buffer (net.core.rmem_default); SO_RCVBUF doubles what is asked, as Linux does.
DEFAULT_RCVBUF = 212992
#: Ephemeral ports, as Linux's ip_local_port_range.
EPHEMERAL = range(32768, 60999)
#: File numbers of virtual sockets: far above any real descriptor of this process.
FIRST_FD = 1 << 24
#: How long (wall time) an idle loop with no timer waits for another thread before calling it a deadlock.
IDLE_WALL_WAIT = 5.0
#: The modules whose services open UDP sockets with ``socket.socket``.
SOCKET_USERS = ("pktcable.delivery.tftp_aio", "pktcable.dualport", "pktcable.dhcpd.transport",
                "pktcable.snmp.aio", "pktcable.simulate.net")

WILDCARD = "0.0.0.0"
BROADCAST = "255.255.255.255"


class VirtualSocket:
    """A non-blocking UDP socket of a :class:`VirtualNetwork` (the calls the services make)."""

    def __init__(self, network: VirtualNetwork, fd: int) -> None:
        self.network = network
        self.fd = fd
        self.local: Address | None = None
        self.queue: deque[tuple[bytes, Address]] = deque()
        self.queued_bytes = 0
        self.rcvbuf = DEFAULT_RCVBUF
        self.closed = False
        #: The loop's reader: (callback, args), or None.
        self.reader: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self._wake_pending = False

    # -- the socket API --------------------------------------------------------
    def fileno(self) -> int:
        return -1 if self.closed else self.fd

    def setblocking(self, flag: bool) -> None:
        if flag:
            raise OSError(errno.EINVAL, "virtual sockets are non-blocking only")

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == _socket.SOL_SOCKET and option == _socket.SO_RCVBUF:
            self.rcvbuf = 2 * int(value)

    def bind(self, address: Address) -> None:
        if self.local is not None:
            raise OSError(errno.EINVAL, "already bound")
        self.local = self.network.bind(self, address)

    def getsockname(self) -> Address:
        return self.local if self.local is not None else (WILDCARD, 0)

    def sendto(self, data: bytes, address: Address) -> int:
        self._check_open()
        if len(data) > MAX_DATAGRAM:
            raise OSError(errno.EMSGSIZE, "message too long")
        if self.local is None:
            self.bind((WILDCARD, 0))
        assert self.local is not None
        self.network.send(self.local, bytes(data), (str(address[0]), int(address[1])))
        return len(data)

    def recvfrom(self, size: int) -> tuple[bytes, Address]:
        self._check_open()
        if not self.queue:
            raise BlockingIOError(errno.EAGAIN, "no datagram")
        data, source = self.queue.popleft()
        self.queued_bytes -= len(data)
        return data[:size], source  # UDP truncates what does not fit

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.reader = None
            self.network.release(self)

    def __enter__(self) -> VirtualSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise OSError(errno.EBADF, "socket closed")

    # -- the network's side ----------------------------------------------------------
    def enqueue(self, data: bytes, source: Address) -> bool:
        if self.queued_bytes + len(data) > self.rcvbuf:
            return False  # a full receive buffer drops, as the kernel does
        self.queue.append((data, source))
        self.queued_bytes += len(data)
        self.wake()
        return True

    def wake(self) -> None:
        """Level-triggered readiness: the reader runs while datagrams wait."""
        if self.reader is not None and self.queue and not self._wake_pending:
            self._wake_pending = True
            self.network.loop().call_soon(self._readable)

    def _readable(self) -> None:
        self._wake_pending = False
        if self.reader is None or not self.queue:
            return
        callback, args = self.reader
        try:
            callback(*args)
        finally:
            self.wake()


class VirtualNetwork:
    """UDP between addresses in this process; ``loss`` and ``duplicate`` are
    the chances that a datagram is dropped or delivered twice, drawn from
    ``random.Random(seed)`` in the order datagrams are sent."""

    def __init__(self, *, seed: int = 0, loss: float = 0.0, duplicate: float = 0.0) -> None:
        if not (0.0 <= loss < 1.0 and 0.0 <= duplicate < 1.0):
            raise ValueError("loss and duplicate are chances in [0, 1)")
        self.loss = loss
        self.duplicate = duplicate
        self.rng = random.Random(seed)
        self.bound: dict[Address, VirtualSocket] = {}
        self.by_fd: dict[int, VirtualSocket] = {}
        #: sent, delivered, lost, duplicated, unreachable, overflow
        self.stats: Counter[str] = Counter()
        self._fds = FIRST_FD
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the virtual network is used outside its VirtualLoop")
        return self._loop

    def socket(self, family: int = _socket.AF_INET, type: int = _socket.SOCK_DGRAM, proto: int = 0,
               fileno: int | None = None) -> VirtualSocket:
        if family != _socket.AF_INET or type != _socket.SOCK_DGRAM or fileno is not None:
            raise OSError(errno.EAFNOSUPPORT, "the virtual network carries IPv4 UDP only")
        self._fds += 1
        sock = VirtualSocket(self, self._fds)
        self.by_fd[sock.fd] = sock
        return sock

    def bind(self, sock: VirtualSocket, address: Address) -> Address:
        host, port = str(address[0] or WILDCARD), int(address[1])
        if port == 0:
            port = next((p for p in EPHEMERAL if not self._taken(host, p)), 0)
            if not port:
                raise OSError(errno.EADDRINUSE, "no ephemeral port left")
        elif self._taken(host, port):
            raise OSError(errno.EADDRINUSE, f"address already in use: {host}:{port}")
        self.bound[(host, port)] = sock
        return host, port

    def _taken(self, host: str, port: int) -> bool:
        # Without SO_REUSEADDR a wildcard bind and a specific one on the same port exclude each other.
        if host == WILDCARD:
            return any(p == port for _, p in self.bound)
        return (host, port) in self.bound or (WILDCARD, port) in self.bound

    def release(self, sock: VirtualSocket) -> None:
        self.by_fd.pop(sock.fd, None)
        if sock.local is not None and self.bound.get(sock.local) is sock:
            del self.bound[sock.local]

    def send(self, source: Address, data: bytes, dest: Address) -> None:
        self.stats["sent"] += 1
        if source[0] == WILDCARD:
            source = ("127.0.0.1", source[1])  # the kernel picks the outgoing interface's address
        if self.loss and self.rng.random() < self.loss:
            self.stats["lost"] += 1
            return
        copies = 1
        if self.duplicate and self.rng.random() < self.duplicate:
            self.stats["duplicated"] += 1
            copies = 2
        for _ in range(copies):
            self.loop().call_soon(self._deliver, data, source, dest)

    def _deliver(self, data: bytes, source: Address, dest: Address) -> None:
        host, port = dest
        if host == BROADCAST:
            targets = [s for (_, p), s in self.bound.items() if p == port]
        else:
            found = self.bound.get(dest) or self.bound.get((WILDCARD, port))
            targets = [found] if found is not None else []
        if not targets:
            self.stats["unreachable"] += 1
        for sock in targets:
            self.stats["delivered" if sock.enqueue(data, source) else "overflow"] += 1


class _VirtualDatagramTransport(asyncio.DatagramTransport):
    def __init__(self, loop: VirtualLoop, sock: VirtualSocket, protocol: asyncio.DatagramProtocol) -> None:
        super().__init__()
        self._loop, self._sock, self._protocol = loop, sock, protocol
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return self._sock.getsockname()
        if name == "socket":
            return self._sock
        return default

    def is_closing(self) -> bool:
        return self._closing

    def sendto(self, data: Any, addr: Any = None) -> None:
        if not data or self._closing:
            return  # asyncio's own datagram transport skips an empty datagram too
        try:
            self._sock.sendto(bytes(data), addr)
        except OSError as exc:
            self._protocol.error_received(exc)

    def readable(self) -> None:
        for _ in range(64):
            try:
                data, addr = self._sock.recvfrom(1 << 16)
            except BlockingIOError:
                return
            self._protocol.datagram_received(data, addr)
            if self._closing:
                return

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class _VirtualSelector:
    """The loop's selector: a zero wait for the real file descriptors (the
    loop's self-pipe, other threads), then the clock moves to the next timer."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualLoop) -> None:
        self._real = real
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        loop = self._loop
        if timeout is None:
            # Nothing ready, no timer: only another thread can wake the loop now.
            events = self._real.select(IDLE_WALL_WAIT)
            if not events:
                raise RuntimeError("virtual loop deadlocked: nothing ready, no timer scheduled")
            return events
        scheduled = loop._scheduled  # type: ignore[attr-defined]
        # Jump to the timer itself, not now + timeout: float sums at Unix-time magnitude lose the last bits.
        if scheduled and scheduled[0].when() - loop.time() <= timeout:
            loop.advance_to(scheduled[0].when())
        else:
            loop.advance_to(loop.time() + timeout)
        return []


class VirtualLoop(asyncio.SelectorEventLoop):  # type: ignore[name-defined,misc]
    """An event loop on virtual time and a :class:`VirtualNetwork`."""

    def __init__(self, network: VirtualNetwork | None = None, start: float = EPOCH) -> None:
        super().__init__()
        self.network = network or VirtualNetwork()
        self.network._loop = self
        self._now = start
        self._clock_resolution = 1e-6
        self._selector = _VirtualSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        self._now = max(self._now, when)

    # -- virtual sockets: readiness, endpoints, reads ----------------------------------------
    def _virtual(self, fd: Any) -> VirtualSocket | None:
        if isinstance(fd, VirtualSocket):
            return fd
        return self.network.by_fd.get(fd) if isinstance(fd, int) else None

    def add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        sock = self._virtual(fd)
        if sock is None:
            return super().add_reader(fd, callback, *args)
        sock.reader = (callback, args)
        sock.wake()

    def remove_reader(self, fd: Any) -> bool:
        sock = self._virtual(fd)
        if sock is None:
            return bool(super().remove_reader(fd))
        had, sock.reader = sock.reader is not None, None
        return had

    async def create_datagram_endpoint(self, protocol_factory: Callable[[], Any], local_addr: Any = None,
                                       remote_addr: Any = None, *, sock: Any = None,
                                       **kw: Any) -> tuple[asyncio.DatagramTransport, Any]:
        if remote_addr is not None:
            raise OSError(errno.EOPNOTSUPP, "connected datagram endpoints are not modelled")
        if sock is None:
            sock = self.network.socket()
            sock.bind(local_addr or (WILDCARD, 0))
        elif not isinstance(sock, VirtualSocket):
            raise RuntimeError("a real socket on the virtual loop: open it through virtual_sockets()")
        protocol = protocol_factory()
        transport = _VirtualDatagramTransport(self, sock, protocol)
        protocol.connection_made(transport)
        self.add_reader(sock, transport.readable)
        return transport, protocol

    async def sock_recvfrom(self, sock: Any, bufsize: int) -> tuple[bytes, Any]:
        if not isinstance(sock, VirtualSocket):
            return await super().sock_recvfrom(sock, bufsize)
        try:
            return sock.recvfrom(bufsize)
        except BlockingIOError:
            pass
        fut: asyncio.Future[tuple[bytes, Address]] = self.create_future()

        def readable() -> None:
            if not fut.done():
                fut.set_result(sock.recvfrom(bufsize))
            self.remove_reader(sock)

        self.add_reader(sock, readable)
        fut.add_done_callback(lambda _: self.remove_reader(sock))
        return await fut


class _SocketModule:
    """What a service module sees as ``socket``: the real module, but its
    ``socket()`` opens a socket of the virtual network."""

    def __init__(self, network: VirtualNetwork) -> None:
        self.socket = network.socket

    def __getattr__(self, name: str) -> Any:
        return getattr(_socket, name)


@contextlib.contextmanager
def virtual_sockets(network: VirtualNetwork, modules: tuple[str, ...] = SOCKET_USERS) -> Iterator[None]:
    """Within: the UDP sockets the service modules open are ``network``'s."""
    shim = _SocketModule(network)
    saved = []
    try:  # a module that fails to patch must not leave the ones before it patched
        for name in modules:
            module = importlib.import_module(name)
            saved.append((module, module.socket))  # type: ignore[attr-defined]
            module.socket = shim  # type: ignore[attr-defined]
        yield
    finally:
        for module, original in saved:
            module.socket = original  # type: ignore[attr-defined]


class Run:
    """What :func:`run_virtual` measured: the result, virtual and wall seconds."""

    def __init__(self, result: Any, virtual: float, wall: float) -> None:
        self.result, self.virtual, self.wall = result, virtual, wall


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]], network: VirtualNetwork | None = None,
                start: float = EPOCH) -> Run:
    """Run ``main()`` on a fresh :class:`VirtualLoop` over ``network``."""
    network = network or VirtualNetwork()
    began = time.perf_counter()
    with virtual_sockets(network), asyncio.Runner(loop_factory=lambda: VirtualLoop(network, start)) as runner:
        loop = runner.get_loop()
        result = runner.run(main())
        virtual = loop.time() - start
    return Run(result, virtual, time.perf_counter() - began)
