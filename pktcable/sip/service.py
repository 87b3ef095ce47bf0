"""The ua-profile provisioning server on a socket: :class:`~.provisioning.ProvisioningCore`
run by a :class:`~.transport.TransactionDriver` on UDP or TCP, with one timer armed
at the core's next deadline (subscription expiries and rate-limited pushes).

The phones' profiles are fetched over HTTP from the delivery server, whose
``versioned`` route the same :class:`~pktcable.phones.book.PhoneBook` answers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

from pktcable.phones.book import PhoneBook
from pktcable.sip.dialog import Local
from pktcable.sip.digest import DigestAuth
from pktcable.sip.notifier import Policy
from pktcable.sip.provisioning import Action, OnReport, OnStep, ProvisioningCore, Respond
from pktcable.sip.transaction import Event, RequestReceived, ResponseReceived, TimedOut
from pktcable.sip.transport import StreamTransport, TransactionDriver, UdpTransport, open_udp

log = logging.getLogger("pktcable.sip")
TRANSPORTS = ("udp", "tcp", "tls")
#: sip.mcast.net: where phones send the plug-and-play SUBSCRIBE (RFC 6080 §5.1.1; Snom,
#: Yealink and Grandstream phones do so before any other discovery).
PNP_GROUP = "224.0.1.75"


def _new_id() -> str:
    return secrets.token_hex(8)


@dataclass
class SipProvisioningServer:
    book: PhoneBook
    #: The profile URLs' base, e.g. ``http://10.0.0.1:8080/`` (the HTTP delivery server).
    url_base: str
    host: str = "127.0.0.1"
    port: int = 5060
    #: The address phones are told to reach us at (Via, Contact); ``host`` when it is not a wildcard.
    advertise: str | None = None
    transport: str = "udp"
    realm: str = "pktcable"
    auth_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    allow_mac_auth: bool = True
    policy: Policy = field(default_factory=Policy)
    push_rate: float = 50.0
    push_burst: float = 100.0
    #: Push NOTIFYs awaiting their final response at most (see :mod:`.provisioning`).
    push_window: int = 100
    #: Seconds an answered push holds its window slot awaiting the phone's GET (the book
    #: reports the GETs it serves): the GETs a push rate invites stay within what is served.
    fetch_grace: float = 10.0
    #: Kernel receive buffer asked for on UDP (capped by ``net.core.rmem_max``): the answers to
    #: a burst of pushes must wait there while the loop is busy, not be dropped.
    receive_buffer: int = 4 << 20
    on_step: OnStep = lambda mac, event, detail: None
    on_report: OnReport = lambda mac, ua: None
    #: Also answer the multicast PnP SUBSCRIBE (UDP only): a socket joined to
    #: :data:`PNP_GROUP` on ``port``; the answers leave from the unicast socket.
    multicast: bool = False
    #: The server certificate for ``transport = "tls"`` (RFC 3261 §26.3.1: phones verify it).
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"SIP transport must be one of {', '.join(TRANSPORTS)}, not {self.transport!r}")
        if not self.url_base.startswith(("http://", "https://")):
            raise ValueError(f"profile URL base must be an http(s) URL, not {self.url_base!r}")
        if not self.push_rate > 0 or not self.push_burst >= 1 or not self.push_window >= 1:
            raise ValueError("push rate must be > 0 per second, its burst and window >= 1")
        if (self.transport == "tls") != (self.ssl_context is not None):
            raise ValueError("SIP over TLS needs a certificate (ssl_context), and only TLS takes one")
        if self.multicast and self.transport != "udp":
            raise ValueError("the multicast PnP SUBSCRIBE comes over UDP only")
        self.core: ProvisioningCore | None = None
        self.driver = TransactionDriver(self._on_event)
        self._sock: UdpTransport | StreamTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pnp: UdpTransport | None = None
        self.bound: tuple[str, int] | None = None

    def url_for(self, mac: str) -> str:
        return self.url_base.rstrip("/") + "/" + self.book.path(mac)

    async def start(self) -> None:
        advertise = self.advertise or self.host
        if advertise in ("0.0.0.0", "::", ""):
            raise ValueError("listening on a wildcard address needs the address to advertise")
        port = self.port
        if self.transport == "udp":
            udp = await open_udp(self.host, port, self.driver.on_message, receive_buffer=self.receive_buffer)
            assert udp.transport is not None
            port = udp.transport.get_extra_info("sockname")[1]
            self._sock = udp
        else:
            stream = StreamTransport(self.driver.on_message, ssl_context=self.ssl_context)
            port = await stream.listen(self.host, port)
            self._sock = stream
        self.bound = (self.host, port)
        local = Local(advertise, port, self.transport.upper())
        self.core = ProvisioningCore(local, self.book, self.url_for, _new_id, DigestAuth(self.realm, self.auth_secret),
                                     reliable=self.transport != "udp", allow_mac_auth=self.allow_mac_auth,
                                     policy=self.policy, push_rate=self.push_rate, push_burst=self.push_burst,
                                     push_window=self.push_window, fetch_grace=self.fetch_grace,
                                     on_step=self.on_step, on_report=self.on_report)
        self.driver.attach(self._sock)
        self.book.on_served = self.fetched
        if self.multicast:
            self._pnp = await self._join(port)

    async def _join(self, port: int) -> UdpTransport:
        """A socket bound to the PnP group (so it sees that group's datagrams only) and
        joined on the interface that holds ``host`` (any, for a wildcard)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((PNP_GROUP, port))
            interface = "0.0.0.0" if self.host in ("", "0.0.0.0") else self.host
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                            socket.inet_aton(PNP_GROUP) + socket.inet_aton(interface))
            sock.setblocking(False)
            # Its own rate limiter and counters; what it receives goes to the same transaction layer.
            _, proto = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: UdpTransport(self.driver.on_message), sock=sock)
        except OSError:
            sock.close()
            raise
        return proto

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _on_event(self, event: Event) -> None:
        core = self.core
        if core is None:
            return
        now = self._now()
        if isinstance(event, RequestReceived):
            self._run(core.on_request(event.request, event.peer, now))
        elif isinstance(event, ResponseReceived) and event.request.method == "NOTIFY":
            self._run(core.on_result(event.request, event.response, now))
        elif isinstance(event, TimedOut) and event.request.method == "NOTIFY":
            self._run(core.on_result(event.request, None, now))

    def _run(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                if isinstance(action, Respond):
                    self.driver.respond(action.request, action.response)
                else:
                    self.driver.send_request(action.request, action.peer)
            except Exception:  # one phone's trouble must not stop the others' actions
                log.exception("sip: could not send %s", type(action).__name__)
                if not isinstance(action, Respond) and self.core is not None:
                    # Its answer will never come: the push is accounted for now (retried or unreachable).
                    self._run(self.core.send_failed(action.request, self._now()))
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.core.next_deadline() if self.core is not None else None
        if due is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(due, loop.time()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self.core is not None:
            self._run(self.core.handle_timer(self._now()))

    def fetched(self, mac: str) -> None:
        """The HTTP server served ``mac`` its profile: a push awaiting that GET is complete."""
        if self.core is not None:
            self.core.fetched(mac, self._now())
            self._arm()

    def notify_change(self, macs: Iterable[str]) -> None:
        """Tell these phones (those whose profile changed) that it did, within the push rate."""
        if self.core is None:
            return
        for mac in macs:
            self.core.notify_change(mac)
        self._arm()

    def stats(self) -> dict[str, int]:
        """The counters an operator (or a benchmark) reads: pushes and NOTIFY outcomes
        (the core's), datagrams and retransmissions (the transport's), live transactions."""
        out: dict[str, int] = dict(self.core.counters) if self.core is not None else {}
        if self._sock is not None:
            out.update({f"transport-{k}": v for k, v in self._sock.counters.items()})
        layer = self.driver.layer
        if layer is not None:
            out["transactions-client"], out["transactions-server"] = len(layer.clients), len(layer.servers)
            out["transaction-overflows"] = layer.overflows
        return out

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.driver.close()
        if self._pnp is not None:
            self._pnp.close()
        if self._sock is not None:
            self._sock.close()
