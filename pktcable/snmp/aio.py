"""A thin asyncio UDP endpoint for SNMPv2c: answers requests through a
handler and sends requests of its own with retransmission.

One socket serves both roles, as an SNMP entity does: the provisioning server
receives INFORMs and sends SETs/GETs; the simulated eMTA answers GET/SET and
sends INFORMs. Retransmission and matching are pktcable.exchange's: a
response counts when it carries the request-id and comes from the address the
request went to (another host that guesses the id answers nothing).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pktcable.exchange import FixedBackoff, Verdict
from pktcable.exchange_aio import Requester

from . import message as m

log = logging.getLogger("pktcable.snmp")

Address = tuple[str, int]
Handler = Callable[[m.Message, Address], "m.Message | None | Awaitable[m.Message | None]"]


@dataclass(slots=True)
class EndpointStats:
    received: int = 0
    malformed: int = 0
    answered: int = 0
    #: Requests of our own (GET/SET), first copies only (see retransmissions).
    requests: int = 0
    unmatched_responses: int = 0
    #: Responses with a pending request-id from an address the request did not go to.
    foreign_responses: int = 0
    retransmissions: int = 0
    timeouts: int = 0
    internal_errors: int = 0


class SnmpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler | None = None, *, timeout: float = 1.0, retries: int = 3) -> None:
        self.handler = handler
        self.timeout = timeout
        self.retries = retries
        self.stats = EndpointStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._requester: Requester[int, tuple[m.Message, Address]] | None = None
        self._ids = itertools.count(1)

    # -- transport ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._requester = Requester(self._send_request)

    @property
    def address(self) -> Address:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    @property
    def pending(self) -> int:
        """Requests of our own waiting for their Response."""
        return 0 if self._requester is None else len(self._requester.core)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self._requester is not None:
            self._requester.close()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.stats.received += 1
        try:
            msg = m.decode(data)
        except m.SnmpDecodeError:
            self.stats.malformed += 1  # counted and dropped; nothing a peer sends stops us
            return
        if msg.pdu.type in (m.PduType.RESPONSE, m.PduType.REPORT):
            verdict = Verdict.UNKNOWN if self._requester is None else \
                self._requester.deliver(msg.pdu.request_id, (msg, addr))
            if verdict is Verdict.REFUSED:
                self.stats.foreign_responses += 1
            elif verdict is not Verdict.MATCHED:
                self.stats.unmatched_responses += 1
            return
        if self.handler is None:
            return
        try:
            reply = self.handler(msg, addr)
        except Exception:  # a handler's bug costs one message, never the endpoint
            self.stats.internal_errors += 1
            log.exception("snmp: handling a %s from %s failed", msg.pdu.type.name, addr[0])
            return
        if asyncio.iscoroutine(reply) or isinstance(reply, asyncio.Future):
            asyncio.ensure_future(self._reply_later(reply, addr))
        else:
            self._send_reply(reply, addr)  # type: ignore[arg-type]

    async def _reply_later(self, reply: Awaitable[m.Message | None], addr: Address) -> None:
        self._send_reply(await reply, addr)

    def _send_reply(self, reply: m.Message | None, addr: Address) -> None:
        if reply is not None and self.transport is not None:
            self.transport.sendto(m.encode(reply), addr)
            self.stats.answered += 1

    # -- requests of our own -----------------------------------------------
    def next_request_id(self) -> int:
        return next(self._ids) & 0x7FFFFFFF

    async def request(self, addr: Address, community: bytes, pdu_type: m.PduType,
                      varbinds: tuple, *, timeout: float | None = None,  # type: ignore[type-arg]
                      retries: int | None = None) -> m.Message:
        """Send a request and await its Response from ``addr``; retransmits the
        same request-id (so a late answer to an earlier copy still counts)."""
        assert self._requester is not None
        self.stats.requests += 1
        rid = self.next_request_id()
        data = m.encode(m.Message(community, m.Pdu(pdu_type, rid, varbinds)))
        backoff = FixedBackoff(self.timeout if timeout is None else timeout,
                               self.retries if retries is None else retries)
        peer = await _numeric(addr)
        answer = await self._requester.request(rid, data, peer, backoff.waits(),
                                               lambda response: response[1][:2] == peer)
        if answer is None:
            self.stats.timeouts += 1
            raise TimeoutError(f"no response from {addr[0]}:{addr[1]} to request {rid}")
        return answer[0]

    def _send_request(self, data: bytes, dest: Address, attempt: int) -> None:
        if attempt:
            self.stats.retransmissions += 1
        if self.transport is not None:
            self.transport.sendto(data, dest)


async def _numeric(addr: Address) -> Address:
    """``addr`` with its host as an address, as responses' sources are compared with it."""
    try:
        ipaddress.ip_address(addr[0])
        return addr[0], addr[1]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(addr[0], addr[1], family=socket.AF_INET,
                                                             type=socket.SOCK_DGRAM)
        host, port = infos[0][4][:2]
        return str(host), int(port)


async def open_endpoint(host: str, port: int, handler: Handler | None = None, *, buffer: int = 0,
                        **kw: float) -> SnmpEndpoint:
    """``buffer``: receive buffer bytes (a provisioning server takes INFORM
    bursts from whole nodes of modems; 0 keeps the system default)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    _, protocol = await loop.create_datagram_endpoint(lambda: SnmpEndpoint(handler, **kw), sock=sock)  # type: ignore[arg-type]
    return protocol
