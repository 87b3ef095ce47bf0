"""Time of Day (RFC 868): the encoding, UDP and TCP servers, and Debian's rdate as the real client."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from pktcable.delivery.tod import EPOCH_OFFSET, TodServer, decode_time, encode_time

from .delivery_util import loop_thread
from .peers import require

# 2031-05-17 12:34:56 UTC: far from the test machine's clock, so the answer is ours.
FIXED = datetime.datetime(2031, 5, 17, 12, 34, 56, tzinfo=datetime.UTC).timestamp()


def test_encoding() -> None:
    assert encode_time(0) == EPOCH_OFFSET.to_bytes(4, "big")
    assert decode_time(encode_time(FIXED)) == FIXED
    assert encode_time(FIXED + 0.9) == encode_time(FIXED)  # whole seconds
    assert encode_time((1 << 32) - EPOCH_OFFSET) == b"\0\0\0\0"  # 2036-02-07: the era wraps
    with pytest.raises(ValueError):
        decode_time(b"\0\0\0")


@pytest.fixture(scope="module")
def tod() -> Iterator[TodServer]:
    with loop_thread() as lt:
        server = TodServer("127.0.0.1", 0, clock=lambda: FIXED)
        lt.run(server.start())
        try:
            yield server
        finally:
            lt.run(server.close())


def test_tcp_and_udp(tod: TodServer) -> None:
    with socket.create_connection(tod.address, timeout=5) as s:
        answer = b""
        while chunk := s.recv(10):
            answer += chunk
    assert answer == encode_time(FIXED)  # four octets, then the server closes
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        for question in (b"", b"anything"):  # RFC 868 sends an empty datagram; any one is answered
            u.sendto(question, tod.address)
            assert u.recvfrom(10) == (encode_time(FIXED), tod.address)


@pytest.mark.parametrize("transport", [[], ["-u"]], ids=["tcp", "udp"])
def test_rdate(tod: TodServer, transport: list[str]) -> None:
    rdate = require("rdate")
    result = subprocess.run([rdate, "-p", "-4", *transport, "-o", str(tod.address[1]), "127.0.0.1"],
                            capture_output=True, text=True, timeout=30, env={**os.environ, "TZ": "UTC"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Sat May 17 12:34:56 UTC 2031"


def test_port_0_picks_again_when_the_udp_number_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """With port 0, UDP takes the number the system gave TCP; when another program holds
    that UDP port (seen in CI: a busy machine's simulators), serve picks again instead of
    failing to start."""
    import asyncio

    from pktcable.delivery import tod as tod_module

    for _ in range(100):  # a number whose UDP port we hold while its TCP port is free
        held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind(("127.0.0.1", taken))
                break
            except OSError:
                held.close()
    real = asyncio.start_server
    calls: list[int] = []

    async def first_on_the_taken_number(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[2])
        if len(calls) == 1:
            args = (*args[:2], taken)  # the system "picked" the number whose UDP port is held
        return await real(*args, **kwargs)

    monkeypatch.setattr(tod_module.asyncio, "start_server", first_on_the_taken_number)
    try:
        with loop_thread() as lt:
            server = TodServer("127.0.0.1", 0, clock=lambda: FIXED)
            lt.run(server.start())
            try:
                assert len(calls) == 2 and server.address[1] != taken
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.settimeout(5)
                    u.sendto(b"", server.address)
                    assert u.recvfrom(10)[0] == encode_time(FIXED)
            finally:
                lt.run(server.close())
        # A port that was asked for is not changed behind the operator's back.
        with loop_thread() as lt:
            fixed = TodServer("127.0.0.1", taken, clock=lambda: FIXED)
            with pytest.raises(OSError):
                lt.run(fixed.start())
    finally:
        held.close()
