"""Replies written from the pre-encoded option blocks are the bytes fit() and encode() give."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

import pktcable.dhcpd.server as server_module
from dhcp.message import decode
from pktcable.dhcpd import DhcpServer
from pktcable.dhcpd.config import DeviceClass, Pool, ServerConfig, Subnet
from tests.dhcp_helpers import CG3000, mac_of, opt60, relay82, request

SID = IPv4Address("10.0.0.1")
RELAY = "10.1.0.1"


def config(cpe_options: dict[str, object] | None = None) -> ServerConfig:
    classes = [
        DeviceClass("cm", "cm", lease_time=7200, filename="cm-{mac}.cfg", next_server=IPv4Address("10.0.0.5"),
                    options={"time-offset": -18000, "domain-name-servers": ["10.0.0.53", "10.0.0.54"]}),
        DeviceClass("mta", "mta", lease_time=600, realms=("BASIC.1",), filename="mta-{mac}.bin",
                    ccc={"dhcp-server-1": IPv4Address("10.0.0.1"), "prov-server": "prov.example.net"}, hostname="mta-{mac}"),
        DeviceClass("cpe", "any", options=dict(cpe_options or {})),
    ]
    a, net = IPv4Address, IPv4Network
    subnets = [Subnet(net("10.1.0.0/24"), [Pool(a("10.1.0.10"), a("10.1.0.200"))], options={"routers": ["10.1.0.1"]},
                      relays=(a(RELAY),)),
               Subnet(net("10.0.0.0/24"), [Pool(a("10.0.0.100"), a("10.0.0.150"))])]
    return ServerConfig(SID, subnets, classes)


def conversation() -> list[tuple[bytes, IPv4Address | None]]:
    """Requests of every kind the server answers: relayed with option 82, direct (broadcast and
    unicast), a CM, an eMTA, a CPE, an INFORM, a small and a large option 57."""
    out: list[tuple[bytes, IPv4Address | None]] = []
    cm = [opt60("docsis3.0:0503010101"), relay82(mac_of(1))]
    mta = [opt60(CG3000), relay82(mac_of(1))]
    for n, extra, giaddr in ((2, cm, RELAY), (3, mta, RELAY), (4, [], RELAY), (5, [], None),
                             (6, [(57, (1500).to_bytes(2, "big"))], RELAY), (7, [(57, (300).to_bytes(2, "big"))], None)):
        out.append((request(1, mac_of(n), xid=n, giaddr=giaddr, options=extra, flags=0x8000 if n == 5 else 0),
                    None if giaddr else IPv4Address("10.0.0.1")))
    out.append((request(8, mac_of(9), xid=9, ciaddr="10.0.0.120"), IPv4Address("10.0.0.1")))
    return out


def serve(requests: list[tuple[bytes, IPv4Address | None]]) -> list[bytes]:
    """Each request, then for each OFFER the REQUEST a client sends: every reply's bytes."""
    srv = DhcpServer(config())
    replies: list[bytes] = []
    for data, link in requests:
        srv.receive(data, ("10.1.0.1", 67), 1000.0, link)
        for reply in srv.datagrams_to_send():
            replies.append(reply.data)
            offer = decode(reply.data)
            if offer.message_type != 2:
                continue
            ask = decode(data)
            extra = [(c, v) for c in (57, 60, 82) if (v := ask.get(c)) is not None]
            req = request(3, offer.chaddr[:6], xid=offer.xid, giaddr=None if ask.giaddr == IPv4Address(0) else
                          str(ask.giaddr), flags=ask.flags, options=[(54, SID.packed), (50, offer.yiaddr.packed),
                                                                      *extra])
            srv.receive(req, ("10.1.0.1", 67), 1000.0, link)
            replies.extend(r.data for r in srv.datagrams_to_send())
    return replies


def test_pre_encoded_replies_are_the_fitted_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = serve(conversation())
    assert len(fast) == 13  # 6 OFFERs, 6 ACKs, the INFORM's ACK
    monkeypatch.setattr(server_module, "FIXED", 1 << 20)  # nothing "fits": every reply goes through fit()
    assert serve(conversation()) == fast
    kinds = [decode(r).message_type for r in fast]
    assert kinds.count(2) == 6 and kinds.count(5) == 7


def test_a_reply_too_long_for_the_client_is_overloaded_into_file_and_sname() -> None:
    srv = DhcpServer(config({"domain-name": "a" * 200, "tftp-server-name": "r" * 100}))
    srv.receive(request(1, mac_of(3), xid=3, giaddr=RELAY, options=[relay82(mac_of(1))]), ("10.1.0.1", 67), 1000.0)
    (reply,) = srv.datagrams_to_send()
    assert len(reply.data) <= 576 - 28
    msg = decode(reply.data)
    assert msg.message_type == 2 and msg.get(52) is not None
    assert msg.get(15) == b"a" * 200 and msg.get(66) == b"r" * 100 and msg.get(82) == relay82(mac_of(1))[1]
