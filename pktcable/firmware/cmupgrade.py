"""The upgrade TLVs a back office adds to a CM config file, sans-IO.

A CM file that triggers a software upgrade carries (MULPI Annex C; docs/firmware.md):

- TLV 9, SwUpgradeFilename: the image's file name, as the modem asks the server for it;
- TLV 21, SwUpgradeServer: the IPv4 address of the TFTP server that has it;
- TLV 32, ManufacturerCVC, and/or TLV 33, CoSignerCVC: the code verification
  certificate that enables the download (a modem without a valid CVC in its file does
  not download). A CVC is longer than one TLV's 255 octets: it is split into TLVs of
  254 octets in a row, which the modem joins again (as the ``docsis`` tool writes them).

They go after the template's TLVs and before the MICs, which are computed again over
the whole (:func:`with_upgrade`): the CMTS checks the CMTS MIC over the file as sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from tlv.config import CM_MIC, cm_trailer
from tlv.configfile import CVC_CHUNK

from .device import COSIGNER_CVC, MFG_CVC, SW_UPGRADE_FILENAME, SW_UPGRADE_SERVER
from .errors import FieldError

#: The longest file name TLV 9 holds (one TLV).
MAX_FILENAME = 255
#: The largest CVC taken (a CVC is a few KiB; its TLVs must fit a config file beside the rest).
MAX_CVC = 16 * 1024


class UpgradeError(FieldError):
    """Upgrade TLVs that cannot be written; ``field`` names the culprit."""


@dataclass(frozen=True, slots=True)
class UpgradeTlvs:
    """What TLVs 9, 21, 32 and 33 carry for one device."""

    filename: str
    server: IPv4Address
    manufacturer_cvc: bytes | None = None
    cosigner_cvc: bytes | None = None

    def encode(self) -> bytes:
        name = self.filename.encode("ascii", "strict") if self.filename.isascii() else b""
        if not name or len(name) > MAX_FILENAME:
            raise UpgradeError("filename", f"{self.filename!r}: 1 to {MAX_FILENAME} ASCII characters")
        out = bytes((SW_UPGRADE_FILENAME, len(name))) + name + bytes((SW_UPGRADE_SERVER, 4)) + self.server.packed
        return out + cvc_tlvs(self.manufacturer_cvc, self.cosigner_cvc)


def cvc_tlvs(manufacturer_cvc: bytes | None, cosigner_cvc: bytes | None) -> bytes:
    """TLV 32 and TLV 33, each CVC split over as many TLVs of at most 254 octets as it takes."""
    out = bytearray()
    for code, der in ((MFG_CVC, manufacturer_cvc), (COSIGNER_CVC, cosigner_cvc)):
        if der is None:
            continue
        if not der or len(der) > MAX_CVC:
            raise UpgradeError(f"TLV {code}", f"a CVC of {len(der)} octets (1 to {MAX_CVC})")
        for at in range(0, len(der), CVC_CHUNK):
            chunk = der[at:at + CVC_CHUNK]
            out += bytes((code, len(chunk))) + chunk
    return bytes(out)


def body_of(cm_file: bytes) -> bytes:
    """The TLVs of a compiled CM file before its CM MIC (TLV 6); UpgradeError if it has none."""
    pos = 0
    while pos + 2 <= len(cm_file):
        if cm_file[pos] == CM_MIC:
            return cm_file[:pos]
        pos += 2 + cm_file[pos + 1]
    raise UpgradeError("cm_file", f"no CM MIC (TLV 6) in {len(cm_file)} octets")


def with_upgrade(cm_file: bytes, tlvs: bytes, key: bytes) -> bytes:
    """``cm_file`` (compiled, with its MICs) with ``tlvs`` added before its MICs, the CM MIC
    and the CMTS MIC (by ``key``, the CMTS shared secret) computed again."""
    body = body_of(cm_file) + tlvs
    return body + cm_trailer(body, key)


__all__ = ["MAX_CVC", "UpgradeError", "UpgradeTlvs", "body_of", "with_upgrade"]
