"""The simulator's network side: a CMTS-style DHCP relay shared by all
devices, and the small clients a device needs (TFTP, HTTP, ToD)."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from dataclasses import dataclass

from dhcp import message as dhcp_message
from dhcp.errors import DhcpError
from pktcable.delivery import tftp

Address = tuple[str, int]


@dataclass(slots=True)
class RelayStats:
    sent: int = 0
    received: int = 0
    unmatched: int = 0
    retransmissions: int = 0
    stray: int = 0  # a reply of a type the exchange does not wait for (a late OFFER during a REQUEST)


#: RFC 2131 4.1: the first retransmission waits 4 s, each next one twice as
#: long up to 64 s, each randomized by +-1 s. The simulator scales the base
#: (its ``dhcp_timeout``) and keeps the shape: cap at 16 bases, jitter 1/4 base.
BACKOFF_CAP = 16
BACKOFF_JITTER = 0.25


def retransmit_waits(base: float, retries: int, rng: random.Random | None = None) -> list[float]:
    """How long to wait for an answer after each of the ``retries + 1``
    transmissions of one message."""
    uniform = (rng or random).uniform
    return [min(base * 2**n, base * BACKOFF_CAP) + uniform(-base * BACKOFF_JITTER, base * BACKOFF_JITTER)
            for n in range(retries + 1)]


def peek_type(data: bytes) -> int | None:
    """Option 53 of a reply, or None when the reply does not decode (the
    exchange takes it: its decode error becomes the device's deviation)."""
    try:
        return dhcp_message.decode(data).message_type
    except (DhcpError, ValueError):
        return None


Key = tuple[int, bytes]  # (xid, client MAC): two devices may draw the same random xid


class Relay(asyncio.DatagramProtocol):
    """Sends the devices' requests with giaddr set, receives the server's
    replies on its own port (as a CMTS does on 67) and hands each to the
    exchange waiting for its xid and client MAC."""

    def __init__(self, server: Address) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[Key, tuple[asyncio.Future[bytes], frozenset[int]]] = {}
        self.stats = RelayStats()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.stats.received += 1
        key = (int.from_bytes(data[4:8], "big"), bytes(data[28:34])) if len(data) >= 34 else (-1, b"")
        found = self.waiting.get(key)
        if found is None or found[0].done():
            self.stats.unmatched += 1
            return
        fut, accept = found
        kind = peek_type(data)
        if kind is not None and accept and kind not in accept:
            self.stats.stray += 1
            return
        fut.set_result(data)

    async def exchange(self, data: bytes, key: Key, waits: list[float],
                       accept: frozenset[int] = frozenset()) -> bytes | None:
        """Send ``data`` and wait for the reply with the same xid and MAC whose
        message type is in ``accept`` (any when empty), retransmitting the same
        bytes after each of ``waits`` (see :func:`retransmit_waits`); None when
        none came."""
        assert self.transport is not None
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[key] = (fut, accept)
        try:
            for attempt, wait in enumerate(waits):
                if attempt:
                    self.stats.retransmissions += 1
                self.transport.sendto(data, self.server)
                self.stats.sent += 1
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), max(wait, 0.0))
                except TimeoutError:
                    continue
            return None
        finally:
            if self.waiting.get(key, (None,))[0] is fut:
                del self.waiting[key]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_relay(local: Address, server: Address) -> Relay:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A boot storm's replies arrive in bursts: give them room to queue.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(local)
    _, relay = await loop.create_datagram_endpoint(lambda: Relay(server), sock=sock)
    return relay


class _TftpReader(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.queue.put_nowait((data, addr))


class DownloadError(Exception):
    pass


async def tftp_get(server: Address, filename: str, *, local_host: str = "0.0.0.0", blksize: int = 1468,
                   timeout: float = 1.0, retries: int = 4) -> bytes:
    """RFC 1350 read with the RFC 2348/2349 options; the server's transfer
    port (TID) is learned from its first answer and then held to."""
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_datagram_endpoint(_TftpReader, local_addr=(local_host, 0))
    try:
        request = tftp.encode_request(tftp.Opcode.RRQ, filename, "octet",
                                      {"blksize": str(blksize), "tsize": "0"})
        last, last_to = request, server
        peer: Address | None = None
        size = 512
        expected = 1
        out = bytearray()
        for _ in range(200_000):
            for _attempt in range(retries + 1):
                transport.sendto(last, last_to)
                try:
                    data, addr = await asyncio.wait_for(reader.queue.get(), timeout)
                    break
                except TimeoutError:
                    continue
            else:
                raise DownloadError(f"tftp://{server[0]}/{filename}: no answer")
            if peer is None:
                peer = addr
            elif addr != peer:
                continue  # another TID: RFC 1350 says answer with an error and ignore
            try:
                packet = tftp.decode(data)
            except tftp.TftpError as exc:
                raise DownloadError(f"malformed TFTP packet: {exc}") from None
            if isinstance(packet, tftp.Error):
                raise DownloadError(f"TFTP error {packet.code}: {packet.message}")
            if isinstance(packet, tftp.OptionAck):
                size = int(dict(packet.options).get("blksize", "512"))
                last, last_to = tftp.encode_ack(0), peer
                continue
            if isinstance(packet, tftp.Data):
                # A duplicate of the previous block is acknowledged again, never appended.
                last, last_to = tftp.encode_ack(packet.block), peer
                if packet.block == (expected & 0xFFFF):
                    out += packet.payload
                    expected += 1
                    if len(packet.payload) < size:
                        transport.sendto(last, last_to)
                        return bytes(out)
        raise DownloadError("transfer too long")
    finally:
        transport.close()


async def http_get(url: str, timeout: float = 10.0, local_host: str | None = None) -> bytes:
    """GET from ``local_host`` (the device's own address: per-exchange names
    are valid for one client IP)."""
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(local_host, 0)) if local_host else None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), connector=connector) as session:
        async with session.get(url) as response:
            if response.status != 200:
                raise DownloadError(f"{url}: HTTP {response.status}")
            return await response.read()


async def tod(server: Address, timeout: float = 1.0, retries: int = 2, local_host: str = "0.0.0.0") -> int:
    """RFC 868 over UDP: seconds since 1900 (raises TimeoutError).

    A plain socket, because the question is an empty datagram, which an
    asyncio datagram transport's sendto() silently skips.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((local_host, 0))
        for _ in range(retries + 1):
            sock.sendto(b"", server)
            try:
                data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 64), timeout)
            except TimeoutError:
                continue
            if len(data) != 4:
                raise ValueError(f"ToD answer of {len(data)} bytes")
            return int(struct.unpack("!I", data)[0])
        raise TimeoutError(f"no ToD answer from {server[0]}:{server[1]}")
    finally:
        sock.close()
