"""The KDC against MIT's in one run: PKINIT AS exchanges (and TGS exchanges) per second of
`pktcable kdc serve` and of MIT krb5kdc, with the same client.

    python bench/bench_kdc.py [--requests 400] [--window 8] [--devices 16] [--runs 3]

A lab PKI is made once in a temporary folder (RSA 2,048 keys, ``--devices`` eMTA
certificates). `pktcable kdc serve` runs as its own process on a free port (its
per-source rate limit raised out of the way: the bench is one source); MIT krb5kdc
as another, its realm, database and principals made in the same folder
(bench/mitkdc.py). Each run measures each KDC in turn, so the machine's other load
hits both alike.

The client is pktcable's eMTA side (pktcable.secure.asclient), the same for both
KDCs. So that the client's own work does not limit what is measured, every
request is built before the clock starts (RSA-mode AS-REQs for krbtgt/REALM, each
with its own nonce, signed with its device's key; TGS-REQs for the provisioning
server's mtaprovsrvr/<FQDN> with a TGT from the AS phase, each with its own
authenticator time), the timed part only sends them and waits for the replies
(``--window`` clients at once, each one request at a time, over UDP), and every
reply is opened and checked after the clock stops (read_as_rep: the KDC's
signature and chain, the asChecksum, the nonce; read_tgs_rep). Only checked
replies count. Per KDC and exchange: exchanges/s (checked replies over the wall
time of the phase), latency p50/p95, and the KDC process's CPU per exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mitkdc import mit_kdc  # noqa: E402 - bench/ is the script folder
from procstat import cpu_seconds  # noqa: E402

from pktcable.secure import asclient, kdclab  # noqa: E402
from pktcable.secure.labdir import LabPki, LabSettings  # noqa: E402

REALM = "LAB.EXAMPLE.NET"
SETTINGS = LabSettings(REALM, "Example Cable", "kdc.lab.example.net", "prov.lab.example.net")
#: Seconds a client waits for one reply before it counts the request as lost.
REPLY_BUDGET = 10.0
#: Seconds for `pktcable kdc serve` to load the PKI and bind.
START_BUDGET = 60.0


@dataclass
class Phase:
    """One KDC's answers to one batch of requests."""

    wall: float
    latencies: list[float]
    replies: list[bytes | None]
    cpu: float


class _Reply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: asyncio.Future[bytes] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(data)


async def _fire(port: int, requests: Sequence[bytes], window: int) -> tuple[float, list[float], list[bytes | None]]:
    """Send ``requests`` to 127.0.0.1:``port`` from ``window`` sockets, each one request
    at a time (a reply or REPLY_BUDGET before the next): wall time, latencies, replies."""
    loop = asyncio.get_running_loop()
    replies: list[bytes | None] = [None] * len(requests)
    latencies: list[float] = []
    queue = iter(range(len(requests)))

    async def client() -> None:
        transport, protocol = await loop.create_datagram_endpoint(_Reply, remote_addr=("127.0.0.1", port))
        try:
            for index in queue:
                protocol.waiting = loop.create_future()
                t0 = time.perf_counter()
                transport.sendto(requests[index])
                try:
                    replies[index] = await asyncio.wait_for(protocol.waiting, REPLY_BUDGET)
                except TimeoutError:
                    continue
                latencies.append(time.perf_counter() - t0)
        finally:
            transport.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(window)))
    return time.perf_counter() - t0, latencies, replies


def measure(pid: int, port: int, requests: Sequence[bytes], window: int) -> Phase:
    cpu0 = cpu_seconds(pid)
    wall, latencies, replies = asyncio.run(_fire(port, requests, window))
    return Phase(wall, latencies, replies, cpu_seconds(pid) - cpu0)


def as_requests(lab: LabPki, devices: Sequence[bytes], count: int) -> list[tuple[bytes, int]]:
    """``count`` RSA-mode AS-REQs for krbtgt/REALM, the devices in turn: (request, device index)."""
    chain = [lab.get("mta-manufacturer").certificate]
    loaded = [lab.device(mac, check_key=False) for mac in devices]
    now = dt.datetime.now(dt.UTC)
    out = []
    for n in range(count):
        device = loaded[n % len(loaded)]
        out.append((asclient.build_as_req(device.certificate, device.key, chain,  # type: ignore[arg-type]
                                          principal=devices[n % len(devices)].hex(), realm=REALM,
                                          service=("krbtgt", REALM), now=now + dt.timedelta(microseconds=n),
                                          nonce=n + 1), n % len(devices)))
    return out


def tgs_requests(tgts: dict[int, asclient.Credentials], devices: Sequence[bytes],
                 count: int) -> list[tuple[bytes, int]]:
    """``count`` TGS-REQs for the provisioning server, with the devices' TGTs in turn."""
    now = dt.datetime.now(dt.UTC)
    owners = sorted(tgts)
    out = []
    for n in range(count):
        owner = owners[n % len(owners)]
        out.append((asclient.build_tgs_req(tgts[owner], principal=devices[owner].hex(), realm=REALM,
                                           service=(kdclab.PROV_SERVICE, SETTINGS.prov_fqdn),
                                           now=now + dt.timedelta(microseconds=n), nonce=n + 1), owner))
    return out


def checked(requests: Sequence[tuple[bytes, int]], replies: Sequence[bytes | None],
            read: Callable[[bytes, bytes, int], asclient.Credentials],
            ) -> tuple[dict[int, asclient.Credentials], int, str]:
    """The replies that pass the client's checks (by device, one kept each), how many
    passed, and what the others were."""
    good: dict[int, asclient.Credentials] = {}
    ok, lost = 0, 0
    refused: dict[int, int] = {}
    bad: dict[str, int] = {}
    for (request, owner), reply in zip(requests, replies, strict=True):
        if reply is None:
            lost += 1
            continue
        try:
            good[owner] = read(request, reply, owner)
            ok += 1
        except asclient.KdcRefused as exc:
            refused[exc.code] = refused.get(exc.code, 0) + 1
        except asclient.AsError as exc:
            bad[str(exc)[:80]] = bad.get(str(exc)[:80], 0) + 1
    notes = [f"{ok} checked", f"{lost} lost" if lost else "", f"refused {refused}" if refused else "",
             f"failed checks {bad}" if bad else ""]
    return good, ok, ", ".join(n for n in notes if n)


def start_ours(lab: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`pktcable kdc serve` on a free port: the process and its port (it prints it on stderr,
    here a file: a pipe nobody reads would stop the server once full)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pktcable", "kdc", "serve", "--dir", str(lab), "--port", "0",
                                 "--rate", "10000", "--modes", "rsa,dh", "--log-level", "warning"],
                                env=env, cwd=ROOT, stderr=out, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_BUDGET
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("kdc for "):
                return proc, int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"pktcable kdc serve did not start:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


def _ms(values: Sequence[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1e3 if len(values) > 1 else float("nan")


def report(name: str, phase: Phase, notes: str, ok: int) -> dict[str, float]:
    rate = ok / phase.wall if phase.wall else 0.0
    cpu_ms = phase.cpu / ok * 1e3 if ok else float("nan")
    print(f"  {name}: {rate:.1f}/s ({notes}; {phase.wall:.2f} s), latency p50 {_ms(phase.latencies, 50):.1f} ms, "
          f"p95 {_ms(phase.latencies, 95):.1f} ms, KDC CPU {cpu_ms:.2f} ms per exchange")
    return {"rate": rate, "cpu_ms": cpu_ms, "p50": _ms(phase.latencies, 50), "p95": _ms(phase.latencies, 95)}


def one_kdc(name: str, pid: int, port: int, lab: LabPki, devices: Sequence[bytes], args: argparse.Namespace,
            roots: Sequence[object]) -> dict[str, dict[str, float]]:
    keys = {n: lab.device(mac, check_key=False).key for n, mac in enumerate(devices)}
    requests = as_requests(lab, devices, args.requests)
    phase = measure(pid, port, [r for r, _ in requests], args.window)
    now = dt.datetime.now(dt.UTC)
    tgts, ok, notes = checked(requests, phase.replies, lambda req, rep, owner: asclient.read_as_rep(
        req, rep, keys[owner], roots, now=now))  # type: ignore[arg-type]
    figures = {"as": report(f"{name} AS", phase, notes, ok)}
    if args.tgs and tgts:
        requests = tgs_requests(tgts, devices, args.requests)
        phase = measure(pid, port, [r for r, _ in requests], args.window)
        _, ok, notes = checked(requests, phase.replies,
                               lambda req, rep, owner: asclient.read_tgs_rep(req, rep, tgts[owner]))
        figures["tgs"] = report(f"{name} TGS", phase, notes, ok)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per KDC, exchange and run")
    ap.add_argument("--window", type=int, default=8, help="clients at once, each one request at a time")
    ap.add_argument("--devices", type=int, default=16, help="eMTA certificates the requests take in turn")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-tgs", dest="tgs", action="store_false", help="the AS exchange only")
    args = ap.parse_args()
    print(f"python bench/bench_kdc.py --requests {args.requests} --window {args.window} --devices {args.devices} "
          f"--runs {args.runs}{'' if args.tgs else ' --no-tgs'}; load average at start "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-kdc-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        lab = LabPki.create(folder / "lab", SETTINGS, now=now)
        devices = [bytes.fromhex(f"00101800{n:04x}") for n in range(args.devices)]
        for mac in devices:
            lab.issue_device(mac, now=now)
        print(f"lab PKI with {args.devices} device certificates in {time.perf_counter() - t0:.1f} s")
        # The telephony root the eMTA holds, and the SP CA that MIT's KDC does not send along.
        roots = [lab.get("sp-root").certificate, lab.get("sp-ca").certificate]
        ours, our_port = start_ours(folder / "lab", folder / "pktcable-kdc.log")
        results: dict[str, list[dict[str, dict[str, float]]]] = {"pktcable": [], "MIT": []}
        try:
            with mit_kdc(folder / "mit", lab, devices, [f"{kdclab.PROV_SERVICE}/{SETTINGS.prov_fqdn}"]) as mit:
                for run in range(args.runs):
                    print(f"--- run {run + 1}/{args.runs}, load average {os.getloadavg()[0]:.1f}")
                    results["pktcable"].append(one_kdc("pktcable kdc serve", ours.pid, our_port, lab, devices, args,
                                                       roots))
                    results["MIT"].append(one_kdc("MIT krb5kdc", mit.process.pid, mit.port, lab, devices, args,
                                                  roots))
        finally:
            stop(ours)
    print(f"\nmedians of {args.runs} runs, {args.window} clients at once, load average at the end "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}:")
    print("| KDC | exchange | exchanges/s | latency p50 / p95 (ms) | KDC CPU per exchange (ms) |")
    print("| --- | --- | --- | --- | --- |")
    for name, runs in results.items():
        for exchange in ("as", "tgs"):
            rows = [r[exchange] for r in runs if exchange in r]
            if not rows:
                continue

            def med(key: str, rows: list[dict[str, float]] = rows) -> float:
                return statistics.median(r[key] for r in rows)
            print(f"| {name} | {exchange.upper()} | {med('rate'):.1f} | {med('p50'):.1f} / {med('p95'):.1f} "
                  f"| {med('cpu_ms'):.2f} |")


if __name__ == "__main__":
    main()
