"""A simulated SIP phone: the ua-profile flow (pktcable/flow/sip.py) played strictly.

The phone SUBSCRIBEs for its device profile (named by its MAC, as phones in the
field do), answers a Digest challenge when it has a password, follows the NOTIFY
to the profile URL (``message/external-body;access-type="URL"`` per RFC 4483, or an
``application/url`` body), GETs it, validates it against the layout's shipped
schema, stays subscribed (the subscriber layer refreshes before expiry; an expiry
or a terminating NOTIFY starts over with a fresh SUBSCRIBE) and on a change NOTIFY
GETs the profile again with ``If-None-Match``. A ``check-sync`` NOTIFY from its server
(what a server sends a phone whose subscription it lost) makes it subscribe afresh.

It reports its software version in the SUBSCRIBE (the ua-profile Event's ``version``), and
when its profile names other firmware (pktcable/phones/firmware.py) it fetches the image,
checks and installs it (simulate/phonesoftware.py), reboots and subscribes afresh with
the new version; a refused image is a named outcome in its result, the old version kept.
Its result says when, in POSIX time (the server's logs are in wall-clock time): the NOTIFY
whose profile named the image, the image's GET ended and checked, the reboot, and the 2xx
to the fresh SUBSCRIBE that reported the new version (``notified_at`` .. ``reported_at``).

Strict as a real phone: what a phone would refuse ends its walk in a named
failure state; what it would merely frown at (no ETag, an odd Content-Type) is a
deviation naming the step. The protocol cores (subscriber, transactions, flow
machine) are sans-IO; this module is their asyncio glue, one socket per phone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import aiohttp

from pktcable.firmware import codefile as cf
from pktcable.flow import Machine
from pktcable.flow import sip as f
from pktcable.flow.sip import SIP_FLOW, SipState, SipTiming, phone_table
from pktcable.phones.firmware import FirmwareOffer, firmware_of
from pktcable.phones.profiles import MAX_PROFILE_BYTES, ProfileError, Profiles
from pktcable.sip import grammar as g
from pktcable.sip import subscriber as s
from pktcable.sip.dialog import Local
from pktcable.sip.digest import authorization, parse_challenge
from pktcable.sip.message import Request, Response, make_response
from pktcable.sip.transaction import Event, RequestReceived, ResponseReceived, TimedOut
from pktcable.sip.transport import StreamTransport, TransactionDriver, UdpTransport, open_udp
from pktcable.sip.uaprofile import UaProfile

from . import phonesoftware as fw
from .cmsoftware import load_root
from .config import Deviation, DeviceResult
from .phonesoftware import PhoneSoftware

EXTERNAL = "message/external-body"
URL_TYPE = "application/url"
ACCEPT = (g.MediaType("message", "external-body"), g.MediaType("application", "url"))
XML_TYPES = ("application/xml", "text/xml")
#: Largest firmware image a simulated phone downloads (a desk phone's runs to tens of MB).
MAX_IMAGE_BYTES = 64 * 1024 * 1024


def phone_mac(index: int) -> str:
    """The MAC of simulated phone ``index``: locally administered (02:...), so it can never be a
    real vendor's, and apart from the simulated eMTAs' addresses."""
    return f"02a0{index:08x}"


@dataclass(slots=True)
class PhoneConfig:
    server: str
    sip_port: int = 5060
    transport: str = "udp"
    #: The phones' own address (their sockets bind here).
    host: str = "127.0.0.1"
    #: Digest password; None: the phone answers no challenge (MAC identification only).
    password: str | None = None
    #: Digest username; None: the phone's MAC.
    user: str | None = None
    #: The profile layout the phones validate against (pktcable/phones/profiles.py LAYOUTS).
    layout: str = "generic"
    expires: int = 3600
    timing: SipTiming = field(default_factory=SipTiming)
    #: Seconds before re-subscribing after an expiry, a terminating NOTIFY or a reboot.
    resubscribe_delay: float = 0.5
    #: False: the phone never refreshes and lets its subscription run out (a phone that lost
    #: its state), to see the server expire it and the phone subscribe again.
    refresh: bool = True
    #: What the phone says it is and runs (its SUBSCRIBE's ua-profile vendor, model, version).
    vendor: str = "pktcable"
    model: str = "simulated"
    version: str = "1.0.0"
    #: The CVC root (PEM or DER file) and manufacturer organization the phone checks signed
    #: images against; None: it takes an image unsigned (simulate/phonesoftware.py).
    cvc_root: str | None = None
    manufacturer: str = ""


def _new_id() -> str:
    return secrets.token_hex(8)


def notify_url(ctype: g.MediaType | None, body: bytes) -> tuple[str | None, str]:
    """The profile URL a NOTIFY names (or None) and, either way, what is wrong with it ("" if nothing)."""
    if ctype is None:
        return None, "NOTIFY without a Content-Type names no profile"
    if ctype.mime.lower() == URL_TYPE:
        url = body.decode("utf-8", "replace").strip()
    elif ctype.mime.lower() == EXTERNAL:
        access = g.param(ctype.params, "access-type")
        if access is None or g.unquote(access).lower() != "url":
            return None, f"message/external-body with access-type {access!r}, not URL (RFC 4483 §4)"
        raw = g.param(ctype.params, "URL") or g.param(ctype.params, "url")
        if raw is None:
            return None, "message/external-body without its URL parameter (RFC 4483 §4)"
        url = g.unquote(raw)
    else:
        return None, f"NOTIFY body {ctype.mime} names no profile"
    if not url.startswith(("http://", "https://")):
        return None, f"profile URL {url[:80]!r} is not http(s)"
    return url, ""


class SimulatedPhone:
    """One phone; :meth:`start` begins its walk, ``enrolled`` resolves at its first SUBSCRIBED
    or its failure, it keeps going (refreshes, updates) until :meth:`stop`."""

    def __init__(self, index: int, config: PhoneConfig, http: aiohttp.ClientSession, profiles: Profiles) -> None:
        self.config, self.http, self.profiles = config, http, profiles
        self.mac = phone_mac(index)
        self.result = DeviceResult(index, self.mac, SIP_FLOW)
        self.table = phone_table(config.timing)
        self.machine: Machine | None = None
        self.sub: s.Subscriber | None = None
        self.driver = TransactionDriver(self._on_event)
        self.sock: UdpTransport | StreamTransport | None = None
        self.local: Local | None = None
        self.peer = (config.server, config.sip_port)
        self.enrolled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: (loop time, SHA-256 of the profile) of every profile version the phone took into use.
        self.versions: list[tuple[float, str]] = []
        self.etag: str | None = None
        self._entered_at = 0.0
        self._pending_url: str | None = None
        self._url: str | None = None
        self._answered: set[int] = set()  # CSeqs of SUBSCRIBEs sent with credentials
        self._flow_timer: asyncio.TimerHandle | None = None
        self._sub_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        #: What this phone saw and did (NOTIFYs, answers, GETs): a benchmark's evidence.
        self.counters: Counter[str] = Counter()
        trust = cf.CvcTrust(load_root(config.cvc_root), config.manufacturer) if config.cvc_root else None
        #: The version it runs and its firmware upgrades (simulate/phonesoftware.py).
        self.software = PhoneSoftware(config.version, trust)
        self.result.cm_version = self.result.cm_before = config.version
        self._upgrading = False
        self._reboot_due = False
        #: POSIX time of the last NOTIFY naming a profile URL (what a fetch's profile answers).
        self._notify_at = 0.0

    # --- set-up --------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.result.started_at = loop.time()
        if self.config.transport == "udp":
            udp = await open_udp(self.config.host, 0, self.driver.on_message)
            assert udp.transport is not None
            port = udp.transport.get_extra_info("sockname")[1]
            self.sock = udp
        else:
            stream = StreamTransport(self.driver.on_message)
            self.peer = await stream.connect(self.config.server, self.config.sip_port)
            conn = stream.connections[self.peer].transport
            assert conn is not None
            port = conn.get_extra_info("sockname")[1]
            self.sock = stream
        self.local = Local(self.config.host, port, self.config.transport.upper())
        self.driver.attach(self.sock)
        self.machine = Machine(self.table, loop.time())
        self._entered_at = loop.time()
        self._subscribe()

    def _subscribe(self) -> None:
        assert self.local is not None
        user = f"MAC%3a{self.mac}"
        c = self.config
        event = UaProfile("device", vendor=c.vendor, model=c.model, version=self.software.version).to_event()
        self.sub = s.Subscriber(self.local, aor=g.NameAddr(g.SipUri(self.config.server, user)),
                                target=g.SipUri(self.config.server, user, self.config.sip_port), event=event,
                                accept=ACCEPT, expires=self.config.expires, new_id=_new_id)
        self._answered.clear()
        self._run_sub(self.sub.subscribe(self._now()))

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def deviation(self, step: str, text: str) -> None:
        self.result.deviations.append(Deviation(step, text))

    # --- the flow machine ----------------------------------------------------------------------

    def _feed(self, event: Any) -> None:
        machine = self.machine
        if machine is None or machine.done or self._stopped:
            return
        now = self._now()
        target = self.table.target(machine.state, event)
        if target is None:
            if isinstance(event, f.NotifyReceived):
                self._pending_url = event.url  # mid-fetch: fetched again once this one is done
            elif not isinstance(event, f.SubscribeAccepted | f.Challenged):
                self.deviation(machine.info.step, f"{type(event).__name__} in {machine.state.name}: {event}")
            return
        left, info = machine.state, machine.info
        machine.handle(event, now)
        if left is not machine.state:
            # Time per step: a challenge round trip counts in UA-1; the time spent subscribed is no step's.
            if left is not SipState.SUBSCRIBED:
                self.result.steps.append((info.step, left.name, now - self._entered_at))
            self._entered_at = now
        self._enter(machine.state, left, event)
        self._arm_flow()

    def _enter(self, state: Enum, left: Enum, event: Any) -> None:
        if self.machine is not None and self.machine.done:
            self._settle(state)
            reason = getattr(event, "reason", "") or type(event).__name__
            self.deviation(self.machine.info.step, f"{state.name}: {reason}")
            return
        if state is SipState.SUBSCRIBE_SENT and left is not SipState.SUBSCRIBE_SENT:
            self._later(self.config.resubscribe_delay, self._subscribe)
        elif state is SipState.FETCH_PROFILE and left is not state:
            self._spawn(self._fetch(conditional=False))
        elif state is SipState.FETCH_UPDATE and left is not state:
            self._spawn(self._fetch(conditional=True))
        elif state is SipState.SUBSCRIBED and left is not state:
            self._settle(state)
            if self._reboot_due:
                self._reboot()
            elif self._pending_url is not None:
                url, self._pending_url = self._pending_url, None
                self._feed(f.NotifyReceived(url))

    def _settle(self, state: Enum) -> None:
        self.result.state = state.name
        self.result.result = self.machine.result if self.machine is not None else None
        self.result.done_at = self._now()
        self.result.total = self.result.done_at - self.result.started_at
        if not self.enrolled.done():
            self.enrolled.set_result(None)
            self.result.walks = 1

    def _arm_flow(self) -> None:
        if self._flow_timer is not None:
            self._flow_timer.cancel()
            self._flow_timer = None
        due = self.machine.next_deadline() if self.machine is not None else None
        if due is not None and not self._stopped:
            self._flow_timer = asyncio.get_running_loop().call_at(due, self._flow_due)

    def _flow_due(self) -> None:
        self._flow_timer = None
        if self.machine is None or self.machine.done:
            return
        info, left, now = self.machine.info, self.machine.state, self._now()
        entered = self.machine.handle_timer(now)
        if entered is not None:
            self.result.steps.append((info.step, left.name, now - self._entered_at))
            self._entered_at = now
            self._enter(entered.state, left, entered.event)
        self._arm_flow()

    # --- SIP -------------------------------------------------------------------------------------

    def _run_sub(self, events: list[s.SubEvent], request: Request | None = None) -> None:
        for event in events:
            if isinstance(event, s.SendRequest):
                self.driver.send_request(event.request, self.peer)
            elif isinstance(event, s.SendResponse):
                assert request is not None
                self.counters[f"answered-{event.response.status}"] += 1
                self.driver.respond(request, event.response)
            elif isinstance(event, s.Active):
                if not self.config.refresh and self.sub is not None:
                    self.sub.refresh_at = None
                if self.result.rebooted_at and not self.result.reported_at:
                    self.result.reported_at = time.time()  # the SUBSCRIBE naming the new version taken
                self._feed(f.SubscribeAccepted(event.expires))
            elif isinstance(event, s.Notified):
                if event.state.state != "terminated":
                    self._notified(event)
            elif isinstance(event, s.Terminated):
                self._feed(f.SubscriptionEnded(event.reason or ""))
            elif isinstance(event, s.Failed):
                self._feed(f.AuthRefused(event.status, event.reason) if event.status in (401, 403, 407)
                           else f.SubscribeFailed(event.status, event.reason))
        self._arm_sub()

    def _notified(self, event: s.Notified) -> None:
        url, problem = notify_url(event.content_type, event.body)
        if url is None:
            self._feed(f.NotifyUnusable(problem))
            return
        if event.content_type is not None and event.content_type.mime.lower() == EXTERNAL \
                and b"content-type:" not in event.body.lower():
            step = self.machine.info.step if self.machine is not None else "UA-2"
            self.deviation(step, "external-body part without its Content-Type header (RFC 4483 §4)")
        self._url = url
        self._notify_at = time.time()
        self._feed(f.NotifyReceived(url))

    def _on_event(self, event: Event) -> None:
        sub, now = self.sub, self._now()
        if sub is None or self._stopped:
            return
        if isinstance(event, RequestReceived):
            request = event.request
            if request.method != "NOTIFY":
                self.deviation("UA-2", f"the server sent a {request.method} to a phone")
                self.driver.respond(request, make_response(request, 405))
                return
            self.counters["notify-received"] += 1
            notified = request.typed("Event", g.Event)
            if notified is not None and notified.package == "check-sync" and not sub.matches(request):
                self._check_sync(request, event.peer)
                return
            self._run_sub(sub.on_notify(request, now), request)
        elif isinstance(event, ResponseReceived) and event.request.method == "SUBSCRIBE":
            if event.response.status in (401, 407) and self._challenged(event.request, event.response):
                return
            self._run_sub(sub.on_response(event.response, now))
        elif isinstance(event, TimedOut) and event.request.method == "SUBSCRIBE":
            self._run_sub(sub.on_timeout(event.request, now))

    def _check_sync(self, request: Request, peer: tuple[str, int]) -> None:
        """``check-sync`` outside any dialog: "re-read your configuration", as phones in the field
        take it from their provisioning server (and from no one else: 403). A subscribed phone
        subscribes afresh, and the fresh subscription's NOTIFY names the current profile; one
        already fetching gets the current profile anyway."""
        if peer[0] != self.peer[0]:
            self.deviation("UA-5", f"check-sync from {peer[0]}, not the provisioning server")
            self.driver.respond(request, make_response(request, 403))
            return
        self.counters["check-sync"] += 1
        self.driver.respond(request, make_response(request, 200))
        if self.machine is not None and self.machine.state is SipState.SUBSCRIBED:
            self._feed(f.SubscriptionEnded("check-sync"))

    def _challenged(self, request: Request, response: Response) -> bool:
        """Answer a 401 by sending the SUBSCRIBE again with credentials; False when the phone
        cannot (no password, an answer already refused, a challenge it cannot parse)."""
        sub = self.sub
        if sub is None or sub.pending is None or response.cseq.seq != sub.pending.cseq.seq:
            return True  # an old transaction's answer: nothing to do
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        raw = response.get(header)
        challenge = parse_challenge(raw) if isinstance(raw, str) else None
        if self.config.password is None or challenge is None:
            return False
        if request.cseq.seq in self._answered and not challenge.stale:
            return False  # our answer was refused: the password is wrong
        try:
            value = authorization(challenge, "SUBSCRIBE", str(request.uri), self.config.user or self.mac,
                                  self.config.password, _new_id())
        except ValueError:
            return False
        sub.local_seq += 1
        if sub.dialog is not None:
            sub.dialog.local_seq = sub.local_seq
        assert self.local is not None
        again = request.with_header("CSeq", g.CSeq(sub.local_seq, "SUBSCRIBE")) \
            .with_header("Via", self.local.via(g.BRANCH_COOKIE + _new_id())) \
            .with_header("Authorization" if response.status == 401 else "Proxy-Authorization", value)
        sub.pending = again
        self._answered.add(sub.local_seq)
        self._feed(f.Challenged())
        self.driver.send_request(again, self.peer)
        return True

    def _arm_sub(self) -> None:
        if self._sub_timer is not None:
            self._sub_timer.cancel()
            self._sub_timer = None
        due = self.sub.next_deadline() if self.sub is not None else None
        if due is not None and not self._stopped:
            self._sub_timer = asyncio.get_running_loop().call_at(due, self._sub_due)

    def _sub_due(self) -> None:
        self._sub_timer = None
        if self.sub is not None:
            self._run_sub(self.sub.handle_timer(self._now()))

    # --- HTTP and the schema -------------------------------------------------------------------

    async def _fetch(self, conditional: bool) -> None:
        url, notified = self._url or "", self._notify_at
        step = "UA-6" if conditional else "UA-3"
        headers = {"If-None-Match": self.etag} if conditional and self.etag else {}
        try:
            status, data, r_headers = await self._get(url, headers, MAX_PROFILE_BYTES)
            etag, ctype = r_headers.get("ETag"), r_headers.get("Content-Type", "")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.counters["get-failed"] += 1
            self._feed(f.FetchFailed(f"GET {url}: {type(exc).__name__} {exc}"[:200]))
            return
        self.counters[f"get-{status}"] += 1
        if status == 304 and conditional and headers:
            self._feed(f.ProfileUnchanged())
            return
        if status != 200:
            self._feed(f.FetchFailed(f"GET {url}: HTTP {status}"))
            return
        if len(data) > MAX_PROFILE_BYTES:
            self._feed(f.FetchFailed(f"profile larger than {MAX_PROFILE_BYTES} bytes"))
            return
        if ctype.split(";")[0].strip().lower() not in XML_TYPES:
            self.deviation(step, f"profile served as {ctype or 'no Content-Type'}, not XML")
        if etag is None:
            self.deviation(step, "profile served without an ETag: updates cannot be fetched conditionally")
        self.etag = etag
        self._feed(f.ProfileFetched(etag or ""))
        self._validate(data, notified)

    async def _get(self, url: str, headers: dict[str, str], limit: int) -> tuple[int, bytes, Mapping[str, str]]:
        """GET ``url``: status, at most ``limit`` + 1 bytes of body, the response headers."""
        timeout = aiohttp.ClientTimeout(total=self.config.timing.fetch)
        for attempt in (1, 2):
            try:
                async with self.http.get(url, headers=headers, timeout=timeout, allow_redirects=False) as r:
                    return r.status, await r.content.read(limit + 1), r.headers
            except aiohttp.ServerDisconnectedError:
                # A kept-alive connection the server closed as the GET went out: a GET is
                # idempotent, so it is sent once more (RFC 9112 §9.3.1), as browsers do.
                if attempt == 2:
                    raise
                self.counters["get-retried"] += 1
        raise AssertionError("unreachable")

    def _validate(self, data: bytes, notified: float) -> None:
        try:
            self.profiles.validate(self.mac, self.config.layout, data)
        except ProfileError as exc:
            self._feed(f.ProfileInvalid(exc.reason))
            return
        self.versions.append((self._now(), hashlib.sha256(data).hexdigest()))
        self._feed(f.ProfileValid())
        try:
            offer = firmware_of(self.mac, self.config.layout, data)
        except ProfileError as exc:
            self.deviation(fw.STEP, exc.reason)
            return
        if not self._upgrading and self.software.due(offer):
            assert offer is not None
            self._upgrading = True
            self._spawn(self._upgrade(offer, notified))

    # --- firmware ------------------------------------------------------------------------------

    async def _upgrade(self, offer: FirmwareOffer, notified: float) -> None:
        """The image the profile names (the NOTIFY at POSIX time ``notified`` led to it): fetched,
        checked and installed (phonesoftware.py decides), then a reboot; a refused image leaves
        the phone on its version, the outcome named."""
        began, before = self._now(), self.software.version
        try:
            status, data, _ = await self._get(offer.url, {}, MAX_IMAGE_BYTES)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            result = self.software.download_failed(offer, f"GET {offer.url}: {type(exc).__name__} {exc}"[:200])
        else:
            if status != 200:
                result = self.software.download_failed(offer, f"GET {offer.url}: HTTP {status}")
            elif len(data) > MAX_IMAGE_BYTES:
                result = self.software.download_failed(offer, f"image larger than {MAX_IMAGE_BYTES} bytes")
            else:
                result = self.software.downloaded(offer, data, dt.datetime.now(dt.UTC))
        finally:
            self._upgrading = False
        self.counters[f"firmware-{result.outcome.value}"] += 1
        self.result.steps.append((fw.STEP, result.outcome.name, self._now() - began))
        if self.software.version == before:
            if result.outcome is not fw.Outcome.UPGRADED:
                self.result.upgrade = result.name
            return
        self.result.upgrade, self.result.cm_version = result.name, self.software.version
        self.result.cm_image = offer.url.rsplit("/", 1)[-1]
        self.result.notified_at, self.result.image_at = notified, time.time()
        self.result.rebooted_at = self.result.reported_at = 0.0  # this upgrade's, once they happen
        self._reboot_due = True
        if self.machine is not None and self.machine.state is SipState.SUBSCRIBED:
            self._reboot()

    def _reboot(self) -> None:
        """Back on the new image: its subscription is gone with its memory (no unSUBSCRIBE: a
        rebooting phone sends none, nor answers its old dialog's NOTIFYs); after
        ``resubscribe_delay`` it subscribes afresh, reporting the new version."""
        self._reboot_due = False
        self.counters["reboots"] += 1
        self.result.rebooted_at = time.time()
        self.etag, self._pending_url = None, None
        if self._sub_timer is not None:
            self._sub_timer.cancel()
            self._sub_timer = None
        self.sub = None
        self._feed(f.SubscriptionEnded("reboot"))

    # --- plumbing ------------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, delay: float, call: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(delay, lambda: None if self._stopped else call())

    async def stop(self) -> None:
        self._stopped = True
        for timer in (self._flow_timer, self._sub_timer):
            if timer is not None:
                timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        self.driver.close()
        if self.sock is not None:
            self.sock.close()
        if not self.enrolled.done():
            self.enrolled.set_result(None)
