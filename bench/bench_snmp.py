"""SNMPv2c INFORM rate of the provisioning entity's endpoint.

Usage: python bench/bench_snmp.py [--seconds 10] [--window 32]

A sender process keeps ``window`` enrollment INFORMs in flight (pre-encoded,
distinct request-ids and MACs) against a receiver process that parses each as
a PacketCable notification and acknowledges it — the same work the
provisioning entity does per INFORM before it builds the file. Prints
acknowledged INFORMs per second and the receiver's CPU seconds per INFORM.
Reference (research notes): pysnmp 7 receives ~1,150 v2c INFORMs/s per process.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pktcable.snmp import message as m  # noqa: E402
from pktcable.snmp import pktc  # noqa: E402
from pktcable.snmp.aio import open_endpoint  # noqa: E402


def receiver(port_out: multiprocessing.connection.Connection, stop: multiprocessing.synchronize.Event) -> None:
    async def run() -> None:
        def handle(msg: m.Message, addr: tuple[str, int]) -> m.Message:
            pktc.parse_notification(msg.pdu.varbinds)
            return msg.response()

        ep = await open_endpoint("127.0.0.1", 0, handle)
        port_out.send(ep.address[1])
        while not stop.is_set():
            await asyncio.sleep(0.1)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        port_out.send((ep.stats.answered, usage.ru_utime + usage.ru_stime))
        ep.close()

    asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--window", type=int, default=32)
    args = ap.parse_args()
    parent, child = multiprocessing.Pipe()
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=receiver, args=(child, stop))
    proc.start()
    port = parent.recv()
    tree = pktc.Tree.CABLELABS
    packets = []
    for i in range(4096):
        note = pktc.Enrollment(tree, b"Example eMTA", b"2.4.1", b"pktc1.5:051f0101", i.to_bytes(6, "big"), i)
        packets.append(m.encode(m.Message(b"public", m.Pdu(m.PduType.INFORM, i + 1, note.varbinds(i)))))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(0.5)
    sent = acked = 0
    start = time.perf_counter()
    end = start + args.seconds
    for _ in range(args.window):
        sock.send(packets[sent % len(packets)])
        sent += 1
    while time.perf_counter() < end:
        try:
            sock.recv(2048)
        except TimeoutError:
            for _ in range(args.window):  # refill a window lost to drops
                sock.send(packets[sent % len(packets)])
                sent += 1
            continue
        acked += 1
        sock.send(packets[sent % len(packets)])
        sent += 1
    elapsed = time.perf_counter() - start
    stop.set()
    answered, cpu = parent.recv()
    proc.join()
    print(f"command: python bench/bench_snmp.py --seconds {args.seconds:g} --window {args.window}")
    print(f"{acked / elapsed:,.0f} INFORMs acknowledged/s over {elapsed:.1f} s (window {args.window}, "
          f"{sent - acked} in flight or lost at the end); receiver {cpu / max(answered, 1) * 1e6:.0f} us CPU each")


if __name__ == "__main__":
    main()
