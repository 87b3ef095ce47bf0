"""A thin asyncio UDP endpoint for SNMPv2c and SNMPv3: answers requests through a
handler and sends requests of its own with retransmission.

One socket serves both roles, as an SNMP entity does: the provisioning server
receives INFORMs and sends SETs/GETs; the simulated eMTA answers GET/SET and
sends INFORMs. Retransmission and matching are pktcable.exchange's: a
response counts when it carries the request-id and comes from the address the
request went to (another host that guesses the id answers nothing).

With a :class:`usmengine.UsmEngine` the endpoint also speaks SNMPv3 (USM):
incoming v3 requests pass USM (Reports go back for what it refuses) and reach
``v3_handler``; :meth:`SnmpEndpoint.request_v3` discovers the receiver's
engine when it must, follows its clock (one retry after an authenticated
notInTimeWindows Report) and ends a refusal in a named :class:`UsmFailure`.
v3 exchanges are matched by msgID, which Reports keep when they cannot read the
request-id of an encrypted request.

A ``screen`` decides who may send at all, from the source address alone, before
a byte is decoded: decoding and USM are the costly part of a datagram, and a
flood from hosts that may not talk to this endpoint must cost no more than a
dictionary lookup each. It may answer later (an awaitable), for a source whose
right to send is still on its way; the datagram waits, undecoded, for that.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from pktcable.exchange import FixedBackoff, Verdict
from pktcable.exchange_aio import Requester

from . import message as m
from . import v3
from .usm import UsmUser
from .usmengine import Accepted, Refused, UsmEngine, UsmFailure, UsmStat, report_stat

log = logging.getLogger("pktcable.snmp")

Address = tuple[str, int]
Handler = Callable[[m.Message, Address], "m.Message | None | Awaitable[m.Message | None]"]
#: An SNMPv3 request that passed USM -> the PDU to answer with (the endpoint secures it).
V3Handler = Callable[[Accepted, Address], "m.Pdu | None | Awaitable[m.Pdu | None]"]
#: The source address of a datagram -> whether it is decoded at all (now, or once awaited).
Screen = Callable[[Address], "bool | Awaitable[bool]"]
#: Attempts of one v3 request: discovery's Report may carry no clock (boots/time 0), and an
#: authenticated notInTimeWindows Report then teaches it; one more try after that.
V3_ATTEMPTS = 3
#: What a receive path hands on (v2c: the Message; v3: what USM accepted) and what its handler answers.
_In = TypeVar("_In")
_Out = TypeVar("_Out")


@dataclass(slots=True)
class EndpointStats:
    received: int = 0
    #: Datagrams the screen dropped undecoded (their source may not send here).
    screened: int = 0
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
    #: SNMPv3 messages USM refused (the engine's usmStats say why) and the Reports sent for them.
    usm_refused: int = 0
    reports: int = 0


class SnmpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler | None = None, *, timeout: float = 1.0, retries: int = 3,
                 usm: UsmEngine | None = None, v3_handler: V3Handler | None = None,
                 screen: Screen | None = None) -> None:
        self.handler = handler
        self.screen = screen
        self.usm = usm
        self.v3_handler = v3_handler
        self.timeout = timeout
        self.retries = retries
        self.stats = EndpointStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._requester: Requester[int, tuple[m.Message, Address]] | None = None
        self._ids = itertools.count(1)
        self._v3requester: Requester[int, tuple[Accepted, Address]] | None = None
        #: Engine IDs discovered per peer address (RFC 3414 4).
        self.engines: dict[Address, bytes] = {}
        #: Told of each message USM refused, but discovery (usmStatsUnknownEngineIDs), with
        #: where it came from: a provisioning server records it on the device at that address.
        self.on_usm_refused: Callable[[Refused, Address], None] | None = None

    # -- transport ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._requester = Requester(self._send_request)
        self._v3requester = Requester(self._send_request)

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
        for requester in (self._requester, self._v3requester):
            if requester is not None:
                requester.close()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.stats.received += 1
        if self.screen is not None:
            try:
                verdict = self.screen(addr)
            except Exception:  # a screen's bug costs one datagram, never the endpoint
                self.stats.internal_errors += 1
                log.exception("snmp: screening a datagram from %s failed", addr[0])
                return
            if not isinstance(verdict, bool):
                asyncio.ensure_future(self._screened_later(data, addr, verdict))
                return
            if not verdict:
                self.stats.screened += 1
                return
        self._decode(data, addr)

    async def _screened_later(self, data: bytes, addr: Address, verdict: Awaitable[bool]) -> None:
        try:
            admitted = await verdict
        except Exception:  # a screen's bug costs one datagram, never the endpoint
            self.stats.internal_errors += 1
            log.exception("snmp: screening a datagram from %s failed", addr[0])
            return
        if not admitted:
            self.stats.screened += 1
            return
        self._decode(data, addr)

    def _decode(self, data: bytes, addr: Address) -> None:
        if self.usm is not None and v3.peek_version(data) == v3.VERSION_3:
            self._v3_received(data, addr)
            return
        try:
            msg = m.decode(data)
        except m.SnmpDecodeError:
            self.stats.malformed += 1  # counted and dropped; nothing a peer sends stops us
            return
        self._dispatch(msg, msg.pdu, msg.pdu.request_id, self._requester, self.handler,
                       self._send_reply, addr)

    def _dispatch(self, got: _In, pdu: m.Pdu, match_id: int,
                  requester: Requester[int, tuple[_In, Address]] | None,
                  handler: Callable[[_In, Address], _Out | Awaitable[_Out]] | None,
                  send: Callable[[_In, _Out, Address], None], addr: Address) -> None:
        """What v2c and v3 do alike with a message that decoded (and, v3, passed USM): a
        Response or Report goes to the request of ours it answers (``match_id``: the
        request-id, v3's msgID); anything else to ``handler``, whose answer, now or
        awaited, goes out through ``send``."""
        if pdu.type in (m.PduType.RESPONSE, m.PduType.REPORT):
            verdict = Verdict.UNKNOWN if requester is None else requester.deliver(match_id, (got, addr))
            if verdict is Verdict.REFUSED:
                self.stats.foreign_responses += 1
            elif verdict is not Verdict.MATCHED:
                self.stats.unmatched_responses += 1
            return
        if handler is None:
            return
        try:
            reply = handler(got, addr)
        except Exception:  # a handler's bug costs one message, never the endpoint
            self.stats.internal_errors += 1
            log.exception("snmp: handling a %s%s from %s failed", "v3 " if isinstance(got, Accepted) else "",
                          pdu.type.name, addr[0])
            return
        if asyncio.iscoroutine(reply) or isinstance(reply, asyncio.Future):
            asyncio.ensure_future(_send_later(send, got, reply, addr))
        else:
            send(got, reply, addr)  # type: ignore[arg-type]

    def _send_reply(self, request: m.Message, reply: m.Message | None, addr: Address) -> None:
        if reply is not None and self.transport is not None:
            self.transport.sendto(m.encode(reply), addr)
            self.stats.answered += 1

    # -- SNMPv3 ---------------------------------------------------------------
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _v3_received(self, data: bytes, addr: Address) -> None:
        assert self.usm is not None
        try:
            got = self.usm.receive(data, self._now())
        except m.SnmpDecodeError:
            self.stats.malformed += 1
            return
        except Exception:  # a bug of ours costs one message, never the endpoint
            self.stats.internal_errors += 1
            log.exception("snmp: USM processing of a datagram from %s failed", addr[0])
            return
        if isinstance(got, Refused):
            self.stats.usm_refused += 1
            log.debug("snmp: %s refused from %s: %s", got.stat.mib_name, addr[0], got.detail)
            if got.report is not None and self.transport is not None:
                self.transport.sendto(got.report, addr)
                self.stats.reports += 1
            if self.on_usm_refused is not None and got.stat is not UsmStat.UNKNOWN_ENGINE_IDS:
                self.on_usm_refused(got, addr)
            return
        self._dispatch(got, got.pdu, got.message.msg_id, self._v3requester, self.v3_handler,
                       self._v3_reply, addr)

    def _v3_reply(self, request: Accepted, pdu: m.Pdu | None, addr: Address) -> None:
        if pdu is None or self.transport is None or not request.message.reportable:
            return
        assert self.usm is not None
        self.transport.sendto(self.usm.encode_response(request, pdu, self._now()), addr)
        self.stats.answered += 1

    async def discover(self, addr: Address, *, timeout: float | None = None,
                       retries: int | None = None) -> bytes:
        """The snmpEngineID at ``addr`` (RFC 3414 4), its boots and time learned by
        the engine; remembered per address."""
        assert self.usm is not None and self._v3requester is not None
        peer = await _numeric(addr)
        msg_id = self.next_request_id()
        got = await self._v3_exchange(peer, msg_id, self.usm.discovery_probe(msg_id, msg_id), timeout, retries)
        sec = got.message.security
        if report_stat(got.pdu) is not UsmStat.UNKNOWN_ENGINE_IDS or not sec.engine_id:
            raise UsmFailure(UsmStat.UNKNOWN_ENGINE_IDS,
                             f"{addr[0]}:{addr[1]} answered discovery without its engine ID")
        self.usm.learn(sec.engine_id, sec.boots, sec.time, self._now())
        self.engines[peer] = sec.engine_id
        return sec.engine_id

    async def request_v3(self, addr: Address, user: UsmUser, pdu_type: m.PduType,
                         varbinds: tuple, *, timeout: float | None = None,  # type: ignore[type-arg]
                         retries: int | None = None) -> m.Pdu:
        """A GET/SET/INFORM over SNMPv3 at ``user``'s level -> the Response's PDU.

        A user without an engine ID is meant for the engine at ``addr``, found by
        discovery (an INFORM sender, RFC 3414 4). A refusal by the receiver
        raises :class:`UsmFailure` naming its usmStats counter; no answer,
        TimeoutError."""
        assert self.usm is not None and self._v3requester is not None
        self.stats.requests += 1
        peer = await _numeric(addr)
        discovered = not user.engine_id
        if discovered:
            engine = self.engines.get(peer) or await self.discover(peer, timeout=timeout, retries=retries)
            user = replace(user, engine_id=engine)
        self.usm.add_user(user)
        stat: UsmStat | None = None
        for _ in range(V3_ATTEMPTS):
            msg_id = self.next_request_id()
            data = self.usm.encode_request(m.Pdu(pdu_type, msg_id, varbinds), user, msg_id, self._now())
            # RFC 3412 7.2 step 12: a Response comes back at the request's level, for its user;
            # another one (forged, unprotected) is refused and the real answer still counts.
            got = await self._v3_exchange(peer, msg_id, data, timeout, retries, _answers(user))
            if got.pdu.type is m.PduType.RESPONSE:
                return got.pdu
            stat = report_stat(got.pdu)
            if stat is UsmStat.NOT_IN_TIME_WINDOWS and got.message.authenticated:
                continue  # USM learned the clock the Report carries: timely now
            if stat is UsmStat.UNKNOWN_ENGINE_IDS and discovered and self.engines.get(peer) == user.engine_id:
                # The receiver's engine changed since we discovered it (a new installation): once more.
                del self.engines[peer]
                user = replace(user, engine_id=await self.discover(peer, timeout=timeout, retries=retries))
                self.usm.add_user(user)
                continue
            break
        name = stat.mib_name if stat else "a Report"
        raise UsmFailure(stat or UsmStat.UNKNOWN_ENGINE_IDS,
                         f"{addr[0]}:{addr[1]} refused {pdu_type.name} of user {user.name!r} with {name}")

    async def _v3_exchange(self, peer: Address, msg_id: int, data: bytes, timeout: float | None,
                           retries: int | None, check: Callable[[Accepted], bool] | None = None) -> Accepted:
        assert self._v3requester is not None
        backoff = FixedBackoff(self.timeout if timeout is None else timeout,
                               self.retries if retries is None else retries)
        answer = await self._v3requester.request(msg_id, data, peer, backoff.waits(),
                                                 lambda r: r[1][:2] == peer and (check is None or check(r[0])))
        if answer is None:
            self.stats.timeouts += 1
            raise TimeoutError(f"no SNMPv3 answer from {peer[0]}:{peer[1]} to message {msg_id}")
        return answer[0]

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


def _answers(user: UsmUser) -> Callable[[Accepted], bool]:
    """What may answer a request of ``user``: a Report, or a Response at the user's level."""
    return lambda got: got.pdu.type is m.PduType.REPORT or (got.user == user and got.level == user.level)


async def _send_later(send: Callable[[_In, _Out, Address], None], request: _In,
                      reply: Awaitable[_Out], addr: Address) -> None:
    send(request, await reply, addr)


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
                        usm: UsmEngine | None = None, v3_handler: V3Handler | None = None,
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
    _, protocol = await loop.create_datagram_endpoint(lambda: SnmpEndpoint(handler, usm=usm, v3_handler=v3_handler, **kw), sock=sock)  # type: ignore[arg-type]
    return protocol
