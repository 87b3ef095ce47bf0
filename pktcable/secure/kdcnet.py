"""The KDC on the network: UDP and TCP (RFC 4120 section 7.2), a thin asyncio shell
around the sans-IO :class:`pktcable.secure.kdc.Kdc`.

Every input is hostile: datagrams and TCP records have size limits, each source
address gets a token bucket (a flood from one address costs it its answers, not
the KDC its CPU), the public-key work runs in worker threads with a bounded
number in flight (excess datagrams are dropped, as a busy KDC does; the client
retries), and nothing a sender does can raise out of a handler. Outcomes are
counted in :attr:`KdcServer.counts`; refusals are logged at most once a minute
per source.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import struct
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from pktcable.dualport import open_tcp_and_udp
from pktcable.provision.ratelog import RateLimitedLog

from . import krbmsg
from .kdc import Answer, ErrorCode, Kdc, Refusal

log = logging.getLogger("pktcable.secure.kdc")

#: RFC 4120 7.2.2: TCP records carry a 4-octet length, its high bit reserved.
TCP_RESERVED_BIT = 0x80000000


@dataclass(frozen=True)
class NetLimits:
    #: A PKINIT AS-REQ with a device and a manufacturer certificate is 3-5 kB.
    max_request: int = 16_384
    #: Replies above this go as KRB_ERR_RESPONSE_TOO_BIG over UDP (the client retries by TCP).
    max_udp_reply: int = 8_192
    #: Requests per second per source address, and the burst a source may use at once.
    rate: float = 5.0
    burst: int = 20
    #: Source addresses remembered by the rate limiter (the stalest is forgotten first).
    max_sources: int = 10_000
    #: Requests being worked on at once; more are dropped (UDP) or wait (TCP).
    max_in_flight: int = 16
    #: Seconds a TCP client may take to send a record, and concurrent TCP connections.
    tcp_timeout: float = 10.0
    max_connections: int = 64
    #: TCP connections one source address may hold at once (so one host cannot take them all).
    max_connections_per_source: int = 8


class RateLimiter:
    """A token bucket per source: ``rate`` tokens a second up to ``burst``."""

    def __init__(self, rate: float, burst: int, max_sources: int) -> None:
        self.rate, self.burst, self.max_sources = rate, burst, max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str, now: float) -> bool:
        tokens, last = self._buckets.pop(source, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


class KdcServer:
    """UDP and TCP on one address and port (88 by default; 0 picks a free port)."""

    def __init__(self, kdc: Kdc, host: str = "127.0.0.1", port: int = 88, *, limits: NetLimits | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 random: Callable[[int], bytes] = os.urandom, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.kdc = kdc
        self.host, self.port = host, port
        self.limits = limits or NetLimits()
        self._clock, self._random, self._monotonic = clock, random, monotonic
        self._limiter = RateLimiter(self.limits.rate, self.limits.burst, self.limits.max_sources)
        self._slots = asyncio.Semaphore(self.limits.max_in_flight)
        self._refusals = RateLimitedLog(log)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections = 0
        self._per_source: Counter[str] = Counter()
        #: UDP requests admitted and not yet answered (counted when admitted, so a burst
        #: within one loop iteration cannot queue more than the bound).
        self._pending = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: Outcomes: "as-rep", "tgs-rep", "error-<code>", "dropped", "rate-limited", "too-large", "busy", "failed".
        self.counts: Counter[str] = Counter()

    async def start(self) -> None:
        self._tcp, self._udp, _ = await open_tcp_and_udp(self.host, self.port, self._on_connect, lambda: _Udp(self))
        self.port = self._tcp.sockets[0].getsockname()[1]

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- one request, whichever transport ------------------------------------------------------
    def _admit(self, data: bytes, source: str) -> bool:
        if len(data) > self.limits.max_request:
            self.counts["too-large"] += 1
            self._refusals.log(source, self._monotonic(), "KDC: %d-byte request from %s over the %d limit",
                               len(data), source, self.limits.max_request)
            return False
        if not self._limiter.allow(source, self._monotonic()):
            self.counts["rate-limited"] += 1
            return False
        return True

    async def _answer(self, data: bytes, source: str) -> bytes | None:
        async with self._slots:
            now = self._clock()
            try:
                answer = await asyncio.get_running_loop().run_in_executor(None, self.kdc.answer, data, now,
                                                                          self._random)
            except Exception:  # a bug must cost one request, never the server
                self.counts["failed"] += 1
                log.exception("KDC: request from %s failed", source)
                return None
        self._record(answer, source)
        return answer.reply

    def _record(self, answer: Answer, source: str) -> None:
        if answer.reply is None:
            self.counts["dropped"] += 1
            self._refusals.log(source, self._monotonic(), "KDC: %s from %s", answer.text, source)
        elif answer.code is None:
            self.counts[answer.text.lower()] += 1
            log.info("KDC: %s for %s to %s", answer.text, answer.client, source)
        else:
            self.counts[f"error-{answer.code}"] += 1
            if answer.code != ErrorCode.KDC_ERR_PREAUTH_REQUIRED:  # the normal first round trip
                self._refusals.log(source, self._monotonic(), "KDC: %s refused (%s): %s", answer.client or source,
                                   ErrorCode(answer.code).name, answer.text)

    def _too_big(self, data: bytes) -> bytes:
        """RFC 4120 7.2.1: a reply too large for UDP becomes KRB_ERR_RESPONSE_TOO_BIG."""
        self.counts["too-big-for-udp"] += 1
        try:
            msg = krbmsg.load(data, krbmsg.ASReq)
        except krbmsg.KerberosDecodeError:
            msg = None
        return self.kdc.error_for(msg, Refusal(ErrorCode.KRB_ERR_RESPONSE_TOO_BIG, "reply too large for UDP: use TCP"),
                                  self._clock())

    def _spawn(self, coro: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- UDP -----------------------------------------------------------------------------------
    def datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        source = addr[0]
        if not self._admit(data, source):
            return
        if self._pending >= self.limits.max_in_flight:
            self.counts["busy"] += 1  # the client retries after its timeout, as with a lost datagram
            return
        self._pending += 1
        self._spawn(self._udp_reply(data, addr))

    async def _udp_reply(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply = await self._answer(data, addr[0])
        finally:
            self._pending -= 1
        if reply is None or self._udp is None:
            return
        if len(reply) > self.limits.max_udp_reply:
            reply = self._too_big(data)
        self._udp.sendto(reply, addr)

    # -- TCP -----------------------------------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if peer else "?"
        if (self._connections >= self.limits.max_connections
                or self._per_source[source] >= self.limits.max_connections_per_source):
            self.counts["busy"] += 1
            writer.close()
            return
        self._connections += 1
        self._per_source[source] += 1
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(4), self.limits.tcp_timeout)
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                (length,) = struct.unpack("!I", head)
                if length & TCP_RESERVED_BIT or length > self.limits.max_request:
                    # RFC 4120 7.2.2: an unsupported extension (the high bit) or a record too large.
                    self.counts["too-large"] += 1
                    self._refusals.log(source, self._monotonic(), "KDC: TCP record of %d bytes from %s refused",
                                       length, source)
                    return
                try:
                    data = await asyncio.wait_for(reader.readexactly(length), self.limits.tcp_timeout)
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                if not self._admit(data, source):
                    return
                reply = await self._answer(data, source)
                if reply is None:
                    return
                writer.write(struct.pack("!I", len(reply)) + reply)
                await writer.drain()
        except OSError:
            return
        finally:
            self._connections -= 1
            self._per_source[source] -= 1
            if not self._per_source[source]:
                del self._per_source[source]
            writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: KdcServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        self.server.counts["udp-error"] += 1
