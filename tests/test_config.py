"""Whole-file rules: CM trailer, MTA delimiters, TLV 64, config hash, MIC checks."""

from __future__ import annotations

import hashlib

import pytest

from tlv.config import HASH_OIDS, compile_text, decode_file, format_file
from tlv.errors import EncodeError, TextSyntaxError

from .conftest import COMPAT

LONG = "x" * 400
MTA = 'Main {{ MtaConfigDelimiter 1; {body} MtaConfigDelimiter 255; }}'


def test_long_snmp_object_becomes_tlv64_in_mta(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    # sysContact's SIZE is 0..255: lenient, it travels as written (in TLV 64) with a warning.
    warnings: list[EncodeError] = []
    data = compile_text(MTA.format(body=f'SnmpMibObject sysContact.0 String "{LONG}";'), ctx=mib_ctx,
                        warnings=warnings)
    assert [("SIZE of sysContact" in str(w)) for w in warnings] == [True]
    assert data[3] == 64 and int.from_bytes(data[4:6], "big") == len(data) - 9
    cf = decode_file(data)
    assert cf.problems == [] and cf.nodes[1].long
    assert compile_text(format_file(cf, mib_ctx), ctx=mib_ctx, warnings=[]) == data


def test_long_snmp_object_is_an_error_in_cm(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError) as info:
        compile_text(f'Main {{\n SnmpMibObject sysContact.0 String "{LONG}";\n}}', ctx=mib_ctx, key=b"k",
                     warnings=[])  # lenient about its SIZE: still no TLV over 255 bytes in a CM file
    assert info.value.line == 2 and "at most 255" in str(info.value)


def test_digit_map_keyword(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    dial = b"(x.T|[2-9]xxxxxx)" * 30
    data = compile_text(MTA.format(body='DigitMap "dial.txt";'), ctx=mib_ctx, loader=lambda name: dial)
    assert data[3] == 64 and dial in data


@pytest.mark.parametrize("hash_name", sorted(HASH_OIDS))
def test_hash_covers_the_whole_file(hash_name: str, mib_ctx) -> None:  # type: ignore[no-untyped-def]
    text = MTA.format(body="SnmpMibObject pktcMtaDevEnabled.0 Integer 1;")
    plain = compile_text(text, ctx=mib_ctx)
    hashed = compile_text(text, ctx=mib_ctx, hash=hash_name)
    assert hashlib.sha1(plain).digest() in hashed
    assert hashed.endswith(b"\xfe\x01\xff") and hashed.startswith(plain[:-3])
    cf = decode_file(hashed)
    assert (cf.hash_ok, cf.hash_name) == (True, hash_name)
    tampered = bytearray(hashed)
    tampered[len(plain) - 4] ^= 3  # pktcMtaDevEnabled's value: 1 -> 2
    cf = decode_file(bytes(tampered))
    assert cf.hash_ok is False and cf.problems


def test_second_hash_refused(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    cf = decode_file((COMPAT / "mta_ncs.na.bin").read_bytes())
    with pytest.raises(EncodeError, match="already holds a config hash"):
        compile_text(format_file(cf, mib_ctx), ctx=mib_ctx, hash="cablelabs", warnings=[])  # 184 breaks its range


@pytest.mark.parametrize(
    "body, message",
    [
        ("MtaConfigDelimiter 1; SnmpMibObject sysContact.0 String \"a\";", "ends with MtaConfigDelimiter 255"),
        ("MtaConfigDelimiter 2; MtaConfigDelimiter 255;", "starts with MtaConfigDelimiter 1"),
        ("MtaConfigDelimiter 1; MtaConfigDelimiter 1; MtaConfigDelimiter 255;", "only opens"),
        ("NetworkAccess 1; MtaConfigDelimiter 1;", "MtaConfigDelimiter in a CM file"),
        ("GenericTLV TlvCode 6 TlvLength 1 TlvValue 0x00;", "computed by the compiler"),
    ],
)
def test_file_structure_errors(body: str, message: str, mib_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError, match=message):
        compile_text(f"Main {{ {body} }}", ctx=mib_ctx, key=b"k")


def test_cm_needs_a_key_and_hash_is_for_mta(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError, match="--key"):
        compile_text("Main { NetworkAccess 1; }", ctx=mib_ctx)
    with pytest.raises(EncodeError, match="MTA files"):
        compile_text("Main { NetworkAccess 1; }", ctx=mib_ctx, key=b"k", hash="cablelabs")


def test_mic_verification(compat_key: bytes) -> None:
    data = (COMPAT / "cm_basic.bin").read_bytes()
    assert decode_file(data, key=compat_key).mic_ok is True
    assert decode_file(data).mic_ok is None  # CM MIC fine, CMTS MIC not checked
    assert decode_file(data, key=b"wrong").mic_ok is False
    broken = bytearray(data)
    broken[2] ^= 1
    cf = decode_file(bytes(broken), key=compat_key)
    assert cf.mic_ok is False and any("CM MIC" in p for p in cf.problems)


def test_enum_labels_and_qualified_names(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    text = MTA.format(
        body="SnmpMibObject ifAdminStatus.9 Integer down; "
        "SnmpMibObject PKTC-IETF-MTA-MIB::pktcMtaDevEnabled.0 Integer true;"
    )
    data = compile_text(text, ctx=mib_ctx)
    assert bytes.fromhex("2b06010201020201070902010" "2") in data
    assert bytes.fromhex("2b06010201810c") in data  # the IETF tree 1.3.6.1.2.1.140
    out = format_file(decode_file(data), mib_ctx)
    assert "PKTC-IETF-MTA-MIB::pktcMtaDevEnabled.0 Integer 1 /* true */" in out
    assert "ifAdminStatus.9 Integer 2 /* down */" in out


def test_unknown_enum_label(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError, match="enum label"):
        compile_text(MTA.format(body="SnmpMibObject ifAdminStatus.9 Integer sideways;"), ctx=mib_ctx)


def test_unknown_object_names_the_position(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EncodeError) as info:
        compile_text("Main {\n  SnmpMibObject sysContactt.0 String \"a\";\n}", ctx=mib_ctx, key=b"k", source="c.txt")
    assert str(info.value).startswith("c.txt:2:17:") and "sysContact" in str(info.value)


def test_syntax_error_in_real_schema(mib_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TextSyntaxError, match="TrafficPriority is not valid in ClassOfService"):
        compile_text("Main { ClassOfService { TrafficPriority 1; } }", ctx=mib_ctx, key=b"k")
