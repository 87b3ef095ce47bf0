"""TFTP delivery throughput: pktcable's server against Debian's tftpd-hpa, in one run.

Usage: python bench/bench_tftp.py [--transfers 5000] [--parallel 100] [--runs 3] [--hung 2000] [--inflight 1000]
       [--profile FILE]

Each server serves one 4 KB file from a folder on a loopback port; the load is
one curl process running ``--parallel`` TFTP transfers at a time
(``curl -Z --parallel-max P --no-progress-meter --tftp-blksize 1468 -K urls``).
Reported: transfers/s (median of the runs, wall time of the curl process),
then, for pktcable only, the same load while ``--hung`` RRQs that never ACK are
held open, and the server's memory with ``--inflight`` transfers in flight.
Both servers share the 2 cores with curl. Needs curl and tftpd-hpa (in.tftpd).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procstat import cpu_seconds, open_fds, rss_kib  # noqa: E402 - bench/ is the script folder

ROOT = Path(__file__).resolve().parent.parent
CONFIG_SIZE = 4096


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rrq(name: str) -> bytes:
    return b"\x00\x01" + name.encode() + b"\x00octet\x00"


def start_pktcable(folder: Path, port: int, profile: str | None) -> subprocess.Popen[bytes]:
    prefix = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
    proc = subprocess.Popen([*prefix, "-m", "pktcable", "deliver", "--root", str(folder), "--tftp-port", str(port),
                             # every client of the benchmark is 127.0.0.1: lift the per-address cap
                             "--max-sessions", "8192", "--max-per-client", "0"], cwd=ROOT, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    if "tftp on" not in line:
        proc.kill()
        raise SystemExit(f"pktcable did not start: {line}")
    return proc


def start_hpa(folder: Path, port: int) -> subprocess.Popen[bytes]:
    tftpd = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    # -L: stay in the foreground (standalone); -s: chroot into the folder, names are relative to it.
    proc = subprocess.Popen([tftpd, "-L", "-a", f"127.0.0.1:{port}", "-s", str(folder)])
    time.sleep(0.3)
    if proc.poll() is not None:
        raise SystemExit("in.tftpd did not start")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(2)  # SIGINT: pktcable exits cleanly (and cProfile writes its file)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def curl_batch(port: int, transfers: int, parallel: int, work: Path) -> float:
    """Transfers per second of one curl process; every transfer must succeed."""
    urls = work / f"urls-{port}-{transfers}.txt"
    if not urls.exists():
        urls.write_text(f'url = "tftp://127.0.0.1:{port}/config.bin"\noutput = "/dev/null"\n' * transfers)
    start = time.perf_counter()
    result = subprocess.run(["curl", "-Z", "--parallel-max", str(parallel), "--no-progress-meter",
                             "--tftp-blksize", "1468", "-K", str(urls)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"curl failed ({result.returncode}): {result.stderr[:500]}")
    return transfers / elapsed


def hang(port: int, count: int, name: str = "config.bin") -> list[socket.socket]:
    """``count`` RRQs from as many sockets that will never ACK."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        s.sendto(rrq(name), ("127.0.0.1", port))
        socks.append(s)
    return socks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=5000)
    parser.add_argument("--parallel", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hung", type=int, default=2000)
    parser.add_argument("--inflight", type=int, default=1000)
    parser.add_argument("--profile", help="run pktcable under cProfile for the throughput runs; write stats here")
    args = parser.parse_args()
    for tool in ("curl", "in.tftpd"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is needed (Debian: curl, tftpd-hpa)")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "root"
        folder.mkdir()
        (folder / "config.bin").write_bytes(os.urandom(CONFIG_SIZE))
        (folder / "firmware.bin").write_bytes(os.urandom(5 * 1024 * 1024))
        # tftpd-hpa drops to the "tftp" user: the folder must be readable by others.
        for path in (work, folder, folder / "config.bin", folder / "firmware.bin"):
            path.chmod(0o755)

        results: dict[str, list[float]] = {"pktcable": [], "tftpd-hpa": []}
        port_ours, port_hpa = free_port(), free_port()
        ours = start_pktcable(folder, port_ours, args.profile)
        hpa = start_hpa(folder, port_hpa)
        try:
            curl_batch(port_ours, 500, args.parallel, work)  # warm-up: imports, caches
            curl_batch(port_hpa, 500, args.parallel, work)
            cpu0 = cpu_seconds(ours.pid)
            for _ in range(args.runs):  # interleaved, so both see the same machine
                results["pktcable"].append(curl_batch(port_ours, args.transfers, args.parallel, work))
                results["tftpd-hpa"].append(curl_batch(port_hpa, args.transfers, args.parallel, work))
            cpu_per = (cpu_seconds(ours.pid) - cpu0) / (args.runs * args.transfers)
        finally:
            stop(hpa)
            stop(ours)

        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"4 KB file, blksize 1468, {args.transfers} transfers x {args.runs} runs, {args.parallel} concurrent curl clients")
        for name, values in results.items():
            runs = ", ".join(f"{v:,.0f}" for v in values)
            print(f"  {name:10} {med[name]:8,.0f} transfers/s   (runs: {runs})")
        print(f"  ratio pktcable / tftpd-hpa: {med['pktcable'] / med['tftpd-hpa']:.2f}x")
        print(f"  pktcable CPU per transfer: {cpu_per * 1e6:.0f} us")
        if args.profile:
            return

        port = free_port()
        ours = start_pktcable(folder, port, None)
        try:
            base_rss = rss_kib(ours.pid)
            hung = hang(port, args.hung)
            time.sleep(0.5)
            fds = open_fds(ours.pid)
            rate = curl_batch(port, args.transfers, args.parallel, work)
            print(f"with {args.hung} RRQs that never ACK held open ({fds} descriptors open in the server):")
            print(f"  pktcable   {rate:8,.0f} transfers/s, all {args.transfers} valid transfers complete")
            for s in hung:
                s.close()
            time.sleep(8)  # 1 s timeout x 5 retries, then the sessions are gone
            print(f"  descriptors after the hung sessions timed out: {open_fds(ours.pid)}")

            rss_idle = rss_kib(ours.pid)
            inflight = hang(port, args.inflight)
            time.sleep(0.5)
            rss_cfg = rss_kib(ours.pid)
            for s in inflight:
                s.close()
            time.sleep(8)
            inflight = hang(port, args.inflight, "firmware.bin")
            time.sleep(0.5)
            rss_fw = rss_kib(ours.pid)
            for s in inflight:
                s.close()
            print(f"memory (VmRSS): fresh {base_rss / 1024:.1f} MiB, idle after the load {rss_idle / 1024:.1f} MiB, "
                  f"{args.inflight} 4 KB transfers in flight {rss_cfg / 1024:.1f} MiB, "
                  f"{args.inflight} transfers of one 5 MB image in flight {rss_fw / 1024:.1f} MiB")
        finally:
            stop(ours)


if __name__ == "__main__":
    main()
