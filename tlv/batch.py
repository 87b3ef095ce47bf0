"""Parsing the files of a batch made from one template: only the lines that differ.

A batch (``pktcable compile`` of many files, ``serve`` building per-device
files) compiles texts that share most of their lines. The parse of the last
file of each line count is kept as a skeleton: its node tree, its lines, and
for each line holding one plain statement (``Keyword value;``) the place of
that line's node in the tree. A new file with the same number of lines is
compared with the skeleton line by line; when every line that differs held a
plain statement and still does (or held only comments and still does), only
those lines are parsed (each through the
batch's statement memo) and their nodes put in place. Anything else (a
differing structure line, a value with MIB-constraint problems, any error, a
file keyword that reads a file) falls back to a whole parse, which also
places every error.

Why that gives the bytes a whole parse gives: a line's tokens do not depend on
the lines around it once every line scans on its own (tlv.lexer), the lines
that are the same keep the block structure, so each identical line sits in
the same block as in the skeleton's file and parses to the same node, and
parsing is a pure function of the text, the table, the OID context and the
BER option, which are all fixed for one memo (see tlv.text.ValueMemo).
"""

from __future__ import annotations

from dataclasses import dataclass

from .binary import Node
from .errors import EncodeError, TlvError
from .lexer import scan_line
from .model import SubTable
from .text import ParseContext, Slot, parse, parse_line, parse_recording

# Skeletons kept per memo (one per line count): files of many shapes fall back
# to plain parses rather than grow this without bound.
SKELETON_LIMIT = 64


@dataclass(slots=True)
class Skeleton:
    table: SubTable
    nodes: list[Node]
    lines: list[str]
    slots: dict[int, Slot]
    blanks: set[int]  # lines with no token (white space, whole comments)

    def apply(self, lines: list[str], pc: ParseContext) -> list[Node] | None:
        """The tree of ``lines`` by changing the differing lines' nodes in
        place (the skeleton becomes that file), or None: parse it whole."""
        old = self.lines
        if lines == old:
            return self.nodes
        for i, (new, was) in enumerate(zip(lines, old, strict=True)):
            if new == was:
                continue
            slot = self.slots.get(i)
            if slot is None:
                if i in self.blanks and _blank(new, pc):
                    old[i] = new  # white space and comments only, both
                    continue
                return None
            node = parse_line(new, i + 1, slot, pc)
            if node is None:
                return None
            slot.parent[slot.at] = node
            old[i] = new
        return self.nodes


def _blank(line: str, pc: ParseContext) -> bool:
    """Whether a line holds no token (only white space and whole comments)."""
    assert pc.memo is not None
    scan = pc.memo.get(("lines",), {}).get(line) or scan_line(line)
    return scan is not None and not scan[0]


def parse_batch(
    text: str,
    table: SubTable,
    pc: ParseContext,
) -> list[Node]:
    """tlv.text.parse() for one file of a batch (``pc.memo`` set; errors
    raised, not collected)."""
    memo = pc.memo
    assert memo is not None
    lines = text.split("\n")
    skeletons: dict[int, Skeleton] = memo.setdefault(("skeletons", id(table), pc.minimal_ber), {})
    warnings = pc.warnings
    mark = len(warnings) if warnings is not None else 0
    skeleton = skeletons.pop(len(lines), None)
    if skeleton is not None and skeleton.table is table:
        try:
            nodes = skeleton.apply(lines, pc)
        except (EncodeError, ValueError):
            nodes = None  # the whole parse below raises it, placed
        if nodes is not None and not pc.loaded:
            skeletons[len(lines)] = skeleton
            return nodes
        if warnings is not None:
            del warnings[mark:]
    pc.loaded = False
    try:
        recorded = parse_recording(text, table, pc)
    except TlvError:
        recorded = None  # parse() below raises it
    if recorded is None:
        if warnings is not None:
            del warnings[mark:]
        return parse(text, table, source=pc.source, ctx=pc.ctx, loader=pc.loader, memo=memo,
                     minimal_ber=pc.minimal_ber, warnings=warnings)
    nodes, slots = recorded
    clean = not pc.loaded and (warnings is None or len(warnings) == mark)
    if clean:
        if len(skeletons) >= SKELETON_LIMIT:
            skeletons.clear()
        scans = memo.get(("lines",), {})
        blanks = {i for i, line in enumerate(lines) if (scan := scans.get(line)) is not None and not scan[0]}
        skeletons[len(lines)] = Skeleton(table, nodes, lines, slots, blanks)
    return nodes

