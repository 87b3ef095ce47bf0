"""Batch compiles (one memo across files): the same bytes, errors and warnings as one file at a time.

A batch skips what it has seen: lines scanned before, plain statements parsed
before, and for a file shaped like the previous one only the lines that differ
(tlv.batch). Each test compiles a sequence of texts with one shared memo and
alone, and wants the same outcome for every text.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from tlv import lexer
from tlv.config import compile_text
from tlv.errors import TlvError
from tlv.snmpvalues import _WORD, _split_words

from .conftest import COMPAT

VECTORS = sorted(COMPAT.glob("*.txt"))


def outcome(text: str, ctx: Any, key: bytes, memo: dict[Any, Any] | None, lenient: bool,
            loader: Any = None) -> tuple[Any, ...]:
    warnings: list[Any] | None = [] if lenient else None
    try:
        data = compile_text(text, source="t.txt", ctx=ctx, key=key, memo=memo, warnings=warnings, loader=loader)
    except TlvError as exc:
        return ("error", str(exc))
    return ("ok", data, [str(w) for w in warnings or ()])


def same_as_alone(texts: list[str], ctx: Any, key: bytes, lenient: bool) -> list[tuple[Any, ...]]:
    memo: dict[Any, Any] = {}
    got = [outcome(t, ctx, key, memo, lenient) for t in texts]
    want = [outcome(t, ctx, key, None, lenient) for t in texts]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"text {i}:\n{texts[i]}"
    return got


def per_device(text: str, n: int) -> str:
    """A device's copy: its own strings and numbers in the statements."""
    text = re.sub(r'"([^"\n]*)"', lambda m: f'"{m.group(1)}{n}"' if "/" not in m.group(1) else m.group(0), text)
    return re.sub(r"(MaxRateSustained|UdpPort\.\d+ Integer|MaxCPE) (\d+)", lambda m: f"{m.group(1)} {int(m.group(2)) + n % 3}",
                  text)


@pytest.mark.parametrize("lenient", [False, True])
def test_vectors_and_per_device_copies(mib_ctx: Any, compat_key: bytes, lenient: bool) -> None:
    texts = []
    for n in range(6):
        texts += [per_device(p.read_text(), n) for p in VECTORS]
    texts += [p.read_text() for p in VECTORS]  # and back to the originals
    got = same_as_alone(texts, mib_ctx, compat_key, lenient)
    if lenient:
        assert all(g[0] == "ok" for g in got)
    # The originals still give the docsis vectors' bytes.
    for path, g in zip(VECTORS, got[-len(VECTORS):], strict=True):
        bin_path = path.with_suffix(".bin")
        if g[0] == "ok" and not path.stem.startswith("mta") and bin_path.exists() and path.stem != "cm_static_multicast":
            assert g[1] == bin_path.read_bytes()


BASE = """Main
{
\tNetworkAccess 1;
\tMaxCPE 4;
\tUsServiceFlow
\t{
\t\tUsServiceFlowRef 1;
\t\tMaxRateSustained 1000000;
\t}
\tSnmpMibObject sysContact.0 String "noc@example.net";
\tSnmpMibObject docsDevNmAccessStatus.1 Integer 4;
}
"""


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


LAYOUTS = [
    BASE,
    edit("\tMaxCPE 4;", "\tMaxCPE 5;"),
    edit("\tMaxCPE 4;", "\tMaxCPE   6 ;"),
    edit("\tMaxCPE 4;", "\tMaxCPE 7; /* a comment */"),
    edit("\tMaxCPE 4;", "\t/* x */ MaxCPE 8;"),
    edit("\tMaxCPE 4;", "\tMaxCPE 4; NetworkAccess 0;"),
    edit("\tMaxCPE 4;", "\tMaxCPE\n 9;"),
    edit('\tSnmpMibObject sysContact.0 String', '\tSnmpMibObject sysContact.0\n\t\tString'),  # the rest looks plain
    edit("\tMaxCPE 4;", "\tMaxCPE /* spans\n lines */ 10;"),
    edit("\tMaxCPE 4;", "\t/* MaxCPE 4;\n\tMaxCPE 11; */"),
    edit("\tMaxCPE 4;", "\t# MaxCPE 4;"),
    edit("Main\n", "/* device 1 */\nMain\n"),
    edit("Main\n", "/* device 2 */\nMain\n"),
    edit("Main\n", "/* device 3\nMain\n"),
    edit("Main\n", "# device 4\nMain\n"),
    edit("Main\n", "\nMain\n"),
    edit("\tMaxCPE 4;", "\tMaxRateSustained 12;"),  # valid in UsServiceFlow, not here
    edit("\tMaxCPE 4;", "\tMaxCPE 300;"),  # out of range
    edit("\tMaxCPE 4;", "\tMaxCPE x;"),
    edit("\tMaxCPE 4;", "\tMaxCPE 4"),  # no ';'
    edit("\tMaxCPE 4;", "\tMaxCPE;"),
    edit("\tMaxCPE 4;", "\tUsServiceFlow 1;"),  # a block
    edit("\tMaxCPE 4;", "\tGenericTLV TlvCode 99 TlvValue 0x0102;"),
    edit("\tMaxCPE 4;", "\tSnmpMibObject sysName.0 String \"a\\\"b\";"),
    edit("\tMaxCPE 4;", "\tSnmpMibObject sysName.0 String \"ab\x00\";"),
    edit("\tMaxCPE 4;", "\tSnmpMibObject docsDevNmAccessStatus.1 Integer 9;"),  # not an enum value
    edit("\tMaxCPE 4;", "\tSnmpMibObject docsDevNmAccessStatus.0 Integer 4;"),  # index out of range
    edit("\tMaxCPE 4;", "\tSnmpMibObject sysContact.0 Integer 4;"),  # wrong type
    edit("\t\tMaxRateSustained 1000000;", "\t\tMaxRateSustained 2000000;"),
    edit("\t\tMaxRateSustained 1000000;", "\t\tMaxCPE 3;"),  # not valid in UsServiceFlow
    edit("\t\tMaxRateSustained 1000000;", "\t}\n\t{"),
    edit("\t\tMaxRateSustained 1000000;", "\t\tMaxRateSustained 1000000; }"),
    edit("\tUsServiceFlow\n", "\tDsServiceFlow\n"),
    edit('String "noc@example.net"', 'String "noc2@example.net"'),
    edit('String "noc@example.net"', 'String "' + "x" * 300 + '"'),
    edit("}\n", "}\n}\n"),
    edit("Main", "Main Main"),
]


@pytest.mark.parametrize("lenient", [False, True])
def test_layouts_errors_and_warnings_match_one_file_at_a_time(mib_ctx: Any, compat_key: bytes, lenient: bool) -> None:
    rng = random.Random(7)
    texts = LAYOUTS + [rng.choice(LAYOUTS) for _ in range(200)]
    got = same_as_alone(texts, mib_ctx, compat_key, lenient)
    assert {g[0] for g in got} == {"ok", "error"}
    if lenient:  # the problem values are reported for every file that has them
        bad = edit("\tMaxCPE 4;", "\tSnmpMibObject docsDevNmAccessStatus.1 Integer 9;")
        assert sum(1 for t, g in zip(texts, got, strict=True) if t == bad and g[2]) == texts.count(bad) >= 2


def test_constraint_checks_run_for_every_new_value(mib_ctx: Any, compat_key: bytes) -> None:
    memo: dict[Any, Any] = {}
    good = outcome(edit("Integer 4;", "Integer 3;"), mib_ctx, compat_key, memo, False)
    assert good[0] == "ok"
    # Same shape, one differing line: the skeleton path, and its value is checked.
    bad = outcome(edit("Integer 4;", "Integer 7;"), mib_ctx, compat_key, memo, False)
    assert bad[0] == "error" and "7 is not a value of docsDevNmAccessStatus" in bad[1] and ":11:" in bad[1]


def test_file_keywords_read_each_files_own_file(mib_ctx: Any, compat_key: bytes, tmp_path: Path) -> None:
    """The same line naming a certificate is a different TLV next to each config."""
    text = BASE.replace("\tMaxCPE 4;", '\tManufacturerCVC "cert.der";')
    memo: dict[Any, Any] = {}
    for n in range(3):
        folder = tmp_path / str(n)
        folder.mkdir()
        (folder / "cert.der").write_bytes(bytes([n]) * 10)

        def load(name: str, folder: Path = folder) -> bytes:
            return (folder / name).read_bytes()

        got = outcome(text, mib_ctx, compat_key, memo, False, loader=load)
        assert got == outcome(text, mib_ctx, compat_key, None, False, loader=load)
        assert bytes((32, 10)) + bytes([n]) * 10 in got[1]


def _scan_by_tokens(line: str) -> lexer.LineScan:
    saved = lexer._PLAIN_LINE
    lexer._PLAIN_LINE = re.compile("(?!)")  # never: the general token loop
    try:
        return lexer.scan_line(line)
    finally:
        lexer._PLAIN_LINE = saved


def test_plain_line_scan_gives_the_token_loops_tokens() -> None:
    pieces = ["a", "B", "1", " ", "\t", '"', "'", ";", "{", "}", "/", "*", "#", ".", "-", "\\", "\r", "0x",
              "String", "/*", "*/", "\u00a0", "\x0b"]
    rng = random.Random(3)
    plain = 0
    for _ in range(30000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        if rng.random() < 0.6:
            line = f"\tKw {line};"
        plain += bool(lexer._PLAIN_LINE.fullmatch(line))
        assert lexer.scan_line(line) == _scan_by_tokens(line), repr(line)
        words = lexer.plain_words(line)
        if words is not None:
            scan = _scan_by_tokens(line)
            assert scan is not None and scan[1] and words == [tok[1] for tok in scan[0]], repr(line)
            assert line.lstrip().startswith(words[0])
    assert plain > 1000  # the fast path was taken


def test_word_split_fast_path_matches_the_pattern() -> None:
    def by_pattern(text: str, count: int) -> list[str]:
        parts, pos = [], 0
        for _ in range(count - 1):
            m = _WORD.match(text, pos)
            if m is None:
                break
            parts.append(m.group(1))
            pos = m.end()
        return [*parts, text[pos:].strip()]

    pieces = ["a", "b", " ", " ", "\t", "'", '"', "\x0b", "\u00a0", "x.1", "String", "  "]
    rng = random.Random(5)
    for _ in range(30000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))
        for count in (2, 3):
            assert _split_words(text, count) == by_pattern(text, count), repr(text)


def test_mta_conversions_do_not_leak_into_a_cm_file_of_the_same_shape(mib_ctx: Any, compat_key: bytes) -> None:
    """An MTA file sends an SNMP object over 255 bytes as TLV 64; a CM file that
    differs only in its first and last lines must not inherit that."""
    long_line = '\tSnmpMibObject .1.3.6.1.4.1.99999.1.0 String "' + "x" * 300 + '";\n'
    mta = "Main\n{\n\tMtaConfigDelimiter 1;\n" + long_line + "\tMtaConfigDelimiter 255;\n}\n"
    cm = mta.replace("MtaConfigDelimiter 1;", "NetworkAccess 1;").replace("MtaConfigDelimiter 255;", "MaxCPE 1;")
    got = same_as_alone([mta, cm, mta, cm], mib_ctx, compat_key, False)
    assert [g[0] for g in got] == ["ok", "error", "ok", "error"]
