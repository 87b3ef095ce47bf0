"""Ports for tests that must name a port before the service binds it.

Binding port 0 and reading the number back is a race: once the probing socket
closes, the kernel may hand the same ephemeral port to any other process's
``bind(0)`` or outgoing socket before the service under test binds it (seen as
"address already in use" on a busy machine running several test processes).
So the ports handed out here lie *below* the kernel's ephemeral range, where no
automatic assignment ever lands; each is probed free for UDP and TCP alike (the
ToD service takes both on one number), and none is handed out twice by one
process. Tests that can let the service bind port 0 and ask it should do that.
"""

from __future__ import annotations

import random
import socket

#: Where the kernel's automatic assignments start when /proc cannot be read (Linux's default).
DEFAULT_EPHEMERAL_START = 32768
#: The lowest port handed out: above the well-known and commonly registered services.
LOWEST = 20000

_given: set[int] = set()
_rng = random.Random()


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def _free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for UDP and TCP on ``host`` now, outside the ephemeral range."""
    top = _ephemeral_start()
    if top - LOWEST < 1000:
        raise RuntimeError(f"the ephemeral range starts at {top}: no room below it for test ports")
    for _ in range(1000):
        port = _rng.randrange(LOWEST, top)
        if port not in _given and _free(host, port):
            _given.add(port)
            return port
    raise RuntimeError("no free test port found in 1,000 tries")
