"""Decoding whole config files: the checks of a binary file and its text form.

Split from tlv.config so that a compile (a fresh process per file, often)
does not compile or import this half; tlv.config.decode_file and
tlv.config.format_file call into it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from . import ber
from .binary import LONG_SNMP, MTA_DELIMITER, Node
from .bindecode import Decoded, decode
from .config import CM_MIC, CMTS_MIC, HASH_BY_OID, SNMP_OBJECT, _table, cmts_mic_digest, find_hash
from .errors import DecodeError
from .model import OidContext, SubTable
from .quoting import quote
from .record import Record

# Certificates longer than one TLV travel as consecutive TLVs of 254 bytes
# (MULPI C.1.2.10/11, C.1.2.21/22); the text names them by these file keywords.
CVC_KEYWORDS = {32: "ManufacturerCVC", 33: "CoSignerCVC", 81: "ManufacturerCVCChainFile", 82: "CoSignerCVCChainFile"}
CVC_CHUNK = 254


class Certificate(Record):
    """A certificate (chain) reassembled from a run of TLVs of one type."""

    __slots__ = ("code", "data", "nodes")
    code: int
    data: bytes
    nodes: list[Node]

    def __init__(self, code: int, data: bytes, nodes: list[Node]) -> None:
        self.code = code
        self.data = data
        self.nodes = nodes

    @property
    def keyword(self) -> str:
        return CVC_KEYWORDS[self.code]

    @property
    def splits_like_the_compiler(self) -> bool:
        """Whether ``keyword "file";`` would give back exactly these TLVs."""
        return all(len(n.value) == CVC_CHUNK for n in self.nodes[:-1]) and 0 < len(self.nodes[-1].value) <= CVC_CHUNK


def certificates(nodes: Sequence[Node]) -> list[Certificate]:
    """Reassemble each run of consecutive top-level TLVs 32, 33, 81 or 82."""
    out: list[Certificate] = []
    previous: Node | None = None
    for node in nodes:
        if node.code in CVC_KEYWORDS and node.children is None:
            if previous is not None and previous.code == node.code and out and out[-1].nodes[-1] is previous:
                out[-1].data += node.value
                out[-1].nodes.append(node)
            else:
                out.append(Certificate(node.code, node.value, [node]))
        previous = node
    for cert in out:
        cert.nodes[0].comment = f"{cert.keyword}: {len(cert.data)} bytes in {len(cert.nodes)} TLV(s)"
    return out


class ConfigFile(Record):
    """A decoded config file with what was checked about it."""

    __slots__ = ("decoded", "notes", "mic_ok", "hash_ok", "hash_name", "certificates")
    decoded: Decoded
    notes: list[str]  # facts shown as comments in the text
    mic_ok: bool | None  # CM: both MICs verified (None: not checked)
    hash_ok: bool | None  # MTA: embedded hash matches (None: no hash)
    hash_name: str | None
    certificates: list[Certificate]

    def __init__(self, decoded: Decoded, notes: list[str] | None = None, mic_ok: bool | None = None,
                 hash_ok: bool | None = None, hash_name: str | None = None,
                 certificates: list[Certificate] | None = None) -> None:
        self.decoded = decoded
        self.notes = [] if notes is None else notes
        self.mic_ok = mic_ok
        self.hash_ok = hash_ok
        self.hash_name = hash_name
        self.certificates = [] if certificates is None else certificates

    def cite_certificate(self, cert: Certificate, path: str) -> None:
        """Write ``cert`` in the text as ``Keyword "path";`` (the caller saved it there)."""
        first, rest = cert.nodes[0], {id(n) for n in cert.nodes[1:]}
        first.statement = f"{cert.keyword} {quote(path.encode('utf-8', 'surrogateescape'))};"
        self.decoded.nodes = [n for n in self.decoded.nodes if id(n) not in rest]

    @property
    def nodes(self) -> list[Node]:
        return self.decoded.nodes

    @property
    def mta(self) -> bool:
        return self.decoded.mta

    @property
    def problems(self) -> list[str]:
        return self.decoded.problems


def decode_file(
    data: bytes, *, key: bytes | None = None, strict: bool = True, table: SubTable | None = None
) -> ConfigFile:
    """Binary -> ConfigFile; verifies the CM MICs (given ``key``) or the MTA hash."""
    decoded = decode(data, _table(table), strict=strict)
    try:
        _check_varbinds(decoded)
        if not decoded.mta and not decoded.end_marker and decoded.damage is None:
            raise DecodeError("no end-of-data marker (TLV 255): the file is cut short", offset=len(data))
    except DecodeError as exc:
        if strict:
            raise
        if exc.path not in (str(SNMP_OBJECT), str(LONG_SNMP)):  # those are marked at their node
            decoded.damage = exc
    cf = ConfigFile(decoded)
    cf.certificates = certificates(decoded.nodes)
    if decoded.mta:
        _check_mta(data, cf)
    else:
        _check_cm(data, cf, key)
    return cf


def _check_varbinds(decoded: Decoded) -> None:
    """An SNMP object that is not a VarBind is damage, not a value of another
    type: raise for the first; each such node is kept as bytes and says so."""
    first: DecodeError | None = None
    for node in decoded.nodes:
        snmp = node.code == SNMP_OBJECT or (decoded.mta and node.code == LONG_SNMP)
        if snmp and node.decoded is None and node.defn is not None and node.defn.vtype is not None:
            try:
                ber.decode_varbind(node.value)
            except ValueError as exc:
                err = DecodeError(f"not an SNMP VarBind: {exc}", offset=node.offset, path=str(node.code))
                node.comment = f"DAMAGED: {err}; kept as bytes"
                first = first or err
    if first is not None:
        raise first


def _check_mta(data: bytes, cf: ConfigFile) -> None:
    nodes = cf.nodes
    delimiters = [i for i, n in enumerate(nodes) if n.code == MTA_DELIMITER]
    if nodes[0].value != b"\x01" or delimiters[-1] != len(nodes) - 1 or nodes[-1].value != b"\xff":
        cf.problems.append("an MTA file starts with TLV 254 = 1 and ends with TLV 254 = 255")
    elif len(delimiters) != 2 or len(nodes) < 2:
        cf.problems.append("TLV 254 inside the MTA file (only the first and last TLV may be 254)")
    node = find_hash(nodes)
    if node is None:
        return
    start = node.offset
    end = start + len(node.value) + (3 if node.long else 2)
    digest = hashlib.sha1(data[:start] + data[end:]).digest()
    vb = ber.decode_varbind(node.value)
    cf.hash_name = HASH_BY_OID[vb.oid]
    cf.hash_ok = vb.value == digest
    state = "matches the file" if cf.hash_ok else f"does NOT match the file (computed {digest.hex()})"
    node.comment = f"config hash ({cf.hash_name} OID) {state}"
    if not cf.hash_ok:
        cf.problems.append(f"offset {start}: config hash {state}")


def _check_cm(data: bytes, cf: ConfigFile, key: bytes | None) -> None:
    nodes = cf.nodes
    if not cf.decoded.end_marker:
        cf.problems.append("no end-of-data marker (TLV 255)")
    mics = [n for n in nodes if n.code in (CM_MIC, CMTS_MIC)]
    if [n.code for n in mics] != [CM_MIC, CMTS_MIC] or nodes[-2:] != mics:
        cf.problems.append(
            "CM MIC and CMTS MIC are not the last two TLVs; kept in place" if mics else "no CM MIC and CMTS MIC"
        )
        return
    cm_mic, cmts = mics
    if len(nodes) == 2:
        # The language has no empty Main { } (nor has the reference's).
        cf.problems.append("no settings besides the MICs: the text form, an empty Main { }, does not compile")
    body = data[: cm_mic.offset]
    expect_cm = hashlib.md5(body).digest()
    cm_ok = cm_mic.value == expect_cm
    # The compiler adds the MICs itself, so the text carries them as comments.
    cf.decoded.nodes = nodes[:-2]
    cf.notes.append(f"CmMic 0x{cm_mic.value.hex()} ({'valid' if cm_ok else 'INVALID'})")
    if key is None:
        cf.notes.append(f"CmtsMic 0x{cmts.value.hex()} (not checked: no key given)")
        cf.mic_ok = None if cm_ok else False
    else:
        expect = cmts_mic_digest(data[: cmts.offset], key)
        cmts_ok = cmts.value == expect
        cf.notes.append(f"CmtsMic 0x{cmts.value.hex()} ({'valid' if cmts_ok else 'INVALID for this key'})")
        cf.mic_ok = cm_ok and cmts_ok
    if not cm_ok:
        cf.problems.append(f"offset {cm_mic.offset}: CM MIC does not match the file")
    if cf.mic_ok is False and key is not None and cm_ok:
        cf.problems.append(f"offset {cmts.offset}: CMTS MIC does not match with the given key")
    trailer_len = len(data) - cmts.offset - 18
    expected_pad = -(cmts.offset + 18 + 1) % 4
    if trailer_len != 1 + expected_pad:
        cf.problems.append(f"{cf.decoded.pad} pad bytes after the end marker; a compiled file pads to a multiple of 4")


def format_file(cf: ConfigFile, ctx: OidContext | None = None) -> str:
    kind = "PacketCable MTA config file" if cf.mta else "DOCSIS CM config file"
    footer: list[str] = []
    if cf.decoded.damage is not None:
        d = cf.decoded.damage
        # A comment, so the text still compiles: to the part that was read.
        footer.append(f"DAMAGED: {d}")
    from .formatter import format_config  # decoding only: a compile does not import it

    return format_config(cf.nodes, ctx, header=[kind, *cf.notes], footer=footer)
