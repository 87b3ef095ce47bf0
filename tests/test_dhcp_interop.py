"""Interop with real peers: tshark as dissector oracle, udhcpc and dhclient over a veth
pair between two network namespaces, and a relay (giaddr) exchange.

A missing peer skips outside CI and fails when CI=true (the CI script installs
tshark, busybox, isc-dhcp-client and iproute2, and runs as root).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from dhcp.describe import decode_options
from dhcp.message import decode
from dhcp.options import CCC, SPACES, decode_space
from pktcable.dhcpd import DhcpServer

from .dhcp_helpers import CG3000, mac_of, opt60, request
from .netns import Link
from .netns import run as _run
from .pcap import udp_frame, write_pcap
from .peers import require
from .test_dhcp_server import RELAY, SID, Harness, config

ROOT = Path(__file__).resolve().parent.parent


def need(*tools: str, root: bool = False) -> None:
    require(*tools, root=root)


# -- tshark ---------------------------------------------------------------------------------------------

OPT43 = bytes.fromhex("0204454d5441") + b"\x04\x03SN1" + bytes.fromhex("1f06001122334455" "200400000007")


def test_tshark_reads_our_offer_like_we_do(tmp_path: Path) -> None:
    need("tshark")
    cfg = config()
    cfg.classes[1].ccc.update({"as-req-backoff": (3000, 30, 5), "ticket-control": 1, "use-tgt": True,
                               "dhcp-server-1": IPv4Address("10.0.0.1")})
    h = Harness(DhcpServer(cfg))
    discover = request(1, mac_of(2), giaddr=RELAY, options=[opt60(CG3000), (43, OPT43)])
    (offer, reply), = h.send(discover)
    (ack, ack_reply), = h.send(request(3, mac_of(2), giaddr=RELAY, options=[
        opt60(CG3000), (43, OPT43), (50, offer.yiaddr.packed), (54, IPv4Address(SID).packed)]))
    pcap = tmp_path / "dhcp.pcap"
    write_pcap(pcap, [udp_frame(discover, RELAY, SID, 67, 67), udp_frame(reply.data, SID, RELAY, 67, 67),
                      udp_frame(ack_reply.data, SID, RELAY, 67, 67)])
    # Option 122 in the OFFER and the ACK, as tshark prints its sub-options.
    text = subprocess.run(["tshark", "-r", str(pcap), "-V", "-Y", "dhcp.option.dhcp == 2 or dhcp.option.dhcp == 5"],
                          capture_output=True, text=True, check=True).stdout
    for block in text.split("Option: (122)")[1:]:
        seen = dict(re.findall(r"Suboption: .*?\((\d+)\): (.*?) \(\d+ bytes?\)", block.split("Option: (")[0]))
        ours = {str(i.code): i.value for i in decode_space(CCC, ack.get(122) or b"")}
        assert seen["1"] == str(ours["1"]) == "10.0.0.1"
        assert seen["3"] == ours["3"] == "prov.example.net"
        assert seen["6"] == ours["6"] == "BASIC.1"
        assert seen["7"] == "Yes" and ours["7"] is True
        assert seen["8"] == str(ours["8"]) == "10"
        assert seen["9"].startswith("0x0001") and ours["9"] == 1
        backoff = re.findall(r"pktcMtaDevRealmUnsolicitedKey(\w+): (\d+)", block)
        assert backoff == [("NomTimeout", "3000"), ("MaxTimeout", "30"), ("MaxRetries", "5")]
        assert tuple(int(v) for _, v in backoff) == (ours["4"].nominal, ours["4"].maximum, ours["4"].retries)
    assert text.count("Option: (122)") == 2
    # Options 43 and 60 of the client's request: tshark's fields against our typed decode.
    fields = ["dhcp.option.vendor.cl.device_type", "dhcp.option.vendor.cl.serial_number",
              "dhcp.option.vendor.cl.mta_mac_address", "dhcp.option.vendor.cl.correlation_ID",
              "dhcp.option.vendor_class_id", "dhcp.vendor.pktc.mta_cap_len"]
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "frame.number == 1", "-T", "fields",
                          "-E", "separator=|", *[a for f in fields for a in ("-e", f)]],
                         capture_output=True, text=True, check=True).stdout.strip().split("|")
    items = {i.name: i.value for i in decode_options(decode(discover))}
    sub43 = {i.name: i.value for i in items["vendor-encapsulated-options"]}
    assert out[:4] == [sub43["device-type"], sub43["serial-number"], sub43["mta-mac"], str(sub43["correlation-id"])]
    vc = items["vendor-class-identifier"]
    assert out[4] == vc.text and int(out[5]) == len(bytes.fromhex(vc.text.split(":")[1])) - 2
    caps = subprocess.run(["tshark", "-r", str(pcap), "-Y", "frame.number == 1", "-V"], capture_output=True,
                          text=True, check=True).stdout
    assert "0x12: Supported Provisioning Flows = 0x0007" in caps and vc.capability("prov-flows") == 7
    assert "0x0b: Supported CODEC(s) = PCMU (06), PCMA (09), G.729 (03)" in caps
    assert vc.capability("codecs") == [6, 9, 3, 4]
    assert SPACES["ccc"] is CCC


# -- network namespaces -----------------------------------------------------------------------------

SERVER_CONFIG = """
[server]
server_id = "192.0.2.1"

[[subnet]]
network = "192.0.2.0/24"
options = {{ routers = ["192.0.2.1"] }}
[[subnet.pool]]
start = "192.0.2.50"
end = "192.0.2.60"

[[class]]
name = "mta"
kind = "mta"
realms = ["BASIC.1"]
next_server = "192.0.2.1"
filename = "mta/{{mac}}.cfg"
ccc = {{ prov-server = "prov.example.net", prov-timer = 10 }}

[[class]]
name = "cpe"
kind = "any"
lease_time = 600
"""


@pytest.fixture
def link(tmp_path: Path) -> Iterator[tuple[Link, Path]]:
    need("ip", root=True)
    lk = Link()
    try:
        lk.up()
        cfg = tmp_path / "dhcpd.toml"
        cfg.write_text(SERVER_CONFIG.format())
        server = lk.start(lk.srv, sys.executable, "-m", "pktcable", "dhcp", "serve", "--config", str(cfg),
                          "--interface", lk.sdev, "--data-dir", str(tmp_path), cwd=ROOT)
        assert server.stderr is not None
        line = server.stderr.readline().decode()
        assert "serving" in line, line + server.stderr.read().decode()
        yield lk, tmp_path
    finally:
        lk.down()


def test_udhcpc_gets_a_lease_by_broadcast(link: tuple[Link, Path]) -> None:
    need("busybox")
    lk, tmp = link
    out = _run("ip", "netns", "exec", lk.cli, "busybox", "udhcpc", "-i", lk.cdev, "-f", "-q", "-n", "-t", "5",
               "-T", "2", "-s", "/bin/true", "-V", CG3000, "-x", "0x2b:" + OPT43.hex(), "-O", "122", check=False)
    text = out.stdout + out.stderr
    assert re.search(r"lease of 192\.0\.2\.(5\d|60) obtained from 192\.0\.2\.1", text), text
    _stop_server(lk)
    import sqlite3

    rows = sqlite3.connect(tmp / "leases.db").execute("SELECT device_class, state FROM lease4").fetchall()
    assert rows == [("mta", "bound")]


def test_dhclient_gets_a_lease_by_broadcast(link: tuple[Link, Path]) -> None:
    need("dhclient")
    lk, tmp = link
    out = _run("ip", "netns", "exec", lk.cli, "dhclient", "-4", "-v", "-1", "-sf", "/bin/true",
               "-lf", str(tmp / "dhclient.leases"), "-pf", str(tmp / "dhclient.pid"), lk.cdev, check=False)
    text = out.stdout + out.stderr
    assert re.search(r"bound to 192\.0\.2\.(5\d|60)", text), text
    pid = (tmp / "dhclient.pid").read_text().strip() if (tmp / "dhclient.pid").exists() else ""
    if pid:  # -1 still daemonizes once bound
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


RELAY_CLIENT = r"""
import socket, sys
sys.path.insert(0, sys.argv[1])
from tests.dhcp_helpers import request, mac_of
from dhcp.message import decode
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.2", 67))   # a relay agent listens on the server port
s.settimeout(5)
s.sendto(request(1, mac_of(77), giaddr="192.0.2.2"), ("192.0.2.1", 67))
data, src = s.recvfrom(2048)
m = decode(data)
print(m.message_type, m.yiaddr, m.giaddr, src[0], src[1])
"""


def test_relayed_request_is_answered_to_the_relay(link: tuple[Link, Path]) -> None:
    lk, _ = link
    _run("ip", "-n", lk.cli, "addr", "add", "192.0.2.2/24", "dev", lk.cdev)
    out = _run("ip", "netns", "exec", lk.cli, sys.executable, "-c", RELAY_CLIENT, str(ROOT), check=False)
    assert out.stdout.split() == ["2", "192.0.2.50", "192.0.2.2", "192.0.2.1", "67"], out.stdout + out.stderr


def _stop_server(lk: Link) -> None:
    server = lk.procs[0]
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(10)
