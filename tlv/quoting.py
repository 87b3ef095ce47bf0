"""Quoted strings of the config language, exact in both directions.

Escapes: ``\\"`` and ``\\\\`` (as in the reference tool, which only knows
``\\"``), ``\\n``, ``\\r``, ``\\t`` and ``\\xNN`` for any other byte outside
printable ASCII, so that every byte string has one text form that reads back
to the same bytes.
"""

from __future__ import annotations

_SIMPLE = {"n": 0x0A, "r": 0x0D, "t": 0x09, '"': 0x22, "\\": 0x5C, "'": 0x27, " ": 0x20}
_QUOTE = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"}


def quote(data: bytes) -> str:
    out = ['"']
    for b in data:
        if b in _QUOTE:
            out.append(_QUOTE[b])
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    out.append('"')
    return "".join(out)


def unquote(text: str) -> bytes:
    """``"..."`` (with its quotes) -> bytes; raises ValueError on bad escapes."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"expected a quoted string, not {text}")
    body = text[1:-1]
    if "\\" not in body:
        return body.encode("utf-8")
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("string ends with a lone backslash")
        e = body[i + 1]
        if e in _SIMPLE:
            out.append(_SIMPLE[e])
            i += 2
        elif e == "x" and i + 3 < n + 1 and _is_hex(body[i + 2 : i + 4]):
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e} in string (use \\\\, \\\", \\n, \\t or \\xNN)")
    return bytes(out)


def _is_hex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)
