"""The TFTP server's asyncio transport: sockets, one timer, no protocol logic.

RFC 1350 gives each transfer its own port (TID), so every transfer gets its own
UDP socket, watched with ``loop.add_reader`` rather than a full asyncio
transport, which would cost a coroutine and several objects per transfer. All
transfers share one ``loop.call_at`` timer driven by a heap holding one entry
per transfer.

Refusals and floods: malformed requests get ERROR 4, WRQ gets ERROR 2, and
stray DATA/ACK/ERROR packets on the well-known port get silence. While the
table of sessions is full, a request is answered with silence, so a device
retries later instead of giving up; so, past the ``admission`` bound, is a
request that would start a new flow (pktcable.admission), while one for the
file of a flow under way (``continues``) is still served. One client address holds at most
``max_sessions_per_client`` sessions: a host that opens more (an RRQ from each
of many source ports, never ACKed) gets ERROR 0 for the excess, so it cannot
fill the table that every other device needs. A retransmitted RRQ from a
client whose transfer is running is ignored: the running transfer's own
retransmission answers it. Each refusal is counted in ``stats.refused`` under
its reason.

The listening socket does not set SO_REUSEADDR: on UDP that would let a
second server bind the same port and silently take a share of the requests.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pktcable.admission import Admission

from .resolvers import AccessDenied, BuildFailed, NotFound, Resolver
from .tftp import (
    MAX_REQUEST,
    Address,
    ErrorCode,
    MalformedPacket,
    Opcode,
    ReadTransfer,
    Request,
    TransferCompleted,
    TransferConfig,
    TransferFailed,
    decode,
    encode_error,
)

log = logging.getLogger("pktcable.delivery.tftp")

_RECV_SIZE = 65536
_LISTEN_BUFFER = 4 << 20
_BATCH = 64  # datagrams read per wake-up; bounds how long one busy socket holds the loop
#: Sessions one client address may hold by default: a CM, its eMTA and a few retries fit many times over.
DEFAULT_MAX_PER_CLIENT = 32
_PKTINFO = struct.Struct("=I4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr (Linux ip(7))
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Python names it from 3.12 on; 8 on Linux


@dataclass
class ServerStats:
    requests: int = 0
    completed: int = 0
    failed: int = 0
    refused: Counter[str] = field(default_factory=Counter)


class _Session:
    __slots__ = ("transfer", "sock", "armed", "closed")

    def __init__(self, transfer: ReadTransfer, sock: socket.socket) -> None:
        self.transfer = transfer
        self.sock = sock
        self.armed = False
        self.closed = False


class TftpServer:
    """Serves RRQs from ``resolver``; ``await start()``, later ``close()``."""

    def __init__(self, resolver: Resolver, host: str = "127.0.0.1", port: int = 69, *,
                 config: TransferConfig | None = None, max_sessions: int = 4096,
                 max_sessions_per_client: int = DEFAULT_MAX_PER_CLIENT,
                 on_complete: Callable[[str, Address, bool], None] | None = None,
                 admission: Admission | None = None, continues: Callable[[str], bool] | None = None) -> None:
        self.resolver = resolver
        #: Called with (file name, client, delivered completely) as each transfer ends.
        self.on_complete = on_complete
        self.host = host
        self.port = port
        self.config = config or TransferConfig()
        self.max_sessions = max_sessions
        #: 0 = no per-IP limit (only for benchmarks that run every client from one address).
        self.max_sessions_per_client = max_sessions_per_client
        #: Whether a transfer that starts a new flow may start now (its in-flight count: transfers
        #: running); a name for which ``continues`` is true (the file of a flow under way) is
        #: always served while the session table has room.
        self.admission = admission
        self.continues = continues
        self.stats = ServerStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: socket.socket | None = None
        self._sessions: dict[Address, _Session] = {}
        self._per_ip: Counter[str] = Counter()
        self._heap: list[tuple[float, int, _Session]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._wildcard = host in ("0.0.0.0", "")

    @property
    def address(self) -> Address:
        assert self._listener is not None, "server not started"
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def active(self) -> int:
        return len(self._sessions)

    @property
    def listener(self) -> socket.socket | None:
        """The well-known port's socket (its receive queue is a metric), None when not started."""
        return self._listener

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # A burst of RRQs (a node of modems rebooting) must queue, not drop:
            # the default buffer holds a few hundred. The kernel caps this at rmem_max.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _LISTEN_BUFFER)
            if self._wildcard:
                # Learn which local address each RRQ was sent to, so that the
                # transfer answers from it on a host with several addresses.
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.bind((self.host, self.port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            # Name the service and port: "address already in use" alone does not say which of several.
            raise OSError(exc.errno, f"tftp {self.host}:{self.port}: {(exc.strerror or str(exc)).lower()}") from exc
        self._listener = sock
        self._loop.add_reader(sock.fileno(), self._on_listener)

    def close(self) -> None:
        for session in list(self._sessions.values()):
            self._close(session)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._listener is not None and self._loop is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None

    # -- the well-known port

    def _on_listener(self) -> None:
        assert self._listener is not None
        for _ in range(_BATCH):
            try:
                if self._wildcard:
                    data, anc, _, addr = self._listener.recvmsg(MAX_REQUEST + 1, socket.CMSG_SPACE(_PKTINFO.size))
                    local = self._local_address(anc)
                else:
                    data, addr = self._listener.recvfrom(MAX_REQUEST + 1)
                    local = self.host
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("tftp listener: %s", exc)
                return
            try:
                self._on_request(data, addr, local)
            except Exception:  # a bug for one request must not stop the server
                log.exception("tftp: request from %s failed", addr)

    def _local_address(self, ancillary: list[tuple[int, int, bytes]]) -> str:
        for level, kind, data in ancillary:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO.size:
                return socket.inet_ntoa(_PKTINFO.unpack_from(data)[2])
        return "0.0.0.0"

    def _on_request(self, data: bytes, addr: Address, local: str) -> None:
        self.stats.requests += 1
        try:
            packet = decode(data)
        except MalformedPacket as exc:
            self._refuse(addr, ErrorCode.ILLEGAL_OPERATION, exc.reason, "malformed")
            return
        if not isinstance(packet, Request):
            self.stats.refused["stray"] += 1  # late packets of ended transfers: answering would only add noise
            return
        if packet.opcode == Opcode.WRQ:
            self._refuse(addr, ErrorCode.ACCESS_VIOLATION, "writing is not allowed", "wrq")
            return
        if packet.mode == "mail":
            self._refuse(addr, ErrorCode.ILLEGAL_OPERATION, "mail mode is not supported", "mail")
            return
        old = self._sessions.get(addr)
        if old is not None and not self._supersede(old):
            self.stats.refused["duplicate"] += 1
            return
        if self.max_sessions_per_client and self._per_ip[addr[0]] >= self.max_sessions_per_client:
            self._refuse(addr, ErrorCode.NOT_DEFINED, "too many transfers from this address", "per-client")
            return
        if len(self._sessions) >= self.max_sessions:
            self.stats.refused["busy"] += 1
            return
        if self.admission is not None and not (self.continues is not None and self.continues(packet.filename)):
            assert self._loop is not None
            if self.admission.admit(self._loop.time(), len(self._sessions)) is not None:
                self.stats.refused["overload"] += 1  # silence, as when the table is full
                return
        try:
            content = self.resolver.resolve(packet.filename, addr)
        except NotFound as exc:
            self._refuse(addr, ErrorCode.FILE_NOT_FOUND, "file not found", "not-found", exc)
            return
        except AccessDenied as exc:
            self._refuse(addr, ErrorCode.ACCESS_VIOLATION, "access violation", "denied", exc)
            return
        except BuildFailed as exc:
            log.warning("tftp: %s for %s: %s", packet.filename, addr[0], exc.reason)
            self._refuse(addr, ErrorCode.NOT_DEFINED, "file could not be built", "build-failed")
            return
        self._open(packet, addr, local, content)

    def _supersede(self, session: _Session) -> bool:
        """Whether a new RRQ from a busy client address may start a new transfer.

        Clients reuse source ports quickly: a new RRQ can be read before the
        previous transfer's final ACK, which sits unread on that transfer's
        socket. Read it first. A client that asks again while we wait for the
        ACK of the last block has that block, so the old transfer is over too.
        Anything else is a retransmitted RRQ, which the running transfer's own
        retransmission answers.
        """
        self._on_readable(session)
        if session.closed:
            return True
        if session.transfer.sent_last_block:
            self._close(session)
            return True
        return False

    def _refuse(self, addr: Address, code: ErrorCode, message: str, why: str, exc: Exception | None = None) -> None:
        self.stats.refused[why] += 1
        if exc is not None:
            log.info("tftp: refused %s: %s", addr[0], exc)
        assert self._listener is not None
        try:
            self._listener.sendto(encode_error(code, message), addr)
        except OSError:
            pass  # a full socket buffer under a flood: silence is an allowed answer

    def _open(self, request: Request, addr: Address, local: str, content: bytes) -> None:
        assert self._loop is not None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as exc:  # out of descriptors: the client will retry
            self.stats.refused["no-socket"] += 1
            log.warning("tftp: cannot open a transfer socket: %s", exc)
            return
        try:
            sock.bind((local, 0))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            self.stats.refused["no-socket"] += 1
            log.warning("tftp: cannot bind a transfer socket: %s", exc)
            return
        transfer = ReadTransfer(addr, request, content, self._loop.time(), self.config)
        session = _Session(transfer, sock)
        self._sessions[addr] = session
        self._per_ip[addr[0]] += 1
        self._loop.add_reader(sock.fileno(), self._on_readable, session)
        self._pump(session)

    # -- transfers

    def _on_readable(self, session: _Session) -> None:
        assert self._loop is not None
        transfer, sock = session.transfer, session.sock
        for _ in range(_BATCH):
            try:
                data, addr = sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            transfer.receive_datagram(data, addr, self._loop.time())
            if transfer.done:
                break
        self._pump(session)

    def _pump(self, session: _Session) -> None:
        transfer, sock = session.transfer, session.sock
        for data, dest in transfer.datagrams_to_send():
            try:
                sock.sendto(data, dest)
            except OSError:
                pass  # lost like any datagram; the retransmission timer covers it
        if transfer.done:
            self._close(session)
        elif not session.armed:
            self._arm(session, transfer.get_timer())

    def _close(self, session: _Session) -> None:
        if session.closed:
            return
        session.closed = True
        transfer = session.transfer
        if self._sessions.get(transfer.peer) is session:
            del self._sessions[transfer.peer]
            self._per_ip[transfer.peer[0]] -= 1
            if not self._per_ip[transfer.peer[0]]:
                del self._per_ip[transfer.peer[0]]
        if self._loop is not None:
            self._loop.remove_reader(session.sock.fileno())
        session.sock.close()
        done = isinstance(transfer.result, TransferCompleted)
        if self.on_complete is not None:
            try:
                self.on_complete(transfer.request.filename, transfer.peer, done)
            except Exception:  # the embedder's bug must not take the server down
                log.exception("tftp: completion callback failed")
        if done:
            self.stats.completed += 1
        else:
            self.stats.failed += 1
            if isinstance(transfer.result, TransferFailed):
                log.debug("tftp: %s to %s: %s", transfer.request.filename, transfer.peer[0], transfer.result.reason)

    # -- the one timer

    def _arm(self, session: _Session, deadline: float | None) -> None:
        if deadline is None:
            return
        assert self._loop is not None
        session.armed = True
        heapq.heappush(self._heap, (deadline, next(self._seq), session))
        if deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._timer, self._timer_at = None, float("inf")
        now = self._loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, session = heapq.heappop(heap)
            session.armed = False
            if session.closed:
                continue
            # An entry may predate later progress: the transfer's own timer is the truth.
            deadline = session.transfer.get_timer()
            if deadline is not None and deadline > now:
                self._arm(session, deadline)
                continue
            session.transfer.handle_timer(now)
            self._pump(session)
        if heap and heap[0][0] < self._timer_at:  # entries pushed above may have armed it already
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = heap[0][0]
            self._timer = self._loop.call_at(self._timer_at, self._on_timer)
