"""The firmware a SIP phone's profile names, per layout, as data.

``pktcable serve`` writes the image the firmware rules give a phone into its profile
(the variables ``firmware_url``, ``firmware_version``, ``firmware_sha256``; see
pktcable/serve/sipwiring.py); a phone reads it back from the profile it fetched. Each
layout keeps it in its own element (:data:`FIELDS`):

- ``generic`` (our own schema): ``<firmware url=".." version=".." sha256=".."/>``, so a
  phone knows the version before it downloads and can check the bytes it got.
- ``polycom``: the UC Software parameter ``upgrade.custom.server.url``, the URL only.
- ``snom``: ``<firmware-settings><firmware>`` of the XML settings, the URL only.

The vendor layouts name no version: a phone of theirs learns it from the image, and an
image URL it has not taken yet is what tells it to look (the catalogue gives every
version a file name of its own, so a new target is a new URL).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .profiles import ProfileError

#: Our generic layout's namespace.
NS = {"p": "urn:pktcable:params:xml:ns:sip-profile:1"}


@dataclass(frozen=True)
class Fields:
    """XPath expressions (each selecting one string) for a layout's firmware: the image's
    URL, its version and SHA-256 (None: the layout does not carry it)."""

    url: str
    version: str | None = None
    sha256: str | None = None


FIELDS: dict[str, Fields] = {
    "generic": Fields("/p:profile/p:firmware/@url", "/p:profile/p:firmware/@version",
                      "/p:profile/p:firmware/@sha256"),
    "polycom": Fields("/polycomConfig/upgrade/@upgrade.custom.server.url"),
    "snom": Fields("/settings/firmware-settings/firmware/text()"),
}


@dataclass(frozen=True)
class FirmwareOffer:
    """What a profile says of the phone's firmware: the image's URL and, when the layout
    carries them, the version it holds and its SHA-256 (hex)."""

    url: str
    version: str | None = None
    sha256: str | None = None


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def firmware_of(mac: str, layout: str, data: bytes) -> FirmwareOffer | None:
    """The firmware ``data`` (a profile of ``layout``, already schema-checked) names, or None."""
    fields = FIELDS.get(layout)
    if fields is None:
        raise ProfileError(mac, "template", f"no firmware fields for layout {layout!r}")
    try:
        doc = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ProfileError(mac, "schema", f"not well-formed XML: {exc}") from None

    def one(path: str | None) -> str | None:
        if path is None:
            return None
        found = doc.xpath(path, namespaces=NS)
        return str(found[0]).strip() or None if found else None

    url = one(fields.url)
    return None if url is None else FirmwareOffer(url, one(fields.version), one(fields.sha256))


__all__ = ["FIELDS", "NS", "Fields", "FirmwareOffer", "firmware_of"]
