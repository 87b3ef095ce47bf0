"""A tiny ua-profile notifier and phone built from the project's SIP layers, on
real sockets, for the interop tests (SIPp plays the other end)."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pktcable.sip import grammar as g
from pktcable.sip import uaprofile
from pktcable.sip.dialog import Local, peer_address
from pktcable.sip.message import Request, make_response
from pktcable.sip.notifier import Notifier
from pktcable.sip.subscriber import Notified, SendRequest, SendResponse, SubEvent, Subscriber
from pktcable.sip.transaction import Address, Event, RequestReceived, ResponseReceived, TimedOut
from pktcable.sip.transport import SipTransport, TransactionDriver

URL = g.MediaType("application", "url")


def counter_ids(prefix: str):  # type: ignore[no-untyped-def]
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


class ProfileNotifier:
    """Answers ua-profile SUBSCRIBEs with 200 and a NOTIFY naming the profile URL."""

    def __init__(self, local: Local) -> None:
        self.notifier = Notifier(local, new_id=counter_ids("n"))
        self.driver = TransactionDriver(self.on_event)
        self.notify_results: list[int] = []
        self.done = asyncio.Event()

    def attach(self, transport: SipTransport) -> None:
        self.driver.attach(transport)

    def on_event(self, event: Event) -> None:
        now = asyncio.get_running_loop().time()
        if isinstance(event, RequestReceived):
            request = event.request
            if request.method != "SUBSCRIBE":
                self.driver.respond(request, make_response(request, 405))
                return
            decision = self.notifier.on_subscribe(request, now)
            self.driver.respond(request, decision.response)
            sub = decision.subscription
            if sub is None:
                return
            profile = uaprofile.from_event(sub.event)
            user = request.uri.user if isinstance(request.uri, g.SipUri) else None
            body = f"http://prov.example/{profile.model}/{user}.cfg".encode()
            notify = self.notifier.notify(sub, now, body, URL)
            # Over a stream, the phone's own connection (it may listen elsewhere).
            assert self.driver.transport is not None
            peer = event.peer if self.driver.transport.reliable else peer_address(notify)
            self.driver.send_request(notify, peer)
        elif isinstance(event, ResponseReceived) and event.request.method == "NOTIFY":
            self.notify_results.append(event.response.status)
            self.done.set()
        elif isinstance(event, TimedOut):
            self.notify_results.append(408)
            self.done.set()


class Phone:
    """A subscriber on a transport: sends the SUBSCRIBE, answers the NOTIFYs."""

    def __init__(self, subscriber: Subscriber, server: Address) -> None:
        self.subscriber, self.server = subscriber, server
        self.driver = TransactionDriver(self.on_event)
        self.events: list[SubEvent] = []
        self.notified = asyncio.Event()
        self.last_request: Request | None = None

    def attach(self, transport: SipTransport) -> None:
        self.driver.attach(transport)

    def start(self) -> None:
        self._apply(self.subscriber.subscribe(asyncio.get_running_loop().time()))

    def _apply(self, events: list[SubEvent]) -> None:
        for e in events:
            self.events.append(e)
            if isinstance(e, SendRequest):
                self.driver.send_request(e.request, self.server)
            elif isinstance(e, SendResponse):
                assert self.last_request is not None
                self.driver.respond(self.last_request, e.response)
            elif isinstance(e, Notified):
                self.notified.set()

    def on_event(self, event: Event) -> None:
        now = asyncio.get_running_loop().time()
        if isinstance(event, ResponseReceived):
            self._apply(self.subscriber.on_response(event.response, now))
        elif isinstance(event, RequestReceived):
            self.last_request = event.request
            if event.request.method == "NOTIFY":
                self._apply(self.subscriber.on_notify(event.request, now))
            else:
                self.driver.respond(event.request, make_response(event.request, 405))
        elif isinstance(event, TimedOut):
            self._apply(self.subscriber.on_timeout(event.request, now))



def tls_contexts(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for prov.test in ``tmp`` (cert.pem, key.pem): server and client contexts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prov.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("prov.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
    return server, client
