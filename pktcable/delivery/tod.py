"""Time of Day (RFC 868), which a cable modem asks before it fetches its config file.

The answer is the time in seconds since 1900-01-01 00:00 UTC as a 32-bit
big-endian number. Over UDP a datagram (normally empty) is answered with one; over TCP the
server sends it on connect and closes. The core takes the time from its caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from pktcable.dualport import open_tcp_and_udp

log = logging.getLogger("pktcable.delivery.tod")

#: Seconds from 1900-01-01 (RFC 868's epoch) to 1970-01-01 (Unix time).
EPOCH_OFFSET = 2_208_988_800


def encode_time(unix_time: float) -> bytes:
    """Unix time -> the RFC 868 answer. Wraps in 2036 as every RFC 868 client expects."""
    return ((int(unix_time) + EPOCH_OFFSET) % (1 << 32)).to_bytes(4, "big")


def decode_time(answer: bytes) -> int:
    """The RFC 868 answer -> Unix time (for clients and tests; assumes the 1900 era)."""
    if len(answer) != 4:
        raise ValueError(f"a time answer has 4 octets, not {len(answer)}")
    return int.from_bytes(answer, "big") - EPOCH_OFFSET


class _UdpTime(asyncio.DatagramProtocol):
    def __init__(self, clock: Callable[[], float], answered: Counter[str]) -> None:
        self._clock = clock
        self._answered = answered
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        # RFC 868: the question is an empty datagram, but any datagram is answered.
        # The answer (4 octets of payload) adds nothing worth amplifying.
        self.transport.sendto(encode_time(self._clock()), addr)
        self._answered["udp"] += 1


class TodServer:
    """RFC 868 over UDP and TCP on one port; ``clock`` returns Unix time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 37, clock: Callable[[], float] = time.time) -> None:
        self.host = host
        self.port = port
        self._clock = clock
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        #: Requests answered, by transport ("udp", "tcp").
        self.answered: Counter[str] = Counter()

    async def start(self) -> None:
        # A node of modems asks for the time at once after a power cut: a large UDP buffer.
        self._tcp, self._udp, _ = await open_tcp_and_udp(
            self.host, self.port, self._on_connect, lambda: _UdpTime(self._clock, self.answered),
            receive_buffer=1 << 20)

    @property
    def address(self) -> tuple[str, int]:
        assert self._tcp is not None, "server not started"
        host, port = self._tcp.sockets[0].getsockname()[:2]
        return host, port

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(encode_time(self._clock()))
            await writer.drain()
            self.answered["tcp"] += 1
        except OSError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
