"""The test-port helper: ports no other process's bind(0) can be handed."""

from __future__ import annotations

import socket

from . import ports


def test_ports_lie_below_the_ephemeral_range_are_distinct_and_free_for_udp_and_tcp() -> None:
    start = ports._ephemeral_start()
    given = [ports.free_port() for _ in range(200)]
    assert len(set(given)) == len(given)
    assert all(ports.LOWEST <= p < start for p in given)
    for p in given[:20]:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", p))


def test_a_port_another_process_holds_is_never_handed_out() -> None:
    """Another program (or test process) holds ports in the range by UDP or by
    TCP only: neither is handed out, since ToD takes both on one number."""
    held = []
    try:
        for port in range(ports.LOWEST, ports.LOWEST + 400):
            kind = socket.SOCK_DGRAM if port % 2 else socket.SOCK_STREAM
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
        taken = {s.getsockname()[1] for s in held}
        assert not taken & {ports.free_port() for _ in range(300)}
    finally:
        for s in held:
            s.close()
