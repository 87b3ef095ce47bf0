"""One simulated eCM + eMTA walking its flow table over real UDP.

The device-side table (pktcable.flow) drives: each state has a handler that
performs the state's command on the network and returns the event it led to;
a state whose handler learns nothing waits for its deadline, and the table's
timeout event follows. Every answer from the provisioning system is checked
against the spec on the way, and each deviation is kept with its step id: a
reply that does not decode is a deviation too, never the end of the run.

After its walk the device stays up, its SNMP agent answering, until the
runner stops it: a SET of pktcMtaDevResetNow then starts a new walk at MTA-1
(the eCM stays registered), as a real eMTA reboots. The eCM half (its DHCP,
config file, software upgrade and agent) is :class:`pktcable.simulate.ecm.EcmDevice`;
an image it installs reboots the whole device, from the eCM's DHCP.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable, Coroutine
from enum import Enum
from ipaddress import IPv4Address
from typing import Any
from urllib.parse import urlparse

from dhcp.message import MessageType
from pktcable.exchange import RFC2131_CAP, RFC2131_JITTER
from pktcable.flow import Flow, Machine, MtaState, ProvisioningState
from pktcable.flow import events as ev
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint

from . import mtafile, net
from .config import Deviation, DeviceResult, SimConfig, mta_table
from .ecm import ANSWER_ERRORS, EcmDevice
from .identity import SOFTWARE_VERSION, SYS_DESCR, Identity, Reply, vendor_class
from .mtaagent import MtaMib

__all__ = ["DeviceResult", "Deviation", "SimConfig", "SimulatedMta", "mta_table"]


class SimulatedMta(EcmDevice):
    def __init__(self, identity: Identity, flow: Flow, config: SimConfig, relay: net.Relay) -> None:
        self.id = identity
        self.flow = flow
        self.config = config
        self.relay = relay
        self.loop = asyncio.get_running_loop()
        self.result = DeviceResult(identity.index, identity.mta_mac.hex(), flow.value)
        # xids and backoff jitter: random as RFC 2131 asks, reproducible per seed and device.
        self.rng = random.Random(f"{config.seed}:{identity.index}")
        self.flow_bits, self.expected_realm = flow.capability_bit, flow.value  # Secure: its Kerberos realm
        self.type_identifier = vendor_class("mta", self.flow_bits, http=config.http,
                                            mib=config.tree.value if config.declare_mib else None)
        # The MIB default (10 minutes) until option 122.8 says otherwise.
        self.machine = Machine(mta_table(flow, config.timing), self.loop.time(), self._timer())
        self.cm: Reply | None = None
        #: The DHCP servers the eMTA may take an OFFER from (122.1/122.2); None: any.
        self.dhcp_servers: set[IPv4Address] | None = None
        self.agent: SnmpEndpoint | None = None
        self.mib: MtaMib | None = None
        self.informer: SnmpEndpoint | None = None
        self.reset_requested = False
        self.wakeup = asyncio.Event()  # a reset, or stop()
        self.stopped = False
        #: The first walk's result (the runner waits for every device's).
        self.finished: asyncio.Future[DeviceResult] = self.loop.create_future()
        self._walk_end = asyncio.Event()
        self._ecm_walked = True  # this walk starts with the eCM (a reset's starts at MTA-1)
        self.give_up_at: float | None = None
        self.reboot_ecm = False  # the pending reset reboots the eCM too (an installed image)
        self.init_ecm()
        self.begin_walk()
        self.handlers: dict[Enum, Callable[[], Awaitable[object | None]]] = {
            MtaState.WAIT_ECM: self.ecm,
            MtaState.DHCP_DISCOVER: self.discover,
            MtaState.DHCP_REQUEST: self.dhcp_request,
            MtaState.ENROLL: self.enroll,
            MtaState.WAIT_SET: self.wait_set,
            MtaState.RESOLVE_HOST: self.resolve,
            MtaState.DOWNLOAD: self.download,
            MtaState.VALIDATE: self.validate,
            MtaState.REPORT_PASS: self.report,
            MtaState.REPORT_FAIL: self.report,
        }

    def _timer(self) -> float:
        return 600.0 if self.config.provisioning_timer is None else self.config.provisioning_timer

    def begin_walk(self) -> None:
        """What one walk from MTA-1 learns, forgotten at a reset (a reboot)."""
        self.offer: Reply | None = None
        self.ack: Reply | None = None
        self.url = ""
        self.hash = b""
        self.file = b""
        self.outcome = ProvisioningState.IN_PROGRESS
        self.set_received: asyncio.Future[None] = self.loop.create_future()
        self.close_endpoints()

    def close_endpoints(self) -> None:
        for endpoint in (self.agent, self.informer):
            if endpoint is not None:
                endpoint.close()
        self.agent = self.informer = None

    def step(self, n: int | str) -> str:
        return f"{'H-' if self.flow.hybrid else ''}MTA-{n}"

    # -- the walk ------------------------------------------------------------
    async def run(self) -> DeviceResult:
        """Walk the flow (again after a failure while the device budget
        lasts), then stay up until :meth:`stop`; a reset walks again."""
        start = self.result.started_at = self.loop.time()
        budget = self.config.device_budget
        self.give_up_at = None if budget is None else start + budget
        try:
            while True:
                await self.walk()
                if self.should_retry():
                    self.record_walk(start)
                    self.result.retries += 1
                    await self.interruptible(asyncio.sleep(self.retry_wait()), None)
                    if not self.stopped:
                        self.restart(ecm=self.machine.state is MtaState.FAILED_ECM)
                    continue
                self.end_walk(start)
                while not (self.reset_requested or self.stopped):
                    self.wakeup.clear()
                    await self.wakeup.wait()
                if self.stopped:
                    break
                self.restart(ecm=self.reboot_ecm)
        finally:
            self.close_endpoints()
            self.close_cm_agent()
            if self.sw_task is not None:
                self.sw_task.cancel()
            if not self.finished.done():
                self.result.done_at = self.loop.time()
                self.finished.set_result(self.result)
        return self.result

    def should_retry(self) -> bool:
        """A failed first outcome with budget left starts over, as a real
        device re-initialises after a failed step (a passed one, a reset's
        walk or a stopped run never do)."""
        return (self.give_up_at is not None and not self.stopped and not self.finished.done()
                and self.machine.done and self.machine.state is not MtaState.OPERATIONAL
                and self.loop.time() < self.give_up_at)

    def retry_wait(self) -> float:
        """The back-off before walking again: RFC 2131 4.1's doubling (the
        DHCP base, at most 16 of them, jittered by a quarter of one), so a
        storm of failed devices spreads out instead of coming back at once."""
        base = self.config.dhcp_timeout
        n = min(self.result.retries - 1, 8)
        wait = min(base * 2**n, base * RFC2131_CAP) + self.rng.uniform(-base * RFC2131_JITTER, base * RFC2131_JITTER)
        assert self.give_up_at is not None
        return max(0.0, min(wait, self.give_up_at - self.loop.time()))

    def request_reboot(self) -> None:
        """The eCM installed an image: the whole device reboots, from the eCM's DHCP."""
        self.reboot_ecm = self.reset_requested = True
        self.interrupt()

    def stop(self) -> None:
        self.stopped = True
        self.interrupt()

    async def walks(self, n: int) -> DeviceResult:
        """Wait until ``n`` walks have finished."""
        while self.result.walks < n:
            self._walk_end.clear()
            await self._walk_end.wait()
        return self.result

    def restart(self, ecm: bool = False) -> None:
        """MTA-1 again, its eCM still up (a reset, or a failed eMTA step); with
        ``ecm``, the eCM's DHCP again too (the eCM itself failed)."""
        self.reset_requested = self.reboot_ecm = False
        self.machine = Machine(mta_table(self.flow, self.config.timing), self.loop.time(), self._timer())
        self._ecm_walked = ecm
        if ecm:
            self.cm = None
            self.dhcp_servers = None
        else:
            self.machine.handle(ev.EcmOperational(), self.loop.time())
        self.begin_walk()

    def record_walk(self, start: float) -> None:
        """The steps of the walk that just ended, into the result."""
        history = self.machine.history
        first = 0 if self._ecm_walked else 1  # a restart at MTA-1 did not run the eCM again
        for entered, after in list(zip(history, history[1:], strict=False))[first:]:
            self.result.steps.append((entered.step, entered.state.name, after.at - entered.at))
        self.result.state = self.machine.state.name
        self.result.result = self.machine.result
        self.result.total = self.loop.time() - start

    def end_walk(self, start: float) -> None:
        self.record_walk(start)
        self.result.walks += 1
        if self.mib is not None and self.machine.result is not None and self.agent is not None:
            self.mib.set_state(self.machine.result)
        if self.informer is not None:  # a walk's INFORMs are done: one socket less per idle device
            self.informer.close()
            self.informer = None
        if not self.finished.done():
            self.result.done_at = self.loop.time()
            self.finished.set_result(self.result)
        self._walk_end.set()

    async def walk(self) -> None:
        """Until a final state (or the device budget runs out: the device
        gives up where it is, and that state is its outcome)."""
        while not self.machine.done and not self.stopped:
            if self.reboot_ecm:
                return  # run() restarts from the eCM
            if self.reset_requested:
                self.reset_requested = False
                self.machine.handle(ev.ResetRequested(), self.loop.time())
                self.begin_walk()
                continue
            deadline = self.machine.next_deadline()
            if self.give_up_at is not None and not self.finished.done():
                if self.loop.time() >= self.give_up_at:
                    return
                deadline = self.give_up_at if deadline is None else min(deadline, self.give_up_at)
            budget = None if deadline is None else max(0.0, deadline - self.loop.time())
            event = await self.interruptible(self.guarded(self.handlers[self.machine.state]), budget)
            if self.reset_requested or self.stopped:
                continue
            if event is not None:
                self.machine.handle(event, self.loop.time())
            elif deadline is not None:
                await self.interruptible(asyncio.sleep(max(0.0, deadline - self.loop.time())), None)
                if not (self.reset_requested or self.stopped):
                    self.machine.handle_timer(max(self.loop.time(), deadline))
            else:  # pragma: no cover - every waiting state has a deadline (table check)
                raise RuntimeError(f"{self.machine.state.name} would wait forever")

    async def interruptible(self, work: Coroutine[Any, Any, Any], budget: float | None) -> Any:
        """``work``'s result, or None when ``budget`` runs out or a reset or
        stop() comes first (the work is cancelled then)."""
        task = asyncio.ensure_future(work)
        self.wakeup.clear()
        waker = asyncio.ensure_future(self.wakeup.wait())
        try:
            done, _ = await asyncio.wait({task, waker}, timeout=budget, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return None

    def interrupt(self) -> None:
        """A reset or stop(): the step in progress ends now."""
        self.wakeup.set()

    async def guarded(self, handler: Callable[[], Awaitable[object | None]]) -> object | None:
        """A handler's event; an answer it could not decode or use is a
        deviation of the step, and the step waits for its deadline."""
        step = self.machine.info.step
        try:
            return await handler()
        except ANSWER_ERRORS as exc:
            self.deviate(step, f"{type(exc).__name__}: {exc}")
            return None

    # -- eMTA DHCP: MTA-1 ... MTA-4 ------------------------------------------------
    def check_prov_server(self, reply: Reply, step: str) -> None:
        """RFC 3495 5.3: type 0 is an FQDN the eMTA looks up in DNS, type 1 an
        IPv4 address; an address written as a name is a name no DNS has."""
        value = reply.ccc.get("prov-server")
        if self.config.strict and isinstance(value, str) and _is_ipv4(value):
            self.deviate(step, f"option 122.3 is type 0 (FQDN) holding the address text {value!r}; an IPv4 "
                               "provisioning server is type 1 + 4 octets (RFC 3495 5.3)")

    async def discover(self) -> object | None:
        """MTA-1/2 until an acceptable OFFER: one that is not is ignored and the
        eMTA discovers again (a new exchange) after a back-off, in the same
        step, so the state's deadline and the provisioning timer both hold."""
        offer = await self.discover_offer("mta", "MTA-2", self.refuse_offer)
        if offer is None:
            return None
        self.check_prov_server(offer, "MTA-2")
        self.offer = offer
        return ev.OfferAccepted()

    def refuse_offer(self, offer: Reply) -> str:
        """Why the eMTA must ignore ``offer`` (PKT-SP-PROV1.5 flow step MTA-2), or ""."""
        for problem in offer.problems:
            self.deviate("MTA-2", problem)
        missing = [n for n, name in ((3, "prov-server"), (6, "realm")) if name not in offer.ccc]
        if missing:
            return f"OFFER lacks option 122 sub-option(s) {missing}"
        if self.config.strict and self.dhcp_servers is not None and offer.server_id not in self.dhcp_servers:
            allowed = ", ".join(sorted(map(str, self.dhcp_servers)))
            return f"OFFER from server {offer.server_id}, not the 122.1/122.2 server(s) {allowed}"
        return ""

    async def dhcp_request(self) -> object | None:
        assert self.offer is not None
        ack = await self.request_ack("mta", self.offer)
        if ack is None:
            return None
        if ack.type == MessageType.NAK:
            return ev.NakReceived()
        self.ack = ack
        for problem in ack.problems:
            self.deviate("MTA-4", problem)
        if ack.yiaddr != self.offer.yiaddr:
            self.deviate("MTA-4", f"the ACK leases {ack.yiaddr}, the OFFER offered {self.offer.yiaddr}")
        realm = str(ack.ccc.get("realm", ""))
        if realm != self.expected_realm:
            self.deviate("MTA-4", f"option 122.6 realm {realm or '(none)'}; this device expects {self.expected_realm}")
            return ev.RealmMismatch(realm)
        self.check_prov_server(ack, "MTA-4")
        timer = ack.ccc.get("prov-timer")
        if self.config.provisioning_timer is None and isinstance(timer, int):
            self.machine.set_provisioning_timer(timer * 60.0)  # 122.8 overrides the MIB default (minutes)
        try:
            await self.start_agent(ack.yiaddr)
        except OSError as exc:
            self.deviate("MTA-4", f"cannot answer SNMP on the leased address {ack.yiaddr}: {exc}")
            return None
        if not self.flow.enrolls:
            if not ack.file or ack.siaddr == IPv4Address(0):
                self.deviate("MTA-4", "Basic flow ACK lacks siaddr/file for the config file")
            self.url = f"tftp://{ack.siaddr}/{ack.file}"
            assert self.mib is not None
            self.mib.set_location(self.url)
        return ev.AckReceived(realm)

    # -- SNMP: H-MTA-15 ... H-MTA-19, MTA-25 -----------------------------------------
    async def start_agent(self, address: IPv4Address) -> None:
        self.close_endpoints()
        self.mib = MtaMib(self.config.tree, {self.config.read_community: False, self.config.write_community: True},
                          mac=self.id.mta_mac, serial=self.id.serial, correlation_id=self.id.correlation_id,
                          type_identifier=self.type_identifier, hybrid=self.flow.enrolls, on_set=self.on_set)
        self.agent = await open_endpoint(str(address), self.config.agent_port, self.mib.answer)
        self.informer = await open_endpoint(str(address), 0, timeout=self.config.snmp_timeout,
                                            retries=self.config.snmp_retries)

    @property
    def view(self) -> Any:
        return None if self.mib is None else self.mib.view

    def on_set(self, written: set[tuple[int, ...]]) -> None:
        assert self.mib is not None
        o = self.mib.o
        if o.reset_now in written:
            self.reset_requested = True
            self.interrupt()
        if o.config_file in written and not self.set_received.done():
            url, digest = self.mib.value(o.config_file), self.mib.value(o.config_hash)
            assert isinstance(url, bytes) and isinstance(digest, bytes)  # both are defined as OCTET STRINGs
            self.url, self.hash = url.decode("latin-1"), digest
            if o.config_hash not in written:
                self.deviate(self.step(19), "the SET of pktcMtaDevConfigFile carried no pktcMtaDevProvConfigHash")
            self.set_received.set_result(None)

    async def prov_server(self) -> tuple[str, int]:
        """The address of the 122.3 SNMP entity: type 1 as is, type 0 by DNS."""
        assert self.ack is not None
        value = self.ack.ccc.get("prov-server", "")
        if isinstance(value, IPv4Address):
            return str(value), self.config.snmp_port
        if self.config.strict and _is_ipv4(str(value)):
            raise OSError(f"122.3 FQDN {value!r} is an address written as a name: a DNS lookup of it fails")
        return await self.lookup(str(value)), self.config.snmp_port

    async def inform(self, varbinds: tuple, step: str) -> object:  # type: ignore[type-arg]
        assert self.informer is not None
        malformed = self.informer.stats.malformed
        try:
            host, port = await self.prov_server()
        except OSError as exc:
            self.deviate(step, f"provisioning server (122.3) does not resolve: {exc}")
            return ev.InformUnanswered()
        try:
            reply = await self.informer.request((host, port), self.config.inform_community, m.PduType.INFORM,
                                                varbinds)
        except (TimeoutError, OSError) as exc:
            self.deviate(step, f"INFORM to {host}:{port} unacknowledged: {exc}")
            return ev.InformUnanswered()
        finally:
            bad = self.informer.stats.malformed - malformed
            if bad:
                self.deviate(step, f"{bad} SNMP datagram(s) from the provisioning server do not decode")
        if reply.pdu.error_status:
            self.deviate(step, f"INFORM answered with error-status {reply.pdu.error_status}")
        return ev.InformAcked()

    async def enroll(self) -> object | None:
        uptime = int((self.loop.time() - self.machine.history[0].at) * 100)
        note = pktc.Enrollment(self.config.tree, SYS_DESCR.encode(), SOFTWARE_VERSION.encode(),
                               self.type_identifier.encode(), self.id.mta_mac, self.id.correlation_id)
        return await self.inform(note.varbinds(uptime), self.step(15))

    async def wait_set(self) -> object | None:
        await self.set_received
        if not self.url.startswith(("tftp://", "http://", "https://")):
            self.deviate(self.step(19), f"pktcMtaDevConfigFile {self.url!r} is not a tftp:// or http:// URL")
        if len(self.hash) != 20:
            self.deviate(self.step(19), f"pktcMtaDevProvConfigHash is {len(self.hash)} bytes, not a SHA-1")
        return ev.ConfigLocationSet(self.url, self.hash)

    async def report(self) -> object | None:
        uptime = int((self.loop.time() - self.machine.history[0].at) * 100)
        note = pktc.Status(self.config.tree, self.id.mta_mac, self.id.correlation_id, int(self.outcome))
        if self.informer is None:  # an agent started by hand (tests), without DHCP
            assert self.ack is not None
            self.informer = await open_endpoint(str(self.ack.yiaddr), 0, timeout=self.config.snmp_timeout,
                                                retries=self.config.snmp_retries)
        step = self.machine.info.step
        return await self.inform(note.varbinds(uptime), step)

    # -- MTA-20 ... MTA-23 -------------------------------------------------------------
    async def lookup(self, host: str) -> str:
        try:
            return str(IPv4Address(host))
        except ValueError:
            infos = await self.loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
            return str(infos[0][4][0])

    async def resolve(self) -> object | None:
        host = urlparse(self.url).hostname or ""
        try:
            await self.lookup(host)
        except OSError as exc:
            self.deviate(self.step("20/21"), f"config-file host {host!r} does not resolve: {exc}")
            return ev.ResolveFailed()
        return ev.HostResolved()

    async def download(self) -> object | None:
        step = self.machine.info.step
        url = urlparse(self.url)
        assert self.ack is not None
        if url.scheme in ("http", "https") and not self.config.http:
            # Its option 60 declared no HTTP download (capability sub-TLV 4): a real eMTA has no
            # HTTP client to fetch this with.
            why = f"{url.scheme}:// URL for an eMTA that declared no HTTP file download (option 60 sub-TLV 4)"
            self.deviate(step, why)
            if self.config.strict:
                return ev.DownloadFailed(why)
        try:
            address = await self.lookup(url.hostname or "")
            if url.scheme == "tftp":
                port = url.port or self.config.tftp_port
                # From the leased address: per-exchange names are valid for one client IP.
                self.file = await net.tftp_get((address, port), url.path.lstrip("/"), local_host=str(self.ack.yiaddr))
            else:
                self.file = await net.http_get(self.url, local_host=str(self.ack.yiaddr))
        except (net.DownloadError, OSError, ValueError) as exc:
            self.deviate(step, f"{self.url}: {exc}")
            return ev.DownloadFailed(str(exc))
        return ev.FileReceived(len(self.file))

    async def validate(self) -> object | None:
        step = self.machine.info.step
        verdict = mtafile.check_cached(self.file, self.config.tree, self.flow.enrolls, self.hash, self.config.strict)
        for note in verdict.notes:
            self.deviate(step, note)
        for problem in verdict.problems:
            self.deviate(step, problem)
        self.outcome = verdict.state
        if self.mib is not None:
            self.mib.set_errors(verdict.errors)
            self.mib.set_state(int(verdict.state))
        if not verdict.accepted:
            return ev.ConfigRejected(int(verdict.state), verdict.problems[0] if verdict.problems else "")
        return ev.ConfigAccepted(int(verdict.state))


def _is_ipv4(text: str) -> bool:
    try:
        IPv4Address(text)
    except ValueError:
        return False
    return True
