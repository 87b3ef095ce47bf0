"""The configuration of ``pktcable serve``: embedded defaults that run a
demo on loopback without privileges, overridden by a TOML file.

    address = "127.0.0.1"          # where every service listens
    data_dir = "/var/lib/pktcable" # SQLite files (omit: everything in memory)
    dhcp_port = 10067              # 67 in production
    relay_port = 10068             # where relays (CMTS) take replies: 67 in production
    tftp_port = 10069              # 69
    http_port = 10080              # 80; 0 turns HTTP off
    tod_port = 10037               # 37
    snmp_port = 10162              # 162: INFORMs from the eMTAs
    agent_port = 10161             # 161: the eMTAs' agents, for SET/GET
    api_address = "127.0.0.1"      # REST API, /metrics and the dashboard
    api_port = 10088               # 0 turns them off
    realms = ["HYBRID.2", "BASIC.2"]  # first one an MTA's TLV 18 supports
    auto_enroll = false            # true: provision devices the store does not know
    inform_community = "public"    # the community the eMTAs' INFORMs carry
    write_community = "private"    # the eMTAs' write community, for the SETs
    templates = "/etc/pktcable/templates"  # overrides cm.txt / mta.txt
    cm_key = "secret"              # CMTS shared secret for the CMTS MIC (default: generated
                                   # on first start, kept in data_dir/cm_key, mode 0600)
    cm_key_file = "/etc/pktcable/cm_key"  # or: the secret in a file (trailing CR/LF stripped)
    http_header_timeout = 5.0      # seconds a client has to send its HTTP request head
    file_scheme = "tftp"           # the URL SET in Hybrid flows: tftp or http
    tftp_max_per_client = 32       # TFTP transfers at once from one address (0: no limit)
    tftp_max_timeout = 5           # largest RFC 2349 timeout option granted, seconds
    tftp_max_duration = 60.0       # a TFTP transfer's whole life, seconds
    history_keep = 200             # newest provisioning steps kept per device (>= 1)
    history_days = 30              # steps older than this many days are dropped (hourly)

    [[devices]]                    # known devices (also via the device store)
    mac = "00:11:22:33:44:55"
    kind = "mta"
    flow = "HYBRID.2"
    vars = { call_agent = "ca@cms.example.net", lines = 2 }

    [dhcp]                         # optional: a full DHCP config in the form of
                                   # `pktcable dhcp serve` (replaces the generated one)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

from pktcable.delivery.tftp import DEFAULT_MAX_DURATION, DEFAULT_MAX_TIMEOUT_OPTION
from pktcable.delivery.tftp_aio import DEFAULT_MAX_PER_CLIENT
from pktcable.dhcpd.config import DeviceClass, Pool, PoolOutsideSubnet, ServerConfig, Subnet, from_dict
from pktcable.flow import SERVER_TABLES
from pktcable.settings import SettingError, coerce, in_range, join, known_keys, named, read_toml, typed
from pktcable.store.devices import HISTORY_DAYS, HISTORY_KEEP, Retention, normalize_mac
from pktcable.templates import DEFAULTS as SHIPPED_TEMPLATES

__all__ = ["SettingError", "ServeConfig", "check", "dhcp_config", "load", "read"]


@dataclass(slots=True)
class ServeConfig:
    address: str = "127.0.0.1"
    data_dir: str | None = None
    dhcp_port: int = 10067
    relay_port: int = 10068
    tftp_port: int = 10069
    http_port: int = 10080
    tod_port: int = 10037
    snmp_port: int = 10162
    agent_port: int = 10161
    api_address: str = "127.0.0.1"  # REST API, metrics and dashboard: the operators' network
    api_port: int = 10088  # 0 turns it off
    write_community: str = "private"
    #: INFORMs with another community are dropped unanswered (SNMPv2c authentication failure).
    inform_community: str = "public"
    file_scheme: str = "tftp"  # the URL SET in Hybrid flows: "tftp" or "http" (MTA capability 4: HTTP access)
    snmp_timeout: float = 1.0  # per SET/GET attempt
    snmp_retries: int = 3
    realms: list[str] = field(default_factory=lambda: ["HYBRID.2", "BASIC.2"])
    #: Provision devices the store does not know (off: only devices in the store or [[devices]]).
    auto_enroll: bool = False
    templates: str | None = None
    cm_key: str | None = None  # None: cm_key_file, else generated and kept in data_dir (serve/datadir.py)
    cm_key_file: str | None = None
    http_header_timeout: float = 5.0
    #: TFTP limits that keep one host from holding the session table (docs/security.md).
    tftp_max_per_client: int = DEFAULT_MAX_PER_CLIENT
    tftp_max_timeout: int = DEFAULT_MAX_TIMEOUT_OPTION
    tftp_max_duration: float = DEFAULT_MAX_DURATION
    prov_timer: int = 10  # minutes, option 122.8
    mta_pool: tuple[str, str] = ("127.100.0.1", "127.100.255.254")
    cm_pool: tuple[str, str] = ("127.101.0.1", "127.101.255.254")
    cpe_pool: tuple[str, str] = ("127.102.0.1", "127.102.255.254")
    lease_time: int = 3600
    server_budget: float = 600.0  # seconds a device may take for its flow
    forget_finished: bool = True  # finished devices live on in the store, not in memory
    history_keep: int = HISTORY_KEEP  # steps kept per device, enforced as they are written
    history_days: float = HISTORY_DAYS  # age limit of steps, enforced hourly
    devices: list[dict[str, Any]] = field(default_factory=list)
    dhcp: dict[str, Any] = field(default_factory=dict)

    def url_host(self, port: int, standard: int) -> str:
        """host[:port] for URLs: the port only when it is not the standard one."""
        return self.address if port == standard else f"{self.address}:{port}"

    def retention(self) -> Retention:
        return Retention(self.history_keep, self.history_days)


@dataclass(slots=True)
class DeviceRow:
    """One ``[[devices]]`` entry, as the file may give it."""

    mac: str
    kind: str = "mta"
    flow: str = ""
    template: str = ""
    vars: dict[str, Any] = field(default_factory=dict)


#: Realms serve can run: the flows with a server-side table (option 122.6 names them).
RUNNABLE_REALMS: tuple[str, ...] = tuple(flow.value for flow in SERVER_TABLES)
DEVICE_KINDS = ("cm", "mta")
#: Names the templates get from the device itself: a ``vars`` entry of that name would be
#: shadowed without a word, so it is refused instead.
RESERVED_VARS = frozenset({"mac", "kind", "ip", "flow", "client_ip"})
#: Bounds of the numeric settings, inclusive (history_* are checked by Retention).
RANGES: dict[str, tuple[float, float]] = {
    "dhcp_port": (0, 65535), "relay_port": (1, 65535), "tftp_port": (0, 65535), "http_port": (0, 65535),
    "tod_port": (0, 65535), "snmp_port": (0, 65535), "agent_port": (1, 65535), "api_port": (0, 65535),
    "snmp_timeout": (0.01, 60), "snmp_retries": (0, 10),
    "prov_timer": (0, 255),  # option 122.8 is one octet of minutes
    "lease_time": (1, 0xFFFFFFFE),  # option 51; 0xFFFFFFFF would mean "infinite"
    "server_budget": (1, 86400), "http_header_timeout": (0.01, 300),
    "tftp_max_per_client": (0, 4096), "tftp_max_timeout": (1, 255), "tftp_max_duration": (1, 86400),
}
#: Ports serve listens on at ``address`` (0: any free port, or off): no two services may share one.
#: relay_port and agent_port are the peers' ports, not ours.
LISTENERS = ("dhcp_port", "tftp_port", "http_port", "tod_port", "snmp_port")
POOLS = ("cm_pool", "mta_pool", "cpe_pool")


def read(path: str | Path) -> ServeConfig:
    """The settings file as a :class:`ServeConfig`: known keys of the right types;
    the rest is :func:`check`'s (after the command line's flags are applied)."""
    data = read_toml(path)
    return ServeConfig(**typed(data, ServeConfig))


def load(path: str | Path) -> ServeConfig:
    return check(read(path))


def check(cfg: ServeConfig, given: Mapping[str, str] | None = None) -> ServeConfig:
    """Every setting of ``cfg`` that cannot work raises :class:`SettingError` naming it.
    ``given`` maps settings that came from the command line to their flags, so the
    error names what the operator typed."""
    try:
        _check(cfg)
    except SettingError as exc:
        flag = (given or {}).get(exc.key.split(".")[0].split("[")[0])
        if flag is not None:
            raise named(flag, exc.problem) from None
        raise
    return cfg


def _check(cfg: ServeConfig) -> None:
    from typing import get_type_hints

    for f, hint in get_type_hints(ServeConfig).items():  # fields set in code, or by flags, are typed too
        setattr(cfg, f, coerce(getattr(cfg, f), hint, f))
    for key, (low, high) in RANGES.items():
        in_range(getattr(cfg, key), low, high, key)
    for key in ("inform_community", "write_community"):
        if not getattr(cfg, key):
            raise named(key, "must not be empty")
    for key in ("address", "api_address"):
        try:
            IPv4Interface(getattr(cfg, key))
        except ValueError:
            raise named(key, f"not an IPv4 address: {getattr(cfg, key)!r}") from None
    if cfg.file_scheme not in ("tftp", "http"):
        raise named("file_scheme", f"must be tftp or http, not {cfg.file_scheme!r}")
    if cfg.file_scheme == "http" and not cfg.http_port:
        raise named("file_scheme", "http needs http_port (it is 0, HTTP is off)")
    try:
        cfg.retention()
    except ValueError as exc:  # its text starts with history_keep / history_days
        key, _, problem = str(exc).partition(" ")
        raise named(key, problem) from None
    if cfg.cm_key is not None and cfg.cm_key_file is not None:
        raise named("cm_key", "set cm_key or cm_key_file, not both")
    _check_ports(cfg)
    _check_realms(cfg.realms, "realms")
    if cfg.templates is not None and not Path(cfg.templates).is_dir():
        raise named("templates", f"{cfg.templates}: no such folder")
    if cfg.data_dir is not None:
        _check_data_dir(Path(cfg.data_dir))
    _check_devices(cfg)
    if cfg.dhcp:
        _check_dhcp_table(cfg)
    else:
        _check_pools(cfg)


def _check_ports(cfg: ServeConfig) -> None:
    taken: dict[int, str] = {}
    shared = cfg.api_address == cfg.address or "0.0.0.0" in (cfg.api_address, cfg.address)
    for key in (*LISTENERS, "api_port") if shared else LISTENERS:
        port = getattr(cfg, key)
        if port and port in taken:
            raise named(key, f"port {port} is also {taken[port]}")
        taken[port] = key


def _check_realms(realms: Any, key: str) -> None:
    if not realms:
        raise named(key, f"empty: give at least one of {', '.join(RUNNABLE_REALMS)}")
    for i, realm in enumerate(realms):
        if realm not in RUNNABLE_REALMS:
            raise named(join(key, i), f"{realm!r} is not a flow serve can run ({', '.join(RUNNABLE_REALMS)})")


def _check_data_dir(folder: Path) -> None:
    """The data dir, or the nearest folder that exists above it, takes new files."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise named("data_dir", f"{probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise named("data_dir", f"{probe} is not writable")


def _check_devices(cfg: ServeConfig) -> None:
    seen: dict[str, str] = {}
    for i, row in enumerate(cfg.devices):
        where = join("devices", i)
        if not isinstance(row, dict):
            raise named(where, f"must be a table, not {row!r}")
        device = DeviceRow(**typed(row, DeviceRow, where)) if "mac" in row else None
        if device is None:
            raise named(join(where, "mac"), "missing")
        try:
            mac = normalize_mac(device.mac)
            if any(c not in "0123456789abcdefABCDEF:-." for c in device.mac):
                raise ValueError(device.mac)
        except ValueError:
            raise named(join(where, "mac"), f"not a MAC address: {device.mac!r}") from None
        if mac in seen:
            raise named(join(where, "mac"), f"{device.mac} is also {seen[mac]}")
        seen[mac] = where
        if device.kind not in DEVICE_KINDS:
            raise named(join(where, "kind"), f"must be {' or '.join(DEVICE_KINDS)}, not {device.kind!r}")
        if device.kind == "mta" and "flow" in row and device.flow not in RUNNABLE_REALMS:
            raise named(join(where, "flow"), f"{device.flow!r} is not a flow serve can run "
                                             f"({', '.join(RUNNABLE_REALMS)})")
        if device.kind == "cm" and device.flow:
            raise named(join(where, "flow"), "a cm has no PacketCable flow")
        if device.template and not _template_exists(cfg.templates, device.template):
            raise named(join(where, "template"), f"no template {device.template!r}"
                                                 + (f" in {cfg.templates} or" if cfg.templates else " among")
                                                 + " the shipped ones")
        for name, value in device.vars.items():
            if name in RESERVED_VARS:
                raise named(join(join(where, "vars"), name), "reserved: the template gets it from the device")
            try:
                json.dumps(value, allow_nan=False)  # the store keeps vars as JSON
            except (TypeError, ValueError):
                raise named(join(join(where, "vars"), name), f"not a string, number, true/false, "
                                                             f"list or table: {value!r}") from None


def _template_exists(folder: str | None, name: str) -> bool:
    if "/" in name or "\\" in name or name.startswith("."):
        return False  # a template name, not a path out of the folders
    return any((Path(base) / name).is_file() for base in (folder, SHIPPED_TEMPLATES) if base is not None)


def _check_pools(cfg: ServeConfig) -> None:
    spans: list[tuple[IPv4Address, IPv4Address, str]] = []
    for key in POOLS:
        start, end = getattr(cfg, key)
        try:
            first, last = IPv4Address(start), IPv4Address(end)
        except ValueError as exc:
            raise named(key, f"not an IPv4 address: {exc}") from None
        if last < first:
            raise named(key, f"{first} - {last} ends before it starts")
        for low, high, other in spans:
            if first <= high and low <= last:
                raise named(key, f"{first} - {last} overlaps {other} ({low} - {high})")
        spans.append((first, last, key))
    try:
        dhcp_config(cfg)
    except PoolOutsideSubnet as exc:
        key = next((k for k in POOLS if tuple(IPv4Address(a) for a in getattr(cfg, k)) ==
                    (exc.pool.start, exc.pool.end)), "address")
        raise named(key, f"{exc.pool.start} - {exc.pool.end} is not inside the subnet {exc.network}") from None
    except ValueError as exc:
        raise named("address", str(exc)) from None


def _check_dhcp_table(cfg: ServeConfig) -> None:
    """A full ``[dhcp]`` table, checked as ``pktcable dhcp serve`` checks its file, and
    offering only realms serve can run."""
    known_keys(cfg.dhcp, ("server", "subnet", "class", "reservation"), "dhcp")
    try:
        config = dhcp_config(cfg)
    except SettingError as exc:
        raise named(join("dhcp", exc.key), exc.problem) if exc.key else named("dhcp", str(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise named("dhcp", str(exc)) from None
    for i, device_class in enumerate(config.classes):
        if device_class.kind == "mta":
            _check_realms(device_class.realms, f"dhcp.class[{i}].realms")
    for i, reservation in enumerate(config.reservations):
        if reservation.realm is not None and reservation.realm not in RUNNABLE_REALMS:
            raise named(f"dhcp.reservation[{i}].realm", f"{reservation.realm!r} is not a flow serve can run "
                                                        f"({', '.join(RUNNABLE_REALMS)})")


def dhcp_config(cfg: ServeConfig) -> ServerConfig:
    """The DHCP server's configuration: the [dhcp] table if given, else one
    loopback-friendly subnet with a pool per device class, and classes that
    give CMs their file and ToD server and MTAs their option 122."""
    if cfg.dhcp:
        config = from_dict(cfg.dhcp)
        config.relay_port = cfg.relay_port
        return config
    me = IPv4Address(cfg.address)
    pools = [Pool(*cfg.cm_pool, classes=("cm",)), Pool(*cfg.mta_pool, classes=("mta",)),
             Pool(*cfg.cpe_pool, classes=("cpe",))]
    network = "127.0.0.0/8" if me.is_loopback else f"{me}/24"
    subnet = Subnet(network, pools, options={"routers": [me]}, relays=(me,))
    classes = [
        DeviceClass("cm", "cm", lease_time=cfg.lease_time, next_server=me, filename="cm-{mac}.cfg",
                    options={"time-servers": [me], "time-offset": 0, "log-servers": [me]},
                    ccc={"dhcp-server-1": me}),
        DeviceClass("mta", "mta", lease_time=cfg.lease_time, realms=tuple(cfg.realms), next_server=me,
                    filename="mta-{mac}.cfg", hostname="mta-{mac}",
                    options={"domain-name-servers": [me], "domain-name": "pktcable.test", "log-servers": [me]},
                    ccc={"prov-server": str(me), "prov-timer": cfg.prov_timer}),
        DeviceClass("cpe", "any", lease_time=cfg.lease_time),
    ]
    return ServerConfig(me, [subnet], classes, relay_port=cfg.relay_port)
