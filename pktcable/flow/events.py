"""Events of the provisioning flows: small frozen facts, named in the past tense.

Device-side events are what an eMTA learns from the network (an OFFER it may
accept, a SET of its config-file location, a file that arrived); server-side
events are what the provisioning server did or received for one device.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- device side (the eMTA) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class EcmOperational:
    """The eCM registered and handed over ToD and 122.1/122.2 (CM-10)."""


@dataclass(frozen=True, slots=True)
class EcmFailed:
    """The eCM did not come up (no lease, no config file): the eMTA never starts."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class OfferAccepted:
    """MTA-2: an OFFER from an allowed server with the option 122 it needs."""


@dataclass(frozen=True, slots=True)
class OfferRejected:
    """MTA-2: an OFFER the MTA must ignore (server not in 122.1/122.2,
    122.3 or 122.6 missing); the MTA keeps discovering."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class AckReceived:
    """MTA-4: the lease, with the realm of option 122.6 that picks the flow."""

    realm: str = ""


@dataclass(frozen=True, slots=True)
class NakReceived:
    """A DHCPNAK: back to MTA-1."""


@dataclass(frozen=True, slots=True)
class RealmMismatch:
    """MTA-4: option 122.6 names a flow other than the one this table runs."""

    realm: str = ""


@dataclass(frozen=True, slots=True)
class DhcpGaveUp:
    """No usable OFFER/ACK within the step's time."""


# --- device side, Secure flow (MTA-5 ... MTA-14, SNMPv3) ----------------------


@dataclass(frozen=True, slots=True)
class KdcLocated:
    """MTA-5...8: the KDC of the realm has an address (122.10, or DNS SRV and A)."""

    address: str = ""


@dataclass(frozen=True, slots=True)
class KdcNotFound:
    """MTA-5...8: no address for the realm's KDC."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class AsReplyReceived:
    """MTA-10: a PKINIT AS Reply whose KDC certificate chains to the eMTA's telephony root,
    holding the provisioning server's ticket."""


@dataclass(frozen=True, slots=True)
class TgtReceived:
    """MTA-10: as :class:`AsReplyReceived`, holding a TGT (122.7 asked for one): MTA-11/12 follow."""


@dataclass(frozen=True, slots=True)
class AsReplyUntrusted:
    """MTA-10: an AS Reply the eMTA must not use (the KDC's certificate does not chain to
    its telephony root, or the reply does not verify)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class KdcRefused:
    """MTA-10/12: the KDC answered with a KRB-ERROR (an untrusted or expired device
    certificate, an unknown realm or principal ...); ``code`` is the Kerberos error code."""

    code: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class KdcUnanswered:
    """MTA-9...12: no answer from the KDC through the 122.4 (AS) backoff."""


@dataclass(frozen=True, slots=True)
class TgsReplyReceived:
    """MTA-12: the service ticket for the provisioning server, bought with the TGT."""


@dataclass(frozen=True, slots=True)
class ApReplyReceived:
    """MTA-14: the provisioning server's AP Reply verified; the SNMPv3 keys are derived."""


@dataclass(frozen=True, slots=True)
class KeyManagementFailed:
    """MTA-13/14: an AP Reply that does not verify (HMAC, AP-REP), a key-management Error,
    or no answer through the 122.5 (AP) backoff."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class UsmRejected:
    """MTA-15/25: the provisioning server answered an SNMPv3 INFORM with a USM Report
    (wrong digest, unknown user, not in time window): the keys of MTA-14 do not work."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConfigDecrypted:
    """MTA-23: the file decrypted with the key of the MTA-19 SET and matched its hash."""


@dataclass(frozen=True, slots=True)
class ConfigDecryptFailed:
    """MTA-23: the file does not decrypt with that key, or its hash does not match."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class InformAcked:
    """An SNMP INFORM (enrollment MTA-15, status MTA-25) was acknowledged."""


@dataclass(frozen=True, slots=True)
class InformUnanswered:
    """An INFORM stayed unacknowledged through all its retries."""


@dataclass(frozen=True, slots=True)
class ConfigLocationSet:
    """MTA-19: the server SET pktcMtaDevConfigFile (and the hash)."""

    url: str = ""
    hash: bytes = b""


@dataclass(frozen=True, slots=True)
class SetNotReceived:
    """No SET of the config-file location arrived in time after enrollment."""


@dataclass(frozen=True, slots=True)
class HostResolved:
    """MTA-20/21: the host of the config-file URL has an address."""


@dataclass(frozen=True, slots=True)
class ResolveFailed:
    """MTA-20/21: the host of the config-file URL has no address."""


@dataclass(frozen=True, slots=True)
class FileReceived:
    """MTA-23: the config file arrived (ends the provisioning-timer window)."""

    size: int = 0


@dataclass(frozen=True, slots=True)
class DownloadFailed:
    """MTA-22/23: not found, refused, or the transfer timed out."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConfigAccepted:
    """The file passed the hash check and parsed; ``result`` is 1, 4 or 5."""

    result: int = 1


@dataclass(frozen=True, slots=True)
class ConfigRejected:
    """Hash mismatch or a bad file; ``result`` is 3, 6 or 7."""

    result: int = 3
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProvisioningTimerExpired:
    """The provisioning timer (122.8 / pktcMtaDevProvisioningTimer) ran out
    before MTA-23."""


@dataclass(frozen=True, slots=True)
class ResetRequested:
    """pktcMtaDevResetNow was SET: provisioning starts again at MTA-1."""


# --- server side (one device as the provisioning server sees it) ------------


@dataclass(frozen=True, slots=True)
class LeaseAcked:
    """MTA-4: the DHCP server sent the ACK with option 122."""


@dataclass(frozen=True, slots=True)
class EnrollmentReceived:
    """MTA-15: the enrollment INFORM arrived (and was acknowledged)."""


@dataclass(frozen=True, slots=True)
class EnrollmentRetransmitted:
    """MTA-15 again, with the correlation id of the run being worked on: the
    eMTA retrying because our Response crossed its retry, not a new run."""


@dataclass(frozen=True, slots=True)
class KeysEstablished:
    """MTA-13/14 (Secure): an AP Request verified and answered; the device's SNMPv3
    security association exists (a new one also means the eMTA started over)."""


@dataclass(frozen=True, slots=True)
class KeyRequestRefused:
    """MTA-13 (Secure): an AP Request refused (ticket, HMAC, replay, realm): answered
    with a key-management Error, or not at all."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class UsmFailed:
    """MTA-15/25 (Secure): an SNMPv3 message from the device's user failed USM checks
    (wrong digest, outside the time window): answered with a Report."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConfigBuilt:
    """MTA-18: the device's config file and its hash are ready."""


@dataclass(frozen=True, slots=True)
class ConfigBuildFailed:
    """MTA-18: no config file can be built (template or device data error)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class LocationSetAcked:
    """MTA-19: the MTA answered the SET of URL and hash with noError."""


@dataclass(frozen=True, slots=True)
class LocationSetFailed:
    """MTA-19: the SET failed or went unanswered through its retries."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class LocationSetUnanswered:
    """MTA-19: no Response to the SET through its retries. The eMTA may still
    have acted on it (the Response is what got lost), so this is not yet a failure."""


@dataclass(frozen=True, slots=True)
class FileServed:
    """MTA-23: the TFTP/HTTP service delivered the device's file."""


@dataclass(frozen=True, slots=True)
class StatusReceived:
    """MTA-25: the status INFORM with pktcMtaDevProvisioningState."""

    result: int = 1


@dataclass(frozen=True, slots=True)
class ServerTimerExpired:
    """The flow's provisioning budget ran out before the run reached a final state."""


@dataclass(frozen=True, slots=True)
class LeaseRenewed:
    """A bound device extended its lease (RFC 2131 RENEWING or REBINDING): no new
    binding, so no new run; a device does not fetch its file again for it."""


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """CM-5/6 (MTA-22/23): a transfer of the device's file ended before all of it was delivered."""
