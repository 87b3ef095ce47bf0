"""Builders for DHCP test messages (clients as the tests play them)."""

from __future__ import annotations

from ipaddress import IPv4Address

from dhcp.message import BROADCAST, ZERO, Message, build_options, decode, encode, fit

# A real eMTA's option 60: a Netgear CG3000 capability string.
CG3000 = "pktc1.0:051f0101000201020901010b04060903040c01010d01010f010110010912020007"


def mac_of(n: int) -> bytes:
    return bytes.fromhex("02aa00") + n.to_bytes(3, "big")


def request(kind: int, mac: bytes, *, xid: int = 1, giaddr: str | None = None, ciaddr: str | None = None,
            flags: int = 0, options: list[tuple[int, bytes]] | None = None) -> bytes:
    msg = Message(op=1, xid=xid, flags=flags, chaddr=mac.ljust(16, b"\0"),
                  giaddr=IPv4Address(giaddr) if giaddr else ZERO, ciaddr=IPv4Address(ciaddr) if ciaddr else ZERO,
                  hops=1 if giaddr else 0)
    fit(msg, build_options([(53, bytes((kind,))), *(options or [])]))
    return encode(msg)


def relay82(remote_mac: bytes, circuit: bytes = b"\x00\x01") -> tuple[int, bytes]:
    return 82, bytes((1, len(circuit))) + circuit + bytes((2, 6)) + remote_mac


def opt60(text: str) -> tuple[int, bytes]:
    return 60, text.encode()


def parse(data: bytes) -> Message:
    return decode(data)


__all__ = ["BROADCAST", "CG3000", "mac_of", "opt60", "parse", "relay82", "request"]
