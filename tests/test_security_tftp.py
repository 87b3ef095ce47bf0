"""TFTP under attack from the cable network: pinned sessions, a host filling the table,
per-session copies of a file, a second server taking the port. Real sockets on loopback;
every 127.x.y.z address is a distinct host for the server."""

from __future__ import annotations

import asyncio
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pktcable.delivery.resolvers import MemoryResolver
from pktcable.delivery.tftp import (
    Data,
    Error,
    ErrorCode,
    Opcode,
    OptionAck,
    ReadTransfer,
    Request,
    TransferFailed,
    decode,
    encode_ack,
    encode_request,
)
from pktcable.delivery.tftp_aio import TftpServer
from pktcable.dhcpd.transport import open_socket
from pktcable.simulate.net import tftp_get as device_get

from .delivery_util import LoopThread, loop_thread, tftp_get
from .peers import require

ROOT = Path(__file__).resolve().parent.parent
ATTACKER = "127.66.0.1"


@pytest.fixture
def lt() -> Iterator[LoopThread]:
    with loop_thread() as lt:
        yield lt


def wait_for(condition, limit: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def udp(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(10)
    return s


@contextmanager
def deliver(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`pktcable deliver` in its own process on a free port; yields it and its TFTP port."""
    proc = subprocess.Popen([sys.executable, "-m", "pktcable", "deliver", "--tftp-port", "0", *args],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("tftp on"), line
        yield proc, int(line.rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss(pid: int) -> int:
    """Resident set of a process, in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# --- one host cannot pin sessions or fill the table --------------------------------------------------------------


FLOOD = 4200
EMTAS = 200
HPA_CLIENTS = 10


def emta_files(root: Path) -> dict[str, bytes]:
    files = {f"mta-{i:03d}.cfg": os.urandom(2000 + i * 7) for i in range(EMTAS + HPA_CLIENTS)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def test_rrq_flood_from_one_host_does_not_stop_emtas_downloading(tmp_path: Path) -> None:
    """4,200 RRQs from one address (one source port each), asking for the longest timeout and
    never ACKed, then 200 eMTAs on their own addresses and a few real tftp-hpa clients: all of
    them get their files, and the flooding host holds no more than its 32 sessions."""
    hpa = require("tftp")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < FLOOD + 1000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, FLOOD + 2000), hard))
    root = tmp_path / "root"
    root.mkdir()
    files = emta_files(root)
    flood: list[socket.socket] = []
    with deliver("--root", str(root)) as (_, port):
        server = ("127.0.0.1", port)
        try:
            for i in range(FLOOD):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((ATTACKER, 0))
                s.setblocking(False)
                flood.append(s)
                s.sendto(encode_request(Opcode.RRQ, f"mta-{i % EMTAS:03d}.cfg", "octet", {"timeout": "255"}), server)

            async def emtas() -> list[bytes | BaseException]:
                async def one(i: int) -> bytes:
                    return await device_get(server, f"mta-{i:03d}.cfg", local_host=f"127.100.{i // 250}.{1 + i % 250}",
                                            timeout=2.0, retries=6)

                async def hpa_one(i: int) -> bytes:
                    out = tmp_path / f"hpa-{i}"
                    proc = await asyncio.create_subprocess_exec(
                        hpa, "127.0.0.1", str(port), "-m", "binary", "-c", "get", f"mta-{i:03d}.cfg", str(out),
                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
                    text, _ = await asyncio.wait_for(proc.communicate(), 120)
                    if not out.exists():
                        raise AssertionError(f"tftp-hpa: {text.decode(errors='replace')}")
                    return out.read_bytes()

                jobs = [one(i) for i in range(EMTAS)] + [hpa_one(EMTAS + i) for i in range(HPA_CLIENTS)]
                return await asyncio.gather(*jobs, return_exceptions=True)

            results = asyncio.run(emtas())
            failed = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
            assert not failed, f"{len(failed)} devices failed, first: {failed[:3]}"
            for i, data in enumerate(results):
                assert data == files[f"mta-{i:03d}.cfg"], i
            # The flood did reach the server: a bounded share was served, the rest refused.
            served, refused = flood_answers(flood)
            assert served == 32, (served, refused)
            assert refused >= FLOOD - 32 - 200, (served, refused)  # a few may be lost in the burst
        finally:
            for s in flood:
                s.close()


def flood_answers(sockets: list[socket.socket]) -> tuple[int, int]:
    """(sessions opened, refusals) as the flooding sockets saw them: the first packet each got."""
    served = refused = 0
    with selectors.DefaultSelector() as sel:
        for s in sockets:
            sel.register(s, selectors.EVENT_READ)
        pending = len(sockets)
        deadline = time.monotonic() + 5
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                packet = decode(s.recv(70000))
                sel.unregister(s)
                pending -= 1
                if isinstance(packet, Error):
                    assert packet.code == ErrorCode.NOT_DEFINED and "too many" in packet.message
                    refused += 1
                else:
                    assert isinstance(packet, Data | OptionAck)
                    served += 1
    return served, refused


def test_one_host_cannot_hold_more_than_its_share_of_sessions(lt: LoopThread) -> None:
    server = TftpServer(MemoryResolver({"cm.cfg": b"c" * 4000}), "127.0.0.1", 0)  # the defaults
    lt.run(server.start())
    hog = [udp(ATTACKER) for _ in range(40)]
    try:
        answers = []
        for s in hog:
            s.sendto(encode_request(Opcode.RRQ, "cm.cfg"), server.address)
            answers.append(decode(s.recv(600)))
        errors = [a for a in answers if isinstance(a, Error)]
        assert len(errors) == 8 and all(e.code == ErrorCode.NOT_DEFINED for e in errors)
        assert server.stats.refused["per-client"] == 8 and server.active == 32
        assert tftp_get(server.address, "cm.cfg") == b"c" * 4000  # another host is served at once
    finally:
        for s in hog:
            s.close()
        lt.call(server.close)


def test_long_timeout_option_cannot_pin_a_session(lt: LoopThread) -> None:
    """A client asks for RFC 2349's largest timeout (255 s) and never ACKs: the option is
    refused (left out of the OACK) and the session ends on the server's own timer."""
    server = TftpServer(MemoryResolver({"cm.cfg": b"c" * 4000}), "127.0.0.1", 0)
    lt.run(server.start())
    s = udp(ATTACKER)
    try:
        s.sendto(encode_request(Opcode.RRQ, "cm.cfg", "octet", {"timeout": "255", "blksize": "1024"}), server.address)
        first = decode(s.recv(600))
        assert isinstance(first, OptionAck) and dict(first.options) == {"blksize": "1024"}
        assert lt.call(lambda: server.active) == 1
        started = time.monotonic()
        wait_for(lambda: server.active == 0, 30)  # default: 1 s timeout, 5 retransmissions
        assert time.monotonic() - started < 20
        assert server.stats.failed == 1
    finally:
        s.close()
        lt.call(server.close)


def test_slow_drip_client_cannot_keep_a_session_past_its_lifetime() -> None:
    """A client that ACKs each 8-octet block just before the timer fires would hold a
    session for hours; the default lifetime bound (60 s) ends it."""
    peer = ("127.66.0.1", 4000)
    request = Request(Opcode.RRQ, "fw.bin", "octet", (("blksize", "8"), ("timeout", "5")))
    transfer = ReadTransfer(peer, request, b"f" * 100_000, 0.0)
    now, acked = 0.0, 0
    for packet, _ in transfer.datagrams_to_send():
        assert isinstance(decode(packet), OptionAck)
    while not transfer.done and now < 10_000:
        now += 4.9
        transfer.handle_timer(now)
        transfer.receive_datagram(encode_ack(acked & 0xFFFF), peer, now)
        acked += 1
        transfer.datagrams_to_send()
    assert isinstance(transfer.result, TransferFailed) and "too long" in transfer.result.reason
    assert now <= 60 + 4.9


# --- netascii does not copy the file per session -----------------------------------------------------------------

BIG = 33 << 20
#: What 100 silent netascii sessions may add to the server process (a copy of the file is 33 MB).
NETASCII_BOUND = 8 << 20


def test_netascii_rrqs_do_not_copy_a_big_file(tmp_path: Path) -> None:
    """100 netascii RRQs for a 33 MB file, from 100 hosts, never ACKed: the server's resident
    set grows by less than NETASCII_BOUND (one converted copy per session would be 3.3 GB)."""
    root = tmp_path / "root"
    root.mkdir()
    line = b"SnmpMibObject sysContact.0 String x\r\n" + os.urandom(60) + b"\n"
    (root / "fw.txt").write_bytes((line * (BIG // len(line) + 1))[:BIG])
    with deliver("--root", str(root), "--timeout", "30") as (proc, port):  # silent sessions outlive the test
        server = ("127.0.0.1", port)
        warm = udp()
        warm.sendto(encode_request(Opcode.RRQ, "fw.txt"), server)  # loads the file into the resolver's cache
        assert isinstance(decode(warm.recv(600)), Data)
        before = rss(proc.pid)
        clients = []
        try:
            for i in range(100):
                s = udp(f"127.77.0.{1 + i}")
                clients.append(s)
                options = {"tsize": "0"} if i % 2 else {}
                s.sendto(encode_request(Opcode.RRQ, "fw.txt", "netascii", options), server)
                first = decode(s.recv(600))
                assert isinstance(first, Data | OptionAck), first
                if isinstance(first, OptionAck):
                    assert int(dict(first.options)["tsize"]) > BIG  # the netascii size, counted
                if i % 10 == 9:
                    grown = rss(proc.pid) - before
                    assert grown < NETASCII_BOUND, f"{i + 1} sessions grew the server by {grown >> 20} MB"
        finally:
            warm.close()
            for s in clients:
                s.close()


# --- a second server cannot share the port -----------------------------------------------------------------------


def test_second_deliver_on_a_taken_port_fails_naming_it(tmp_path: Path) -> None:
    """Without SO_REUSEADDR, a second server on the same UDP port (or a rogue one started
    first) cannot silently take a share of the RRQs: it exits 6 with one line naming the port."""
    with deliver("--root", str(tmp_path)) as (_, port):
        second = subprocess.Popen([sys.executable, "-m", "pktcable", "deliver", "--root", str(tmp_path),
                                   "--tftp-port", str(port)], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            _, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            _, err = second.communicate()
            pytest.fail(f"a second server started on port {port}: {err}")
        assert second.returncode == 6, err
        lines = err.strip().splitlines()
        assert lines == [f"pktcable: cannot listen: tftp 127.0.0.1:{port}: address already in use"], err


def test_serve_on_a_taken_tftp_port_fails_naming_it(tmp_path: Path) -> None:
    with deliver("--root", str(tmp_path)) as (_, port):
        config = tmp_path / "serve.toml"
        config.write_text(f"dhcp_port = 0\ntftp_port = {port}\nhttp_port = 0\ntod_port = 0\nsnmp_port = 0\n"
                          'api_port = 0\ncm_key = "test-cmts-secret"\n')
        result = subprocess.run([sys.executable, "-m", "pktcable", "serve", "--memory", "--config", str(config)],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                timeout=60)
        assert result.returncode == 6, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"pktcable: cannot listen: tftp 127.0.0.1:{port}: address already in use"], result.stderr


def test_second_dhcp_socket_on_a_taken_port_fails() -> None:
    first = open_socket("127.0.0.1", 0)
    try:
        with pytest.raises(OSError) as err:
            open_socket("127.0.0.1", first.getsockname()[1]).close()
        assert err.value.errno == 98  # EADDRINUSE
    finally:
        first.close()


@pytest.mark.parametrize("service", ["snmp", "dhcp", "tod", "api"])
def test_serve_on_a_port_another_server_holds_fails_naming_the_service(tmp_path: Path, service: str) -> None:
    kind = socket.SOCK_STREAM if service == "api" else socket.SOCK_DGRAM
    holder = socket.socket(socket.AF_INET, kind)
    holder.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        holder.listen()
    port = holder.getsockname()[1]
    try:
        ports = {"dhcp_port": 0, "tftp_port": 0, "http_port": 0, "tod_port": 0, "snmp_port": 0, "api_port": 0}
        ports[f"{service}_port"] = port
        config = tmp_path / "serve.toml"
        config.write_text("".join(f"{k} = {v}\n" for k, v in ports.items()) + 'cm_key = "test-cmts-secret"\n')
        result = subprocess.run([sys.executable, "-m", "pktcable", "serve", "--memory", "--config", str(config)],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                timeout=60)
    finally:
        holder.close()
    assert result.returncode == 6, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"pktcable: cannot listen: {service} 127.0.0.1:{port}: address already in use"], result.stderr


def test_serve_settings_bound_what_one_tftp_client_may_hold(tmp_path: Path) -> None:
    from pktcable.serve.app import Backoffice
    from pktcable.serve.config import load

    config = tmp_path / "serve.toml"
    config.write_text('cm_key = "test-cmts-secret"\ntftp_max_per_client = 4\ntftp_max_timeout = 2\n'
                      "tftp_max_duration = 30\n")
    office = Backoffice(load(config))
    try:
        assert office.tftp.max_sessions_per_client == 4
        assert office.tftp.config.max_timeout_option == 2 and office.tftp.config.max_duration == 30
    finally:
        asyncio.run(office.close())
    for line in ("tftp_max_per_client = -1", "tftp_max_timeout = 0", "tftp_max_timeout = 2.5",
                 "tftp_max_duration = true"):
        config.write_text(line + "\n")
        result = subprocess.run([sys.executable, "-m", "pktcable", "serve", "--memory", "--config", str(config)],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                timeout=60)
        assert result.returncode == 2, result.stderr
        (message,) = result.stderr.strip().splitlines()
        assert line.split(" =")[0] in message, message
