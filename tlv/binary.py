"""Binary TLV trees: decode bytes to :class:`Node` trees and encode them back.

Layout (MULPI Annex C): type (1 byte), length (1 byte), value. Two exceptions
live at the top level only: in a CM file type 0 is a single pad byte and type
255 ends the data (the rest is zero padding); in a PacketCable MTA file type 64
carries a long SNMP object with a 2-byte length (PKT-SP-PROV1.5 9.1).

Decoding is lossless: every node keeps its value bytes, so
``encode_nodes(decode(b).nodes) + trailer == b`` for every ``b`` accepted.
Unknown types are kept as raw nodes. A value that does not fit its schema type
raises :class:`DecodeError` in strict mode and stays raw otherwise.
"""

from __future__ import annotations

from typing import Any

from .errors import DecodeError, EncodeError
from .model import SubTable, TlvDef
from .record import IdentityRecord, Record

PAD = 0
END = 255
MTA_DELIMITER = 254
LONG_SNMP = 64  # MTA files: TLV 11 with a 2-byte length
DOCSIS_VENDOR_ID = b"\xff\xff\xff"  # TLV 43 sub-types defined by DOCSIS (MULPI C.1.1.18)


class Node(IdentityRecord):
    """One TLV. ``children`` is set when the value was read as sub-TLVs.

    ``value`` holds the value bytes of a leaf (for an aggregate it is derived
    from the children on encode). ``decoded`` caches the typed value of a leaf
    whose bytes fit its row's type. ``long`` marks the 2-byte length form.
    ``line``/``col`` point into the text the node came from, when it did.
    """

    __slots__ = ("code", "value", "children", "defn", "decoded", "long", "offset", "line", "col", "comment",
                 "statement")
    code: int
    value: bytes
    children: list[Node] | None
    defn: TlvDef | None
    decoded: Any
    long: bool
    offset: int
    line: int | None
    col: int | None
    comment: str | None
    #: Written to text as is instead of the node (e.g. a file keyword that
    #: stands for a run of certificate TLVs).
    statement: str | None

    def __init__(self, code: int, value: bytes = b"", children: list[Node] | None = None, defn: TlvDef | None = None,
                 decoded: Any = None, long: bool = False, offset: int = -1, line: int | None = None,
                 col: int | None = None, comment: str | None = None, statement: str | None = None) -> None:
        self.code = code
        self.value = value
        self.children = children
        self.defn = defn
        self.decoded = decoded
        self.long = long
        self.offset = offset
        self.line = line
        self.col = col
        self.comment = comment
        self.statement = statement

    def encoded_value(self) -> bytes:
        return self.value if self.children is None else encode_nodes(self.children)


def encode_nodes(nodes: list[Node], path: str = "", source: str | None = None) -> bytes:
    """Nodes -> bytes; ``path`` is the parent's TLV path and ``source`` the
    text the nodes came from (a file name), for errors."""
    out = bytearray()
    for node in nodes:
        if node.children is None:
            value = node.value
        else:
            value = encode_nodes(node.children, f"{path}.{node.code}" if path else str(node.code), source)
        n = len(value)
        if node.long:
            if n > 0xFFFF:
                raise _too_long(node, path, n, 0xFFFF, source)
            out += bytes((node.code, n >> 8, n & 0xFF))
        else:
            if n > 0xFF:
                raise _too_long(node, path, n, 0xFF, source)
            out += bytes((node.code, n))
        out += value
    return bytes(out)


def _too_long(node: Node, parent: str, n: int, limit: int, source: str | None) -> EncodeError:
    path = f"{parent}.{node.code}" if parent else str(node.code)
    name = node.defn.name if node.defn else f"TLV {node.code}"
    return EncodeError(f"{name} value is {n} bytes; a TLV holds at most {limit}", path=path, source=source,
                       line=node.line, col=node.col)


class Decoded(Record):
    """Result of :func:`decode`: the nodes, the file kind and what follows them."""

    __slots__ = ("nodes", "mta", "end_marker", "pad", "problems", "damage")
    nodes: list[Node]
    mta: bool
    end_marker: bool  # a CM file's TLV 255 was present
    pad: int  # zero bytes after the end marker (or top-level pad bytes)
    problems: list[str]
    #: Lenient decoding only: where reading the top level stopped, and why.
    #: The nodes before it are all there is; the text marks the spot.
    damage: DecodeError | None

    def __init__(self, nodes: list[Node], mta: bool, end_marker: bool = False, pad: int = 0,
                 problems: list[str] | None = None, damage: DecodeError | None = None) -> None:
        self.nodes = nodes
        self.mta = mta
        self.end_marker = end_marker
        self.pad = pad
        self.problems = [] if problems is None else problems
        self.damage = damage


def decode(data: bytes, table: SubTable, *, strict: bool = True, mta: bool | None = None) -> Decoded:
    """Decode a whole config file.

    ``mta`` None means: an MTA file when the first byte is TLV 254. In strict
    mode a broken structure raises; otherwise a broken aggregate stays raw,
    damage at the top level (a TLV past the end, bytes after the end marker)
    ends the decoding there and is kept in ``Decoded.damage``, and either is
    listed in ``Decoded.problems``. A value that does not
    fit its row's type is always kept raw and listed, never dropped.
    """
    if mta is None:
        mta = bool(data) and data[0] == MTA_DELIMITER
    result = Decoded([], mta)
    try:
        _top_level(data, table, result, _Reader(data, strict, result.problems))
    except DecodeError as exc:
        if strict:
            raise
        # Lenient: keep what came before the damage and say where it is.
        result.damage = exc
        result.problems.append(f"{exc}; the rest of the file ({len(data) - exc.offset} bytes) is not decoded")
    return result


def _top_level(data: bytes, table: SubTable, result: Decoded, reader: _Reader) -> None:
    mta, pos, n = result.mta, 0, len(data)
    while pos < n:
        code = data[pos]
        if not mta and code == END:
            result.end_marker = True
            rest = data[pos + 1 :]
            bad = next((i for i, b in enumerate(rest) if b != 0), None)
            if bad is not None:
                raise DecodeError("non-zero byte after the end-of-data marker (TLV 255)", offset=pos + 1 + bad)
            result.pad = len(rest)
            return
        if not mta and code == PAD:
            # Legal in DOCSIS, but only as padding after TLV 255 in practice;
            # the text form has no way to place one, so refuse it openly.
            raise DecodeError("pad byte (TLV 0) before the end-of-data marker", offset=pos)
        long = mta and code == LONG_SNMP
        hdr = 3 if long else 2
        if pos + hdr > n:
            raise DecodeError(f"TLV {code} header truncated", offset=pos, path=str(code))
        length = (data[pos + 1] << 8 | data[pos + 2]) if long else data[pos + 1]
        start, end = pos + hdr, pos + hdr + length
        if end > n:
            raise DecodeError(
                f"TLV {code} length {length} runs past the end of the data ({n - start} bytes left)",
                offset=pos,
                path=str(code),
            )
        # TLV 64 in an MTA file is TLV 11 with a longer length field.
        defn = table.by_code(11) if long else table.by_code(code)
        result.nodes.append(reader.node(start, end, code, defn, str(code), long))
        pos = end


class _Reader:
    __slots__ = ("data", "strict", "problems")

    def __init__(self, data: bytes, strict: bool, problems: list[str]) -> None:
        self.data = data
        self.strict = strict
        self.problems = problems

    def children(self, start: int, end: int, table: SubTable, path: str) -> list[Node]:
        data, nodes, pos = self.data, [], start
        vendor = table.vendor_scope is not None and self.foreign_vendor(start, end, table.vendor_scope)
        while pos < end:
            code = data[pos]
            p = f"{path}.{code}"
            if pos + 2 > end:
                raise DecodeError("sub-TLV header truncated", offset=pos, path=p)
            length = data[pos + 1]
            s, e = pos + 2, pos + 2 + length
            if e > end:
                raise DecodeError(
                    f"sub-TLV length {length} runs past its parent ({end - s} bytes left)", offset=pos, path=p
                )
            defn = None if vendor and code != table.vendor_scope else table.by_code(code)
            nodes.append(self.node(s, e, code, defn, p, False))
            pos = e
        return nodes

    def foreign_vendor(self, start: int, end: int, code: int) -> bool:
        """Whether a vendor-ID sub-TLV names a vendor other than DOCSIS itself."""
        data, pos = self.data, start
        while pos + 2 <= end:
            if data[pos] == code:
                return data[pos + 2 : pos + 2 + data[pos + 1]] != DOCSIS_VENDOR_ID
            pos += 2 + data[pos + 1]
        return False

    def node(self, start: int, end: int, code: int, defn: TlvDef | None, path: str, long: bool) -> Node:
        value = self.data[start:end]
        node = Node(code, value, defn=defn, long=long, offset=start - (3 if long else 2))
        if defn is None:
            return node
        if defn.children is not None:
            try:
                node.children = self.children(start, end, defn.children, path)
            except DecodeError as exc:
                if self.strict:
                    raise
                self.problems.append(f"{exc} (TLV {path} kept as raw bytes)")
            return node
        assert defn.vtype is not None
        try:
            decoded = defn.vtype.decode(value)
            if defn.vtype.encode(decoded) != value:
                raise ValueError("value not in canonical form")
        except ValueError as exc:
            self.problems.append(f"offset {start}, TLV {path}: {defn.name}: {exc} (kept as raw bytes)")
            return node
        node.decoded = decoded
        return node
