"""Non-INVITE transactions (RFC 3261 §17.1.2 client, §17.2.2 server), sans-IO.

Time is an argument: each call takes ``now`` (seconds, any monotonic origin),
``next_deadline()`` says when ``handle_timer(now)`` is next due, and every call
returns the events it produced, among them :class:`Send` for the bytes' owner
to put on the wire. Retransmissions (timer E) and the wait states (timers J, K)
run only on unreliable transports: over TCP/TLS, J and K are zero (§17.1.2.2,
§17.2.2). INVITE transactions are not implemented: provisioning never invites.

:class:`TransactionLayer` keeps the table: client transactions match a response
by top Via branch + CSeq method (§17.1.3), server transactions match a request
by branch + sent-by + method (§17.2.3). A request without the RFC 3261 branch
cookie is matched by Request-URI, Call-ID, From tag and CSeq as well, since
its branch need not be unique.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from enum import Enum

from pktcable.settings import in_range
from pktcable.sip import grammar as g
from pktcable.sip.errors import SipStateError
from pktcable.sip.message import Request, Response

Address = tuple[str, int]


@dataclass(frozen=True)
class Timers:
    """§17.1.1.1 timer values (seconds); the defaults are the RFC's. A settings table
    fills it (``Timers(**settings.typed(table, Timers))``); impossible values are
    refused here, naming the setting."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        # A zero T1 would retransmit in a busy loop; T2 below T1 would shrink the interval.
        in_range(self.t1, 0.01, 60.0, "t1")
        in_range(self.t2, self.t1, 600.0, "t2")
        in_range(self.t4, 0.0, 600.0, "t4")


DEFAULT_TIMERS = Timers()


class State(Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Send:
    """Put ``message`` on the wire to ``peer`` (over the transaction's transport)."""

    message: Request | Response
    peer: Address
    retransmission: bool = False


@dataclass(frozen=True)
class RequestReceived:
    """A new request: the transaction user must answer it with ``TransactionLayer.respond``."""

    request: Request
    peer: Address


@dataclass(frozen=True)
class ResponseReceived:
    request: Request
    response: Response


@dataclass(frozen=True)
class TimedOut:
    """Timer F fired: the request got no final response (treated as 408, §8.1.3.1)."""

    request: Request


@dataclass(frozen=True)
class StrayResponse:
    """A response that matched no client transaction (§18.1.2: discarded)."""

    response: Response


Event = Send | RequestReceived | ResponseReceived | TimedOut | StrayResponse


class ClientTransaction:
    """§17.1.2 non-INVITE client transaction: Trying -> Proceeding -> Completed -> Terminated."""

    def __init__(self, request: Request, peer: Address, now: float, *, reliable: bool,
                 timers: Timers = DEFAULT_TIMERS) -> None:
        self.request, self.peer, self.reliable, self.timers = request, peer, reliable, timers
        self.state = State.TRYING
        self._interval = timers.t1
        self._e: float | None = None if reliable else now + timers.t1
        self._f: float | None = now + 64 * timers.t1
        self._k: float | None = None

    def start(self) -> list[Event]:
        return [Send(self.request, self.peer)]

    def receive(self, response: Response, now: float) -> list[Event]:
        if self.state in (State.COMPLETED, State.TERMINATED):
            return []  # retransmitted final responses are absorbed
        if response.status < 200:
            self.state = State.PROCEEDING
            return [ResponseReceived(self.request, response)]
        self.state = State.COMPLETED
        self._e = self._f = None
        self._k = now + (0.0 if self.reliable else self.timers.t4)
        return [ResponseReceived(self.request, response)]

    def next_deadline(self) -> float | None:
        times = [t for t in (self._e, self._f, self._k) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Event]:
        out: list[Event] = []
        if self._k is not None and now >= self._k:
            self._k = None
            self.state = State.TERMINATED
        if self._f is not None and now >= self._f:
            self._e = self._f = None
            self.state = State.TERMINATED
            out.append(TimedOut(self.request))
        if self._e is not None and now >= self._e:
            # §17.1.2.2: double up to T2 while Trying; in Proceeding, every T2.
            self._interval = min(2 * self._interval, self.timers.t2) if self.state is State.TRYING \
                else self.timers.t2
            self._e = now + self._interval
            out.append(Send(self.request, self.peer, retransmission=True))
        return out


class ServerTransaction:
    """§17.2.2 non-INVITE server transaction; absorbs retransmitted requests."""

    def __init__(self, request: Request, peer: Address, now: float, *, reliable: bool,
                 timers: Timers = DEFAULT_TIMERS) -> None:
        self.request, self.peer, self.reliable, self.timers = request, peer, reliable, timers
        self.state = State.TRYING
        self.last_response: Response | None = None
        self._j: float | None = None

    def receive(self, request: Request, now: float) -> list[Event]:
        """A retransmission of the request: resend the last response, if any (§17.2.2)."""
        if self.last_response is not None and self.state in (State.PROCEEDING, State.COMPLETED):
            return [Send(self.last_response, self.peer, retransmission=True)]
        return []

    def respond(self, response: Response, now: float) -> list[Event]:
        if self.state in (State.COMPLETED, State.TERMINATED):
            raise SipStateError(f"the transaction already sent its final response ({self.state.value})")
        self.last_response = response
        if response.status < 200:
            self.state = State.PROCEEDING
        else:
            self.state = State.COMPLETED
            self._j = now + (0.0 if self.reliable else 64 * self.timers.t1)
        return [Send(response, self.peer)]

    def next_deadline(self) -> float | None:
        return self._j

    def handle_timer(self, now: float) -> list[Event]:
        if self._j is not None and now >= self._j:
            self._j = None
            self.state = State.TERMINATED
        return []


ClientKey = tuple[str, str]
ServerKey = tuple[str, tuple[str, int | None], str]


def client_key(msg: Request | Response) -> ClientKey:
    return msg.top_via.branch or "", msg.cseq.method


def server_key(request: Request) -> ServerKey:
    via = request.top_via
    branch = via.branch or ""
    if not branch.startswith(g.BRANCH_COOKIE):
        # §17.2.3: without the cookie the branch is not unique; an RFC 2543 peer's
        # request is identified by what its retransmissions repeat instead.
        cseq = request.cseq
        branch = f"2543|{request.uri}|{request.call_id}|{request.from_.tag}|{cseq.seq}|{branch}"
    return branch, via.sent_by, request.method


def stamp_via(request: Request, source: Address) -> Request:
    """§18.2.1 and RFC 3581 §4: ``received`` when the source differs from sent-by,
    ``rport`` filled in when the client asked for it."""
    vias = request.vias
    top = vias[0]
    params = list(top.params)
    if top.host != source[0]:
        params = [p for p in params if p[0] != "received"] + [("received", source[0])]
    if top.wants_rport:
        params = [("rport", str(source[1])) if p[0] == "rport" else p for p in params]
        if not any(p[0] == "received" for p in params):
            params.append(("received", source[0]))
    stamped = g.Via(top.transport, top.host, top.port, tuple(params))
    out: list[tuple[str, object]] = []
    replaced = False
    for n, v in request.headers:
        if n == "Via" and not replaced:
            out.append((n, stamped))
            replaced = True
        else:
            out.append((n, v))
    return Request(headers=tuple(out), body=request.body, method=request.method, uri=request.uri)


class TransactionLayer:
    """The table of live transactions for one transport (reliable or not)."""

    def __init__(self, *, reliable: bool, timers: Timers = DEFAULT_TIMERS, max_transactions: int = 10_000) -> None:
        self.reliable, self.timers, self.max_transactions = reliable, timers, max_transactions
        self.clients: dict[ClientKey, ClientTransaction] = {}
        self.servers: dict[ServerKey, ServerTransaction] = {}
        #: Requests refused because the table was full (a flood, answered with nothing).
        self.overflows = 0
        # Deadlines on a heap: (when, tiebreak, is-client, key). With thousands of live
        # transactions, scanning them all for every next_deadline() was most of a busy
        # server's CPU. Entries are not removed when a transaction's deadline moves: one that
        # no longer matches its transaction's deadline is dropped when it reaches the top.
        self._due: list[tuple[float, int, bool, ClientKey | ServerKey]] = []
        self._tiebreak = itertools.count()

    def _schedule(self, client: bool, key: ClientKey | ServerKey) -> None:
        tx = self._find(client, key)
        if tx is not None and (when := tx.next_deadline()) is not None:
            heapq.heappush(self._due, (when, next(self._tiebreak), client, key))

    def _find(self, client: bool, key: ClientKey | ServerKey) -> ClientTransaction | ServerTransaction | None:
        return self.clients.get(key) if client else self.servers.get(key)  # type: ignore[arg-type]

    def _stale(self, entry: tuple[float, int, bool, ClientKey | ServerKey]) -> bool:
        tx = self._find(entry[2], entry[3])
        return tx is None or tx.next_deadline() != entry[0]

    def send_request(self, request: Request, peer: Address, now: float) -> list[Event]:
        if request.method in ("INVITE", "ACK"):
            raise SipStateError("INVITE transactions are not implemented")
        branch = request.top_via.branch or ""
        if not branch.startswith(g.BRANCH_COOKIE):
            raise SipStateError(f"branch {branch!r} lacks the {g.BRANCH_COOKIE} cookie (§8.1.1.7)")
        key = client_key(request)
        if key in self.clients:
            raise SipStateError(f"a client transaction with branch {branch} is already running")
        tx = ClientTransaction(request, peer, now, reliable=self.reliable, timers=self.timers)
        self.clients[key] = tx
        out = tx.start()
        self._schedule(True, key)
        return out

    def receive(self, message: Request | Response, peer: Address, now: float) -> list[Event]:
        if isinstance(message, Response):
            ckey = client_key(message)
            tx = self.clients.get(ckey)
            if tx is None:
                return [StrayResponse(message)]
            events = tx.receive(message, now)
            self._schedule(True, ckey)
            return events
        request = stamp_via(message, peer)
        key = server_key(request)
        server = self.servers.get(key)
        if server is not None:
            return server.receive(request, now)
        if request.method == "ACK":
            return []  # ACK only belongs to INVITE transactions
        if len(self.servers) >= self.max_transactions:
            self.overflows += 1
            return []
        self.servers[key] = ServerTransaction(request, peer, now, reliable=self.reliable, timers=self.timers)
        return [RequestReceived(request, peer)]

    def respond(self, request: Request, response: Response, now: float) -> list[Event]:
        key = server_key(request)
        server = self.servers.get(key)
        if server is None:
            raise SipStateError(f"no server transaction for {request.method} {request.top_via.branch}")
        out = server.respond(response, now)
        self._schedule(False, key)
        return out

    def next_deadline(self) -> float | None:
        while self._due and self._stale(self._due[0]):
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None

    def handle_timer(self, now: float) -> list[Event]:
        out: list[Event] = []
        while self._due and self._due[0][0] <= now:
            entry = heapq.heappop(self._due)
            if self._stale(entry):
                continue
            _, _, client, key = entry
            tx = self._find(client, key)
            assert tx is not None  # not stale
            out += tx.handle_timer(now)
            if tx.state is State.TERMINATED:
                del (self.clients if client else self.servers)[key]  # type: ignore[arg-type]
            else:
                self._schedule(client, key)
        return out
