"""The DHCPv4 server as a sans-IO core (RFC 2131 §4.3, relays per RFC 1542/3046).

Calls, in the aioquic style::

    server.receive(datagram, (ip, port), now, link=None)   # never raises for bad input
    for reply in server.datagrams_to_send(): ...            # commits leases first
    server.next_event(); server.handle_timer(now); server.get_timer()

``datagrams_to_send`` makes every staged lease durable (``store.commit()``)
before it hands out the replies, so an ACK can never leave ahead of its
lease. A store shared with other servers may refuse a binding (another server's
client holds the address): the store's answer comes back as data, the address is
marked taken, and the ACK built for it becomes a NAK (the client starts over).

With a shared store, a client this server does not know (a DISCOVER, or a REQUEST for an
address it holds: INIT-REBOOT, RENEWING, REBINDING) may hold a binding another server made,
a server that may have died. Such datagrams wait until the batch ends; then one look-up
(:meth:`DhcpServer.lookups`, answered with :meth:`DhcpServer.learn`, by the store itself
unless the caller does) brings those clients' unexpired bindings, and the client is offered
or ACKed its own address instead of a new one or a NAK.

``link`` is the address of the interface a direct (unrelayed) request
came in on; relayed requests are placed by giaddr or option 82.5/118.

Every sender is untrusted. A RELEASE or DECLINE changes a lease only when it
comes from the lease holder on the path the binding came in on (see
:meth:`DhcpServer._off_path`), a client's DECLINEs are rate-limited, and
only Ethernet hardware addresses are served. Everything refused is dropped
and counted in ``metrics`` under a key naming the reason; every datagram that
gets no reply is also counted in ``drops`` under a short fixed reason (a metric
label: never text a sender chose).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from dhcp.errors import DhcpDecodeError, DhcpEncodeError
from dhcp.message import (
    BROADCAST,
    FIXED,
    HEADER,
    MAGIC,
    ZERO,
    Message,
    MessageType,
    Option,
    build_options,
    decode,
    encode,
    encode_options,
    fit,
    max_message_size,
)
from pktcable.store import Lease, LeaseState, LeaseStore, MemoryLeaseStore

from .config import DeviceClass, ServerConfig, Subnet
from .engine import LeaseEngine
from .events import Dropped, Event, FlowNotSupported, LeaseBound, LeaseDeclined, LeaseExpired, LeaseReleased
from .limits import DeclineLimiter
from .policy import Client, Policy, identify

LIMITED_BROADCAST = "255.255.255.255"
#: The only hardware the server leases to (RFC 1700 htype 1, 6-octet MAC): cable modems, eMTAs
#: and their CPE are all Ethernet; anything else would be keyed by bytes the MAC-based rules
#: (reservations, device store, file names) cannot see.
ETHERNET = (1, 6)
#: Message types that obtain an address, refused for other hardware.
_LEASING = (MessageType.DISCOVER, MessageType.REQUEST)
#: Seconds after an ACK within which the same REQUEST (same xid) again is the client's
#: retransmission: RFC 2131 §4.1 backs off 4, 8, 16, 32 s. Later, the same bytes are a new
#: exchange (a device rebooted with a poor xid generator) and start a new binding.
RETRANSMIT_WINDOW = 60.0
#: Datagrams of unknown clients one batch holds for its look-up in a shared store; past it they
#: are served from memory alone (a transport's batch is far smaller: BATCH in transport.py).
MAX_DEFERRED = 4096
_Handler = Callable[["DhcpServer", Message, "Client", float, IPv4Address | None, tuple[str, int]], None]


@dataclass(frozen=True, slots=True)
class Reply:
    data: bytes
    #: (address, port) to send to.
    addr: tuple[str, int]
    #: Unicast to a client that has no address yet: its MAC (the transport adds
    #: an ARP entry, or falls back to broadcast when it cannot).
    mac: bytes | None = None


class DhcpServer:
    def __init__(self, config: ServerConfig, store: LeaseStore | None = None) -> None:
        self.config = config
        self.store = store if store is not None else MemoryLeaseStore()
        self.policy = Policy(config)
        reserved = {r.address: r.mac for r in config.reservations if r.address is not None}
        self.engine = LeaseEngine(self.store, reserved, config.offer_hold, config.decline_hold, config.walk_seed)
        self.declines = DeclineLimiter(config.decline_limit, config.decline_window)
        self.server_id = config.server_id
        self._sid = config.server_id.packed
        self.metrics: Counter[str] = Counter()
        #: Datagrams that got no reply, by reason (pktcable_dhcp_dropped_total{reason}); keys are fixed words.
        self.drops: Counter[str] = Counter()
        self._out: list[Reply] = []
        self._events: deque[Event] = deque()
        #: address (int) -> what identifies the REQUEST its lease was last ACKed for (client, xid,
        #: ciaddr, giaddr, options 54 and 50): the same REQUEST retransmitted (RFC 2131 §4.1: same
        #: xid) gets the same ACK again but is no new binding for the embedder. A renewal is a new
        #: exchange even if a client reuses the xid (its ciaddr differs). One entry per leased
        #: address, so bounded by the pools.
        self._acked: dict[int, tuple[tuple[object, ...], float]] = {}
        #: ACKs built since the last commit: address -> [(index in ``_out``, the REQUEST, the client
        #: key)], so an ACK whose binding the store refuses can be turned into a NAK.
        self._pending: dict[IPv4Address, list[tuple[int, Message, str]]] = {}
        #: Latest ``now`` seen: the time the store judges other servers' leases expired at.
        self._now: float | None = None
        #: A shared store (other servers bind from the same table): datagrams of clients this
        #: server does not know wait here until the batch's one look-up (:meth:`lookups`).
        self._shared = bool(getattr(self.store, "shared", False))
        self._deferred: list[tuple[_Handler, Message, Client, float, IPv4Address | None, tuple[str, int]]] = []
        self._wanted: dict[str, None] = {}

    # -- the sans-IO interface -------------------------------------------------------------------------

    def receive(self, data: bytes, addr: tuple[str, int], now: float, link: IPv4Address | None = None) -> None:
        self.metrics["received"] += 1
        self._now = now if self._now is None else max(self._now, now)
        try:
            msg = decode(data)
            if msg.op != 1:
                return self._drop("not-bootrequest", "not a BOOTREQUEST", addr)
            client = identify(msg, self.policy.vendor_cache)
        except DhcpDecodeError as exc:
            self.metrics["malformed"] += 1
            self.drops["malformed"] += 1
            self._events.append(Dropped(f"malformed: {exc}", addr))
            return None
        kind = msg.message_type
        handler = _HANDLERS.get(kind) if kind is not None else None
        if handler is None:
            return self._drop("unsupported-type", f"message type {kind} is not served", addr)
        if kind in _LEASING and (msg.htype, msg.hlen) != ETHERNET:
            return self._refuse("bad-hardware", f"htype {msg.htype} hlen {msg.hlen} is not Ethernet", addr)
        # A client's later datagrams wait behind its first (its REQUEST must not overtake its DISCOVER).
        if self._shared and len(self._deferred) < MAX_DEFERRED and \
                (client.key in self._wanted or self._unknown(msg, client, now)):
            self._deferred.append((handler, msg, client, now, link, addr))
            self._wanted[client.key] = None
            return None
        return self._dispatch(handler, msg, client, now, link, addr)

    def _dispatch(self, handler: _Handler, msg: Message, client: Client, now: float, link: IPv4Address | None,
                  addr: tuple[str, int]) -> None:
        try:
            handler(self, msg, client, now, link, addr)
        except DhcpEncodeError as exc:  # a configured option that cannot be encoded for this client
            self.metrics["reply-errors"] += 1
            self.drops["reply-error"] += 1
            self._events.append(Dropped(f"reply not built: {exc}", addr))

    def _unknown(self, msg: Message, client: Client, now: float) -> bool:
        """Whether this datagram is about a binding this server may not know: a client it has
        no lease for starting over (DISCOVER) or asking for an address it holds elsewhere
        (INIT-REBOOT, RENEWING/REBINDING). Answers to our own OFFER need no look-up."""
        kind = msg.message_type
        lease = self.engine.lease_of(client.key)
        if kind == MessageType.DISCOVER:  # even with an offer here: the client may have taken another node's
            return lease is None and client.mac not in self.policy.reservations
        if kind != MessageType.REQUEST or msg.get(54) is not None:
            return False
        wanted = _address(msg.get(50)) or (msg.ciaddr if msg.ciaddr != ZERO else None)
        return wanted is not None and (lease is None or lease.address != wanted)

    def lookups(self) -> list[str]:
        """Clients (their keys) whose bindings in the shared table the datagrams waiting here
        need: the caller answers with :meth:`learn` (``datagrams_to_send`` asks the store
        itself when nobody did)."""
        return list(self._wanted)

    def learn(self, bindings: list[Lease]) -> None:
        """The shared table's answer to :meth:`lookups`: the bound, unexpired leases those
        clients hold, written by any server. Each is served as this server's own (a client
        of a node that died keeps its address); then the waiting datagrams are handled."""
        latest: dict[str, Lease] = {}
        for lease in bindings:
            if lease.client in self._wanted and lease.state is LeaseState.BOUND and \
                    (lease.client not in latest or lease.expires > latest[lease.client].expires):
                latest[lease.client] = lease
        for lease in latest.values():
            self.engine.learn(lease)
            self.metrics["taken-over"] += 1
        deferred, self._deferred, self._wanted = self._deferred, [], {}
        for handler, msg, client, now, link, addr in deferred:
            self._dispatch(handler, msg, client, now, link, addr)

    def datagrams_to_send(self) -> list[Reply]:
        if self._deferred:
            self.learn(self.store.bindings_of(self._wanted, self._now or 0.0))
        taken = self.store.commit(self._now)  # durable before any ACK leaves
        pending, self._pending = self._pending, {}
        refused = sum(self._taken(holder, pending.get(holder.address, [])) for holder in taken)
        # Counted here, once the store has spoken: a counter must never go back down.
        self.metrics["acks"] += sum(map(len, pending.values())) - refused
        out, self._out = self._out, []
        return out

    def _taken(self, holder: Lease, pending: list[tuple[int, Message, str]]) -> int:
        """Another server's client holds ``holder.address``: learn it, and NAK each REQUEST whose
        ACK (to a different client) the store refused to record. How many ACKs were NAKed."""
        self.engine.taken(holder)
        self.metrics["taken-elsewhere"] += 1
        refused = [(index, msg, client) for index, msg, client in pending if client != holder.client]
        for index, msg, _ in refused:
            self._out[index] = self._nak_reply(msg, "address taken by another server")
            self.metrics["naks"] += 1
        if any(isinstance(e, LeaseDeclined) and e.address == holder.address for e in self._events):
            # A DECLINE whose quarantine the table refused: the address is another client's now
            # (given out after the decliner's lease ran out), not in use by a stranger.
            self.metrics["declines-refused"] += 1
            self._events = deque(e for e in self._events
                                 if not (isinstance(e, LeaseDeclined) and e.address == holder.address))
        if refused:
            self._acked.pop(int(holder.address), None)
            losers = {client for _, _, client in refused}
            self._events = deque(e for e in self._events
                                 if not (isinstance(e, LeaseBound) and e.lease.address == holder.address
                                         and e.lease.client in losers))
        return len(refused)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def handle_timer(self, now: float) -> None:
        for lease in self.engine.expire(now):
            self.metrics["expired"] += 1
            self._events.append(LeaseExpired(lease))

    def get_timer(self) -> float | None:
        return self.engine.next_deadline()

    def devices_behind(self, cm_mac: str) -> list[Lease]:
        """Leases whose requests came with this CM MAC as option 82 remote id."""
        return self.engine.leases_with_remote_id(cm_mac.lower())

    # -- message handlers ------------------------------------------------------------------------------

    def _drop(self, key: str, reason: str, addr: object) -> None:
        """No reply: counted under ``key`` (a fixed word), reported with ``reason``."""
        self.metrics["dropped"] += 1
        self.drops[key] += 1
        self._events.append(Dropped(reason, addr))

    def _refuse(self, key: str, reason: str, addr: object) -> None:
        """Drop a datagram a hostile or confused sender could have sent; counted under ``key``."""
        self.metrics[key] += 1
        self._drop(key, f"{key}: {reason}", addr)

    def _off_path(self, msg: Message, client: Client, lease: Lease, addr: tuple[str, int],
                  kind: str) -> str | None:
        """Why a RELEASE/DECLINE (``kind``) for ``lease`` is not from its holder on the binding's
        path, or None when it is. The path is the relay (giaddr) and the option 82 remote and
        circuit id the binding came with. A RELEASE that bypasses the relay (RFC 2131 §4.4.6:
        unicast straight to the server) is the holder's only when it comes from the leased
        address itself; a direct DECLINE of a direct binding comes from 0.0.0.0 or that address."""
        if lease.client != client.key:
            return f"{kind}-not-holder"
        if msg.giaddr != ZERO:
            if str(msg.giaddr) != lease.giaddr:
                return f"{kind}-wrong-relay"
            if client.remote_id != lease.remote_id or client.circuit_id != lease.circuit_id:
                return f"{kind}-wrong-option-82"
            return None
        source = addr[0] if isinstance(addr, tuple) and addr else ""
        if kind == "release":
            return None if source == str(lease.address) else f"{kind}-wrong-source"
        if lease.giaddr:
            return f"{kind}-wrong-relay"
        return None if source in ("0.0.0.0", str(lease.address)) else f"{kind}-wrong-source"

    def _place(self, msg: Message, client: Client, link: IPv4Address | None) -> tuple[list[Subnet], DeviceClass] | None:
        # RFC 3527/3011 link selection, else the relay, else a bound client's own address
        # (renewing/INFORM), else the link the datagram arrived on.
        where = client.link_selection or (msg.giaddr if msg.giaddr != ZERO else
                                          msg.ciaddr if msg.ciaddr != ZERO else link or self.server_id)
        subnets = self.policy.subnets(where)
        cls = self.policy.device_class(client)
        if not subnets or cls is None:
            if not subnets:
                self._drop("no-subnet", f"no subnet for {where}", client.mac)
            else:
                self._drop("no-device-class", f"no device class for {client.kind}", client.mac)
            return None
        return subnets, cls

    def _discover(self, msg: Message, client: Client, now: float, link: IPv4Address | None,
                  addr: tuple[str, int]) -> None:
        placed = self._place(msg, client, link)
        if placed is None:
            return
        subnets, cls = placed
        reservation = self.policy.reservations.get(client.mac)
        requested = _address(msg.get(50))
        address = self.engine.choose(client.key, client.mac, self.policy.pools(subnets, cls), requested,
                                     reservation.address if reservation else None, now)
        if address is None:
            self.metrics["pool-exhausted"] += 1
            return self._drop("pool-exhausted", "no free address", client.mac)
        self.engine.offer(client.key, address, now)
        self._reply(msg, client, MessageType.OFFER, address, subnets, cls)
        self.metrics["offers"] += 1

    def _request(self, msg: Message, client: Client, now: float, link: IPv4Address | None,
                 addr: tuple[str, int]) -> None:
        server_id = _address(msg.get(54))
        requested = _address(msg.get(50))
        lease = self.engine.lease_of(client.key)
        if server_id is not None:  # SELECTING: answer to our own OFFER (or to another server's)
            if server_id != self.server_id:
                self.engine.withdraw(client.key)
                self.metrics["other-server"] += 1
                self.drops["other-server"] += 1
                return
            address = requested or (msg.ciaddr if msg.ciaddr != ZERO else None)
            if address is not None and address == self.engine.offer_of(client.key, now):
                return self._ack(msg, client, address, now, link)
            if address is not None and lease is not None and lease.address == address and \
                    self.engine.available(address, client.key, client.mac, now):
                return self._ack(msg, client, address, now, link)
            return self._nak(msg, "offer expired or address not offered to this client")
        if requested is not None:  # INIT-REBOOT: verify a remembered address
            placed = self._place(msg, client, link)
            if placed is None:
                return
            if self.policy.subnet_of(placed[0], requested) is None:
                return self._nak(msg, "address is not on this network")
            if lease is not None and lease.address == requested and \
                    self.engine.available(requested, client.key, client.mac, now):
                return self._ack(msg, client, requested, now, link)
            if self.config.authoritative:
                return self._nak(msg, "no lease for this address")
            return self._drop("unknown-lease", "init-reboot for an unknown lease", client.mac)
        if msg.ciaddr == ZERO:
            return self._drop("incomplete-request", "REQUEST without server id, requested address or ciaddr",
                              client.mac)
        # RENEWING (unicast) or REBINDING (broadcast): extend the lease on ciaddr.
        if lease is not None and lease.address == msg.ciaddr and lease.state is LeaseState.BOUND and \
                self.engine.available(msg.ciaddr, client.key, client.mac, now):
            return self._ack(msg, client, msg.ciaddr, now, link)
        if self.config.authoritative:
            return self._nak(msg, "no lease for ciaddr")
        return self._drop("unknown-lease", "renewal of an unknown lease", client.mac)

    def _ack(self, msg: Message, client: Client, address: IPv4Address, now: float,
             link: IPv4Address | None) -> None:
        placed = self._place(msg, client, link)
        if placed is None:
            return
        subnets, cls = placed
        subnet = self.policy.subnet_of(subnets, address)
        if subnet is None or not any(address in p for p in self.policy.pools(subnets, cls)) and \
                address != getattr(self.policy.reservations.get(client.mac), "address", None):
            return self._nak(msg, "address is not in a pool of this client's class")
        hostname = (msg.get(12) or b"").decode("utf-8", "replace")
        giaddr, remote_id, circuit_id = "" if msg.giaddr == ZERO else _text(msg.giaddr), client.remote_id, \
            client.circuit_id
        old = self.engine.lease_of(client.key)
        exchange = (client.key, msg.xid, msg.ciaddr, msg.giaddr, msg.get(54), msg.get(50))
        first = self._acked.get(int(address))
        repeated = old is not None and old.address == address and old.state is LeaseState.BOUND and \
            old.expires > now and first is not None and first[0] == exchange and now - first[1] < RETRANSMIT_WINDOW
        if msg.giaddr == ZERO and msg.ciaddr == address and old is not None and old.address == address:
            # A unicast renewal skips the relay and says nothing about the path: keep the
            # binding's, which is where a RELEASE/DECLINE must come from.
            giaddr, remote_id, circuit_id = old.giaddr, old.remote_id, old.circuit_id
        lease = self.engine.bind(Lease(address, client.key, client.mac, now + cls.lease_time, LeaseState.BOUND,
                                       cls.name, self.policy.network_text(subnet), remote_id, hostname, giaddr, circuit_id))
        self._reply(msg, client, MessageType.ACK, address, subnets, cls)
        self._pending.setdefault(address, []).append((len(self._out) - 1, msg, client.key))  # counted once committed
        if repeated:  # the client missed our ACK and asked again: nothing new happened
            self.metrics["retransmitted-requests"] += 1
            return
        self._acked[int(address)] = (exchange, now)
        realm = self.policy.realm(client, cls)[0] if client.kind == "mta" else None
        # RENEWING/REBINDING (RFC 2131 4.3.2: ciaddr, no server id, no requested address) of
        # the binding the client holds: the same binding, longer; a reboot asks anew.
        renewal = old is not None and old.address == address and old.state is LeaseState.BOUND and \
            old.expires > now and msg.ciaddr == address and msg.get(54) is None and msg.get(50) is None
        self._events.append(LeaseBound(lease, client.kind, client.version, realm, client.vendor, renewal,
                                           client.report))

    def _nak(self, msg: Message, reason: str) -> None:
        self._out.append(self._nak_reply(msg, reason))
        self.metrics["naks"] += 1

    def _nak_reply(self, msg: Message, reason: str) -> Reply:
        reply = _reply_header(msg, ZERO)
        fit(reply, build_options([(53, b"\x06"), (54, self._sid), (56, reason.encode())]
                                 + ([(82, msg.get(82) or b"")] if msg.get(82) is not None else [])))
        if msg.giaddr != ZERO:
            reply.flags |= BROADCAST  # the relay must broadcast a NAK on the client's link
            dest = (_text(msg.giaddr), self.config.relay_port)
        else:
            dest = (LIMITED_BROADCAST, self.config.client_port)
        return Reply(encode(reply), dest)

    def _decline(self, msg: Message, client: Client, now: float, link: IPv4Address | None,
                 addr: tuple[str, int]) -> None:
        address = _address(msg.get(50))
        if _address(msg.get(54)) not in (None, self.server_id) or address is None:
            return self._drop("incomplete-decline", "DECLINE for another server or without an address", client.mac)
        lease = self.engine.by_address.get(address)
        if lease is None or lease.state is not LeaseState.BOUND or self.engine.lease_of(client.key) is not lease:
            return self._refuse("decline-not-holder", "DECLINE of an address this client does not hold", addr)
        refused = self._off_path(msg, client, lease, addr, "decline") or self.declines.refuse(client.key, now)
        if refused is not None:
            return self._refuse(refused, f"DECLINE of {address} by {client.mac}", addr)
        self.engine.decline(address, client.key, now)
        self.metrics["declines"] += 1
        self._events.append(LeaseDeclined(address, client.mac))

    def _release(self, msg: Message, client: Client, now: float, link: IPv4Address | None,
                 addr: tuple[str, int]) -> None:
        lease = self.engine.by_address.get(msg.ciaddr)
        if lease is None or lease.state is not LeaseState.BOUND:
            return self._refuse("release-not-holder", "RELEASE of an address this client does not hold", addr)
        refused = self._off_path(msg, client, lease, addr, "release")
        if refused is not None:
            return self._refuse(refused, f"RELEASE of {msg.ciaddr} by {client.mac}", addr)
        self.engine.release(lease, now)
        self.metrics["releases"] += 1
        self._events.append(LeaseReleased(lease))

    def _inform(self, msg: Message, client: Client, now: float, link: IPv4Address | None,
                addr: tuple[str, int]) -> None:
        if msg.ciaddr == ZERO:
            return self._drop("incomplete-inform", "INFORM without ciaddr", client.mac)
        placed = self._place(msg, client, link)
        if placed is None:
            return
        self._reply(msg, client, MessageType.ACK, ZERO, *placed, inform=True)
        self.metrics["informs"] += 1

    # -- replies ---------------------------------------------------------------------------------------

    def _reply(self, msg: Message, client: Client, kind: MessageType, address: IPv4Address,
               subnets: list[Subnet], cls: DeviceClass, inform: bool = False) -> None:
        subnet = self.policy.subnet_of(subnets, address) if not inform else \
            self.policy.subnet_of(subnets, msg.ciaddr) or subnets[0]
        assert subnet is not None  # the callers chose address from these subnets' pools
        realm, allowed = self.policy.realm(client, cls) if client.kind == "mta" else (None, True)
        if not allowed:
            self._events.append(FlowNotSupported(client.mac, realm or ""))
        values = {"mac": client.mac.replace(":", ""), "mac_colon": client.mac, "class_name": cls.name,
                  "version": client.version}
        extra, siaddr, boot = self.policy.device_options(client, cls, realm, values)
        file = boot[:127].ljust(128, b"\0") if boot else _NO_FILE
        relay = msg.get(82)
        dest = self._destination(msg, address, inform)
        if relay is None or len(relay) <= 255:
            # The usual reply: every option fits the options field. The bytes are the ones
            # fit() and encode() would give, written straight from the pre-encoded blocks.
            options = b"".join((b"\x35\x01", _KIND[kind], b"\x36\x04", self._sid,
                                self.policy.static_option_block(subnet, cls, inform),
                                encode_options(extra) if extra else b"",
                                b"" if relay is None else bytes((82, len(relay))) + relay, b"\xff"))
            if FIXED + len(options) <= max_message_size(msg):
                header = HEADER.pack(2, msg.htype, msg.hlen, 0, msg.xid, 0, msg.flags,
                                     msg.ciaddr.packed if inform else _ZERO4, address.packed,
                                     siaddr.packed if siaddr is not None else _ZERO4, msg.giaddr.packed,
                                     msg.chaddr, _NO_SNAME, file)
                self._out.append(Reply(header + MAGIC + options, *dest))
                return
        # Too long for the client's maximum size: fit() moves options into file/sname (option 52).
        reply = _reply_header(msg, address)
        if siaddr is not None:
            reply.siaddr = siaddr
        reply.file = file
        if inform:
            reply.ciaddr = msg.ciaddr
        body = [Option(53, bytes((kind,))), Option(54, self._sid),
                *self.policy.static_option_list(subnet, cls, inform), *extra]
        if relay is not None:
            body.append(Option(82, relay))  # RFC 3046 §2.2: echo the relay agent information
        fit(reply, body, max_message_size(msg))
        self._out.append(Reply(encode(reply), *dest))

    def _destination(self, msg: Message, yiaddr: IPv4Address, inform: bool) -> tuple[tuple[str, int], bytes | None]:
        """RFC 2131 §4.1, the paragraph on where a server sends its reply."""
        if msg.giaddr != ZERO:
            return (_text(msg.giaddr), self.config.relay_port), None
        if msg.ciaddr != ZERO:
            return (_text(msg.ciaddr), self.config.client_port), None
        if msg.flags & BROADCAST:
            return (LIMITED_BROADCAST, self.config.client_port), None
        return (_text(yiaddr), self.config.client_port), msg.mac


def _text(address: IPv4Address) -> str:
    """Dotted quad, about twice as fast as ``str()`` (which goes through ipaddress's generic path)."""
    a, b, c, d = address.packed
    return f"{a}.{b}.{c}.{d}"


_KIND = {kind: bytes((kind,)) for kind in MessageType}
_ZERO4, _NO_SNAME, _NO_FILE = bytes(4), bytes(64), bytes(128)


def _reply_header(msg: Message, yiaddr: IPv4Address) -> Message:
    return Message(op=2, htype=msg.htype, hlen=msg.hlen, hops=0, xid=msg.xid, secs=0, flags=msg.flags,
                   yiaddr=yiaddr, giaddr=msg.giaddr, chaddr=msg.chaddr)


def _address(raw: bytes | None) -> IPv4Address | None:
    return IPv4Address(raw) if raw is not None and len(raw) == 4 else None


#: By option 53 value (plain ints: an IntEnum key hashes as its value, no enum built per packet).
_HANDLERS: dict[int, _Handler] = {
    MessageType.DISCOVER: DhcpServer._discover,
    MessageType.REQUEST: DhcpServer._request,
    MessageType.DECLINE: DhcpServer._decline,
    MessageType.RELEASE: DhcpServer._release,
    MessageType.INFORM: DhcpServer._inform,
}
