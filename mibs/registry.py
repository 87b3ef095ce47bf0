"""OID registry: SNMP object names <-> OIDs, with type, enum and index facts.

Pure module: no file, socket, clock or logging access.  The default data comes
from the generated ``mibs._data`` module, imported only when first needed; user
definitions arrive as ready-made ``MibObject`` records.

The packed data is decoded lazily and piecemeal because a config compile
resolves a handful of names, and building full indexes for ~27k objects
would cost more than the whole interpreter start.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

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


# --------------------------------------------------------------------------
# Packed default data


class _Packed:
    """Lazy view of the generated data tables (see mibs._data for the format).

    Tables are sliced per module on demand, so resolving a few names touches
    a few hundred lines instead of splitting ~27k.
    """

    _TABLES = ("NAMES", "OIDS", "TYPES")

    def __init__(self, data: ModuleType) -> None:
        self._data = data
        modules: list[str] = []
        starts: list[int] = []
        offsets: list[list[int]] = [[], [], []]
        start = 0
        for line in data.MODULES.split("\n"):
            name, count, *table_offsets = line.split(" ")
            modules.append(name)
            starts.append(start)
            for column, offset in zip(offsets, table_offsets, strict=True):
                column.append(int(offset))
            start += int(count)
        self.modules = modules
        self.size = start
        self._starts = starts + [start]
        self._offsets = {
            table: column + [len(getattr(data, table)) + 1]
            for table, column in zip(self._TABLES, offsets, strict=True)
        }
        self._segments: dict[tuple[str, int], list[str]] = {}
        self._names: list[str] | None = None
        self._name_index: dict[str, int] | None = None
        self._lookups = 0
        self._oids: dict[int, tuple[int, ...]] = {}
        self._children: dict[str, int] | None = None
        self._objects: dict[int, MibObject] = {}
        self._tables: dict[str, list[str]] = {}

    def _module_pos(self, index: int) -> int:
        return bisect_right(self._starts, index) - 1

    def module_of(self, index: int) -> str:
        return self.modules[self._module_pos(index)]

    def _segment(self, table: str, mpos: int) -> list[str]:
        segment = self._segments.get((table, mpos))
        if segment is None:
            offsets = self._offsets[table]
            text = getattr(self._data, table)[offsets[mpos]:offsets[mpos + 1] - 1]
            segment = self._segments[table, mpos] = text.split("\n")
        return segment

    def _line(self, table: str, index: int) -> str:
        mpos = self._module_pos(index)
        return self._segment(table, mpos)[index - self._starts[mpos]]

    # Names ---------------------------------------------------------------

    def names(self) -> list[str]:
        if self._names is None:
            self._names = self._data.NAMES.split("\n")
        return self._names

    def name(self, index: int) -> str:
        return self._line("NAMES", index)

    def find(self, name: str) -> int | None:
        """Index of the first (highest precedence) record called ``name``."""
        if self._name_index is not None:
            return self._name_index.get(name)
        self._lookups += 1
        if self._lookups > 32:
            # Many lookups: a full dict is now cheaper than repeated scans.
            names = self.names()
            count = len(names)
            # Reversed so that the first occurrence of a name wins.
            self._name_index = dict(zip(reversed(names), range(count - 1, -1, -1), strict=True))
            return self._name_index.get(name)
        # A few lookups: scanning the packed text beats building a dict.
        if not name or "\n" in name:
            return None
        text = self._data.NAMES
        if text.startswith(name + "\n"):
            return 0
        pos = text.find("\n" + name + "\n") + 1
        if pos == 0:
            if not text.endswith("\n" + name):
                return None
            pos = len(text) - len(name)
        offsets = self._offsets["NAMES"]
        mpos = bisect_right(offsets, pos) - 1
        return self._starts[mpos] + text.count("\n", offsets[mpos], pos)

    def find_in_module(self, module: str, name: str) -> int | None:
        try:
            mpos = self.modules.index(module)
            return self._starts[mpos] + self._segment("NAMES", mpos).index(name)
        except ValueError:
            return None

    # Records -------------------------------------------------------------

    def oid(self, index: int) -> tuple[int, ...]:
        cached = self._oids.get(index)
        if cached is not None:
            return cached
        # Walk up the parent chain, then build the OIDs back down.
        chain: list[tuple[int, tuple[int, ...]]] = []
        base: tuple[int, ...] = ()
        current = index
        while True:
            hit = self._oids.get(current)
            if hit is not None:
                base = hit
                break
            parent, arcs = self._line("OIDS", current).split(" ")
            chain.append((current, tuple(int(a) for a in arcs.split("."))))
            if parent == "-":
                break
            current = int(parent)
        for pos, arcs in reversed(chain):
            base = base + arcs
            self._oids[pos] = base
        return base

    def obj(self, index: int) -> MibObject:
        cached = self._objects.get(index)
        if cached is not None:
            return cached
        codes, enum_ref, index_ref = (self._line("TYPES", index).split(" ") + ["", ""])[:3]
        enums: tuple[tuple[str, int], ...] = ()
        if enum_ref:
            enums = _parse_enums(self._table("ENUMS")[int(enum_ref)])
        parts: tuple[IndexPart, ...] = ()
        implied = False
        if index_ref:
            parts, implied = parse_index(self._table("INDEXES")[int(index_ref)])
        obj = MibObject(
            name=self.name(index),
            module=self.module_of(index),
            oid=self.oid(index),
            kind=KIND_CODES[codes[0]],
            syntax=SYNTAX_CODES[codes[1]],
            enums=enums,
            access=ACCESS_CODES[codes[2]],
            index=parts,
            implied=implied,
        )
        self._objects[index] = obj
        return obj

    def _table(self, attr: str) -> list[str]:
        table = self._tables.get(attr)
        if table is None:
            table = self._tables[attr] = getattr(self._data, attr).split("\n")
        return table

    def longest_prefix(self, oid: tuple[int, ...]) -> int | None:
        """Index of the first record whose OID is the longest prefix of ``oid``."""
        children = self._children
        if children is None:
            # OIDS lines are "<parent> <arcs>", i.e. exactly a child's key in
            # the tree; reversed so that the first record of an OID wins.
            lines = self._data.OIDS.split("\n")
            children = dict(zip(reversed(lines), range(len(lines) - 1, -1, -1), strict=True))
            self._children = children
        arcs = [str(arc) for arc in oid]
        parent = "-"
        best = None
        pos = 0
        while pos < len(arcs):
            # A record's parent is its longest known prefix, so at most one
            # child of a node matches: the first hit is the one.
            segment = parent + " "
            for end in range(pos, len(arcs)):
                segment += arcs[end] if end == pos else "." + arcs[end]
                hit = children.get(segment)
                if hit is not None:
                    best, parent, pos = hit, str(hit), end + 1
                    break
            else:
                break
        return best


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


def format_index(parts: Sequence[IndexPart], implied: bool) -> str:
    """Packed form of an INDEX clause: ``i,s6,s*`` (``*``: last is IMPLIED)."""
    text = ",".join(
        _SYNTAX_LETTER[p.syntax] + ("" if p.size is None else str(p.size)) for p in parts
    )
    return text + ("*" if implied else "")


def parse_index(text: str) -> tuple[tuple[IndexPart, ...], bool]:
    implied = text.endswith("*")
    parts = []
    for item in text.rstrip("*").split(","):
        size = item[1:]
        parts.append(IndexPart(SYNTAX_CODES[item[0]] or OCTET_STRING, int(size) if size else None))
    return tuple(parts), implied


# --------------------------------------------------------------------------
# Parsing of textual OIDs


def _parse_suffix(text: str, pos: int, original: str) -> list[int]:
    """Parse ``.1.2.'abc'."def"`` starting at ``pos`` into arcs."""
    arcs: list[int] = []
    end = len(text)
    while pos < end:
        if text[pos] != ".":
            raise MibError(f"cannot parse {original!r}: expected '.' at position {pos + 1}")
        pos += 1
        if pos >= end:
            raise MibError(f"cannot parse {original!r}: trailing '.'")
        char = text[pos]
        if char in "'\"":
            close = text.find(char, pos + 1)
            if close < 0:
                raise MibError(f"cannot parse {original!r}: unterminated {char} quote")
            data = text[pos + 1:close].encode("utf-8")
            if char == '"':
                arcs.append(len(data))  # double quotes: length-prefixed string
            arcs.extend(data)
            pos = close + 1
            continue
        stop = pos
        while stop < end and text[stop].isdigit():
            stop += 1
        if stop == pos:
            raise MibError(
                f"cannot parse {original!r}: expected a number or a quoted string "
                f"at position {pos + 1}"
            )
        arc = int(text[pos:stop])
        if arc > _MAX_ARC:
            raise MibError(f"cannot parse {original!r}: sub-identifier {arc} exceeds 2^32-1")
        arcs.append(arc)
        pos = stop
    return arcs


# --------------------------------------------------------------------------
# Registry


class Registry:
    """Name <-> OID lookups over the default data plus optional user records."""

    def __init__(self, packed: _Packed | None, records: Iterable[MibObject] = ()) -> None:
        self._packed = packed
        # User records: first definition of a name wins among them, and they
        # all win over the packed defaults.
        self._user: list[MibObject] = list(records)
        self._user_names: dict[str, MibObject] = {}
        self._user_qualified: dict[tuple[str, str], MibObject] = {}
        self._user_oids: dict[tuple[int, ...], MibObject] = {}
        for obj in self._user:
            self._user_names.setdefault(obj.name, obj)
            self._user_qualified.setdefault((obj.module, obj.name), obj)
            self._user_oids.setdefault(obj.oid, obj)

    def with_records(self, records: Iterable[MibObject]) -> Registry:
        """A new registry with ``records`` layered over this one's definitions."""
        return Registry(self._packed, [*records, *self._user])

    # Lookups -------------------------------------------------------------

    def object(self, name: str) -> MibObject | None:
        """The object called ``name`` or ``MODULE::name``, or None."""
        module, sep, bare = name.rpartition("::")
        if sep:
            return self._qualified(module, bare)
        obj = self._user_names.get(name)
        if obj is not None or self._packed is None:
            return obj
        index = self._packed.find(name)
        return None if index is None else self._packed.obj(index)

    def _qualified(self, module: str, name: str) -> MibObject | None:
        obj = self._user_qualified.get((module, name))
        if obj is not None or self._packed is None:
            return obj
        index = self._packed.find_in_module(module, name)
        return None if index is None else self._packed.obj(index)

    def _oid_of(self, name: str) -> tuple[int, ...] | None:
        # Cheaper than object(): decodes only the OID of a packed record.
        obj = self._user_names.get(name)
        if obj is not None:
            return obj.oid
        if self._packed is None:
            return None
        index = self._packed.find(name)
        return None if index is None else self._packed.oid(index)

    def lookup(self, oid: Sequence[int]) -> MibObject | None:
        """The object whose OID is the longest prefix of ``oid``."""
        key = tuple(oid)
        packed: MibObject | None = None
        if self._packed is not None:
            index = self._packed.longest_prefix(key)
            if index is not None:
                packed = self._packed.obj(index)
        if self._user_oids:
            floor = len(packed.oid) if packed is not None else 0
            # User records win ties: they are layered on top.
            for length in range(len(key), max(floor, 1) - 1, -1):
                obj = self._user_oids.get(key[:length])
                if obj is not None:
                    return obj
        return packed

    def names(self) -> list[str]:
        """All known names (user names first; may contain duplicates)."""
        packed = self._packed.names() if self._packed is not None else []
        return [obj.name for obj in self._user] + packed

    # Text -> OID ---------------------------------------------------------

    def resolve(self, text: str) -> tuple[int, ...]:
        """OID of ``name[.index]``, ``MODULE::name[.index]`` or a dotted OID."""
        original = text
        text = text.strip()
        if not text:
            raise MibError("empty object name")
        if text[0] == "." or text[0].isdigit():
            arcs = _parse_suffix(text if text[0] == "." else "." + text, 0, original)
            if not arcs:
                raise MibError(f"cannot parse {original!r}: empty OID")
            return tuple(arcs)
        module = ""
        qualifier = _MODULE_RE.match(text)
        if qualifier is not None:
            module = qualifier.group(1)
            text = text[qualifier.end():]
        match = _NAME_RE.match(text)
        if match is None:
            raise MibError(f"cannot parse {original!r}: expected an object name")
        name = match.group()
        if module:
            obj = self._qualified(module, name)
            if obj is None:
                raise MibError(self._unknown_qualified(module, name))
            base = obj.oid
        else:
            found = self._oid_of(name)
            if found is None:
                raise MibError(self._unknown(name))
            base = found
        return base + tuple(_parse_suffix(text, match.end(), original))

    def _unknown(self, name: str) -> str:
        message = f"unknown object name {name!r} (not in the loaded MIB modules)"
        hint = self._close_match(name)
        return message + (f"; did you mean {hint!r}?" if hint else "")

    def _unknown_qualified(self, module: str, name: str) -> str:
        known = module in self._modules()
        if not known:
            return f"unknown MIB module {module!r} in '{module}::{name}' (not loaded)"
        message = f"unknown object name {name!r} in module {module} (not in that module)"
        if self.object(name) is not None:
            other = self.object(name)
            assert other is not None
            message += f"; {name!r} is defined in {other.module}"
        return message

    def _modules(self) -> set[str]:
        modules = {obj.module for obj in self._user}
        if self._packed is not None:
            modules.update(self._packed.modules)
        return modules

    def _close_match(self, name: str) -> str | None:
        names = self.names()
        folded = name.lower()
        for candidate in names:
            if candidate.lower() == folded:
                return candidate  # names are case-sensitive: a common slip
        import difflib  # deferred: only error messages need it

        # Narrow the candidates first: difflib over every name is slow.
        head = folded[:3]
        pool = sorted({n for n in names if n[:3].lower() == head}) or sorted(set(names))
        matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
        return matches[0] if matches else None

    # OID -> text ---------------------------------------------------------

    def format(self, oid: Sequence[int], numeric: bool = False) -> str:
        """Text for ``oid`` that ``resolve`` maps back to the same OID."""
        key = tuple(oid)
        if not key:
            raise MibError("cannot format an empty OID")
        for arc in key:
            if not 0 <= arc <= _MAX_ARC:
                raise MibError(f"sub-identifier {arc} is out of range 0..2^32-1")
        dotted = "." + ".".join(map(str, key))
        if numeric:
            return dotted
        obj = self.lookup(key)
        if obj is None:
            return dotted
        name = obj.name
        if self._oid_of(name) != obj.oid:
            name = f"{obj.module}::{name}"
        text = name + _format_suffix(obj, key[len(obj.oid):])
        # Belt and braces: a user module shadowing a default one could make a
        # qualified name ambiguous; never hand out text that reads back wrong.
        try:
            if self.resolve(text) == key:
                return text
        except MibError:
            pass
        return dotted


def _format_suffix(obj: MibObject, suffix: tuple[int, ...]) -> str:
    if not suffix:
        return ""
    numeric = "." + ".".join(map(str, suffix))
    if obj.kind != COLUMN or not obj.index:
        return numeric
    pieces: list[str] = []
    pos = 0
    last = len(obj.index) - 1
    for number, part in enumerate(obj.index):
        rest = suffix[pos:]
        if not rest:
            return numeric
        implied = obj.implied and number == last
        if part.syntax in _STRING_KINDS or part.syntax == OBJECT_IDENTIFIER:
            is_string = part.syntax != OBJECT_IDENTIFIER
            if part.size is not None:
                length, prefixed = part.size, False
            elif implied:
                length, prefixed = len(rest), False
            else:
                length, prefixed = rest[0], True
                rest = rest[1:]
            if len(rest) < length:
                return numeric
            chars = rest[:length]
            pos += length + (1 if prefixed else 0)
            if is_string and chars and all(c in _QUOTABLE for c in chars):
                quote = '"' if prefixed else "'"
                pieces.append("." + quote + "".join(map(chr, chars)) + quote)
            elif is_string and not chars and prefixed:
                pieces.append('.""')
            else:
                arcs = ((length,) if prefixed else ()) + chars
                pieces.append("".join(f".{a}" for a in arcs))
        elif part.syntax == IP_ADDRESS:
            if len(rest) < 4:
                return numeric
            pieces.append("".join(f".{a}" for a in rest[:4]))
            pos += 4
        else:
            pieces.append(f".{rest[0]}")
            pos += 1
    if pos < len(suffix):
        pieces.append("".join(f".{a}" for a in suffix[pos:]))
    return "".join(pieces)


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The registry of the bundled MIB modules (built once, on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        from mibs import _data  # deferred: importing the data is the main cost

        _DEFAULT = Registry(_Packed(_data))
    return _DEFAULT
