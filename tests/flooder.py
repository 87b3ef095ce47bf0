"""A datagram flood at a steady rate, from a process of its own.

The flood tests play an attacker and real devices at once; sent from the event
loop that runs the simulated devices, the flood's bursts would hold that loop
and the devices' own datagrams would wait behind it, so the test would measure
its own process rather than the server. Started with the ``spawn`` method, this
module imports nothing of the project."""

from __future__ import annotations

import socket
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

#: Datagrams sent at most in one go when the sender fell behind its schedule.
BURST = 200


def flood(target: tuple[str, int], plan: list[tuple[str, list[bytes]]], rate: float, cap: int,
          started: Event, stop: Event, sent: Synchronized, elapsed: Synchronized) -> None:  # type: ignore[type-arg]
    """Send, ``rate`` per second, the datagrams of ``plan`` (source address, datagrams
    to send from it) in turn: the n-th datagram sent comes from source n % len(plan),
    the next of its list. Stops at ``cap`` datagrams or when ``stop`` is set; then
    ``sent`` and ``elapsed`` (seconds) say what it did."""
    senders = []
    for source, _ in plan:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        s.setblocking(False)
        senders.append(s)
    count = 0
    start = time.monotonic()
    started.set()
    try:
        while not stop.is_set() and count < cap:
            due = min(int((time.monotonic() - start) * rate), cap)
            for _ in range(min(due - count, BURST)):
                which = count % len(plan)
                datagrams = plan[which][1]
                try:
                    senders[which].sendto(datagrams[count // len(plan) % len(datagrams)], target)
                except OSError:  # a full socket buffer: the datagram is lost, as on a wire
                    pass
                count += 1
            time.sleep(0.005)
    finally:
        sent.value, elapsed.value = count, time.monotonic() - start
        for s in senders:
            s.close()
