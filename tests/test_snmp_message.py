"""The SNMPv2c codec against pysnmp's encoder (the oracle), and its strictness."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as asn_decoder
from pyasn1.codec.ber import encoder as asn_encoder
from pysnmp.proto import api, rfc1902

from pktcable.snmp import message as m
from pktcable.snmp.aio import open_endpoint
from tlv import ber

from .strategies import varbinds as config_varbinds
from .test_ber import PYASN1_NON_MINIMAL

P = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
PDU_CLASSES = {
    m.PduType.GET: P.GetRequestPDU,
    m.PduType.GET_NEXT: P.GetNextRequestPDU,
    m.PduType.RESPONSE: P.ResponsePDU,
    m.PduType.SET: P.SetRequestPDU,
    m.PduType.INFORM: P.InformRequestPDU,
    m.PduType.TRAP_V2: P.SNMPv2TrapPDU,
}
ORACLE_VALUE = {
    "Integer": rfc1902.Integer32, "Unsigned32": rfc1902.Unsigned32, "Counter32": rfc1902.Counter32,
    "Counter64": rfc1902.Counter64, "TimeTicks": rfc1902.TimeTicks, "IPAddress": rfc1902.IpAddress,
    "String": rfc1902.OctetString, "HexString": rfc1902.OctetString, "ObjectID": rfc1902.ObjectName,
    "Opaque": rfc1902.Opaque,
}


def oracle(msg: m.Message) -> bytes:
    pdu = PDU_CLASSES[msg.pdu.type]()
    P.apiPDU.set_defaults(pdu)
    P.apiPDU.set_request_id(pdu, msg.pdu.request_id)
    P.apiPDU.set_error_status(pdu, msg.pdu.error_status)
    P.apiPDU.set_error_index(pdu, msg.pdu.error_index)
    vbs = []
    for vb in msg.pdu.varbinds:
        value = P.Null("") if vb.type.kind == "null" else ORACLE_VALUE[vb.type.keyword](vb.value)
        vbs.append((vb.oid, value))
    P.apiPDU.set_varbinds(pdu, vbs)
    message = P.Message()
    P.apiMessage.set_defaults(message)
    P.apiMessage.set_community(message, msg.community)
    P.apiMessage.set_pdu(message, pdu)
    return asn_encoder.encode(message)


non_null = config_varbinds().filter(
    lambda vb: vb.type.kind != "null" and not (vb.type.kind == "int" and vb.value in PYASN1_NON_MINIMAL)
)


@st.composite
def messages(draw: st.DrawFn) -> m.Message:
    kind = draw(st.sampled_from(sorted(PDU_CLASSES)))
    vbs = draw(st.lists(non_null, max_size=5))
    pdu = m.Pdu(kind, draw(st.integers(-(2**31), 2**31 - 1).filter(lambda v: v not in PYASN1_NON_MINIMAL)), tuple(vbs),
                draw(st.integers(0, 18)), draw(st.integers(0, 5)))
    return m.Message(draw(st.binary(max_size=20)), pdu)


@settings(max_examples=300, deadline=None)
@given(messages())
def test_encode_matches_pysnmp(msg: m.Message) -> None:
    data = m.encode(msg)
    assert data == oracle(msg)
    back = m.decode(data)
    assert back.pdu.request_id == msg.pdu.request_id and back.community == msg.community
    assert [(v.oid, v.value) for v in back.pdu.varbinds] == [(v.oid, v.value) for v in msg.pdu.varbinds]


def test_get_request_with_null_values_matches_pysnmp() -> None:
    msg = m.Message(b"public", m.Pdu(m.PduType.GET, 7, (m.null_varbind((1, 3, 6, 1, 2, 1, 1, 1, 0)),)))
    assert m.encode(msg) == oracle(msg)


def test_inform_response_echoes_varbinds() -> None:
    vbs = m.notification((1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 2, 0, 1), 1234, [])
    inform = m.Message(b"public", m.Pdu(m.PduType.INFORM, 99, vbs))
    reply = inform.response()
    assert reply.pdu.type is m.PduType.RESPONSE and reply.pdu.request_id == 99 and reply.pdu.varbinds == vbs


def test_long_form_lengths_are_accepted() -> None:
    msg = m.Message(b"x", m.Pdu(m.PduType.GET, 1, (m.null_varbind((1, 3, 6, 1)),)))
    data = m.encode(msg)
    # Re-encode the outer SEQUENCE length in the 2-byte form, as some agents do.
    stretched = bytes((0x30, 0x82, 0, data[1])) + data[2:]
    assert m.decode(stretched) == msg


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        m.decode(data)
    except m.SnmpDecodeError as exc:
        assert 0 <= exc.offset <= len(data)


def test_exception_values_decode() -> None:
    vb = ber.tlv(ber.SEQUENCE, ber.tlv(6, ber.encode_oid((1, 3, 6, 1))) + b"\x81\x00")
    pdu_body = b"\x02\x01\x05\x02\x01\x00\x02\x01\x00" + ber.tlv(ber.SEQUENCE, vb)
    data = ber.tlv(ber.SEQUENCE, b"\x02\x01\x01\x04\x01x" + ber.tlv(0xA2, pdu_body))
    (got,) = m.decode(data).pdu.varbinds
    assert got.type is m.NO_SUCH_INSTANCE
    decoded, rest = asn_decoder.decode(data, asn1Spec=P.Message())
    assert rest == b"" and str(P.apiMessage.get_community(decoded)) == "x"


def test_endpoint_request_and_answer() -> None:
    async def scenario() -> None:
        def agent(msg: m.Message, addr: tuple[str, int]) -> m.Message:
            vbs = tuple(ber.VarBind(vb.oid, ber.SNMP_TYPE_BY_KEYWORD["integer"], 42) for vb in msg.pdu.varbinds)
            return msg.response(vbs)

        server = await open_endpoint("127.0.0.1", 0, agent)
        client = await open_endpoint("127.0.0.1", 0, timeout=0.2, retries=1)
        try:
            reply = await client.request(server.address, b"public", m.PduType.GET, (m.null_varbind((1, 3, 6, 1, 0)),))
            assert reply.pdu.varbinds[0].value == 42
            client.transport.sendto(b"\x30\x03garbage", server.address)  # type: ignore[union-attr]
            await asyncio.sleep(0.05)
            assert server.stats.malformed == 1
            with pytest.raises(TimeoutError):
                server.handler = None  # an agent that never answers
                await client.request(server.address, b"public", m.PduType.GET, ())
            assert client.stats.retransmissions >= 1 and client.stats.timeouts == 1
        finally:
            server.close()
            client.close()

    asyncio.run(scenario())
