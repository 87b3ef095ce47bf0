"""asyncio transport for :class:`DhcpServer`: a UDP socket, a reader, a timer.

Reading drains the socket (up to ``READ_BATCH`` datagrams per wake-up) into
the :class:`~pktcable.dhcpd.intake.Intake`, which decides what is served first
and what is shed under overload. Serving takes up to ``BATCH`` datagrams from
it, then the core commits the leases of the whole batch at once and only then
are the replies sent: one durable write per burst instead of one per ACK. A
backlog is served in further rounds, each after the socket was read again, so
a REQUEST that arrives during a storm of DISCOVERs overtakes them. Nothing a
client sends can raise out of here: the core counts and drops bad input, and
anything unexpected is counted as ``internal-errors`` and the loop goes on.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import socket
import struct
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from ipaddress import IPv4Address, IPv4Interface

from .events import Event
from .intake import Intake
from .server import LIMITED_BROADCAST, DhcpServer, Reply

#: Datagrams served per round: one commit covers them, then the socket is read again. Longer
#: rounds would pay the durable commit less often, but the kernel's queue (first come, first
#: served, tail drop) fills meanwhile and drops REQUESTs with the DISCOVERs: measured worse.
BATCH = 128
#: Datagrams read per wake-up: reading is cheap next to serving, so the intake, not the
#: kernel's first-come queue, sees the backlog and chooses.
READ_BATCH = 1024
SIOCSARP = 0x8955  # linux/sockios.h
ATF_COM = 0x02  # completed entry (linux/if_arp.h)
SIOCGIFADDR = 0x8915  # linux/sockios.h: an interface's primary IPv4 address
SIOCGIFNETMASK = 0x891B
IFNAMSIZ = 16  # linux/if.h, with the terminating NUL
#: Where struct ifreq keeps sin_addr: the 16-octet name, then sin_family and sin_port.
_IFREQ_ADDR = slice(IFNAMSIZ + 4, IFNAMSIZ + 8)
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)  # asm-generic/socket.h
#: The first of SO_MEMINFO's u32 fields, SK_MEMINFO_RMEM_ALLOC (linux/sock_diag.h): the receive queue.
_MEMINFO = struct.Struct("=I")


def interface_address(name: str) -> IPv4Interface:
    """The primary IPv4 address and prefix of network interface ``name``.

    Raises OSError: ENODEV when there is no such interface, EADDRNOTAVAIL when
    it has no IPv4 address (both with the interface named in the message)."""
    raw = name.encode()
    if not raw or len(raw) >= IFNAMSIZ or b"/" in raw or b"\0" in raw:
        raise OSError(errno.EINVAL, f"{name!r} is not an interface name")
    req = raw.ljust(IFNAMSIZ + 16, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            address = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, req)[_IFREQ_ADDR]
            mask = fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, req)[_IFREQ_ADDR]
        except OSError as exc:
            why = "no such interface" if exc.errno == errno.ENODEV else \
                "no IPv4 address" if exc.errno == errno.EADDRNOTAVAIL else (exc.strerror or str(exc)).lower()
            raise OSError(exc.errno, f"interface {name}: {why}") from None
    return IPv4Interface(f"{socket.inet_ntoa(address)}/{socket.inet_ntoa(mask)}")


def local_interfaces() -> dict[str, IPv4Interface]:
    """Each interface of this host that has an IPv4 address, with its primary address."""
    out: dict[str, IPv4Interface] = {}
    for _, name in socket.if_nameindex():
        try:
            out[name] = interface_address(name)
        except OSError:  # down, gone meanwhile, or IPv6 only
            continue
    return out


def open_socket(host: str, port: int, interface: str | None = None) -> socket.socket:
    """The server's UDP socket. With ``interface``, bind the wildcard address
    (a DISCOVER from a client without an address goes to 255.255.255.255, which
    only a socket on 0.0.0.0 receives) tied to that interface (SO_BINDTODEVICE),
    so the link's broadcasts are read from it alone and broadcast replies leave
    through it; relayed requests that reach the host over it are served too."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        if interface:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            except OSError as exc:
                why = "no such interface" if exc.errno == errno.ENODEV else (exc.strerror or str(exc)).lower()
                raise OSError(exc.errno, f"interface {interface}: {why}") from None
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class DhcpTransport:
    def __init__(self, server: DhcpServer, sock: socket.socket, *, interface: str | None = None,
                 link: IPv4Address | None = None, clock=time.time,  # type: ignore[no-untyped-def]
                 on_event: Callable[[Event], None] | None = None,
                 on_events: Callable[[list[Event]], None] | None = None,
                 round: Callable[[list[Event]], AbstractContextManager[None]] | None = None) -> None:
        self.server, self.sock, self.interface, self.link = server, sock, interface, link
        #: Gets every event of the core (leases bound, released ...), after the replies left.
        self.on_event = on_event
        #: Gets each round's events together, after the leases are durable and BEFORE the replies
        #: leave: a process that mirrors the leases (the serve DHCP worker) tells them first, so a
        #: device cannot reach the mirror's reader ahead of its own lease.
        self.on_events = on_events
        #: Opens around each round's ``on_event`` calls, given the events first: the embedder
        #: looks up what they all need in one go (the device rows of a round's bindings).
        self.round = round
        self.clock = clock
        #: What overload sheds is counted with the core's drops (``shed-<reason>``).
        self.intake = Intake(server.server_id.packed, drops=server.drops)
        self.loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._serving: asyncio.Handle | None = None
        self.loop.add_reader(sock.fileno(), self._readable)
        self._arm()

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        if self._timer is not None:
            self._timer.cancel()
        if self._serving is not None:
            self._serving.cancel()
        self.sock.close()

    def queued(self) -> int | None:
        """Bytes the datagrams waiting in the socket's receive queue take (Linux
        SO_MEMINFO, read at scrape time: a boot storm shows here before it shows as
        drops); None where the kernel does not say."""
        try:
            info = self.sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size)
        except OSError:
            return None
        return _MEMINFO.unpack_from(info)[0]

    def _readable(self) -> None:
        server, recv, push = self.server, self.sock.recvfrom, self.intake.push
        now = self.clock()
        for _ in range(READ_BATCH):
            try:
                data, addr = recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                server.metrics["receive-errors"] += 1
                break
            try:
                push(data, addr, now)
            except Exception:  # a bug must cost one datagram, never the server
                server.metrics["internal-errors"] += 1
        if self._serving is None and len(self.intake):
            self._serve()

    def _serve(self) -> None:
        """One round: up to ``BATCH`` datagrams from the intake, one commit, the replies, the events."""
        self._serving = None
        server, now = self.server, self.clock()
        for data, addr in self.intake.take(now, BATCH):
            try:
                server.receive(data, addr, now, self.link)
            except Exception:  # a bug must cost one datagram, never the server
                server.metrics["internal-errors"] += 1
        replies = server.datagrams_to_send()
        if self.on_events is not None:
            batch: list[Event] = []
            while (event := server.next_event()) is not None:
                batch.append(event)
            try:
                self.on_events(batch)
            except Exception:  # an embedder's bug must cost one round's events, never the server
                server.metrics["internal-errors"] += 1
        self._send(replies)
        events: list[Event] = []
        while (event := server.next_event()) is not None:
            events.append(event)
        if events and self.on_event is not None:
            try:
                told = self.round(events) if self.round is not None else nullcontext()
            except Exception:  # an embedder's bug must cost one round's look-up, never the server
                server.metrics["internal-errors"] += 1
                told = nullcontext()
            with told:
                for event in events:
                    try:
                        self.on_event(event)
                    except Exception:  # an embedder's bug must cost one event, never the server
                        server.metrics["internal-errors"] += 1
        if len(self.intake):  # the rest after the socket was read again
            self._serving = self.loop.call_soon(self._serve)

    def _send(self, replies: list[Reply]) -> None:
        for reply in replies:
            addr = reply.addr
            if reply.mac is not None and not self._arp(addr[0], reply.mac):
                addr = (LIMITED_BROADCAST, addr[1])
            try:
                self.sock.sendto(reply.data, addr)
            except OSError:
                self.server.metrics["send-errors"] += 1

    def _arp(self, address: str, mac: bytes) -> bool:
        """Unicast to a client without an address needs its MAC in the ARP cache (RFC 2131 §4.1)."""
        if not self.interface or len(mac) != 6:
            return False
        pa = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", 0, socket.inet_aton(address))
        ha = struct.pack("=H6s8x", 1, mac)  # ARPHRD_ETHER
        req = pa + ha + struct.pack("=i", ATF_COM) + bytes(16) + self.interface.encode().ljust(16, b"\0")
        try:
            fcntl.ioctl(self.sock.fileno(), SIOCSARP, req)
            return True
        except OSError:
            return False

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.server.handle_timer(self.clock())
        while self.server.next_event() is not None:
            pass
        # Expiry is lazy in the engine; the timer only trims offers and reports expiries.
        self._timer = self.loop.call_later(1.0, self._arm)


async def serve(server: DhcpServer, host: str, port: int, *, interface: str | None = None,
                link: IPv4Address | None = None, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None) -> None:
    transport = DhcpTransport(server, open_socket(host, port, interface), interface=interface, link=link)
    try:
        if ready is not None:
            ready.set()
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        transport.close()
        server.store.close()
