"""Binary TLV trees: lossless decode, typed errors with offset and path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlv.binary import END, decode, encode_nodes
from tlv.errors import DecodeError
from tlv.formatter import format_config
from tlv.text import parse

from .minischema import TOP


def reencode(data: bytes, **kw: object) -> bytes:
    d = decode(data, TOP, **kw)  # type: ignore[arg-type]
    out = encode_nodes(d.nodes)
    if d.end_marker:
        out += bytes((END,)) + bytes(d.pad)
    return out


def test_known_unknown_and_malformed_values_survive() -> None:
    data = bytes.fromhex("030101" "030201ff" "c80100" "1806010102070107" "ff000000")
    d = decode(data, TOP)
    assert [n.code for n in d.nodes] == [3, 3, 200, 24]
    assert d.nodes[0].decoded == 1
    assert d.nodes[1].decoded is None and d.problems  # 2 bytes for a uint8: kept raw, reported
    assert d.end_marker and d.pad == 3
    assert reencode(data) == data


@pytest.mark.parametrize(
    "hexdata, offset, path",
    [
        ("0302", 0, "3"),  # length runs past the end
        ("03", 0, "3"),  # header truncated
        ("1803010500", 2, "24.1"),  # sub-TLV runs past its parent
        ("180101", 2, "24.1"),  # sub-TLV header truncated
        ("ff0001", 2, ""),  # non-zero byte after the end marker
        ("00030101", 0, ""),  # pad byte before the end marker
    ],
)
def test_structure_errors(hexdata: str, offset: int, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(bytes.fromhex(hexdata), TOP)
    assert (info.value.offset, info.value.path) == (offset, path)


def test_lenient_keeps_broken_aggregate_raw() -> None:
    data = bytes.fromhex("1803010500" "030101")
    d = decode(data, TOP, strict=False)
    assert d.nodes[0].children is None and "kept as raw" in d.problems[0]
    assert reencode(data, strict=False) == data


def test_mta_long_snmp_form() -> None:
    value = bytes(300)
    data = b"\xfe\x01\x01" + b"\x40" + len(value).to_bytes(2, "big") + value + b"\xfe\x01\xff"
    d = decode(data, TOP)
    assert d.mta and d.nodes[1].long and len(d.nodes[1].value) == 300
    assert encode_nodes(d.nodes) == data


@given(st.binary(max_size=80))
def test_random_bytes_decode_or_raise_typed(data: bytes) -> None:
    try:
        out = reencode(data)
    except DecodeError:
        return
    assert out == data


@given(st.binary(max_size=80))
def test_accepted_input_formats_to_text_that_compiles_back(data: bytes) -> None:
    try:
        d = decode(data, TOP, mta=False)
    except DecodeError:
        return
    if not d.nodes:
        return  # no text form: the language has no empty Main { }
    text = format_config(d.nodes)
    assert encode_nodes(parse(text, TOP)) == encode_nodes(d.nodes)
