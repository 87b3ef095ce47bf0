"""The simulator's network side: a CMTS-style DHCP relay shared by all
devices, and the small clients a device needs (TFTP, HTTP, ToD)."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeGuard, cast

from dhcp import message as dhcp_message
from dhcp.errors import DhcpError
from pktcable.delivery import tftp
from pktcable.exchange import DoublingBackoff, FixedBackoff, Verdict
from pktcable.exchange_aio import Requester

Address = tuple[str, int]


@dataclass(slots=True)
class RelayStats:
    sent: int = 0
    received: int = 0
    unmatched: int = 0
    retransmissions: int = 0
    stray: int = 0  # a reply of a type the exchange does not wait for (a late OFFER during a REQUEST)


def retransmit_waits(base: float, retries: int, rng: random.Random | None = None) -> list[float]:
    """How long to wait for an answer after each of the ``retries + 1``
    transmissions of one message: RFC 2131 4.1's doubling with its jitter, the
    first wait scaled to ``base`` (the simulator's ``dhcp_timeout``)."""
    return list(DoublingBackoff(base, retries).waits(rng or random.Random()))


def peek_type(data: bytes) -> int | None:
    """Option 53 of a reply, or None when the reply does not decode (the
    exchange takes it: its decode error becomes the device's deviation)."""
    try:
        return dhcp_message.decode(data).message_type
    except (DhcpError, ValueError):
        return None


#: RFC 2131 3: the options field follows the 236-byte BOOTP header and this cookie.
MAGIC_COOKIE = bytes((99, 130, 83, 99))


def scan_type(data: bytes) -> int | None:
    """Option 53 as found by walking the options field alone (no decode of
    the rest): cheap enough for every reply a storm brings. None when it is
    not there in a well-formed place (the caller decodes the message then)."""
    if len(data) < 241 or data[236:240] != MAGIC_COOKIE:
        return None
    i, end = 240, len(data)
    while i < end:
        code = data[i]
        if code == 255:
            return None
        if code == 0:
            i += 1
            continue
        if i + 1 >= end:
            return None
        length = data[i + 1]
        if code == 53:
            return data[i + 2] if length == 1 and i + 2 < end else None
        i += 2 + length
    return None


Key = tuple[int, bytes]  # (xid, client MAC): two devices may draw the same random xid


class Relay(asyncio.DatagramProtocol):
    """Sends the devices' requests with giaddr set, receives the server's
    replies on its own port (as a CMTS does on 67) and hands each to the
    exchange waiting for its xid and client MAC.

    With several servers each request goes to every one (a CMTS with one
    ``cable helper-address`` per server): the first answer of the type the
    exchange waits for is taken, as a client takes the first OFFER; the others
    are counted as unmatched."""

    def __init__(self, server: Address | Sequence[Address]) -> None:
        self.servers: list[Address] = [server] if _is_address(server) else list(cast(Sequence[Address], server))
        self.server = self.servers[0]
        self.transport: asyncio.DatagramTransport | None = None
        self.requester: Requester[Key, bytes] | None = None
        self.stats = RelayStats()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.requester = Requester(self._send)

    def _send(self, data: bytes, dest: Address, attempt: int) -> None:
        if attempt:
            self.stats.retransmissions += 1
        if self.transport is not None:
            for server in self.servers:  # dest is the first of them
                self.transport.sendto(data, server)
                self.stats.sent += 1

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.stats.received += 1
        key = (int.from_bytes(data[4:8], "big"), bytes(data[28:34])) if len(data) >= 34 else (-1, b"")
        verdict = Verdict.UNKNOWN if self.requester is None else self.requester.deliver(key, data)
        if verdict is Verdict.REFUSED:
            self.stats.stray += 1
        elif verdict is not Verdict.MATCHED:
            self.stats.unmatched += 1

    async def exchange(self, data: bytes, key: Key, waits: list[float],
                       accept: frozenset[int] = frozenset()) -> bytes | None:
        """Send ``data`` and wait for the reply with the same xid and MAC whose
        message type is in ``accept`` (any when empty), retransmitting the same
        bytes after each of ``waits`` (see :func:`retransmit_waits`); None when
        none came. A reply that does not decode is taken: its decode error is
        the device's deviation."""
        assert self.requester is not None

        def wanted(reply: bytes) -> bool:
            if scan_type(reply) in accept:
                return True  # taken: the device decodes it (and reports it if it does not decode)
            kind = peek_type(reply)  # a stray, or a type only a full decode finds
            return kind is None or kind in accept

        return await self.requester.request(key, data, self.server, waits, wanted if accept else None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.requester is not None:
            self.requester.close()


def _is_address(server: object) -> TypeGuard[Address]:
    return isinstance(server, tuple) and len(server) == 2 and isinstance(server[0], str)


async def open_relay(local: Address, server: Address | Sequence[Address]) -> Relay:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A boot storm's replies arrive in bursts: give them room to queue.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(local)
    _, relay = await loop.create_datagram_endpoint(lambda: Relay(server), sock=sock)
    return relay


class DownloadError(Exception):
    """A download that did not deliver the file; ``tftp_code`` is the TFTP ERROR code the
    server sent (1: file not found), None when it failed otherwise; ``missing``: the server
    said it has no such file (TFTP ERROR 1, HTTP 404)."""

    def __init__(self, text: str, tftp_code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(text)
        self.tftp_code = tftp_code
        self.missing = tftp_code == 1 or http_status == 404


#: Packets one download may take (a bound on a server that never ends a transfer).
TFTP_MAX_STEPS = 200_000


class _TftpClient(asyncio.DatagramProtocol):
    """Lock-step reads: each packet sent is one exchange, whose answer is the
    next datagram from the server's transfer ID (TID). Datagrams are handled
    as they come, never queued: a flood costs a count, not memory."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.requester: Requester[int, tuple[bytes, Address]] | None = None
        self.step = 0
        self.foreign = 0  # datagrams from another host or TID, ignored

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.requester = Requester(self._send)

    def _send(self, data: bytes, dest: Address, attempt: int) -> None:
        if self.transport is not None:
            self.transport.sendto(data, dest)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self.requester is not None and self.requester.deliver(self.step, (data, addr)) is Verdict.REFUSED:
            self.foreign += 1

    async def ask(self, data: bytes, dest: Address, waits: tuple[float, ...],
                  accept: Callable[[tuple[bytes, Address]], bool]) -> tuple[bytes, Address] | None:
        assert self.requester is not None
        self.step += 1
        return await self.requester.request(self.step, data, dest, waits, accept)


async def tftp_get(server: Address, filename: str, *, local_host: str = "0.0.0.0", blksize: int = 1468,
                   timeout: float = 1.0, retries: int = 4, max_bytes: int | None = None) -> bytes:
    """RFC 1350 read with the RFC 2348/2349 options. The server's transfer
    port (TID) is learned from its first answer, which must come from the host
    the request went to, and then held to: a datagram from anywhere else is
    ignored (RFC 1350 4), so no other host can slip in a file. A file past
    ``max_bytes`` ends the transfer with a DownloadError."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_TftpClient, local_addr=(local_host, 0))
    waits = FixedBackoff(timeout, retries).waits()
    peer: Address | None = None

    def from_server(answer: tuple[bytes, Address]) -> bool:
        _, addr = answer
        return addr[0] == server[0] if peer is None else addr[:2] == peer

    try:
        last, last_to = tftp.encode_request(tftp.Opcode.RRQ, filename, "octet",
                                            {"blksize": str(blksize), "tsize": "0"}), server
        size = 512
        expected = 1
        out = bytearray()
        for _ in range(TFTP_MAX_STEPS):
            answer = await client.ask(last, last_to, waits, from_server)
            if answer is None:
                raise DownloadError(f"tftp://{server[0]}/{filename}: no answer")
            data, addr = answer
            if peer is None:
                peer = (addr[0], addr[1])
            try:
                packet = tftp.decode(data)
            except tftp.TftpError as exc:
                raise DownloadError(f"malformed TFTP packet: {exc}") from None
            if isinstance(packet, tftp.Error):
                raise DownloadError(f"TFTP error {packet.code}: {packet.message}", packet.code)
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
                    if max_bytes is not None and len(out) > max_bytes:
                        transport.sendto(tftp.encode_error(tftp.ErrorCode.DISK_FULL, "file too large"), peer)
                        raise DownloadError(f"more than {max_bytes} bytes")
                    if len(packet.payload) < size:
                        transport.sendto(last, last_to)
                        return bytes(out)
        raise DownloadError("transfer too long")
    finally:
        transport.close()
        if client.requester is not None:
            client.requester.close()


async def http_get(url: str, timeout: float = 10.0, local_host: str | None = None,
                   max_bytes: int | None = None) -> bytes:
    """GET from ``local_host`` (the device's own address: per-exchange names
    are valid for one client IP); a body past ``max_bytes`` is refused, not read on."""
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(local_host, 0)) if local_host else None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), connector=connector) as session:
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise DownloadError(f"{url}: HTTP {response.status}", http_status=response.status)
            if max_bytes is None:
                return await response.read()
            data = await response.content.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise DownloadError(f"{url}: larger than {max_bytes} bytes")
            return data


async def tod(server: Address, timeout: float = 1.0, retries: int = 2, local_host: str = "0.0.0.0") -> int:
    """RFC 868 over UDP: seconds since 1900 (raises TimeoutError).

    One exchange on the request/retry core: the empty question goes out again
    after each ``timeout``, and only a datagram from the server's address and
    port answers it (anything else is ignored, as the TFTP client ignores
    foreign TIDs). A plain socket, because the question is an empty datagram,
    which an asyncio datagram transport's sendto() silently skips.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    requester: Requester[int, tuple[bytes, Address]] | None = None
    try:
        sock.setblocking(False)
        sock.bind((local_host, 0))

        def send(data: bytes, dest: Address, _attempt: int) -> None:
            sock.sendto(data, dest)

        requester = Requester(send)

        def readable() -> None:
            # Drain what is queued: each datagram is offered to the exchange, never kept.
            while requester is not None:
                try:
                    data, addr = sock.recvfrom(64)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return  # an ICMP error for an earlier question: the retry timer covers it
                requester.deliver(0, (data, (str(addr[0]), int(addr[1]))))

        loop.add_reader(sock.fileno(), readable)
        try:
            answer = await requester.request(0, b"", server, FixedBackoff(timeout, retries).waits(),
                                             lambda got: got[1] == (server[0], server[1]))
        finally:
            loop.remove_reader(sock.fileno())
        if answer is None:
            raise TimeoutError(f"no ToD answer from {server[0]}:{server[1]}")
        data = answer[0]
        if len(data) != 4:
            raise ValueError(f"ToD answer of {len(data)} bytes")
        return int(struct.unpack("!I", data)[0])
    finally:
        if requester is not None:
            requester.close()
        sock.close()
