"""The modem's side of Secure Software Download, sans-IO: what its config file asks for, and
what it keeps (:class:`CodeStore`) as it takes CVCs and installs code files.

A simulator (or a test) fetches the bytes; these functions decide. The stored values
are those a modem shows in DOCS-IETF-BPI2-MIB's docsBpi2CodeDownloadControl group
(RFC 4131): the organization names, codeAccessStart and cvcAccessStart per signer,
and docsBpi2CodeDownloadStatusCode for the last verification.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from tlv.binary import Node
from tlv.configfile import ConfigFile

from .codefile import AccessState, CodeFileError, CvcTrust, Verified, verify
from .configcvc import accept_cvc

#: CM config-file TLVs of a software upgrade (MULPI C.1.2.3, C.1.2.7, C.1.2.8, C.1.2.10, C.1.2.11).
SW_UPGRADE_FILENAME, SW_UPGRADE_SERVER, SW_UPGRADE_SERVER6 = 9, 21, 58
MFG_CVC, COSIGNER_CVC = 32, 33
MAX_FILENAME = 255  # one TLV


class DownloadStatus(IntEnum):
    """docsBpi2CodeDownloadStatusCode (RFC 4131)."""

    CONFIG_FILE_CVC_VERIFIED = 1
    CONFIG_FILE_CVC_REJECTED = 2
    SNMP_CVC_VERIFIED = 3
    SNMP_CVC_REJECTED = 4
    CODE_FILE_VERIFIED = 5
    CODE_FILE_REJECTED = 6
    OTHER = 7


@dataclass(frozen=True)
class Upgrade:
    """What a CM config file says about software: the file, its server, the CVCs."""

    filename: str | None
    server: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    manufacturer_cvc: bytes | None
    cosigner_cvc: bytes | None


@dataclass(frozen=True)
class CodeStore:
    """What the modem keeps in non-volatile memory for code upgrades."""

    trust: CvcTrust
    state: AccessState
    running: str = ""                      # the file name of the image it runs
    status: DownloadStatus | None = None   # the last verification's result


def upgrade_of(config: ConfigFile) -> Upgrade:
    """The upgrade TLVs of a decoded CM file (the decoder has joined split CVCs)."""
    top: dict[int, bytes] = {}
    for node in _leaves(config.decoded.nodes):
        top.setdefault(node.code, node.value)
    cvcs = {c.code: c.data for c in config.certificates}
    name = top.get(SW_UPGRADE_FILENAME)
    server: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    if len(top.get(SW_UPGRADE_SERVER, b"")) == 4:
        server = ipaddress.IPv4Address(top[SW_UPGRADE_SERVER])
    elif len(top.get(SW_UPGRADE_SERVER6, b"")) == 16:
        server = ipaddress.IPv6Address(top[SW_UPGRADE_SERVER6])
    # A string TLV may end in a NUL (the docsis tool writes none; some writers do).
    filename = name.rstrip(b"\x00").decode("utf-8", "replace")[:MAX_FILENAME] if name else None
    return Upgrade(filename or None, server, cvcs.get(MFG_CVC), cvcs.get(COSIGNER_CVC))


def _leaves(nodes: Sequence[Node]) -> list[Node]:
    return [n for n in nodes if n.children is None]


def take_config(store: CodeStore, upgrade: Upgrade) -> tuple[CodeStore, bool, CodeFileError | None]:
    """Process the config file's CVCs (always, whether or not an upgrade is due); return the
    new store, whether a download is due, and why a CVC was refused (then none is due).

    A download is due when the file names an image other than the running one and the
    config file enabled it with a CVC that the modem took: without a valid CVC in the
    config file the modem does not download."""
    taken = False
    trust, state = store.trust, store.state
    for der, role in ((upgrade.manufacturer_cvc, "manufacturer"), (upgrade.cosigner_cvc, "co-signer")):
        if der is None:
            continue
        try:
            trust, state = accept_cvc(der, role, trust, state)
        except CodeFileError as exc:
            return dataclasses.replace(store, status=DownloadStatus.CONFIG_FILE_CVC_REJECTED), False, exc
        taken = True
    if not taken:
        return store, False, None
    new = dataclasses.replace(store, trust=trust, state=state, status=DownloadStatus.CONFIG_FILE_CVC_VERIFIED)
    due = upgrade.filename is not None and upgrade.filename != store.running
    return new, due, None


def install(store: CodeStore, filename: str, code_file: bytes,
            now: dt.datetime | None) -> tuple[CodeStore, Verified | CodeFileError]:
    """Verify a downloaded code file; accepted, the modem runs ``filename`` and stores the
    new access times; refused, it keeps its image and records the rejection."""
    try:
        got = verify(code_file, store.trust, now, store.state)
    except CodeFileError as exc:
        return dataclasses.replace(store, status=DownloadStatus.CODE_FILE_REJECTED), exc
    return dataclasses.replace(store, state=got.state, running=filename,
                               status=DownloadStatus.CODE_FILE_VERIFIED), got
