"""The simulator's storm features: devices that retry within a budget,
workers that split the devices, the report's timeline and per-device rows,
and the relay's cheap look at a reply's message type."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

from dhcp.message import MessageType, decode
from pktcable.flow import Flow, MtaState
from pktcable.serve.app import Backoffice
from pktcable.simulate.config import Deviation, DeviceResult
from pktcable.simulate.identity import Identity, request
from pktcable.simulate.net import scan_type
from pktcable.simulate.report import from_rows, summarize, timeline, to_rows
from pktcable.simulate.runner import simulate
from pktcable.simulate.workers import config_from_json, config_to_json, shares

from .procs import FAULT_ENV, stop
from .test_e2e import configs, free_port


def test_shares_split_devices_rate_and_relays() -> None:
    parts = shares(10, 100.0, 50, "127.0.0.1", 3)
    assert [(p.first, p.count) for p in parts] == [(50, 4), (54, 3), (57, 3)]
    assert [p.relay for p in parts] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert sum(p.rate or 0 for p in parts) == 100.0
    assert shares(2, None, 0, "10.0.0.9", 5) == shares(2, None, 0, "10.0.0.9", 2)  # no idle worker
    assert all(p.rate is None for p in shares(4, None, 0, "10.0.0.9", 2))


def test_a_worker_gets_the_settings_the_parent_has() -> None:
    _, sim = configs(["HYBRID.2"])
    sim.device_budget, sim.write_community = 12.5, b"w\xe9"
    assert config_from_json(json.loads(json.dumps(config_to_json(sim)))) == sim


def test_scan_type_agrees_with_the_decoder_and_gives_up_on_odd_bytes() -> None:
    ident = Identity.make(7)
    for kind in ("cm", "mta"):
        for msg_type in (MessageType.DISCOVER, MessageType.REQUEST):
            data = request(ident, kind, msg_type, 0x1234, IPv4Address("127.0.0.1"))
            assert scan_type(data) == decode(data).message_type == msg_type
    data = request(ident, "cm", MessageType.DISCOVER, 1, IPv4Address("127.0.0.1"))
    assert scan_type(data[:240]) is None  # no options at all
    assert scan_type(data[:236] + b"\0\0\0\0" + data[240:]) is None  # no magic cookie
    assert scan_type(data[:240] + b"\x00\x00\xff") is None  # pads then the end: no option 53
    assert scan_type(data[:240] + b"\x35\x02\x01\x01\xff") is None  # 53 of the wrong length
    assert scan_type(data[:240] + b"\x0c\x40abc") is None  # an option running off the end


def test_timeline_counts_outcomes_per_second_and_rows_round_trip() -> None:
    a = DeviceResult(0, "02", "HYBRID.2", state=MtaState.OPERATIONAL.name, started_at=100.0, done_at=100.4,
                     steps=[("MTA-1/2", "DHCP_DISCOVER", 0.1)], walks=1)
    b = DeviceResult(1, "03", "HYBRID.2", state="FAILED_DHCP", started_at=100.2, done_at=102.5, retries=2,
                     deviations=[Deviation("MTA-1...4", "no OFFER"), Deviation("MTA-1...4", "no OFFER")])
    assert timeline([a, b]) == {"bucket_s": 1.0, "passed": [1, 0, 0], "failed": [0, 0, 1]}
    assert from_rows(json.loads(json.dumps(to_rows([a, b])))) == [a, b]
    report = summarize([a, b], 2.5)
    assert report["retries"] == 2 and report["devices_retried"] == 1
    # One device that met the same fault on two walks: one device, two times.
    assert report["deviations"] == [{"step": "MTA-1...4", "text": "no OFFER", "devices": 1, "times": 2}]


def test_a_device_with_a_budget_starts_over_until_the_server_answers() -> None:
    cfg, sim = configs(["HYBRID.2"])
    sim.dhcp_timeout, sim.dhcp_retries, sim.device_budget = 0.2, 1, 30.0

    async def main() -> list[DeviceResult]:
        office = Backoffice(cfg)
        # Nobody answers DHCP for the first second: the eCM's walks fail and start over.
        running = asyncio.ensure_future(simulate(sim, Flow.HYBRID_2, 3))
        await asyncio.sleep(1.0)
        await office.start()
        try:
            results, _ = await running
        finally:
            await office.close()
        return results

    results = asyncio.run(main())
    assert all(r.passed for r in results), [(r.state, r.deviations[:2]) for r in results]
    assert all(r.retries >= 1 and r.walks == 1 for r in results)
    # The failed walks' steps are in the result too: the eCM more than once.
    assert all([step for step, _, _ in r.steps].count("CM-1...CM-10") == r.retries + 1 for r in results)


def test_a_device_gives_up_when_its_budget_is_spent() -> None:
    _, sim = configs(["HYBRID.2"])  # nothing listens on these ports
    sim.dhcp_timeout, sim.dhcp_retries, sim.device_budget = 0.1, 1, 1.5

    (r,), _ = asyncio.run(simulate(sim, Flow.HYBRID_2, 1))
    assert not r.passed and r.retries >= 2
    assert 1.4 <= r.done_at - r.started_at <= 1.5 + 10  # generous: a loaded machine


def test_workers_play_their_shares_from_their_own_relays_into_one_report(tmp_path: Path) -> None:
    p = {k: free_port() for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent")}
    conf = tmp_path / "serve.toml"
    conf.write_text("".join(f"{k}_port = {v}\n" for k, v in p.items()) + "http_port = 0\napi_port = 0\n"
                    'auto_enroll = true\ncm_key = "test-cmts-secret"\n')
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(conf)], env=FAULT_ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        report = tmp_path / "report.json"
        for _ in range(3):  # serve is up once the simulator's devices get answers; it starts in a second or so
            done = subprocess.run([sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1",
                                   "--flow", "hybrid.2", "--count", "9", "--first", "500", "--workers", "2",
                                   "--device-budget", "60", "--report", str(report),
                                   *[f"--{k}-port={v}" for k, v in p.items()]],
                                  capture_output=True, text=True, timeout=180, env=FAULT_ENV)
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stdout + done.stderr
        data = json.loads(report.read_text())
        assert data["workers"] == 2 and data["devices"] == data["passed"] == 9
        assert data["relay"]["sent"] >= 9 * 4 and data["relay"]["received"] >= 9 * 4  # two DORAs a device
        assert sum(data["timeline"]["passed"]) == 9
        # One progress line at the end for all workers.
        assert done.stderr.splitlines()[-1].startswith("simulate: 9/9 done, 9 passed, 0 failed"), done.stderr
    finally:
        stop(server)
