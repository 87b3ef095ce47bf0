"""Thin asyncio transports for the sans-IO SIP layers: UDP, TCP and TLS (``ssl``).

Each transport turns bytes into messages with the codec and hands them to one
callback; nothing a peer sends can raise out of here. Bad input is counted
(``counters``) and dropped: on UDP the datagram, on a stream the connection
(a stream cannot be resynchronized). Hostile senders are bounded per source
address: a token bucket on messages, a cap on TCP connections, and the stream
framer's buffer never exceeds one message's size limit.

:class:`TransactionDriver` runs a :class:`TransactionLayer` on one transport:
it feeds messages in with the loop's clock, sends the ``Send`` events, keeps
one timer armed at the layer's next deadline and passes every other event on.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Protocol, cast

from pktcable.sip.errors import SipParseError
from pktcable.sip.message import (
    DEFAULT_LIMITS,
    Limits,
    Message,
    Request,
    Response,
    StreamFramer,
    parse_datagram,
    serialize,
)
from pktcable.sip.transaction import DEFAULT_TIMERS, Address, Event, Send, Timers, TransactionLayer

OnMessage = Callable[[Message, Address], None]


class RateLimiter:
    """Token bucket per source host, in a bounded table (least recently seen evicted).

    Responses we asked for pass outside the bucket: each request sent to a host (first
    transmission or retransmission) is owed one response from it (:meth:`expect`). Without
    that, answers from a host that many phones share (a NAT, a simulator) were dropped once
    the pushes to it outran the bucket; every dropped answer came back as a retransmission and
    then a timeout, and the phone lost its subscription. A hostile host still gets no more
    than the bucket plus the answers it was asked for."""

    def __init__(self, rate: float = 200.0, burst: float = 400.0, max_sources: int = 65_536,
                 max_owed: int = 10_000) -> None:
        self.rate, self.burst, self.max_sources, self.max_owed = rate, burst, max_sources, max_owed
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._owed: OrderedDict[str, int] = OrderedDict()

    def expect(self, host: str) -> None:
        """A request went to ``host``: one response from it is owed passage."""
        self._owed[host] = min(self._owed.pop(host, 0) + 1, self.max_owed)
        if len(self._owed) > self.max_sources:
            self._owed.popitem(last=False)

    def allow(self, host: str, now: float, *, response: bool = False) -> bool:
        if response and (owed := self._owed.get(host, 0)) > 0:
            if owed == 1:
                del self._owed[host]
            else:
                self._owed[host] = owed - 1
            return True
        tokens, last = self._buckets.pop(host, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[host] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed


class SipTransport(Protocol):
    reliable: bool
    counters: Counter[str]

    def send(self, message: Message, peer: Address) -> None: ...


class _Base:
    def __init__(self, on_message: OnMessage, limits: Limits, limiter: RateLimiter | None) -> None:
        self.on_message, self.limits = on_message, limits
        self.limiter = limiter or RateLimiter()
        self.counters: Counter[str] = Counter()

    def _deliver(self, message: Message, peer: Address) -> None:
        self.counters["received"] += 1
        try:
            self.on_message(message, peer)
        except Exception:  # the handler's bug must not take the transport down
            self.counters["internal-errors"] += 1


class UdpTransport(_Base, asyncio.DatagramProtocol):
    reliable = False

    def __init__(self, on_message: OnMessage, limits: Limits = DEFAULT_LIMITS,
                 limiter: RateLimiter | None = None) -> None:
        super().__init__(on_message, limits, limiter)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        peer = (addr[0], addr[1])
        if not data.strip(b"\r\n"):
            self.counters["keepalives"] += 1  # RFC 5626 CRLF keep-alive: nothing to answer
            return
        # A response's status line starts with the version (RFC 3261 §7.2), a request's never does.
        response = data[:8].upper() == b"SIP/2.0 "
        if not self.limiter.allow(peer[0], asyncio.get_running_loop().time(), response=response):
            self.counters["rate-limited"] += 1
            return
        try:
            message = parse_datagram(data, self.limits)
        except SipParseError:
            self.counters["malformed"] += 1
            return
        self._deliver(message, peer)

    def error_received(self, exc: Exception) -> None:
        self.counters["socket-errors"] += 1

    def send(self, message: Message, peer: Address) -> None:
        if self.transport is None or self.transport.is_closing():
            self.counters["send-failed"] += 1
            return
        self.transport.sendto(serialize(message), peer)
        self.counters["sent"] += 1
        if isinstance(message, Request):
            self.limiter.expect(peer[0])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_udp(host: str, port: int, on_message: OnMessage, *, limits: Limits = DEFAULT_LIMITS,
                   limiter: RateLimiter | None = None, receive_buffer: int | None = None) -> UdpTransport:
    """``receive_buffer``: bytes of kernel receive buffer to ask for (the kernel caps it at
    ``net.core.rmem_max``). A datagram that finds the buffer full is dropped unseen, and the
    default (about 200 KB, a few hundred small datagrams as the kernel counts them) fills in
    well under a second while a busy server's loop is at other work."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: UdpTransport(on_message, limits, limiter),
                                                           local_addr=(host, port))
    if receive_buffer is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    return proto


class _Connection(asyncio.Protocol):
    def __init__(self, owner: StreamTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer(owner.limits)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream = cast(asyncio.Transport, transport)
        name = stream.get_extra_info("peername")
        self.peer = (name[0], name[1])
        if not self.owner._admit(self):
            stream.abort()

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        try:
            messages = self.framer.feed(data)
        except SipParseError:
            owner.counters["malformed"] += 1
            if self.transport is not None:
                self.transport.abort()
            return
        for message in messages:
            if not owner.limiter.allow(self.peer[0], asyncio.get_running_loop().time(),
                                       response=isinstance(message, Response)):
                owner.counters["rate-limited"] += 1
                continue
            owner._deliver(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._forget(self)


class StreamTransport(_Base):
    """TCP, or TLS when ``ssl_context`` is given; both listens and connects.

    Messages to a peer go over the connection that peer has open (RFC 3261 §18.2.2
    for responses; reused for requests, as a phone behind NAT needs)."""

    reliable = True

    def __init__(self, on_message: OnMessage, *, limits: Limits = DEFAULT_LIMITS,
                 limiter: RateLimiter | None = None, ssl_context: ssl.SSLContext | None = None,
                 max_per_source: int = 8, max_connections: int = 10_000) -> None:
        super().__init__(on_message, limits, limiter)
        self.ssl_context, self.max_per_source, self.max_connections = ssl_context, max_per_source, max_connections
        self.connections: dict[Address, _Connection] = {}
        self.server: asyncio.Server | None = None

    def _admit(self, conn: _Connection) -> bool:
        per_source = sum(1 for p in self.connections if p[0] == conn.peer[0])
        if per_source >= self.max_per_source or len(self.connections) >= self.max_connections:
            self.counters["connections-refused"] += 1
            return False
        self.connections[conn.peer] = conn
        return True

    def _forget(self, conn: _Connection) -> None:
        if self.connections.get(conn.peer) is conn:
            del self.connections[conn.peer]

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Connection(self), host, port, ssl=self.ssl_context)
        return int(self.server.sockets[0].getsockname()[1])

    async def connect(self, host: str, port: int, *, server_hostname: str | None = None) -> Address:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _Connection(self), host, port, ssl=self.ssl_context,
                                               server_hostname=server_hostname if self.ssl_context else None)
        return conn.peer

    def send(self, message: Message, peer: Address) -> None:
        conn = self.connections.get(peer)
        if conn is None or conn.transport is None or conn.transport.is_closing():
            self.counters["send-failed"] += 1
            return
        conn.transport.write(serialize(message))
        self.counters["sent"] += 1
        if isinstance(message, Request):
            self.limiter.expect(peer[0])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()


class TransactionDriver:
    """Runs a :class:`TransactionLayer` on a transport with the loop's clock."""

    def __init__(self, on_event: Callable[[Event], None], timers: Timers = DEFAULT_TIMERS) -> None:
        self.on_event = on_event
        self.timers = timers
        self.layer: TransactionLayer | None = None
        self.transport: SipTransport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def attach(self, transport: SipTransport) -> None:
        self.transport = transport
        self.layer = TransactionLayer(reliable=transport.reliable, timers=self.timers)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def on_message(self, message: Message, peer: Address) -> None:
        assert self.layer is not None
        self._run(self.layer.receive(message, peer, self._now()))

    def send_request(self, request: Request, peer: Address) -> None:
        assert self.layer is not None
        self._run(self.layer.send_request(request, peer, self._now()))

    def respond(self, request: Request, response: Response) -> None:
        assert self.layer is not None
        self._run(self.layer.respond(request, response, self._now()))

    def _run(self, events: list[Event]) -> None:
        assert self.transport is not None and self.layer is not None
        for event in events:
            if isinstance(event, Send):
                if event.retransmission:
                    self.transport.counters["retransmitted"] += 1
                self.transport.send(event.message, event.peer)
            else:
                self.on_event(event)
        self._arm()

    def _arm(self) -> None:
        assert self.layer is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.layer.next_deadline()
        if due is not None:
            self._timer = asyncio.get_running_loop().call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        assert self.layer is not None
        self._run(self.layer.handle_timer(self._now()))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
