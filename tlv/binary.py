"""Binary TLV trees: decode bytes to :class:`Node` trees and encode them back.

Layout (MULPI Annex C): type (1 byte), length (1 byte), value. Two exceptions
live at the top level only: in a CM file type 0 is a single pad byte and type
255 ends the data (the rest is zero padding); in a PacketCable MTA file type 64
carries a long SNMP object with a 2-byte length (PKT-SP-PROV1.5 9.1).

Decoding is lossless: every node keeps its value bytes, so
``encode_nodes(decode(b).nodes) + trailer == b`` for every ``b`` accepted.
Unknown types are kept as raw nodes. A value that does not fit its schema type
raises :class:`DecodeError` in strict mode and stays raw otherwise. The
decoder itself is tlv.bindecode (imported by the first ``decode``).
"""

from __future__ import annotations

from .errors import EncodeError
from .model import SubTable, TlvDef
from .record import IdentityRecord

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any

    from .bindecode import Decoded

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
    return b"".join(encode_pieces(nodes, path, source))


def encode_pieces(nodes: list[Node], path: str = "", source: str | None = None) -> list[bytes]:
    """Each node's whole TLV (type, length, value), in order: encode_nodes
    without the join, for a caller that needs the top-level TLVs apart (the
    CMTS MIC takes some of them) without splitting the bytes again."""
    out: list[bytes] = []
    for node in nodes:
        children = node.children
        if children is None:
            value = node.value
        else:
            # The path is only for errors: built for a block, never for a leaf.
            value = b"".join(encode_pieces(children, f"{path}.{node.code}" if path else str(node.code), source))
        n = len(value)
        if node.long:
            if n > 0xFFFF:
                raise _too_long(node, path, n, 0xFFFF, source)
            out.append(bytes((node.code, n >> 8, n & 0xFF)) + value)
        else:
            if n > 0xFF:
                raise _too_long(node, path, n, 0xFF, source)
            out.append(bytes((node.code, n)) + value)
    return out


def _too_long(node: Node, parent: str, n: int, limit: int, source: str | None) -> EncodeError:
    path = f"{parent}.{node.code}" if parent else str(node.code)
    name = node.defn.name if node.defn else f"TLV {node.code}"
    return EncodeError(f"{name} value is {n} bytes; a TLV holds at most {limit}", path=path, source=source,
                       line=node.line, col=node.col)


def decode(data: bytes, table: SubTable, *, strict: bool = True, mta: bool | None = None) -> Decoded:
    """Decode a whole config file (tlv.bindecode.decode)."""
    from .bindecode import decode as run

    return run(data, table, strict=strict, mta=mta)
