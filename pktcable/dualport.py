"""One port number for a TCP and a UDP service (RFC 868 time, a Kerberos KDC).

Asked for port 0, the system picks a free TCP port; UDP takes the same number, which may
be some other program's UDP port on a busy machine, so a few picks are tried before the
start fails. A port that was asked for is never changed: its error goes to the caller.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Any

#: Picks tried when port 0 asks the system for one.
PORT_PICKS = 20

Connected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def open_tcp_and_udp(host: str, port: int, on_connect: Connected,
                           udp_protocol: Callable[[], asyncio.DatagramProtocol], *,
                           receive_buffer: int = 0) -> tuple[asyncio.Server, asyncio.DatagramTransport, Any]:
    """A TCP server and a UDP endpoint on one port number at ``host``."""
    loop = asyncio.get_running_loop()
    for attempt in range(1 if port else PORT_PICKS):
        tcp = await asyncio.start_server(on_connect, host, port)
        number = tcp.sockets[0].getsockname()[1]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        try:
            sock.bind((host, number))
        except OSError as exc:
            sock.close()
            tcp.close()
            await tcp.wait_closed()
            if port or exc.errno != errno.EADDRINUSE or attempt == PORT_PICKS - 1:
                raise
            continue
        udp, protocol = await loop.create_datagram_endpoint(udp_protocol, sock=sock)
        return tcp, udp, protocol
    raise AssertionError("unreachable: the last pick raises")
