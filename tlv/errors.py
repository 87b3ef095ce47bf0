"""Typed errors of the config-file codec.

Every error says where it happened: a byte offset and a TLV path ("24.7.2") for
binary input, a line and column for text input. Callers can read these as
attributes; ``str()`` gives the one-line message a user sees.
"""

from __future__ import annotations

import re

# A word this long in a message is an echoed input (a 10 MB line, say): show
# its start and its size, so the message stays one readable line.
_LONG_WORD = re.compile(r"\S{81,}")


def shorten(message: str) -> str:
    if len(message) <= 160:
        return message
    return _LONG_WORD.sub(lambda m: f"{m.group()[:40]}... ({len(m.group())} characters)", message)


class TlvError(Exception):
    """Root of every error raised by :mod:`tlv`."""


class DecodeError(TlvError):
    """Binary input that cannot be read.

    ``offset`` is the byte offset in the whole input, ``path`` the dotted TLV
    path of the element being read ("" at the top level), ``reason`` why.
    """

    def __init__(self, reason: str, *, offset: int, path: str = "") -> None:
        self.reason = reason = shorten(reason)
        self.offset = offset
        self.path = path
        where = f"offset {offset}" + (f", TLV {path}" if path else "")
        super().__init__(f"{where}: {reason}")


class EncodeError(TlvError):
    """A value that cannot be encoded (out of range, wrong type, too long).

    ``path`` is the TLV path; ``line``/``col`` are set when the value came
    from text, ``source`` names that text (a file name or "<stdin>").
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str = "",
        source: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        self.reason = shorten(reason)
        self.path = path
        self.source = source
        self.line = line
        self.col = col
        super().__init__(self._message())

    def _message(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"{self.source or '<text>'}:{self.line}:{self.col}")
        elif self.source:
            parts.append(self.source)
        if self.path:
            parts.append(f"TLV {self.path}")
        prefix = ": ".join(parts)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class TextSyntaxError(TlvError):
    """Text that does not follow the config language; says what was expected."""

    def __init__(self, message: str, *, source: str, line: int, col: int) -> None:
        self.message = message = shorten(message)
        self.source = source
        self.line = line
        self.col = col
        super().__init__(f"{source}:{line}:{col}: {message}")
