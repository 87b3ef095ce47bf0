"""Kerberized key management: the cost of one exchange, in process and over UDP.

In process: the server's work from AP Request to AP Reply (ticket and
authenticator decryption, HMACs, a subkey, the AP-REP, the SA) and the MTA's
(building the request, checking the reply), medians over ``--count`` exchanges
per run. Over UDP: ``--mtas`` MTAs keyed at once against one server endpoint on
loopback, exchanges per second.

    python bench/bench_km.py --count 400 --runs 3 --mtas 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pktcable.secure import kmcodec as km  # noqa: E402
from pktcable.secure.km import KmBackoff, KmClient, KmServer, ServerPolicy  # noqa: E402
from pktcable.secure.kmaio import SourceLimiter, establish, serve  # noqa: E402
from tests.kmhelpers import CLIENT, SERVICE, issue, lookup  # noqa: E402

APP = km.SnmpAppData(bytes.fromhex("8000118b030010180a0b0c"), 1, 5, "MTA-Prov-00:10:18:0a:0b:0c")
SERVER_ENGINE = bytes.fromhex("8000118b030010180a0b01")


def in_process(count: int) -> tuple[float, float]:
    now = time.time()
    issued = issue(now=now)
    server = KmServer(SERVICE, lookup(issued), SERVER_ENGINE)
    serving, client = [], []
    for n in range(count):
        mta = KmClient(issued.ticket, issued.session_key, CLIENT, APP)
        t0 = time.perf_counter()
        request = mta.start(now + n * 1e-3)[0].data  # type: ignore[union-attr]
        t1 = time.perf_counter()
        reply = server.receive(request, ("10.0.0.1", 1293), now)[0].data  # type: ignore[union-attr]
        t2 = time.perf_counter()
        mta.receive(reply, now)
        t3 = time.perf_counter()
        assert mta.sa is not None
        serving.append(t2 - t1)
        client.append((t1 - t0) + (t3 - t2))
    return statistics.median(serving), statistics.median(client)


async def over_udp(mtas: int) -> float:
    now = time.time()
    issued = issue(now=now)
    server = KmServer(SERVICE, lookup(issued), SERVER_ENGINE, policy=ServerPolicy())
    transport, _ = await serve(server, "127.0.0.1", 0, limiter=SourceLimiter(rate=0))
    port = transport.get_extra_info("sockname")[1]
    try:
        clients = [KmClient(issued.ticket, issued.session_key, CLIENT, APP, backoff=KmBackoff(30, 600, 3))
                   for _ in range(mtas)]
        start = time.perf_counter()
        await asyncio.gather(*(establish(c, ("127.0.0.1", port), local=("127.0.0.1", 0)) for c in clients))
        return mtas / (time.perf_counter() - start)
    finally:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mtas", type=int, default=200)
    args = parser.parse_args()
    serving, client, rates = [], [], []
    for _ in range(args.runs):
        s, c = in_process(args.count)
        serving.append(s)
        client.append(c)
        rates.append(asyncio.run(over_udp(args.mtas)))
    print(f"server, AP Request to AP Reply: median of run medians {statistics.median(serving) * 1e6:.0f} us "
          f"(runs: {', '.join(f'{x * 1e6:.0f}' for x in serving)})")
    print(f"MTA, build request + check reply: {statistics.median(client) * 1e6:.0f} us "
          f"(runs: {', '.join(f'{x * 1e6:.0f}' for x in client)})")
    print(f"{args.mtas} MTAs at once over loopback UDP: median {statistics.median(rates):.0f} exchanges/s "
          f"(runs: {', '.join(f'{x:.0f}' for x in rates)})")


if __name__ == "__main__":
    main()
