"""The simulator as a strict eMTA: each wrong answer of a provisioning server
(a tiny fake server in the test, over real UDP) is caught and reported with
its step id, and the simulated eMTA's agent behaves as a real one towards
real managers (net-snmp)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

import pytest

from dhcp.message import Message, MessageType, build_options, decode, encode, fit
from dhcp.options.space import decode_space, encode_space
from dhcp.options.tables import CABLELABS_CLIENT, CCC
from pktcable.flow import Flow, MtaState, ProvisioningState, Timing
from pktcable.mibctx import MibContext
from pktcable.simulate import net
from pktcable.simulate.emta import SimConfig, SimulatedMta
from pktcable.simulate.identity import Identity, vendor_class
from pktcable.simulate.runner import simulate
from pktcable.snmp import message as m
from pktcable.snmp import pktc
from pktcable.snmp.aio import open_endpoint
from tlv.config import compile_text as _compile_text

from . import ports
from .peers import require
from .test_e2e import configs, run

FAST = Timing(ecm=3, dhcp=2, inform=1.5, wait_set=1, resolve=1, download=1.5, report=1.5, validate=1)
HOST = "127.0.0.1"
HOST_ADDRESS = IPv4Address(HOST)
CL = pktc.oids(pktc.Tree.CABLELABS)


def free_port() -> int:
    return ports.free_port(HOST)


def sim_config(**kw: Any) -> SimConfig:
    base: dict[str, Any] = dict(server=HOST, dhcp_port=0, relay_port=free_port(), snmp_port=0,
                                agent_port=free_port(), tftp_port=0, tod_port=free_port(), timing=FAST,
                                dhcp_timeout=0.2, dhcp_retries=2, snmp_timeout=0.3, snmp_retries=1, run_ecm=False)
    return SimConfig(**{**base, **kw})


# -- a tiny DHCP server that answers as the test tells it -------------------------------------------------------


@dataclass
class FakeDhcp(asyncio.DatagramProtocol):
    """``answer(request) -> datagrams`` decides every reply; all requests are kept with their arrival time."""

    relay_port: int
    answer: Callable[[Message], list[bytes]]
    seen: list[tuple[float, Message]] = field(default_factory=list)
    transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        msg = decode(data)
        self.seen.append((asyncio.get_running_loop().time(), msg))
        for out in self.answer(msg):
            self.transport.sendto(out, (str(msg.giaddr), self.relay_port))


async def fake_dhcp(sim: SimConfig, answer: Callable[[Message], list[bytes]]) -> FakeDhcp:
    _, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: FakeDhcp(sim.relay_port, answer), local_addr=(HOST, 0))
    sim.dhcp_port = proto.transport.get_extra_info("sockname")[1]
    return proto


def reply(req: Message, kind: MessageType, ccc: list[tuple[str, Any]] | bytes = (), *, server: str = HOST,
          yiaddr: str = HOST, file: str = "", xid: int | None = None) -> bytes:
    msg = Message(op=2, xid=req.xid if xid is None else xid, chaddr=req.chaddr, giaddr=req.giaddr,
                  yiaddr=IPv4Address(yiaddr), siaddr=IPv4Address(HOST) if file else IPv4Address(0),
                  file=file.encode().ljust(128, b"\0"))
    raw122 = ccc if isinstance(ccc, bytes) else encode_space(CCC, list(ccc), 122)
    options = [(53, bytes((kind,))), (54, IPv4Address(server).packed), (51, (3600).to_bytes(4, "big")),
               (1, IPv4Address("255.0.0.0").packed)]
    if raw122:
        options.append((122, raw122))
    fit(msg, build_options(options))
    return encode(msg)


def mta_ccc(flow: Flow, prov: Any = HOST_ADDRESS) -> list[tuple[str, Any]]:
    return [("prov-server", prov), ("realm", flow.value)]


def dora(ccc: list[tuple[str, Any]] | bytes, *, file: str = "") -> Callable[[Message], list[bytes]]:
    """A server that offers and acks every request with ``ccc`` as option 122."""
    def answer(req: Message) -> list[bytes]:
        kind = MessageType.OFFER if req.message_type == MessageType.DISCOVER else MessageType.ACK
        return [reply(req, kind, ccc, file=file)]
    return answer


# -- INFORM receiver and TFTP server of the fake provisioning server -------------------------------------------


class Informs:
    def __init__(self, answer: Callable[[m.Message], bytes | None] | None = None) -> None:
        self.got: list[m.Message] = []
        self.answer = answer
        self.endpoint: Any = None

    async def open(self, sim: SimConfig) -> Informs:
        def handle(msg: m.Message, addr: Any) -> m.Message | None:
            self.got.append(msg)
            if self.answer is not None:
                raw = self.answer(msg)
                if raw is not None:
                    self.endpoint.transport.sendto(raw, addr)
                return None
            return msg.response()

        self.endpoint = await open_endpoint(HOST, 0, handle)
        sim.snmp_port = self.endpoint.address[1]
        return self

    def states(self) -> list[int]:
        return [vb.value for msg in self.got for vb in msg.pdu.varbinds if vb.oid == CL.provisioning_state]


class FileServer(asyncio.DatagramProtocol):
    """Answers any RRQ with the one file, in a single DATA block (no options)."""

    def __init__(self, data: bytes) -> None:
        assert len(data) < 512
        self.data = data
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data[:2] == b"\x00\x01":
            self.transport.sendto(b"\x00\x03\x00\x01" + self.data, addr)


async def file_server(sim: SimConfig, data: bytes) -> Any:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: FileServer(data), local_addr=(HOST, 0))
    sim.tftp_port = transport.get_extra_info("sockname")[1]
    return transport


async def one_device(sim: SimConfig, flow: Flow, index: int = 1) -> SimulatedMta:
    """A device walked to its end (its agent still up; the caller stops it)."""
    relay = await net.open_relay((sim.relay, sim.relay_port), (sim.server, sim.dhcp_port))
    mta = SimulatedMta(Identity.make(index), flow, sim, relay)
    task = asyncio.ensure_future(mta.run())
    await asyncio.wait_for(asyncio.shield(mta.finished), 30)
    mta.stop_and_close = lambda: (mta.stop(), relay.close(), task)  # type: ignore[attr-defined]
    return mta


async def finish(mta: SimulatedMta) -> None:
    _, _, task = mta.stop_and_close()  # type: ignore[attr-defined]
    await asyncio.wait_for(task, 10)


# -- DHCP ----------------------------------------------------------------------------------------------------


def test_request_reusing_a_fresh_xid_instead_of_the_offers_is_gone_and_retransmissions_double() -> None:
    """RFC 2131 4.1/4.4.1: a DISCOVER retransmitted keeps its xid, waits double;
    the REQUEST carries the OFFER's xid; a new exchange (after a NAK) a new xid."""
    sim = sim_config()
    naks = [1]

    def answer(req: Message) -> list[bytes]:
        discovers = [x for _, x in server.seen if x.message_type == MessageType.DISCOVER]
        if req.message_type == MessageType.DISCOVER:
            return [] if len(discovers) < 3 else [reply(req, MessageType.OFFER, mta_ccc(Flow.BASIC_1))]
        if naks:
            naks.pop()
            return [reply(req, MessageType.NAK)]
        return [reply(req, MessageType.ACK, mta_ccc(Flow.BASIC_1), file="x.cfg")]

    async def scenario() -> None:
        nonlocal server
        server = await fake_dhcp(sim, answer)
        mta = await one_device(sim, Flow.BASIC_1)
        await finish(mta)
        server.transport.close()

    server: FakeDhcp = None  # type: ignore[assignment]
    asyncio.run(scenario())
    msgs = [(t, x.message_type, x.xid) for t, x in server.seen]
    kinds = [k for _, k, _ in msgs]
    assert kinds[:5] == [MessageType.DISCOVER] * 3 + [MessageType.REQUEST, MessageType.DISCOVER], kinds
    (t0, _, x0), (t1, _, x1), (t2, _, x2), (_, _, request_xid), (_, _, next_xid) = msgs[:5]
    assert x0 == x1 == x2 == request_xid  # retransmissions and the REQUEST answering the OFFER
    assert next_xid != x0  # a new exchange after the NAK
    first, second = t1 - t0, t2 - t1
    # base 0.2 s +- 0.05, then 0.4 s +- 0.05: doubling, not a fixed interval
    assert 0.14 <= first <= 0.35 and 0.33 <= second <= 0.6 and second > first * 1.3, (first, second)


def test_retransmit_waits_double_up_to_the_cap_with_bounded_jitter() -> None:
    import random

    waits = net.retransmit_waits(4.0, 6, random.Random(1))
    for n, wait in enumerate(waits):
        assert abs(wait - min(4.0 * 2**n, 64.0)) <= 1.0  # RFC 2131 4.1: 4, 8, 16, 32, 64, 64 +- 1 s


def test_discover_carries_the_option_43_and_61_a_real_emta_sends() -> None:
    sim = sim_config()
    identity = Identity.make(1)

    async def scenario() -> FakeDhcp:
        server = await fake_dhcp(sim, lambda req: [])
        mta = await one_device(sim, Flow.HYBRID_2)
        await finish(mta)
        server.transport.close()
        return server

    server = asyncio.run(scenario())
    discover = server.seen[0][1]
    items = {item.code: item.value for item in decode_space(CABLELABS_CLIENT, discover.get(43), 0, 43)}
    assert sorted(items) == [2, 4, 5, 6, 7, 8, 9, 10, 31, 32]
    assert items[2] == "EMTA" and items[31] == identity.mta_mac.hex(":") and items[32] == identity.correlation_id
    assert items[8] == identity.mta_mac[:3]
    assert discover.get(61) == b"\x01" + identity.mta_mac
    assert discover.get(60).decode() == vendor_class("mta", 0x0002)


# -- option 122 --------------------------------------------------------------------------------------------------


def test_prov_server_address_sent_as_an_fqdn_is_caught_and_enrollment_fails() -> None:
    """Today's bug: 122.3 type 0 holding "127.0.0.1"; a real eMTA asks DNS for that name and never enrolls."""
    sim = sim_config()

    async def scenario() -> tuple[SimulatedMta, Informs]:
        informs = await Informs().open(sim)
        # Written by hand: the project's own encoder now sends a dotted quad in the address form.
        wire_name = b"".join(bytes((len(label),)) + label.encode() for label in HOST.split(".")) + b"\0"
        prov_as_fqdn = bytes((3, 1 + len(wire_name), 0)) + wire_name
        server = await fake_dhcp(sim, dora(prov_as_fqdn + encode_space(CCC, [("realm", Flow.HYBRID_2.value)], 122)))
        mta = await one_device(sim, Flow.HYBRID_2)
        await finish(mta)
        server.transport.close()
        informs.endpoint.close()
        return mta, informs

    mta, informs = asyncio.run(scenario())
    r = mta.result
    assert r.state == MtaState.FAILED_ENROLL.name
    assert any(d.step == "MTA-2" and "122.3 is type 0 (FQDN)" in d.text for d in r.deviations), r.deviations
    assert any(d.step == "H-MTA-15" and "does not resolve" in d.text for d in r.deviations), r.deviations
    assert informs.got == []


@pytest.mark.parametrize("prov", [IPv4Address(HOST), "localhost"], ids=["type1-ipv4", "type0-fqdn"])
def test_prov_server_in_either_form_gets_the_enrollment_inform(prov: Any) -> None:
    sim = sim_config()

    async def scenario() -> tuple[SimulatedMta, Informs]:
        informs = await Informs().open(sim)
        server = await fake_dhcp(sim, dora(mta_ccc(Flow.HYBRID_2, prov=prov)))
        mta = await one_device(sim, Flow.HYBRID_2)
        await finish(mta)
        server.transport.close()
        informs.endpoint.close()
        return mta, informs

    mta, informs = asyncio.run(scenario())
    assert mta.result.state == MtaState.FAILED_NO_SET.name  # nobody SETs the file location here
    assert not any("122.3" in d.text for d in mta.result.deviations), mta.result.deviations
    (enrollment,) = informs.got
    identifier = {vb.oid: vb.value for vb in enrollment.pdu.varbinds}[CL.type_identifier]
    assert identifier == vendor_class("mta", 0x0002).encode()  # the full option 60 string


def test_ccc_primary_dhcp_server_zero_stops_the_emta_before_mta1() -> None:
    sim = sim_config(run_ecm=True)

    def answer(req: Message) -> list[bytes]:
        kind = MessageType.OFFER if req.message_type == MessageType.DISCOVER else MessageType.ACK
        return [reply(req, kind, [("dhcp-server-1", IPv4Address(0))])]

    async def scenario() -> tuple[SimulatedMta, FakeDhcp]:
        server = await fake_dhcp(sim, answer)
        mta = await one_device(sim, Flow.BASIC_1)
        await finish(mta)
        server.transport.close()
        return mta, server

    mta, server = asyncio.run(scenario())
    assert mta.result.state == MtaState.FAILED_ECM.name
    assert any(d.step == "CM-4" and "0.0.0.0" in d.text for d in mta.result.deviations)
    assert {x.mac for _, x in server.seen} == {Identity.make(1).cm_mac}  # the eMTA never sent a DISCOVER


def test_offer_from_a_server_the_ecm_was_not_told_of_is_refused() -> None:
    """RFC 3495 5.1: only 122.1/122.2 may make the OFFER; the eMTA keeps discovering until MTA-1/2 runs out."""
    sim = sim_config(run_ecm=True)

    def answer(req: Message) -> list[bytes]:
        kind = MessageType.OFFER if req.message_type == MessageType.DISCOVER else MessageType.ACK
        if req.mac == Identity.make(1).cm_mac:
            return [reply(req, kind, [("dhcp-server-1", IPv4Address("127.0.0.9"))])]
        return [reply(req, kind, mta_ccc(Flow.BASIC_1), file="x.cfg")]

    async def scenario() -> SimulatedMta:
        server = await fake_dhcp(sim, answer)
        mta = await one_device(sim, Flow.BASIC_1)
        await finish(mta)
        server.transport.close()
        return mta

    mta = asyncio.run(scenario())
    assert mta.result.state == MtaState.FAILED_DHCP.name
    assert any(d.step == "MTA-2" and "not the 122.1/122.2 server" in d.text for d in mta.result.deviations)
    assert MtaState.DHCP_REQUEST.name not in [state for _, state, _ in mta.result.steps]


@pytest.mark.parametrize("declares_http", [False, True], ids=["no-http-capability", "http-capability"])
def test_http_url_for_an_emta_that_declared_no_http_is_caught(declares_http: bool) -> None:
    """A server that SETs an http:// URL for an eMTA whose option 60 has no HTTP download
    capability (sub-TLV 4) asks for something the device cannot do."""
    from tlv import ber

    sim = sim_config(http=declares_http)
    sets: list[Any] = []

    async def scenario() -> tuple[SimulatedMta, bytes]:
        setter = await open_endpoint(HOST, 0, timeout=1.0, retries=2)
        url = b"http://127.0.0.1:9/mta.cfg"  # the discard port: nothing serves it

        def answer(msg: m.Message) -> bytes | None:
            if any(vb.oid == CL.mac for vb in msg.pdu.varbinds) and not sets:  # the enrollment
                source = (str(mta.ack.yiaddr), sim.agent_port)  # type: ignore[union-attr]
                varbinds = (ber.VarBind(CL.config_file, ber.SNMP_TYPE_BY_KEYWORD["string"], url),
                            ber.VarBind(CL.config_hash, ber.SNMP_TYPE_BY_KEYWORD["string"], b"\x01" * 20))
                sets.append(asyncio.ensure_future(setter.request(source, b"private", m.PduType.SET, varbinds)))
            return m.encode(msg.response())

        informs = await Informs(answer).open(sim)
        server = await fake_dhcp(sim, dora(mta_ccc(Flow.HYBRID_2)))
        relay = await net.open_relay((sim.relay, sim.relay_port), (sim.server, sim.dhcp_port))
        mta = SimulatedMta(Identity.make(1), Flow.HYBRID_2, sim, relay)
        task = asyncio.ensure_future(mta.run())
        await asyncio.wait_for(asyncio.shield(mta.finished), 30)
        option60 = mta.type_identifier.encode() if isinstance(mta.type_identifier, str) else mta.type_identifier
        mta.stop()
        relay.close()
        await asyncio.wait_for(task, 10)
        for closing in (server.transport, informs.endpoint, setter):
            closing.close()
        return mta, option60

    mta, option60 = asyncio.run(scenario())
    assert sets, "the enrollment never came"
    assert (b"040101" in option60) == declares_http
    caught = [d for d in mta.result.deviations if "declared no HTTP file download" in d.text]
    if declares_http:
        assert caught == []
    else:
        assert caught and caught[0].step.startswith("H-MTA-22"), mta.result.deviations
        assert mta.result.state != MtaState.OPERATIONAL.name


# -- the config file ----------------------------------------------------------------------------------------------

def compile_text(text: str, hash: str | None = None) -> bytes:
    # Leniently: some of these files break their MIB on purpose, for the device to reject.
    return _compile_text(text, ctx=MibContext(), hash=hash, warnings=[])


GOOD = "Main { MtaConfigDelimiter 1; SnmpMibObject pktcMtaDevEnabled.0 Integer true; %s MtaConfigDelimiter 255; }"
FILES = {
    "empty": (b"", ProvisioningState.FAIL_CONFIG_FILE_ERROR, "empty"),
    "no-delimiters": (compile_text(GOOD % "", hash="cablelabs")[3:-3],
                      ProvisioningState.FAIL_CONFIG_FILE_ERROR, "TLV 254"),
    "mandatory-wrong-type": (compile_text(GOOD.replace("Integer true", "String \"true\"") % "", hash="cablelabs"),
                             ProvisioningState.FAIL_CONFIG_FILE_ERROR, "wrong type"),
    "optional-wrong-type": (compile_text(GOOD % "SnmpMibObject pktcNcsEndPntConfigCallAgentUdpPort.9 String \"2727\";",
                                         hash="cablelabs"), ProvisioningState.PASS_WITH_WARNINGS, "wrong type"),
    "other-tree-hash": (compile_text(GOOD % "", hash="ietf"), ProvisioningState.FAIL_CONFIG_FILE_ERROR, "hash"),
    "good": (compile_text(GOOD % "", hash="cablelabs"), ProvisioningState.PASS, None),
}


@pytest.mark.parametrize("name", list(FILES))
def test_bad_config_file_is_rejected_with_the_mibs_provisioning_state(name: str) -> None:
    data, state, why = FILES[name]
    sim = sim_config()

    async def scenario() -> tuple[SimulatedMta, Informs, object]:
        informs = await Informs().open(sim)
        files = await file_server(sim, data)
        server = await fake_dhcp(sim, dora(mta_ccc(Flow.BASIC_2), file="mta.cfg"))
        mta = await one_device(sim, Flow.BASIC_2)
        # The agent stays up after provisioning: the state as a manager reads it.
        assert mta.ack is not None
        reader = await open_endpoint(HOST, 0, timeout=1.0, retries=2)
        got = await reader.request((str(mta.ack.yiaddr), sim.agent_port), b"public", m.PduType.GET,
                                   (m.null_varbind(CL.provisioning_state),))
        reader.close()
        await finish(mta)
        for t in (server.transport, files):
            t.close()
        informs.endpoint.close()
        return mta, informs, got.pdu.varbinds[0].value

    mta, informs, agent_state = asyncio.run(scenario())
    r = mta.result
    assert r.result == state and informs.states() == [state] and agent_state == state, (r.result, r.deviations)
    assert r.passed == (state != ProvisioningState.FAIL_CONFIG_FILE_ERROR)
    if why is None:
        assert r.deviations == []
    else:
        assert any(d.step == "MTA-23" and why in d.text for d in r.deviations), r.deviations


# -- malformed answers are deviations, never the end of the run ---------------------------------------------------


def test_malformed_dhcp_replies_are_deviations_not_a_crash() -> None:
    sim = sim_config()

    def answer(req: Message) -> list[bytes]:
        good = bytearray(reply(req, MessageType.OFFER, mta_ccc(Flow.BASIC_1)))
        good[236:240] = b"\x00\x00\x00\x00"  # no magic cookie: a reply that does not decode
        return [bytes(good)]

    async def scenario() -> tuple[list[Any], Any]:
        server = await fake_dhcp(sim, answer)
        results, _ = await simulate(sim, Flow.BASIC_1, 3)
        server.transport.close()
        return results, server

    results, _ = asyncio.run(scenario())
    for r in results:
        assert r.state == MtaState.FAILED_DHCP.name
        assert any(d.step == "MTA-1/2" and "cookie" in d.text.lower() for d in r.deviations), r.deviations


def test_malformed_inform_response_is_a_deviation_of_the_step() -> None:
    sim = sim_config()

    async def scenario() -> SimulatedMta:
        informs = await Informs(answer=lambda msg: b"\x30\x03\x02\x01").open(sim)
        server = await fake_dhcp(sim, dora(mta_ccc(Flow.HYBRID_2)))
        mta = await one_device(sim, Flow.HYBRID_2)
        await finish(mta)
        server.transport.close()
        informs.endpoint.close()
        return mta

    mta = asyncio.run(scenario())
    assert mta.result.state == MtaState.FAILED_ENROLL.name
    assert any(d.step == "H-MTA-15" and "do not decode" in d.text for d in mta.result.deviations)


# -- the agent: GetBulk, SNMPv1, resets after provisioning --------------------------------------------------------


async def agent_only(sim: SimConfig) -> SimulatedMta:
    mta = SimulatedMta(Identity.make(3), Flow.HYBRID_2, sim, relay=None)  # type: ignore[arg-type]
    await mta.start_agent(IPv4Address(HOST))
    return mta


def net_snmp(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, "-r", "1", "-t", "3", "-On", "-m", "", "-M", "/nonexistent", *args],
                          capture_output=True, text=True, timeout=30)


def dotted(oid: tuple[int, ...]) -> str:
    return "." + ".".join(map(str, oid))


def test_snmpbulkget_gets_a_bulk_answer_from_the_simulated_agent() -> None:
    snmpbulkget = require("snmpbulkget")
    sim = sim_config()

    async def scenario() -> subprocess.CompletedProcess[str]:
        mta = await agent_only(sim)
        try:
            return await asyncio.to_thread(net_snmp, snmpbulkget, "-v2c", "-c", "public", "-Cn1", "-Cr4",
                                           f"{HOST}:{sim.agent_port}", dotted(CL.sys_descr[:-2]),
                                           dotted(CL.type_identifier[:-1]))
        finally:
            mta.close_endpoints()

    out = asyncio.run(scenario())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 5, out.stdout  # one non-repeater + four repetitions
    assert lines[0].startswith(dotted(CL.sys_descr))
    assert lines[1].startswith(dotted(CL.type_identifier)) and vendor_class("mta", 0x0002) in lines[1]


def test_snmpget_v1_gets_nosuchname_not_v2_exceptions() -> None:
    snmpget = require("snmpget")
    sim = sim_config()

    async def scenario() -> tuple[subprocess.CompletedProcess[str], ...]:
        mta = await agent_only(sim)
        target = f"{HOST}:{sim.agent_port}"
        try:
            good = await asyncio.to_thread(net_snmp, snmpget, "-v1", "-c", "public", target, dotted(CL.mac))
            missing = await asyncio.to_thread(net_snmp, snmpget, "-v1", "-c", "public", target, dotted(CL.mac),
                                              dotted(CL.mac[:-1] + (7,)))
            v2 = await asyncio.to_thread(net_snmp, snmpget, "-v2c", "-c", "public", target, dotted(CL.mac[:-1] + (7,)))
            return good, missing, v2
        finally:
            mta.close_endpoints()

    good, missing, v2 = asyncio.run(scenario())
    assert good.returncode == 0 and "02 10 01 00 00 03" in good.stdout.upper().replace(":", " ")
    assert "noSuchName" in missing.stderr and f"Failed object: {dotted(CL.mac[:-1] + (7,))}" in missing.stderr
    assert "No Such Instance" in v2.stdout or "No Such Object" in v2.stdout, v2.stdout


def test_v1_manager_never_sees_getbulk_or_a_v2_set_error() -> None:
    """Sans-IO view of RFC 3584: a v1 GetBulk is dropped, a v2-only SET error is mapped."""
    sim = sim_config()

    async def scenario() -> tuple[Any, Any]:
        mta = await agent_only(sim)
        try:
            assert mta.mib is not None
            bulk = m.Message(b"public", m.Pdu(m.PduType.GET_BULK, 1, (m.null_varbind(CL.mac),), 0, 5), m.VERSION_1)
            bad = m.Message(b"private", m.Pdu(m.PduType.SET, 2, (
                m.VarBind(CL.reset_now, m.ber.SNMP_TYPE_BY_KEYWORD["integer"], 9),)), m.VERSION_1)
            return mta.mib.answer(bulk, (HOST, 1)), mta.mib.answer(bad, (HOST, 1))
        finally:
            mta.close_endpoints()

    dropped, mapped = asyncio.run(scenario())
    assert dropped is None
    assert mapped.pdu.error_status == m.ErrorStatus.BAD_VALUE and mapped.pdu.error_index == 1  # was wrongValue


def test_reset_after_operational_restarts_provisioning_at_mta1() -> None:
    """The agent stays up after provisioning; a SET of pktcMtaDevResetNow walks the flow again."""
    cfg, sim = configs(["BASIC.1"])

    async def scenario(office: Any) -> SimulatedMta:
        mta = await one_device(sim, Flow.BASIC_1)
        assert mta.result.passed and mta.ack is not None, mta.result.deviations
        manager = await open_endpoint(HOST, 0, timeout=1.0, retries=2)
        got = await manager.request((str(mta.ack.yiaddr), sim.agent_port), b"private", m.PduType.SET,
                                    (m.VarBind(CL.reset_now, m.ber.SNMP_TYPE_BY_KEYWORD["integer"], 1),))
        manager.close()
        assert got.pdu.error_status == 0
        await asyncio.wait_for(mta.walks(2), 20)
        await finish(mta)
        return mta

    mta = run(cfg, scenario)
    r = mta.result
    assert r.walks == 2 and r.state == MtaState.OPERATIONAL.name
    assert [s for s, _, _ in r.steps].count("MTA-1/2") == 2
