"""Facts of one MIB object, and the packed text forms the generated data uses.

Pure module: no file, socket, clock or logging access.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Node kinds.
SCALAR = "scalar"
TABLE = "table"
ROW = "row"
COLUMN = "column"
NOTIFICATION = "notification"
NODE = "node"

# Base syntaxes.  Integer32 shares INTEGER's wire type and Unsigned32 shares
# Gauge32's, so each pair is one kind: the kind tells an encoder what to emit.
INTEGER = "INTEGER"
OCTET_STRING = "OCTET STRING"
OBJECT_IDENTIFIER = "OBJECT IDENTIFIER"
IP_ADDRESS = "IpAddress"
COUNTER32 = "Counter32"
GAUGE32 = "Gauge32"
TIMETICKS = "TimeTicks"
COUNTER64 = "Counter64"
OPAQUE = "Opaque"
BITS = "BITS"

# One-letter codes of the packed data format (shared with the generator).
KIND_CODES: dict[str, str] = {
    "s": SCALAR, "t": TABLE, "r": ROW, "c": COLUMN, "n": NOTIFICATION, "o": NODE,
}
SYNTAX_CODES: dict[str, str | None] = {
    "-": None, "i": INTEGER, "s": OCTET_STRING, "o": OBJECT_IDENTIFIER,
    "a": IP_ADDRESS, "c": COUNTER32, "g": GAUGE32, "t": TIMETICKS,
    "C": COUNTER64, "q": OPAQUE, "b": BITS,
}
ACCESS_CODES: dict[str, str | None] = {
    "-": None, "n": "not-accessible", "f": "accessible-for-notify",
    "r": "read-only", "w": "read-write", "c": "read-create", "W": "write-only",
}

_MAX_ARC = 0xFFFFFFFF  # SMI sub-identifiers are unsigned 32-bit
_STRING_KINDS = frozenset({OCTET_STRING, OPAQUE, BITS})
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_MODULE_RE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)::")
# Characters that may appear inside a quoted index on output: printable ASCII
# minus both quote characters, so the text needs no escaping.
_QUOTABLE = frozenset(range(0x20, 0x7F)) - {ord("'"), ord('"')}


# Value ranges (INTEGER and the unsigned kinds) or SIZE ranges (strings) of a
# SYNTAX, as inclusive (low, high) pairs; empty when the SYNTAX sets none.
Ranges = tuple[tuple[int, int], ...]


class MibError(ValueError):
    """A name or OID that cannot be resolved; the message is user-facing."""


@dataclass(frozen=True, slots=True)
class IndexPart:
    """One INDEX component of a table row: its base syntax and fixed size.

    ``size`` is the fixed length in octets (strings) or arcs (OIDs) when the
    SYNTAX pins it; such components are encoded without a length prefix.
    """

    syntax: str
    size: int | None = None
    ranges: Ranges = ()  # value range (integers) or SIZE ranges (strings)


@dataclass(frozen=True, slots=True)
class MibObject:
    name: str
    module: str
    oid: tuple[int, ...]
    kind: str
    syntax: str | None = None
    enums: tuple[tuple[str, int], ...] = ()
    access: str | None = None
    index: tuple[IndexPart, ...] = ()
    implied: bool = False  # the last INDEX component is IMPLIED
    # Value ranges of an integer SYNTAX or SIZE ranges of a string one, as
    # net-snmp keeps them (the object's own clause, else its TC's).
    ranges: Ranges = ()

    def enum_value(self, label: str) -> int | None:
        for name, value in self.enums:
            if name == label:
                return value
        return None

    def enum_label(self, value: int) -> str | None:
        for name, number in self.enums:
            if number == value:
                return name
        return None


def _parse_enums(text: str) -> tuple[tuple[str, int], ...]:
    pairs = []
    for item in text.split(","):
        label, _, value = item.partition("=")
        pairs.append((label, int(value)))
    return tuple(pairs)


def format_enums(enums: Sequence[tuple[str, int]]) -> str:
    """Packed form of an enum list (used by the generator)."""
    return ",".join(f"{label}={value}" for label, value in enums)


_SYNTAX_LETTER = {v: k for k, v in SYNTAX_CODES.items() if v is not None}


def format_ranges(ranges: Ranges) -> str:
    """Packed form of a range list: ``1..64|70`` (a single value alone)."""
    return "|".join(str(low) if low == high else f"{low}..{high}" for low, high in ranges)


def parse_ranges(text: str) -> Ranges:
    pairs = []
    for item in text.split("|"):
        # A negative low bound starts with "-": split at the "..".
        low, sep, high = item.partition("..")
        pairs.append((int(low), int(high if sep else low)))
    return tuple(pairs)


def format_index(parts: Sequence[IndexPart], implied: bool) -> str:
    """Packed form of an INDEX clause: ``i:1..255,s6,s:0..32*``.

    Per component: syntax letter, fixed size, ``:`` and its ranges; a ``*``
    at the end means the last component is IMPLIED.
    """
    text = ",".join(
        _SYNTAX_LETTER[p.syntax] + ("" if p.size is None else str(p.size))
        + (":" + format_ranges(p.ranges) if p.ranges else "")
        for p in parts
    )
    return text + ("*" if implied else "")


def parse_index(text: str) -> tuple[tuple[IndexPart, ...], bool]:
    implied = text.endswith("*")
    parts = []
    for item in text.rstrip("*").split(","):
        head, _, ranges = item.partition(":")
        size = head[1:]
        parts.append(IndexPart(
            SYNTAX_CODES[head[0]] or OCTET_STRING,
            int(size) if size else None,
            parse_ranges(ranges) if ranges else (),
        ))
    return tuple(parts), implied
