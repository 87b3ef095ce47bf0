"""Broken config text: every message says file:line:col, in plain words, and the
command exits with its documented status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.mibctx import MibContext
from tlv.config import compile_text
from tlv.errors import EncodeError, TextSyntaxError, TlvError
from tlv.quoting import ESCAPES, unescape

from .conftest import COMPAT

KEY = (COMPAT / "key").read_bytes().rstrip(b"\r\n")
CTX = MibContext()


def compile_(text: str) -> bytes:
    return compile_text(text, source="t.cfg", ctx=CTX, key=KEY)


def error_of(text: str) -> TlvError:
    with pytest.raises(TlvError) as info:
        compile_(text)
    return info.value


@pytest.mark.parametrize(
    "statement, fragment",
    [
        ("SnmpMibObject 1.3.6.1.4294967296.0 Integer 1;", "at most 4294967295"),
        ("SnmpMibObject .1.3.6.1.2.1.1.99999999999 Integer 1;", "4294967295"),
        ("SnmpMibObject sysName.4294967296 String \"x\";", "2^32-1"),
        ("SnmpMibObject 3.1.2 Integer 1;", "starts with 0, 1 or 2"),
        ("SnmpMibObject 1.40.2 Integer 1;", "second arc is at most 39"),
        ("SnmpWriteControl 1.3.6.1.99999999999 1;", "at most 4294967295"),
        ("SnmpWriteControl 5.1 1;", "starts with 0, 1 or 2"),
    ],
)
def test_oids_ber_cannot_carry_are_value_errors_at_their_place(statement: str, fragment: str) -> None:
    err = error_of(f"Main {{\n  {statement}\n}}")
    assert isinstance(err, EncodeError)
    assert (err.source, err.line) == ("t.cfg", 2), str(err)
    assert fragment in str(err) and str(err).startswith("t.cfg:2:")


@pytest.mark.parametrize(
    "text, line, col, name",
    [
        ("Main { }", 1, 1, "Main"),
        ("Main {\n  UsServiceFlow { }\n}", 2, 3, "UsServiceFlow"),
        ("Main {\n  UsServiceFlow { /* nothing */ }\n  NetworkAccess 1;\n}", 2, 3, "UsServiceFlow"),
        ("Main {\n  GenericTLV TlvCode 200 {\n  }\n}", 2, 3, "GenericTLV"),
    ],
)
def test_empty_blocks_are_syntax_errors_like_the_reference(text: str, line: int, col: int, name: str) -> None:
    err = error_of(text)
    assert isinstance(err, TextSyntaxError)
    assert (err.line, err.col) == (line, col)
    assert str(err) == f"t.cfg:{line}:{col}: {name} {{ }} is empty: a block holds at least one statement"


def test_blocks_nest_at_most_32_deep() -> None:
    deep = "Main {" + " GenericTLV TlvCode 1 {" * 40 + " NetworkAccess 1;" + " }" * 40 + " }"
    err = error_of(deep)
    assert isinstance(err, TextSyntaxError) and "nest more than 32 deep" in str(err)
    ok = "Main {" + " GenericTLV TlvCode 1 {" * 31 + " GenericTLV TlvCode 2 TlvValue 0x01;" + " }" * 31 + " }"
    assert compile_(ok)


@pytest.mark.parametrize(
    "statement, col, fragment",
    [
        (r'GenericTLV TlvCode 200 TlvString "a\qb";', 38, r"unknown escape \q"),
        (r'SnmpMibObject sysName.0 String "C:\new";', 37, r"unknown escape \n"),
        (r'GenericTLV TlvCode 200 TlvStringZero "\x4";', 41, r"\x needs two hex digits"),
        (r'ManufacturerCVC "a\tb.der";', 21, r"unknown escape \t"),
    ],
)
def test_unknown_escapes_are_syntax_errors_at_the_backslash(statement: str, col: int, fragment: str) -> None:
    err = error_of(f"Main {{\n  {statement}\n}}")
    assert isinstance(err, TextSyntaxError)
    assert (err.line, err.col) == (2, col), str(err)
    assert fragment in str(err)


def test_known_escapes_come_from_one_table() -> None:
    for letter, data in ESCAPES.items():
        assert unescape("\\" + letter) == data
    assert unescape(r"\x41\\") == b"A\\"
    # \ (backslash, space) is two spaces, as docsis reads it.
    out = compile_('Main {\n  GenericTLV TlvCode 200 TlvString "\\"\\ \\\\\\x00";\n}')
    assert out.startswith(bytes.fromhex("c805") + b'"  \\\x00')


def test_raw_bytes_pass_through_strings_only() -> None:
    raw = b'Main {\n  GenericTLV TlvCode 200 TlvString "\xe9\xff";  /* caf\xe9 */\n}'
    assert compile_(raw.decode("utf-8", "surrogateescape")).startswith(bytes.fromhex("c802e9ff"))
    err = error_of(b"Main {\n  NetworkAccess \xff;\n}".decode("utf-8", "surrogateescape"))
    assert str(err) == "t.cfg:2:17: byte 0xff is not UTF-8 text; raw bytes may stand only inside a quoted string"
    assert str(error_of("Main {\n  NetworkAccess 1\x00;\n}")) == "t.cfg:2:18: NUL byte in the text"
    err = error_of('Main {\n  SnmpMibObject sysName.0 String "\ud800";\n}')
    assert str(err) == "t.cfg:2:35: U+D800 is half of a UTF-16 pair, not a character"


def test_errors_found_while_encoding_name_the_file() -> None:
    refs = "".join(f"    UsServiceFlowRef {i};\n" for i in range(1, 101))
    err = error_of(f"Main {{\n  UsServiceFlow {{\n{refs}  }}\n}}")
    assert str(err).startswith("t.cfg:2:3: TLV 24: UsServiceFlow value is 400 bytes")
    with pytest.raises(EncodeError) as info:
        compile_text("Main { NetworkAccess 1; }", source="t.cfg", ctx=CTX)
    assert str(info.value).startswith("t.cfg: a CM file needs the CMTS shared secret")


# What the interpreter would say, never what a user should read.
PYTHON_WORDS = re.compile(
    r"Traceback|surrogates not allowed|invalid literal|codec can't|can't (en|de)code|"
    r"integer string conversion|set_int_max_str_digits|RecursionError|maximum recursion|"
    r"Error\b|object has no attribute|NoneType|\\x00|\\udc|<text>",
)

LONG = b"1" * 10_000_000
CORPUS: dict[str, bytes] = {
    "invalid-utf8": b"Main {\n  NetworkAccess \xc3\x28;\n}\n",
    "invalid-utf8-keyword": b"Main {\n  Netw\xffrkAccess 1;\n}\n",
    "lone-surrogate": b'Main {\n  SnmpMibObject sysName.0 Integer \xed\xa0\x80;\n}\n',
    "nul": b"Main {\n  NetworkAccess 1;\x00\n}\n",
    "nul-in-string": b'Main {\n  SnmpMibObject sysName.0 String "a\x00b";\n}\n',
    "huge-integer": b"Main {\n  MaxCPE " + b"9" * 5000 + b";\n}\n",
    "huge-snmp-integer": b"Main {\n  SnmpMibObject sysName.0 Integer " + b"9" * 5000 + b";\n}\n",
    "huge-oid-arc": b"Main {\n  SnmpMibObject 1.3.6." + b"9" * 5000 + b" Integer 1;\n}\n",
    "huge-tlvcode": b"Main {\n  GenericTLV TlvCode " + b"9" * 5000 + b" TlvValue 0x01;\n}\n",
    "deep-nesting": b"Main {" + b" GenericTLV TlvCode 1 {" * 5000 + b" NetworkAccess 1;" + b" }" * 5001,
    "deep-braces": b"Main {" + b"{" * 100_000 + b"}" * 100_001,
    "10mb-line": b"Main {\n  NetworkAccess " + LONG + b";\n}\n",
    "10mb-string": b'Main {\n  SnmpMibObject sysName.0 String "' + LONG + b'";\n}\n',
    "empty-block": b"Main {\n  UsServiceFlow { }\n}\n",
    "empty-main": b"Main { }\n",
    "unknown-escape": b'Main {\n  SnmpMibObject sysName.0 String "a\\qb";\n}\n',
    "unclosed": b"Main {\n  NetworkAccess 1;\n",
    "binary-junk": bytes(range(256)),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_inputs_get_plain_messages_and_documented_statuses(tmp_path: Path, name: str) -> None:
    src = tmp_path / f"{name}.cfg"
    src.write_bytes(CORPUS[name])
    runner = CliRunner()
    out = tmp_path / "out.bin"
    result = runner.invoke(main, ["compile", str(src), "--key", str(COMPAT / "key"), "-o", str(out)])
    assert result.exit_code in (3, 4), (result.exit_code, result.stderr[:300], result.exception)
    assert not out.exists()
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pktcable: {src}:"), result.stderr[:300]
    assert not PYTHON_WORDS.search(result.stderr), result.stderr[:300]
    assert len(result.stderr) < 400  # a 10 MB value is not echoed back

    result = runner.invoke(main, ["validate", str(src)])
    assert result.exit_code == 1, (result.stderr[:300], result.exception)
    assert result.stderr.startswith(str(src)), result.stderr[:300]
    assert not PYTHON_WORDS.search(result.stderr), result.stderr[:300]
