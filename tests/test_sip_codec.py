"""The SIP codec: round trips, compact forms, folding, framing, limits, typed errors."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pktcable.sip import grammar as g
from pktcable.sip.errors import SipLimitError, SipParseError, SipValueError
from pktcable.sip.headers import HEADERS
from pktcable.sip.message import Limits, Request, Response, StreamFramer, parse_datagram, serialize
from tests.sip_strategies import messages, sip_uris

SUBSCRIBE = (
    b"SUBSCRIBE sip:000413000001@224.0.1.75 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: \"Desk phone\" <sip:MAC%3a000413000001@10.0.0.5>;tag=f1\r\n"
    b"To: <sip:000413000001@224.0.1.75>\r\n"
    b"Call-ID: c1@10.0.0.5\r\n"
    b"CSeq: 1 SUBSCRIBE\r\n"
    b"Contact: <sip:10.0.0.5:5060>\r\n"
    b"Event: ua-profile;profile-type=\"device\";vendor=\"acme\";model=\"x1\";version=\"1.0\"\r\n"
    b"Accept: application/url\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)
COMPACT = (
    b"SUBSCRIBE sip:000413000001@224.0.1.75 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"f: \"Desk phone\" <sip:MAC%3a000413000001@10.0.0.5>;tag=f1\r\n"
    b"t: <sip:000413000001@224.0.1.75>\r\n"
    b"i: c1@10.0.0.5\r\n"
    b"CSeq: 1 SUBSCRIBE\r\n"
    b"m: <sip:10.0.0.5:5060>\r\n"
    b"o: ua-profile;profile-type=\"device\";vendor=\"acme\";model=\"x1\";version=\"1.0\"\r\n"
    b"Accept: application/url\r\n"
    b"Expires: 3600\r\n"
    b"l: 0\r\n\r\n"
)


def test_typical_subscribe_fields() -> None:
    msg = parse_datagram(SUBSCRIBE)
    assert isinstance(msg, Request)
    assert msg.method == "SUBSCRIBE" and msg.uri == g.SipUri("224.0.1.75", "000413000001")
    assert msg.top_via.branch == "z9hG4bKa1" and msg.top_via.wants_rport and msg.top_via.rport is None
    assert msg.top_via.sent_by == ("10.0.0.5", 5060)
    assert msg.from_.display == "Desk phone" and msg.from_.tag == "f1"
    assert msg.to.tag is None
    assert msg.cseq == g.CSeq(1, "SUBSCRIBE")
    event = msg.need("Event", g.Event)
    assert event.package == "ua-profile" and g.param(event.params, "vendor") == '"acme"'
    assert msg.get("Expires") == 3600
    assert msg.get("Content-Length") is None  # framing, not content


def test_compact_forms_equal_long_forms() -> None:
    assert parse_datagram(COMPACT) == parse_datagram(SUBSCRIBE)
    assert serialize(parse_datagram(COMPACT)) == SUBSCRIBE
    again = serialize(parse_datagram(SUBSCRIBE), compact=True)
    assert b"\r\nv: " in again and b"\r\nl: 0" in again
    assert parse_datagram(again) == parse_datagram(SUBSCRIBE)


def test_every_compact_form_in_the_table_is_recognized() -> None:
    base = parse_datagram(SUBSCRIBE)
    for row in HEADERS:
        if row.compact is None or row.name in ("Via", "From", "To", "Call-ID", "Contact", "Event",
                                              "Content-Length"):
            continue
        value = {"Content-Type": "text/plain", "Content-Encoding": "gzip", "Subject": "hi",
                 "Allow-Events": "ua-profile", "Supported": "path"}[row.name]
        data = SUBSCRIBE.replace(b"Accept:", row.compact.encode() + b": " + value.encode() + b"\r\nAccept:")
        msg = parse_datagram(data)
        assert msg.get(row.name) is not None and msg != base


def test_folding_and_multi_values() -> None:
    data = SUBSCRIBE.replace(
        b"Accept: application/url\r\n",
        b"Accept: application/url,\r\n  text/plain;charset=utf-8\r\nAllow-Events: ua-profile\r\n"
        b"Allow-Events: dialog,\r\n\tpresence\r\n")
    msg = parse_datagram(data)
    assert [str(v) for v in msg.get_all("Accept")] == ["application/url", "text/plain;charset=utf-8"]
    assert msg.get_all("Allow-Events") == ["ua-profile", "dialog", "presence"]
    out = serialize(msg)
    assert b"Allow-Events: ua-profile, dialog, presence\r\n" in out
    assert parse_datagram(out) == msg


def test_via_rport_received_and_multiple_vias() -> None:
    data = SUBSCRIBE.replace(b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa1;rport\r\n",
                             b"Via: SIP/2.0/TCP proxy.example;branch=z9hG4bKp;received=192.0.2.1;rport=5070, "
                             b"SIP / 2.0 / UDP [2001:db8::5]:5062;branch=z9hG4bKa1\r\n")
    vias = parse_datagram(data).vias
    assert vias[0].transport == "TCP" and vias[0].received == "192.0.2.1" and vias[0].rport == 5070
    assert vias[1].host == "[2001:db8::5]" and vias[1].port == 5062 and vias[1].branch == "z9hG4bKa1"


def test_name_addr_forms() -> None:
    for text, display, uri_user, params in [
        ("sip:alice@example.com;tag=1", None, "alice", (("tag", "1"),)),
        ("Alice Smith <sip:alice@example.com>;tag=2", "Alice Smith", "alice", (("tag", "2"),)),
        ('"A \\"Q\\" B" <sips:bob@example.com;transport=tls>', 'A "Q" B', "bob", ()),
    ]:
        value = g.parse_name_addr(text)
        assert value.display == display and isinstance(value.uri, g.SipUri)
        assert value.uri.user == uri_user and value.params == params
        assert g.parse_name_addr(str(value)) == value
    assert g.parse_name_addr("<tel:+15551234>").uri == g.OtherUri("tel:+15551234")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(messages())
def test_round_trip(msg: Request | Response) -> None:
    data = serialize(msg)
    assert parse_datagram(data) == msg
    assert parse_datagram(serialize(msg, compact=True)) == msg
    framer = StreamFramer()
    assert framer.feed(data + data) == [msg, msg] and framer.buffered == 0


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(messages(), st.data())
def test_stream_framer_any_split(msg: Request | Response, data: st.DataObject) -> None:
    wire = b"\r\n" + serialize(msg) + serialize(msg)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    framer, got, last = StreamFramer(), [], 0
    for cut in cuts + [len(wire)]:
        got += framer.feed(wire[last:cut])
        last = cut
    assert got == [msg, msg]


def test_framer_one_byte_at_a_time() -> None:
    framer, got = StreamFramer(), []
    for b in SUBSCRIBE:
        got += framer.feed(bytes([b]))
    assert got == [parse_datagram(SUBSCRIBE)]


@settings(deadline=None)
@given(st.binary(max_size=300))
@example(b"SIP/2.0 200 OK\r\n\r\n")
@example(b"\xff\xfe\r\n\r\n")
def test_garbage_gives_typed_errors_only(data: bytes) -> None:
    for parse in (parse_datagram, lambda d: StreamFramer().feed(d)):
        try:
            parse(data)
        except SipParseError as e:
            assert e.line >= 1 and e.column >= 1 and e.offset >= 0


@settings(deadline=None)
@given(st.integers(0, len(SUBSCRIBE) - 1), st.binary(min_size=1, max_size=4))
def test_mutations_give_typed_errors_only(at: int, junk: bytes) -> None:
    data = SUBSCRIBE[:at] + junk + SUBSCRIBE[at + len(junk):]
    try:
        parse_datagram(data)
    except SipParseError:
        pass


@pytest.mark.parametrize("old, new, line, header, why", [
    (b"Max-Forwards: 70\r\n", b"Max-Forwards: 700\r\n", 3, "Max-Forwards", "over 255"),
    (b"CSeq: 1 SUBSCRIBE", b"CSeq: 1 NOTIFY", 7, "CSeq", "differs"),
    (b"CSeq: 1 SUBSCRIBE", b"CSeq: x SUBSCRIBE", 7, "CSeq", "decimal"),
    (b"Call-ID: c1@10.0.0.5\r\n", b"", 11, None, "Call-ID is missing"),
    (b"Max-Forwards: 70\r\n", b"", 11, None, "Max-Forwards is missing"),
    (b"To: <sip:000413000001@224.0.1.75>", b"To: <sip:000413000001@224.0.1.75", 5, "To", "'>'"),
    (b"Expires: 3600\r\n", b"Expires: 3600\r\nExpires: 60\r\n", 12, "Expires", "twice"),
    (b"Via: SIP/2.0/UDP", b"Via: SIP/3.0/UDP", 2, "Via", "SIP/2.0"),
    (b"Event: ua-profile;", b"Event: ua-profile;;", 9, "Event", "parameter name"),
    (b"Accept: application/url", b"Accept: application/url,", 10, "Accept", "empty element"),
    (b"Contact: <sip:10.0.0.5:5060>", b"Contact: <sip:10.0.0.5:99999>", 8, "Contact", "port"),
    (b" SIP/2.0\r\n", b" SIP/1.0\r\n", 1, None, "Request-Line"),
    (b"Accept: application/url\r\n", b"Accept: application/url\n", 10, None, "bare CR or LF"),
    (b"Accept: application/url\r\n", b"Accept application/url\r\n", 10, None, "Name: value"),
    (b"Content-Length: 0", b"Content-Length: 5", 14, "Content-Length", "5 but 0 bytes"),
    (b"\r\n\r\n", b"\r\n\r\nxx", 14, "Content-Length", "2 bytes after"),
    (b"Desk phone", b"Desk \xc3phone", 4, None, "UTF-8"),
])
def test_malformed_messages_say_where_and_why(old: bytes, new: bytes, line: int, header: str | None,
                                              why: str) -> None:
    assert old in SUBSCRIBE
    with pytest.raises(SipParseError) as info:
        parse_datagram(SUBSCRIBE.replace(old, new, 1))
    assert info.value.line == line and info.value.header == header and why in info.value.reason, info.value


def test_column_points_at_the_value() -> None:
    with pytest.raises(SipParseError) as info:
        parse_datagram(SUBSCRIBE.replace(b"Max-Forwards: 70", b"Max-Forwards:   x7"))
    assert (info.value.line, info.value.column) == (3, 17)


def test_datagram_trailer_discard_is_opt_in() -> None:
    data = SUBSCRIBE + b"junk"
    with pytest.raises(SipParseError):
        parse_datagram(data)
    assert parse_datagram(data, Limits(discard_datagram_trailer=True)) == parse_datagram(SUBSCRIBE)


def test_no_content_length_on_a_datagram_takes_the_rest() -> None:
    data = SUBSCRIBE.replace(b"Content-Length: 0\r\n", b"") + b"body"
    assert parse_datagram(data).body == b"body"


def test_stream_requires_content_length_and_stays_broken() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="Content-Length is required"):
        framer.feed(SUBSCRIBE.replace(b"Content-Length: 0\r\n", b""))
    with pytest.raises(SipParseError):
        framer.feed(SUBSCRIBE)


@pytest.mark.parametrize("limits, data", [
    (Limits(max_message=200), SUBSCRIBE),
    (Limits(max_headers=5), SUBSCRIBE),
    (Limits(max_header_line=60), SUBSCRIBE),
    (Limits(), SUBSCRIBE.replace(b"Accept:", b"X-Long: " + b"a" * 9000 + b"\r\nAccept:")),
    (Limits(), SUBSCRIBE.replace(b"Accept:", b"X-Many: 1\r\n" * 120 + b"Accept:")),
])
def test_limits(limits: Limits, data: bytes) -> None:
    with pytest.raises(SipLimitError):
        parse_datagram(data, limits)


def test_stream_limits_bound_the_buffer() -> None:
    framer = StreamFramer(Limits(max_message=1000))
    with pytest.raises(SipLimitError):
        framer.feed(b"SUBSCRIBE sip:a@b SIP/2.0\r\nX: " + b"a" * 1200)
    framer = StreamFramer(Limits(max_message=1000))
    with pytest.raises(SipLimitError):
        framer.feed(SUBSCRIBE.replace(b"Content-Length: 0", b"Content-Length: 5000"))


def test_response_parse() -> None:
    data = (b"SIP/2.0 423 Interval Too Brief\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
            b"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 9 SUBSCRIBE\r\n"
            b"Min-Expires: 600\r\nContent-Length: 0\r\n\r\n")
    msg = parse_datagram(data)
    assert isinstance(msg, Response) and msg.status == 423 and msg.reason == "Interval Too Brief"
    assert msg.get("Min-Expires") == 600 and msg.to.tag == "2"
    assert serialize(msg) == data


@settings(max_examples=300, deadline=None)
@given(sip_uris | st.sampled_from(["sip:a@b@c", "SIP:Al@Ex.com;Transport=TCP?subject=x@y", "sip:h:99999",
                                   "sip:[::1]:5060;lr", "sips:u:pw@h", "sip:h;a=\"q\"", "sip:h?x", "sip:u@"]))
def test_uri_fast_path_agrees_with_the_step_by_step_parser(uri: g.SipUri | str) -> None:
    text = str(uri)
    results = []
    for fast in (g._SIP_URI_RE, re.compile(r"(?!)")):  # (?!) never matches: forces the slow path
        with mock.patch.object(g, "_SIP_URI_RE", fast):
            try:
                results.append(g.parse_uri(text))
            except SipValueError as e:
                results.append(type(e))
    assert results[0] == results[1]


HOSTILE_VALUES = {
    "token run": "a" * 8000, "separators": ";a" * 4000, "bad end": ";" + "a" * 8000 + '"',
    "escapes": '"' + '\\"' * 4000, "no at": "<sip:" + "a:" * 4000 + ">", "user": "<sip:" + "a;" * 4000 + "@h>",
    "commas": "," * 8000, "angles": "<" * 8000, "equals": ";a=" + "=" * 8000,
}


@pytest.mark.parametrize("header", ["To", "Via", "Event", "Accept", "Contact"])
def test_hostile_values_cost_linear_time(header: str) -> None:
    """Values built to make regular expressions backtrack still parse (or fail) fast:
    the budget is generous for a loaded machine, backtracking would take seconds."""
    lines = SUBSCRIBE.split(b"\r\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(header.encode() + b":"))
    for shape, value in HOSTILE_VALUES.items():
        data = b"\r\n".join(lines[:at] + [f"{header}: {value}".encode()] + lines[at + 1:])
        start = time.process_time()
        try:
            parse_datagram(data)
        except SipParseError:
            pass
        assert time.process_time() - start < 0.5, shape


def test_empty_list_headers_where_the_grammar_allows_them() -> None:
    data = SUBSCRIBE.replace(b"Accept: application/url", b"Accept: \r\nSupported:")
    msg = parse_datagram(data)
    assert msg.get_all("Accept") == [""] and msg.get_all("Supported") == [""]
    assert parse_datagram(serialize(msg)) == msg
    with pytest.raises(SipParseError) as info:
        parse_datagram(SUBSCRIBE.replace(b"Accept: application/url", b"Allow-Events:"))
    assert info.value.header == "Allow-Events"
