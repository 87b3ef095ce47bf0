"""What firmware rules cost a back office (docs/benchmarks.md, "Firmware rules").

- ``target_for`` for one device against 10, 200 and 1,000 rules (the pure decision);
- a modem's CM file built through serve's resolver chain (template, then the upgrade
  TLVs 9/21/32/33 and the MICs again) with a rule offering an image, against the same
  file with no rule, over a SQLite firmware store in a temporary data dir;
- a device's DHCP report recorded: the first one (a store write), and the same report
  again (a reboot on the same image: no write).

Each figure is the median of ``--repeat`` runs of ``--count`` calls, microseconds per call.

    python bench/bench_rollout.py --count 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import calendar
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pktcable.delivery.resolvers import InMemoryDevices, TemplateResolver  # noqa: E402
from pktcable.dhcpd.events import DeviceReport  # noqa: E402
from pktcable.firmware.rules import DeviceFirmware, Rule, target_for  # noqa: E402
from pktcable.serve.lookup import RecordingResolver  # noqa: E402
from pktcable.serve.upgrades import Upgrades  # noqa: E402
from pktcable.store.devices import Device  # noqa: E402
from pktcable.store.firmware import SqliteFirmwareStore, make_image  # noqa: E402

NOON = float(calendar.timegm((2026, 12, 3, 12, 0, 0)))
KEY = b"bench-cmts-secret"
SERVER = IPv4Address("10.0.0.1")
CODE_FILE = ROOT / "tests" / "data" / "firmware" / "openssl-sha256-cosigned.p7"


def median_us(call: Callable[[], object], count: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(count):
            call()
        runs.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(runs)


def decisions(count: int, repeat: int) -> None:
    device = DeviceFirmware("001122334455", "Example Vendor", "M7", "3", "1.0")
    for n in (10, 200, 1000):
        rules = [Rule(f"r{i}", "Example Vendor", f"M{i}", "*", "x.p7", "2.0", percent=50) for i in range(n)]
        took = median_us(functools.partial(target_for, device, rules, NOON), count, repeat)
        print(f"target_for, {n} rules: {took:.1f} us")


def files(folder: Path, count: int, repeat: int) -> None:
    store = SqliteFirmwareStore(folder)
    data = CODE_FILE.read_bytes()
    store.add(make_image("ex-2.0.p7", "Example Vendor", "EX-100", "3", "2.0", data, "signed by Example Vendor",
                         1.0), data)
    offered, plain = "001122334455", "001122334466"
    for mac in (offered, plain):
        store.record_device(DeviceFirmware(mac, "Example Vendor", "EX-100", "3", "1.0"), "dhcp", 1.0)
    store.add_rule(Rule("ex", "Example Vendor", "EX-100", "*", "ex-2.0.p7", "2.0", macs=(offered,), percent=0))
    up = Upgrades(store, lambda: NOON, SERVER, manufacturer="Example Vendor", cm_key=KEY)
    devices = [Device(offered, kind="cm", template="cm.txt"), Device(plain, kind="cm", template="cm.txt")]
    chain = RecordingResolver(TemplateResolver(InMemoryDevices(devices), cm_key=KEY), lambda *_: None, up.cm_file)
    with_upgrade = median_us(lambda: chain.resolve(f"cm-{offered}.cfg", ("10.0.0.9", 69)), count, repeat)
    without = median_us(lambda: chain.resolve(f"cm-{plain}.cfg", ("10.0.0.9", 69)), count, repeat)
    bare = RecordingResolver(TemplateResolver(InMemoryDevices(devices), cm_key=KEY), lambda *_: None)
    no_rules = median_us(lambda: bare.resolve(f"cm-{plain}.cfg", ("10.0.0.9", 69)), count, repeat)
    print(f"CM file, rule offers an image (TLV 9/21/32/33, MICs again): {with_upgrade:.1f} us")
    print(f"CM file, rule matches, device not in the stage: {without:.1f} us")
    print(f"CM file, no upgrade step at all: {no_rules:.1f} us")
    store.close()


def reports(folder: Path, count: int, repeat: int) -> None:
    store = SqliteFirmwareStore(folder)
    up = Upgrades(store, time.time, SERVER)
    serial = iter(range(1, 1 << 40))
    report = DeviceReport("Example Vendor", "EX-100", "3", "1.0")
    first = median_us(lambda: up.dhcp_report(f"{next(serial):012x}", report), count // 4 or 1, repeat)
    up.dhcp_report("00000000ffff", report)
    again = median_us(lambda: up.dhcp_report("00000000ffff", report), count, repeat)
    print(f"DHCP report, a new device (SQLite write): {first:.1f} us")
    print(f"DHCP report, the same again (no write): {again:.1f} us")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the median is printed")
    args = parser.parse_args()
    decisions(args.count, args.repeat)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        files(Path(one), args.count, args.repeat)
        reports(Path(two), args.count, args.repeat)


if __name__ == "__main__":
    main()
