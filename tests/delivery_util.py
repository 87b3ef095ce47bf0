"""Helpers for the delivery tests: an event loop in a thread, a raw TFTP client, real peers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pktcable.delivery.tftp import Data, Error, Opcode, OptionAck, decode, encode_ack, encode_request

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread, so blocking clients can run in the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        async def call() -> Any:
            return fn(*args)

        return self.run(call())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.close()


class TftpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(f"error {code}: {message}")


def tftp_get(server: tuple[str, int], name: str, options: dict[str, str] | None = None, timeout: float = 5.0,
             sock: socket.socket | None = None) -> bytes:
    """A minimal, strict RFC 1350/2347 reading client (lock-step, no retransmission)."""
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        request = encode_request(Opcode.RRQ, name, "octet", options)
        s.sendto(request, server)
        blksize = int((options or {}).get("blksize", 512))
        out = bytearray()
        expected = 1
        tid = None
        while True:
            if tid is None:
                data, addr = _first_answer(s, request, server, timeout)
            else:
                data, addr = s.recvfrom(70000)
            if tid is None:
                assert addr[0] == server[0], f"answer from {addr[0]}, asked {server[0]}"
                tid = addr
            assert addr == tid, "packet from a second TID"
            packet = decode(data)
            if isinstance(packet, Error):
                raise TftpError(packet.code, packet.message)
            if isinstance(packet, OptionAck):
                blksize = int(dict(packet.options).get("blksize", blksize))
                s.sendto(encode_ack(0), tid)
                continue
            assert isinstance(packet, Data)
            assert packet.block == expected & 0xFFFF
            out += packet.payload
            s.sendto(encode_ack(packet.block), tid)
            expected += 1
            if len(packet.payload) < blksize:
                return bytes(out)
    finally:
        if own:
            s.close()


def _first_answer(s: socket.socket, request: bytes, server: tuple[str, int], timeout: float) -> tuple[bytes, Any]:
    # Like real clients, repeat the RRQ a few times: a request can be dropped in a burst.
    s.settimeout(timeout / 4)
    try:
        for _ in range(3):
            try:
                return s.recvfrom(70000)
            except TimeoutError:
                s.sendto(request, server)
        return s.recvfrom(70000)
    finally:
        s.settimeout(timeout)
