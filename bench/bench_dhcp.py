"""DHCPv4 throughput: perfdhcp against pktcable's server and against Kea, same run, same pool.

Two network namespaces joined by a veth pair (see bench/kea.py, which holds the
shared parts: namespaces, Kea's configuration, perfdhcp and its parser).
perfdhcp runs full DORA exchanges as a relay with 100 000 simulated clients;
the pool holds ~131 000 addresses. Needs root, iproute2, kea-dhcp4-server and
kea-admin (perfdhcp).

    python bench/bench_dhcp.py --rate 3000 --rate 6000 --seconds 10 --runs 3

For each offered rate, every server runs ``--runs`` times, interleaved (Kea,
pktcable, Kea, pktcable, ...) so that a noisy neighbour on the machine hits
both alike; each run starts a fresh server in fresh namespaces. Prints one
Markdown table row per (server, rate): the completed exchanges per second of
each run and their median, the drop percentages of the median run, the
server's CPU milliseconds per completed DORA, and the ratio to Kea's median.
A rate above every server's capacity shows the saturation rates.

``--core N`` measures the sans-IO core alone instead (no sockets, no perfdhcp):
N relayed DORA exchanges shaped like perfdhcp's, in rounds of 100 DISCOVERs
then their 100 REQUESTs, with the default durable store (SQLite, FULL), three
times; it prints the median DORA exchanges per CPU second of the server's part
(building the clients' datagrams is not counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kea  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

OURS = f"""
[server]
server_id = "{kea.SERVER_ADDR}"
[[subnet]]
network = "{kea.NETWORK}"
options = {{ routers = ["{kea.SERVER_ADDR}"] }}
[[subnet.pool]]
start = "{kea.POOL[0]}"
end = "{kea.POOL[1]}"
[[class]]
name = "any"
kind = "any"
"""

SERVERS = ["kea", "kea-persist", "pktcable-memory", "pktcable-sqlite-normal", "pktcable-sqlite"]


#: ``--baseline DIR``: another checkout of pktcable, run as server "pktcable-baseline".
BASELINE: Path | None = None


def start_server(kind: str, workdir: Path, profile: str | None = None):  # type: ignore[no-untyped-def]
    if kind.startswith("kea"):
        return kea.start_kea(workdir, kind == "kea-persist")
    root = ROOT
    if kind == "pktcable-baseline":  # the default durable store of the other checkout
        assert BASELINE is not None
        root, kind = BASELINE, "pktcable-sqlite"
    conf = workdir / "pktcable.toml"
    conf.write_text(OURS)
    prof = ["-m", "cProfile", "-o", str(Path(profile).resolve())] if profile else []
    cmd = [sys.executable, *prof, "-m", "pktcable", "dhcp", "serve", "--config", str(conf), "--interface", kea.SDEV,
           "--quiet"]
    if kind != "pktcable-memory":
        sync = "NORMAL" if kind == "pktcable-sqlite-normal" else "FULL"
        cmd += ["--data-dir", str(workdir), "--synchronous", sync]
    env = dict(os.environ, PYTHONPATH=str(root))
    return kea.start_in_server_ns(cmd, env, root, kind)


def one_run(kind: str, rate: int, seconds: int, profile: str | None = None) -> tuple[kea.PerfResult, float]:
    with kea.namespaces(), tempfile.TemporaryDirectory() as tmp:
        proc = start_server(kind, Path(tmp), profile if kind.startswith("pktcable") else None)
        try:
            return kea.measure(proc, rate, seconds)
        finally:
            kea.stop(proc)


def core(count: int) -> float:
    """DORA exchanges per CPU second of the core (see the module docstring)."""
    import time

    from dhcp.message import Message, build_options, decode, encode, fit
    from pktcable.dhcpd import DhcpServer
    from pktcable.dhcpd.config import load_toml
    from pktcable.store import SqliteLeaseStore

    def datagram(kind: int, mac: bytes, xid: int, extra: list[tuple[int, bytes]]) -> bytes:
        msg = Message(op=1, xid=xid, chaddr=mac.ljust(16, b"\0"), giaddr=relay, hops=1)
        fit(msg, build_options([(53, bytes((kind,))), (55, bytes((1, 3, 6, 15))), *extra]))
        return encode(msg)

    from ipaddress import IPv4Address
    relay, source = IPv4Address(kea.CLIENT_ADDR), (kea.CLIENT_ADDR, 67)
    sid = IPv4Address(kea.SERVER_ADDR).packed
    discovers = [datagram(1, b"\x02\xaa" + n.to_bytes(4, "big"), n, []) for n in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "pktcable.toml"
        conf.write_text(OURS)
        server = DhcpServer(load_toml(str(conf)), SqliteLeaseStore(str(Path(tmp) / "leases.db")))
        spent, now = 0.0, 1000.0
        for i in range(0, count, 100):
            started = time.process_time()
            for data in discovers[i:i + 100]:
                server.receive(data, source, now)
            offers = server.datagrams_to_send()
            spent += time.process_time() - started
            requests = []
            for reply in offers:
                offer = decode(reply.data)
                requests.append(datagram(3, offer.chaddr[:6], offer.xid, [(54, sid), (50, offer.yiaddr.packed)]))
            started = time.process_time()
            for data in requests:
                server.receive(data, source, now)
            server.datagrams_to_send()
            spent += time.process_time() - started
        assert server.metrics["acks"] == count, server.metrics
        server.store.close()
    return count / spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, action="append", help="offered exchanges/s (repeatable)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server", action="append", choices=SERVERS)
    ap.add_argument("--profile", metavar="FILE",
                    help="run pktcable under cProfile once at the first --rate, write the stats to FILE, and stop")
    ap.add_argument("--baseline", metavar="DIR", type=Path,
                    help="also run the pktcable checkout in DIR (default store) as server pktcable-baseline")
    ap.add_argument("--core", type=int, metavar="N", help="measure the core alone with N DORA exchanges")
    args = ap.parse_args()
    if args.core:
        runs = sorted(core(args.core) for _ in range(3))
        print(f"core: {', '.join(f'{r:.0f}' for r in runs)} DORA/s per CPU second; median {runs[1]:.0f}")
        return
    rates = args.rate or [3000, 6000]
    servers = args.server or ["kea", "pktcable-sqlite"]
    if args.baseline:
        global BASELINE
        BASELINE = args.baseline.resolve()
        servers.append("pktcable-baseline")
    if args.profile:
        kind = next(k for k in servers if k.startswith("pktcable"))
        result, _ = one_run(kind, rates[0], args.seconds, args.profile)
        print(f"{kind} under cProfile at {rates[0]}/s: {result.rate:.0f} leases/s; stats in {args.profile}")
        return
    print("| server | offered/s | completed leases/s (runs) | median | drops DO / RA (median run) "
          "| CPU ms per DORA | vs Kea | non-unique |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rate in rates:
        runs: dict[str, list[tuple[kea.PerfResult, float]]] = {k: [] for k in servers}
        for _ in range(args.runs):
            for kind in servers:
                runs[kind].append(one_run(kind, rate, args.seconds))
        anchor: float | None = None
        for kind in servers:
            done = sorted(runs[kind], key=lambda r: r[0].rate)
            mid, cpu = done[len(done) // 2]
            median = statistics.median(r.rate for r, _ in done)
            if kind == "kea":
                anchor = median
            cpu_ms = statistics.median(1000 * c / r.acks for r, c in done if r.acks) if any(
                r.acks for r, _ in done) else float("nan")
            ratio = f"{median / anchor:.2f}×" if anchor and kind != "kea" else "—"
            print(f"| {kind} | {rate} | {', '.join(f'{r.rate:.0f}' for r, _ in done)} | **{median:.0f}** | "
                  f"{mid.drops_do:.2f} % / {mid.drops_ra:.2f} % | {cpu_ms:.3f} | {ratio} | "
                  f"{sum(r.non_unique for r, _ in done)} |", flush=True)


if __name__ == "__main__":
    main()
