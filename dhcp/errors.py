"""Typed errors of the DHCP codec.

Every decode error says where: the byte ``offset`` in the whole datagram (or in
the option value when an option is decoded on its own), the ``option`` code and,
inside an option space, the ``sub_option`` code. ``str()`` is the one line a user
sees; callers read the attributes.
"""

from __future__ import annotations


class DhcpError(Exception):
    """Root of every error raised by :mod:`dhcp`."""


class DhcpDecodeError(DhcpError):
    def __init__(self, reason: str, *, offset: int, option: int | None = None,
                 sub_option: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        self.option = option
        self.sub_option = sub_option
        where = f"offset {offset}"
        if option is not None:
            where += f", option {option}" + (f".{sub_option}" if sub_option is not None else "")
        super().__init__(f"{where}: {reason}")


class DhcpEncodeError(DhcpError):
    """A value that cannot be encoded: wrong type, out of range, too long."""

    def __init__(self, reason: str, *, option: int | None = None, sub_option: int | None = None) -> None:
        self.reason = reason
        self.option = option
        self.sub_option = sub_option
        where = ""
        if option is not None:
            where = f"option {option}" + (f".{sub_option}" if sub_option is not None else "") + ": "
        super().__init__(where + reason)
