"""Where ``pktcable serve`` listens and what it tells the devices (the site), and the DHCP
server's configuration derived from the serve settings: the address and interface settings
resolved against the host's interfaces, the default pools placed inside the served subnet,
and a ``[dhcp]`` table of its own when the settings give none."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from pktcable.dhcpd.config import DeviceClass, Pool, ServerConfig, Subnet, from_dict
from pktcable.dhcpd.transport import local_interfaces
from pktcable.settings import SettingError

from .config import DEFAULT_POOLS, LOOPBACK, POOL_KEYS, ServeConfig
from .nodes import walk_seed
from .secure import kerberos_realm


@dataclass(frozen=True, slots=True)
class Site:
    """Where ``serve`` listens and what it tells the devices, from ``address`` and ``interface``."""

    #: Every service binds here ("0.0.0.0": all of the host's addresses).
    listen: str
    #: The server as the devices see it: option 54, siaddr, 122.1/122.3, URLs, ToD and log servers.
    advertise: IPv4Address
    #: The subnet of the generated DHCP configuration, where the pools must lie.
    network: IPv4Network
    #: The link whose clients are served directly (their broadcasts), or None: relays only.
    interface: str | None = None

    @property
    def dhcp_listen(self) -> str:
        # A client without an address broadcasts: only the wildcard address receives it.
        return "0.0.0.0" if self.interface else self.listen

    def url_host(self, port: int, standard: int) -> str:
        """host[:port] for URLs: the port only when it is not the standard one."""
        return str(self.advertise) if port == standard else f"{self.advertise}:{port}"


@contextmanager
def naming(service: str, host: str, port: int) -> Iterator[None]:
    """A failure to open a service's socket says which service and port (a
    second server, or another daemon, on the same port is the usual cause)."""
    try:
        yield
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio wraps its own wording around it
        raise OSError(exc.errno, f"{service} {host}:{port}: {why.lower()}") from None


def resolve_site(cfg: ServeConfig,
                 interfaces: Callable[[], dict[str, IPv4Interface]] = local_interfaces) -> Site:
    """``address`` and ``interface`` made concrete; ``interfaces`` lists the host's
    (name to primary address). Raises SettingError naming the setting at fault."""
    text = cfg.address
    try:
        given = IPv4Interface(text)
    except (ValueError, TypeError):
        raise SettingError(f"address: {text!r} is not an IPv4 address (A.B.C.D or A.B.C.D/prefix)") from None
    explicit = "/" in text
    wildcard = given.ip == IPv4Address(0)
    if wildcard and explicit:
        raise SettingError(f"address: {text} has a prefix; 0.0.0.0 takes the interface's")
    if cfg.interface is not None:
        if not isinstance(cfg.interface, str) or not cfg.interface:
            raise SettingError(f"interface: must be an interface name, not {cfg.interface!r}")
        own = interfaces().get(cfg.interface)
        if own is None:
            raise SettingError(f"interface: {cfg.interface} is no interface of this host with an IPv4 address")
        if wildcard:
            return Site("0.0.0.0", own.ip, own.network, cfg.interface)
        network = given.network if explicit else own.network if given.ip in own.network else None
    elif wildcard:
        raise SettingError("address: 0.0.0.0 needs interface, whose address the devices are told")
    else:
        network = given.network if explicit else LOOPBACK if given.ip.is_loopback else None
    if network is None:  # a bare address: the prefix of the interface that holds it
        held = [a.network for a in interfaces().values() if a.ip == given.ip]
        if not held:
            raise SettingError(f"address: {given.ip} is no address of this host's interfaces; "
                               f"give its prefix (e.g. {given.ip}/24)")
        network = held[0]
    return Site(str(given.ip), given.ip, network, cfg.interface)


def pools(cfg: ServeConfig, site: Site) -> dict[str, tuple[IPv4Address, IPv4Address]]:
    """The pool of each device class: as set, which must lie in the site's subnet,
    or, when left at the loopback demo's and the subnet is another one, a third
    each of the subnet's hosts on the larger side of the server's own address."""
    out: dict[str, tuple[IPv4Address, IPv4Address]] = {}
    derived: list[tuple[IPv4Address, IPv4Address]] | None = None
    for key in POOL_KEYS:
        value = getattr(cfg, key)
        try:
            start, end = (IPv4Address(v) for v in value)
        except (ValueError, TypeError):
            raise SettingError(f"{key}: {value!r} is not a pair of IPv4 addresses") from None
        if tuple(value) == DEFAULT_POOLS[key] and site.network != LOOPBACK and start not in site.network:
            derived = derived or _split(site)
            start, end = derived[POOL_KEYS.index(key)]
        elif start not in site.network or end not in site.network:
            raise SettingError(f"{key}: {start} - {end} is not inside {site.network}, the subnet of address")
        elif start <= site.advertise <= end:
            raise SettingError(f"{key}: {start} - {end} holds the server's own address {site.advertise}")
        out[key] = (start, end)
    return out


def _split(site: Site) -> list[tuple[IPv4Address, IPv4Address]]:
    net, me = site.network, int(site.advertise)
    low, high = int(net.network_address) + 1, int(net.broadcast_address) - 1
    if low <= me <= high:  # keep the server's own address out of every pool
        low, high = (low, me - 1) if me - low > high - me else (me + 1, high)
    third = (high - low + 1) // 3
    if third < 1:
        raise SettingError(f"address: {net} has too few addresses for default pools; set {', '.join(POOL_KEYS)}")
    starts = [low, low + third, low + 2 * third]
    ends = [low + third - 1, low + 2 * third - 1, high]
    return [(IPv4Address(a), IPv4Address(b)) for a, b in zip(starts, ends, strict=True)]


def dhcp_config(cfg: ServeConfig, site: Site | None = None) -> ServerConfig:
    """The DHCP server's configuration: the [dhcp] table if given, else the
    site's subnet with a pool per device class, and classes that give CMs their
    file and ToD server and MTAs their option 122, all naming the advertised address."""
    if cfg.dhcp:
        config = from_dict(cfg.dhcp)
        config.relay_port = cfg.relay_port
        if site is not None and config.server_id != site.advertise:
            # INFORMs, files and relays would go to an address serve does not answer on.
            raise SettingError(f"dhcp: server_id {config.server_id} is not the advertised address {site.advertise}")
        config.walk_seed = walk_seed(cfg, str(site.advertise)) if site is not None else 0
        return config
    site = site or resolve_site(cfg)
    me = site.advertise
    chosen = pools(cfg, site)
    pool_list = [Pool(*chosen["cm_pool"], classes=("cm",)), Pool(*chosen["mta_pool"], classes=("mta",)),
                 Pool(*chosen["cpe_pool"], classes=("cpe",))]
    subnet = Subnet(site.network, pool_list, options={"routers": [me]}, relays=(me,))
    mta_ccc: dict[str, Any] = {"prov-server": me, "prov-timer": cfg.prov_timer}
    if kerberos_realm(cfg) is not None:
        mta_ccc["kdc-servers"] = [me]  # 122.10 (RFC 3634): the KDC without DNS SRV (MTA-5...8)
    classes = [
        DeviceClass("cm", "cm", lease_time=cfg.lease_time, next_server=me, filename="cm-{mac}.cfg",
                    options={"time-servers": [me], "time-offset": 0, "log-servers": [me]},
                    ccc={"dhcp-server-1": me, **({"dhcp-server-2": IPv4Address(cfg.secondary_dhcp_server)}
                                                  if cfg.secondary_dhcp_server else {})}),
        DeviceClass("mta", "mta", lease_time=cfg.lease_time, realms=tuple(cfg.realms), next_server=me,
                    filename="mta-{mac}.cfg", hostname="mta-{mac}",
                    options={"domain-name-servers": [me], "domain-name": "pktcable.test", "log-servers": [me]},
                    ccc=mta_ccc),
        # Phones are among the clients that are neither modems nor eMTAs: with the SIP
        # service on, option 120 (RFC 3361) names it to them (docs/sip.md).
        DeviceClass("cpe", "any", lease_time=cfg.lease_time,
                    options={"sip-servers": cfg.sip_dhcp_servers or [me]} if cfg.sip_port else {}),
    ]
    return ServerConfig(me, [subnet], classes, relay_port=cfg.relay_port, walk_seed=walk_seed(cfg, str(me)))
