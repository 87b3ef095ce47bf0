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
    file_scheme = "tftp"           # the URL SET in Hybrid flows: tftp or http (http only to an
                                   # eMTA whose option 60 declares HTTP download; tftp to others)
    mib_tree = "cablelabs"         # an eMTA's MIB tree when it does not say (cablelabs, ietf, euro)
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

import tomllib
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pktcable.delivery.tftp import DEFAULT_MAX_DURATION, DEFAULT_MAX_TIMEOUT_OPTION
from pktcable.delivery.tftp_aio import DEFAULT_MAX_PER_CLIENT
from pktcable.dhcpd.config import DeviceClass, Pool, ServerConfig, Subnet, from_dict
from pktcable.store.devices import HISTORY_DAYS, HISTORY_KEEP, Retention

#: The eMTA MIB trees (pktcable.snmp.pktc.Tree values).
MIB_TREES = ("cablelabs", "ietf", "euro")


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
    #: The MIB tree (hash object, object names) of an eMTA that neither enrolled, nor has a
    #: ``mib_tree`` device variable, nor names one tree in its option 60 (capability TLV 23).
    mib_tree: str = "cablelabs"
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


def check(cfg: ServeConfig) -> ServeConfig:
    for key in ("inform_community", "write_community"):
        value = getattr(cfg, key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{key} must be a non-empty string, not {value!r}")
    if not isinstance(cfg.auto_enroll, bool):
        raise ValueError(f"auto_enroll must be true or false, not {cfg.auto_enroll!r}")
    if cfg.file_scheme not in ("tftp", "http"):
        raise ValueError(f"file_scheme must be tftp or http, not {cfg.file_scheme!r}")
    if cfg.file_scheme == "http" and not cfg.http_port:
        raise ValueError("file_scheme http needs http_port")
    if cfg.mib_tree not in MIB_TREES:
        raise ValueError(f"mib_tree must be one of {', '.join(MIB_TREES)}, not {cfg.mib_tree!r}")
    cfg.retention()  # raises naming history_keep / history_days
    for key, low, high in (("tftp_max_per_client", 0, 4096), ("tftp_max_timeout", 1, 255),
                           ("tftp_max_duration", 1, 86400)):
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                or key != "tftp_max_duration" and not isinstance(value, int):
            raise ValueError(f"{key} must be a number from {low} to {high}, not {value!r}")
    if cfg.cm_key is not None and cfg.cm_key_file is not None:
        raise ValueError("cm_key: set cm_key or cm_key_file, not both")
    if isinstance(cfg.http_header_timeout, bool) or not isinstance(cfg.http_header_timeout, (int, float)) \
            or not 0 < cfg.http_header_timeout <= 300:
        raise ValueError(f"http_header_timeout: must be 0 < seconds <= 300, not {cfg.http_header_timeout!r}")
    if cfg.dhcp:  # report a bad [dhcp] table at load time, in one line, not as a start-up traceback
        try:
            dhcp_config(cfg)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"[dhcp]: {exc}") from exc
    return cfg


def load(path: str | Path) -> ServeConfig:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    known = {f.name for f in fields(ServeConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {', '.join(unknown)}")
    for key in ("mta_pool", "cm_pool", "cpe_pool"):
        if key in data:
            data[key] = tuple(data[key])
    return check(ServeConfig(**data))


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
