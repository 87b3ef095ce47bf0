"""Parse config text into TLV trees, checking every keyword against its block.

Grammar::

    file      := 'Main' '{' statement* '}'
    statement := KEYWORD value ';' | KEYWORD '{' statement* '}'
               | 'GenericTLV' 'TlvCode' N generic-value ';'
               | 'GenericTLV' 'TlvCode' N '{' statement* '}'
               | FILE-KEYWORD '"path"' ';'

A keyword is looked up in the table of the block it sits in (the reference
tool looks it up globally and silently encodes ``TrafficPriority`` inside
``ClassOfService`` as 4.7). Its value text goes to the row's value type.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable

from .binary import Node
from .errors import EncodeError, TextSyntaxError, TlvError
from .lexer import EOF, LBRACE, LINE, RBRACE, SEMI, WORD, Lexer, Token, scan_line
from .model import OidContext, SubTable, TlvDef, keyword_places
from .record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any, NamedTuple, TypedDict

FileLoader = Callable[[str], bytes]

# Keywords that load a file and become one or more TLVs: (code, chunk size).
# Certificates longer than a TLV are split into consecutive TLVs of 254 bytes
# (MULPI C.1.2.10/11, SECv3.0 for the CVC chains 81/82).
FILE_KEYWORDS: dict[str, tuple[int, int]] = {
    "manufacturercvc": (32, 254),
    "cosignercvc": (33, 254),
    "manufacturercvcchainfile": (81, 254),
    "cosignercvcchainfile": (82, 254),
}
GENERIC = "generictlv"


# What a batch of configs made from one template repeats, kept across its
# files. One memo serves one OidContext. Its entries:
#   (row id, value text, minimal_ber) -> (value, bytes) of a parsed value
#   ("lines",) -> {line text: the line's tokens (lexer.LineScan)}
#   ("statements", table id, minimal_ber) -> {line text: (table, row, value,
#       bytes)} for lines holding one plain statement in that table's block
# Parsing a value is a pure function of its row, its text, the OID context
# and the BER length option, and so is a plain statement's node given the
# block's table. Only values with no MIB-constraint problem are kept, so a
# hit stands for a value whose checks passed (a problem is reported for
# every file that has it). Each dict holds at most MEMO_LIMIT entries.
if TYPE_CHECKING:
    ValueMemo = dict[tuple[Any, ...], Any]
else:
    ValueMemo = dict
MEMO_LIMIT = 100_000
# Blocks nest 7 deep in the schema; GenericTLV blocks could nest without end,
# and a limit keeps a hostile file from exhausting the parser's stack.
MAX_DEPTH = 32


class ParseContext(Record):
    __slots__ = ("source", "ctx", "loader", "memo", "minimal_ber", "warnings", "loaded")
    source: str
    ctx: OidContext | None
    loader: FileLoader | None
    memo: ValueMemo | None
    #: Write SNMP objects with minimal BER lengths instead of the docsis
    #: tool's 4-byte header for long strings (ber.docsis_long_header).
    minimal_ber: bool
    #: Lenient mode: problems of values that still encode (MIB constraints)
    #: go here instead of failing the statement. None: strict.
    warnings: list[EncodeError] | None
    #: A file keyword read a file (its bytes are not a function of the text).
    loaded: bool

    def __init__(self, source: str, ctx: OidContext | None, loader: FileLoader | None, memo: ValueMemo | None = None,
                 minimal_ber: bool = False, warnings: list[EncodeError] | None = None, loaded: bool = False) -> None:
        self.source = source
        self.ctx = ctx
        self.loader = loader
        self.memo = memo
        self.minimal_ber = minimal_ber
        self.warnings = warnings
        self.loaded = loaded


def parse(
    text: str,
    table: SubTable,
    *,
    source: str = "<text>",
    ctx: OidContext | None = None,
    loader: FileLoader | None = None,
    errors: list[TlvError] | None = None,
    memo: ValueMemo | None = None,
    minimal_ber: bool = False,
    warnings: list[EncodeError] | None = None,
) -> list[Node]:
    """Config text -> top-level nodes (the contents of ``Main``).

    Raises the first error; with an ``errors`` list, collects every error it
    can recover from (skipping to the end of the bad statement) and goes on.
    ``minimal_ber`` writes SNMP objects with minimal BER lengths. With a
    ``warnings`` list (lenient), a value that encodes but breaks its MIB
    object's constraints is kept and its problems are listed there.
    """
    pc = ParseContext(source, ctx, loader, memo, minimal_ber, warnings)
    lexer = Lexer(text, source)
    toks = lexer.line_tokens(memo.setdefault(("lines",), {}), MEMO_LIMIT) if memo is not None else None
    if toks is not None:
        mark = len(warnings) if warnings is not None else 0
        try:
            return _Parser(lexer, table, pc, None, toks).file()
        except (EncodeError, TextSyntaxError):
            # Errors are placed and collected by the token-by-token parse;
            # lenient warnings from the failed pass are dropped, it repeats them.
            if warnings is not None:
                del warnings[mark:]
    return _Parser(lexer, table, pc, errors).file()


if TYPE_CHECKING:
    class Slot(NamedTuple):
        """Where a line's node stands in the tree, and the block it is in."""

        parent: list[Node]
        at: int
        table: SubTable
        path: str
        block: str
else:
    # The same class as the checker's NamedTuple, made without importing typing.
    Slot = namedtuple("Slot", ("parent", "at", "table", "path", "block"))


def parse_recording(text: str, table: SubTable, pc: ParseContext) -> tuple[list[Node], dict[int, Slot]] | None:
    """parse() of a batch file (``pc.memo`` set, errors raised), with the
    slot of each line holding one plain statement; None when a line does not
    scan on its own (then use parse())."""
    assert pc.memo is not None
    lexer = Lexer(text, pc.source)
    toks = lexer.line_tokens(pc.memo.setdefault(("lines",), {}), MEMO_LIMIT)
    if toks is None:
        return None
    parser = _Parser(lexer, table, pc, None, toks)
    parser.slots = {}
    return parser.file(), parser.slots


def encode_value(defn: TlvDef, text: str, pc: ParseContext) -> tuple[Any, bytes]:
    """A leaf's value text -> (value, bytes); ValueError when it does not fit."""
    assert defn.vtype is not None
    value = defn.vtype.parse(text, pc.ctx)
    if pc.minimal_ber:
        value = defn.vtype.minimal_ber(value)
    reason = defn.check_range(value)
    if reason:
        raise ValueError(reason)
    return value, defn.vtype.encode(value)


# The interpreter's own words for a number it will not read, and what a user
# is told instead (the value types call int() on text they have checked the
# shape of, so only the size can still fail there).
_PLAIN = (
    ("integer string conversion", "a number with thousands of digits is out of range"),
    ("invalid literal for int()", "not a number"),
)


def plain_reason(exc: ValueError) -> str:
    text = str(exc)
    for words, plain in _PLAIN:
        if words in text:
            return plain
    return text


if TYPE_CHECKING:
    class _At(TypedDict):
        """Keyword arguments that place a Node in the source text."""

        line: int
        col: int


class _Parser:
    def __init__(self, lexer: Lexer, table: SubTable, pc: ParseContext, errors: list[TlvError] | None,
                 toks: list[Token] | None = None) -> None:
        self.lexer = lexer
        self.errors = errors
        self.toks = lexer.tokens() if toks is None else toks
        self.i = 0
        self.table = table
        self.pc = pc
        self.depth = 0
        self.kept = False  # the last leaf's value is in the memo (it had no problems)
        # Recording (parse_recording): where each line holding one plain
        # statement put its node, by line index.
        self.slots: dict[int, Slot] | None = None

    # -- token helpers -------------------------------------------------
    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != EOF:
            self.i += 1
        return tok

    def error(self, tok: Token, message: str) -> TextSyntaxError:
        line, col = self.lexer.where(tok.start)
        return TextSyntaxError(message, source=self.pc.source, line=line, col=col)

    def expect(self, kind: str, what: str) -> Token:
        tok = self.take()
        if tok.kind != kind:
            found = "end of input" if tok.kind == EOF else repr(tok.text)
            raise self.error(tok, f"expected {what}, found {found}")
        return tok

    def value_error(self, tok: Token, path: str, reason: str) -> EncodeError:
        line, col = self.lexer.where(tok.start)
        return EncodeError(reason, path=path, source=self.pc.source, line=line, col=col)

    def at(self, tok: Token) -> _At:
        """Where a node starts, for errors found when it is encoded."""
        line, col = self.lexer.where(tok.start)
        return {"line": line, "col": col}

    # -- grammar -------------------------------------------------------
    def file(self) -> list[Node]:
        tok = self.take()
        if tok.kind != WORD or tok.text.lower() != "main":
            raise self.error(tok, "a config starts with 'Main {'")
        self.expect(LBRACE, "'{' after Main")
        nodes = self.block(self.table, "", "Main", tok)
        end = self.take()
        if end.kind != EOF:
            raise self.error(end, "nothing may follow the closing '}' of Main")
        return nodes

    def block(self, table: SubTable, path: str, name: str, opener: Token) -> list[Node]:
        """Statements up to the matching '}'. ``opener`` is the block's keyword."""
        if self.depth >= MAX_DEPTH:
            raise self.error(opener, f"blocks nest more than {MAX_DEPTH} deep")
        self.depth += 1
        try:
            return self._statements(table, path, name, opener)
        finally:
            self.depth -= 1

    def _statements(self, table: SubTable, path: str, name: str, opener: Token) -> list[Node]:
        nodes: list[Node] = []
        statements = 0
        while True:
            tok = self.take()
            if tok.kind == RBRACE:
                if not statements:
                    # The reference's grammar has no empty block (Main included).
                    raise self.error(opener, f"{name} {{ }} is empty: a block holds at least one statement")
                return nodes
            if tok.kind == LINE:
                statements += 1
                at = len(nodes)
                nodes += self.line(tok, table, path, name)
                if self.slots is not None and self.kept and len(nodes) == at + 1:
                    self.slots[self.lexer.where(tok.start)[0] - 1] = Slot(nodes, at, table, path, name)
                continue
            if tok.kind == EOF:
                raise self.error(tok, f"block {name} is never closed: expected '}}'")
            if tok.kind != WORD:
                raise self.error(tok, f"expected a keyword in {name}, found {tok.text!r}")
            start = self.i
            statements += 1
            try:
                nodes.extend(self.statement(tok, table, path, name))
            except (EncodeError, TextSyntaxError) as exc:
                if self.errors is None:
                    raise
                self.errors.append(exc)
                self.skip_statement(start)

    def line(self, tok: Token, table: SubTable, path: str, name: str) -> list[Node]:
        """A line holding one plain statement (a LINE token, only made when
        parsing a batch, which never collects errors: see parse())."""
        memo = self.pc.memo
        assert memo is not None
        known: dict[str, tuple[SubTable, TlvDef, Any, bytes]] = memo.setdefault(
            ("statements", id(table), self.pc.minimal_ber), {})
        hit = known.get(tok.text)
        if hit is not None and hit[0] is table:
            self.kept = True
            defn = hit[1]
            line, col = self.lexer.where(tok.start)
            return [Node(defn.code, hit[3], defn=defn, decoded=hit[2], line=line, col=col)]
        # Parse the line's own tokens as any statement.
        scan = self.lexer.scans.get(tok.text) or scan_line(tok.text)
        assert scan is not None  # it was scanned to make the LINE token
        base = tok.start - scan[0][0][2]  # the line's start
        toks, i = self.toks, self.i
        self.toks = [Token(kind, t, base + s, base + e) for kind, t, s, e in scan[0]] + [toks[i]]
        self.i = 1
        self.kept = False
        try:
            nodes = self.statement(self.toks[0], table, path, name)
        finally:
            self.toks, self.i = toks, i
        if self.kept and len(nodes) == 1:  # a plain value of a row (not GenericTLV or a file keyword)
            node = nodes[0]
            assert node.defn is not None
            if len(known) >= MEMO_LIMIT:
                known.clear()
            known[tok.text] = (table, node.defn, node.decoded, node.value)
        return nodes

    def skip_statement(self, start: int) -> None:
        """Move past the statement that began at token ``start``."""
        self.i = start
        depth = 0
        while True:
            tok = self.peek()
            if tok.kind == EOF or (tok.kind == RBRACE and depth == 0):
                return
            self.take()
            if tok.kind == LBRACE:
                depth += 1
            elif tok.kind == RBRACE:
                depth -= 1
                if depth == 0:
                    return
            elif tok.kind == SEMI and depth == 0:
                return

    def header(self) -> tuple[list[Token], Token]:
        """Tokens up to the ';' or '{' that ends a statement's head."""
        toks: list[Token] = []
        while True:
            tok = self.take()
            if tok.kind in (SEMI, LBRACE):
                return toks, tok
            if tok.kind in (RBRACE, EOF):
                raise self.error(tok, "expected ';' after the value")
            toks.append(tok)

    def statement(self, kw: Token, table: SubTable, path: str, block_name: str) -> list[Node]:
        key = kw.text.lower()
        if key == GENERIC or key in FILE_KEYWORDS or key == "digitmap":
            # Rare statements: their module is compiled only for a file that uses one.
            from . import textspecial

            if key == GENERIC:
                return [textspecial.generic(self, kw, path)]
            if key in FILE_KEYWORDS:
                return textspecial.file_keyword(self, kw, path)
            return [textspecial.digit_map(self, kw, table, path)]
        defn = table.by_name(kw.text)
        if defn is None:
            raise self.error(kw, self.unknown_keyword(kw.text, block_name))
        p = f"{path}.{defn.code}" if path else str(defn.code)
        toks, end = self.header()
        if defn.children is not None:
            if end.kind != LBRACE or toks:
                raise self.error(end if not toks else toks[0], f"{defn.name} is a block: write {defn.name} {{ ... }}")
            children = self.block(defn.children, p, defn.name, kw)
            return [Node(defn.code, children=children, defn=defn, **self.at(kw))]
        if end.kind == LBRACE:
            raise self.error(end, f"{defn.name} takes a value, not a block")
        if not toks:
            raise self.error(end, f"{defn.name} needs a value before ';'")
        return [self.leaf(defn, kw, toks, p)]

    def leaf(self, defn: TlvDef, kw: Token, toks: list[Token], path: str) -> Node:
        assert defn.vtype is not None
        # Tokens joined by one space: comments between them drop out, and
        # the spacing of multi-word values (lists) does not matter.
        text = " ".join(tok.text for tok in toks)
        memo = self.pc.memo
        key = (id(defn), text, self.pc.minimal_ber)
        if memo is not None:
            hit = memo.get(key)
            if hit is not None:
                self.kept = True
                return Node(defn.code, hit[1], defn=defn, decoded=hit[0], **self.at(kw))
        try:
            value, data = encode_value(defn, text, self.pc)
        except ValueError as exc:
            raise self.value_error(toks[0], path, f"{defn.name}: {plain_reason(exc)}") from None
        problems = defn.vtype.problems(value, self.pc.ctx)
        if problems:
            self.report(problems, defn, toks, path)
            memo = None  # a lenient warning must show for every file of a batch
        if memo is not None:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = (value, data)
            self.kept = True
        return Node(defn.code, data, defn=defn, decoded=value, **self.at(kw))

    def report(self, problems: list[tuple[str, str]], defn: TlvDef, toks: list[Token], path: str) -> None:
        """Problems of a value that encodes: warnings when lenient, else
        errors (all of them listed when collecting, the last one raised)."""
        # Each at the token it concerns: the OID (index), the type word, the value.
        place = {"oid": toks[0], "type": toks[1] if len(toks) > 2 else toks[0], "value": toks[-1]}
        found = [self.value_error(place.get(part, toks[0]), path, f"{defn.name}: {message}")
                 for part, message in problems]
        if self.pc.warnings is not None:
            self.pc.warnings.extend(found)
            return
        if self.errors is not None:
            self.errors.extend(found[:-1])
        raise found[-1]

    def unknown_keyword(self, word: str, block_name: str) -> str:
        places = keyword_places(self.table).get(word.lower())
        if places:
            return f"{word} is not valid in {block_name}; it belongs in {', '.join(places[:6])}"
        return f"unknown keyword {word!r} in {block_name}"
