"""The asyncio key-management endpoints on real loopback sockets: an exchange each way
(MTA-initiated, and after the server's Wake Up), and the limits on what the server
takes: oversized datagrams and sources over their rate are dropped unanswered."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time

import pytest

from pktcable.secure import kmcodec as km
from pktcable.secure.km import KmBackoff, KmClient, KmServer
from pktcable.secure.kmaio import KmFailed, SourceLimiter, establish, serve
from pktcable.secure.kmkeys import derive_key

from .kmhelpers import CLIENT, SERVICE, issue, lookup
from .peers import require
from .ports import free_port

APP = km.SnmpAppData(bytes.fromhex("8000118b030010180a0b0c"), 1, 5, "MTA-Prov-00:10:18:0a:0b:0c")
#: Seconds for a loopback exchange on a loaded 2-core machine.
BUDGET = 30.0


def _setup(**client: object) -> tuple[KmServer, KmClient]:
    issued = issue(now=time.time())
    server = KmServer(SERVICE, lookup(issued), bytes.fromhex("8000118b030010180a0b01"))
    return server, KmClient(issued.ticket, issued.session_key, CLIENT, APP, **client)  # type: ignore[arg-type]


def test_mta_initiated_exchange() -> None:
    server, mta = _setup(backoff=KmBackoff(nominal=2, maximum=8, retries=4))

    async def run() -> object:
        transport, endpoint = await serve(server, "127.0.0.1", 0)
        try:
            port = transport.get_extra_info("sockname")[1]
            sa = await asyncio.wait_for(establish(mta, ("127.0.0.1", port), local=("127.0.0.1", 0)), BUDGET)
            assert endpoint.stats.established == 1 and endpoint.stats.refused == 0
            return sa
        finally:
            transport.close()
    sa = asyncio.run(run())
    assert sa is mta.sa and mta.sa is not None and mta.sa.user_name == APP.user_name


def test_server_initiated_exchange_after_wake_up() -> None:
    server, mta = _setup(solicited_timeout=BUDGET)
    mta_port = free_port()

    async def run() -> object:
        transport, endpoint = await serve(server, "127.0.0.1", 0)
        try:
            port = transport.get_extra_info("sockname")[1]
            waiting = asyncio.create_task(establish(mta, ("127.0.0.1", port), local=("127.0.0.1", mta_port),
                                                    wake_up_within=BUDGET))
            deadline = time.monotonic() + BUDGET
            while not waiting.done() and time.monotonic() < deadline:
                endpoint.wake_up(("127.0.0.1", mta_port))  # again until the MTA's socket is up
                await asyncio.wait([waiting], timeout=0.5)
            return await asyncio.wait_for(waiting, BUDGET)
        finally:
            transport.close()
    assert asyncio.run(run()) is mta.sa


def test_no_wake_up_is_a_named_failure() -> None:
    _, mta = _setup()

    async def run() -> None:
        await establish(mta, ("127.0.0.1", free_port()), local=("127.0.0.1", 0), wake_up_within=0.2)
    with pytest.raises(KmFailed) as caught:
        asyncio.run(run())
    assert caught.value.reason == "no-wake-up"


def test_server_drops_oversized_and_rate_limited_datagrams() -> None:
    server, _ = _setup()

    async def run() -> tuple[object, list[bytes]]:
        # A frozen clock: the bucket cannot refill however slowly a loaded machine delivers.
        transport, endpoint = await serve(server, "127.0.0.1", 0, limiter=SourceLimiter(rate=1, burst=3),
                                          clock=lambda: 1000.0)
        port = transport.get_extra_info("sockname")[1]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        answers: list[bytes] = []
        try:
            sock.sendto(b"\x02\x02\x10" + bytes(km.MAX_MESSAGE), ("127.0.0.1", port))
            for _ in range(10):  # malformed but small: the first 3 pass the bucket (and are refused)
                sock.sendto(b"\x02\x02\x10", ("127.0.0.1", port))
            deadline = time.monotonic() + BUDGET
            while endpoint.stats.received < 11 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            try:
                while True:
                    answers.append(sock.recv(65535))
            except BlockingIOError:
                pass
            return endpoint.stats, answers
        finally:
            sock.close()
            transport.close()
    stats, answers = asyncio.run(run())
    assert (stats.received, stats.oversized, stats.rate_limited, stats.refused) == (11, 1, 7, 3)  # type: ignore[attr-defined]
    assert answers == []  # a malformed datagram is not answered (no reflection of garbage)


def test_source_limiter_refills_and_is_bounded() -> None:
    limiter = SourceLimiter(rate=2, burst=2, max_sources=2)
    assert [limiter.allow("a", 0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("a", 0.5)  # one token back after half a second
    limiter.allow("b", 1)
    limiter.allow("c", 1)
    assert len(limiter._buckets) == 2 and "a" not in limiter._buckets


@pytest.mark.parametrize("length", [1, 20, 33, 100])
def test_derive_key_is_openssl_tls1_prf_with_sha1(length: int) -> None:
    """The key derivation is P_SHA-1 of RFC 2246: OpenSSL's TLS1-PRF with digest SHA1
    (which uses P_SHA-1 alone) is the independent implementation."""
    openssl = require("openssl")
    secret, label = bytes(range(7, 39)), b"PacketCable SNMPv3 privacy key"
    out = subprocess.run([openssl, "kdf", "-keylen", str(length), "-kdfopt", "digest:SHA1", "-kdfopt",
                          f"hexsecret:{secret.hex()}", "-kdfopt", f"hexseed:{label.hex()}", "TLS1-PRF"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert derive_key(secret, label, length) == bytes.fromhex(out.strip().replace(":", ""))
