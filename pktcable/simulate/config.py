"""What a simulation run is told (:class:`SimConfig`) and what each device
reports back (:class:`DeviceResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from pktcable.flow import Flow, FlowTable, MtaState, Timing, tables
from pktcable.snmp import pktc


@dataclass(slots=True)
class SimConfig:
    server: str  # the DHCP server (or the CMTS helper address it listens on)
    #: Further DHCP servers: the relay sends each request to every one as well, as a CMTS
    #: with one ``cable helper-address`` per server does; a device takes the first answer.
    also_servers: tuple[str, ...] = ()
    dhcp_port: int = 67
    relay: str = "127.0.0.1"
    relay_port: int = 67
    snmp_port: int = 162  # where the INFORMs go (the 122.3 provisioning server)
    agent_port: int = 161  # where each eMTA answers GET/SET (on its leased address)
    tftp_port: int = 69  # for tftp:// URLs and siaddr/file without a port
    #: Where an eCM told to download by HTTP (docsDevSwServerTransportProtocol http(2)) connects
    #: on docsDevSwServer: a real modem's is 80; a lab's server may listen elsewhere.
    cm_http_port: int = 80
    tod_port: int = 37
    inform_community: bytes = b"public"
    read_community: bytes = b"public"
    write_community: bytes = b"private"
    tree: pktc.Tree = pktc.Tree.CABLELABS
    timing: Timing = field(default_factory=Timing)
    provisioning_timer: float | None = None  # seconds; None: 122.8, else the MIB default
    #: Seconds before the first DHCP retransmission; each next wait doubles
    #: (RFC 2131 4.1 says 4 s; a simulation may scale it down for speed).
    dhcp_timeout: float = 1.0
    dhcp_retries: int = 3
    snmp_timeout: float = 1.0
    snmp_retries: int = 3
    run_ecm: bool = True
    seed: int = 0
    #: Check the server as a strict eMTA does: 122.3 in its declared form (an
    #: FQDN is looked up in DNS, never read as an address), OFFERs only from
    #: the 122.1/122.2 servers, config-file objects of this eMTA's MIB tree
    #: with their MIB types, mandatory objects present.
    strict: bool = True
    #: Declare HTTP file download in option 60 (capability sub-TLV 4); without it an
    #: http:// config-file URL is a server error the eMTA cannot follow.
    http: bool = False
    #: Declare the MIB tree in option 60 (capability sub-TLV 23, MIB support).
    declare_mib: bool = False
    #: Seconds a device keeps trying, as a real one does: a walk that fails
    #: starts over (MTA-1, or the eCM's DHCP when the eCM failed) after a
    #: back-off, until it passes or this budget is spent. None: one walk.
    device_budget: float | None = None
    #: Secure: the lab PKI folder whose device certificates (by MAC) the eMTAs use.
    pki: str | None = None
    kdc_port: int = 88  # the KDC of option 122.10 listens here
    km_port: int = 1293  # key management at the 122.3 provisioning server
    #: Secure: the AS and AP backoff waits (MIB defaults or 122.4/122.5) times this
    #: (a simulation may scale them down for speed, as dhcp_timeout does RFC 2131's).
    kerberos_wait_scale: float = 1.0
    #: Secure fault injection, to see the server refuse a broken eMTA: "ap-hmac" (every AP
    #: Request's HMAC is wrong), "usm-keys" (the eMTA's SNMPv3 authentication key is not the
    #: association's); "" none (simulate --fault).
    secure_fault: str = ""
    #: The eCM's software: the version it runs (DHCP option 43 sub-option 6, docsDevSwCurrentVers)
    #: and the file name of its image (a config file's TLV 9 naming another starts an upgrade).
    cm_version: str = "1.0.0"
    cm_image: str = ""
    #: The CVC root (a PEM or DER file) and the manufacturer organization the eCM trusts for code
    #: files; without a root the eCM installs nothing (an upgrade ends in "no-cvc").
    cvc_root: str | None = None
    manufacturer: str = ""
    #: Where each eCM answers SNMP (docsDevSoftware) on its leased address; None: no eCM agent
    #: (a boot storm then holds one socket less per device).
    cm_agent_port: int | None = None
    #: A JSON file of what each eCM ran at the end of an earlier run (pktcable.simulate.cmstate):
    #: a device found there starts from its version and image instead of cm_version/cm_image.
    cm_state: str | None = None
    #: Seconds every device stays up once all have finished their first walk (their agents
    #: answering, a reset walking again): a server that asks a device something after its
    #: flow (a modem still behind a firmware offer, asked why) gets its answer.
    hold: float = 0.0


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
    #: (step label, state name, seconds spent in it), in order, over every walk.
    steps: list[tuple[str, str, float]] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    total: float = 0.0
    #: Walks finished: 1 + the resets that restarted provisioning and ended.
    walks: int = 0
    #: Walks that failed and were started over within the device budget.
    retries: int = 0
    #: loop.time() (the monotonic clock, one for every process on the machine)
    #: when the device started and when its outcome was known (it passed, or
    #: failed with no budget left): the report's rate over time.
    started_at: float = 0.0
    done_at: float = 0.0
    #: The eCM's (or a SIP phone's) software version at the end, and how its last upgrade ended
    #: ("" none was due: "upgraded: 2.0.0", "code-file-rejected: bad-signature", ...;
    #: pktcable.simulate.cmsoftware, pktcable.simulate.phonesoftware).
    cm_version: str = ""
    upgrade: str = ""
    #: The eCM's MAC (hex), its version at the start, the file name of the image it runs at the
    #: end; and, for its last upgrade, the POSIX times the code file's TFTP ended, the eCM
    #: rebooted into the image, and the DHCP server acknowledged the new version (option 43.6).
    #: A SIP phone's (pktcable.simulate.phone): the change NOTIFY whose profile named the image
    #: (``notified_at``; 0 for an eCM, told by its config file), the image's GET ended and
    #: checked, the reboot, and the 2xx to its fresh SUBSCRIBE reporting the new version.
    cm_mac: str = ""
    cm_before: str = ""
    cm_image: str = ""
    notified_at: float = 0.0
    image_at: float = 0.0
    rebooted_at: float = 0.0
    reported_at: float = 0.0
    #: The eCM's code store's access times at the end (pktcable.simulate.cmstate.access_row).
    cm_access: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.state in PASSED_STATES


#: The states a device's walk passes in: an eMTA's OPERATIONAL, a SIP phone's SUBSCRIBED (it stays
#: there, refreshing; pktcable/flow/sip.py).
PASSED_STATES = frozenset({MtaState.OPERATIONAL.name, "SUBSCRIBED"})
