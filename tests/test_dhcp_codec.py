"""DHCP codec: messages, long options, overload, every CableLabs option space."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhcp.capabilities import VENDOR_CLASS, vendor_class_text
from dhcp.describe import decode_options, explain_hex
from dhcp.errors import DhcpDecodeError, DhcpEncodeError
from dhcp.message import FIXED, Message, Option, build_options, decode, encode, fit
from dhcp.options import CCC, SPACES, decode_space, encode_space
from dhcp.options.types import Backoff

from .dhcp_helpers import CG3000, mac_of, request

# An RFC 3495 option 122, one sub-option a line.
CCC_EXAMPLE = bytes.fromhex("".join("""
01 04 0a 00 00 01
02 04 0a 00 00 02
03 13 00 04 70 72 6f 76 07 65 78 61 6d 70 6c 65 03 6e 65 74 00
04 0c 00 00 0b b8 00 00 00 1e 00 00 00 05
05 0c 00 00 00 03 00 00 02 58 00 00 00 08
06 0d 07 45 58 41 4d 50 4c 45 03 4e 45 54 00
07 01 01
08 01 0a
09 02 00 01
0a 08 0a 00 00 09 0a 00 00 0a
""".split()))


def test_ccc_worked_example() -> None:
    items = decode_space(CCC, CCC_EXAMPLE, 0, 122)
    values = {i.name: i.value for i in items}
    assert values == {
        "dhcp-server-1": IPv4Address("10.0.0.1"), "dhcp-server-2": IPv4Address("10.0.0.2"),
        "prov-server": "prov.example.net", "as-req-backoff": Backoff(3000, 30, 5),
        "ap-req-backoff": Backoff(3, 600, 8), "realm": "EXAMPLE.NET", "use-tgt": True, "prov-timer": 10,
        "ticket-control": 1, "kdc-servers": [IPv4Address("10.0.0.9"), IPv4Address("10.0.0.10")]}
    assert encode_space(CCC, items) == CCC_EXAMPLE
    assert encode_space(CCC, list(values.items())) == CCC_EXAMPLE


def test_ccc_prov_server_ipv4_form_and_basic_realm() -> None:
    assert encode_space(CCC, [("prov-server", IPv4Address("10.0.0.5"))]).hex() == "0305010a000005"
    assert decode_space(CCC, bytes.fromhex("0305010a000005"))[0].value == IPv4Address("10.0.0.5")
    # NMS Prime writes 05:42:41:53:49:43:01:31:00 for BASIC.1
    assert encode_space(CCC, [("realm", "BASIC.1")]).hex() == "0609054241534943013100"


@pytest.mark.parametrize(("hexdata", "offset", "sub"), [
    ("0305020a000005", 2, 3),       # address type 2
    ("0604054241", 0, 6),           # length past the end
    ("070102", 2, 7),               # boolean 2
    ("040b" + "00" * 11, 2, 4),     # backoff of 11 bytes
    ("0603024241", 2, 6),           # realm: no terminating label
])
def test_ccc_errors_carry_option_sub_option_and_offset(hexdata: str, offset: int, sub: int) -> None:
    with pytest.raises(DhcpDecodeError) as info:
        decode_space(CCC, bytes.fromhex(hexdata), 0, 122)
    assert (info.value.option, info.value.sub_option, info.value.offset) == (122, sub, offset)


def test_cg3000_capabilities() -> None:
    vc = VENDOR_CLASS.decode(CG3000.encode())
    assert (vc.kind, vc.version) == ("mta", "1.0")
    caps = {i.name: i.value for i in vc.capabilities or []}
    assert caps == {"pktc-version": 0, "endpoints": 2, "nvram-ticket-storage": True, "codecs": [6, 9, 3, 4],
                    "silence-suppression": True, "echo-cancellation": True, "ugs-ad": True, "ifindex-start": 9,
                    "prov-flows": 7}
    assert VENDOR_CLASS.encode(vc) == CG3000.encode()
    assert vendor_class_text("mta", "1.0", [(i.code, i.value) for i in vc.capabilities or []]) == CG3000


def test_docsis_capabilities_and_plain_vendor_class() -> None:
    vc = VENDOR_CLASS.decode(b"docsis3.0:0506010101020103")
    assert vc.kind == "cm" and vc.capability("docsis-version") == 3
    assert VENDOR_CLASS.decode(b"docsis1.0").kind == "cm"
    assert VENDOR_CLASS.decode(b"MSFT 5.0").kind == ""
    with pytest.raises(DhcpDecodeError) as info:
        VENDOR_CLASS.decode(b"pktc1.5:0503010zz0")
    assert info.value.offset == 15  # the 'z', counted in option characters


def test_option43_82_125_spaces() -> None:
    o43 = encode_space(SPACES["cablelabs-client"], [("device-type", "EMTA"), ("serial-number", "SN1"),
                                                     ("oui", b"\x00\x11\x22"), ("mta-mac", "00:11:22:33:44:55"),
                                                     ("correlation-id", 0x01020304)])
    items = decode_space(SPACES["cablelabs-client"], o43, 0, 43)
    assert [i.name for i in items] == ["device-type", "serial-number", "oui", "mta-mac", "correlation-id"]
    assert items[3].value == "00:11:22:33:44:55"
    o82 = bytes.fromhex("01020001" "0206001122334455" "090b0000118b06" "0104" "01020300")
    items = decode_space(SPACES["relay-agent"], o82, 0, 82)
    assert items[1].value == bytes.fromhex("001122334455")
    block = items[2].value[0]
    assert block.enterprise == 4491 and block.items[0].value[0].value == [3, 0]
    assert encode_space(SPACES["relay-agent"], items) == o82
    o125 = bytes.fromhex("0000118b0a" "040101" "0505" "0503020103")
    items = decode_space(SPACES["vivso"], o125, 0, 125)
    assert items[0].items[1].value[0].name == "docsis-version"
    assert encode_space(SPACES["vivso"], items) == o125


def test_message_round_trip_keeps_pads_repeats_and_trailer() -> None:
    raw = bytearray(request(1, mac_of(1)))
    raw = raw[:-1] + bytes.fromhex("00 00 2b 02 0201 2b 02 0304 ff 00 00 00".replace(" ", ""))
    msg = decode(bytes(raw))
    assert encode(msg) == bytes(raw)
    assert msg.get(43) == bytes.fromhex("02010304")  # RFC 3396: concatenated
    assert [o.code for o in msg.options].count(0) == 2 and msg.trailer == b"\0\0\0"


def test_long_option_split_and_overload() -> None:
    big = bytes(range(256)) + bytes(44)  # 300 bytes: two instances
    opts = build_options([(43, big), (122, CCC_EXAMPLE), (12, b"h" * 60)])
    assert [len(o.data) for o in opts if o.code == 43] == [255, 45]
    msg = Message()
    fit(msg, opts)  # 576-byte limit: spills into file and sname
    assert msg.file_options is not None and msg.options[0].code == 52
    data = encode(msg)
    assert len(data) <= 576 - 28
    back = decode(data)
    assert back.get(43) == big and back.get(122) == CCC_EXAMPLE and back.get(12) == b"h" * 60
    assert encode(back) == data
    with pytest.raises(DhcpEncodeError):
        fit(Message(), build_options([(43, b"x" * 2000)]))


@pytest.mark.parametrize(("mutate", "offset"), [
    (lambda b: b[:100], 0),
    (lambda b: b[:236] + b"\x00\x00\x00\x00" + b[240:], 236),
    (lambda b: b[:-1] + b"\x2b\x05\x01", FIXED + 3),
])
def test_message_errors(mutate, offset: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DhcpDecodeError) as info:
        decode(mutate(request(1, mac_of(1))))
    assert info.value.offset == offset


def test_decode_options_types_43_only_for_cable_clients() -> None:
    data = request(1, mac_of(2), options=[(60, CG3000.encode()), (43, bytes.fromhex("0204454d5441"))])
    items = {i.name: i for i in decode_options(decode(data))}
    assert items["vendor-encapsulated-options"].value[0].value == "EMTA"
    data = request(1, mac_of(2), options=[(60, b"MSFT 5.0"), (43, b"\x01\x02")])
    items = {i.name: i for i in decode_options(decode(data))}
    assert items["vendor-encapsulated-options"].value == b"\x01\x02"
    text = "\n".join(explain_hex(request(1, mac_of(2), options=[(60, CG3000.encode()), (122, CCC_EXAMPLE)])))
    assert "prov-flows: 0x0007 (secure, hybrid, basic)" in text and "realm: EXAMPLE.NET" in text


# -- properties ----------------------------------------------------------------------------------------

SPACE_NAMES = sorted(SPACES)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SPACE_NAMES), st.binary(max_size=80))
def test_random_bytes_in_every_space(space: str, data: bytes) -> None:
    try:
        items = decode_space(SPACES[space], data, 0, 1)
    except DhcpDecodeError:
        return
    assert encode_space(SPACES[space], items) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_random_options_in_a_message(tail: bytes) -> None:
    base = request(1, mac_of(3))[:FIXED]
    try:
        msg = decode(base + tail)
    except DhcpDecodeError:
        return
    assert encode(msg) == base + tail
    try:
        decode_options(msg)
    except DhcpDecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_datagrams(data: bytes) -> None:
    try:
        decode(data)
    except DhcpDecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789abcdefXz:", max_size=40), st.sampled_from(["pktc1.5:", "docsis3.0:", ""]))
def test_random_vendor_class(suffix: str, prefix: str) -> None:
    raw = (prefix + suffix).encode()
    try:
        vc = VENDOR_CLASS.decode(raw)
    except DhcpDecodeError:
        return
    assert VENDOR_CLASS.encode(vc) == raw


ccc_values = st.fixed_dictionaries({}, optional={
    "dhcp-server-1": st.ip_addresses(v=4), "prov-server": st.one_of(st.ip_addresses(v=4),
                                                                    st.from_regex(r"[a-z]{1,10}(\.[a-z]{1,10}){0,3}",
                                                                                  fullmatch=True)),
    "as-req-backoff": st.tuples(*[st.integers(0, 2**32 - 1)] * 3).map(lambda t: Backoff(*t)),
    "realm": st.sampled_from(["BASIC.1", "BASIC.2", "HYBRID.1", "HYBRID.2", "PKTC.EXAMPLE.NET"]),
    "use-tgt": st.booleans(), "prov-timer": st.integers(0, 255), "ticket-control": st.integers(0, 3),
    "kdc-servers": st.lists(st.ip_addresses(v=4), min_size=1, max_size=4)})


@settings(max_examples=200, deadline=None)
@given(ccc_values)
def test_ccc_typed_round_trip(values: dict) -> None:  # type: ignore[type-arg]
    data = encode_space(CCC, list(values.items()))
    assert {i.name: i.value for i in decode_space(CCC, data)} == values


def test_option_instance_over_255_refused() -> None:
    from dhcp.message import encode_options

    with pytest.raises(DhcpEncodeError):
        encode_options([Option(43, b"x" * 256)])
