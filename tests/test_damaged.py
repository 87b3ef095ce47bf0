"""``decode`` of a damaged binary: strict by default (exit 5, offset and TLV
path), ``--lenient`` prints what was readable with the damage marked, exit 0."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.mibctx import MibContext
from tlv.config import compile_text, decode_file, format_file
from tlv.errors import DecodeError

from .conftest import COMPAT

KEY_FILE = str(COMPAT / "key")
KEY = (COMPAT / "key").read_bytes().rstrip(b"\r\n")
GOOD = (COMPAT / "cm_basic.bin").read_bytes()
# cm_basic.bin starts 03 01 01 | 12 01 04 | 1d 01 01 | 11 2a ...: TLV 17 at offset 9.
assert GOOD[9:11] == b"\x11\x2a"
NOT_A_VARBIND = compile_text(
    "Main { NetworkAccess 1; GenericTLV TlvCode 11 TlvLength 2 TlvValue 0x0102; }", key=KEY, ctx=MibContext()
)

# name: (the damaged file, offset, TLV path or "", words of the reason)
DAMAGE: dict[str, tuple[bytes, int, str, str]] = {
    "no end marker": (GOOD[: GOOD.rindex(b"\xff")], GOOD.rindex(b"\xff"), "", "no end-of-data marker"),
    "TLV overruns the file": (GOOD[:20], 9, "17", "length 42 runs past the end of the data"),
    "TLV 11 not a VarBind": (NOT_A_VARBIND, 3, "11", "not an SNMP VarBind"),
    "garbage after the end marker": (GOOD + b"\x01\x02", len(GOOD), "", "non-zero byte after the end-of-data"),
    "truncated length": (GOOD[:10], 9, "17", "header truncated"),
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def where(offset: int, path: str) -> str:
    return f"offset {offset}" + (f", TLV {path}" if path else "")


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_strict_decode_exits_5_with_offset_and_path(tmp_path: Path, kind: str) -> None:
    data, offset, path, reason = DAMAGE[kind]
    with pytest.raises(DecodeError) as info:
        decode_file(data, key=KEY)
    assert (info.value.offset, info.value.path) == (offset, path)
    src = tmp_path / "x.bin"
    src.write_bytes(data)
    code, out, err = run("decode", str(src), "--key", KEY_FILE)
    assert code == 5 and out == ""
    assert err == f"pktcable: {where(offset, path)}: {info.value.reason}\n"
    assert reason in err


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_lenient_decode_marks_the_damage_and_exits_0(tmp_path: Path, kind: str) -> None:
    data, offset, path, reason = DAMAGE[kind]
    src = tmp_path / "x.bin"
    src.write_bytes(data)
    code, out, err = run("decode", str(src), "--key", KEY_FILE, "--lenient")
    assert code == 0, err
    marks = [line.strip() for line in out.splitlines() if "DAMAGED" in line]
    assert len(marks) == 1 and where(offset, path) in marks[0] and reason in marks[0], out
    assert marks[0].startswith("/* ") and marks[0].endswith(" */")
    assert "NetworkAccess 1;" in out  # what came before the damage is there
    assert f"pktcable: warning: {src}: " in err
    # The text compiles (the mark is a comment) to the part that could be read.
    assert compile_text(out, key=KEY, ctx=MibContext())


def lenient_text(data: bytes) -> str:
    return format_file(decode_file(data, key=KEY, strict=False))


CHECKS: dict[str, Callable[[str], bool]] = {
    "TLV 11 not a VarBind": lambda text: "GenericTLV TlvCode 11 TlvLength 2 TlvValue 0x0102;" in text,
    "TLV overruns the file": lambda text: "SnmpMibObject" not in text and "NetworkAccess 1;" in text,
}


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_lenient_keeps_bytes_it_cannot_read_and_nothing_past_the_damage(kind: str) -> None:
    assert CHECKS[kind](lenient_text(DAMAGE[kind][0]))


def test_an_empty_aggregate_decodes_to_text_that_compiles() -> None:
    data = compile_text("Main { NetworkAccess 1; GenericTLV TlvCode 24 TlvLength 0 TlvValue 0x; }", key=KEY)
    text = format_file(decode_file(data, key=KEY))
    assert "UsServiceFlow" not in text and "GenericTLV TlvCode 24 TlvLength 0 TlvValue 0x;" in text
    assert compile_text(text, key=KEY) == data
