"""Thin asyncio UDP endpoints for key management: the provisioning server on UDP 1293
and the MTA's client. The protocol is :mod:`pktcable.secure.km`'s; here are only
the socket, the clock, and the limits a network input needs.

The server drops, before decoding, a datagram over the codec's size limit and
any datagram from a source over its rate (a token bucket per source address,
the table of sources bounded): an AP Request costs two decryptions, so a flood
from one host must not take the server's time from the others. Refusals are
logged at most once per source per minute (RateLimitedLog).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pktcable.provision.ratelog import RateLimitedLog

from . import kmcodec
from .km import Address, Established, Failed, KmClient, KmServer, Refused, Rejected, Send, ServerError
from .kmkeys import SnmpSa

log = logging.getLogger("pktcable.km")

#: UDP port of PacketCable key management (Wireshark's PKTC_PORT).
KM_PORT = 1293


class SourceLimiter:
    """A token bucket per source address: ``rate`` datagrams a second, ``burst`` at once.
    At most ``max_sources`` buckets: the one used longest ago is forgotten first (a
    forgotten source starts with a full bucket, the price of a bounded table)."""

    def __init__(self, rate: float = 20.0, burst: int = 40, max_sources: int = 65_536) -> None:
        self.rate, self.burst, self.max_sources = rate, burst, max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # host -> (tokens, at)

    def allow(self, host: str, now: float) -> bool:
        if self.rate <= 0:
            return True
        tokens, at = self._buckets.pop(host, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[host] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed


@dataclass(slots=True)
class ServerStats:
    received: int = 0
    oversized: int = 0
    rate_limited: int = 0
    refused: int = 0
    established: int = 0
    internal_errors: int = 0


class KmServerEndpoint(asyncio.DatagramProtocol):
    def __init__(self, server: KmServer, *, on_established: Callable[[SnmpSa, Address], None] | None = None,
                 limiter: SourceLimiter | None = None, clock: Callable[[], float] = time.time,
                 on_refused: Callable[[Refused], None] | None = None) -> None:
        """``on_refused``: told of each refused datagram (after the rate limit), e.g. so that a
        provisioning server records it on the device whose address sent it."""
        self.server, self.on_established, self.clock = server, on_established, clock
        self.on_refused = on_refused
        self.limiter = limiter or SourceLimiter()
        self.stats = ServerStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._log = RateLimitedLog(log)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.received += 1
        peer: Address = (addr[0], addr[1])
        now = self.clock()
        if len(data) > kmcodec.MAX_MESSAGE:
            self.stats.oversized += 1
            return
        if not self.limiter.allow(peer[0], now):
            self.stats.rate_limited += 1
            return
        try:
            events = self.server.receive(data, peer, now)
        except Exception:  # a bug must cost one datagram, never the server
            self.stats.internal_errors += 1
            log.exception("key management: internal error on a datagram from %s", peer[0])
            return
        self._carry_out(events)

    def wake_up(self, peer: Address) -> None:
        self._carry_out(self.server.wake_up(peer, self.clock()))

    def _carry_out(self, events: list) -> None:  # type: ignore[type-arg]
        for event in events:
            if isinstance(event, Send) and self.transport is not None and event.peer is not None:
                self.transport.sendto(event.data, event.peer)
            elif isinstance(event, Established):
                self.stats.established += 1
                log.info("key management: SNMPv3 keys for %s (%s) at %s", event.sa.user_name,
                         event.sa.engine_id.hex(), event.peer)
                if self.on_established is not None and event.peer is not None:
                    self.on_established(event.sa, event.peer)
            elif isinstance(event, Refused):
                self.stats.refused += 1
                self._log.log(event.peer[0], self.clock(), "key management: refused %s from %s: %s",
                              event.reason, event.peer[0], event.detail)
                if self.on_refused is not None:
                    self.on_refused(event)


#: After a power cut a node's eMTAs all key at once; AP Requests are about 1 kB, and
#: the kernel's default buffer (about 200 kB) drops a burst of a few hundred.
RECEIVE_BUFFER = 4 << 20


async def serve(server: KmServer, host: str = "0.0.0.0", port: int = KM_PORT,  # noqa: S104 - a server's default
                **options: object) -> tuple[asyncio.DatagramTransport, KmServerEndpoint]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    transport, endpoint = await loop.create_datagram_endpoint(
        lambda: KmServerEndpoint(server, **options),  # type: ignore[arg-type]
        sock=sock)
    return transport, endpoint


class KmFailed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class _ClientProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: Address) -> None:
        self.server = server
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # Only the provisioning server's address is listened to, and only datagrams the
        # codec could take; a full queue drops (the MTA side is never a flood target).
        if (addr[0], addr[1]) == self.server and len(data) <= kmcodec.MAX_MESSAGE and not self.queue.full():
            self.queue.put_nowait(data)


async def establish(client: KmClient, server: Address, *, clock: Callable[[], float] = time.time,
                    local: Address = ("0.0.0.0", 0), notes: list[object] | None = None,
                    wake_up_within: float | None = None) -> SnmpSa:
    """Run ``client``'s exchange with ``server`` to its end: the SA, or KmFailed. With
    ``wake_up_within`` the MTA waits that long on ``local`` for the server's Wake Up
    before it answers (the server-initiated case); otherwise it starts at once. Events
    the client ignored (Rejected, ServerError) are appended to ``notes`` when given."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _ClientProtocol(server), local_addr=local)
    try:
        events = client.start(clock()) if wake_up_within is None else []
        waiting_since = clock()
        while True:
            for event in events:
                if isinstance(event, Send):
                    transport.sendto(event.data, server)
                elif isinstance(event, Failed):
                    raise KmFailed(event.reason, event.detail)
                elif isinstance(event, (Rejected, ServerError)) and notes is not None:
                    notes.append(event)
            if client.sa is not None and any(isinstance(e, Established) for e in events):
                return client.sa
            deadline = client.deadline
            if deadline is None and wake_up_within is not None and client.sa is None:
                deadline = waiting_since + wake_up_within
            wait = None if deadline is None else max(deadline - clock(), 0.0)
            try:
                data = await asyncio.wait_for(proto.queue.get(), wait)
            except TimeoutError:
                if client.deadline is None:
                    raise KmFailed("no-wake-up", f"no Wake Up within {wake_up_within:g} s") from None
                events = client.poll(clock())
                continue
            events = client.receive(data, clock())
    finally:
        transport.close()
