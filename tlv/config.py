"""Whole config files: compile text to a CM or MTA file, decode one back
(the decoding half is tlv.configfile, imported on first use).

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

from . import ber
from .binary import END, LONG_SNMP, MTA_DELIMITER, Node, encode_nodes, encode_pieces
from .errors import EncodeError, TlvError
from .model import OidContext, SubTable
from .text import FileLoader, ParseContext, ValueMemo, parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import TypedDict

    from .configfile import ConfigFile

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


if TYPE_CHECKING:
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
    pieces = encode_pieces(nodes, source=source)
    body = b"".join(pieces)
    # The top-level TLVs as encoded: the CMTS MIC input without splitting the body again.
    return body + _trailer(body, [(node.code, piece) for node, piece in zip(nodes, pieces, strict=True)], key)


def cm_trailer(body: bytes, key: bytes) -> bytes:
    """CM MIC, CMTS MIC, end marker and padding for an encoded TLV body."""
    return _trailer(body, _top_level(body), key)


def _trailer(body: bytes, top: list[tuple[int, bytes]], key: bytes) -> bytes:
    cm_mic = bytes((CM_MIC, 16)) + hashlib.md5(body).digest()
    cmts_mic = bytes((CMTS_MIC, 16)) + _cmts_mic(top + [(CM_MIC, cm_mic)], key)
    size = len(body) + len(cm_mic) + len(cmts_mic) + 1
    return cm_mic + cmts_mic + bytes((END,)) + bytes(-size % 4)


def _top_level(body: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(body):
        code, length = body[pos], body[pos + 1]
        out.append((code, body[pos : pos + 2 + length]))
        pos += 2 + length
    return out


def cmts_mic_digest(body: bytes, key: bytes) -> bytes:
    """HMAC-MD5 over the listed TLVs of a CM file body (CM MIC included)."""
    return _cmts_mic(_top_level(body), key)


def _cmts_mic(top: list[tuple[int, bytes]], key: bytes) -> bytes:
    """HMAC-MD5 over the top-level TLVs (type, whole TLV) that CMTS_MIC_ORDER lists, in its order."""
    rank = _CMTS_MIC_RANK
    # sorted() is stable: TLVs of one type keep their file order.
    msg = b"".join(raw for _, raw in sorted((item for item in top if item[0] in rank), key=lambda item: rank[item[0]]))
    return hmac.digest(key, msg, "md5")


_CMTS_MIC_RANK = {code: rank for rank, code in enumerate(CMTS_MIC_ORDER)}


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


def decode_file(
    data: bytes, *, key: bytes | None = None, strict: bool = True, table: SubTable | None = None
) -> ConfigFile:
    """Binary -> ConfigFile; verifies the CM MICs (given ``key``) or the MTA hash."""
    from .configfile import decode_file as run

    return run(data, key=key, strict=strict, table=table)


def format_file(cf: ConfigFile, ctx: OidContext | None = None) -> str:
    """A decoded file as config text (comments carry what was checked)."""
    from .configfile import format_file as run

    return run(cf, ctx)
