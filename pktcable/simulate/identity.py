"""Who a simulated device is, and the DHCP messages it (and its CMTS) send.

An eCM + eMTA pair per index: locally administered MACs, a serial number, a
correlation id, and the option 60 / 43 / 55 / 61 contents a real eMTA sends
(CL-SP-CANN-DHCP-Reg, PKT-SP-PROV1.5; the capability string follows a Netgear CG3000 with
PacketCable 1.5 and every provisioning flow advertised in TLV 18; option 43
carries sub-options 2, 4-10, 31 and 32 as PKT-SP-PROV1.5 asks of an eMTA). The simulator relays
like a CMTS: giaddr is its relay address and option 82 carries the circuit
and, as remote id, the CM MAC.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from dhcp.message import ZERO, Message, MessageType, build_options, decode, encode, fit
from dhcp.options.space import decode_space, encode_space
from dhcp.options.tables import CABLELABS_CLIENT, CCC

# TLV 18 (0x12, supported provisioning flows) comes last: 0x0007 = Secure,
# Hybrid and Basic; the simulator narrows it to the flow it plays, so a server
# that picks the realm by capability (dhcpd.policy.Policy.realm) can be checked too.
MTA_VENDOR_CLASS = "pktc1.5:051f0101010201020901010b04060903040c01010d01010f010110010912020007"
CM_VENDOR_CLASS = "docsis3.0:0506010101020103"
MTA_PRL = bytes((1, 3, 6, 7, 12, 15, 43, 54, 122))
CM_PRL = bytes((1, 2, 3, 4, 6, 7, 43, 54, 66, 67, 122, 125))
HARDWARE_VERSION = "1.0"
SOFTWARE_VERSION = "2.4.1"
#: The eCM's version until SimConfig.cm_version or an installed image says otherwise.
CM_SOFTWARE_VERSION = "1.0.0"
BOOT_ROM_VERSION = "1.0.3"
MODEL_NUMBER = "SIM-1"
VENDOR_NAME = "pktcable-sim"
SYS_DESCR = f"pktcable simulated eMTA <<HW_REV: {HARDWARE_VERSION}; SW_REV: {SOFTWARE_VERSION}; " \
            f"BOOTR: {BOOT_ROM_VERSION}; VENDOR: {VENDOR_NAME}; MODEL: {MODEL_NUMBER}>>"
#: RFC 2132 9.14: hardware type 1 (Ethernet) then the MAC, as most eMTAs send it.
HTYPE_ETHERNET = 1


#: Capability sub-TLV 4 (HTTP download file access method supported), true.
HTTP_CAPABILITY = "040101"
#: Capability sub-TLV 23 (MIB support) naming one MTA MIB: entries of 2 bytes, the MIB's org, its bit.
MIB_SUPPORT = {"cablelabs": "1703020001", "ietf": "1703020101", "euro": "1703020201"}


def vendor_class(kind: str, flows: int = 0x0007, *, http: bool = False, mib: str | None = None) -> str:
    """Option 60 as the device sends it; the eMTA's pktcMtaDevTypeIdentifier
    is this same string (PKTC-MTA-MIB: "a copy of DHCP option 60").
    ``http``: declare HTTP file download; ``mib``: declare one MIB tree."""
    if kind == "cm":
        return CM_VENDOR_CLASS
    prefix, tlv5 = MTA_VENDOR_CLASS.split(":")
    # Extra sub-TLVs go first: TLV 18 (the flows) stays last, where the simulator narrows it.
    body = (HTTP_CAPABILITY if http else "") + (MIB_SUPPORT[mib] if mib else "") + tlv5[4:-4] + f"{flows:04x}"
    return f"{prefix}:05{len(body) // 2:02x}{body}"


@dataclass(frozen=True, slots=True)
class Identity:
    index: int
    cm_mac: bytes
    mta_mac: bytes
    serial: str
    correlation_id: int

    @classmethod
    def make(cls, index: int, seed: int = 0) -> Identity:
        rng = random.Random(seed * 1_000_003 + index)
        return cls(index, bytes((0x02, 0x10, 0x00)) + index.to_bytes(3, "big"),
                   bytes((0x02, 0x10, 0x01)) + index.to_bytes(3, "big"), f"SIM{index:08d}",
                   rng.randrange(1, 2**31))

    def vendor_options(self, kind: str, flows: int = 0x0007, *, http: bool = False,
                       mib: str | None = None, software: str = CM_SOFTWARE_VERSION) -> list[tuple[int, bytes]]:
        """``software``: the eCM's running version (option 43 sub-option 6)."""
        if kind == "cm":
            # Vendor, model, hardware and software version (10, 9, 5, 6): what a back office's
            # firmware rules match a modem by.
            items: list[tuple[str, Any]] = [("device-type", "ECM"), ("esafe-types", "ECM:EMTA"),
                                            ("serial-number", self.serial), ("hardware-version", HARDWARE_VERSION),
                                            ("software-version", software), ("model-number", MODEL_NUMBER),
                                            ("vendor-name", VENDOR_NAME)]
            return [(60, CM_VENDOR_CLASS.encode()), (43, encode_space(CABLELABS_CLIENT, items, 43)), (55, CM_PRL)]
        items = [("device-type", "EMTA"), ("serial-number", self.serial), ("hardware-version", HARDWARE_VERSION),
                 ("software-version", SOFTWARE_VERSION), ("boot-rom-version", BOOT_ROM_VERSION),
                 ("oui", self.mta_mac[:3]), ("model-number", MODEL_NUMBER), ("vendor-name", VENDOR_NAME),
                 ("mta-mac", self.mta_mac), ("correlation-id", self.correlation_id)]
        return [(60, vendor_class(kind, flows, http=http, mib=mib).encode()),
                (43, encode_space(CABLELABS_CLIENT, items, 43)),
                (55, MTA_PRL), (61, bytes((HTYPE_ETHERNET,)) + self.mta_mac)]


def request(identity: Identity, kind: str, msg_type: MessageType, xid: int, relay: IPv4Address,
            requested: IPv4Address | None = None, server_id: IPv4Address | None = None,
            flows: int = 0x0007, *, http: bool = False, mib: str | None = None, software: str | None = None) -> bytes:
    mac = identity.cm_mac if kind == "cm" else identity.mta_mac
    msg = Message(op=1, xid=xid, chaddr=mac.ljust(16, b"\0"), giaddr=relay, ciaddr=ZERO, hops=1)
    extra: dict[str, Any] = {"http": http, "mib": mib} if http or mib else {}  # an identity patched in tests takes none
    if software is not None:
        extra["software"] = software
    options = [(53, bytes((msg_type,))), *identity.vendor_options(kind, flows, **extra)]
    if requested is not None:
        options.append((50, requested.packed))
    if server_id is not None:
        options.append((54, server_id.packed))
    # The CMTS's relay agent information: circuit id, remote id = the CM MAC.
    options.append((82, b"\x01\x02\x00\x01" + b"\x02\x06" + identity.cm_mac))
    fit(msg, build_options(options))
    return encode(msg)


@dataclass(slots=True)
class Reply:
    """What a simulated device learned from an OFFER or ACK."""

    type: int | None
    yiaddr: IPv4Address
    siaddr: IPv4Address
    file: str
    server_id: IPv4Address | None
    xid: int = 0
    ccc: dict[str, Any] = field(default_factory=dict)
    time_servers: list[IPv4Address] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_reply(data: bytes) -> Reply:
    """A server's reply as the device reads it; raises DhcpError (or
    ValueError) for one that does not decode."""
    msg: Message = decode(data)
    if msg.op != 2:
        raise ValueError(f"op {msg.op} is not BOOTREPLY (2)")
    raw54 = msg.get(54)
    reply = Reply(msg.message_type, msg.yiaddr, msg.siaddr, msg.file.split(b"\0", 1)[0].decode("latin-1"),
                  IPv4Address(raw54) if raw54 and len(raw54) == 4 else None, msg.xid)
    if raw54 is not None and len(raw54) != 4:
        reply.problems.append(f"option 54 (server identifier) is {len(raw54)} bytes, not 4")
    raw122 = msg.get(122)
    if raw122 is not None:
        try:
            reply.ccc = {item.name: item.value for item in decode_space(CCC, raw122, 0, 122)}
        except ValueError as exc:
            reply.problems.append(f"option 122 does not decode: {exc}")
    raw4 = msg.get(4)
    if raw4 and len(raw4) % 4:
        reply.problems.append(f"option 4 (time servers) is {len(raw4)} bytes, not a multiple of 4")
    if raw4:
        reply.time_servers = [IPv4Address(raw4[i : i + 4]) for i in range(0, len(raw4) - 3, 4)]
    return reply
