"""Tokens of the config language (the `docsis` tool's text format).

``Main { Keyword value; Block { ... } }`` with ``/* */`` comments; we also
accept ``#`` line comments. A value is handed to its type as the exact source
text between the keyword and ``;``, so each type decides its own syntax (the
reference tool guesses types from the token's shape instead, which is how
``TftpTimestamp "abc";`` came to compile to pointer bits there).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import TextSyntaxError

WORD, STRING, LBRACE, RBRACE, SEMI, EOF = "word", "string", "{", "}", ";", "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int  # offset in the source text
    end: int
    line: int
    col: int


class Lexer:
    def __init__(self, text: str, source: str = "<text>") -> None:
        self.text = text
        self.source = source
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def error(self, message: str, pos: int | None = None) -> TextSyntaxError:
        line, col = self.where(self.pos if pos is None else pos)
        return TextSyntaxError(message, source=self.source, line=line, col=col)

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def tokens(self) -> list[Token]:
        out = []
        while True:
            tok = self._next()
            out.append(tok)
            if tok.kind == EOF:
                return out

    def _skip(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            c = text[self.pos]
            if c in " \t\r\n\f\v":
                self.pos += 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("comment '/*' is never closed")
                self.pos = end + 2
            elif c == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            else:
                return

    def _token(self, kind: str, start: int, end: int) -> Token:
        line, col = self.where(start)
        self.pos = end
        return Token(kind, self.text[start:end], start, end, line, col)

    def _next(self) -> Token:
        self._skip()
        text, start, n = self.text, self.pos, len(self.text)
        if start >= n:
            return self._token(EOF, n, n)
        c = text[start]
        if c in "{};":
            return self._token({"{": LBRACE, "}": RBRACE, ";": SEMI}[c], start, start + 1)
        if c == '"':
            return self._token(STRING, start, self._string_end(start))
        pos = start
        while pos < n:
            c = text[pos]
            if c in " \t\r\n\f\v{};\"" or text.startswith("/*", pos):
                break
            if c == "'":
                # A quoted table index such as pktcMtaDevRealmOrgName.'A B'.
                close = text.find("'", pos + 1)
                if close < 0 or "\n" in text[pos:close]:
                    raise self.error("quoted index \"'\" is never closed", pos)
                pos = close + 1
                continue
            pos += 1
        return self._token(WORD, start, pos)

    def _string_end(self, start: int) -> int:
        text, pos, n = self.text, start + 1, len(self.text)
        while pos < n:
            c = text[pos]
            if c == "\\":
                pos += 2
                continue
            if c == '"':
                return pos + 1
            if c == "\n":
                break
            pos += 1
        raise self.error("string is never closed on its line (write a newline as \\n)", start)
