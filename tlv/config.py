"""Whole config files: compile text to a CM or MTA file, decode one back.

CM file (MULPI Annex C): the TLVs in text order, CM MIC (TLV 6), CMTS MIC
(TLV 7), end of data (255), zero padding to a multiple of 4 bytes.
MTA file (PKT-SP-PROV1.5 9.1): TLV 254 = 1 first, TLV 254 = 255 last, SNMP
objects in between; an optional SHA-1 config hash goes in as one more SNMP
object just before the closing 254, computed over the file without it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import TypedDict

from . import ber
from .binary import END, LONG_SNMP, MTA_DELIMITER, Decoded, Node, decode, encode_nodes
from .errors import DecodeError, EncodeError, TlvError
from .model import OidContext, SubTable
from .quoting import quote
from .record import Record
from .text import FileLoader, ParseContext, ValueMemo, parse

CM_MIC, CMTS_MIC = 6, 7
SNMP_OBJECT = 11
# CMTS MIC input: these top-level types, in this order, each type's TLVs in
# file order (MULPIv3.0 D.2.1; matches the reference compiler byte for byte).
CMTS_MIC_ORDER: tuple[int, ...] = (1, 2, 3, 4, 17, 43, 6, 18, 19, 20, 22, 23, 24, 25, 28, 29, 26, 35, 36, 37, 40)

# pktcMtaDevProvConfigHash.0 under the three MIB trees that define it.
HASH_OIDS: dict[str, tuple[int, ...]] = {
    "cablelabs": (1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 7, 0),
    "ietf": (1, 3, 6, 1, 2, 1, 140, 1, 2, 11, 0),
    "euro": (1, 3, 6, 1, 4, 1, 7432, 1, 1, 2, 9, 0),
}
HASH_BY_OID = {oid: name for name, oid in HASH_OIDS.items()}


_DEFAULT_TABLE: list[SubTable] = []  # tlv.schema.CONFIG once imported (a batch asks 1,000 times)


def _table(table: SubTable | None) -> SubTable:
    if table is not None:
        return table
    if not _DEFAULT_TABLE:
        from .schema import CONFIG

        _DEFAULT_TABLE.append(CONFIG)
    return _DEFAULT_TABLE[0]


def is_mta(nodes: Sequence[Node]) -> bool:
    return bool(nodes) and nodes[0].code == MTA_DELIMITER


def compile_text(
    text: str,
    *,
    source: str = "<text>",
    ctx: OidContext | None = None,
    key: bytes | None = None,
    hash: str | None = None,
    loader: FileLoader | None = None,
    table: SubTable | None = None,
    errors: list[TlvError] | None = None,
    memo: ValueMemo | None = None,
    minimal_ber: bool = False,
    warnings: list[EncodeError] | None = None,
) -> bytes:
    """Config text -> the binary file (CM or MTA, told by its first TLV).

    SNMP objects get the docsis tool's BER header forms (byte-identical
    files), or minimal BER lengths with ``minimal_ber``.

    With an ``errors`` list, every recoverable error is collected there and
    the first one is raised at the end (so a caller can list them all). A
    ``memo`` dict shared by the calls of a batch (with one ``ctx``) skips
    re-parsing lines seen before (tlv.batch); it holds parsed trees that
    each call updates, so calls sharing one memo must not run concurrently. With a ``warnings`` list (lenient),
    SNMP objects that break their MIB constraints are compiled as written
    and each problem is listed there instead of being an error.
    """
    if memo is not None and errors is None:
        parse_batch = _BATCH[0] if _BATCH else _load_batch()
        pc = ParseContext(source, ctx, loader, memo, minimal_ber, warnings)
        nodes = parse_batch(text, _table(table), pc)
    else:
        nodes = parse(text, _table(table), source=source, ctx=ctx, loader=loader, errors=errors, memo=memo,
                      minimal_ber=minimal_ber, warnings=warnings)
    if errors:
        raise errors[0]
    return compile_nodes(nodes, key=key, hash=hash, source=source)


_BATCH: list[Callable[[str, SubTable, ParseContext], list[Node]]] = []


def _load_batch() -> Callable[[str, SubTable, ParseContext], list[Node]]:
    # Only batches (a memo) need tlv.batch; a single file never imports it.
    from .batch import parse_batch

    _BATCH.append(parse_batch)
    return parse_batch


def compile_nodes(
    nodes: list[Node], *, key: bytes | None = None, hash: str | None = None, source: str = "<text>"
) -> bytes:
    if is_mta(nodes):
        return _compile_mta(nodes, hash, source)
    if hash not in (None, "none"):
        raise EncodeError("--hash applies to MTA files (a file whose first TLV is MtaConfigDelimiter 1)", source=source)
    return _compile_cm(nodes, key, source)


class _Where(TypedDict):
    """Keyword arguments of EncodeError that place it at a node."""

    path: str
    source: str
    line: int | None
    col: int | None


def _where(node: Node, source: str) -> _Where:
    return {"path": str(node.code), "source": source, "line": node.line, "col": node.col}


def _compile_cm(nodes: list[Node], key: bytes | None, source: str) -> bytes:
    for node in nodes:
        if node.code in (CM_MIC, CMTS_MIC):
            raise EncodeError("the MICs (TLV 6 and 7) are computed by the compiler; remove them", **_where(node, source))
        if node.code == MTA_DELIMITER:
            raise EncodeError(
                "MtaConfigDelimiter in a CM file: an MTA file starts with MtaConfigDelimiter 1",
                **_where(node, source),
            )
    if key is None:
        raise EncodeError("a CM file needs the CMTS shared secret for its CMTS MIC (--key FILE)", source=source)
    body = encode_nodes(nodes, source=source)
    return body + cm_trailer(body, key)


def cm_trailer(body: bytes, key: bytes) -> bytes:
    """CM MIC, CMTS MIC, end marker and padding for an encoded TLV body."""
    cm_mic = bytes((CM_MIC, 16)) + hashlib.md5(body).digest()
    cmts_mic = bytes((CMTS_MIC, 16)) + cmts_mic_digest(body + cm_mic, key)
    out = body + cm_mic + cmts_mic + bytes((END,))
    return out[len(body) :] + bytes(-len(out) % 4)


def _top_level(body: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(body):
        code, length = body[pos], body[pos + 1]
        out.append((code, body[pos : pos + 2 + length]))
        pos += 2 + length
    return out


def cmts_mic_digest(body: bytes, key: bytes) -> bytes:
    """HMAC-MD5 over the listed TLVs of a CM file body (CM MIC included)."""
    by_code: dict[int, list[bytes]] = {}
    for code, raw in _top_level(body):
        if code in _CMTS_MIC_CODES:
            by_code.setdefault(code, []).append(raw)
    msg = b"".join(raw for code in CMTS_MIC_ORDER for raw in by_code.get(code, ()))
    return hmac.new(key, msg, hashlib.md5).digest()


_CMTS_MIC_CODES = frozenset(CMTS_MIC_ORDER)


def _compile_mta(nodes: list[Node], hash: str | None, source: str) -> bytes:
    first, last = nodes[0], nodes[-1]
    if first.value != b"\x01":
        raise EncodeError("an MTA file starts with MtaConfigDelimiter 1", **_where(first, source))
    if len(nodes) < 2 or last.code != MTA_DELIMITER or last.value != b"\xff":
        raise EncodeError("an MTA file ends with MtaConfigDelimiter 255", **_where(last, source))
    sent = list(nodes)  # the caller's nodes stay as they are (a batch reuses them: tlv.batch)
    for i in range(1, len(nodes) - 1):
        node = nodes[i]
        code = node.code
        if code == MTA_DELIMITER:
            raise EncodeError("MtaConfigDelimiter only opens (1) and closes (255) the file", **_where(node, source))
        if (code == SNMP_OBJECT or code == LONG_SNMP) and node.children is None:
            # An SNMP object over 255 bytes travels in TLV 64 (2-byte length).
            long = code == LONG_SNMP or len(node.value) > 0xFF
            if long != node.long or code != (LONG_SNMP if long else SNMP_OBJECT):
                sent[i] = node.replace(code=LONG_SNMP if long else SNMP_OBJECT, long=long)
    nodes = sent
    body = encode_nodes(nodes, source=source)
    if hash in (None, "none"):
        return body
    if hash not in HASH_OIDS:
        raise EncodeError(f"unknown hash OID choice {hash!r}: cablelabs, ietf, euro or none", source=source)
    existing = find_hash(nodes)
    if existing is not None:
        raise EncodeError(
            "the text already holds a config hash object; remove it or compile with --hash none",
            **_where(existing, source),
        )
    return insert_hash(body, HASH_OIDS[hash])


def insert_hash(body: bytes, oid: tuple[int, ...]) -> bytes:
    """SHA-1 over the whole file (both delimiters), inserted before the last 254."""
    digest = hashlib.sha1(body).digest()
    head = _HASH_HEADS.get(oid)
    if head is None:
        # Everything but the 20 digest bytes is the same for every file.
        blank = ber.encode_varbind(ber.VarBind(oid, ber.SNMP_TYPE_BY_KEYWORD["string"], bytes(len(digest))))
        vb_len = len(blank)
        head = _HASH_HEADS[oid] = bytes((SNMP_OBJECT, vb_len)) + blank[: -len(digest)]
    return body[:-3] + head + digest + body[-3:]


_HASH_HEADS: dict[tuple[int, ...], bytes] = {}


def find_hash(nodes: Sequence[Node]) -> Node | None:
    for node in nodes:
        if node.code in (SNMP_OBJECT, LONG_SNMP) and isinstance(node.decoded, ber.VarBind):
            if node.decoded.oid in HASH_BY_OID:
                return node
        elif node.code == SNMP_OBJECT and node.decoded is None and node.value:
            try:
                vb = ber.decode_varbind(node.value)
            except ValueError:
                continue
            if vb.oid in HASH_BY_OID:
                return node
    return None


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
