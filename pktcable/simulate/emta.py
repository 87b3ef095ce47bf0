"""One simulated eCM + eMTA walking its flow table over real UDP.

The device-side table (pktcable.flow) drives: each state has a handler that
performs the state's command on the network and returns the event it led to;
a state whose handler learns nothing waits for its deadline, and the table's
timeout event follows. Every answer from the provisioning system is checked
against the spec on the way, and each deviation is kept with its step id.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from ipaddress import IPv4Address
from urllib.parse import urlparse

from dhcp.message import MessageType
from pktcable.flow import Flow, FlowTable, Machine, MtaState, ProvisioningState, Timing, tables
from pktcable.flow import events as ev
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint
from tlv.config import decode_file
from tlv.errors import DecodeError

from . import net
from .identity import FLOW_BITS, Identity, Reply, parse_reply, request


@dataclass(slots=True)
class SimConfig:
    server: str  # the DHCP server (or the CMTS helper address it listens on)
    dhcp_port: int = 67
    relay: str = "127.0.0.1"
    relay_port: int = 67
    snmp_port: int = 162  # where the INFORMs go (the 122.3 provisioning server)
    agent_port: int = 161  # where each eMTA answers GET/SET (on its leased address)
    tftp_port: int = 69  # for tftp:// URLs and siaddr/file without a port
    tod_port: int = 37
    inform_community: bytes = b"public"
    read_community: bytes = b"public"
    write_community: bytes = b"private"
    tree: pktc.Tree = pktc.Tree.CABLELABS
    timing: Timing = field(default_factory=Timing)
    provisioning_timer: float | None = None  # seconds; None: 122.8, else the MIB default
    dhcp_timeout: float = 1.0
    dhcp_retries: int = 3
    snmp_timeout: float = 1.0
    snmp_retries: int = 3
    run_ecm: bool = True
    seed: int = 0


@cache
def mta_table(flow: Flow, timing: Timing) -> FlowTable:
    return tables.mta_table(flow, timing)


@dataclass(slots=True)
class Deviation:
    step: str
    text: str


@dataclass(slots=True)
class DeviceResult:
    index: int
    mta_mac: str
    flow: str
    state: str = ""
    result: int | None = None
    #: (step label, state name, seconds spent in it), in order.
    steps: list[tuple[str, str, float]] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    total: float = 0.0

    @property
    def passed(self) -> bool:
        return self.state == MtaState.OPERATIONAL.name


class SimulatedMta:
    def __init__(self, identity: Identity, flow: Flow, config: SimConfig, relay: net.Relay) -> None:
        self.id = identity
        self.flow = flow
        self.config = config
        self.relay = relay
        self.loop = asyncio.get_running_loop()
        self.result = DeviceResult(identity.index, identity.mta_mac.hex(), flow.value)
        # The MIB default (10 minutes) until option 122.8 says otherwise.
        timer = 600.0 if config.provisioning_timer is None else config.provisioning_timer
        self.machine = Machine(mta_table(flow, config.timing), self.loop.time(), timer)
        self.offer: Reply | None = None
        self.ack: Reply | None = None
        self.cm: Reply | None = None
        self.url = ""
        self.hash = b""
        self.file = b""
        self.outcome = ProvisioningState.IN_PROGRESS
        self.set_received: asyncio.Future[None] = self.loop.create_future()
        self.reset_requested = False
        self.agent: SnmpEndpoint | None = None
        self.view: MibView | None = None
        self.informer: SnmpEndpoint | None = None
        self._xid = identity.index * 64
        self.flow_bits = FLOW_BITS["hybrid" if flow.hybrid else "basic"]
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

    def deviate(self, step: str, text: str) -> None:
        self.result.deviations.append(Deviation(step, text))

    def next_xid(self) -> int:
        self._xid += 1
        return (self._xid * 2654435761) & 0xFFFFFFFF  # spread, still unique per device

    # -- the walk ------------------------------------------------------------
    async def run(self) -> DeviceResult:
        start = self.loop.time()
        try:
            while not self.machine.done:
                if self.reset_requested:
                    self.reset_requested = False
                    self.machine.handle(ev.ResetRequested(), self.loop.time())
                    continue
                deadline = self.machine.next_deadline()
                handler = self.handlers[self.machine.state]
                budget = None if deadline is None else max(0.0, deadline - self.loop.time())
                try:
                    event = await asyncio.wait_for(handler(), budget)
                except TimeoutError:
                    event = None
                if event is not None:
                    self.machine.handle(event, self.loop.time())
                elif deadline is not None:
                    await asyncio.sleep(max(0.0, deadline - self.loop.time()))
                    self.machine.handle_timer(max(self.loop.time(), deadline))
                else:  # pragma: no cover - every waiting state has a deadline (table check)
                    raise RuntimeError(f"{self.machine.state.name} would wait forever")
        finally:
            for endpoint in (self.agent, self.informer):
                if endpoint is not None:
                    endpoint.close()
        history = self.machine.history
        for entered, after in zip(history, history[1:], strict=False):
            self.result.steps.append((entered.step, entered.state.name, after.at - entered.at))
        self.result.state = self.machine.state.name
        self.result.result = self.machine.result
        self.result.total = self.loop.time() - start
        return self.result

    # -- eCM: CM-1 ... CM-10 --------------------------------------------------
    async def dhcp(self, kind: str, step: str) -> Reply | None:
        relay = IPv4Address(self.config.relay)
        xid = self.next_xid()
        data = await self.relay.exchange(request(self.id, kind, MessageType.DISCOVER, xid, relay), xid,
                                         self.config.dhcp_timeout, self.config.dhcp_retries)
        if data is None:
            self.deviate(step, f"{kind.upper()} DHCPDISCOVER unanswered")
            return None
        offer = parse_reply(data)
        if offer.type != MessageType.OFFER:
            self.deviate(step, f"answer to DHCPDISCOVER is message type {offer.type}, not OFFER")
            return None
        xid = self.next_xid()
        data = await self.relay.exchange(
            request(self.id, kind, MessageType.REQUEST, xid, relay, offer.yiaddr, offer.server_id), xid,
            self.config.dhcp_timeout, self.config.dhcp_retries)
        if data is None:
            self.deviate(step, f"{kind.upper()} DHCPREQUEST unanswered")
            return None
        ack = parse_reply(data)
        if ack.type != MessageType.ACK:
            self.deviate(step, f"DHCPREQUEST answered with message type {ack.type}, not ACK")
            return None
        return ack

    async def ecm(self) -> object | None:
        if self.config.run_ecm:
            cm = self.cm = await self.dhcp("cm", "CM-1...4")
            if cm is None:
                return ev.EcmFailed("no CM lease")
            if "dhcp-server-1" not in cm.ccc:
                self.deviate("CM-4", "the CM's ACK lacks option 122 sub-option 1 (the eMTA's DHCP server)")
            if cm.time_servers:
                try:
                    await net.tod((str(cm.time_servers[0]), self.config.tod_port), 0.5, 1, str(cm.yiaddr))
                except (TimeoutError, ValueError, OSError) as exc:
                    self.deviate("CM-7/8", f"ToD server {cm.time_servers[0]}: {exc}")
            else:
                self.deviate("CM-4", "the CM's ACK names no time server (option 4)")
            if not cm.file:
                self.deviate("CM-4", "the CM's ACK names no config file")
            else:
                await self.cm_file(cm)
        return ev.EcmOperational()

    async def cm_file(self, cm: Reply) -> None:
        try:
            data = await net.tftp_get((str(cm.siaddr), self.config.tftp_port), cm.file, local_host=str(cm.yiaddr))
        except (net.DownloadError, OSError) as exc:
            self.deviate("CM-5/6", f"CM config file {cm.file}: {exc}")
            return
        try:
            cf = decode_file(data)
        except DecodeError as exc:
            self.deviate("CM-5/6", f"CM config file does not decode: {exc}")
            return
        if cf.mta or cf.problems:
            self.deviate("CM-5/6", f"CM config file: {'; '.join(cf.problems) or 'an MTA file'}")

    # -- eMTA DHCP: MTA-1 ... MTA-4 ------------------------------------------------
    async def discover(self) -> object | None:
        relay = IPv4Address(self.config.relay)
        xid = self.next_xid()
        data = await self.relay.exchange(request(self.id, "mta", MessageType.DISCOVER, xid, relay,
                                                 flows=self.flow_bits), xid,
                                         self.config.dhcp_timeout, self.config.dhcp_retries)
        if data is None:
            return None
        offer = parse_reply(data)
        for problem in offer.problems:
            self.deviate("MTA-2", problem)
        missing = [n for n, name in ((3, "prov-server"), (6, "realm")) if name not in offer.ccc]
        if offer.type != MessageType.OFFER or missing:
            why = f"OFFER lacks option 122 sub-option(s) {missing}" if missing else f"message type {offer.type}"
            self.deviate("MTA-2", why)
            await asyncio.sleep(self.config.dhcp_timeout)  # RFC 2131: back off before discovering again
            return ev.OfferRejected(why)
        self.offer = offer
        return ev.OfferAccepted()

    async def dhcp_request(self) -> object | None:
        assert self.offer is not None
        relay = IPv4Address(self.config.relay)
        xid = self.next_xid()
        data = await self.relay.exchange(
            request(self.id, "mta", MessageType.REQUEST, xid, relay, self.offer.yiaddr, self.offer.server_id,
                    flows=self.flow_bits), xid,
            self.config.dhcp_timeout, self.config.dhcp_retries)
        if data is None:
            return None
        ack = parse_reply(data)
        if ack.type == MessageType.NAK:
            return ev.NakReceived()
        if ack.type != MessageType.ACK:
            return None
        self.ack = ack
        realm = str(ack.ccc.get("realm", ""))
        if realm != self.flow.value:
            self.deviate("MTA-4", f"option 122.6 realm {realm or '(none)'}; this device runs {self.flow.value}")
            return ev.RealmMismatch(realm)
        timer = ack.ccc.get("prov-timer")
        if self.config.provisioning_timer is None and isinstance(timer, int):
            self.machine.set_provisioning_timer(timer * 60.0)  # 122.8 overrides the MIB default (minutes)
        if not self.flow.hybrid:
            if not ack.file or ack.siaddr == IPv4Address(0):
                self.deviate("MTA-4", "Basic flow ACK lacks siaddr/file for the config file")
            self.url = f"tftp://{ack.siaddr}/{ack.file}"
        else:
            await self.start_agent(ack.yiaddr)
        return ev.AckReceived(realm)

    # -- SNMP: H-MTA-15 ... H-MTA-19, MTA-25 -----------------------------------------
    async def start_agent(self, address: IPv4Address) -> None:
        o = pktc.oids(self.config.tree)
        view = self.view = MibView({self.config.read_community: False, self.config.write_community: True},
                                   self.check_set)
        view.define(o.sys_descr, "String", b"pktcable simulated eMTA <<HW_REV: 1.0; SW_REV: 2.4.1>>")
        view.define(o.sw_version, "String", b"2.4.1")
        view.define(o.type_identifier, "String", b"pktc1.5:")
        view.define(o.mac, "String", self.id.mta_mac)
        view.define(o.serial_number, "String", self.id.serial.encode())
        view.define(o.correlation_id, "Integer", self.id.correlation_id)
        view.define(o.provisioning_state, "Integer", int(ProvisioningState.IN_PROGRESS))
        view.define(o.config_file, "String", b"", writable=True)
        view.define(o.config_hash, "String", b"", writable=True)
        view.define(o.reset_now, "Integer", 2, writable=True)
        self.agent = await open_endpoint(str(address), self.config.agent_port, self.answer)
        self.informer = await open_endpoint(str(address), 0, timeout=self.config.snmp_timeout,
                                            retries=self.config.snmp_retries)

    def check_set(self, oid: tuple[int, ...], value: object) -> m.ErrorStatus | None:
        o = pktc.oids(self.config.tree)
        if oid == o.config_hash and isinstance(value, bytes) and len(value) not in (0, 16, 20):
            return m.ErrorStatus.WRONG_LENGTH
        if oid == o.reset_now and value not in (1, 2):
            return m.ErrorStatus.WRONG_VALUE
        return None

    def answer(self, msg: m.Message, addr: tuple[str, int]) -> m.Message | None:
        assert self.view is not None
        reply = self.view.handle(msg)
        if msg.pdu.type is m.PduType.SET and reply is not None and not reply.pdu.error_status:
            o = pktc.oids(self.config.tree)
            written = {vb.oid for vb in msg.pdu.varbinds}
            if o.reset_now in written and self.view.value(o.reset_now) == 1:
                self.view.define(o.reset_now, "Integer", 2, writable=True)
                self.reset_requested = True
            if o.config_file in written and not self.set_received.done():
                self.url = bytes(self.view.value(o.config_file)).decode("latin-1")  # type: ignore[arg-type]
                self.hash = bytes(self.view.value(o.config_hash))  # type: ignore[arg-type]
                if o.config_hash not in written:
                    self.deviate("H-MTA-19", "the SET of pktcMtaDevConfigFile carried no pktcMtaDevProvConfigHash")
                self.set_received.set_result(None)
        return reply

    def prov_server(self) -> tuple[str, int]:
        assert self.ack is not None
        host = str(self.ack.ccc.get("prov-server", ""))
        return host, self.config.snmp_port

    async def inform(self, varbinds: tuple, step: str) -> object:  # type: ignore[type-arg]
        assert self.informer is not None
        host, port = self.prov_server()
        try:
            address = await self.lookup(host)
            reply = await self.informer.request((address, port), self.config.inform_community, m.PduType.INFORM,
                                                varbinds)
        except (TimeoutError, OSError) as exc:
            self.deviate(step, f"INFORM to {host}:{port} unacknowledged: {exc}")
            return ev.InformUnanswered()
        if reply.pdu.error_status:
            self.deviate(step, f"INFORM answered with error-status {reply.pdu.error_status}")
        return ev.InformAcked()

    async def enroll(self) -> object | None:
        uptime = int((self.loop.time() - self.machine.history[0].at) * 100)
        note = pktc.Enrollment(self.config.tree, b"pktcable simulated eMTA <<HW_REV: 1.0; SW_REV: 2.4.1>>",
                               b"2.4.1", b"pktc1.5:", self.id.mta_mac, self.id.correlation_id)
        return await self.inform(note.varbinds(uptime), "H-MTA-15")

    async def wait_set(self) -> object | None:
        await self.set_received
        if not self.url.startswith(("tftp://", "http://", "https://")):
            self.deviate("H-MTA-19", f"pktcMtaDevConfigFile {self.url!r} is not a tftp:// or http:// URL")
        if len(self.hash) != 20:
            self.deviate("H-MTA-19", f"pktcMtaDevProvConfigHash is {len(self.hash)} bytes, not a SHA-1")
        return ev.ConfigLocationSet(self.url, self.hash)

    async def report(self) -> object | None:
        uptime = int((self.loop.time() - self.machine.history[0].at) * 100)
        note = pktc.Status(self.config.tree, self.id.mta_mac, self.id.correlation_id, int(self.outcome))
        if self.informer is None:  # Basic flows: the agent starts only for the status INFORM
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
            self.deviate("H-MTA-20/21", f"config-file host {host!r} does not resolve: {exc}")
            return ev.ResolveFailed()
        return ev.HostResolved()

    async def download(self) -> object | None:
        step = self.machine.info.step
        url = urlparse(self.url)
        try:
            address = await self.lookup(url.hostname or "")
            if url.scheme == "tftp":
                port = url.port or self.config.tftp_port
                # From the leased address: per-exchange names are valid for one client IP.
                assert self.ack is not None
                self.file = await net.tftp_get((address, port), url.path.lstrip("/"), local_host=str(self.ack.yiaddr))
            else:
                assert self.ack is not None
                self.file = await net.http_get(self.url, local_host=str(self.ack.yiaddr))
        except (net.DownloadError, OSError, ValueError) as exc:
            self.deviate(step, f"{self.url}: {exc}")
            return ev.DownloadFailed(str(exc))
        return ev.FileReceived(len(self.file))

    async def validate(self) -> object | None:
        try:
            cf = decode_file(self.file)
        except DecodeError as exc:
            return self.reject(ProvisioningState.FAIL_CONFIG_FILE_ERROR, f"config file does not decode: {exc}")
        if not cf.mta:
            return self.reject(ProvisioningState.FAIL_CONFIG_FILE_ERROR, "not an MTA config file (no TLV 254)")
        if self.flow.hybrid:
            digest = hashlib.sha1(self.file).digest()
            if digest != self.hash:
                return self.reject(ProvisioningState.FAIL_CONFIG_FILE_ERROR,
                                   f"SHA-1 of the file {digest.hex()} differs from the SET hash {self.hash.hex()}")
            if cf.hash_ok is not None:
                self.deviate("MTA-23", "a Hybrid-flow config file carries its own hash object")
        elif cf.hash_ok is not True:
            return self.reject(ProvisioningState.FAIL_CONFIG_FILE_ERROR,
                               "Basic-flow file hash missing" if cf.hash_ok is None else "Basic-flow file hash wrong")
        if cf.problems:
            self.outcome = ProvisioningState.PASS_WITH_WARNINGS
            for problem in cf.problems:
                self.deviate("MTA-23", problem)
            return ev.ConfigAccepted(int(self.outcome))
        self.outcome = ProvisioningState.PASS
        return ev.ConfigAccepted(int(self.outcome))

    def reject(self, state: ProvisioningState, reason: str) -> object:
        self.outcome = state
        self.deviate(self.machine.info.step, reason)
        return ev.ConfigRejected(int(state), reason)
