"""Who a client is and what it gets: device class, subnet, and the reply's options.

Kept apart from the lease engine so the rules read as docs/dhcp.md ("Server")
states them: classify by option 60 (and 43.2 when 60 is missing),
correlate by option 82 remote id, pick the MTA realm its capabilities allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from dhcp.capabilities import VENDOR_CLASS, VendorClass
from dhcp.message import Message, Option, build_options
from dhcp.message import encode_options as encode_option_instances
from dhcp.options import CCC, DHCP4, SPACES, decode_space, encode_space, encode_value
from pktcable.flow import realm_family

from .config import DeviceClass, Pool, Reservation, ServerConfig, Subnet
from .events import REPORT_SUBOPTIONS, DeviceReport
from .limits import SUBNET_CACHE_LIMIT, VENDOR_CACHE_LIMIT, VENDOR_CACHE_MAX_KEY, ClearingCache

_RELAY = SPACES["relay-agent"]
_CLIENT43 = SPACES["cablelabs-client"]


@dataclass(slots=True)
class Client:
    """What one request says about its sender (decoded once per request)."""

    key: str
    mac: str
    kind: str  # cm, mta, cpe
    version: str
    vendor: VendorClass | None
    remote_id: str
    #: Option 82.1 as hex ("" when absent): the relay's port for this client.
    circuit_id: str
    link_selection: IPv4Address | None
    device_type: str  # option 43.2
    report: DeviceReport | None = None  # option 43.5, .6, .9, .10


def vendor_class(raw60: bytes, cache: ClearingCache[bytes, VendorClass] | None) -> VendorClass:
    """Option 60 decoded. It repeats across a whole model line (same firmware,
    same capability string), so a server keeps the decoded forms in ``cache``;
    bounded in entries and key length, since clients choose the bytes.
    Malformed ones are not kept."""
    found = cache.get(raw60) if cache is not None else None
    if found is None:
        found = VENDOR_CLASS.decode(raw60)
        if cache is not None and len(raw60) <= VENDOR_CACHE_MAX_KEY:
            cache.put(raw60, found)
    return found


def identify(msg: Message, vendor_cache: ClearingCache[bytes, VendorClass] | None = None) -> Client:
    """Raises DhcpDecodeError when option 60, 43 or 82 is malformed."""
    client_id = msg.get(61)
    mac = msg.mac.hex(":")
    key = "id:" + client_id.hex() if client_id else f"{msg.htype:02x}:{msg.mac.hex()}"
    raw60 = msg.get(60)
    vendor = vendor_class(raw60, vendor_cache) if raw60 is not None else None
    kind, version = (vendor.kind, vendor.version) if vendor is not None and vendor.kind else ("cpe", "")
    device_type = ""
    report: dict[str, str] = {}
    raw43 = msg.get(43)
    if raw43 is not None and kind != "cpe":
        for item in decode_space(_CLIENT43, raw43, 0, 43):
            if item.name == "device-type":
                device_type = item.value
            elif item.code in REPORT_SUBOPTIONS:
                report[REPORT_SUBOPTIONS[item.code]] = item.value
    remote_id, circuit_id, link = "", "", None
    raw82 = msg.get(82)
    if raw82 is not None:
        for item in decode_space(_RELAY, raw82, 0, 82):
            if item.code == 1:
                circuit_id = item.value.hex(":")
            elif item.code == 2:
                remote_id = item.value.hex(":")
            elif item.code == 5:
                link = item.value
    if raw82 is None or link is None:
        raw118 = msg.get(118)
        if raw118 is not None and len(raw118) == 4:
            link = IPv4Address(raw118)
    return Client(key, mac, kind, version, vendor, remote_id, circuit_id, link, device_type,
                  DeviceReport(**report) if report else None)


class Policy:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.reservations: dict[str, Reservation] = {r.mac: r for r in config.reservations}
        self.classes = {c.name: c for c in config.classes}
        #: link -> the subnets it selects. Senders choose the links (giaddr, ciaddr, 82.5, 118),
        #: so the cache is bounded and its lists are shared: one per distinct answer.
        self._subnets: ClearingCache[IPv4Address, list[Subnet]] = ClearingCache(SUBNET_CACHE_LIMIT)
        self._subnet_lists: dict[tuple[int, ...], list[Subnet]] = {}
        self._static: dict[tuple[int, str], list[tuple[int, bytes]]] = {}
        self.vendor_cache: ClearingCache[bytes, VendorClass] = ClearingCache(VENDOR_CACHE_LIMIT)
        self._static_lists: dict[tuple[int, str, bool], list[Option]] = {}
        self._static_blocks: dict[tuple[int, str, bool], bytes] = {}
        self._pools: dict[tuple[int, str], tuple[list[Subnet], list[Pool]]] = {}
        self._network_text: dict[int, str] = {}

    def device_class(self, client: Client) -> DeviceClass | None:
        reservation = self.reservations.get(client.mac)
        if reservation is not None and reservation.device_class is not None:
            return self.classes[reservation.device_class]
        for cls in self.config.classes:
            if cls.kind in (client.kind, "any") and (not cls.versions or client.version in cls.versions):
                return cls
        return None

    def subnets(self, link: IPv4Address) -> list[Subnet]:
        found = self._subnets.get(link)
        if found is None:
            chosen = tuple(i for i, s in enumerate(self.config.subnets) if link in s.network or link in s.relays)
            found = self._subnet_lists.get(chosen)
            if found is None:  # one per combination the configuration allows: not sender-chosen
                found = self._subnet_lists[chosen] = [self.config.subnets[i] for i in chosen]
            self._subnets.put(link, found)
        return found

    def pools(self, subnets: list[Subnet], cls: DeviceClass) -> list[Pool]:
        # ``subnets`` is one of the shared lists :meth:`subnets` keeps for good (or the
        # configuration's own), so its identity names it; one entry per (list, class).
        key = (id(subnets), cls.name)
        found = self._pools.get(key)
        if found is None or found[0] is not subnets:
            found = self._pools[key] = (subnets, [p for s in subnets for p in s.pools
                                                  if not p.classes or cls.name in p.classes])
        return found[1]

    def network_text(self, subnet: Subnet) -> str:
        """``str(subnet.network)``, made once: every lease row carries it."""
        found = self._network_text.get(id(subnet))
        if found is None:
            found = self._network_text[id(subnet)] = str(subnet.network)
        return found

    def subnet_of(self, subnets: list[Subnet], address: IPv4Address) -> Subnet | None:
        for subnet in subnets:  # a loop, not next(genexpr): this runs two or three times per packet
            if address in subnet.network:
                return subnet
        return None

    def static_options(self, subnet: Subnet, cls: DeviceClass) -> list[tuple[int, bytes]]:
        """Subnet then class options, encoded once (class wins on the same code)."""
        key = (id(subnet), cls.name)
        cached = self._static.get(key)
        if cached is None:
            merged: dict[int, bytes] = {}
            for source in (subnet.options, cls.options):
                merged.update(encode_options(source))
            merged[51] = cls.lease_time.to_bytes(4, "big")
            merged[58] = (cls.lease_time // 2).to_bytes(4, "big")
            merged[59] = (cls.lease_time * 7 // 8).to_bytes(4, "big")
            cached = self._static[key] = sorted(merged.items())
        return cached

    def static_option_list(self, subnet: Subnet, cls: DeviceClass, inform: bool) -> list[Option]:
        """:meth:`static_options` as option instances, built once per
        (subnet, class) and shared by every reply (nothing mutates them);
        an INFORM's reply carries no lease times (RFC 2131 3.4)."""
        key = (id(subnet), cls.name, inform)
        found = self._static_lists.get(key)
        if found is None:
            pairs = self.static_options(subnet, cls)
            if inform:
                pairs = [(c, v) for c, v in pairs if c not in (51, 58, 59)]
            found = self._static_lists[key] = build_options(pairs)
        return found

    def static_option_block(self, subnet: Subnet, cls: DeviceClass, inform: bool) -> bytes:
        """:meth:`static_option_list` encoded, once per (subnet, class): most of every reply."""
        key = (id(subnet), cls.name, inform)
        found = self._static_blocks.get(key)
        if found is None:
            found = self._static_blocks[key] = encode_option_instances(self.static_option_list(subnet, cls, inform))
        return found

    def realm(self, client: Client, cls: DeviceClass) -> tuple[str | None, bool]:
        """The realm for an MTA and whether its capabilities allow it (its option-60 TLV 18)."""
        reservation = self.reservations.get(client.mac)
        choices = (reservation.realm,) if reservation is not None and reservation.realm else cls.realms
        if not choices:
            return None, True
        flows = client.vendor.capability("prov-flows") if client.vendor is not None else None
        if not isinstance(flows, int):
            return choices[0], True  # no TLV 18: nothing to check against
        for realm in choices:
            if flows & realm_family(realm).value:
                return realm, True
        return choices[0], False

    def device_options(self, client: Client, cls: DeviceClass, realm: str | None,
                       values: dict[str, Any]) -> tuple[list[Option], IPv4Address | None, bytes]:
        """Per-device options (12, 122, reservation overrides), siaddr and the boot file."""
        reservation = self.reservations.get(client.mac)
        extra: dict[int, bytes] = {}
        ccc = dict(cls.ccc)
        hostname, filename = cls.hostname, cls.filename
        if reservation is not None:
            ccc.update(reservation.ccc)
            extra.update(encode_options(reservation.options))
            hostname = reservation.hostname or hostname
            filename = reservation.filename or filename
        if realm is not None:
            ccc["realm"] = realm
        if ccc:
            extra[122] = encode_space(CCC, sorted(ccc.items(), key=lambda kv: CCC.row(kv[0]).code), 122)
        if hostname:
            extra[12] = hostname.format(**values).encode()
        # Basic flows and cable modems name their config file in siaddr/file;
        # Hybrid and Secure MTAs learn it from the provisioning server instead.
        boot = b""
        siaddr = None
        if filename and (cls.kind != "mta" or realm is None or realm_family(realm).file_in_dhcp):
            boot = filename.format(**values).encode()
            siaddr = cls.next_server
        return build_options(sorted(extra.items())), siaddr, boot


def encode_options(values: dict[str, Any]) -> dict[int, bytes]:
    out = {}
    for key, value in values.items():
        row = DHCP4.row(int(key) if isinstance(key, int) or str(key).isdigit() else key)
        out[row.code] = value if isinstance(value, bytes) else encode_value(row, value)
    return out
