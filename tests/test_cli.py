"""The command line: outputs, exit statuses, errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main

from .conftest import COMPAT

KEY = str(COMPAT / "key")


def run(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout_bytes, result.stderr


def test_compile_cm_and_mta(tmp_path: Path) -> None:
    out = tmp_path / "cm.bin"
    assert run("compile", str(COMPAT / "cm_basic.txt"), "--key", KEY, "-o", str(out))[0] == 0
    assert out.read_bytes() == (COMPAT / "cm_basic.bin").read_bytes()
    out = tmp_path / "mta.bin"
    # mta_ncs sets a TOS byte above its MIB range (see test_compat): lenient.
    assert run("compile", str(COMPAT / "mta_ncs.txt"), "--lenient", "--hash", "euro", "-o", str(out))[0] == 0
    assert out.read_bytes() == (COMPAT / "mta_ncs.eu.bin").read_bytes()


def test_compile_minimal_ber(tmp_path: Path) -> None:
    """--minimal-ber drops docsis's 4-byte VarBind headers; decode reads both forms and
    gives back, through the model, the very bytes it read."""
    from tlv.binary import encode_nodes
    from tlv.config import cm_trailer, decode_file

    src, out = COMPAT / "varbind_lengths.txt", tmp_path / "min.bin"
    assert run("compile", str(src), "--key", KEY, "--lenient", "--minimal-ber", "-o", str(out))[0] == 0
    docsis, minimal = (COMPAT / "varbind_lengths.bin").read_bytes(), out.read_bytes()
    assert b"\x30\x82\x00" in docsis and b"\x30\x82\x00" not in minimal
    assert docsis.count(b"\x30\x82\x00") == 8
    key = (COMPAT / "key").read_bytes()
    for data in (docsis, minimal):
        cf = decode_file(data, key=key)
        assert cf.problems == [] and cf.mic_ok is True
        body = encode_nodes(cf.nodes)
        assert body + cm_trailer(body, key) == data


def test_many_inputs_with_out_dir(tmp_path: Path) -> None:
    inputs = [str(COMPAT / f"{n}.txt") for n in ("mta_ncs", "mta_vendor")]
    code, _, err = run("compile", *inputs, "--lenient", "--out-dir", str(tmp_path / "out"))
    assert code == 0, err
    assert err.count("warning:") == 1  # mta_ncs's TOS byte
    for n in ("mta_ncs", "mta_vendor"):
        assert (tmp_path / "out" / f"{n}.bin").read_bytes() == (COMPAT / f"{n}.bin").read_bytes()


def test_stdin_to_stdout() -> None:
    text = (COMPAT / "mta_vendor.txt").read_bytes()
    code, out, _ = run("compile", "-", "-o", "-", "--hash", "cablelabs", input=text)
    assert code == 0 and out == (COMPAT / "mta_vendor.na.bin").read_bytes()


def test_decode_and_mic_check() -> None:
    code, out, err = run("decode", str(COMPAT / "cm_basic.bin"), "--key", KEY)
    assert code == 0, err
    assert b"NetworkAccess 1;" in out and b"CmtsMic" in out
    wrong = COMPAT.parent / "wrong.key"
    code, _, _ = run("decode", str(COMPAT / "cm_basic.bin"), "--key", str(wrong))
    assert code == 6  # the key file does not exist


def test_decode_reports_bad_mic(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_bytes(b"other")
    code, out, _ = run("decode", str(COMPAT / "cm_basic.bin"), "--key", str(key))
    assert code == 1 and b"INVALID" in out


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Main {\n NetworkAccess 7;\n TftpTimestamp \"abc\";\n ClassOfService { TrafficPriority 1; }\n}\n")
    code, _, err = run("validate", str(bad))
    assert code == 1
    lines = err.strip().splitlines()
    assert [line.split(":")[1] for line in lines] == ["2", "3", "4"], err
    assert "TrafficPriority" in lines[2]


def test_validate_ok(tmp_path: Path) -> None:
    code, out, _ = run("validate", str(COMPAT / "cm_basic.txt"), str(COMPAT / "mta_ncs.na.bin"))
    assert code == 0 and out.count(b": ok") == 2


@pytest.mark.parametrize(
    "content, status",
    [
        (b"Main { NetworkAccess 1 }", 3),
        (b"Main { NetworkAccess 9; }", 4),
        (b"Main { SnmpMibObject noSuchObject.0 Integer 1; }", 4),
    ],
)
def test_exit_status_for_bad_text(tmp_path: Path, content: bytes, status: int) -> None:
    src = tmp_path / "x.txt"
    src.write_bytes(content)
    code, _, err = run("compile", str(src), "--key", KEY, "-o", str(tmp_path / "x.bin"))
    assert code == status, err
    assert err.startswith("pktcable: ") and str(src) in err
    assert not (tmp_path / "x.bin").exists()


def test_exit_status_for_bad_binary(tmp_path: Path) -> None:
    src = tmp_path / "x.bin"
    src.write_bytes(bytes.fromhex("0305"))
    code, _, err = run("decode", str(src))
    assert code == 5 and "offset 0" in err


def test_missing_input() -> None:
    assert run("compile", "/nonexistent/x.txt")[0] == 6


def test_console_script_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "pktcable", "--help"], capture_output=True, text=True, check=True)
    assert "compile" in proc.stdout and "decode" in proc.stdout


def test_certificate_chain_split_and_reassembled(tmp_path: Path) -> None:
    chain = bytes(range(256)) * 3  # 768 bytes: TLVs of 254, 254, 254, 6
    (tmp_path / "mfg.p7b").write_bytes(chain)
    (tmp_path / "cm.txt").write_text('Main {\n NetworkAccess 1;\n ManufacturerCVCChainFile "mfg.p7b";\n}\n')
    out = tmp_path / "cm.bin"
    assert run("compile", str(tmp_path / "cm.txt"), "--key", KEY, "-o", str(out))[0] == 0
    data = out.read_bytes()
    assert data.count(b"\x51\xfe") == 3 and b"\x51\x06" in data
    code, text, _ = run("decode", str(out), "--key", KEY)
    assert code == 0 and b"768 bytes in 4 TLV(s)" in text
    code, text, _ = run("decode", str(out), "--key", KEY, "--cvc-dir", str(tmp_path / "certs"))
    assert code == 0 and text.count(b'\tManufacturerCVCChainFile "') == 1
    (saved,) = (tmp_path / "certs").iterdir()
    assert saved.read_bytes() == chain
    (tmp_path / "again.txt").write_bytes(text)
    assert run("compile", str(tmp_path / "again.txt"), "--key", KEY, "-o", str(tmp_path / "again.bin"))[0] == 0
    assert (tmp_path / "again.bin").read_bytes() == data


VENDOR_MIB = """EXAMPLE-VENDOR-MIB DEFINITIONS ::= BEGIN
IMPORTS MODULE-IDENTITY, OBJECT-TYPE, Integer32, enterprises FROM SNMPv2-SMI;
exampleVendor MODULE-IDENTITY
    LAST-UPDATED "202601010000Z" ORGANIZATION "x" CONTACT-INFO "x" DESCRIPTION "x"
    ::= { enterprises 99999 }
exampleDialTimeout OBJECT-TYPE
    SYNTAX Integer32 (0..600) MAX-ACCESS read-write STATUS current DESCRIPTION "x"
    ::= { exampleVendor 1 }
END
"""


def test_vendor_mib_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mibdir = tmp_path / "mibs"
    mibdir.mkdir()
    (mibdir / "EXAMPLE-VENDOR-MIB.txt").write_text(VENDOR_MIB)
    src = tmp_path / "v.txt"
    src.write_text("Main { MtaConfigDelimiter 1; SnmpMibObject exampleDialTimeout.0 Integer 30; MtaConfigDelimiter 255; }")
    out = tmp_path / "v.bin"
    assert run("compile", str(src), "-o", str(out))[0] == 4  # unknown without the vendor MIB
    assert run("compile", str(src), "-o", str(out), "--mib-dir", str(mibdir))[0] == 0
    assert bytes.fromhex("2b06010401868d1f0100") in out.read_bytes()  # 1.3.6.1.4.1.99999.1.0
    code, text, _ = run("decode", str(out), "--mib-dir", str(mibdir))
    assert code == 0 and b"exampleDialTimeout.0 Integer 30" in text
