"""What the DHCP core reports: small frozen dataclasses, past-tense facts."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from dhcp.capabilities import VendorClass
from pktcable.store import Lease


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """What a device's option 43 (CableLabs client sub-options) says it is and runs:
    10 vendor name, 9 model number, 5 hardware version, 6 software version ("" when absent)."""

    vendor: str = ""
    model: str = ""
    hw_version: str = ""
    sw_version: str = ""


#: Option 43 sub-option -> DeviceReport field.
REPORT_SUBOPTIONS = {10: "vendor", 9: "model", 5: "hw_version", 6: "sw_version"}


@dataclass(frozen=True, slots=True)
class LeaseBound:
    """An ACK was queued for this lease (it is durable once the ACK is sent)."""

    lease: Lease
    kind: str
    version: str
    #: The option 122.6 realm the ACK carried (MTAs), which names the flow.
    realm: str | None = None
    #: Option 60 as the REQUEST sent it, decoded (None without one): what the device can do.
    vendor: VendorClass | None = None
    #: The client extended the binding it holds (RENEWING/REBINDING): not a new binding,
    #: so no new provisioning run (a device fetches no file for a renewal).
    renewal: bool = False
    #: Option 43's identity and software version (None when the REQUEST had none of them).
    report: DeviceReport | None = None


@dataclass(frozen=True, slots=True)
class LeaseReleased:
    lease: Lease


@dataclass(frozen=True, slots=True)
class LeaseDeclined:
    address: IPv4Address
    mac: str


@dataclass(frozen=True, slots=True)
class LeaseExpired:
    lease: Lease


@dataclass(frozen=True, slots=True)
class FlowNotSupported:
    """No configured realm matches the flows in the MTA's capability TLV 18; the first was sent."""

    mac: str
    realm: str


@dataclass(frozen=True, slots=True)
class Dropped:
    """A datagram that got no reply, and why (malformed ones are also counted)."""

    reason: str
    source: object


Event = LeaseBound | LeaseReleased | LeaseDeclined | LeaseExpired | FlowNotSupported | Dropped
