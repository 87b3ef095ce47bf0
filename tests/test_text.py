"""The text parser on a small table: syntax, per-block keywords, errors with positions."""

from __future__ import annotations

import pytest

from tlv.binary import encode_nodes
from tlv.errors import EncodeError, TextSyntaxError, TlvError
from tlv.model import SubTable, TlvDef, ValueType
from tlv.quoting import quote, unquote
from tlv.text import parse

from .minischema import TOP


def compile_(text: str) -> bytes:
    return encode_nodes(parse(text, TOP, source="t.cfg"))


def test_nested_blocks_and_comments() -> None:
    text = """/* lead */ Main # line comment
    {
        NetworkAccess 1; /* inline */
        Flow { Ref 2; Priority 7; }
        OtherFlow { Ref 3; }
        Filename "a \\"b\\" \\x00";
    }"""
    assert compile_(text).hex() == "030101" "1806010102070107" "1903010103" "0907" "61202262222000"


def test_keywords_are_case_insensitive_like_the_reference() -> None:
    assert compile_("main { networkaccess 1; }") == b"\x03\x01\x01"


@pytest.mark.parametrize(
    "text, line, col, fragment",
    [
        ("Main {\n  NetworkAccess 1\n}", 3, 1, "expected ';'"),
        ("Main {\n  Priority 1;\n}", 2, 3, "Priority"),
        ("Main {\n  Flow { NetworkAccess 1; }\n}", 2, 10, "NetworkAccess"),
        ("Main {\n  NetworkAccess 1;", 2, 19, "never closed"),
        ("Main {\n  /* open", 2, 3, "never closed"),
        ("Main { NetworkAccess 1; } extra", 1, 27, "nothing may follow"),
        ("Flow { }", 1, 1, "Main"),
        ("Main { Flow 3; }", 1, 13, "is a block"),
        ("Main { NetworkAccess { } }", 1, 22, "takes a value"),
        ('Main {\n Filename "abc\n"; }', 2, 11, "never closed"),
    ],
)
def test_syntax_errors_say_line_and_column(text: str, line: int, col: int, fragment: str) -> None:
    with pytest.raises(TextSyntaxError) as info:
        compile_(text)
    err = info.value
    assert (err.source, err.line, err.col) == ("t.cfg", line, col), str(err)
    assert fragment in str(err)
    assert str(err).startswith(f"t.cfg:{line}:{col}: ")


def test_value_errors_carry_path_and_position() -> None:
    with pytest.raises(EncodeError) as info:
        compile_("Main {\n  Flow { Priority 9; }\n}")
    err = info.value
    assert (err.line, err.col, err.path) == (2, 19, "24.7")
    assert "outside 0..7" in str(err)


@pytest.mark.parametrize(
    "body, data",
    [
        (r'a\"b', b'a"b'),  # the docsis tool's one escape
        (r"a\ b", b"a  b"),  # docsis: the backslash becomes a space
        (r"a\\b", b"a\\b"),  # ours, so decode can write any bytes
        (r"a\x00b", b"a\x00b"),
    ],
)
def test_string_escapes(body: str, data: bytes) -> None:
    statement = f'GenericTLV TlvCode 200 TlvString "{body}";'
    assert compile_(f"Main {{ {statement} }}") == bytes((200, len(data))) + data


@pytest.mark.parametrize("body", [r"a\nb", r"a\tb", r"a\rb", r"a\qb", r"a\x4g"])
def test_unknown_escape_is_an_error_at_its_value(body: str) -> None:
    # docsis writes a space for these backslashes; readers expect a newline or tab.
    with pytest.raises(TlvError) as info:
        compile_(f'Main {{\n  GenericTLV TlvCode 200 TlvString "{body}";\n}}')
    err = info.value
    assert (err.line, err.col) == (2, 38)  # at the backslash
    assert "escape" in str(err) or "\\x needs two hex digits" in str(err)
    if "x" not in body:
        assert "unknown escape" in str(err) and "docsis" in str(err)


def test_all_errors_collected() -> None:
    errors: list[TlvError] = []
    text = "Main {\n NetworkAccess 5;\n Bogus 1;\n Flow { Priority 8; Ref 0; }\n Bogus { NetworkAccess 1; }\n}"
    parse(text, TOP, source="t.cfg", errors=errors)
    assert [(getattr(e, "line", None)) for e in errors] == [2, 3, 4, 4, 5]


@pytest.mark.parametrize(
    "statement, encoded",
    [
        ("GenericTLV TlvCode 200 TlvLength 2 TlvValue 0x0102;", "c8020102"),
        ('GenericTLV TlvCode 200 TlvString "ab";', "c8026162"),
        ('GenericTLV TlvCode 200 TlvStringZero "ab";', "c803616200"),
        ("GenericTLV TlvCode 200 TlvType Short TlvValue 258;", "c8020102"),
        ("GenericTLV TlvCode 200 TlvType IPAddress TlvValue 10.0.0.1;", "c8040a000001"),
        ("GenericTLV TlvCode 200 { GenericTLV TlvCode 1 TlvValue 0x05; }", "c803010105"),
        ("GenericTLV TlvCode 200 TlvLength 0 TlvValue 0x;", "c800"),
    ],
)
def test_generic_tlv_forms(statement: str, encoded: str) -> None:
    assert compile_(f"Main {{ {statement} }}").hex() == encoded


@pytest.mark.parametrize(
    "statement",
    [
        "GenericTLV TlvCode 300 TlvValue 0x01;",
        "GenericTLV TlvCode 1 TlvLength 3 TlvValue 0x0102;",
        "GenericTLV TlvCode 1 TlvValue 0x012;",
        "GenericTLV TlvLength 1 TlvValue 0x01;",
        "GenericTLV TlvCode 1 TlvType Float TlvValue 1;",
    ],
)
def test_generic_tlv_errors(statement: str) -> None:
    with pytest.raises(TlvError):
        compile_(f"Main {{ {statement} }}")


def test_too_long_value_is_an_error_not_a_silent_drop() -> None:
    long = "x" * 300
    with pytest.raises(EncodeError) as info:
        compile_(f'Main {{ Filename "{long}"; }}')
    assert "at most 255" in str(info.value)


def test_file_keywords_split_certificates() -> None:
    table = SubTable("Top", [TlvDef(81, "ManufacturerCVCChain", ValueType())])
    nodes = parse('Main { ManufacturerCVCChainFile "c.p7b"; }', table, loader=lambda name: bytes(600))
    assert [len(n.value) for n in nodes] == [254, 254, 92]
    assert {n.code for n in nodes} == {81}


def test_file_keyword_missing_file() -> None:
    def loader(name: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(TextSyntaxError) as info:
        parse('Main {\n ManufacturerCVC "nope.der"; }', TOP, loader=loader, source="t.cfg")
    assert "t.cfg:2:18" in str(info.value) and "nope.der" in str(info.value)


@pytest.mark.parametrize("data", [b"", b"plain", b'q"uote\\', bytes(range(256))])
def test_quoting_round_trip(data: bytes) -> None:
    assert unquote(quote(data)) == data


@pytest.mark.parametrize(
    "text",
    ["Main {" + " " * 100_000 + '"', "Main { #" + "#" * 100_000 + '\n "', "Main { /*" + " /" * 50_000],
)
def test_hostile_text_fails_fast(text: str) -> None:
    # A backtracking tokenizer would take exponential time on these.
    with pytest.raises(TextSyntaxError):
        parse(text, TOP)


def test_comments_inside_a_statement() -> None:
    assert compile_("Main { NetworkAccess /* on */ 1 # trailing\n ; }") == b"\x03\x01\x01"
