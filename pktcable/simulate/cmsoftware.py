"""The simulated eCM's software: the image it runs and what it does with an upgrade (sans-IO).

What a modem keeps across reboots (the version it runs, its Secure Software Download
store, docsDevSwAdminStatus and docsDevSwOperStatus) and its decisions: whether a CM
config file's TLV 9/21/32/33 make a download due, and whether a downloaded code file
is installed. The eCM's walk (pktcable.simulate.ecm) fetches the bytes; this module
decides, with pktcable.firmware.device for the CVCs and the code file and
pktcable.firmware.labimage for the version inside the image. Every way an upgrade can
end has a name (:class:`Outcome`): the compliance report counts them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from enum import Enum
from functools import cache
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from cryptography import x509

from pktcable.firmware import codefile as cf
from pktcable.firmware.device import CodeStore, DownloadStatus, Upgrade, install, take_config
from pktcable.firmware.labimage import ImageError, image_version
from pktcable.firmware.swmib import TFTP, SwAdmin, SwOper

#: The step id of the software download in the compliance report: after registration
#: (CM-9/10) a modem whose config file names another image downloads it.
STEP = "CM-SWDL"
#: Until a code file says otherwise, any signing time and CVC start pass (the factory's
#: stored times are older than any lab CVC).
FACTORY_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Outcome(Enum):
    """How one upgrade attempt ended (the report's upgrade state)."""

    UPGRADED = "upgraded"
    #: A TLV 32/33 CVC was refused (docsBpi2CodeDownloadStatusCode configFileCvcRejected).
    CVC_REJECTED = "cvc-rejected"
    #: TLV 9 names another image, but no CVC in the config file enables a download.
    NOT_ENABLED = "no-cvc"
    #: No server to download from (no TLV 21, no config-file server; or an IPv6 one).
    NO_SERVER = "no-server"
    #: The server answered TFTP ERROR 1 (file not found).
    FILE_MISSING = "file-missing"
    #: The download did not finish (no answer, a TFTP error, too large).
    DOWNLOAD_FAILED = "download-failed"
    #: The code file was refused (its reason name follows: bad-signature, cvc-untrusted ...).
    CODE_FILE_REJECTED = "code-file-rejected"
    #: Signed well, but not an image for this device (no lab image header).
    IMAGE_REFUSED = "image-refused"
    #: Another image asked for after the simulator's bound of upgrades in one walk.
    TOO_MANY = "too-many-upgrades"


@dataclass(frozen=True)
class Attempt:
    """A download the modem is about to make."""

    server: IPv4Address
    filename: str
    from_mgt: bool
    #: docsDevSwServerTransportProtocol: tftp(1), or http(2) (an upgrade from management only:
    #: a config file's TLV 9 download is TFTP's).
    transport: int = TFTP


@dataclass(frozen=True)
class Result:
    """How one upgrade ended: an outcome of the modem's (here) or the phone's own table
    (phonesoftware.Outcome), and its detail."""

    outcome: Enum
    detail: str = ""

    @property
    def name(self) -> str:
        """``code-file-rejected: bad-signature``, ``upgraded: 2.0.0`` ..."""
        value = str(self.outcome.value)
        return f"{value}: {self.detail}" if self.detail else value


@cache
def load_root(path: str) -> x509.Certificate:
    """A CVC root (PEM or DER), read once per run however many devices trust it."""
    data = Path(path).read_bytes()
    return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)


@dataclass
class CmSoftware:
    """One modem's software, kept across its reboots."""

    version: str
    store: CodeStore | None   # None: no CVC root configured, the modem installs nothing
    admin: SwAdmin = SwAdmin.ALLOW_PROVISIONING_UPGRADE
    oper: SwOper = SwOper.OTHER
    server: IPv4Address | IPv6Address | None = None   # docsDevSwServer(Address)
    filename: str = ""                                  # docsDevSwFilename
    transport: int = TFTP                               # docsDevSwServerTransportProtocol
    #: This boot's config file carried a CVC the modem took: a download (from the config file
    #: or by SNMP) is enabled until the next boot.
    enabled: bool = False
    last: Result | None = None
    upgrades: int = 0
    #: The running image's file name when there is no store to keep it in (no CVC root).
    image: str = ""

    @classmethod
    def factory(cls, version: str, image: str, root: x509.Certificate | None, manufacturer: str) -> CmSoftware:
        store = None if root is None else CodeStore(
            cf.CvcTrust(root, manufacturer), cf.AccessState(cf.AccessStart(FACTORY_TIME, FACTORY_TIME)), running=image)
        return cls(version, store, image=image)

    def reboot(self) -> None:
        """What a boot forgets: the enabling CVC is the next config file's to give."""
        self.enabled = False

    def take_config(self, upgrade: Upgrade, config_server: IPv4Address,
                    hold: str | None = None) -> Attempt | Result | None:
        """A registered modem's config file: its CVCs are processed, then the download
        that is due (an :class:`Attempt`), a named refusal, or None (nothing to do).
        ``hold``: why no download may start now (a due one ends in ``too-many-upgrades``)."""
        if upgrade.filename is not None and self.admin is not SwAdmin.IGNORE_PROVISIONING_UPGRADE:
            # docsDevSwFilename/Server show the provisioning's choice, unless set by SNMP (RFC 4639).
            self.filename = upgrade.filename
            self.server = upgrade.server or config_server
        if self.store is None:
            if upgrade.filename is None or upgrade.filename == self.image:
                return None
            return self._end(Outcome.NOT_ENABLED, "the device trusts no CVC root")
        store, due, refused = take_config(self.store, upgrade)
        self.store = store
        if refused is not None:
            return self._end(Outcome.CVC_REJECTED, refused.reason)
        self.enabled = self.enabled or upgrade.manufacturer_cvc is not None or upgrade.cosigner_cvc is not None
        if upgrade.filename is None or upgrade.filename == store.running:
            return None
        if self.admin is SwAdmin.IGNORE_PROVISIONING_UPGRADE:
            return None  # RFC 4639: after an upgrade from management the provisioning's is disregarded
        if not due:
            return self._end(Outcome.NOT_ENABLED, "")
        if hold is not None:
            return self._end(Outcome.TOO_MANY, hold)
        return self._attempt(from_mgt=False)

    def from_mgt(self) -> Attempt | Result:
        """A SET of docsDevSwAdminStatus to upgradeFromMgt(1)."""
        if self.store is None or not self.enabled:
            return self._end(Outcome.NOT_ENABLED, "no CVC taken from this boot's config file")
        return self._attempt(from_mgt=True)

    def _attempt(self, *, from_mgt: bool) -> Attempt | Result:
        if not isinstance(self.server, IPv4Address) or self.server == IPv4Address(0) or not self.filename:
            return self._end(Outcome.NO_SERVER, f"server {self.server}, file {self.filename!r}")
        self.oper = SwOper.IN_PROGRESS
        if from_mgt:
            self.admin = SwAdmin.UPGRADE_FROM_MGT  # reads back so while the download runs (RFC 4639)
        return Attempt(self.server, self.filename, from_mgt, self.transport if from_mgt else TFTP)

    def downloaded(self, attempt: Attempt, code_file: bytes, now: dt.datetime | None) -> Result:
        """The code file arrived: verify, read the image's version, install."""
        assert self.store is not None
        store, got = install(self.store, attempt.filename, code_file, now)
        if isinstance(got, cf.CodeFileError):
            self.store = store
            return self._end(Outcome.CODE_FILE_REJECTED, got.reason, attempt)
        try:
            version = image_version(got.image)
        except ImageError as exc:
            # Signed well but built for another device: nothing is stored, as for any refusal.
            self.store = dataclasses.replace(self.store, status=DownloadStatus.CODE_FILE_REJECTED)
            return self._end(Outcome.IMAGE_REFUSED, exc.why, attempt)
        self.store, self.version = store, version
        self.upgrades += 1
        self.oper = SwOper.COMPLETE_FROM_MGT if attempt.from_mgt else SwOper.COMPLETE_FROM_PROVISIONING
        if attempt.from_mgt:
            self.admin = SwAdmin.IGNORE_PROVISIONING_UPGRADE
        self.last = Result(Outcome.UPGRADED, version)
        return self.last

    def download_failed(self, attempt: Attempt, missing: bool, detail: str) -> Result:
        return self._end(Outcome.FILE_MISSING if missing else Outcome.DOWNLOAD_FAILED, detail, attempt)

    def _end(self, outcome: Outcome, detail: str, attempt: Attempt | None = None) -> Result:
        if attempt is not None:
            self.oper = SwOper.FAILED
            if attempt.from_mgt:
                # RFC 4639: an interrupted management download is tried again after re-initialization;
                # a refused file never gets better, so the modem goes back to the provisioning's.
                self.admin = SwAdmin.ALLOW_PROVISIONING_UPGRADE
        self.last = Result(outcome, detail)
        return self.last
