"""Facts of one MIB object, and the packed text forms the generated data uses.

Pure module: no file, socket, clock or logging access.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any

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


class _Frozen:
    """Immutable slotted record: repr, equality, hash and ``replace`` over
    ``__slots__``. Not a dataclass: the registry is loaded by every cold
    ``pktcable compile``, and ``import dataclasses`` with the methods it
    generates per class is a noticeable part of that start."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle: through __init__ (its parameters are the slots, in order).
        return type(self), self._values()

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (what ``dataclasses.replace`` did)."""
        return type(self)(**{**{n: getattr(self, n) for n in self.__slots__}, **changes})


class IndexPart(_Frozen):
    """One INDEX component of a table row: its base syntax and fixed size.

    ``size`` is the fixed length in octets (strings) or arcs (OIDs) when the
    SYNTAX pins it; such components are encoded without a length prefix.
    """

    __slots__ = ("syntax", "size", "ranges")
    syntax: str
    size: int | None
    ranges: Ranges  # value range (integers) or SIZE ranges (strings)

    def __init__(self, syntax: str, size: int | None = None, ranges: Ranges = ()) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "syntax", syntax)
        setattr_(self, "size", size)
        setattr_(self, "ranges", ranges)


class MibObject(_Frozen):
    __slots__ = ("name", "module", "oid", "kind", "syntax", "enums", "access", "index", "implied", "ranges")
    name: str
    module: str
    oid: tuple[int, ...]
    kind: str
    syntax: str | None
    enums: tuple[tuple[str, int], ...]
    access: str | None
    index: tuple[IndexPart, ...]
    implied: bool  # the last INDEX component is IMPLIED
    # Value ranges of an integer SYNTAX or SIZE ranges of a string one, as
    # net-snmp keeps them (the object's own clause, else its TC's).
    ranges: Ranges

    def __init__(self, name: str, module: str, oid: tuple[int, ...], kind: str, syntax: str | None = None,
                 enums: tuple[tuple[str, int], ...] = (), access: str | None = None, index: tuple[IndexPart, ...] = (),
                 implied: bool = False, ranges: Ranges = ()) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "name", name)
        setattr_(self, "module", module)
        setattr_(self, "oid", oid)
        setattr_(self, "kind", kind)
        setattr_(self, "syntax", syntax)
        setattr_(self, "enums", enums)
        setattr_(self, "access", access)
        setattr_(self, "index", index)
        setattr_(self, "implied", implied)
        setattr_(self, "ranges", ranges)

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
