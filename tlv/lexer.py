"""Tokens of the config language (the `docsis` tool's text format).

``Main { Keyword value; Block { ... } }`` with ``/* */`` comments; we also
accept ``#`` line comments. A value is handed to its type as the exact source
text between the keyword and ``;``, so each type decides its own syntax (the
reference tool guesses types from the token's shape instead, which is how
``TftpTimestamp "abc";`` came to compile to pointer bits there).

One regular expression scans the whole text (a compiled config is thousands of
tokens in a batch of 1,000 files); line and column are worked out only for the
tokens that need them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import namedtuple

from .errors import TextSyntaxError
from .quoting import EscapeError, unescape

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)

# Token kinds; WORD and STRING are also the names of the pattern's groups.
WORD, STRING, LBRACE, RBRACE, SEMI, EOF = "word", "string", "{", "}", ";", "end of input"
# A whole line holding one plain statement (``Keyword value;``), in a batch;
# its text is the line, its start the keyword's.
LINE = "statement line"

# Each token may be preceded by white space and comments (possessive, so a
# hostile run of spaces cannot make the engine backtrack). A word runs to white
# space, a brace, ';', '"' or a comment; a quoted table index inside it
# ('A B') may hold any of those but a newline.
_WORD_REST = r"""(?:[^\s{};"'/]+|/(?!\*)|'[^'\n]*')*+"""
_TOKEN = re.compile(
    rf"""(?:\s+|/\*.*?\*/|\#[^\n]*)*+
    (?:(?P<punct>[{{}};])
    |(?P<string>"(?:\\.|[^"\\\n])*")
    |(?P<word>(?:[^\s{{}};"'/\#]|/(?!\*)|'[^'\n]*'){_WORD_REST})
    |(?P<end>$))""",
    re.S | re.X,
)
_PUNCT = {"{": LBRACE, "}": RBRACE, ";": SEMI}
# Characters the text may not hold where a keyword or value stands. Files are
# read as UTF-8 with undecodable bytes kept as U+DC80..U+DCFF, so a raw byte
# can pass through a quoted string as itself (the reference copies string bytes
# as they are); anywhere else it, a NUL, or a lone surrogate (which no file
# can hold, only a caller's string) is refused rather than guessed at.
_ODD = re.compile("[\x00\ud800-\udfff]")


if TYPE_CHECKING:
    from typing import NamedTuple

    class Token(NamedTuple):
        kind: str
        text: str
        start: int  # offset in the source text
        end: int
else:
    # The same class as the checker's NamedTuple, made without importing typing.
    Token = namedtuple("Token", ("kind", "text", "start", "end"))


# A line's tokens with offsets from the line's start (None: the line does
# not scan on its own), and whether the line is one plain statement.
LineScan = tuple[tuple[tuple[str, str, int, int], ...], bool] | None


class Lexer:
    def __init__(self, text: str, source: str = "<text>") -> None:
        self.text = text
        self.source = source
        self._lines: list[int] | None = None
        self.scans: dict[str, LineScan] = {}  # line_tokens()'s memo

    def where(self, pos: int) -> tuple[int, int]:
        """Offset -> (line, column), both from 1."""
        if self._lines is None:
            self._lines = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect_right(self._lines, pos)
        return line, pos - self._lines[line - 1] + 1

    def one_line(self) -> None:
        """The text is one line (no need to look for line breaks)."""
        self._lines = [0]

    def error(self, message: str, pos: int) -> TextSyntaxError:
        line, col = self.where(pos)
        return TextSyntaxError(message, source=self.source, line=line, col=col)

    def tokens(self) -> list[Token]:
        text, out, pos, n = self.text, [], 0, len(self.text)
        match = _TOKEN.match
        while True:
            m = match(text, pos)
            if m is None:
                raise self._bad(pos)
            kind = m.lastgroup
            if kind is None:  # every alternative of _TOKEN is a named group
                raise self._bad(pos)
            if kind == "end":
                out.append(Token(EOF, "", n, n))
                if _ODD.search(text):
                    self._check_characters(out)
                if "\\" in text:
                    self._check_escapes(out)
                return out
            start, pos = m.start(kind), m.end()
            tok = m.group(kind)
            out.append(Token(_PUNCT[tok] if kind == "punct" else kind, tok, start, pos))

    def line_tokens(self, memo: dict[str, LineScan], limit: int) -> list[Token] | None:
        """The tokens of :meth:`tokens`, scanned line by line with each
        line's scan kept in ``memo`` (a batch of files from one template
        repeats most lines), and a line holding one plain statement as one
        LINE token. None when a line does not scan on its own (a comment
        spanning lines, an escape, a stray character): then use tokens().

        Scanning line by line gives the same tokens as the whole text: no
        token crosses a newline, and a comment that did would leave its
        first line unscannable on its own. ``memo`` stops growing at
        ``limit`` entries (a hostile file can hold a million lines).
        """
        text, out, base = self.text, [], 0
        starts: list[int] = []
        # A LINE token may only stand where a statement starts: after '{',
        # ';' or '}' (not, say, as the rest of a statement split over lines).
        at_start = False
        self.scans = memo
        for line in text.split("\n"):
            starts.append(base)
            try:
                scan = memo[line]
            except KeyError:
                scan = scan_line(line)
                if len(memo) < limit:
                    memo[line] = scan
            if scan is None:
                return None
            toks, plain = scan
            if toks:
                if plain and at_start:
                    out.append(Token(LINE, line, base + toks[0][2], base + toks[-1][3]))
                else:
                    out += [Token(kind, t, base + s, base + e) for kind, t, s, e in toks]
                at_start = toks[-1][0] in (SEMI, LBRACE, RBRACE)
            base += len(line) + 1
        n = len(text)
        out.append(Token(EOF, "", n, n))
        self._lines = starts
        return out

    def _check_escapes(self, toks: list[Token]) -> None:
        """Every backslash in a quoted string must be a known escape."""
        for tok in toks:
            if tok.kind == STRING and "\\" in tok.text:
                try:
                    unescape(tok.text[1:-1])
                except EscapeError as exc:
                    raise self.error(str(exc), tok.start + 1 + exc.index) from None

    def _check_characters(self, toks: list[Token]) -> None:
        """Refuse NULs and stray bytes; only a quoted string may carry raw bytes."""
        starts = [t.start for t in toks]
        for m in _ODD.finditer(self.text):
            pos, ch = m.start(), m.group()
            if ch == "\x00":
                raise self.error("NUL byte in the text", pos)
            i = bisect_right(starts, pos) - 1
            tok = toks[i] if i >= 0 else None
            inside = tok is not None and tok.start <= pos < tok.end
            if "\udc80" <= ch <= "\udcff":
                if inside and tok is not None and tok.kind == STRING:
                    continue
                if not inside:  # in a comment or white space: never read
                    continue
                raise self.error(f"byte 0x{ord(ch) - 0xDC00:02x} is not UTF-8 text; raw bytes may stand only "
                                 "inside a quoted string", pos)
            raise self.error(f"U+{ord(ch):04X} is half of a UTF-16 pair, not a character", pos)

    def _bad(self, pos: int) -> TextSyntaxError:
        """Why no token starts at ``pos``: something opened was never closed."""
        text = self.text
        skip = re.compile(r"(?:\s|/\*.*?\*/|\#[^\n]*)*+", re.S).match(text, pos)
        pos = skip.end() if skip else pos
        if text.startswith("/*", pos):
            return self.error("comment '/*' is never closed", pos)
        if text.startswith('"', pos):
            return self.error("string is never closed on its line", pos)
        quote = text.find("'", pos)
        return self.error("quoted index \"'\" is never closed on its line", quote if quote >= 0 else pos)


# The usual line of a config: a keyword, values that are plain words or
# strings, each after white space, and ';'. Plain words here hold none of
# the characters that start comments, strings or quoted indexes, so _TOKEN
# splits such a line into exactly these tokens; one match replaces a token
# loop (lines that differ between the files of a batch are scanned).
_PLAIN_WORD = r"""[^\s{};"'/#\\]+"""
_PLAIN_LINE = re.compile(rf"""\s*{_PLAIN_WORD}(?:\s+(?:{_PLAIN_WORD}|"[^"\\\n]*"))+\s*;\s*""")
_PLAIN_TOKEN = re.compile(rf"""{_PLAIN_WORD}|"[^"\\\n]*"|;""")
_KIND_OF_FIRST = {'"': STRING, ";": SEMI}


def plain_words(line: str) -> list[str] | None:
    """The tokens' texts of a usual line (see _PLAIN_LINE), keyword first and
    ';' last, or None for any other line; the keyword starts the line's text."""
    if "\\" in line or _ODD.search(line) or not _PLAIN_LINE.fullmatch(line):
        return None
    return _PLAIN_TOKEN.findall(line)


def scan_line(line: str) -> LineScan:
    """One line's tokens on their own (see Lexer.line_tokens)."""
    if "\\" in line or _ODD.search(line):
        return None  # the whole-text scan checks these and places their errors
    if _PLAIN_LINE.fullmatch(line):
        kind_of = _KIND_OF_FIRST.get
        return tuple((kind_of(m[0][0], WORD), m[0], m.start(), m.end()) for m in _PLAIN_TOKEN.finditer(line)), True
    toks: list[tuple[str, str, int, int]] = []
    pos, match = 0, _TOKEN.match
    while True:
        m = match(line, pos)
        if m is None or m.lastgroup is None:
            return None
        kind = m.lastgroup
        if kind == "end":
            break
        start, pos = m.start(kind), m.end()
        tok = m.group(kind)
        toks.append((_PUNCT[tok] if kind == "punct" else kind, tok, start, pos))
    kinds = [t[0] for t in toks]
    plain = len(toks) >= 3 and kinds[0] == WORD and kinds[-1] == SEMI and SEMI not in kinds[:-1] \
        and LBRACE not in kinds and RBRACE not in kinds
    return tuple(toks), plain
