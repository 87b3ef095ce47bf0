"""The Secure flow end to end against the Hybrid one: ``serve`` (KDC, key management,
SNMPv3, the encrypted file) and ``simulate`` in one process over loopback UDP, a lab
PKI made once. Each run starts ``--count`` eMTAs at once and reports the wall time,
devices per second and the per-device flow time (p50, p95); medians over ``--runs``.

    python bench/bench_secure.py --count 50 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pktcable.flow import Flow  # noqa: E402
from pktcable.secure.labdir import LabPki, LabSettings  # noqa: E402
from pktcable.serve.app import Backoffice  # noqa: E402
from pktcable.simulate.identity import Identity  # noqa: E402
from pktcable.simulate.report import summarize  # noqa: E402
from pktcable.simulate.runner import simulate  # noqa: E402
from tests.test_e2e import configs, free_port  # noqa: E402

REALM = "LAB.EXAMPLE.NET"


def one_run(flow: Flow, count: int, lab: LabPki) -> dict[str, Any]:
    if flow.secure:
        cfg, sim = configs([REALM], secure_pki=str(lab.folder), kdc=True, km=True, kdc_port=free_port(),
                           km_port=free_port())
        sim.pki, sim.kdc_port, sim.km_port = str(lab.folder), cfg.kdc_port, cfg.km_port
    else:
        cfg, sim = configs([flow.value])
    # The defaults of a real device's timers: a slow answer is waited for, not retried at once.
    sim.dhcp_timeout, sim.snmp_timeout, sim.snmp_retries = 4.0, 5.0, 3
    cfg.snmp_timeout, cfg.snmp_retries, cfg.enroll_max_in_flight = 5.0, 3, 0

    async def main() -> dict[str, Any]:
        office = Backoffice(cfg)
        await office.start()
        try:
            results, elapsed = await simulate(sim, flow, count)
        finally:
            await office.close()
        return summarize(results, elapsed)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        now = dt.datetime.now(dt.UTC)
        lab = LabPki.create(Path(folder) / "lab", LabSettings(REALM, "Example Cable", "kdc.lab.example.net",
                                                              "prov.lab.example.net"), now=now)
        for index in range(args.count):
            lab.issue_device(Identity.make(index).mta_mac, now=now)
        for flow in (Flow.HYBRID_2, Flow.SECURE):
            runs = [one_run(flow, args.count, lab) for _ in range(args.runs)]
            passed = [r["passed"] for r in runs]
            print(f"{flow.value}: {args.count} eMTAs at once, {args.runs} runs; passed {passed}; medians: "
                  f"wall {statistics.median(r['elapsed_s'] for r in runs):.2f} s, "
                  f"{statistics.median(r['devices_per_s'] for r in runs):.1f} devices/s, flow time p50 "
                  f"{statistics.median(r['flow_time_s']['p50'] for r in runs):.2f} s, p95 "
                  f"{statistics.median(r['flow_time_s']['p95'] for r in runs):.2f} s")
            if flow.secure:
                for step in ("MTA-9/10 AS_EXCHANGE", "MTA-13/14 KEY_MANAGEMENT", "MTA-15 ENROLL", "MTA-23 DECRYPT"):
                    p50 = statistics.median(r["steps"][step]["p50"] for r in runs if step in r["steps"])
                    print(f"  {step}: p50 {p50 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
