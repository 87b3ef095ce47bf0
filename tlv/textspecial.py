"""The rare statements of the config language: GenericTLV, the keywords that
read a file (certificates, DigitMap).

Split from tlv.text, whose parser calls these with itself: most files use
none of them, and without byte code every module a compile imports is
compiled from source first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .binary import Node
from .lexer import LBRACE, SEMI, STRING, Token
from .model import SubTable
from .quoting import unquote
from .text import FILE_KEYWORDS

if TYPE_CHECKING:
    from .text import _Parser

# PacketCable 2.0 digit map: the file becomes a String value of this object.
DIGIT_MAP_OID = (1, 3, 6, 1, 4, 1, 4491, 2, 2, 8, 2, 1, 1, 3, 1, 1, 2, 1)
GENERIC_VALUE_TYPES = {"integer": 4, "short": 2, "char": 1}


# -- GenericTLV


def generic(parser: _Parser, kw: Token, path: str) -> Node:
    toks, end = parser.header()
    fields: dict[str, Token] = {}
    i = 0
    while i < len(toks):
        name = toks[i].text.lower()
        if name not in ("tlvcode", "tlvlength", "tlvvalue", "tlvstring", "tlvstringzero", "tlvtype"):
            raise parser.error(toks[i], "expected TlvCode, TlvLength, TlvValue, TlvString, TlvStringZero or TlvType")
        if i + 1 >= len(toks):
            raise parser.error(toks[i], f"{toks[i].text} needs a value")
        fields[name] = toks[i + 1]
        i += 2
    if "tlvcode" not in fields:
        raise parser.error(kw, "GenericTLV needs TlvCode N")
    code = number(parser, fields["tlvcode"], 0, 255, "TlvCode")
    p = f"{path}.{code}" if path else str(code)
    if end.kind == LBRACE:
        if len(fields) != 1:
            raise parser.error(end, "a GenericTLV block takes only TlvCode N before '{'")
        children = parser.block(SubTable("GenericTLV"), p, "GenericTLV", kw)
        return Node(code, children=children, **parser.at(kw))
    data = generic_value(parser, kw, fields, p)
    if "tlvlength" in fields:
        length = number(parser, fields["tlvlength"], 0, 65535, "TlvLength")
        if length != len(data):
            raise parser.value_error(fields["tlvlength"], p, f"TlvLength {length} but the value has {len(data)} bytes")
    return Node(code, data, **parser.at(kw))


def generic_value(parser: _Parser, kw: Token, fields: dict[str, Token], path: str) -> bytes:
    if "tlvvalue" in fields and "tlvtype" not in fields:
        tok = fields["tlvvalue"]
        text = tok.text
        if not text.lower().startswith("0x") or len(text) % 2:
            raise parser.value_error(tok, path, "TlvValue takes hex bytes such as 0x0102")
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise parser.value_error(tok, path, f"bad hex in TlvValue {text}") from None
    for name, zero in (("tlvstring", b""), ("tlvstringzero", b"\0")):
        if name in fields:
            tok = fields[name]
            if tok.kind != STRING:
                raise parser.value_error(tok, path, f"{tok.text} needs a quoted string")
            return string(parser, tok, path, kw.text) + zero
    if "tlvtype" in fields and "tlvvalue" in fields:
        kind = fields["tlvtype"].text.lower()
        tok = fields["tlvvalue"]
        if kind == "ipaddress":
            from .ber import ip_bytes

            try:
                return ip_bytes(tok.text)
            except ValueError:
                raise parser.value_error(tok, path, f"not an IPv4 address: {tok.text}") from None
        if kind not in GENERIC_VALUE_TYPES:
            raise parser.value_error(fields["tlvtype"], path, "TlvType is Integer, Short, Char or IPAddress")
        size = GENERIC_VALUE_TYPES[kind]
        return number(parser, tok, 0, (1 << (8 * size)) - 1, kind).to_bytes(size, "big")
    raise parser.error(kw, "GenericTLV needs TlvValue 0x.., TlvString \"..\", TlvStringZero \"..\" or TlvType T TlvValue v")


def string(parser: _Parser, tok: Token, path: str, what: str) -> bytes:
    """A quoted string token's bytes; a bad escape is an error at the token."""
    try:
        return unquote(tok.text)
    except ValueError as exc:
        raise parser.value_error(tok, path, f"{what}: {exc}") from None


def number(parser: _Parser, tok: Token, low: int, high: int, what: str) -> int:
    if len(tok.text) > 12:  # nothing in 0..65535 is written longer
        raise parser.error(tok, f"{what} {tok.text[:12]}... is out of range {low}..{high}")
    try:
        n = int(tok.text, 0)
    except ValueError:
        raise parser.error(tok, f"{what} takes a number") from None
    if not low <= n <= high:
        raise parser.error(tok, f"{what} {n} outside {low}..{high}")
    return n

# -- Keywords that read files


def file_arg(parser: _Parser, kw: Token) -> tuple[Token, bytes]:
    toks, end = parser.header()
    if end.kind != SEMI or len(toks) != 1 or toks[0].kind != STRING:
        raise parser.error(kw, f"{kw.text} takes one quoted file name")
    name = string(parser, toks[0], "", kw.text).decode("utf-8", "surrogateescape")
    if parser.pc.loader is None:
        raise parser.error(toks[0], f"{kw.text}: no file access here")
    try:
        parser.pc.loaded = True
        return toks[0], parser.pc.loader(name)
    except OSError as exc:
        raise parser.error(toks[0], f"{kw.text}: cannot read {name!r}: {exc.strerror or exc}") from None


def file_keyword(parser: _Parser, kw: Token, path: str) -> list[Node]:
    if path:
        raise parser.error(kw, f"{kw.text} belongs at the top level of Main")
    code, size = FILE_KEYWORDS[kw.text.lower()]
    tok, data = file_arg(parser, kw)
    if not data:
        raise parser.value_error(tok, str(code), f"{kw.text}: the file is empty")
    defn = parser.table.by_code(code)
    return [
        Node(code, data[i : i + size], defn=defn, decoded=None, **parser.at(kw))
        for i in range(0, len(data), size)
    ]


def digit_map(parser: _Parser, kw: Token, table: SubTable, path: str) -> Node:
    from .ber import SNMP_TYPE_BY_KEYWORD, VarBind, encode_varbind

    defn = table.by_code(11)
    if defn is None:
        raise parser.error(kw, "DigitMap is an SNMP object; it is not valid in this block")
    tok, data = file_arg(parser, kw)
    if len(data) > 8192:
        raise parser.value_error(tok, "11", f"DigitMap file is {len(data)} bytes; at most 8192")
    value = encode_varbind(VarBind(DIGIT_MAP_OID, SNMP_TYPE_BY_KEYWORD["string"], data),
                           minimal=parser.pc.minimal_ber)
    return Node(11, value, defn=defn, **parser.at(kw))
