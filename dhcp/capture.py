"""DHCP datagrams out of a packet capture (classic pcap or pcapng), from bytes.

For ``pktcable dhcp decode FILE``: the caller reads the file; this walks its
records and yields each UDP/IPv4 payload with its addresses. Link types are
the ones a capture of a DHCP exchange on Linux has: Ethernet (``lo`` too,
with 802.1Q tags), Linux cooked v1/v2 (``any``), BSD loopback and raw IPv4.
Anything else is a typed error naming the link type; a truncated record is
an error with its offset, never silently skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address

from .errors import DhcpDecodeError

#: Classic pcap magic numbers as read little-endian: (byte order, nanosecond stamps).
PCAP_MAGIC = {0xA1B2C3D4: "<", 0xD4C3B2A1: ">", 0xA1B23C4D: "<", 0x4D3CB2A1: ">"}
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER = 0x1A2B3C4D
PCAPNG_IDB, PCAPNG_SPB, PCAPNG_EPB, PCAPNG_OLD_PB = 1, 3, 6, 2

#: LINKTYPE_* values (tcpdump.org link-layer header types) read here.
ETHERNET, NULL, RAW, LOOP, LINUX_SLL, IPV4, LINUX_SLL2 = 1, 0, 101, 108, 113, 228, 276
LINK_NAMES = {ETHERNET: "Ethernet", NULL: "BSD loopback", RAW: "raw IP", LOOP: "OpenBSD loopback",
              LINUX_SLL: "Linux cooked", IPV4: "raw IPv4", LINUX_SLL2: "Linux cooked v2"}
ETHERTYPE_IPV4, ETHERTYPE_VLAN = 0x0800, (0x8100, 0x88A8)
UDP = 17


@dataclass(frozen=True, slots=True)
class Datagram:
    #: 1-based record number, as tshark numbers frames.
    frame: int
    src: tuple[IPv4Address, int]
    dst: tuple[IPv4Address, int]
    payload: bytes


def is_capture(data: bytes) -> bool:
    if len(data) < 4:
        return False
    word = struct.unpack("<I", data[:4])[0]
    return word in PCAP_MAGIC or word == PCAPNG_SHB


def datagrams(data: bytes) -> Iterator[Datagram]:
    """Every UDP/IPv4 datagram of a pcap or pcapng capture (other frames are not UDP: skipped)."""
    frames = _pcapng(data) if struct.unpack("<I", data[:4])[0] == PCAPNG_SHB else _pcap(data)
    for number, link, frame in frames:
        found = _udp(link, frame, number)
        if found is not None:
            yield found


def _pcap(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    if len(data) < 24:
        raise DhcpDecodeError("pcap file header is 24 bytes; the file is shorter", offset=0)
    order = PCAP_MAGIC[struct.unpack("<I", data[:4])[0]]
    link = struct.unpack(order + "I", data[20:24])[0] & 0x0FFFFFFF  # high bits: FCS length flags
    pos, number = 24, 0
    while pos < len(data):
        if pos + 16 > len(data):
            raise DhcpDecodeError("truncated pcap record header", offset=pos)
        incl = struct.unpack(order + "I", data[pos + 8:pos + 12])[0]
        if pos + 16 + incl > len(data):
            raise DhcpDecodeError(f"pcap record of {incl} bytes runs past the end of the file", offset=pos)
        number += 1
        yield number, link, data[pos + 16:pos + 16 + incl]
        pos += 16 + incl


def _pcapng(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    links: list[int] = []
    order, pos, number = "<", 0, 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise DhcpDecodeError("truncated pcapng block header", offset=pos)
        if struct.unpack("<I", data[pos:pos + 4])[0] == PCAPNG_SHB:
            magic = data[pos + 8:pos + 12]
            order = "<" if struct.unpack("<I", magic)[0] == PCAPNG_BYTE_ORDER else ">"
            if struct.unpack(order + "I", magic)[0] != PCAPNG_BYTE_ORDER:
                raise DhcpDecodeError("pcapng section header has no byte-order magic", offset=pos + 8)
            links = []  # interface ids count per section
        kind, length = struct.unpack(order + "II", data[pos:pos + 8])
        if length < 12 or length % 4 or pos + length > len(data):
            raise DhcpDecodeError(f"pcapng block of length {length} is malformed or runs past the end", offset=pos)
        body = data[pos + 8:pos + length - 4]
        if kind == PCAPNG_IDB:
            links.append(struct.unpack(order + "H", body[:2])[0])
        elif kind in (PCAPNG_EPB, PCAPNG_OLD_PB):
            iface = struct.unpack(order + ("I" if kind == PCAPNG_EPB else "H"), body[:4 if kind == PCAPNG_EPB else 2])[0]
            captured = struct.unpack(order + "I", body[12:16])[0]
            if iface >= len(links) or 20 + captured > len(body):
                raise DhcpDecodeError("pcapng packet block names no interface or runs past its block", offset=pos)
            number += 1
            yield number, links[iface], body[20:20 + captured]
        elif kind == PCAPNG_SPB:
            if not links:
                raise DhcpDecodeError("pcapng simple packet block before any interface", offset=pos)
            number += 1
            yield number, links[0], body[4:]  # trailing padding is harmless: IP says its length
        pos += length


def _udp(link: int, frame: bytes, number: int) -> Datagram | None:
    if link == ETHERNET:
        ethertype, pos = _u16(frame, 12), 14
        while ethertype in ETHERTYPE_VLAN:
            ethertype, pos = _u16(frame, pos + 2), pos + 4
    elif link == LINUX_SLL:
        ethertype, pos = _u16(frame, 14), 16
    elif link == LINUX_SLL2:
        ethertype, pos = _u16(frame, 0), 20
    elif link in (NULL, LOOP):
        family = frame[:4]
        ethertype, pos = (ETHERTYPE_IPV4 if family in (b"\x02\0\0\0", b"\0\0\0\x02") else -1), 4
    elif link in (RAW, IPV4):
        ethertype, pos = ETHERTYPE_IPV4, 0
    else:
        raise DhcpDecodeError(f"frame {number}: link type {link} is not read here (only "
                              + ", ".join(LINK_NAMES.values()) + ")", offset=0)
    if ethertype != ETHERTYPE_IPV4 or len(frame) < pos + 20 or frame[pos] >> 4 != 4:
        return None
    ihl, total = (frame[pos] & 0x0F) * 4, _u16(frame, pos + 2)
    if frame[pos + 9] != UDP or _u16(frame, pos + 6) & 0x3FFF:  # not UDP, or a fragment
        return None
    udp = pos + ihl
    end = min(len(frame), pos + total)
    if ihl < 20 or udp + 8 > end:
        raise DhcpDecodeError(f"frame {number}: IPv4/UDP header runs past the captured bytes", offset=udp)
    length = _u16(frame, udp + 4)
    if length < 8 or udp + length > end:
        raise DhcpDecodeError(f"frame {number}: UDP length {length} does not fit the frame "
                              "(captured with a short snap length?)", offset=udp)
    src, dst = IPv4Address(frame[pos + 12:pos + 16]), IPv4Address(frame[pos + 16:pos + 20])
    return Datagram(number, (src, _u16(frame, udp)), (dst, _u16(frame, udp + 2)), frame[udp + 8:udp + length])


def _u16(data: bytes, pos: int) -> int:
    if pos + 2 > len(data):
        return -1
    return int.from_bytes(data[pos:pos + 2], "big")
