"""Quoted strings of the config language, exact in both directions.

The docsis tool knows one escape, ``\\"``, and turns every other backslash
into a space (``"a\\nb"`` is ``a``, space, ``nb`` there). We read ``\\"`` and
``\\ `` (backslash, space: two spaces) as it does, and add ``\\\\`` and
``\\xNN`` so that decode can write every byte string as text that reads back
to the same bytes. Any other backslash is an error: ``\\n`` means a newline
to most readers and a space to docsis, so it is refused rather than guessed
(docs/config-language.md).
"""

from __future__ import annotations

_HEX = frozenset("0123456789abcdefABCDEF")


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
        return body.encode("utf-8")
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            nxt = body[i + 1]
            if nxt in '"\\':
                out.append(ord(nxt))
                i += 2
                continue
            if nxt == " ":  # docsis: the backslash becomes a space, the space stays
                out += b"  "
                i += 2
                continue
            if nxt == "x" and len(body) >= i + 4 and body[i + 2] in _HEX and body[i + 3] in _HEX:
                out.append(int(body[i + 2 : i + 4], 16))
                i += 4
                continue
            raise ValueError(
                f"unknown escape \\{nxt} in a quoted string: write \\\\, \\\", \\xNN or the character itself"
                " (the docsis tool would write a space for the backslash)"
            )
        if ch == "\\":
            raise ValueError("a quoted string cannot end with a single backslash; write \\\\")
        if ch == '"':
            raise ValueError('unescaped " inside a quoted string')
        out += ch.encode("utf-8")
        i += 1
    return bytes(out)


def unquote(text: str) -> bytes:
    """``"..."`` (with its quotes) -> bytes; raises ValueError when not quoted."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"expected a quoted string, not {text}")
    return unescape(text[1:-1])
