"""The header table: one row per header the codec knows (RFC 3261 §20, RFC 3581,
RFC 6665), with its compact form, whether it may carry a comma-separated list of
values (§7.3.1) and the parser of one value. Headers not in the table are kept
as text and never split, since their grammar may contain commas (Date, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pktcable.sip import grammar as g


@dataclass(frozen=True)
class HeaderDef:
    name: str
    compact: str | None
    multi: bool
    parse: Callable[[str], object]
    #: The grammar allows an empty list (``Accept:`` = nothing acceptable, which is not
    #: the same as no Accept header), kept as one empty-string value.
    may_be_empty: bool = False


#: Name, compact form (IANA SIP parameters registry), list-valued, value parser.
HEADERS: tuple[HeaderDef, ...] = (
    HeaderDef("Via", "v", True, g.parse_via),
    HeaderDef("From", "f", False, g.parse_name_addr),
    HeaderDef("To", "t", False, g.parse_name_addr),
    HeaderDef("Call-ID", "i", False, g.parse_call_id),
    HeaderDef("CSeq", None, False, g.parse_cseq),
    HeaderDef("Contact", "m", True, g.parse_name_addr),
    HeaderDef("Route", None, True, g.parse_name_addr),
    HeaderDef("Record-Route", None, True, g.parse_name_addr),
    HeaderDef("Max-Forwards", None, False, g.parse_max_forwards),
    HeaderDef("Expires", None, False, g.parse_uint32),
    HeaderDef("Min-Expires", None, False, g.parse_uint32),
    HeaderDef("Content-Type", "c", False, g.parse_media_type),
    HeaderDef("Content-Encoding", "e", True, g.parse_token),
    HeaderDef("Content-Length", "l", False, g.parse_uint32),
    HeaderDef("Accept", None, True, g.parse_media_type, may_be_empty=True),
    HeaderDef("Allow", None, True, g.parse_token, may_be_empty=True),
    HeaderDef("Supported", "k", True, g.parse_token, may_be_empty=True),
    HeaderDef("Require", None, True, g.parse_token),
    HeaderDef("Proxy-Require", None, True, g.parse_token),
    HeaderDef("Unsupported", None, True, g.parse_token, may_be_empty=True),
    HeaderDef("Subject", "s", False, g.parse_text),
    HeaderDef("Event", "o", False, g.parse_event),
    HeaderDef("Allow-Events", "u", True, g.parse_token),
    HeaderDef("Subscription-State", None, False, g.parse_subscription_state),
)

#: Lower-cased long and compact names -> row.
BY_NAME: dict[str, HeaderDef] = {
    **{h.name.lower(): h for h in HEADERS},
    **{h.compact: h for h in HEADERS if h.compact is not None},
}


def lookup(name: str) -> HeaderDef | None:
    return BY_NAME.get(name.lower())


def canonical(name: str) -> str:
    """The long form of a known header (compact forms normalized), else ``name`` as sent."""
    row = BY_NAME.get(name.lower())
    return row.name if row is not None else name


def compact(name: str) -> str:
    row = BY_NAME.get(name.lower())
    return row.compact if row is not None and row.compact is not None else name
