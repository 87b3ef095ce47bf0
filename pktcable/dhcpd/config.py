"""Configuration of the DHCPv4 server as dataclasses (``load_toml`` reads the same from a file).

Device classes follow rule 1 of the spec notes (dhcp.md §10): option 60
``docsis*`` is a cable modem, ``pktc*`` an MTA, anything else other CPE. Each
class carries its pool restriction, lease time, options, option 122 and boot
file; a reservation (by MAC) overrides any of these for one device.
Templates in ``filename``/``hostname`` may use ``{mac}`` (12 hex digits),
``{mac_colon}``, ``{class_name}`` and ``{version}``.

Settings of ``[server]`` that guard against hostile clients (every one has a
default; ``pktcable serve`` takes them in its ``[dhcp]`` table's ``[dhcp.server]``):

``decline_limit`` (default 3) and ``decline_window`` (default 3600 s)
    A client may quarantine at most ``decline_limit`` addresses by DECLINE per
    ``decline_window`` seconds; further DECLINEs are dropped and counted as
    ``decline-limit``. 0 honours no DECLINE at all.

Not settings but rules: RELEASE and DECLINE are honoured only from the lease
holder on the path its binding came in on (same client identity, giaddr and
option 82 remote and circuit id; a RELEASE without a relay only from the
leased address itself), and DISCOVER/REQUEST only for Ethernet hardware
addresses (htype 1, hlen 6).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Pool:
    start: IPv4Address
    end: IPv4Address
    #: Class names allowed to draw from this pool; empty means every class.
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.start, self.end = IPv4Address(self.start), IPv4Address(self.end)
        if self.end < self.start:
            raise ValueError(f"pool {self.start} - {self.end} ends before it starts")
        self.classes = tuple(self.classes)

    def __contains__(self, address: IPv4Address) -> bool:
        return self.start <= address <= self.end


@dataclass(slots=True)
class Subnet:
    network: IPv4Network
    pools: list[Pool]
    #: Options for every client on the subnet, by dhcp4 option name or code (1 and 3 usually).
    options: dict[str, Any] = field(default_factory=dict)
    #: Further relay addresses (giaddr) that select this subnet: a CMTS shared network.
    relays: tuple[IPv4Address, ...] = ()

    def __post_init__(self) -> None:
        self.network = IPv4Network(self.network)
        self.relays = tuple(IPv4Address(r) for r in self.relays)
        self.options.setdefault("subnet-mask", self.network.netmask)
        for pool in self.pools:
            if pool.start not in self.network or pool.end not in self.network:
                raise ValueError(f"pool {pool.start} - {pool.end} is not inside {self.network}")


@dataclass(slots=True)
class DeviceClass:
    name: str
    #: Which clients it matches: "cm", "mta", "cpe" or "any".
    kind: str
    #: Only these versions from option 60 ("3.0", "1.5"); empty matches all.
    versions: tuple[str, ...] = ()
    lease_time: int = 3600
    options: dict[str, Any] = field(default_factory=dict)
    #: Option 122 sub-options by name (CM: dhcp-server-1/2; MTA: prov-server, timers ...).
    ccc: dict[str, Any] = field(default_factory=dict)
    #: MTA realms in order of preference; the first one the MTA's capability
    #: TLV 18 supports is sent (BASIC.1, BASIC.2, HYBRID.1, HYBRID.2 or a Kerberos realm).
    realms: tuple[str, ...] = ()
    next_server: IPv4Address | None = None
    filename: str | None = None
    hostname: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("cm", "mta", "cpe", "any"):
            raise ValueError(f"class {self.name}: kind must be cm, mta, cpe or any, not {self.kind!r}")
        self.versions, self.realms = tuple(self.versions), tuple(self.realms)
        if self.next_server is not None:
            self.next_server = IPv4Address(self.next_server)


@dataclass(slots=True)
class Reservation:
    mac: str
    address: IPv4Address | None = None
    device_class: str | None = None
    realm: str | None = None
    filename: str | None = None
    hostname: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    ccc: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mac = normalize_mac(self.mac)
        if self.address is not None:
            self.address = IPv4Address(self.address)


def default_classes() -> list[DeviceClass]:
    return [DeviceClass("cm", "cm"), DeviceClass("mta", "mta", realms=("BASIC.1",)), DeviceClass("cpe", "any")]


@dataclass(slots=True)
class ServerConfig:
    #: Option 54 and the address relays send to.
    server_id: IPv4Address
    subnets: list[Subnet]
    classes: list[DeviceClass] = field(default_factory=default_classes)
    reservations: list[Reservation] = field(default_factory=list)
    #: How long an offered address stays set aside for the client.
    offer_hold: float = 30.0
    #: How long a declined address stays out of use.
    decline_hold: float = 3600.0
    #: NAK requests for addresses we hold no record of (instead of staying silent).
    authoritative: bool = True
    #: UDP ports: replies to relays go to relay_port, to clients to client_port.
    relay_port: int = 67
    client_port: int = 68
    #: At most this many DECLINEs (each quarantines an address for ``decline_hold``) per client
    #: per ``decline_window`` seconds: a client cannot empty a pool by declining.
    decline_limit: int = 3
    decline_window: float = 3600.0

    def __post_init__(self) -> None:
        self.server_id = IPv4Address(self.server_id)
        if isinstance(self.decline_limit, bool) or not isinstance(self.decline_limit, int) or \
                self.decline_limit < 0:
            raise ValueError(f"decline_limit must be a whole number >= 0, not {self.decline_limit!r}")
        if isinstance(self.decline_window, bool) or not isinstance(self.decline_window, int | float) or \
                not 0 < self.decline_window < float("inf"):
            raise ValueError(f"decline_window must be a number of seconds > 0, not {self.decline_window!r}")
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError("device class names must be unique")
        for r in self.reservations:
            if r.device_class is not None and r.device_class not in names:
                raise ValueError(f"reservation {r.mac}: no device class {r.device_class!r}")


def normalize_mac(text: str) -> str:
    raw = bytes.fromhex(text.replace(":", "").replace("-", "").replace(".", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw.hex(":")


def load_toml(path: str | Path) -> ServerConfig:
    """Read ``[server]``, ``[[subnet]]`` (with ``[[subnet.pool]]``), ``[[class]]`` and ``[[reservation]]``."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return from_dict(data)


def from_dict(data: dict[str, Any]) -> ServerConfig:
    server = dict(data.get("server", {}))
    subnets = []
    for s in data.get("subnet", []):
        s = dict(s)
        pools = [Pool(**p) for p in s.pop("pool", [])]
        subnets.append(Subnet(pools=pools, **s))
    classes = [DeviceClass(**c) for c in data.get("class", [])] or default_classes()
    reservations = [Reservation(**r) for r in data.get("reservation", [])]
    return ServerConfig(subnets=subnets, classes=classes, reservations=reservations, **server)
