"""Quoted strings of the config language, exact in both directions.

The docsis tool knows one escape, ``\\"``, and turns every other backslash
into a space (``"a\\nb"`` is ``a``, space, ``nb`` there). We read ``\\"`` and
``\\ `` (backslash, space: two spaces) as it does, and add ``\\\\`` and
``\\xNN`` so that decode can write every byte string as text that reads back
to the same bytes. Any other backslash is an error: ``\\n`` means a newline
to most readers and a space to docsis, so it is refused rather than guessed
(docs/config-language.md). :data:`ESCAPES` is the one table of escapes.

A raw byte that is not UTF-8 reaches here as U+DC80..U+DCFF (files are read
with undecodable bytes kept that way) and goes out as that byte, as in the
reference, which copies string bytes as they are.
"""

from __future__ import annotations

_HEX = frozenset("0123456789abcdefABCDEF")

#: What follows a backslash -> the bytes it stands for. ``\\xNN`` (two hex digits)
#: is handled apart; any other backslash sequence is an error. ``\ `` is two
#: spaces: docsis turns the backslash into a space and keeps the space.
ESCAPES: dict[str, bytes] = {'"': b'"', "\\": b"\\", " ": b"  "}


_KNOWN = ", ".join(["\\" + k if k != " " else "\\ (space)" for k in ESCAPES] + ["\\xNN"])


class EscapeError(ValueError):
    """A bad backslash sequence; ``index`` is where it starts in the string's body."""

    def __init__(self, reason: str, index: int) -> None:
        super().__init__(reason)
        self.index = index


def quote(data: bytes) -> str:
    """Bytes -> ``"..."`` that :func:`unquote` reads back exactly."""
    out = ['"']
    for b in data:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    out.append('"')
    return "".join(out)


def unescape(body: str) -> bytes:
    """Contents of a quoted string (without its quotes) -> bytes."""
    if "\\" not in body:
        if '"' in body:
            raise ValueError('unescaped " inside a quoted string')
        return body.encode("utf-8", "surrogateescape")
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1 : i + 2]
            if nxt in ESCAPES and nxt:
                out += ESCAPES[nxt]
                i += 2
                continue
            if nxt == "x":
                digits = body[i + 2 : i + 4]
                if len(digits) != 2 or not set(digits) <= _HEX:
                    raise EscapeError(f"\\x needs two hex digits, not \\x{digits}", i)
                out.append(int(digits, 16))
                i += 4
                continue
            if not nxt:
                raise EscapeError("a quoted string may not end in a lone backslash", i)
            raise EscapeError(f"unknown escape \\{nxt} in a quoted string (known: {_KNOWN}; "
                              "write \\\\ for a backslash; the docsis tool would write a space for it)", i)
        if ch == '"':
            raise ValueError('unescaped " inside a quoted string')
        out += ch.encode("utf-8", "surrogateescape")
        i += 1
    return bytes(out)


def unquote(text: str) -> bytes:
    """``"..."`` (with its quotes) -> bytes; raises ValueError when not quoted."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"expected a quoted string, not {text}")
    return unescape(text[1:-1])
