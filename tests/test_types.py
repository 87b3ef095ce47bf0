"""Value codecs: reference text forms, exact bytes, strict decoding, round trips."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import strategy
from tlv import types as t

ALL_TYPES = sorted(t.BY_NAME.values(), key=lambda v: v.name)


def enc(vtype: t.ValueType, text: str) -> str:
    return vtype.encode(vtype.parse(text)).hex()


# --- compatibility vectors (values as the reference compiled them) -------------


@pytest.mark.parametrize(
    ("vtype", "text", "hexbytes"),
    [
        (t.HEXSTR, "0x00ff00", "00ff00"),  # IpTos
        (t.HEXSTR, "0x0000017f", "0000017f"),  # RequestOrTxPolicy
        (t.HEXSTR, "0x0010a5", "0010a5"),  # VendorIdentifier
        (t.ETHER, "00:11:22:33:44:55", "001122334455"),  # CpeMacAddress
        (t.IP, "10.1.1.1", "0a010101"),  # SwUpgradeServer
        (t.STRING, '"vendor-fw-2.4.1.bin"', b"vendor-fw-2.4.1.bin".hex()),  # no NUL
        (t.STRING, '"monitor"', b"monitor".hex()),  # SNMPv1v2cCommunityName
        (t.OID, ".1.3.6.1", "06032b0601"),  # SnmpV3TrapRxFilterOID
        (t.STRZERO, '"gold"', "676f6c6400"),
        (t.UCHAR, "7", "07"),
        (t.USHORT, "1522", "05f2"),
        (t.UINT24, "1048575", "0fffff"),
        (t.UINT, "10000000", "00989680"),
        (t.UINT, "4294967295", "ffffffff"),
        (t.LENZERO, "0x00", ""),
        (t.ETHERMASK, "01:02:03:04:05:06/ff:ff:ff:00:00:00", "010203040506ffffff000000"),
        (t.IP6, "2001:db8::1", "20010db8000000000000000000000001"),
        (t.IP_IP6, "1.2.3.4", "01020304"),
        (t.IP_IP6, "::1", "00" * 15 + "01"),
        (t.CHAR_IP_IP6, "1.1.1.1", "0101010101"),
        (t.CHAR_IP_IP6, "::2", "02" + "00" * 15 + "02"),
        (t.IP_IP6_PORT, "1.2.3.4/69", "010203040045"),
        (t.IP_IP6_PORT, "2002::2:2/23", "2002" + "00" * 10 + "00020002" + "0017"),
        (t.IP_LIST, "1.2.3.4,5.6.7.8", "0102030405060708"),
        (t.IP_LIST, "1.2.3.4", "01020304"),
        (t.IP6_LIST, "::1,::2", "00" * 15 + "01" + "00" * 15 + "02"),
        (
            t.IP6_PREFIX_LIST,
            "5005::5:5/16,2033:2:2:33::3/32",
            "5005" + "00" * 10 + "00050005" + "10" + "2033000200020033" + "00" * 6 + "0003" + "20",
        ),
        (t.CHAR_LIST, "1,2,3,4,5,6", "010203040506"),
        (t.USHORT_LIST, "1,2,65535", "00010002ffff"),
        (t.DUAL_QTAG, "1,2", "00010002"),
    ],
)
def test_reference_vectors(vtype: t.ValueType, text: str, hexbytes: str) -> None:
    assert enc(vtype, text) == hexbytes
    value = vtype.decode(bytes.fromhex(hexbytes))
    assert value == vtype.parse(text)
    assert vtype.parse(vtype.format(value)) == value


# --- text forms -----------------------------------------------------------------


def test_integers_are_decimal_only() -> None:
    assert t.UCHAR.parse("007") == 7
    for bad in ("0x01", "-1", "256", "1.5", "", "one"):
        with pytest.raises(ValueError):
            t.UCHAR.parse(bad)
    with pytest.raises(ValueError):
        t.UINT.parse("4294967296")


def test_hexstr_forms() -> None:
    assert t.HEXSTR.parse("0XAbCd") == b"\xab\xcd"
    assert t.HEXSTR.parse('"0x0102"') == b"\x01\x02"  # quoted, as the reference allows
    assert t.HEXSTR.parse("0x") == b""  # ours: lets an empty value round-trip
    assert t.HEXSTR.format(b"\xab") == "0xab"
    for bad in ("0x123", "1234", "0xzz", "x12"):
        with pytest.raises(ValueError):
            t.HEXSTR.parse(bad)
    assert t.MD5_DIGEST.parse("0x" + "00" * 16) == bytes(16)
    with pytest.raises(ValueError):
        t.MD5_DIGEST.parse("0x00")


def test_string_escapes_and_bare_tokens() -> None:
    assert t.STRING.parse(r'"say \"hi\""') == b'say "hi"'
    assert t.STRING.parse(r'"a\ b"') == b"a  b"  # docsis: the backslash becomes a space
    assert t.STRING.parse(r'"a\\b\x00"') == b"a\\b\x00"
    with pytest.raises(ValueError, match=r"unknown escape \\d"):
        t.STRING.parse(r'"C:\dir"')  # docsis would write "C: dir"; refused, not guessed
    assert t.STRING.parse("SomeFile.bin") == b"SomeFile.bin"
    assert t.STRING.parse('""') == b""
    assert t.STRING.parse('"caf\u00e9"') == "caf\u00e9".encode()
    assert t.STRING.format(b'q"\\\x01\xff') == r'"q\"\\\x01\xff"'
    for bad in ('"a"b"', "two words"):
        with pytest.raises(ValueError):
            t.STRING.parse(bad)


def test_strzero_needs_its_nul() -> None:
    assert t.STRZERO.decode(b"abc\x00") == b"abc"
    assert t.STRZERO.measure(b"abc") == 3  # length without the NUL, as strlen
    for bad in (b"", b"abc"):
        with pytest.raises(ValueError):
            t.STRZERO.decode(bad)


def test_ipv4_follows_inet_aton() -> None:
    assert t.IP.parse("010.0.0.1") == IPv4Address("8.0.0.1")  # octal, as the reference
    assert t.IP.parse("10.1") == IPv4Address("10.0.0.1")
    assert t.IP.parse('"192.168.0.1"') == IPv4Address("192.168.0.1")
    for bad in ("256.1.1.1", "1.2.3.4.5", "08.1.1.1", "a.b.c.d", "::1"):
        with pytest.raises(ValueError):
            t.IP.parse(bad)


def test_ipv6_forms() -> None:
    assert t.IP6.parse("2001:DB8::A") == IPv6Address("2001:db8::a")
    assert t.IP6.format(IPv6Address("2001:db8::a")) == "2001:db8::a"
    for bad in ("fe80::1%eth0", "1.2.3.4", "2001:::1"):
        with pytest.raises(ValueError):
            t.IP6.parse(bad)


def test_mac_forms() -> None:
    assert t.ETHER.parse("0:1:2:a:B:cc") == bytes([0, 1, 2, 10, 11, 0xCC])
    assert t.ETHER.format(bytes(range(6))) == "00:01:02:03:04:05"
    for bad in ("00-11-22-33-44-55", "00:11:22:33:44", "001122334455"):
        with pytest.raises(ValueError):
            t.ETHER.parse(bad)
    with pytest.raises(ValueError):
        t.ETHERMASK.parse("00:11:22:33:44:55")


def test_list_forms() -> None:
    assert t.CHAR_LIST.parse("7") == (7,)
    assert t.USHORT_LIST.measure((1, 2, 3)) == 3  # limits count numbers
    assert t.CHAR_LIST.measure((1, 2)) is None  # never checked by the reference
    for bad in ("1,,2", "1,256", ","):
        with pytest.raises(ValueError):
            t.CHAR_LIST.parse(bad)
    with pytest.raises(ValueError):
        t.DUAL_QTAG.parse("1,2,3")
    with pytest.raises(ValueError):
        t.IP6_PREFIX_LIST.parse("2001::/129")
    with pytest.raises(ValueError):
        t.IP6_PREFIX_LIST.parse("2001::1")


def test_oid_needs_names_from_context() -> None:
    class Ctx:
        numeric = False

        def resolve_oid(self, text: str) -> tuple[int, ...]:
            assert text == "sysName.0"
            return (1, 3, 6, 1, 2, 1, 1, 5, 0)

        def format_oid(self, oid: tuple[int, ...]) -> str:
            return "sysName.0"

    assert t.OID.parse("sysName.0", Ctx()) == (1, 3, 6, 1, 2, 1, 1, 5, 0)
    assert t.OID.format((1, 3, 6, 1, 2, 1, 1, 5, 0), Ctx()) == "sysName.0"
    assert t.OID.parse("1.3.6.1.4.1.4491") == (1, 3, 6, 1, 4, 1, 4491)
    assert t.OID.format((1, 3, 6, 1)) == ".1.3.6.1"
    with pytest.raises(ValueError):
        t.OID.parse("sysName.0")
    for bad in ("06032b06", "0403 2b0601", "068103 2b0601", "06022b86"):
        with pytest.raises(ValueError):
            t.OID.decode(bytes.fromhex(bad.replace(" ", "")))


def test_measure() -> None:
    assert t.UCHAR.measure(5) == 5
    assert t.UINT24.measure(5) is None  # the reference never checks uint24
    assert t.HEXSTR.measure(b"abc") == 3
    assert t.STRING.measure(b"abc") == 3
    assert t.IP.measure(IPv4Address("1.2.3.4")) is None
    assert t.OID.measure((1, 3)) is None


def test_strict_decode_lengths() -> None:
    cases = [
        (t.UCHAR, "0102"), (t.USHORT, "01"), (t.UINT24, "01020304"), (t.UINT, "010203"),
        (t.ETHER, "0102"), (t.ETHERMASK, "00" * 6), (t.IP, "0102030405"), (t.IP6, "00" * 4),
        (t.IP_IP6, "00" * 5), (t.CHAR_IP_IP6, "0201020304"), (t.CHAR_IP_IP6, "01" + "00" * 16),
        (t.IP_IP6_PORT, "00" * 5), (t.IP_LIST, "00" * 5), (t.IP_LIST, ""), (t.IP6_LIST, "00" * 4),
        (t.IP6_PREFIX_LIST, "00" * 16 + "81"), (t.CHAR_LIST, ""), (t.USHORT_LIST, "000102"),
        (t.DUAL_QTAG, "000102"), (t.LENZERO, "00"), (t.MD5_DIGEST, "00"), (t.OID, ""),
    ]
    for vtype, data in cases:
        with pytest.raises(ValueError):
            vtype.decode(bytes.fromhex(data))


def test_snmp_types_numeric_without_mibs() -> None:
    vb = t.SNMP_VARBIND.parse(".1.3.6.1.2.1.1.4.0 String \"noc\"")
    assert t.SNMP_VARBIND.encode(vb).hex() == "300f06082b06010201010400" + "0403" + b"noc".hex()
    assert t.SNMP_WRITE_CONTROL.encode(t.SNMP_WRITE_CONTROL.parse(".1.3.6.1.2.1.69.1.2 1")).hex() == (
        "06082b0601020145010201"
    )
    with pytest.raises(ValueError):
        t.SNMP_VARBIND.parse("sysContact.0 String \"x\"")  # a name needs the MIB registry


# --- properties -------------------------------------------------------------------


@pytest.mark.parametrize("vtype", ALL_TYPES, ids=lambda v: v.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_value_round_trips(vtype: t.ValueType, data: st.DataObject) -> None:
    value = data.draw(strategy(vtype))
    encoded = vtype.encode(value)
    assert vtype.decode(encoded) == value
    assert vtype.parse(vtype.format(value)) == value


@pytest.mark.parametrize("vtype", ALL_TYPES, ids=lambda v: v.name)
@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=40))
def test_random_bytes_decode_or_value_error(vtype: t.ValueType, raw: bytes) -> None:
    try:
        value = vtype.decode(raw)
    except ValueError:
        return
    assert vtype.encode(value) == raw
    assert vtype.parse(vtype.format(value)) == value
