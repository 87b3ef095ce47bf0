"""DHCP conformance against what real devices and tools read: option 122.3 as tshark
dissects it, offers that lose a race or lapse go back to the pool (two servers over
real UDP), transaction ids per RFC 2131 §4.1/§4.3.1, ``dhcp decode`` on what
``dhcp option122`` prints and on captures made by dumpcap, and ``dhcp serve`` that
cannot open its link exits at once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from dhcp.message import decode
from pktcable.cli import main
from pktcable.dhcpd import DhcpServer, Pool, ServerConfig, Subnet
from pktcable.dhcpd.config import DeviceClass, from_dict
from pktcable.dhcpd.events import LeaseBound
from pktcable.dhcpd.transport import DhcpTransport, open_socket
from pktcable.serve.config import ServeConfig
from pktcable.serve.site import dhcp_config

from .dhcp_helpers import CG3000, mac_of, opt60, request
from .pcap import udp_frame, write_pcap
from .peers import require

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 20.0  # seconds for one reply on a loaded machine
RELAY = "127.0.0.66"  # the CMTS: giaddr of every relayed request, and where replies come back


# -- a server over real UDP ----------------------------------------------------------------------------

@contextmanager
def serving(server: DhcpServer, host: str) -> Iterator[tuple[str, int]]:
    """``server`` behind its asyncio transport on ``host``, in a thread; yields its address."""
    sock = open_socket(host, 0)
    address = sock.getsockname()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    async def run() -> None:
        transport = DhcpTransport(server, sock)
        started.set()
        try:
            await stop.wait()
        finally:
            transport.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(BUDGET), "server did not start"
    try:
        yield address
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(BUDGET)
        loop.close()


@contextmanager
def relay_socket() -> Iterator[socket.socket]:
    """The CMTS side: requests leave from RELAY, replies come back to its port (relay_port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((RELAY, 0))
    sock.settimeout(BUDGET)
    try:
        yield sock
    finally:
        sock.close()


def reply_from(sock: socket.socket, server: tuple[str, int]) -> tuple[bytes, object]:
    return replies_from(sock, [server])[server]


def replies_from(sock: socket.socket, servers: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[bytes, object]]:
    """One reply from each of ``servers``, in whatever order they arrive."""
    got: dict[tuple[str, int], tuple[bytes, object]] = {}
    while len(got) < len(servers):
        data, source = sock.recvfrom(4096)
        if source in servers:
            got[source] = (data, decode(data))
    return got


# -- option 122.3 as tshark reads it -------------------------------------------------------------------

def tshark_ccc3(pcap: Path) -> list[tuple[int, str, str]]:
    """(frame, raw sub-option bytes as hex, tshark's text) of every option 122.3 tshark dissects."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "pdml"], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    found = []
    for number, packet in enumerate(ElementTree.fromstring(out).iter("packet"), 1):
        for field in packet.iter("field"):
            if field.get("name") == "dhcp.vendor.pc.ietf_ccc.suboption" and field.get("show") == "3":
                found.append((number, field.get("value", ""), field.get("showname", "")))
    return found


def mta_dora(sock: socket.socket, server: tuple[str, int], mac: bytes, xid: int) -> list[bytes]:
    mta = [opt60(CG3000)]
    sock.sendto(request(1, mac, xid=xid, giaddr=RELAY, options=mta), server)
    offer_data, offer = reply_from(sock, server)
    assert offer.message_type == 2  # type: ignore[attr-defined]
    sock.sendto(request(3, mac, xid=xid, giaddr=RELAY, options=[
        *mta, (50, offer.yiaddr.packed), (54, offer.get(54))]), server)  # type: ignore[attr-defined]
    ack_data, ack = reply_from(sock, server)
    assert ack.message_type == 5  # type: ignore[attr-defined]
    return [offer_data, ack_data]


@pytest.mark.parametrize("source", ["serve", "toml"])
def test_ipv4_provisioning_server_is_sent_in_address_form_as_tshark_reads_it(tmp_path: Path, source: str) -> None:
    """A dotted quad sent as an FQDN (type 0) is a name a real eMTA tries to resolve by DNS:
    it never finds its provisioning server and never enrolls (RFC 3495 §4, sub-option 3)."""
    require("tshark")
    host = "127.0.0.71"
    if source == "serve":  # what `pktcable serve --address 127.0.0.71` hands its DHCP server
        cfg = dhcp_config(ServeConfig(address=host))
    else:  # an operator's [dhcp] table: the address is a TOML string
        cfg = from_dict({"server": {"server_id": host}, "subnet": [
            {"network": "127.0.0.0/8", "pool": [{"start": "127.100.0.1", "end": "127.100.0.9"}]}],
            "class": [{"name": "mta", "kind": "mta", "realms": ["HYBRID.2"],
                       "ccc": {"prov-server": host, "prov-timer": 10}}]})
    with relay_socket() as sock, serving(DhcpServer(cfg), host) as server:
        cfg.relay_port = sock.getsockname()[1]
        replies = mta_dora(sock, server, mac_of(0x122), xid=0x1223)
    pcap = tmp_path / "dora.pcap"
    write_pcap(pcap, [udp_frame(data, host, RELAY, 67, 67) for data in replies])
    seen = tshark_ccc3(pcap)
    assert [n for n, _, _ in seen] == [1, 2]  # one 122.3 in the OFFER, one in the ACK
    for _, raw, text in seen:
        # code 3, length 5, type 1 (IPv4), then the 4 address octets: as tshark cut them out
        assert raw == "030501" + IPv4Address(host).packed.hex(), raw
        assert text.endswith(f": {host} (5 bytes)"), text


def test_option122_command_and_decode_agree_with_tshark_on_the_address_form(tmp_path: Path) -> None:
    require("tshark")
    result = CliRunner().invoke(main, ["dhcp", "option122", "--prov-server", "10.0.0.1", "--realm", "BASIC.1"])
    body = bytes.fromhex(result.stdout.strip())
    offer = decode(request(1, mac_of(1), options=[(122, body)]))
    offer.op = 2
    from dhcp.message import encode

    pcap = tmp_path / "option122.pcap"
    write_pcap(pcap, [udp_frame(encode(offer), "10.0.0.1", "10.0.0.9", 67, 68)])
    (_, raw, text), = tshark_ccc3(pcap)
    assert raw == "0305010a000001" and text.endswith(": 10.0.0.1 (5 bytes)")
    shown = CliRunner().invoke(main, ["dhcp", "decode", result.stdout.strip()])
    assert shown.exit_code == 0 and "3 prov-server: 10.0.0.1 (IPv4 form)" in shown.stdout


# -- offers that are never taken up --------------------------------------------------------------------

POOL = ("127.1.0.10", "127.1.0.17")  # 8 addresses
N = 8


def two_server_config(server_id: str, relay_port: int) -> ServerConfig:
    return ServerConfig(IPv4Address(server_id), [Subnet("127.0.0.0/8", [Pool(*POOL)])],
                        [DeviceClass("any", "any", lease_time=600)], relay_port=relay_port, offer_hold=300.0)


def test_offers_lost_to_another_server_return_to_the_losing_pool_at_once() -> None:
    """Two servers answer the same relayed DISCOVERs (a CMTS with two helper addresses);
    each client takes A's offer. B must get every address back as the client's REQUEST
    names A, not leak one per lost race (offer_hold is long: no lapse helps here)."""
    with relay_socket() as sock:
        port = sock.getsockname()[1]
        server_a, server_b = DhcpServer(two_server_config("127.0.0.81", port)), \
            DhcpServer(two_server_config("127.0.0.82", port))
        with serving(server_a, "127.0.0.81") as a, serving(server_b, "127.0.0.82") as b:
            for i in range(N):
                mac, xid = mac_of(0x100 + i), 0x5000 + i
                for server in (a, b):  # the relay forwards the DISCOVER to both servers
                    sock.sendto(request(1, mac, xid=xid, giaddr=RELAY), server)
                offers = replies_from(sock, [a, b])
                offer_a, offer_b = offers[a][1], offers[b][1]
                assert offer_a.xid == offer_b.xid == xid  # type: ignore[attr-defined]
                req = request(3, mac, xid=xid, giaddr=RELAY, options=[
                    (50, offer_a.yiaddr.packed), (54, IPv4Address(a[0]).packed)])  # type: ignore[attr-defined]
                for server in (a, b):  # ... and the REQUEST, naming the server the client chose
                    sock.sendto(req, server)
                ack = reply_from(sock, a)[1]
                assert ack.message_type == 5 and ack.xid == xid  # type: ignore[attr-defined]
            # B lost N races. N new clients that only B hears must still get N distinct offers.
            offered = set()
            for i in range(N):
                sock.sendto(request(1, mac_of(0x200 + i), xid=0x6000 + i, giaddr=RELAY), b)
                try:
                    offer = reply_from(sock, b)[1]
                except TimeoutError:
                    pytest.fail(f"B leaked its pool: no offer for new client {i + 1} of {N} "
                                f"(metrics {dict(server_b.metrics)})")
                offered.add(offer.yiaddr)  # type: ignore[attr-defined]
    assert len(offered) == N and server_b.metrics["other-server"] == N


def sans_io(offer_hold: float = 30.0) -> DhcpServer:
    return DhcpServer(ServerConfig(IPv4Address("192.0.2.1"), [Subnet("10.9.0.0/24", [Pool("10.9.0.10", "10.9.0.13")])],
                                   [DeviceClass("any", "any", lease_time=600)], offer_hold=offer_hold))


def discover(server: DhcpServer, mac: bytes, now: float, xid: int = 1) -> IPv4Address | None:
    server.receive(request(1, mac, xid=xid, giaddr="10.9.0.1"), ("10.9.0.1", 67), now)
    replies = [decode(r.data) for r in server.datagrams_to_send()]
    return replies[0].yiaddr if replies else None


def test_offers_that_lapse_unrequested_return_to_the_pool() -> None:
    """Clients that DISCOVER and never REQUEST (gone, or took another offer we never heard
    of) hold an address for offer_hold only: afterwards it is offered again."""
    server = sans_io(offer_hold=30.0)
    first = [discover(server, mac_of(i), 100.0) for i in range(4)]
    assert None not in first and discover(server, mac_of(99), 101.0) is None  # pool of 4 is held
    server.handle_timer(131.0)  # every offer has lapsed
    again = [discover(server, mac_of(10 + i), 132.0) for i in range(4)]
    assert sorted(map(str, again)) == sorted(map(str, first)), server.metrics


def test_request_naming_another_server_frees_our_offer_for_the_next_client() -> None:
    server = sans_io()
    addresses = [discover(server, mac_of(i), 100.0) for i in range(4)]
    server.receive(request(3, mac_of(2), giaddr="10.9.0.1", options=[
        (50, addresses[2].packed), (54, IPv4Address("192.0.2.99").packed)]), ("10.9.0.1", 67), 101.0)  # type: ignore[union-attr]
    assert server.datagrams_to_send() == []  # not ours to answer
    assert discover(server, mac_of(50), 102.0) == addresses[2]  # long before offer_hold


# -- transaction ids -----------------------------------------------------------------------------------

def test_retransmitted_discover_gets_the_same_offer_and_holds_one_address() -> None:
    server = sans_io()
    first = discover(server, mac_of(1), 100.0, xid=0xABCD)
    assert discover(server, mac_of(1), 104.0, xid=0xABCD) == first  # its 4 s retransmission
    others = [discover(server, mac_of(2 + i), 105.0) for i in range(3)]
    assert first not in others and None not in others  # the pool of 4 still has 3 for others


def test_retransmitted_request_gets_the_same_ack_and_no_second_binding() -> None:
    """A client that missed our ACK sends the same REQUEST again (same xid, RFC 2131 §4.1):
    it gets the ACK again, but the provisioning flow the first binding started must not be
    restarted by a second LeaseBound."""
    server = sans_io()
    address = discover(server, mac_of(1), 100.0, xid=0x77)
    assert address is not None
    req = request(3, mac_of(1), xid=0x77, giaddr="10.9.0.1", options=[
        (50, address.packed), (54, IPv4Address("192.0.2.1").packed)])
    bound = []
    for now in (101.0, 105.0, 113.0):  # the first REQUEST, then its 4 s and 8 s retransmissions
        server.receive(req, ("10.9.0.1", 67), now)
        (ack,) = [decode(r.data) for r in server.datagrams_to_send()]
        assert ack.message_type == 5 and ack.xid == 0x77 and ack.yiaddr == address
        while (event := server.next_event()) is not None:
            bound += [event] if isinstance(event, LeaseBound) else []
    assert len(bound) == 1 and server.metrics["retransmitted-requests"] == 2
    # The same bytes long after are a new exchange (a device that rebooted into the same xid).
    from pktcable.dhcpd import server as core

    server.receive(req, ("10.9.0.1", 67), 101.0 + core.RETRANSMIT_WINDOW + 1)
    assert len(server.datagrams_to_send()) == 1
    assert any(isinstance(e, LeaseBound) for e in iter(server.next_event, None))


# -- pktcable dhcp decode ------------------------------------------------------------------------------

def decode_cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["dhcp", "decode", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_decode_reads_what_option122_prints() -> None:
    printed = CliRunner().invoke(main, ["dhcp", "option122", "--prov-server", "10.0.0.1", "--realm", "BASIC.1",
                                        "--timer", "10"]).stdout
    for args, stdin in ((printed.strip(),), None), (("-",), printed), (("--option", "122", printed.strip()), None):
        code, out, err = decode_cli(*args, stdin=stdin)
        assert code == 0, err
        assert "122 cablelabs-client-configuration" in out and "3 prov-server: 10.0.0.1 (IPv4 form)" in out
        assert "6 realm: BASIC.1" in out and "8 prov-timer: 10" in out


def test_decode_refuses_empty_input_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    for args, stdin in (("",), None), (("-",), ""), (("--file", str(empty)), None), ((" ",), None):
        code, out, err = decode_cli(*args, stdin=stdin)
        assert code == 2 and out == "" and err.count("\n") == 1 and "empty input" in err, (args, code, err)


def write_linktype_pcap(path: Path, linktype: int, frames: list[bytes]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    out += [struct.pack("<IIII", 1_700_000_000 + i, 0, len(f), len(f)) + f for i, f in enumerate(frames)]
    path.write_bytes(b"".join(out))


def tshark_dhcp(pcap: Path, port: int | None = None) -> list[tuple[int, int, int]]:
    """(frame, xid, message type) of each DHCP message, as tshark reads the capture
    (``port``: a server port other than 67, decoded as DHCP too)."""
    decode_as = ["-d", f"udp.port=={port},dhcp"] if port else []
    out = subprocess.run(["tshark", "-r", str(pcap), *decode_as, "-Y", "dhcp", "-T", "fields", "-e", "frame.number",
                          "-e", "dhcp.id", "-e", "dhcp.option.dhcp"], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    return [(int(n), int(x, 16), int(t)) for n, x, t in (line.split("\t") for line in out.splitlines())]


def ours(pcap: Path) -> list[tuple[int, int, int]]:
    code, out, err = decode_cli(str(pcap))
    assert code == 0, err
    frames = [int(line.split()[1].rstrip(":")) for line in out.splitlines() if line.startswith("frame ")]
    heads = [line for line in out.splitlines() if line.startswith("DHCP")]
    kinds = {"DISCOVER": 1, "OFFER": 2, "REQUEST": 3, "ACK": 5}
    return [(n, int(h.split("xid=")[1].split()[0], 16), kinds[h.split()[0][4:]]) for n, h in zip(frames, heads, strict=True)]


def test_decode_reads_written_captures_of_every_link_type_like_tshark(tmp_path: Path) -> None:
    require("tshark")
    msgs = [request(1, mac_of(1), xid=0x11), request(3, mac_of(1), xid=0x11)]
    ethernet = [udp_frame(m, "0.0.0.0", "255.255.255.255", 68, 67) for m in msgs]
    ip = [f[14:] for f in ethernet]
    cases = {"ethernet": (1, ethernet), "raw": (101, ip), "ipv4": (228, ip), "null": (0, [b"\x02\0\0\0" + p for p in ip]),
             "sll": (113, [bytes(14) + b"\x08\x00" + p for p in ip]),
             "sll2": (276, [b"\x08\x00" + bytes(18) + p for p in ip]),
             "vlan": (1, [f[:12] + b"\x81\x00\x00\x07" + f[12:] for f in ethernet])}
    for name, (linktype, frames) in cases.items():
        pcap = tmp_path / f"{name}.pcap"
        arp = bytes(12) + b"\x08\x06" + bytes(28)  # not IP: passed over, as by tshark's "dhcp" filter
        write_linktype_pcap(pcap, linktype, [arp, *frames] if name == "ethernet" else frames)
        expected = tshark_dhcp(pcap)
        assert len(expected) == 2 and ours(pcap) == expected, name


def captured(path: Path) -> list[bytes]:
    """UDP payloads dumpcap has written to ``path`` so far (a record being written is not yet one)."""
    from dhcp.capture import datagrams
    from dhcp.errors import DhcpDecodeError

    try:
        data = path.read_bytes()
        return [d.payload for d in datagrams(data)] if len(data) >= 24 else []
    except (OSError, DhcpDecodeError):
        return []


def poll(check, what: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for dumpcap's file to show something; it has no other signal than the file."""
    import time

    deadline = time.monotonic() + BUDGET * 3
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"dumpcap did not record {what} in time")
        time.sleep(0.05)


def test_decode_reads_live_captures_made_by_dumpcap(tmp_path: Path) -> None:
    """pcapng and pcap from ``lo`` (Ethernet link type) and Linux cooked v1/v2 from ``any``,
    captured while a real exchange with our server runs."""
    require("dumpcap", "tshark", root=True)
    import signal

    host = "127.0.0.91"
    captures = [("lo.pcapng", ["-i", "lo"]), ("lo.pcap", ["-i", "lo", "-P"]),
                ("any-sll.pcap", ["-i", "any", "-y", "LINUX_SLL", "-P"]),
                ("any-sll2.pcapng", ["-i", "any", "-y", "LINUX_SLL2"])]
    procs = [subprocess.Popen(["dumpcap", "-q", *args, "-f", f"udp and host {host}", "-w", str(tmp_path / name)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, args in captures]
    try:
        with relay_socket() as sock:
            cfg = dhcp_config(ServeConfig(address=host))
            cfg.relay_port = sock.getsockname()[1]
            with serving(DhcpServer(cfg), host) as server:
                port = server[1]
                # A probe (not DHCP) until every capture has one: then all of them are listening.
                poll(lambda: sock.sendto(b"probe", (host, 9)) and all(captured(tmp_path / n) for n, _ in captures),
                     "a probe")
                mta_dora(sock, server, mac_of(0x77), xid=0x7777)
                poll(lambda: all(sum(p[236:240] == b"\x63\x82\x53\x63" for p in captured(tmp_path / n)) >= 4
                                 for n, _ in captures), "the exchange")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    for name, _ in captures:
        expected = tshark_dhcp(tmp_path / name, port)
        assert [(x, t) for _, x, t in expected] == [(0x7777, 1), (0x7777, 2), (0x7777, 3), (0x7777, 5)], name
        assert ours(tmp_path / name) == expected, name


def test_decode_reports_a_truncated_capture_instead_of_a_shorter_listing(tmp_path: Path) -> None:
    pcap = tmp_path / "cut.pcap"
    write_pcap(pcap, [udp_frame(request(1, mac_of(1), xid=i), "0.0.0.0", "255.255.255.255", 68, 67) for i in (1, 2)])
    pcap.write_bytes(pcap.read_bytes()[:-10])
    code, _, err = decode_cli(str(pcap))
    assert code == 5 and "runs past the end" in err and err.count("\n") == 1, err


# -- pktcable dhcp serve -------------------------------------------------------------------------------

def dhcp_serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "dhcpd.toml"
    conf.write_text('[server]\nserver_id = "127.0.0.1"\n[[subnet]]\nnetwork = "127.0.0.0/8"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run([sys.executable, "-m", "pktcable", "dhcp", "serve", "--config", str(conf), *args],
                              capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dhcp serve {' '.join(args)} hangs instead of failing")


def test_serve_on_a_missing_interface_exits_at_once_naming_it(tmp_path: Path) -> None:
    result = dhcp_serve(tmp_path, "--address", "127.0.0.1", "--port", "0", "--interface", "nosuch0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "nosuch0" in result.stderr, result.stderr


def test_serve_on_a_taken_port_exits_at_once_naming_it(tmp_path: Path) -> None:
    """The socket fails to open after start-up began (here: another process has the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = str(taken.getsockname()[1])
        result = dhcp_serve(tmp_path, "--address", "127.0.0.1", "--port", port, "--interface", "lo")
    assert result.returncode != 0 and f"127.0.0.1:{port}" in result.stderr, result.stderr
