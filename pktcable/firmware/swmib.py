"""The docsDevSoftware group of DOCS-CABLE-DEVICE-MIB (RFC 4639): its instances and values.

What a modem's agent shows (the simulator's eCM) and what a provisioning server SETs and
reads to push firmware (pktcable.firmware.push) name the same objects from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cache

OID = tuple[int, ...]


class SwAdmin(IntEnum):
    """docsDevSwAdminStatus."""

    UPGRADE_FROM_MGT = 1
    ALLOW_PROVISIONING_UPGRADE = 2
    IGNORE_PROVISIONING_UPGRADE = 3


class SwOper(IntEnum):
    """docsDevSwOperStatus."""

    IN_PROGRESS = 1
    COMPLETE_FROM_PROVISIONING = 2
    COMPLETE_FROM_MGT = 3
    FAILED = 4
    OTHER = 5


class AddressType(IntEnum):
    """InetAddressType (RFC 4001), of docsDevSwServerAddressType."""

    UNKNOWN = 0
    IPV4 = 1
    IPV6 = 2
    IPV4Z = 3
    IPV6Z = 4
    DNS = 16


TFTP, HTTP = 1, 2  # docsDevSwServerTransportProtocol


@dataclass(frozen=True)
class SwOids:
    """The scalar instances (``.0``)."""

    server: OID
    filename: OID
    admin: OID
    oper: OID
    current: OID
    address_type: OID
    address: OID
    transport: OID
    #: DOCS-IETF-BPI2-MIB (RFC 4131): why the last code file or CVC was taken or refused,
    #: and the modem's words for it.
    download_status: OID
    download_string: OID

    def name(self, oid: OID) -> str:
        """The object's name for a message (``docsDevSwFilename.0``), or the dotted OID."""
        for field, value in self.__dict__.items():
            if value == oid:
                return NAMES[field]
        return ".".join(map(str, oid))


NAMES = {"server": "docsDevSwServer.0", "filename": "docsDevSwFilename.0", "admin": "docsDevSwAdminStatus.0",
         "oper": "docsDevSwOperStatus.0", "current": "docsDevSwCurrentVers.0",
         "address_type": "docsDevSwServerAddressType.0", "address": "docsDevSwServerAddress.0",
         "transport": "docsDevSwServerTransportProtocol.0", "download_status": "docsBpi2CodeDownloadStatusCode.0",
         "download_string": "docsBpi2CodeDownloadStatusString.0"}


@cache
def sw_oids() -> SwOids:
    """The instances, from the MIB registry (read once)."""
    from pktcable.mibdata import default_registry

    reg = default_registry()

    def scalar(name: str) -> OID:
        return (*reg.resolve(name), 0)

    dev = "DOCS-CABLE-DEVICE-MIB::docsDevSw"
    return SwOids(scalar(dev + "Server"), scalar(dev + "Filename"), scalar(dev + "AdminStatus"),
                  scalar(dev + "OperStatus"), scalar(dev + "CurrentVers"), scalar(dev + "ServerAddressType"),
                  scalar(dev + "ServerAddress"), scalar(dev + "ServerTransportProtocol"),
                  scalar("DOCS-IETF-BPI2-MIB::docsBpi2CodeDownloadStatusCode"),
                  scalar("DOCS-IETF-BPI2-MIB::docsBpi2CodeDownloadStatusString"))
