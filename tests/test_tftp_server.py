"""The asyncio TFTP server on loopback: transfers, refusals, hostile input, caps and timeouts."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pktcable.delivery.resolvers import ChainResolver, DirectoryResolver, MemoryResolver
from pktcable.delivery.tftp import Opcode, TransferConfig, decode, encode_ack, encode_request
from pktcable.delivery.tftp_aio import TftpServer

from .delivery_util import LoopThread, TftpError, loop_thread, tftp_get

CONFIG = TransferConfig(timeout=0.2, max_retries=2)
FILES = {"cm.cfg": os.urandom(4096), "big.bin": os.urandom(300_000), "odd.bin": os.urandom(1000)}


@pytest.fixture
def lt() -> Iterator[LoopThread]:
    with loop_thread() as lt:
        yield lt


def start(lt: LoopThread, resolver: object = None, **kwargs: object) -> TftpServer:
    server = TftpServer(resolver or MemoryResolver(FILES), "127.0.0.1", 0, config=CONFIG, **kwargs)  # type: ignore[arg-type]
    lt.run(server.start())
    return server


@pytest.fixture
def server(lt: LoopThread) -> Iterator[TftpServer]:
    server = start(lt)
    try:
        yield server
    finally:
        lt.call(server.close)


def wait_for(condition: Callable[[], bool], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    return s


def test_plain_and_negotiated_transfers(server: TftpServer) -> None:
    assert tftp_get(server.address, "cm.cfg") == FILES["cm.cfg"]
    assert tftp_get(server.address, "big.bin", {"blksize": "1468", "tsize": "0"}) == FILES["big.bin"]
    assert tftp_get(server.address, "big.bin", {"blksize": "65464"}) == FILES["big.bin"]
    wait_for(lambda: server.stats.completed == 3)


def test_tftpy_client(server: TftpServer, tmp_path: Path) -> None:
    import tftpy

    out = tmp_path / "out.bin"
    tftpy.TftpClient("127.0.0.1", server.address[1], options={"blksize": 1024}).download("big.bin", str(out))
    assert out.read_bytes() == FILES["big.bin"]


def test_refusals(server: TftpServer, tmp_path: Path) -> None:
    with pytest.raises(TftpError) as err:
        tftp_get(server.address, "missing.cfg")
    assert err.value.code == 1
    s = udp()
    s.sendto(encode_request(Opcode.WRQ, "cm.cfg"), server.address)
    assert decode(s.recv(100)).code == 2  # type: ignore[union-attr]
    s.sendto(b"\x00\x01cm.cfg", server.address)  # unterminated file name
    assert decode(s.recv(100)).code == 4  # type: ignore[union-attr]
    s.sendto(encode_request(Opcode.RRQ, "cm.cfg", "mail"), server.address)
    assert decode(s.recv(100)).code == 4  # type: ignore[union-attr]
    s.sendto(encode_ack(1), server.address)  # stray ACK on the well-known port: silence
    s.settimeout(0.3)
    with pytest.raises(TimeoutError):
        s.recv(100)
    s.close()


def test_directory_traversal_is_refused(lt: LoopThread, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "fw.bin").write_bytes(b"firmware")
    (tmp_path / "secret").write_bytes(b"secret")
    (root / "link").symlink_to(tmp_path / "secret")
    server = start(lt, DirectoryResolver(root))
    try:
        assert tftp_get(server.address, "fw.bin") == b"firmware"
        for name in ("../secret", "/etc/passwd", "link", "a/../../secret", "..\\secret"):
            with pytest.raises(TftpError) as err:
                tftp_get(server.address, name)
            assert err.value.code == 2, name
    finally:
        lt.call(server.close)


def test_hostile_traffic_does_not_disturb_a_running_transfer(server: TftpServer) -> None:
    client = udp()
    client.sendto(encode_request(Opcode.RRQ, "big.bin"), server.address)
    first, tid = client.recvfrom(600)
    assert first[:4] == b"\x00\x03\x00\x01"
    attacker = udp()
    attacker.settimeout(0.5)
    attacker.sendto(encode_ack(1), tid)  # foreign TID on the transfer's port
    assert decode(attacker.recv(100)).code == 5  # type: ignore[union-attr]
    garbage = [b"", b"\x00", b"\xff" * 700, b"\x00\x01" + b"a" * 510 + b"\x00", b"\x00\x06\x00",
               encode_request(Opcode.RRQ, "x" * 300, "octet", {"blksize": "9" * 150})]
    for data in garbage * 20:
        attacker.sendto(data, server.address)
    for _ in range(300):  # an RRQ flood from other ports, never ACKed
        attacker.sendto(encode_request(Opcode.RRQ, "cm.cfg"), server.address)
    out = bytearray(first[4:])
    block = 1
    client.sendto(encode_ack(block), tid)
    while True:
        data, addr = client.recvfrom(600)
        assert addr == tid
        if int.from_bytes(data[2:4], "big") != (block + 1) & 0xFFFF:
            continue  # a retransmission while we were flooding
        block += 1
        out += data[4:]
        client.sendto(encode_ack(block), tid)
        if len(data) < 516:
            break
    assert bytes(out) == FILES["big.bin"]
    # the server keeps serving others while the flood's sessions are open
    assert tftp_get(server.address, "cm.cfg") == FILES["cm.cfg"]
    client.close()
    attacker.close()


def test_retransmitted_rrq_does_not_start_a_second_transfer(server: TftpServer) -> None:
    s = udp()
    for _ in range(3):
        s.sendto(encode_request(Opcode.RRQ, "odd.bin"), server.address)
    data, tid = s.recvfrom(600)
    assert data[:4] == b"\x00\x03\x00\x01"
    s.settimeout(0.1)
    with pytest.raises(TimeoutError):  # no second DATA 1 from another TID before our timer
        s.recvfrom(600)
    s.sendto(encode_ack(1), tid)
    data, _ = s.recvfrom(600)
    assert data[:4] == b"\x00\x03\x00\x02"
    s.sendto(encode_ack(2), tid)
    assert server.stats.refused["duplicate"] == 2
    s.close()


def test_a_client_reusing_its_port_at_once_is_served(server: TftpServer) -> None:
    s = udp()
    for _ in range(20):  # each get ends with the final ACK, the next RRQ follows immediately
        assert tftp_get(server.address, "odd.bin", sock=s) == FILES["odd.bin"]
    s.close()


def test_session_cap_and_timeouts(lt: LoopThread) -> None:
    server = start(lt, max_sessions=5)
    hung = [udp() for _ in range(5)]
    try:
        for s in hung:
            s.sendto(encode_request(Opcode.RRQ, "cm.cfg"), server.address)
            s.recv(600)
        assert server.active == 5
        with pytest.raises(TimeoutError):  # full: silence, so the device retries later
            tftp_get(server.address, "cm.cfg", timeout=0.2)
        assert server.stats.refused["busy"] == 4  # the RRQ and its 3 repetitions
        wait_for(lambda: server.active == 0)  # 0.2 s timeout, 2 retries
        assert server.stats.failed == 5
        assert tftp_get(server.address, "cm.cfg") == FILES["cm.cfg"]
    finally:
        for s in hung:
            s.close()
        lt.call(server.close)


def test_per_client_cap(lt: LoopThread) -> None:
    server = start(lt, max_sessions_per_client=2)
    hung = [udp() for _ in range(3)]
    try:
        for s in hung:
            s.sendto(encode_request(Opcode.RRQ, "cm.cfg"), server.address)
        wait_for(lambda: server.stats.requests == 3)
        assert server.active == 2 and server.stats.refused["per-client"] == 1
    finally:
        for s in hung:
            s.close()
        lt.call(server.close)


def test_many_hung_sessions_are_cleaned_up(lt: LoopThread) -> None:
    server = start(lt)
    fds_before = len(os.listdir("/proc/self/fd"))
    hung = []
    for i in range(300):  # each from its own address: one address alone is capped at 32 sessions
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.{1 + i // 200}.{1 + i % 200}", 0))
        hung.append(s)
    try:
        for s in hung:
            s.sendto(encode_request(Opcode.RRQ, "cm.cfg"), server.address)
        assert tftp_get(server.address, "big.bin", {"blksize": "8192"}) == FILES["big.bin"]
        wait_for(lambda: server.active == 0)
    finally:
        for s in hung:
            s.close()
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 1
    lt.call(server.close)


def test_resolver_bugs_do_not_stop_the_server(lt: LoopThread) -> None:
    class Broken:
        def resolve(self, name: str, client: tuple[str, int]) -> bytes:
            raise RuntimeError("bug")

    server = start(lt, ChainResolver([Broken()]))
    try:
        with pytest.raises(TimeoutError):
            tftp_get(server.address, "cm.cfg", timeout=0.3)
        server.resolver = MemoryResolver(FILES)
        assert tftp_get(server.address, "cm.cfg") == FILES["cm.cfg"]
    finally:
        lt.call(server.close)


WILDCARD_SCRIPT = """
import asyncio, socket, subprocess, sys
sys.path[:0] = [{root!r}]
from pktcable.delivery.resolvers import MemoryResolver
from pktcable.delivery.tftp_aio import TftpServer
from tests.delivery_util import tftp_get

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
subprocess.run(["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"], check=True)

async def main():
    server = TftpServer(MemoryResolver({{"a": b"x" * 1000}}), "0.0.0.0", 0)
    await server.start()
    loop = asyncio.get_running_loop()
    for host in ("127.0.0.1", "192.0.2.1"):
        # The client's own address is 127.0.0.1: a reply from an unbound socket would
        # come from 127.0.0.1 too, whatever address the RRQ went to.
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        data = await loop.run_in_executor(None, tftp_get, (host, server.address[1]), "a", None, 5.0, client)
        assert data == b"x" * 1000, host
        client.close()
    server.close()
    print("ok")

asyncio.run(main())
"""


def test_wildcard_bind_answers_from_the_address_asked(tmp_path: Path) -> None:
    """Bound to 0.0.0.0 (inside a private network namespace), each transfer answers from the
    address its RRQ was sent to; tftp_get insists that every packet comes from one TID."""
    import subprocess
    import sys

    from .peers import require

    unshare = require("unshare", "ip", root=True)  # a network namespace needs root
    script = tmp_path / "wild.py"
    script.write_text(WILDCARD_SCRIPT.format(root=str(Path(__file__).resolve().parent.parent)))
    result = subprocess.run([unshare, "-n", sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_overload_admits_flows_under_way_and_holds_new_ones(lt: LoopThread) -> None:
    """Past the admission bound a new flow's RRQ gets silence (its client re-sends it
    and is served once transfers end); the file of a flow under way is still served."""
    from pktcable.admission import Admission, AdmissionLimits

    admission = Admission(AdmissionLimits(max_in_flight=2))
    # The hung transfers live 3 s (1 s timeout, 2 retries): ample for the checks below on a busy machine.
    server = TftpServer(MemoryResolver(FILES), "127.0.0.1", 0, config=TransferConfig(timeout=1.0, max_retries=2),
                        admission=admission, continues=lambda name: name == "odd.bin")
    lt.run(server.start())
    hung = [udp() for _ in range(2)]
    try:
        for s in hung:  # two transfers that never ACK: the bound is reached
            s.sendto(encode_request(Opcode.RRQ, "cm.cfg"), server.address)
            s.recv(600)
        assert server.active == 2
        with pytest.raises(TimeoutError):
            tftp_get(server.address, "cm.cfg", timeout=0.1)
        assert server.stats.refused["overload"] >= 1 and admission.refused["in-flight"] >= 1
        assert tftp_get(server.address, "odd.bin") == FILES["odd.bin"]  # a flow under way
        wait_for(lambda: server.active == 0, limit=15.0)  # the hung ones time out
        assert tftp_get(server.address, "cm.cfg") == FILES["cm.cfg"]
        assert admission.admitted == 3
    finally:
        for s in hung:
            s.close()
        lt.call(server.close)
