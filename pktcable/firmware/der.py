"""A strict DER walk: the shape of a received structure checked before any parser reads it.

asn1crypto accepts BER (indefinite lengths, long-form lengths that could be short,
constructed strings) and parses lazily, so damage would surface deep inside, without
a position. This walk reads every tag and length once, refuses what DER forbids
(X.690 section 10) with the byte offset, and keeps the offsets so a later check can
say where in the file a field it refuses starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Universal types that DER encodes in the primitive form only (X.690 10.2 and 8.x):
#: BOOLEAN, INTEGER, BIT STRING, OCTET STRING, NULL, OID, ENUMERATED, the string
#: types and the times. A constructed one is BER's segmented form.
_PRIMITIVE_ONLY = frozenset({1, 2, 3, 4, 5, 6, 10, 12, 18, 19, 20, 22, 23, 24, 26, 27, 28, 30})
MAX_DEPTH = 24  # certificates nest about 10 deep; a deeper file is a parser bomb, not a code file


class DerError(ValueError):
    def __init__(self, offset: int, why: str) -> None:
        super().__init__(f"offset {offset}: {why}")
        self.offset = offset
        self.why = why


@dataclass
class Node:
    """One TLV: where it starts, its first tag byte, where its contents start and end."""

    offset: int
    tag: int
    start: int
    end: int
    children: list[Node] = field(default_factory=list)

    def child(self, *indexes: int) -> Node | None:
        """The node at ``indexes`` below this one (``child(1, 0)``: the first in the second)."""
        node: Node | None = self
        for i in indexes:
            if node is None or not 0 <= i < len(node.children):
                return None
            node = node.children[i]
        return node


def walk(data: bytes) -> Node:
    """The one DER value that is all of ``data``; DerError at the first violation."""
    node, end = _read(data, 0, 0)
    if end != len(data):
        raise DerError(end, f"{len(data) - end} bytes after the end of the structure")
    return node


def _read(data: bytes, pos: int, depth: int) -> tuple[Node, int]:
    if depth > MAX_DEPTH:
        raise DerError(pos, f"nested deeper than {MAX_DEPTH} levels")
    if pos >= len(data):
        raise DerError(pos, "a value is cut off before its tag")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError(pos, f"tag byte 0x{tag:02x}: high tag numbers never occur in a code file")
    constructed = bool(tag & 0x20)
    if constructed and tag & 0xC0 == 0 and tag & 0x1F in _PRIMITIVE_ONLY:
        raise DerError(pos, f"tag 0x{tag:02x}: a constructed string (BER segments; DER needs one piece)")
    length, start = _length(data, pos + 1)
    end = start + length
    if end > len(data):
        raise DerError(pos, f"length {length} runs {end - len(data)} bytes past the end of the data")
    node = Node(pos, tag, start, end)
    if constructed:
        inner = start
        while inner < end:
            child, inner = _read(data, inner, depth + 1)
            if child.end > end:
                raise DerError(child.offset, "a value runs past the end of the one that holds it")
            node.children.append(child)
    return node, end


def _length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise DerError(pos, "a value is cut off before its length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    if first == 0x80:
        raise DerError(pos, "indefinite length (BER; DER lengths are definite)")
    count = first & 0x7F
    if count > 4:
        raise DerError(pos, f"a {count}-byte length: no code file is that large")
    raw = data[pos + 1:pos + 1 + count]
    if len(raw) != count:
        raise DerError(pos, "a value is cut off inside its length")
    length = int.from_bytes(raw, "big")
    if raw[0] == 0 or length < 0x80:
        raise DerError(pos, f"length {length} in the long form where DER needs the shortest")
    return length, pos + 1 + count
