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

from .binary import Node
from .errors import EncodeError, TlvError
from .lexer import plain_words, scan_line
from .model import SubTable
from .record import Record
from .text import FILE_KEYWORDS, GENERIC, MEMO_LIMIT, ParseContext, Slot, encode_value, parse, parse_recording

# Skeletons kept per memo (one per line count): files of many shapes fall back
# to plain parses rather than grow this without bound.
SKELETON_LIMIT = 64


class Skeleton(Record):
    __slots__ = ("table", "nodes", "lines", "slots", "blanks")
    table: SubTable
    nodes: list[Node]
    lines: list[str]
    slots: dict[int, Slot]
    blanks: set[int]  # lines with no token (white space, whole comments)

    def __init__(self, table: SubTable, nodes: list[Node], lines: list[str], slots: dict[int, Slot],
                 blanks: set[int]) -> None:
        self.table = table
        self.nodes = nodes
        self.lines = lines
        self.slots = slots
        self.blanks = blanks

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


def parse_line(line: str, lineno: int, slot: Slot, pc: ParseContext) -> Node | None:
    """The node of a line holding one plain statement in ``slot``'s block,
    or None when it is anything else or its value has problems."""
    assert pc.memo is not None
    known = pc.memo.get(("statements", id(slot.table), pc.minimal_ber))
    hit = known.get(line) if known is not None else None
    if hit is not None and hit[0] is slot.table:
        head = line.lstrip()
        if not head.startswith("/*"):  # then the keyword starts the line's text
            defn = hit[1]
            return Node(defn.code, hit[3], defn=defn, decoded=hit[2], line=lineno, col=len(line) - len(head) + 1)
    words = plain_words(line)
    if words is not None:
        col = len(line) - len(line.lstrip()) + 1
    else:
        scan = scan_line(line)
        if scan is None or not scan[1]:
            return None
        words = [tok[1] for tok in scan[0]]
        col = scan[0][0][2] + 1
    # What _Parser.statement and leaf do with a plain line, minus placing
    # errors: any problem sends the file to the whole parse, which places it.
    kw = words[0]
    key = kw.lower()
    if key == GENERIC or key in FILE_KEYWORDS or key == "digitmap":
        return None
    defn = slot.table.by_name(kw)
    if defn is None or defn.vtype is None or defn.children is not None:
        return None
    text = " ".join(words[1:-1])
    memo = pc.memo
    vkey = (id(defn), text, pc.minimal_ber)
    found = memo.get(vkey)
    if found is None:
        try:
            value, data = encode_value(defn, text, pc)
        except ValueError:
            return None
        if defn.vtype.problems(value, pc.ctx):
            return None
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[vkey] = found = (value, data)
    known = memo.setdefault(("statements", id(slot.table), pc.minimal_ber), {})
    if len(known) >= MEMO_LIMIT:
        known.clear()
    known[line] = (slot.table, defn, found[0], found[1])
    return Node(defn.code, found[1], defn=defn, decoded=found[0], line=lineno, col=col)


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

