"""The configuration of ``pktcable serve``: embedded defaults that run a
demo on loopback without privileges, overridden by a TOML file.

    address = "127.0.0.1"          # where every service listens and what the devices are told;
                                   # "10.77.0.1/24" names the subnet, "10.77.0.1" takes the
                                   # prefix of the interface holding it, "0.0.0.0" listens on
                                   # every address and advertises the interface's (needs interface)
    interface = "eth1"             # serve clients attached to this link directly (broadcasts)
    data_dir = "/var/lib/pktcable" # SQLite files (omit: everything in memory)
    store = "postgresql:///pktcable?host=/run/postgresql"  # the stores in PostgreSQL instead
                                   # (a libpq URI; absent or "sqlite:": data_dir's files)
    node_id = "dhcp-a"             # this node's name in a shared database's node table
                                   # (default: host name/address; docs/deploy.md)
    node_heartbeat = 5.0           # seconds between its heartbeats there (stale after 3 missed)
    secondary_dhcp_server = "10.0.0.3"  # another serve node, told to the CMs as option 122.2:
                                   # their eMTAs take an OFFER from either node
    dhcp_port = 10067              # 67 in production
    relay_port = 10068             # where relays (CMTS) take replies: 67 in production
    tftp_port = 10069              # 69
    http_port = 10080              # 80; 0 turns HTTP off
    tod_port = 10037               # 37
    snmp_port = 10162              # 162: INFORMs from the eMTAs
    agent_port = 10161             # 161: the eMTAs' agents, for SET/GET
    api_address = "127.0.0.1"      # REST API, /metrics and the dashboard
    api_port = 10088               # 0 turns them off
    api_hosts = ["ops.example.net"]  # host names the API is reached by, besides api_address
                                   # and localhost (a request to any other name is refused)
    api_cert = "/etc/pktcable/api.pem"  # HTTPS for the API: certificate chain (PEM) ...
    api_key = "/etc/pktcable/api.key"   # ... and its private key; both or neither
    metrics_open = false           # true: /metrics without a token (a scraper on a trusted net)
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
    tftp_admit_sessions = 1024     # TFTP transfers at once past which a new flow's RRQ
                                   # waits unanswered (a flow under way's file still goes; 0: off)
    enroll_max_in_flight = 256     # eMTAs waiting for their file and SET past which a new
                                   # enrollment INFORM is dropped unanswered (0: no bound)
    enroll_rate = 0.0              # new enrollments per second let in (0: no bound)
    history_keep = 200             # newest provisioning steps kept per device (>= 1)
    history_days = 30              # steps older than this many days are dropped (hourly)
    log_level = "warning"          # debug, info, warning, error (--log-level, -v: info)
    log_format = "text"            # text, or json: one object per line (--log-format)
    dhcp_workers = 0               # 1: the DHCP server in a worker process of its own
    secure_pki = "lab-pki"         # the Secure flow: a lab PKI folder, with kdc = true and
    kdc = true                     # km = true (both, or the realm cannot be offered), on
    km = true                      # kdc_port / km_port; km_suites, km_lifetime (docs/secure.md)
    sip_port = 0                   # 5060: SIP phones' ua-profile provisioning (0: off; needs http_port)
    sip_transport = "udp"          # udp, tcp or tls (tls: with sip_cert and sip_key)
    sip_cert = "/etc/pktcable/sip.pem"  # the SIP server's certificate chain (PEM), for TLS ...
    sip_key = "/etc/pktcable/sip.key"   # ... and HTTPS; its private key; both or neither
    sip_https_port = 0             # 443: the profiles over HTTPS here (with sip_cert), never over HTTP
    sip_dhcp_servers = ["sip.example.net"]  # DHCP option 120 to phones (default: the address)
    sip_push_rate = 50.0           # change NOTIFYs per second at most (a template edit to every phone)
    sip_push_window = 100          # pushes in flight at most (NOTIFY unanswered, or the GET awaited)
    sip_mac_auth = true            # false: a phone needs a sip_password variable (digest auth)
    sip_multicast = false          # true: also answer the PnP SUBSCRIBE multicast to 224.0.1.75
    firmware_max_bytes = 67108864  # the largest firmware image the catalogue takes
    firmware_cvc_root = "/etc/pktcable/cvc-root.pem"  # judge uploaded code files by this CVC root
    firmware_manufacturer = "Example Vendor"  # ... signed by this organization (both, or neither)
    firmware_cosigner = "Example Cable"       # ... and co-signed by this one (optional)
    firmware_manufacturer_cvc = "mfg-cvc.der" # TLV 32 of an upgrading CM's file (default: the image's signer)
    firmware_cosigner_cvc = "cosigner-cvc.der"  # TLV 33 (default: the image's co-signer)
    firmware_check_after = 600.0   # seconds after an offer: ask a modem still behind why (0: never)
    firmware_cvc_always = true     # every CM file carries the CVCs above: SNMP pushes are enabled

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
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pktcable.cli.logs import DEFAULT_LEVEL, LOG_FORMATS, LOG_LEVELS
from pktcable.delivery.tftp import DEFAULT_MAX_DURATION, DEFAULT_MAX_TIMEOUT_OPTION
from pktcable.delivery.tftp_aio import DEFAULT_MAX_PER_CLIENT
from pktcable.dhcpd.config import PoolOutsideSubnet
from pktcable.flow import DEFAULT_FLOW, SERVER_TABLES, Flow
from pktcable.settings import SettingError, coerce, in_range, join, known_keys, named, read_toml, typed
from pktcable.store.devices import HISTORY_DAYS, HISTORY_KEEP, Retention, normalize_mac
from pktcable.store.pg import StoreUrlError, parse_store
from pktcable.store.pg_nodes import check_id
from pktcable.templates import DEFAULTS as SHIPPED_TEMPLATES

from .secure import kerberos_realm
from .tlssettings import api_ssl, check_sip, sip_ssl

if TYPE_CHECKING:
    from pktcable.firmware.codefile import CvcTrust

__all__ = ["SettingError", "ServeConfig", "api_ssl", "check", "load", "read", "sip_ssl"]


LOOPBACK = IPv4Network("127.0.0.0/8")
#: The demo's pools, on loopback; on another subnet they are derived from it (see :func:`pools`).
DEFAULT_POOLS = {"cm_pool": ("127.101.0.1", "127.101.255.254"), "mta_pool": ("127.100.0.1", "127.100.255.254"),
                 "cpe_pool": ("127.102.0.1", "127.102.255.254")}
POOL_KEYS = ("cm_pool", "mta_pool", "cpe_pool")  # also the order of the derived pools in the subnet
#: The eMTA MIB trees (pktcable.snmp.pktc.Tree values).
MIB_TREES = ("cablelabs", "ietf", "euro")


#: Hybrid first to an MTA whose TLV 18 allows it (the server then SETs the file's location
#: and hash), else Basic; the .2 flows, as only they report how the file went.
DEFAULT_REALMS: tuple[str, ...] = (DEFAULT_FLOW.value, Flow.BASIC_2.value)


@dataclass(slots=True)
class ServeConfig:
    address: str = "127.0.0.1"  # A.B.C.D or A.B.C.D/prefix; 0.0.0.0 with interface
    #: Serve clients directly attached to this link (broadcast DISCOVERs), relays as well.
    interface: str | None = None
    data_dir: str | None = None
    #: Where the stores are: None or "sqlite:" the data dir's files, or a PostgreSQL URL (docs/deploy.md).
    store: str | None = None
    #: This serve node's id in a shared PostgreSQL database's node table (None: host name/address).
    node_id: str | None = None
    #: Seconds between the node's heartbeats in that table.
    node_heartbeat: float = 5.0
    dhcp_port: int = 10067
    relay_port: int = 10068
    tftp_port: int = 10069
    http_port: int = 10080
    tod_port: int = 10037
    snmp_port: int = 10162
    agent_port: int = 10161
    api_address: str = "127.0.0.1"  # REST API, metrics and dashboard: the operators' network
    api_port: int = 10088  # 0 turns it off
    #: Host names (Host header) the API answers to besides api_address and localhost: DNS rebinding.
    api_hosts: list[str] = field(default_factory=list)
    api_cert: str | None = None  # PEM certificate chain: the API speaks HTTPS
    api_key: str | None = None  # its private key (PEM)
    #: /metrics without a token; every other API path keeps needing one.
    metrics_open: bool = False
    write_community: str = "private"
    #: INFORMs with another community are dropped unanswered (SNMPv2c authentication failure).
    inform_community: str = "public"
    file_scheme: str = "tftp"  # the URL SET in Hybrid flows: "tftp" or "http" (MTA capability 4: HTTP access)
    #: The MIB tree (hash object, object names) of an eMTA that neither enrolled, nor has a
    #: ``mib_tree`` device variable, nor names one tree in its option 60 (capability TLV 23).
    mib_tree: str = "cablelabs"
    snmp_timeout: float = 1.0  # per SET/GET attempt
    snmp_retries: int = 3
    realms: list[str] = field(default_factory=lambda: list(DEFAULT_REALMS))
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
    #: Overload: bounds on new flows (docs/serve.md, "Overload"; pktcable.admission).
    tftp_admit_sessions: int = 1024
    enroll_max_in_flight: int = 256
    enroll_rate: float = 0.0
    prov_timer: int = 10  # minutes, option 122.8
    #: Option 122.2 to the CMs: another serve node whose OFFERs their eMTAs may take (None: only this one).
    secondary_dhcp_server: str | None = None
    mta_pool: tuple[str, str] = DEFAULT_POOLS["mta_pool"]
    cm_pool: tuple[str, str] = DEFAULT_POOLS["cm_pool"]
    cpe_pool: tuple[str, str] = DEFAULT_POOLS["cpe_pool"]
    lease_time: int = 3600
    server_budget: float = 600.0  # seconds a device may take for its flow
    forget_finished: bool = True  # finished devices live on in the store, not in memory
    history_keep: int = HISTORY_KEEP  # steps kept per device, enforced as they are written
    history_days: float = HISTORY_DAYS  # age limit of steps, enforced hourly
    log_level: str = DEFAULT_LEVEL  # pktcable/cli/logs.py: LOG_LEVELS
    log_format: str = "text"  # text or json
    #: 1: the DHCP server (socket, engine, lease store) runs in a worker process; 0: in this one.
    dhcp_workers: int = 0
    #: The Secure flow (pktcable/serve/secure.py): a lab PKI folder, the KDC, key management.
    secure_pki: str | None = None
    kdc: bool = False
    kdc_port: int = 10188
    #: Seconds a device clock may be off (pktcMtaDevCmsMaxClockSkew: 1-1800, DEFVAL 300).
    kdc_max_skew: int = 300
    km: bool = False
    km_port: int = 11293
    km_suites: list[str] = field(default_factory=lambda: ["sha1-des", "md5-des", "sha1-none", "md5-none"])
    km_lifetime: int = 7 * 86_400
    #: SIP phones (devices of kind sip): the ua-profile notifier's port (0: off), docs/sip.md.
    sip_port: int = 0
    sip_transport: str = "udp"
    sip_push_rate: float = 50.0
    sip_push_window: int = 100
    sip_mac_auth: bool = True
    sip_multicast: bool = False
    #: TLS for SIP (sip_transport = "tls") and HTTPS for the profiles (sip_https_port): PEM files.
    sip_cert: str | None = None
    sip_key: str | None = None
    #: The profiles over HTTPS on this port (0: over the delivery server's HTTP, http_port).
    sip_https_port: int = 0
    #: DHCP option 120 (RFC 3361) to the clients that are no modem or eMTA: domain names or
    #: IPv4 addresses, not both (empty: the advertised address), when sip_port is on.
    sip_dhcp_servers: list[str] = field(default_factory=list)
    #: The firmware catalogue (docs/firmware.md): the largest image taken, bytes, and what an
    #: upload's signature is judged by (a CVC root PEM file and the manufacturer's organization).
    firmware_max_bytes: int = 64 * 1024 * 1024
    firmware_cvc_root: str | None = None
    firmware_manufacturer: str | None = None
    firmware_cosigner: str | None = None
    #: The CVCs an upgrading CM's file carries in TLV 32/33 (PEM or DER files), instead of
    #: the ones the offered code file was signed with.
    firmware_manufacturer_cvc: str | None = None
    firmware_cosigner_cvc: str | None = None
    #: Seconds after a CM file with an offer was served until a modem that has not reported the
    #: offered version is asked why, by SNMP (serve/swchecks.py); 0: never asked.
    firmware_check_after: float = 600.0
    #: Every CM file carries firmware_manufacturer_cvc/firmware_cosigner_cvc (TLV 32/33), not
    #: only one offering an image: a modem takes an upgrade by SNMP only with this boot's CVC.
    firmware_cvc_always: bool = False
    devices: list[dict[str, Any]] = field(default_factory=list)
    dhcp: dict[str, Any] = field(default_factory=dict)

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


#: Realms serve can run: the flows with a server-side table that option 122.6 names. The
#: Secure flow's realm is a Kerberos realm, which serve offers only with its KDC and key
#: management running (serve/secure.py: the lab's realm, accepted by _check_runnable).
RUNNABLE_REALMS: tuple[str, ...] = tuple(flow.value for flow in SERVER_TABLES if not flow.secure)
DEVICE_KINDS = ("cm", "mta", "sip")
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
    "server_budget": (1, 86400), "http_header_timeout": (0.01, 300), "node_heartbeat": (0.2, 300),
    "tftp_max_per_client": (0, 4096), "tftp_max_timeout": (1, 255), "tftp_max_duration": (1, 86400),
    "tftp_admit_sessions": (0, 4096), "enroll_max_in_flight": (0, 1_000_000), "enroll_rate": (0, 1_000_000),
    "sip_port": (0, 65535), "sip_push_rate": (0.1, 100_000), "sip_https_port": (0, 65535),
    "sip_push_window": (1, 10_000),
    "firmware_max_bytes": (1, 128 * 1024 * 1024),  # the code file reader's own bound (MAX_CODE_FILE)
    "firmware_check_after": (0, 7 * 86400),
    "dhcp_workers": (0, 1),  # one worker (partitioning by chaddr over more is not built)
    "kdc_port": (0, 65535), "km_port": (0, 65535), "kdc_max_skew": (1, 1800),
    "km_lifetime": (300, 0x7FFFFFFF),  # the AP Reply's SA lifetime is 4 octets; under 5 minutes it rekeys all day
}
#: Ports serve listens on at ``address`` (0: any free port, or off): no two services may share one.
#: relay_port and agent_port are the peers' ports, not ours.
LISTENERS = ("dhcp_port", "tftp_port", "http_port", "tod_port", "snmp_port", "kdc_port", "km_port", "sip_port",
             "sip_https_port")
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
    _check_api(cfg)
    if cfg.file_scheme not in ("tftp", "http"):
        raise named("file_scheme", f"must be tftp or http, not {cfg.file_scheme!r}")
    if cfg.file_scheme == "http" and not cfg.http_port:
        raise named("file_scheme", "http needs http_port (it is 0, HTTP is off)")
    check_sip(cfg)
    if cfg.log_level not in LOG_LEVELS:
        raise named("log_level", f"must be one of {', '.join(LOG_LEVELS)}, not {cfg.log_level!r}")
    if cfg.log_format not in LOG_FORMATS:
        raise named("log_format", f"must be one of {', '.join(LOG_FORMATS)}, not {cfg.log_format!r}")
    if cfg.mib_tree not in MIB_TREES:
        raise named("mib_tree", f"must be one of {', '.join(MIB_TREES)}, not {cfg.mib_tree!r}")
    try:
        cfg.retention()
    except ValueError as exc:  # its text starts with history_keep / history_days
        key, _, problem = str(exc).partition(" ")
        raise named(key, problem) from None
    if cfg.cm_key is not None and cfg.cm_key_file is not None:
        raise named("cm_key", "set cm_key or cm_key_file, not both")
    _check_ports(cfg)
    kerberos = kerberos_realm(cfg)
    _check_realms(cfg.realms, "realms", kerberos)
    if cfg.templates is not None and not Path(cfg.templates).is_dir():
        raise named("templates", f"{cfg.templates}: no such folder")
    if cfg.data_dir is not None:
        _check_data_dir(Path(cfg.data_dir))
    try:
        parse_store(cfg.store)
    except StoreUrlError as exc:
        raise named("store", str(exc)) from None
    if cfg.secondary_dhcp_server is not None:
        try:
            IPv4Address(cfg.secondary_dhcp_server)
        except ValueError:
            raise named("secondary_dhcp_server", f"must be an IPv4 address, not {cfg.secondary_dhcp_server!r}") from None
    if cfg.node_id is not None:
        try:
            check_id(cfg.node_id)
        except ValueError as exc:
            raise named("node_id", str(exc)) from None
    _check_devices(cfg)
    if cfg.dhcp:
        _check_dhcp_table(cfg)
    else:
        _check_pools(cfg)


def _check_api(cfg: ServeConfig) -> None:
    for i, name in enumerate(cfg.api_hosts):
        if not name or any(c in name for c in " /:@?#[]") or len(name) > 253:
            raise named(join("api_hosts", i), f"not a host name: {name!r}")
    api_ssl(cfg)
    firmware_trust(cfg)
    if cfg.firmware_cvc_always and not any(firmware_cvcs(cfg)):
        raise named("firmware_cvc_always", "needs firmware_manufacturer_cvc or firmware_cosigner_cvc (the CVCs "
                                           "every CM file is to carry)")


#: The largest CVC file taken for TLV 32/33 (a CVC is a few KiB).
MAX_CVC_FILE = 16 * 1024


def firmware_cvcs(cfg: ServeConfig) -> tuple[bytes | None, bytes | None]:
    """The DER of firmware_manufacturer_cvc and firmware_cosigner_cvc (each a PEM or DER
    certificate file), None for one not set."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    found: list[bytes | None] = []
    for key in ("firmware_manufacturer_cvc", "firmware_cosigner_cvc"):
        path = getattr(cfg, key)
        if path is None:
            found.append(None)
            continue
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_CVC_FILE + 1)
        except OSError as exc:
            raise named(key, f"{path}: {exc.strerror or exc}") from None
        if len(data) > MAX_CVC_FILE:
            raise named(key, f"{path}: larger than {MAX_CVC_FILE} bytes, no CVC")
        try:
            cert = x509.load_pem_x509_certificate(data) if data.startswith(b"-----BEGIN") \
                else x509.load_der_x509_certificate(data)
        except ValueError as exc:
            raise named(key, f"{path}: not a PEM or DER certificate ({exc})") from None
        found.append(cert.public_bytes(serialization.Encoding.DER))
    return found[0], found[1]


def firmware_trust(cfg: ServeConfig) -> CvcTrust | None:
    """What the catalogue judges an uploaded code file by: firmware_cvc_root with
    firmware_manufacturer (both or neither), and firmware_cosigner if set."""
    from cryptography import x509

    from pktcable.firmware.codefile import CvcTrust

    if cfg.firmware_cvc_root is None and cfg.firmware_manufacturer is None:
        if cfg.firmware_cosigner is not None:
            raise named("firmware_cosigner", "needs firmware_cvc_root and firmware_manufacturer")
        return None
    if cfg.firmware_cvc_root is None or cfg.firmware_manufacturer is None:
        raise named("firmware_cvc_root" if cfg.firmware_cvc_root is None else "firmware_manufacturer",
                    "set firmware_cvc_root and firmware_manufacturer together")
    try:
        root = x509.load_pem_x509_certificate(Path(cfg.firmware_cvc_root).read_bytes())
    except OSError as exc:
        raise named("firmware_cvc_root", f"{cfg.firmware_cvc_root}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise named("firmware_cvc_root", f"{cfg.firmware_cvc_root}: not a PEM certificate ({exc})") from None
    return CvcTrust(root, cfg.firmware_manufacturer, cfg.firmware_cosigner)


def _check_ports(cfg: ServeConfig) -> None:
    taken: dict[int, str] = {}
    shared = cfg.api_address == cfg.address or "0.0.0.0" in (cfg.api_address, cfg.address)
    for key in (*LISTENERS, "api_port") if shared else LISTENERS:
        port = getattr(cfg, key)
        if port and port in taken:
            raise named(key, f"port {port} is also {taken[port]}")
        taken[port] = key


def _check_realms(realms: Any, key: str, kerberos: str | None = None) -> None:
    if not realms:
        raise named(key, f"empty: give at least one of {', '.join(RUNNABLE_REALMS)}")
    for i, realm in enumerate(realms):
        _check_runnable(realm, join(key, i), kerberos)


def _check_runnable(flow: Any, key: str, kerberos: str | None = None, *, realm: bool = True) -> None:
    """``kerberos``: the Kerberos realm serve offers (its KDC and key management run), or None.
    ``realm``: the value goes in option 122.6, which carries the Secure flow as that realm; a
    device's flow may also say SECURE."""
    if flow in RUNNABLE_REALMS:
        return
    if kerberos is not None and (flow == kerberos or (not realm and flow == Flow.SECURE.value)):
        return
    if kerberos is None and isinstance(flow, str) and Flow.for_realm(flow) is Flow.SECURE:
        raise named(key, f"{flow!r} is a Kerberos realm (the Secure flow): serve offers one only with its KDC "
                         "and key management (secure_pki, kdc = true, km = true)")
    runnable = (*RUNNABLE_REALMS, kerberos) if kerberos else RUNNABLE_REALMS
    raise named(key, f"{flow!r} is not a flow serve can run ({', '.join(runnable)})")


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
        if device.kind == "mta" and "flow" in row:
            _check_runnable(device.flow, join(where, "flow"), kerberos_realm(cfg), realm=False)
        if device.kind in ("cm", "sip") and device.flow:
            raise named(join(where, "flow"), f"a {device.kind} has no PacketCable flow")
        if device.kind == "sip":
            from pktcable.phones.profiles import LAYOUTS

            if device.template and device.template not in LAYOUTS:
                raise named(join(where, "template"), f"a phone's template is a layout: {', '.join(LAYOUTS)}")
        elif device.template and not _template_exists(cfg.templates, device.template):
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
    from .site import dhcp_config

    try:
        dhcp_config(cfg)
    except SettingError:  # address / interface / pools, already named (resolve_site, pools)
        raise
    except PoolOutsideSubnet as exc:
        key = next((k for k in POOLS if tuple(IPv4Address(a) for a in getattr(cfg, k)) ==
                    (exc.pool.start, exc.pool.end)), "address")
        raise named(key, f"{exc.pool.start} - {exc.pool.end} is not inside the subnet {exc.network}") from None
    except ValueError as exc:
        raise named("address", str(exc)) from None


def _check_dhcp_table(cfg: ServeConfig) -> None:
    """A full ``[dhcp]`` table, checked as ``pktcable dhcp serve`` checks its file, and
    offering only realms serve can run."""
    from .site import dhcp_config

    known_keys(cfg.dhcp, ("server", "subnet", "class", "reservation"), "dhcp")
    try:
        config = dhcp_config(cfg)
    except SettingError as exc:
        raise named(join("dhcp", exc.key), exc.problem) if exc.key else named("dhcp", str(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise named("dhcp", str(exc)) from None
    for i, device_class in enumerate(config.classes):
        if device_class.kind == "mta":
            _check_realms(device_class.realms, f"dhcp.class[{i}].realms", kerberos_realm(cfg))
    for i, reservation in enumerate(config.reservations):
        if reservation.realm is not None:
            _check_runnable(reservation.realm, f"dhcp.reservation[{i}].realm", kerberos_realm(cfg))
