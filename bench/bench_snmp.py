"""SNMPv2c INFORM rate of the provisioning entity's endpoint.

Usage: python bench/bench_snmp.py [--seconds 10] [--window 32] [--runs 3]

A sender keeps ``window`` enrollment INFORMs in flight (pre-encoded, distinct
request-ids and MACs) against a receiver process that decodes and acknowledges
each: pktcable's endpoint (which also parses each as a PacketCable notification,
the work the provisioning entity does per INFORM before it builds the file), and,
as the anchor in the same run, pysnmp's notification receiver (its own v2c
engine: community check, decoding, the Response). The receivers take turns,
``runs`` times each; prints the median INFORMs per second and the receiver's CPU
per INFORM for each, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import socket
import statistics
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


def pysnmp_receiver(port_out: multiprocessing.connection.Connection, stop: multiprocessing.synchronize.Event) -> None:
    """The anchor: pysnmp's NotificationReceiver on an asyncio UDP transport, community public."""
    from pysnmp.carrier.asyncio.dgram import udp
    from pysnmp.entity import config, engine
    from pysnmp.entity.rfc3413 import ntfrcv

    async def run() -> None:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        snmp = engine.SnmpEngine()
        config.add_transport(snmp, udp.DOMAIN_NAME, udp.UdpTransport().open_server_mode(("127.0.0.1", port)))
        config.add_v1_system(snmp, "bench", "public")
        answered = [0]

        def received(*_: object) -> None:
            answered[0] += 1

        ntfrcv.NotificationReceiver(snmp, received)
        for _ in range(50):  # the transport binds in a task of its own: wait until the port is taken
            await asyncio.sleep(0.02)
            try:
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probe.bind(("127.0.0.1", port))
                probe.close()
            except OSError:
                break
        port_out.send(port)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        port_out.send((answered[0], usage.ru_utime + usage.ru_stime))

    asyncio.run(run())


RECEIVERS = {"pktcable": receiver, "pysnmp": pysnmp_receiver}


def one_run(name: str, seconds: float, window: int, packets: list[bytes]) -> tuple[float, float]:
    """INFORMs acknowledged per second and the receiver's CPU seconds per INFORM."""
    parent, child = multiprocessing.Pipe()
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=RECEIVERS[name], args=(child, stop))
    proc.start()
    port = parent.recv()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(0.5)
    sent = acked = 0
    start = time.perf_counter()
    end = start + seconds
    for _ in range(window):
        sock.send(packets[sent % len(packets)])
        sent += 1
    while time.perf_counter() < end:
        try:
            sock.recv(2048)
        except TimeoutError:
            for _ in range(window):  # refill a window lost to drops
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
    sock.close()
    return acked / elapsed, cpu / max(answered, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tree = pktc.Tree.CABLELABS
    packets = []
    for i in range(4096):
        note = pktc.Enrollment(tree, b"Example eMTA", b"2.4.1", b"pktc1.5:051f0101", i.to_bytes(6, "big"), i)
        packets.append(m.encode(m.Message(b"public", m.Pdu(m.PduType.INFORM, i + 1, note.varbinds(i)))))
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in RECEIVERS}
    for _ in range(args.runs):
        for name in RECEIVERS:  # in turns: a load that comes and goes falls on both
            figures[name].append(one_run(name, args.seconds, args.window, packets))
    print(f"command: python bench/bench_snmp.py --seconds {args.seconds:g} --window {args.window} --runs {args.runs}")
    medians = {}
    for name, runs in figures.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        medians[name] = (rate, cpu)
        print(f"{name:9} {rate:9,.0f} INFORMs/s (runs: {', '.join(f'{r:,.0f}' for r, _ in runs)}), "
              f"{cpu * 1e6:,.0f} us CPU each")
    (ours, our_cpu), (anchor, anchor_cpu) = medians["pktcable"], medians["pysnmp"]
    print(f"pktcable / pysnmp: {ours / anchor:.1f}x the rate, {anchor_cpu / our_cpu:.1f}x less CPU per INFORM")


if __name__ == "__main__":
    main()
