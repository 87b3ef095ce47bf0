"""TLV trees -> config text that compiles back to the same bytes.

A node is written with its keyword only when its bytes decoded to a value of
its row's type, that value is within the row's limits and re-encodes to the
same bytes; anything else is written as ``GenericTLV`` with its exact bytes.
So the text never loses a byte, whatever the input held.
"""

from __future__ import annotations

from collections.abc import Iterable

from .binary import Node
from .model import OidContext

INDENT = "\t"


def format_nodes(nodes: Iterable[Node], ctx: OidContext | None = None, depth: int = 1) -> list[str]:
    lines: list[str] = []
    pad = INDENT * depth
    for node in nodes:
        if node.comment:
            lines.append(f"{pad}/* {node.comment} */")
        defn = node.defn
        if node.statement is not None:
            lines.append(f"{pad}{node.statement}")
        elif node.children and defn is not None:
            lines.append(f"{pad}{defn.name}")
            lines.append(f"{pad}{{")
            lines.extend(format_nodes(node.children, ctx, depth + 1))
            lines.append(f"{pad}}}")
        elif node.children:
            lines.append(f"{pad}GenericTLV TlvCode {node.code}")
            lines.append(f"{pad}{{")
            lines.extend(format_nodes(node.children, ctx, depth + 1))
            lines.append(f"{pad}}}")
        elif _typed(node):
            assert defn is not None and defn.vtype is not None
            lines.append(f"{pad}{defn.name} {defn.vtype.format(node.decoded, ctx)};")
        else:
            # Includes an aggregate of no sub-TLVs: an empty block does not compile.
            lines.append(f"{pad}{generic(node)}")
    return lines


def _typed(node: Node) -> bool:
    defn = node.defn
    if defn is None or defn.vtype is None or node.decoded is None or defn.check_range(node.decoded):
        return False
    # A short SNMP object in the 2-byte-length TLV 64 would come back as TLV 11.
    return not (node.long and len(node.value) <= 0xFF)


def generic(node: Node) -> str:
    value = node.encoded_value()
    return f"GenericTLV TlvCode {node.code} TlvLength {len(value)} TlvValue 0x{value.hex()};"


def format_config(
    nodes: Iterable[Node], ctx: OidContext | None = None, header: Iterable[str] = (), footer: Iterable[str] = ()
) -> str:
    """``header`` comments go before Main, ``footer`` ones last inside it."""
    lines = [f"/* {h} */" for h in header]
    lines += ["Main", "{", *format_nodes(nodes, ctx), *(f"{INDENT}/* {f} */" for f in footer), "}"]
    return "\n".join(lines) + "\n"
