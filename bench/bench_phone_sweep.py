"""What a firmware rule change costs serve for its SIP phones (docs/firmware.md, "SIP phones").

``--phones`` phones in a SQLite device store and a SQLite firmware store (a temporary data
dir), each having reported its version and had its profile built under a rule at 50%; the
rule is then widened to 100% and the sweep (serve/phonefirmware.py) decides every phone
again and queues those it moved (about half). Reported: seconds per sweep and microseconds
per phone, medians of ``--repeat`` sweeps (the widened rule and a narrowed one in turn, so
each sweep moves half of the phones).

    python bench/bench_phone_sweep.py --phones 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pktcable.firmware.labimage import make_image as lab_image  # noqa: E402
from pktcable.firmware.rules import Rule  # noqa: E402
from pktcable.serve.phonefirmware import PhoneFirmware  # noqa: E402
from pktcable.serve.upgrades import Upgrades  # noqa: E402
from pktcable.store.devices import Device, SqliteDeviceStore  # noqa: E402
from pktcable.store.firmware import SqliteFirmwareStore, make_image  # noqa: E402

VARS = {"registrar": "sip.example.net", "lines": [{"user": "3001", "password": "pw"}]}


async def main(phones: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        devices = SqliteDeviceStore(str(Path(folder) / "devices.db"))
        store = SqliteFirmwareStore(folder)
        data = lab_image("2.0.0", b"\0" * 1024)
        store.add(make_image("ph-2.0.0.p7", "Acme", "P1", "1", "2.0.0", data, "unsigned", 1.0), data)
        rule = Rule("desk", "Acme", "P1", "*", "ph-2.0.0.p7", "2.0.0", percent=50)
        store.add_rule(rule)
        upgrades = Upgrades(store, time.time, IPv4Address("192.0.2.1"))
        queued: list[int] = []
        firmware = PhoneFirmware(upgrades, devices.get, lambda macs: queued.append(len(list(macs))), time.time)
        firmware.base = "http://192.0.2.1:8080/"
        for n in range(phones):
            mac = f"02a0{n:08x}"
            devices.put(Device(mac, kind="sip", template="generic", vars=dict(VARS)))
            upgrades.phone_report(mac, "Acme", "P1", "1.0.0")
            firmware.variables(devices.get(mac))  # type: ignore[arg-type]
        devices.commit()
        times = []
        for run in range(repeat):
            store.put_rule(dataclasses.replace(rule, percent=100 if run % 2 == 0 else 50))
            upgrades.changed()
            began = time.perf_counter()
            moved = await firmware.sweep()
            times.append(time.perf_counter() - began)
            for mac in moved:  # as the pushes would: each moved phone's profile built anew
                firmware.variables(devices.get(mac))  # type: ignore[arg-type]
        median = statistics.median(times)
        print(f"{phones} phones, {repeat} sweeps, each moving {queued[0]} of them: "
              f"median {median:.3f} s per sweep, {median / phones * 1e6:.1f} us per phone")
        devices.close()
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.phones, args.repeat))
