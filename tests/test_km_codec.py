"""The key-management codec (UDP 1293): every message round-trips, every length is
checked, and damage is a KmDecodeError naming the offset and the field."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.secure import kmcodec as km


def _der(tag: int) -> st.SearchStrategy[bytes]:
    """A DER-shaped blob of one APPLICATION tag (short and long length forms)."""
    def build(body: bytes) -> bytes:
        n = len(body)
        length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")
        return bytes([0x60 | tag]) + length + body
    return st.binary(max_size=600).map(build)


_u32 = st.integers(0, 2**32 - 1)
_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=32)
_snmp = st.builds(km.SnmpAppData, st.binary(min_size=5, max_size=32), _u32, _u32, _printable)
_ipsec = st.builds(km.IpsecAppData, _u32)
_suites = st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=20).map(tuple)
_hmac = st.binary(min_size=20, max_size=20)
_version = st.integers(0x10, 0x1F)
_times = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2068, 12, 31)).map(
    lambda t: t.replace(microsecond=0, tzinfo=dt.UTC))

MESSAGES = st.one_of(
    st.builds(km.WakeUp, _u32, _printable, st.sampled_from([1, 2]), _version),
    st.builds(km.ApRequest, _der(14), _u32, _snmp, _suites, st.booleans(), _hmac, st.just(2), _version),
    st.builds(km.ApRequest, _der(14), _u32, _ipsec, _suites, st.booleans(), _hmac, st.just(1), _version),
    st.builds(km.ApReply, _der(15), _snmp, _suites, _u32, _u32, st.booleans(), st.booleans(), _hmac, st.just(2),
              _version),
    st.builds(km.SecParamRecovered, _hmac, st.sampled_from([1, 2]), _version),
    st.builds(km.Rekey, _u32, _printable, _times, _ipsec, _suites, _u32, _u32, st.booleans(), _hmac, st.just(1),
              _version),
    st.builds(km.ErrorReply, _der(30), st.sampled_from([1, 2]), _version),
)


@settings(max_examples=300, deadline=None)
@given(MESSAGES)
def test_every_message_round_trips(message: km.KmMessage) -> None:
    data = km.encode(message)
    assert data[:3] == bytes([message.KMMID, message.doi, message.version])
    assert km.decode(data) == message


@settings(max_examples=100, deadline=None)
@given(MESSAGES, st.data())
def test_every_truncation_is_a_named_error(message: km.KmMessage, data: st.DataObject) -> None:
    wire = km.encode(message)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(km.KmDecodeError) as caught:
        km.decode(wire[:cut])
    assert 0 <= caught.value.offset <= len(wire)
    with pytest.raises(km.KmDecodeError, match="after the message"):
        km.decode(wire + b"\0")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_is_only_ever_a_decode_error(data: bytes) -> None:
    try:
        km.decode(data)
    except km.KmDecodeError:
        pass


def _ap_request() -> km.ApRequest:
    return km.ApRequest(bytes([0x6E, 3, 1, 2, 3]), 0x01020304, km.SnmpAppData(b"\x80\x00\x11\x22\x01", 3, 70,
                        "MTA-Prov-00:10:18:0a:0b:0c"), ((0x22, 0x21), (0x21, 0x20)), False, bytes(range(20)))


def test_ap_request_layout_field_by_field() -> None:
    wire = km.encode(_ap_request())
    user = b"MTA-Prov-00:10:18:0a:0b:0c"
    assert wire == (b"\x02\x02\x10" + b"\x6e\x03\x01\x02\x03" + b"\x01\x02\x03\x04"
                    + b"\x05\x80\x00\x11\x22\x01" + b"\x00\x00\x00\x03" + b"\x00\x00\x00\x46"
                    + bytes([len(user)]) + user + b"\x02\x22\x21\x21\x20" + b"\x00" + bytes(range(20)))
    assert km.signed_part(wire) == wire[:-20]


@pytest.mark.parametrize(("damage", "offset", "field", "why"), [
    (lambda w: b"\x09" + w[1:], 0, "header.kmmid", "unknown KMMID"),
    (lambda w: w[:1] + b"\x07" + w[2:], 1, "header.doi", "unknown DOI"),
    (lambda w: w[:2] + b"\x20" + w[3:], 2, "header.version", "major version 2"),
    (lambda w: w[:3] + b"\x6f" + w[4:], 3, "ap_request.ap_req", "APPLICATION 15, expected 14"),
    (lambda w: w[:3] + b"\x6e\x80" + w[5:], 4, "ap_request.ap_req", "indefinite"),
    (lambda w: w[:12] + b"\x04" + w[13:], 12, "ap_request.app_data.engine_id_length", "5..32"),
    (lambda w: w[:-21] + b"\x02" + w[-20:], len(km.encode(_ap_request())) - 21, "ap_request.reestablish",
     "0 or 1"),
    (lambda w: w[:-26] + b"\x20" + w[-25:], len(km.encode(_ap_request())) - 25, "ap_request.ciphersuites",
     "needs 64 octets"),
])
def test_damage_names_offset_field_and_why(damage, offset: int, field: str, why: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(km.KmDecodeError) as caught:
        km.decode(damage(km.encode(_ap_request())))
    assert (caught.value.offset, caught.value.field) == (offset, field), str(caught.value)
    assert why in caught.value.why


def test_limits() -> None:
    with pytest.raises(km.KmDecodeError, match="over the 4096-octet limit"):
        km.decode(b"\x06\x02\x10" + b"\0" * 4096)
    rekey = km.encode(km.Rekey(1, "p@R", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), km.IpsecAppData(5), (), 60, 6))
    with pytest.raises(km.KmDecodeError, match="no application data is defined for DOI 2 in KMMID 5"):
        km.decode(rekey[:1] + b"\x02" + rekey[2:])  # Rekey is the IPsec DOI's (Wireshark's table)
    with pytest.raises(ValueError, match="5..32"):
        km.encode(km.ApRequest(b"\x6e\x00", 0, km.SnmpAppData(b"\x80", 0, 0, "u"), ()))
    with pytest.raises(ValueError, match="SnmpAppData"):
        km.encode(km.ApRequest(b"\x6e\x00", 0, km.IpsecAppData(1), ()))
    with pytest.raises(km.KmDecodeError, match="no NUL"):
        km.decode(b"\x01\x02\x10\0\0\0\1" + b"a" * 300)
