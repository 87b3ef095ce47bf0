"""Decoding binary TLV trees (the other half of tlv.binary, which imports it
on the first decode: a compile never does, and does not compile it).

See tlv.binary for the layout and the lossless-decoding rules.
"""

from __future__ import annotations

from .binary import DOCSIS_VENDOR_ID, END, LONG_SNMP, MTA_DELIMITER, PAD, Node
from .errors import DecodeError
from .model import SubTable, TlvDef
from .record import Record


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
