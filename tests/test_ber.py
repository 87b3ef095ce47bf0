"""Our BER VarBind codec against pyasn1 (the oracle) and its own strictness."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as asn_decoder
from pyasn1.codec.ber import encoder as asn_encoder
from pyasn1.type import univ
from pysnmp.proto import rfc1902

from tlv import ber

oids = st.builds(
    lambda first, second, rest: (first, second, *rest),
    st.integers(0, 2),
    st.integers(0, 39),
    st.lists(st.integers(0, 2**32 - 1), max_size=20),
)

ORACLE = {
    "Integer": lambda v: rfc1902.Integer32(v),
    "Unsigned32": lambda v: rfc1902.Unsigned32(v),
    "Gauge32": lambda v: rfc1902.Gauge32(v),
    "Counter32": lambda v: rfc1902.Counter32(v),
    "Counter64": lambda v: rfc1902.Counter64(v),
    "TimeTicks": lambda v: rfc1902.TimeTicks(v),
    "IPAddress": lambda v: rfc1902.IpAddress(v),
    "String": lambda v: rfc1902.OctetString(v),
    "HexString": lambda v: rfc1902.OctetString(v),
    "ObjectID": lambda v: rfc1902.ObjectName(v),
    "Opaque": lambda v: rfc1902.Opaque(v),
    "Null": lambda v: univ.Null(""),
}

# pyasn1 writes -2**(8k-1) with a redundant leading 0xff (ff80 for -128), which
# X.690 8.3.2 forbids; we write the minimal form, so the oracle is not asked there.
PYASN1_NON_MINIMAL = frozenset(-(2 ** (8 * k - 1)) for k in range(1, 9))

values = {
    "Integer": st.integers(-(2**31), 2**31 - 1).filter(lambda v: v not in PYASN1_NON_MINIMAL),
    "Unsigned32": st.integers(0, 2**32 - 1),
    "Gauge32": st.integers(0, 2**32 - 1),
    "Counter32": st.integers(0, 2**32 - 1),
    "Counter64": st.integers(0, 2**64 - 1),
    "TimeTicks": st.integers(0, 2**32 - 1),
    "IPAddress": st.binary(min_size=4, max_size=4),
    "String": st.binary(max_size=600),
    "HexString": st.binary(max_size=600),
    "ObjectID": oids,
    "Opaque": st.binary(max_size=40),
    "Null": st.none(),
}


@st.composite
def varbinds(draw: st.DrawFn) -> ber.VarBind:
    keyword = draw(st.sampled_from(sorted(values)))
    t = ber.SNMP_TYPE_BY_KEYWORD[keyword.lower()]
    return ber.VarBind(draw(oids), t, draw(values[keyword]))


def oracle_encode(vb: ber.VarBind) -> bytes:
    seq = univ.Sequence()
    seq.setComponentByPosition(0, univ.ObjectIdentifier(vb.oid))
    seq.setComponentByPosition(1, ORACLE[vb.type.keyword](vb.value))
    return asn_encoder.encode(seq)


@given(varbinds())
def test_encode_matches_pyasn1(vb: ber.VarBind) -> None:
    # pyasn1 writes minimal lengths; the default adds the docsis header rule.
    assert ber.encode_varbind(vb, minimal=True) == oracle_encode(vb)


@given(varbinds())
def test_decode_inverts_encode(vb: ber.VarBind) -> None:
    data = ber.encode_varbind(vb)
    back = ber.decode_varbind(data)
    assert back.oid == vb.oid and back.value == vb.value and back.type.tag == vb.type.tag
    assert ber.encode_varbind(back) == data


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_value_error(data: bytes) -> None:
    try:
        vb = ber.decode_varbind(data)
    except ValueError:
        return
    # Whatever it accepts is canonical: it encodes back to the same bytes.
    assert ber.encode_varbind(vb) == data
    seq, rest = asn_decoder.decode(data)
    assert rest == b""


def test_minimal_negative_integers() -> None:
    t = ber.SNMP_TYPE_BY_KEYWORD["integer"]
    for value, content in ((-128, "80"), (-32768, "8000"), (-(2**31), "80000000"), (-129, "ff7f")):
        assert ber.encode_value(t, value).hex() == content
        assert ber.decode_value(t, bytes.fromhex(content)) == value


def test_golden_pktc_enabled() -> None:
    vb = ber.VarBind((1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 1, 7, 0), ber.SNMP_TYPE_BY_KEYWORD["integer"], 1)
    assert ber.encode_varbind(vb).hex() == "3013060e2b06010401a30b02020101010700020101"


def test_long_sequence_uses_two_length_bytes() -> None:
    vb = ber.VarBind((1, 3, 6, 1), ber.SNMP_TYPE_BY_KEYWORD["string"], b"x" * 520)
    assert ber.encode_varbind(vb)[:4] == bytes.fromhex("30820211")


@pytest.mark.parametrize(
    "hexdata, reason",
    [
        ("300706022b0602020001", "non-minimal INTEGER"),
        ("3081070603" "2b0601" "020101", "non-minimal BER length"),
        ("3008060380" "0601" "020101", "leading 0x80"),
        ("300606022b06020101" "00", "not a single VarBind"),
        ("30050603" "2b0601", "truncated"),
    ],
)
def test_non_canonical_rejected(hexdata: str, reason: str) -> None:
    with pytest.raises(ValueError):
        ber.decode_varbind(bytes.fromhex(hexdata))


# sysContact.0: 9 sub-identifiers, all one byte, so the name is 06 08 + 8 bytes.
SYS_CONTACT = (1, 3, 6, 1, 2, 1, 1, 4, 0)
STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]


@pytest.mark.parametrize(
    "length, docsis_header, minimal_header, value_header",
    [
        # string length: the docsis tool's SEQUENCE header, the minimal one, the value's own header
        (0, "300c", "300c", "0400"),
        (1, "300d", "300d", "0401"),
        (109, "3079", "3079", "046d"),  # 109 + 9 sub-identifiers < 119: docsis's own builder
        (110, "3082007a", "307a", "046e"),  # 110 + 9 = 119: net-snmp's 4-byte header
        (121, "30820085", "308185", "0479"),
        (122, "30820086", "308186", "047a"),
        (123, "30820087", "308187", "047b"),
        (127, "3082008b", "30818b", "047f"),
        (128, "3082008d", "30818d", "048180"),
        (200, "308200d5", "3081d5", "0481c8"),
        (255, "3082010c", "3082010c", "0481ff"),
        (256, "3082010e", "3082010e", "04820100"),
        (300, "3082013a", "3082013a", "0482012c"),
    ],
)
def test_varbind_header_rule(length: int, docsis_header: str, minimal_header: str, value_header: str) -> None:
    vb = ber.VarBind(SYS_CONTACT, STRING, b"a" * length)
    name = "0608" + ber.encode_oid(SYS_CONTACT).hex()
    tail = name + value_header + "61" * length
    assert ber.encode_varbind(vb).hex() == docsis_header + tail
    assert ber.encode_varbind(vb, minimal=True).hex() == minimal_header + tail
    for header in {docsis_header, minimal_header}:
        back = ber.decode_varbind(bytes.fromhex(header + tail))
        assert back == vb
        # The form read is kept, whatever the encoder's option says.
        for minimal in (False, True):
            assert ber.encode_varbind(back, minimal=minimal).hex() == header + tail


def test_varbind_header_threshold_counts_sub_identifiers() -> None:
    # 14 sub-identifiers, 4491 takes two bytes: the long form starts at string length 105,
    # a contents length of 123 (not 122 as with sysContact.0).
    oid = (1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 7, 0)
    hexstring = ber.SNMP_TYPE_BY_KEYWORD["hexstring"]
    assert ber.encode_varbind(ber.VarBind(oid, hexstring, b"\xab" * 104))[:2].hex() == "307a"
    assert ber.encode_varbind(ber.VarBind(oid, hexstring, b"\xab" * 105))[:4].hex() == "3082007b"
    # Only strings: the docsis tool builds every other type with its own 1-byte header.
    long_oid = (1, 3, *range(1, 120))
    assert ber.encode_varbind(ber.VarBind(SYS_CONTACT, ber.SNMP_TYPE_BY_KEYWORD["objectid"], long_oid))[:3].hex() \
        == "308184"


def test_docsis_illegal_short_header_is_not_copied() -> None:
    # 24 sub-identifiers of which 20 take 3 bytes, and 90 string bytes: 90 + 24 < 119, so the
    # docsis tool uses its 1-byte header for 157 bytes of contents and writes 30 9d, which is
    # not BER. We write the minimal long form.
    oid = (1, 3, 6, 1, *([200000] * 20))
    data = ber.encode_varbind(ber.VarBind(oid, STRING, b"a" * 90))
    assert data[:3].hex() == "30819d"
    assert ber.decode_varbind(data).long_header is False


def test_only_the_two_byte_form_is_accepted_beyond_minimal() -> None:
    good = ber.encode_varbind(ber.VarBind(SYS_CONTACT, STRING, b"a"), minimal=True)
    with pytest.raises(ValueError, match="non-minimal"):
        ber.decode_varbind(bytes.fromhex("3081") + good[1:])
    with pytest.raises(ValueError, match="non-minimal"):
        ber.decode_varbind(bytes.fromhex("30830000") + good[1:])
    # Inside the VarBind, lengths stay minimal.
    inner = ber.tlv(ber.OBJECT_IDENTIFIER, ber.encode_oid(SYS_CONTACT)) + bytes.fromhex("04820001") + b"a"
    with pytest.raises(ValueError, match="non-minimal"):
        ber.decode_varbind(bytes.fromhex("3082") + len(inner).to_bytes(2, "big") + inner)
