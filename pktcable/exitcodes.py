"""Exit statuses of the ``pktcable`` commands (documented in docs/config-language.md, "Errors and exit statuses")."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    OK = 0
    #: validate found problems, or a MIC / config hash did not verify.
    INVALID = 1
    #: bad command line (click's own usage errors exit 2 as well).
    USAGE = 2
    #: config text does not follow the language (file:line:col on stderr).
    SYNTAX = 3
    #: a value is of the wrong type, out of range, unknown OID, too long.
    VALUE = 4
    #: binary input cannot be decoded (offset and TLV path on stderr).
    DECODE = 5
    #: an input, output, key or MIB file cannot be read or written.
    IO = 6
    #: serve: a service that runs in a worker process (DHCP) kept failing; serve stopped.
    SERVICE = 7
    INTERRUPTED = 130
