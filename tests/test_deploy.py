"""`pktcable serve` on a real link: directly attached udhcpc and dhclient in a network
namespace of their own, tshark reading what went over the wire; the subnet derived
from the address; 0.0.0.0 advertising the interface's address; the production example.

The namespace tests need root, busybox, dhclient and tshark (tests/peers.py: skipped
on a developer's machine without them, failed under CI=true).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from pktcable.serve.config import ServeConfig, read
from pktcable.serve.datadir import SettingError
from pktcable.serve.site import dhcp_config, pools, resolve_site

from .dhcp_helpers import CG3000
from .netns import Link, run
from .peers import require

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ROOT / "examples" / "production.toml"
CM_VENDOR = "docsis3.0:0506010101020103"
#: Standard DHCP ports: real clients use nothing else, and the namespace is the test's own.
SETTINGS = """
dhcp_port = 67
relay_port = 67
api_port = 0
cm_key = "deploy-test-shared-secret"
"""
#: A relay agent on the client's side of the link: DISCOVER with giaddr, the reply comes back to it.
RELAY = r"""
import socket, sys
sys.path.insert(0, sys.argv[1])
from tests.dhcp_helpers import request, mac_of
from dhcp.message import decode
relay, server = sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((relay, 67))
s.settimeout(10)
s.sendto(request(1, mac_of(9), giaddr=relay), (server, 67))
data, src = s.recvfrom(2048)
m = decode(data)
print(m.message_type, m.yiaddr, src[0], m.get(54).hex(), m.get(1).hex())
"""
PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(b"probe", (sys.argv[1], 9))
"""
FIELDS = ("ip.src", "ip.dst", "dhcp.option.dhcp", "dhcp.option.dhcp_server_id", "dhcp.ip.your",
          "dhcp.ip.server", "dhcp.option.subnet_mask", "dhcp.option.router", "dhcp.vendor.pc.ietf_ccc.suboption")


# -- settings (no privileges) ------------------------------------------------------------------------

HOST = {"lo": IPv4Interface("127.0.0.1/8"), "eth1": IPv4Interface("10.77.0.1/16")}


def test_address_with_host_bits_is_not_taken_for_a_slash_24() -> None:
    site = resolve_site(ServeConfig(address="10.77.0.1"), lambda: HOST)
    assert (site.listen, site.advertise, site.network) == ("10.77.0.1", IPv4Address("10.77.0.1"),
                                                            IPv4Network("10.77.0.0/16"))
    explicit = resolve_site(ServeConfig(address="10.77.0.1/24"), lambda: {})
    assert explicit.network == IPv4Network("10.77.0.0/24")
    config = dhcp_config(ServeConfig(address="10.77.0.1/24"), explicit)
    (subnet,) = config.subnets
    assert subnet.network == IPv4Network("10.77.0.0/24") and config.server_id == IPv4Address("10.77.0.1")
    # Derived pools: inside the subnet, disjoint, none holding the server's own address.
    ranges = [(p.start, p.end) for p in subnet.pools]
    assert ranges == [(IPv4Address("10.77.0.2"), IPv4Address("10.77.0.85")),
                      (IPv4Address("10.77.0.86"), IPv4Address("10.77.0.169")),
                      (IPv4Address("10.77.0.170"), IPv4Address("10.77.0.254"))]


def test_wildcard_address_advertises_the_interface_not_0000() -> None:
    site = resolve_site(ServeConfig(address="0.0.0.0", interface="eth1"), lambda: HOST)
    assert (site.listen, site.dhcp_listen, str(site.advertise)) == ("0.0.0.0", "0.0.0.0", "10.77.0.1")
    config = dhcp_config(ServeConfig(address="0.0.0.0", interface="eth1"), site)
    mta = next(c for c in config.classes if c.name == "mta")
    cm = next(c for c in config.classes if c.name == "cm")
    assert config.server_id == mta.next_server == cm.ccc["dhcp-server-1"] == IPv4Address("10.77.0.1")
    assert site.url_host(69, 69) == "10.77.0.1" and site.url_host(8080, 80) == "10.77.0.1:8080"


@pytest.mark.parametrize(("settings", "key"), [
    ({"address": "0.0.0.0"}, "address: 0.0.0.0 needs interface"),
    ({"address": "0.0.0.0/24", "interface": "eth1"}, "address: 0.0.0.0/24 has a prefix"),
    ({"address": "10.9.9.9"}, "address: 10.9.9.9 is no address of this host"),
    ({"address": "10.77.0.300"}, "address: '10.77.0.300' is not an IPv4 address"),
    ({"interface": "nosuch"}, "interface: nosuch is no interface"),
    ({"address": "10.77.0.1/24", "mta_pool": ["10.78.0.1", "10.78.0.9"]}, "mta_pool: 10.78.0.1 - 10.78.0.9 is not inside"),
    ({"address": "10.77.0.1/24", "cm_pool": ["10.77.0.1", "10.77.0.9"]}, "cm_pool: .* holds the server's own address"),
    ({"address": "10.77.0.1/31"}, "address: 10.77.0.0/31 has too few addresses"),
])
def test_a_site_that_cannot_work_is_named(settings: dict[str, object], key: str) -> None:
    with pytest.raises(SettingError, match=key):
        cfg = ServeConfig(**settings)  # type: ignore[arg-type]
        pools(cfg, resolve_site(cfg, lambda: HOST))


def test_serve_interface_nosuch_exits_2_naming_the_setting() -> None:
    out = subprocess.run([sys.executable, "-m", "pktcable", "serve", "--demo", "--interface", "nosuch0"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].endswith("interface: nosuch0 is no interface of this host "
                                                        "with an IPv4 address"), out.stderr


def test_production_example_loads_with_standard_ports() -> None:
    # Names and types as `serve` reads them; the host checks (interface, folders) need the production host.
    cfg = read(PRODUCTION)
    assert (cfg.dhcp_port, cfg.relay_port, cfg.tftp_port, cfg.http_port, cfg.tod_port, cfg.snmp_port,
            cfg.agent_port) == (67, 67, 69, 80, 37, 162, 161)
    assert IPv4Address(cfg.api_address).is_loopback and cfg.data_dir and cfg.cm_key_file and cfg.cm_key is None
    assert cfg.auto_enroll is False and cfg.realms and cfg.devices
    assert cfg.dhcp_workers == 1  # measured faster on 2 cores (docs/benchmarks.md, "One process or workers")
    assert cfg.inform_community != "public" and cfg.write_community != "private"
    # Its [dhcp] table names the advertised address (its interface is looked up at start-up).
    site = resolve_site(cfg, lambda: {"eth1": IPv4Interface("10.77.0.1/24")})
    config = dhcp_config(cfg, site)
    assert config.server_id == site.advertise == IPv4Address("10.77.0.1") and len(config.subnets) == 3
    assert {c.next_server for c in config.classes if c.kind != "any"} == {site.advertise}
    other = {**cfg.dhcp, "server": {"server_id": "10.77.0.2"}}
    with pytest.raises(SettingError, match="dhcp: server_id 10.77.0.2 is not the advertised address 10.77.0.1"):
        dhcp_config(ServeConfig(address=cfg.address, dhcp=other), site)


# -- a real link: network namespaces -----------------------------------------------------------------


class Served:
    def __init__(self, link: Link, tmp: Path) -> None:
        self.link, self.tmp = link, tmp
        self.seen = b""  # what tshark printed so far

    def serve(self, *args: str) -> subprocess.Popen[bytes]:
        settings = self.tmp / "serve.toml"
        settings.write_text(SETTINGS)
        proc = self.link.start(self.link.srv, sys.executable, "-m", "pktcable", "serve", "--config", str(settings),
                               "--memory", *args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stderr is not None
        seen = []
        for raw in proc.stderr:  # the last start-up line says the services are up
            seen.append(raw.decode())
            if seen[-1].startswith("store "):
                return proc
        raise AssertionError("serve did not start: " + "".join(seen))

    def capture(self) -> tuple[subprocess.Popen[bytes], Path]:
        """tshark on the client's side of the link, once it demonstrably captures: its
        start-up message comes before the capture is live, so probes from the server's
        side (UDP port 9) go out until tshark prints one."""
        pcap = self.tmp / "link.pcap"
        # No capture filter: BPF's "udp port 67" misses udhcpc's packets on a veth here.
        proc = self.link.start(self.link.cli, "tshark", "-i", self.link.cdev, "-w", str(pcap), "-P", "-l")
        assert proc.stdout is not None
        broadcast = str(IPv4Interface(self.link.server_address).network.broadcast_address)
        for _ in range(60):
            run("ip", "netns", "exec", self.link.srv, sys.executable, "-c", PROBE, broadcast)
            if self._printed(proc, b" 9 Len=5", 1, 0.5):  # a probe's summary line
                return proc, pcap
        raise AssertionError(f"tshark captured none of 60 probes: {self.seen!r}")

    def _printed(self, tshark: subprocess.Popen[bytes], text: bytes, count: int, budget: float) -> bool:
        """Whether tshark printed ``text`` ``count`` times within ``budget`` seconds."""
        assert tshark.stdout is not None
        deadline = time.monotonic() + budget
        while self.seen.count(text) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([tshark.stdout], [], [], left)[0]:
                return False
            chunk = os.read(tshark.stdout.fileno(), 65536)
            if not chunk:
                return False
            self.seen += chunk
        return True

    def replies(self, tshark: subprocess.Popen[bytes], pcap: Path, acks: int) -> list[dict[str, str]]:
        """The server's OFFERs and ACKs as tshark reads them, once it has seen ``acks`` ACKs
        (the capture hands packets over in blocks, up to a second late)."""
        assert self._printed(tshark, b"DHCP ACK", acks, 30.0), self.seen
        os.killpg(tshark.pid, signal.SIGINT)
        tshark.wait(30)
        out = run("tshark", "-r", str(pcap), "-Y", "dhcp.option.dhcp == 2 or dhcp.option.dhcp == 5", "-T", "fields",
                  "-E", "separator=|", *[a for f in FIELDS for a in ("-e", f)]).stdout
        return [dict(zip(FIELDS, line.split("|"), strict=True)) for line in out.splitlines() if line]

    def ccc_values(self, pcap: Path) -> list[dict[str, str]]:
        """Option 122's sub-options per reply, as tshark prints them (code: value)."""
        text = run("tshark", "-r", str(pcap), "-V", "-Y", "dhcp.option.dhcp == 2 or dhcp.option.dhcp == 5").stdout
        out = []
        for frame in re.split(r"^Frame \d+:", text, flags=re.M)[1:]:
            block = frame.split("Option: (122)")[1].split("Option: (")[0] if "Option: (122)" in frame else ""
            out.append(dict(re.findall(r"Suboption: .*?\((\d+)\): (.*?)(?: \(\d+ bytes?\))?$", block, re.M)))
        return out

    def udhcpc(self, vendor: str, *extra: str) -> str:
        out = run("ip", "netns", "exec", self.link.cli, "busybox", "udhcpc", "-i", self.link.cdev, "-f", "-q", "-n",
                  "-t", "5", "-T", "3", "-s", "/bin/true", "-V", vendor, "-O", "122", *extra, check=False)
        return out.stdout + out.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    require("ip", "busybox", "tshark", root=True)
    link = Link(prefix="pe")
    try:
        link.up()
        yield Served(link, tmp_path)
    finally:
        link.down()


@pytest.fixture
def served16(tmp_path: Path) -> Iterator[Served]:
    require("ip", root=True)
    link = Link(prefix="pf", server_address="10.77.0.1/16")
    try:
        link.up()
        yield Served(link, tmp_path)
    finally:
        link.down()


def test_wildcard_address_on_an_interface_advertises_its_address_to_udhcpc(served: Served) -> None:
    """`--address 0.0.0.0 --interface`: a directly attached CM (broadcast flag) and eMTA
    (no flag: unicast to yiaddr) get leases naming 192.0.2.1 everywhere, never 0.0.0.0."""
    served.serve("--address", "0.0.0.0", "--interface", served.link.sdev)
    tshark, pcap = served.capture()
    cm = served.udhcpc(CM_VENDOR, "-B")
    assert re.search(r"lease of 192\.0\.2\.\d+ obtained from 192\.0\.2\.1", cm), cm
    run("ip", "-n", served.link.cli, "addr", "flush", "dev", served.link.cdev)
    run("ip", "-n", served.link.cli, "link", "set", served.link.cdev, "address", "02:00:00:00:77:01")
    mta = served.udhcpc(CG3000)
    assert re.search(r"lease of 192\.0\.2\.\d+ obtained from 192\.0\.2\.1", mta), mta
    replies = served.replies(tshark, pcap, 2)
    assert [r["dhcp.option.dhcp"] for r in replies] == ["2", "5", "2", "5"], replies
    for r in replies:
        assert r["ip.src"] == r["dhcp.option.dhcp_server_id"] == "192.0.2.1", r
        assert r["dhcp.option.router"] == "192.0.2.1" and r["dhcp.option.subnet_mask"] == "255.255.255.0", r
        assert IPv4Address(r["dhcp.ip.your"]) in IPv4Network("192.0.2.0/24"), r
    assert [r["dhcp.ip.server"] for r in replies[:2]] == ["192.0.2.1"] * 2, replies  # the CM's TFTP server
    # RFC 2131 4.1: the broadcast flag gets 255.255.255.255, a client without it its new address.
    assert [r["ip.dst"] for r in replies[:2]] == ["255.255.255.255"] * 2, replies
    assert [r["ip.dst"] for r in replies[2:]] == [replies[2]["dhcp.ip.your"]] * 2, replies
    ccc = served.ccc_values(pcap)
    assert [c.get("1") for c in ccc[:2]] == ["192.0.2.1"] * 2, ccc  # the CM's 122.1: its eMTA's DHCP server
    assert all("3" in c for c in ccc[2:]), ccc  # the eMTA's provisioning server (its form: 122.3's own fix)
    assert {r["dhcp.vendor.pc.ietf_ccc.suboption"].split(",")[0] for r in replies} == {"1", "3"}, replies


def test_dhclient_on_the_served_interface_gets_a_lease(served: Served) -> None:
    """`--address 192.0.2.1 --interface`: dhclient's broadcasts reach a server whose services
    listen on the unicast address."""
    require("dhclient")
    served.serve("--address", "192.0.2.1", "--interface", served.link.sdev)
    tshark, pcap = served.capture()
    conf = served.tmp / "dhclient.conf"
    conf.write_text(f'send vendor-class-identifier "{CM_VENDOR}";\n')
    out = run("ip", "netns", "exec", served.link.cli, "dhclient", "-4", "-v", "-1", "-sf", "/bin/true",
              "-cf", str(conf), "-lf", str(served.tmp / "dhclient.leases"), "-pf", str(served.tmp / "dhclient.pid"),
              served.link.cdev, check=False)
    text = out.stdout + out.stderr
    assert re.search(r"bound to 192\.0\.2\.\d+", text), text
    replies = served.replies(tshark, pcap, 1)
    assert [r["dhcp.option.dhcp"] for r in replies] == ["2", "5"], replies
    assert all(r["dhcp.option.dhcp_server_id"] == "192.0.2.1" == r["ip.src"] for r in replies), replies
    assert [c.get("1") for c in served.ccc_values(pcap)] == ["192.0.2.1"] * 2


def test_address_with_host_bits_serves_its_interfaces_subnet(served16: Served) -> None:
    """`--address 10.77.0.1` where the interface holds 10.77.0.1/16: a relayed request gets
    an address of 10.77.0.0/16 with its mask (today: a start-up crash on "10.77.0.1/24")."""
    link = served16.link
    served16.serve("--address", "10.77.0.1")
    run("ip", "-n", link.cli, "addr", "add", "10.77.3.2/16", "dev", link.cdev)
    out = run("ip", "netns", "exec", link.cli, sys.executable, "-c", RELAY, str(ROOT), "10.77.3.2", "10.77.0.1",
              check=False)
    kind, yiaddr, source, sid, mask = out.stdout.split() or ["?"] * 5
    assert (kind, source, sid, mask) == ("2", "10.77.0.1", IPv4Address("10.77.0.1").packed.hex(), "ffff0000"), \
        out.stdout + out.stderr
    assert IPv4Address(yiaddr) in IPv4Network("10.77.0.0/16") and yiaddr != "10.77.0.1"


def test_wildcard_address_without_interface_is_refused_not_advertised(served16: Served) -> None:
    """0.0.0.0 alone would be sent as server id and next server: refused at start-up."""
    settings = served16.tmp / "serve.toml"
    settings.write_text(SETTINGS)
    out = run("ip", "netns", "exec", served16.link.srv, "timeout", "20", sys.executable, "-m", "pktcable", "serve",
              "--config", str(settings), "--memory", "--address", "0.0.0.0", check=False)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].endswith("address: 0.0.0.0 needs interface, whose address the "
                                                        "devices are told"), out.stderr
