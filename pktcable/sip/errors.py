"""Typed errors of the SIP codec, transactions and dialogs.

A parse error says where: the byte ``offset`` in the message, the 1-based
``line`` and ``column`` there, the ``header`` being read (canonical name, or
None on the start line and body) and ``reason``. ``str()`` is the one line a
user sees; callers read the attributes.
"""

from __future__ import annotations


class SipError(Exception):
    """Root of every error raised by :mod:`pktcable.sip`."""


class SipParseError(SipError):
    """Bytes that are not a SIP message this codec accepts."""

    def __init__(self, reason: str, *, offset: int = 0, line: int = 1, column: int = 1,
                 header: str | None = None) -> None:
        self.reason = reason
        self.offset = offset
        self.line = line
        self.column = column
        self.header = header
        where = f"line {line} column {column} (offset {offset})"
        if header is not None:
            where += f", header {header}"
        super().__init__(f"{where}: {reason}")


class SipLimitError(SipParseError):
    """A message over one of the size limits (message, header count, line length)."""


class SipValueError(SipError):
    """A header value that does not follow its grammar (raised inside the parsers,
    re-raised by the message parser as :class:`SipParseError` with the position)."""


class SipBuildError(SipError):
    """A message that cannot be serialized: a missing header or a value out of range."""


class SipStateError(SipError):
    """A transaction or dialog asked to do what its state forbids."""
