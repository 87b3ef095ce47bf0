"""Lazy reader of the generated registry data (mibs._data, mibs._data_names).

Pure module: the data arrives as an imported module.
"""

from __future__ import annotations

from bisect import bisect_right
from types import ModuleType

from mibs.objects import (
    ACCESS_CODES,
    KIND_CODES,
    SYNTAX_CODES,
    IndexPart,
    MibObject,
    Ranges,
    _parse_enums,
    parse_index,
    parse_ranges,
)

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
        # OIDs of records looked up by name (resolve), each to the record
        # that names it: a config's objects, checked without the tree index.
        self._named: dict[tuple[int, ...], int] = {}
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
        text: str = self._data.NAMES
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
        if cached is None:
            cached = self._walk_oid(index)
        if len(self._named) < 4096:
            self._named.setdefault(cached, self._namer(index))
        return cached

    def _walk_oid(self, index: int) -> tuple[int, ...]:
        # Walk up the parent chain, then build the OIDs back down.
        chain: list[tuple[int, tuple[int, ...]]] = []
        base: tuple[int, ...] = ()
        current = index
        while True:
            hit = self._oids.get(current)
            if hit is not None:
                base = hit
                break
            parent, _, arcs = self._line("OIDS", current).partition(" ")
            # No arcs: the same OID as record <parent>, which names it.
            chain.append((current, tuple(int(a) for a in arcs.split(".")) if arcs else ()))
            if parent == "-":
                break
            current = int(parent)
        for pos, tail in reversed(chain):
            base = base + tail
            self._oids[pos] = base
        return base

    def _namer(self, index: int) -> int:
        """The record whose OIDS line holds the arcs of ``index``'s OID (an
        alias's line names that record instead)."""
        while True:
            parent, _, arcs = self._line("OIDS", index).partition(" ")
            if arcs or parent == "-":
                return index
            index = int(parent)

    def _has_children(self, index: int) -> bool:
        """Whether any record's OID extends record ``index``'s: a line
        ``<index> <arcs>`` (``<index>`` alone is an alias of it)."""
        text: str = self._data.OIDS
        head = f"{index} "
        size = len(head)
        if text.startswith(head) and text[size:size + 1] not in ("\n", ""):
            return True
        pos = text.find("\n" + head)
        while pos >= 0:
            end = pos + 1 + size
            if end < len(text) and text[end] != "\n":
                return True
            pos = text.find("\n" + head, end)
        return False

    def obj(self, index: int) -> MibObject:
        cached = self._objects.get(index)
        if cached is not None:
            return cached
        codes, enum_ref, index_ref, range_ref = (self._line("TYPES", index).split(" ") + ["", "", ""])[:4]
        enums: tuple[tuple[str, int], ...] = ()
        if enum_ref:
            enums = _parse_enums(self._table("ENUMS")[int(enum_ref)])
        parts: tuple[IndexPart, ...] = ()
        implied = False
        if index_ref:
            parts, implied = parse_index(self._table("INDEXES")[int(index_ref)])
        ranges: Ranges = ()
        if range_ref:
            ranges = parse_ranges(self._table("RANGES")[int(range_ref)])
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
            ranges=ranges,
        )
        self._objects[index] = obj
        return obj

    def _table(self, attr: str) -> list[str]:
        table = self._tables.get(attr)
        if table is None:
            table = self._tables[attr] = getattr(self._data, attr).split("\n")
        return table

    def longest_prefix(self, oid: tuple[int, ...]) -> int | None:
        """Index of the record naming the longest prefix of ``oid``."""
        children = self._children
        if children is None:
            # An instance of an object resolved by name: that object, when
            # nothing lies below it (one text search instead of indexing
            # ~27k lines, which a single cold compile would pay for once).
            for length in range(len(oid), 0, -1):
                named = self._named.get(oid[:length])
                if named is not None:
                    if not self._has_children(named):
                        return named
                    break
            # OIDS lines are "<parent> <arcs>", i.e. exactly a child's key in
            # the tree.  Only the record naming an OID has such a line (the
            # others point at it), so each key is unique.
            lines = self._data.OIDS.split("\n")
            children = dict(zip(lines, range(len(lines)), strict=True))
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
