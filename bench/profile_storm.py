"""Where `pktcable serve`'s CPU goes per device in a boot storm, by service.

Usage: python bench/profile_storm.py [--count 600] [--rate 20] [--flow hybrid.2]
       python bench/profile_storm.py --flow secure --count 300 --rate 6 [--top 25]

Runs `pktcable serve` (SQLite stores in a temporary folder, --auto-enroll)
under cProfile with the thread's CPU clock as its timer, so that time the
server spends descheduled or waiting on the disk (another process busy on a
shared machine) is not charged to whatever function was running, and
`pktcable simulate` against it; then prints, per entry point of the event
loop, the CPU microseconds per device (cumulative: "of which" rows are
inside the row above them). The profiler's own cost inflates every figure
(about 3x); compare rows and runs with each other, not with bench_storm.py.
Keep the rate low enough that every device passes: in overload the figures
include the devices' retransmissions.

--flow secure makes a lab PKI (bench_storm.make_lab) with the simulated
eMTAs' certificates and runs serve with its KDC and key management. The KDC
answers in executor threads (the RSA work must not stop the event loop), so
each of those threads gets its own profiler around ``Kdc.answer`` and the
stats are merged; the event loop's rows do not include the KDC. --top N also
prints the N busiest functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

#: (row, file the function is in, function): the event loop's entry points into each service.
AREAS = (
    ("DHCP: read, engine, lease commit, reply", "pktcable/dhcpd/transport.py", "_readable"),
    ("  of which lease-store commits", "pktcable/store/leases.py", "commit"),
    ("  of which the back office's lease event (device row, flow start)", "pktcable/serve/app.py",
     "_guarded_dhcp"),
    ("SNMP in: INFORMs decoded, handled, answered; SET Responses", "pktcable/snmp/aio.py", "datagram_received"),
    ("  of which the entity's INFORM handling", "pktcable/serve/app.py", "_guarded_snmp"),
    ("entity task: file built, URL published, SET sent", "pktcable/provision/entity.py", "_configure"),
    ("  of which building the file", "pktcable/delivery/resolvers.py", "build"),
    ("TFTP RRQ: gate, file, transfer socket, first DATA", "pktcable/delivery/tftp_aio.py", "_on_listener"),
    ("TFTP transfers: ACK/DATA, close, delivered event", "pktcable/delivery/tftp_aio.py", "_on_readable"),
    ("TFTP retransmission timer", "pktcable/delivery/tftp_aio.py", "_on_timer"),
    ("ToD", "pktcable/delivery/tod.py", "datagram_received"),
    ("device-store and built-file commits", "pktcable/serve/app.py", "_commit"),
    ("1 s ticker (timers, expiry, commits)", "pktcable/serve/app.py", "_tick"),
    ("event loop, all of it", "asyncio/base_events.py", "run_forever"),
)

#: The Secure flow's services (the KDC's rows are its executor threads, outside the event loop's).
SECURE_AREAS = (
    ("KDC: AS-REQ/TGS-REQ to reply (executor threads)", "pktcable/secure/kdc.py", "answer"),
    ("  of which PKINIT: the eMTA's signed AuthPack checked (CMS, RSA verify)", "pktcable/secure/pkinit.py",
     "verify"),
    ("  of which PKINIT: the eMTA's certificate chain checked", "pktcable/secure/kdc.py", "_verify_chain"),
    ("  of which PKINIT: the reply key pack signed (RSA sign)", "pktcable/secure/pkinit.py", "sign"),
    ("  of which PKINIT: the reply sealed to the eMTA's certificate (RSA encrypt)", "pktcable/secure/pkinit.py",
     "seal_enveloped"),
    ("KM: AP Request to AP Reply", "pktcable/secure/kmaio.py", "datagram_received"),
    ("SNMPv3 (USM) INFORMs: the entity's handling", "pktcable/serve/app.py", "_guarded_v3"),
    ("  USM: authentication (HMAC)", "pktcable/snmp/usm.py", "digest_matches"),
    ("  USM: signing", "pktcable/snmp/usm.py", "sign"),
    ("  USM: decryption", "pktcable/snmp/usm.py", "decrypt"),
    ("  USM: encryption", "pktcable/snmp/usm.py", "encrypt"),
    ("config file encrypted (hash, cipher)", "pktcable/secure/filecrypt.py", "protect"),
)

#: KDC answers run in executor threads: one profiler per thread, merged at the end.
_THREAD_PROFILES: list[cProfile.Profile] = []
_LOCAL = threading.local()


def _profiled_in_threads(function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            return function(*args, **kwargs)  # the main profiler sees it already
        prof = getattr(_LOCAL, "prof", None)
        if prof is None:
            prof = _LOCAL.prof = cProfile.Profile(time.thread_time)
            _THREAD_PROFILES.append(prof)
        return prof.runcall(function, *args, **kwargs)
    return wrapper


def serve_child(out: str, data_dir: str, config: str | None = None) -> None:
    """The server under the profiler (the parent sends SIGINT to stop it)."""
    sys.argv = ["pktcable", "serve", *(["--config", config] if config else ["--data-dir", data_dir, "--auto-enroll"])]
    from pktcable.secure.kdc import Kdc

    Kdc.answer = _profiled_in_threads(Kdc.answer)  # type: ignore[method-assign]
    prof = cProfile.Profile(time.thread_time)
    try:
        prof.runcall(runpy.run_module, "pktcable", run_name="__main__")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        prof.create_stats()
        merged = pstats.Stats(prof)
        for other in _THREAD_PROFILES:
            other.create_stats()
            merged.add(other)
        merged.dump_stats(out)


def areas(stats_path: str, devices: int, table: tuple[tuple[str, str, str], ...] = AREAS) -> list[tuple[str, float]]:
    stats = pstats.Stats(stats_path).stats  # type: ignore[attr-defined]
    rows = []
    for label, path, function in table:
        seconds = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(path) and name == function)
        rows.append((label, seconds / max(devices, 1)))
    return rows


def busiest(stats_path: str, devices: int, top: int, column: int) -> list[tuple[str, float]]:
    """The ``top`` functions by own (column 2) or cumulative (column 3) time, per device;
    the event loop's waiting and the profiler's runcall are left out."""
    skip = ("run_forever", "_run_once", "runcall", "run_module", "_run_module_code", "_run_code", "<module>",
            "<method 'poll' of 'select.epoll' objects>", "select", "wrapper", "run", "run_until_complete", "_run",
            "main", "invoke", "__call__", "serve_cmd", "<built-in method builtins.exec>",
            "<method 'run' of '_contextvars.Context' objects>", "_read_ready", "_read_ready__data_received",
            "_read_ready__get_buffer")
    rows = []
    for (filename, line, function), values in pstats.Stats(stats_path).stats.items():  # type: ignore[attr-defined]
        if function in skip:
            continue
        where = "/".join(Path(filename).parts[-3 if "/pktcable/" in filename else -2:])
        rows.append((f"{where}:{line} {function}" if filename != "~" else function, values[column] / max(devices, 1)))
    return sorted(rows, key=lambda row: -row[1])[:top]


def main() -> None:
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--serve-child":
        serve_child(*sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=600)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--flow", default="hybrid.2")
    ap.add_argument("--keep", help="also write the profile here (for pstats)")
    ap.add_argument("--top", type=int, default=0, help="also print the N busiest functions (own and cumulative)")
    args = ap.parse_args()
    secure = args.flow.lower() == "secure"
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "serve.prof")
        child = [sys.executable, __file__, "--serve-child", out, tmp]
        extra: list[str] = []
        if secure:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from bench_storm import make_lab, secure_settings

            lab = make_lab(Path(tmp) / "lab", args.count)
            (Path(tmp) / "serve.toml").write_text(f'auto_enroll = true\ndata_dir = "{tmp}"\n' + secure_settings(lab))
            child.append(str(Path(tmp) / "serve.toml"))
            extra = ["--pki", str(lab)]
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen(child, stderr=log, env=ENV, cwd=ROOT)
        try:
            for _ in range(200):  # until it has printed its addresses and its store
                if (Path(tmp) / "serve.log").read_text().count("\n") >= 7:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            sim = subprocess.run([sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1",
                                  "--flow", args.flow, "--count", str(args.count), "--rate", str(args.rate),
                                  "--quiet", *extra], capture_output=True, text=True, env=ENV, cwd=ROOT)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
            log.close()
        if args.keep:
            Path(args.keep).write_bytes(Path(out).read_bytes())
        rows = areas(out, args.count, AREAS + SECURE_AREAS if secure else AREAS)
        own = busiest(out, args.count, args.top, 2) if args.top else []
        cumulative = busiest(out, args.count, args.top, 3) if args.top else []
    print(f"command: python bench/profile_storm.py --count {args.count} --rate {args.rate:g} --flow {args.flow}"
          + (f" --top {args.top}" if args.top else ""))
    print(sim.stdout.splitlines()[0] if sim.stdout else sim.stderr[-2000:])
    print("| entry point | server CPU per device (profiled) |")
    print("| --- | --- |")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1e6:,.0f} µs |")
    for title, table in (("own", own), ("cumulative", cumulative)):
        if table:
            print(f"\n| function (busiest by {title} time) | server CPU per device (profiled) |")
            print("| --- | --- |")
            for label, seconds in table:
                print(f"| {label} | {seconds * 1e6:,.0f} µs |")


if __name__ == "__main__":
    main()
