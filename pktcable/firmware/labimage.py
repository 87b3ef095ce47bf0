"""The lab firmware image the simulated cable modem runs: where its version is written (sans-IO).

A real modem knows what an image is from a vendor header that only its own vendor
reads. The simulated modem's images carry a header of their own, one ASCII line at
the very start of the image (the content the code file signs):

    PKTCABLE-SIM-IMAGE <version>\\n

followed by anything (padding, a payload of the size a real image has). The version
is 1 to 64 printable ASCII characters without spaces (docsDevSwCurrentVers is an
SnmpAdminString, DHCP option 43 sub-option 6 a string). An image without the header
is not for this device: the simulated modem refuses to install it, as a modem
refuses an image built for another model.
"""

from __future__ import annotations

MAGIC = b"PKTCABLE-SIM-IMAGE "
MAX_VERSION = 64
#: How far into an image the header's end may be: the magic, the version, the newline.
_HEADER_MAX = len(MAGIC) + MAX_VERSION + 1


class ImageError(ValueError):
    """An image the simulated modem does not take: ``offset`` is where the header is wrong."""

    def __init__(self, why: str, offset: int) -> None:
        super().__init__(f"lab image header at offset {offset}: {why}")
        self.why = why
        self.offset = offset


def make_image(version: str, payload: bytes = b"") -> bytes:
    """An image the simulated modem installs as ``version``."""
    raw = version.encode("utf-8")
    _check(raw)
    return MAGIC + raw + b"\n" + payload


def image_version(image: bytes) -> str:
    """The version an image declares; ImageError for an image without a valid header."""
    if not image.startswith(MAGIC):
        raise ImageError(f"does not start with {MAGIC.decode().strip()!r}: not an image for this device", 0)
    end = image.find(b"\n", len(MAGIC), _HEADER_MAX)
    if end < 0:
        raise ImageError(f"no newline within {_HEADER_MAX} bytes", len(MAGIC))
    raw = image[len(MAGIC):end]
    _check(raw)
    return raw.decode("ascii")


def _check(raw: bytes) -> None:
    if not 1 <= len(raw) <= MAX_VERSION:
        raise ImageError(f"a version of {len(raw)} bytes, not 1 to {MAX_VERSION}", len(MAGIC))
    for i, byte in enumerate(raw):
        if not 0x21 <= byte <= 0x7E:
            raise ImageError(f"version byte 0x{byte:02x} is not printable ASCII", len(MAGIC) + i)
