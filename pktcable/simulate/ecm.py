"""The simulated device's eCM half: the DHCP client both halves use, the eCM's walk
(CM-1 ... CM-10), its software upgrade and its SNMP agent.

The eCM's walk is one state of the eMTA's flow table (WAIT_ECM): DHCP, ToD, the CM
config file. A config file whose TLV 9 names an image other than the running one,
enabled by a CVC (TLV 32/33), is followed after registration by the software download
(step CM-SWDL): the code file by TFTP from the TLV 21 server, checked and installed by
pktcable.simulate.cmsoftware; an installed image reboots the eCM, which walks again
from DHCP, reporting its new version in option 43 sub-option 6. With
``SimConfig.cm_agent_port`` set, the eCM answers SNMP on its leased address
(pktcable.simulate.cmagent), and a SET of docsDevSwAdminStatus to upgradeFromMgt(1)
downloads the same way, then reboots the whole device.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import errno
import random
import time
from collections.abc import Callable
from functools import lru_cache
from ipaddress import IPv4Address
from urllib.parse import quote

from dhcp.errors import DhcpError
from dhcp.message import MessageType
from pktcable.firmware.codefile import MAX_CODE_FILE
from pktcable.firmware.device import upgrade_of
from pktcable.firmware.swmib import HTTP
from pktcable.flow import events as ev
from pktcable.snmp import message as m
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint
from tlv.config import decode_file
from tlv.configfile import ConfigFile
from tlv.errors import DecodeError

from . import cmstate, net
from .cmagent import CmMib
from .cmsoftware import STEP, Attempt, CmSoftware, Outcome, Result, load_root
from .config import Deviation, DeviceResult, SimConfig
from .identity import Identity, Reply, parse_reply, request

#: Seconds an HTTP code download may take (the whole image; TFTP has its own per-block timers).
HTTP_DOWNLOAD_TIMEOUT = 120.0
#: Binds of the eCM's agent port tried after a reboot, and the seconds between them.
AGENT_BIND_TRIES = 40
AGENT_BIND_WAIT = 0.05

#: 122.1 = 255.255.255.255: no preference, the eMTA follows RFC 2131 (RFC 3495 5.1).
ANY_DHCP_SERVER = IPv4Address("255.255.255.255")
#: 122.1 = 0.0.0.0: the eMTA is disabled and must not provision (RFC 3495 5.1).
NO_DHCP_SERVER = IPv4Address(0)
#: What a reply that does not decode (or cannot be used) costs the step, not the run.
ANSWER_ERRORS = (DhcpError, m.SnmpDecodeError, DecodeError, ValueError, UnicodeError, OSError)
#: Upgrades (each a reboot) one eCM walk takes before it stays on its image: a server that
#: names a new image in every config file must not keep a device rebooting for ever.
MAX_UPGRADES_PER_WALK = 3


class EcmDevice:
    """What the eCM does and keeps; :class:`pktcable.simulate.emta.SimulatedMta` adds the eMTA."""

    id: Identity
    config: SimConfig
    relay: net.Relay
    loop: asyncio.AbstractEventLoop
    result: DeviceResult
    rng: random.Random
    flow_bits: int
    cm: Reply | None
    dhcp_servers: set[IPv4Address] | None

    def init_ecm(self) -> None:
        """The eCM's own state, kept across its reboots."""
        c = self.config
        root = None if c.cvc_root is None else load_root(c.cvc_root)
        mac = self.id.cm_mac.hex()
        saved = None if c.cm_state is None else cmstate.load(c.cm_state).get(mac)
        version, image = (c.cm_version, c.cm_image) if saved is None else (saved.version, saved.image)
        self.software = CmSoftware.factory(version, image, root, c.manufacturer)
        if saved is not None and saved.access is not None and self.software.store is not None:
            self.software.store = dataclasses.replace(self.software.store, state=saved.access)
        self.keep_access()
        r = self.result
        r.cm_mac, r.cm_version, r.cm_before, r.cm_image = mac, version, version, image
        self.cm_mib: CmMib | None = None
        self.cm_agent: SnmpEndpoint | None = None
        self.sw_task: asyncio.Task[None] | None = None

    def keep_access(self) -> None:
        """The code store's times as they are now, for the run's --cm-state."""
        store = self.software.store
        self.result.cm_access = cmstate.access_row(None if store is None else store.state)

    def deviate(self, step: str, text: str) -> None:
        self.result.deviations.append(Deviation(step, text))

    def new_xid(self) -> int:
        return self.rng.getrandbits(32)

    #: The whole device reboots after an install (SimulatedMta's, which this eCM part is mixed into).
    request_reboot: Callable[[], None]

    # -- DHCP (RFC 2131 as a client: 4.1, 4.4.1, table 5) ---------------------------
    async def exchange(self, kind: str, msg_type: MessageType, xid: int, accept: frozenset[int],
                       offer: Reply | None = None) -> Reply | None:
        """One DHCP message and its answer; retransmissions repeat the same
        xid (4.1). Raises DhcpError for an answer that does not decode."""
        mac = self.id.cm_mac if kind == "cm" else self.id.mta_mac
        extra = {"software": self.software.version} if kind == "cm" else {}
        data = request(self.id, kind, msg_type, xid, IPv4Address(self.config.relay),
                       None if offer is None else offer.yiaddr, None if offer is None else offer.server_id,
                       flows=self.flow_bits, http=self.config.http,
                       mib=self.config.tree.value if self.config.declare_mib else None, **extra)
        waits = net.retransmit_waits(self.config.dhcp_timeout, self.config.dhcp_retries, self.rng)
        answer = await self.relay.exchange(data, (xid, mac), waits, accept)
        return None if answer is None else parse_reply(answer)

    async def discover_offer(self, kind: str, step: str,
                             refuse: Callable[[Reply], str] | None = None) -> Reply | None:
        """DISCOVER (a new random xid: a new exchange) until an OFFER that
        ``refuse`` finds nothing against: a refused one is a deviation and,
        after a back-off, the device discovers again (RFC 2131 4.4.1)."""
        while True:
            offer = await self.exchange(kind, MessageType.DISCOVER, self.new_xid(), frozenset({MessageType.OFFER}))
            if offer is None:
                return None
            why = "" if refuse is None else refuse(offer)
            if not why:
                return offer
            self.deviate(step, why)
            await asyncio.sleep(self.config.dhcp_timeout)  # RFC 2131: back off before discovering again

    async def request_ack(self, kind: str, offer: Reply) -> Reply | None:
        """The REQUEST that answers ``offer`` with its xid (table 5); the ACK or NAK."""
        return await self.exchange(kind, MessageType.REQUEST, offer.xid,
                                   frozenset({MessageType.ACK, MessageType.NAK}), offer)

    async def dora(self, kind: str, step: str, refuse: Callable[[Reply], str] | None = None) -> Reply | None:
        """One device's whole DHCP exchange: the eCM runs it in one step; the
        eMTA's flow table splits it in two states, each running its half. A
        NAK restarts the configuration process (RFC 2131 3.1 step 4) after a
        back-off; the step's deadline bounds the restarts."""
        while True:
            offer = await self.discover_offer(kind, step, refuse)
            if offer is None:
                self.deviate(step, f"{kind.upper()} DHCPDISCOVER unanswered")
                return None
            ack = await self.request_ack(kind, offer)
            if ack is None:
                self.deviate(step, f"{kind.upper()} DHCPREQUEST unanswered")
                return None
            if ack.type == MessageType.NAK:
                await asyncio.sleep(self.config.dhcp_timeout)
                continue
            if ack.type != MessageType.ACK:
                self.deviate(step, f"DHCPREQUEST answered with message type {ack.type}, not ACK")
                return None
            return ack

    # -- eCM: CM-1 ... CM-10, CM-SWDL -------------------------------------------------
    async def ecm(self) -> object | None:
        if not self.config.run_ecm:
            return ev.EcmOperational()
        for boot in range(MAX_UPGRADES_PER_WALK + 1):
            event = await self.ecm_boot(may_upgrade=boot < MAX_UPGRADES_PER_WALK)
            if event is not None:
                return event
            # installed: the eCM reboots and walks again from DHCP
        raise AssertionError("the last boot never upgrades")  # pragma: no cover

    async def ecm_boot(self, may_upgrade: bool = True) -> object | None:
        """One boot of the eCM: its event, or None when it installed an image and reboots."""
        self.software.reboot()
        self.close_cm_agent()
        try:
            cm = self.cm = await self.dora("cm", "CM-1...4")
        except ANSWER_ERRORS as exc:
            self.deviate("CM-1...4", f"CM DHCP answer does not decode: {exc}")
            cm = None
        if cm is None:
            return ev.EcmFailed("no CM lease")
        if self.result.rebooted_at and not self.result.reported_at:
            self.result.reported_at = time.time()  # the ACK to the first REQUEST naming the new version
        for problem in cm.problems:
            self.deviate("CM-4", problem)
        primary = cm.ccc.get("dhcp-server-1")
        if primary is None:
            self.deviate("CM-4", "the CM's ACK lacks option 122 sub-option 1 (the eMTA's DHCP server)")
        elif primary == NO_DHCP_SERVER:
            self.deviate("CM-4", "option 122.1 is 0.0.0.0: the eMTA is disabled and must not provision "
                                 "(RFC 3495 5.1)")
            return ev.EcmFailed("122.1 is 0.0.0.0")
        elif primary != ANY_DHCP_SERVER:
            self.dhcp_servers = {primary} | ({cm.ccc["dhcp-server-2"]} if "dhcp-server-2" in cm.ccc else set())
        await self.start_cm_agent(cm.yiaddr)
        if cm.time_servers:
            try:
                await net.tod((str(cm.time_servers[0]), self.config.tod_port), 0.5, 1, str(cm.yiaddr))
            except (TimeoutError, ValueError, OSError) as exc:
                self.deviate("CM-7/8", f"ToD server {cm.time_servers[0]}: {exc}")
        else:
            self.deviate("CM-4", "the CM's ACK names no time server (option 4)")
        if not cm.file:
            self.deviate("CM-4", "the CM's ACK names no config file")
            return ev.EcmOperational()
        config = await self.cm_file(cm)
        if config is None:
            return ev.EcmOperational()
        due = self.software.take_config(upgrade_of(config), cm.siaddr,
                                        None if may_upgrade else f"{MAX_UPGRADES_PER_WALK} upgrades in this walk")
        self.show_software()
        if isinstance(due, Result):
            self.upgrade_ended(due)
            return ev.EcmOperational()
        if due is None:
            return ev.EcmOperational()
        result = await self.download_code(due, cm.yiaddr)
        return None if result.outcome is Outcome.UPGRADED else ev.EcmOperational()

    async def cm_file(self, cm: Reply) -> ConfigFile | None:
        """CM-5/6: the config file, decoded (None when it did not arrive or decode)."""
        try:
            data = await net.tftp_get((str(cm.siaddr), self.config.tftp_port), cm.file, local_host=str(cm.yiaddr))
        except (net.DownloadError, OSError) as exc:
            self.deviate("CM-5/6", f"CM config file {cm.file}: {exc}")
            return None
        problem, config = cm_file_problem(data)
        if problem:
            self.deviate("CM-5/6", problem)
        return config

    # -- the software download (CM-SWDL) --------------------------------------------------
    async def download_code(self, attempt: Attempt, local: IPv4Address) -> Result:
        """The code file by TFTP (or HTTP, as docsDevSwServerTransportProtocol says) from the
        eCM's address, then verify and install it."""
        import aiohttp  # only when a modem downloads: a storm without upgrades never loads it

        self.show_software()
        http = attempt.transport == HTTP
        url = f"http://{attempt.server}:{self.config.cm_http_port}/{quote(attempt.filename)}" if http \
            else f"tftp://{attempt.server}/{attempt.filename}"
        try:
            if http:
                data = await net.http_get(url, timeout=HTTP_DOWNLOAD_TIMEOUT, local_host=str(local),
                                          max_bytes=MAX_CODE_FILE)
            else:
                data = await net.tftp_get((str(attempt.server), self.config.tftp_port), attempt.filename,
                                          local_host=str(local), max_bytes=MAX_CODE_FILE)
        except (net.DownloadError, OSError, aiohttp.ClientError, TimeoutError) as exc:
            missing = isinstance(exc, net.DownloadError) and exc.missing
            why = (str(exc) or type(exc).__name__).removeprefix(f"{url}: ")  # the URL once, below
            result = self.software.download_failed(attempt, missing, f"{url}: {why}")
        else:
            fetched = time.time()
            now = dt.datetime.now(dt.UTC)  # counts only with a clock-checking trust (docs/firmware.md)
            result = self.software.downloaded(attempt, data, now)
            if result.outcome is Outcome.UPGRADED:  # installed: the reboot follows at once
                r = self.result
                r.image_at, r.rebooted_at, r.reported_at, r.cm_image = fetched, time.time(), 0.0, attempt.filename
        self.show_software()
        self.upgrade_ended(result)
        return result

    def upgrade_ended(self, result: Result) -> None:
        self.result.upgrade = result.name
        self.result.cm_version = self.software.version
        if result.outcome is not Outcome.UPGRADED:
            self.deviate(STEP, f"software upgrade to {self.software.filename!r}: {result.name}")

    def show_software(self) -> None:
        self.keep_access()  # a CVC taken moves cvcAccessStart, an install codeAccessStart
        if self.cm_mib is not None:
            self.cm_mib.show()

    # -- the eCM's agent ------------------------------------------------------------------------
    async def start_cm_agent(self, address: IPv4Address) -> None:
        port = self.config.cm_agent_port
        if port is None:
            return
        if self.cm_mib is None:
            self.cm_mib = CmMib(self.software, {self.config.read_community: False,
                                                self.config.write_community: True}, self.upgrade_from_mgt)
        for attempt in range(AGENT_BIND_TRIES):
            try:
                self.cm_agent = await open_endpoint(str(address), port, self.cm_mib.answer)
                return
            except OSError as exc:
                # After a reboot the agent takes its number again: the last boot's socket closes
                # on a later loop turn, and a port prober of another process may hold it a moment.
                if exc.errno != errno.EADDRINUSE or attempt == AGENT_BIND_TRIES - 1:
                    self.deviate("CM-4", f"cannot answer SNMP on the CM's leased address {address}: {exc}")
                    return
                await asyncio.sleep(AGENT_BIND_WAIT)

    def close_cm_agent(self) -> None:
        if self.cm_agent is not None:
            self.cm_agent.close()
            self.cm_agent = None

    def upgrade_from_mgt(self) -> None:
        """docsDevSwAdminStatus := upgradeFromMgt(1): download now; installed, reboot."""
        due = self.software.from_mgt()
        self.show_software()
        if isinstance(due, Result):
            self.upgrade_ended(due)
            return
        assert self.cm is not None  # the agent answers on a lease
        self.sw_task = asyncio.ensure_future(self._from_mgt(due, self.cm.yiaddr))

    async def _from_mgt(self, attempt: Attempt, local: IPv4Address) -> None:
        result = await self.download_code(attempt, local)
        if result.outcome is Outcome.UPGRADED:
            self.request_reboot()


@lru_cache(maxsize=256)
def cm_file_problem(data: bytes) -> tuple[str, ConfigFile | None]:
    """What is wrong with a CM config file, or "", and the file decoded (remembered per
    distinct file: a storm's CMs mostly fetch the same bytes)."""
    try:
        cf = decode_file(data)
    except DecodeError as exc:
        return f"CM config file does not decode: {exc}", None
    if cf.mta:
        return "CM config file: an MTA file", None  # nothing in it is for the eCM
    if cf.problems:
        return f"CM config file: {'; '.join(cf.problems)}", cf
    return "", cf
