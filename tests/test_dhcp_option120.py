"""DHCP option 120, SIP servers (RFC 3361): the codec in the option table (encoding byte
0 + domain names in RFC 1035 wire form, compression read; 1 + IPv4 addresses), its
errors with the byte offset, and ``pktcable serve``'s replies to phones (the clients
that are no modem or eMTA) when the SIP service is on, read back by tshark."""

from __future__ import annotations

import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dhcp.errors import DhcpDecodeError, DhcpEncodeError
from dhcp.message import Message, build_options, decode, encode, fit
from dhcp.options import DHCP4, decode_space, decode_value, encode_value
from dhcp.options.types import SIP_SERVERS, CompressedNames
from pktcable.dhcpd import DhcpServer
from pktcable.serve.config import ServeConfig, check
from pktcable.serve.site import dhcp_config

from .dhcp_helpers import CG3000, mac_of, opt60, request
from .pcap import udp_frame, write_pcap
from .peers import require

ROW = DHCP4.row(120)


def wire(*names: str) -> bytes:
    return b"".join(b"".join(bytes((len(p),)) + p.encode() for p in n.split(".")) + b"\0" for n in names)


# RFC 3361 §3.1 and §3.2, the two forms the RFC draws (its example names and addresses).
@pytest.mark.parametrize(("value", "data"), [
    (["example.com", "example.net"], b"\x00" + wire("example.com", "example.net")),
    ([IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")], bytes.fromhex("01c0000201c0000202")),
])
def test_rfc_3361_forms_both_ways(value: list[object], data: bytes) -> None:
    assert ROW.name == "sip-servers"
    assert encode_value(ROW, value, 120) == data
    assert decode_value(ROW, data, 0, 120, None) == value


def test_a_dotted_quad_is_an_address_and_one_option_holds_one_kind() -> None:
    assert encode_value(ROW, ["10.0.0.1"], 120) == bytes.fromhex("010a000001")
    assert encode_value(ROW, "sip.example.net", 120) == b"\x00" + wire("sip.example.net")
    with pytest.raises(DhcpEncodeError, match="option 120: sip-servers: .*names or IPv4 addresses, not both"):
        encode_value(ROW, ["10.0.0.1", "sip.example.net"], 120)
    for bad in ([], [""], ["a" * 64 + ".net"], [3]):
        with pytest.raises(DhcpEncodeError, match="option 120"):
            encode_value(ROW, bad, 120)


def test_compressed_names_are_read_and_written_back_as_they_came() -> None:
    # §3.1: "Clients MUST support compression"; the pointer counts from the first name.
    data = b"\x00" + wire("example.com") + b"\x03sip\xc0\x00"
    names = decode_value(ROW, data, 0, 120, None)
    assert names == ["example.com", "sip.example.com"] and isinstance(names, CompressedNames)
    assert encode_value(ROW, names, 120) == data
    names.append("other.example")  # changed: written afresh, uncompressed
    assert encode_value(ROW, names, 120) == b"\x00" + wire("example.com", "sip.example.com", "other.example")


@pytest.mark.parametrize(("data", "offset", "why"), [
    (b"", 50, "empty"),
    (b"\x02\x0a\x00\x00\x01", 50, "encoding byte 2"),
    (b"\x01\x0a\x00\x00", 51, "3 bytes after encoding 1"),
    (b"\x00", 51, "no domain name"),
    (b"\x00\x03abc", 51, "no terminating zero-length label"),
    (b"\x00\x03abc\x00\x03sip\xc0\x05", 60, "does not point back"),
    (b"\x00\x03abc\x00\xc0\x05", 56, "does not point back"),  # a pointer to itself: a loop
    (b"\x00\x03abc\x00\x00", 56, "root"),
    (b"\x00\x03a.c\x00", 51, "plain ASCII"),
    (b"\x00\x05abc\x00", 51, "runs past the end"),
    (b"\x00\x03abc\x00\x40", 56, "reserved label type"),
    (b"\x00\x03abc\x00\xc0", 56, "cut short"),
])
def test_decode_errors_give_the_offset_and_why(data: bytes, offset: int, why: str) -> None:
    with pytest.raises(DhcpDecodeError) as info:
        decode_value(ROW, data, 50, 120, None)
    assert info.value.offset == offset and why in info.value.reason, str(info.value)


def test_a_long_pointer_chain_is_bounded_by_going_backwards() -> None:
    # Each name points at the one before: every jump goes back, so reading ends.
    data, previous = b"\x00" + wire("a"), 0
    for _ in range(40):
        start = len(data) - 1  # offsets count from the first name, after the encoding byte
        data += b"\x01x" + bytes((0xC0, previous))
        previous = start
    names = SIP_SERVERS.decode(data)
    assert len(names) == 41 and names[-1] == "x." * 40 + "a"


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
host_names = st.tuples(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), st.lists(labels, max_size=3)).map(
    lambda t: ".".join([t[0], *t[1]]))  # a name, never a dotted quad (that is an address)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.lists(host_names, min_size=1, max_size=5),
                 st.lists(st.ip_addresses(v=4), min_size=1, max_size=8)))
def test_round_trip(value: list[object]) -> None:
    data = SIP_SERVERS.encode(value)
    assert SIP_SERVERS.decode(data) == value and SIP_SERVERS.encode(SIP_SERVERS.decode(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_random_bytes_decode_or_fail_typed_and_round_trip(tail: bytes) -> None:
    for data in (b"\x00" + tail, b"\x01" + tail):
        try:
            value = SIP_SERVERS.decode(data)
        except DhcpDecodeError:
            continue
        assert SIP_SERVERS.encode(value) == data


# -- serve: option 120 to phones, read by tshark --------------------------------------------------------

ME = "127.0.0.1"


def _offer(cfg: ServeConfig, options: list[tuple[int, bytes]]) -> bytes:
    server = DhcpServer(dhcp_config(check(cfg)))
    server.receive(request(1, mac_of(7), giaddr=ME, options=options), (ME, 67), 1000.0, None)
    [reply] = server.datagrams_to_send()
    return reply.data


def _tshark(tmp: Path, replies: list[bytes]) -> list[list[str]]:
    pcap = tmp / "o120.pcap"
    write_pcap(pcap, [udp_frame(r, ME, ME, 67, 67) for r in replies])
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-E", "aggregator=,",
                          "-e", "dhcp.option.sip_server.encoding", "-e", "dhcp.option.sip_server.name",
                          "-e", "dhcp.option.sip_server.address"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("|") for line in out.strip().splitlines()]


def test_serve_names_itself_in_option_120_to_phones_only_when_sip_is_on(tmp_path: Path) -> None:
    require("tshark")
    base = {"cm_key": "k", "http_port": 10080}
    phone = [(55, bytes((1, 3, 6, 66, 120)))]  # a phone: no cable option 60; it asks for 120
    on = decode(_offer(ServeConfig(**base, sip_port=5060), phone))  # type: ignore[arg-type]
    assert decode_value(ROW, on.get(120) or b"", 0, 120, None) == [IPv4Address(ME)]
    names = ServeConfig(**base, sip_port=5060, sip_dhcp_servers=["sip.example.net", "sip2.example.net"])  # type: ignore[arg-type]
    named = _offer(names, phone)
    assert decode(named).get(120) == b"\x00" + wire("sip.example.net", "sip2.example.net")
    # Not to an eMTA or a modem, and not at all with the SIP service off.
    emta = decode(_offer(ServeConfig(**base, sip_port=5060), [opt60(CG3000)]))  # type: ignore[arg-type]
    off = decode(_offer(ServeConfig(**base), phone))  # type: ignore[arg-type]
    assert emta.get(122) is not None and emta.get(120) is None and off.get(120) is None
    # tshark reads what we send, and a compressed form, as we do.
    compressed = b"\x00" + wire("example.com") + b"\x03sip\xc0\x00"
    msg = Message(op=2, xid=9, chaddr=mac_of(8).ljust(16, b"\0"))
    fit(msg, build_options([(53, b"\x02"), (120, compressed)]))
    rows = _tshark(tmp_path, [encode(on), named, encode(msg)])
    assert rows[0] == ["1", "", ME]
    assert rows[1] == ["0", "sip.example.net,sip2.example.net", ""]
    ours = decode_value(ROW, compressed, 0, 120, None)
    assert rows[2] == ["0", ",".join(ours), ""] and ours == ["example.com", "sip.example.com"]


def test_bad_option_120_setting_is_named() -> None:
    with pytest.raises(ValueError, match="sip_dhcp_servers: .*not both"):
        check(ServeConfig(cm_key="k", sip_port=5060, sip_dhcp_servers=["10.0.0.1", "sip.example.net"]))


def test_option_120_in_a_dhcp_table_by_name() -> None:
    items = decode_space(DHCP4, bytes((120, 5)) + bytes.fromhex("010a000001"), 0)
    assert [(i.name, i.value) for i in items] == [("sip-servers", [IPv4Address("10.0.0.1")])]


def test_a_phone_class_by_mac_list_in_a_dhcp_table() -> None:
    """With a [dhcp] table of one's own: a class of phones (kind cpe) carrying option 120 by
    name, its members named by reservation (a MAC list); other clients get none."""
    table = {"server": {"server_id": ME},
             "subnet": [{"network": "127.0.0.0/8", "relays": [ME],
                         "pool": [{"start": "127.102.0.1", "end": "127.102.0.200"}]}],
             # After the catch-all: a client joins the phones by its reservation only.
             "class": [{"name": "cpe", "kind": "any"},
                       {"name": "phone", "kind": "cpe", "options": {"sip-servers": ["sip.example.net"]}}],
             "reservation": [{"mac": mac_of(7).hex(":"), "device_class": "phone"}]}
    cfg = check(ServeConfig(cm_key="k", dhcp=table))
    server = DhcpServer(dhcp_config(cfg))
    answers = {}
    for n in (7, 9):
        server.receive(request(1, mac_of(n), giaddr=ME), (ME, 67), 1000.0, None)
        [reply] = server.datagrams_to_send()
        answers[n] = decode(reply.data).get(120)
    assert answers[7] == b"\x00" + wire("sip.example.net")
    assert answers[9] is None

