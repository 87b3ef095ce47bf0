"""The simulated SIP phone's software: the version it runs and what it does with the
firmware its profile names (sans-IO).

The profile names an image (pktcable/phones/firmware.py): its URL and, in our generic
layout, its version and SHA-256. :meth:`PhoneSoftware.due` says whether the phone fetches
it: when the profile's version is another than the one it runs, or (a vendor layout,
no version) when the URL is one it has not taken or tried yet. The phone's glue fetches
the bytes; :meth:`PhoneSoftware.downloaded` checks and "installs" them:

1. the SHA-256, when the profile carries one: another digest is ``hash-mismatch``;
2. with a CVC root configured (the phone's trust), the image must be a code file that
   verifies against it (pktcable/firmware/codefile.py): else ``code-file-rejected: <reason>``
   (``bad-signature``, ``cvc-untrusted`` ...) or ``unsigned-refused``. Without a trust the
   phone takes the bytes as they are (a lab phone with signing off);
3. the image's version, from its lab header (pktcable/firmware/labimage.py): none is
   ``image-refused``; another than the profile named is ``wrong-version``.

Every refusal leaves the phone on its old version, and it does not fetch the same image
again until the profile names another (a real phone waits for its next boot or check).
DOCSIS's anti-rollback (codeAccessStart) is a cable modem's rule, not a phone's: the
phone keeps no access times, so a rollback rule takes it back to the older image.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import Enum

from pktcable.firmware import codefile as cf
from pktcable.firmware.labimage import ImageError, image_version
from pktcable.phones.firmware import FirmwareOffer
from pktcable.store.firmware import looks_signed

from .cmsoftware import Result

#: Any signing time and CVC start pass: the phone judges who signed, not when.
_NO_TIMES = cf.AccessState(cf.AccessStart(dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                                          dt.datetime(1970, 1, 1, tzinfo=dt.UTC)))
#: The step id of the phone's firmware upgrade in the report (after UA-4, the profile in use).
STEP = "UA-FW"


class Outcome(Enum):
    """How one firmware attempt ended (the report's upgrade state)."""

    UPGRADED = "upgraded"
    #: The GET failed (an HTTP error, no answer, larger than the limit).
    DOWNLOAD_FAILED = "download-failed"
    #: The bytes' SHA-256 is not the one the profile names.
    HASH_MISMATCH = "hash-mismatch"
    #: The code file did not verify against the phone's trust (its reason follows).
    CODE_FILE_REJECTED = "code-file-rejected"
    #: The phone requires signed images and got none.
    UNSIGNED_REFUSED = "unsigned-refused"
    #: No image for this device (no lab image header).
    IMAGE_REFUSED = "image-refused"
    #: The image is another version than the profile named.
    WRONG_VERSION = "wrong-version"




@dataclass
class PhoneSoftware:
    """One phone's software, kept across its reboots."""

    version: str
    trust: cf.CvcTrust | None = None
    #: The image (URL, version) last taken or tried: not tried again while the profile names it.
    tried: tuple[str, str | None] | None = None
    last: Result | None = None
    upgrades: int = 0

    def due(self, offer: FirmwareOffer | None) -> bool:
        """Whether the profile's firmware is to be fetched now."""
        if offer is None or (offer.url, offer.version) == self.tried:
            return False
        if offer.version is not None:
            return offer.version != self.version
        return True  # no version named: the URL is new to the phone, the image will tell

    def downloaded(self, offer: FirmwareOffer, data: bytes, now: dt.datetime | None) -> Result:
        """The image's bytes arrived: check them, read the version, install."""
        self.tried = (offer.url, offer.version)
        if offer.sha256 is not None and hashlib.sha256(data).hexdigest() != offer.sha256:
            return self._end(Outcome.HASH_MISMATCH, f"got {hashlib.sha256(data).hexdigest()[:16]}..., "
                                                    f"the profile names {offer.sha256[:16]}...")
        image = data
        if self.trust is not None:
            if not looks_signed(data):
                return self._end(Outcome.UNSIGNED_REFUSED, "the phone takes signed code files only")
            try:
                image = cf.verify(data, self.trust, now, _NO_TIMES).image
            except cf.CodeFileError as exc:
                return self._end(Outcome.CODE_FILE_REJECTED, exc.reason)
        try:
            version = image_version(image)
        except ImageError as exc:
            return self._end(Outcome.IMAGE_REFUSED, exc.why)
        if offer.version is not None and version != offer.version:
            return self._end(Outcome.WRONG_VERSION, f"the image is {version}, the profile names {offer.version}")
        if version == self.version:
            # A vendor layout's new URL for what it runs already: nothing to install, no reboot.
            self.last = None
            return Result(Outcome.UPGRADED, version)
        self.version = version
        self.upgrades += 1
        self.last = Result(Outcome.UPGRADED, version)
        return self.last

    def download_failed(self, offer: FirmwareOffer, detail: str) -> Result:
        self.tried = (offer.url, offer.version)
        return self._end(Outcome.DOWNLOAD_FAILED, detail)

    def _end(self, outcome: Outcome, detail: str) -> Result:
        self.last = Result(outcome, detail)
        return self.last


__all__ = ["STEP", "Outcome", "PhoneSoftware", "Result"]
