"""Configuration of the DHCPv4 server as dataclasses (``load_toml`` reads the same from a file).

Device classes as docs/dhcp.md ("Server") describes them: option 60
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

:func:`from_dict` checks a settings table before anything is built: unknown
keys (with the nearest known one), types, port and time ranges, class names
that pools and reservations refer to, pools inside their subnet and apart from
each other. Its :class:`~pktcable.settings.SettingError` names the key as
``subnet[0].pool[1].start``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from pktcable.flow import Flow
from pktcable.flow.flows import realm_problem
from pktcable.settings import SettingError, coerce, in_range, join, known_keys, named


class PoolOutsideSubnet(ValueError):
    """A pool with an address outside its subnet's network."""

    def __init__(self, pool: Pool, network: IPv4Network) -> None:
        super().__init__(f"pool {pool.start} - {pool.end} is not inside {network}")
        self.pool, self.network = pool, network


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
        # As integers: IPv4Address's own <= goes through functools.total_ordering, per packet.
        return int(self.start) <= int(address) <= int(self.end)


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
                raise PoolOutsideSubnet(pool, self.network)


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
    #: TLV 18 supports is sent: a flow's name (pktcable.flow.Flow) or a Kerberos realm.
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
    return [DeviceClass("cm", "cm"), DeviceClass("mta", "mta", realms=(Flow.BASIC_1.value,)), DeviceClass("cpe", "any")]


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
    #: Where this server's walk through each pool starts (mod the pool's size). 0, a lone
    #: server: at each pool's first address. Servers sharing one lease table each take their
    #: own (serve: from its node id), so they do not offer the same addresses at once.
    walk_seed: int = 0

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
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:  # its text ends "(at line L, column C)"
            raise SettingError(f"TOML syntax: {exc}") from None
    return from_dict(data)


#: Keys of each table of a settings file and what they become.
TOP_KEYS = ("server", "subnet", "class", "reservation")
#: Fields of ServerConfig that are tables of their own, not keys of [server].
_STRUCTURE = ("subnets", "classes", "reservations")
#: Inclusive bounds of numeric settings, by table and key.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("server", "relay_port"): (1, 65535), ("server", "client_port"): (1, 65535),
    ("server", "offer_hold"): (0.1, 86400), ("server", "decline_hold"): (0, 86400 * 365),
    ("class", "lease_time"): (1, 0xFFFFFFFE),  # option 51; all ones would mean "infinite"
}


def _table(value: Any, cls: type, where: str, table: str, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` as keyword arguments for ``cls``: a table of its fields, each of its type."""
    from typing import get_type_hints

    if not isinstance(value, dict):
        raise named(where, f"must be a table, not {value!r}")
    hints = {k: v for k, v in get_type_hints(cls).items() if k not in exclude}
    known_keys(value, hints, where)
    out = {k: coerce(v, hints[k], join(where, k)) for k, v in value.items()}
    for (kind, key), (low, high) in RANGES.items():
        if kind == table and key in out:
            in_range(out[key], low, high, join(where, key))
    return out


def _tables(data: dict[str, Any], key: str, where: str = "") -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise named(join(where, key), f"must be a list of tables ([[{join(where, key)}]]), not {value!r}")
    return value


def _build(cls: type, where: str, args: dict[str, Any]) -> Any:
    """``cls(**args)``; a missing key or a rule of the class is named as ``where``'s."""
    try:
        return cls(**args)
    except TypeError as exc:  # only a missing required field gets here: types were checked
        missing = str(exc).rpartition(" ")[2].strip("'")
        raise named(join(where, missing), "missing") from None
    except ValueError as exc:
        raise named(where, str(exc)) from None


def from_dict(data: dict[str, Any]) -> ServerConfig:
    """The server's configuration from a settings table, every mistake a :class:`SettingError`."""
    known_keys(data, TOP_KEYS)
    server = _table(data.get("server", {}), ServerConfig, "server", "server", _STRUCTURE)
    classes = []
    for i, c in enumerate(_tables(data, "class")):
        where = join("class", i)
        args = _table(c, DeviceClass, where, "class")
        if args.get("kind") not in (None, "cm", "mta", "cpe", "any"):
            raise named(join(where, "kind"), f"must be cm, mta, cpe or any, not {args['kind']!r}")
        for j, realm in enumerate(args.get("realms", ())):
            problem = realm_problem(realm)
            if problem:
                raise named(join(join(where, "realms"), j), problem)
        classes.append(_build(DeviceClass, where, args))
    classes = classes or default_classes()
    names = [c.name for c in classes]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise named(join(join("class", i), "name"), f"{name!r} is also the name of class[{names.index(name)}]")
    subnets = []
    for i, s in enumerate(_tables(data, "subnet")):
        where = join("subnet", i)
        if not isinstance(s, dict):
            raise named(where, f"must be a table, not {s!r}")
        s = dict(s)
        pools = [_pool(p, f"{where}.pool[{j}]", names) for j, p in enumerate(_tables(s, "pool", where))]
        s.pop("pool", None)
        args = _table(s, Subnet, where, "subnet", ("pools",))
        try:
            subnets.append(Subnet(pools=pools, **args))
        except PoolOutsideSubnet as exc:
            j = pools.index(exc.pool)
            raise named(f"{where}.pool[{j}]", f"{exc.pool.start} - {exc.pool.end} is not inside {exc.network}") \
                from None
        except TypeError:
            raise named(join(where, "network"), "missing") from None
    _no_overlap(subnets)
    reservations = []
    for i, r in enumerate(_tables(data, "reservation")):
        where = join("reservation", i)
        args = _table(r, Reservation, where, "reservation")
        if "mac" in args:
            try:
                normalize_mac(args["mac"])
            except ValueError:
                raise named(join(where, "mac"), f"not a MAC address: {args['mac']!r}") from None
        problem = realm_problem(args["realm"]) if args.get("realm") is not None else None
        if problem:
            raise named(join(where, "realm"), problem)
        if args.get("device_class") is not None and args["device_class"] not in names:
            raise named(join(where, "device_class"), _no_class(args["device_class"], names))
        reservations.append(_build(Reservation, where, args))
    if "server_id" not in server:
        raise named("server.server_id", "missing")
    try:
        return ServerConfig(subnets=subnets, classes=classes, reservations=reservations, **server)
    except SettingError:
        raise
    except ValueError as exc:  # the text starts with the setting's name
        raise named("server", str(exc)) from None


def _pool(value: Any, where: str, classes: list[str]) -> Pool:
    args = _table(value, Pool, where, "pool")
    for k, name in enumerate(args.get("classes", ())):
        if name not in classes:
            raise named(join(join(where, "classes"), k), _no_class(name, classes))
    return _build(Pool, where, args)  # type: ignore[no-any-return]


def _no_class(name: str, classes: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, classes, n=1, cutoff=0.6)
    return f"no class {name!r}" + (f" (did you mean {close[0]}?)" if close else f" (classes: {', '.join(classes)})")


def _no_overlap(subnets: list[Subnet]) -> None:
    """No address is in two pools: the engine would have two pools' rules for it."""
    spans = [(p.start, p.end, f"subnet[{i}].pool[{j}]") for i, s in enumerate(subnets) for j, p in enumerate(s.pools)]
    for k, (start, end, where) in enumerate(spans):
        for other_start, other_end, other in spans[:k]:
            if start <= other_end and other_start <= end:
                raise named(where, f"{start} - {end} overlaps {other} ({other_start} - {other_end})")
