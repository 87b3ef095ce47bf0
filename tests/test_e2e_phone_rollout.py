"""A staged firmware rollout to SIP phones end to end: `pktcable serve` in its own process
over a data dir, simulated phones (pktcable/simulate/phone.py) held subscribed while an
operator moves one rule through the API: the catalogue gets the signed lab images 1.0.0
(what the phones run) and 2.0.0, the rule names 2.0.0 at 10 %, 50 % and 100 %, then is
rolled back.

At each stage exactly the phones whose place in the rule's hash is below the percentage
and that did not upgrade before get the change NOTIFY, fetch the image, check its
signature, reboot and subscribe afresh reporting 2.0.0 (each phone's record says when,
in that order, inside the stage); the others get no NOTIFY at all. serve's API shows
every phone's current version against the target, with the reason. The rollback takes
every phone back to 1.0.0, and serve's history shows 1.0.0, 2.0.0, 1.0.0."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from pktcable.firmware import codefile as cf
from pktcable.firmware.labimage import make_image
from pktcable.firmware.rules import BUCKETS, bucket
from pktcable.secure.labdir import LabPki
from pktcable.simulate.phone import PhoneConfig, SimulatedPhone, phone_mac
from pktcable.simulate.phonefleet import PhoneFleet
from pktcable.simulate.report import summarize

from . import ports
from .procs import FAULT_ENV, stop
from .test_firmware import MFG, NOW, SETTINGS, SIGNED

#: Phones in the rollout: the whole test takes about 40 s on a two-core machine shared with other jobs.
COUNT = 500
#: Phones started per second (a building's phones come back over seconds, not in one burst).
RATE = 100
RULE = "phone-rollout"
OLD, NEW = "ph-1.0.0.p7", "ph-2.0.0.p7"
VENDOR, MODEL = "pktcable", "simulated"  # what the simulated phones report (PhoneConfig's defaults)
#: Seconds a stage may take on a loaded two-core machine (500 phones take a few: the NOTIFYs leave at
#: serve's sip_push_rate, 50 a second).
BUDGET = 180.0
#: Seconds to wait, once a stage's phones are done, for a NOTIFY that should not come.
QUIET = 1.5
DEVICE = '{{ mac = "{mac}", kind = "sip", template = "generic", ' \
         'vars = {{ registrar = "sip.example.net", lines = [{{ user = "{user}", password = "pw" }}] }} }}'


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


@dataclass
class Plant:
    """A running serve: its API, its SIP port and the CVC root the phones trust."""

    api: str
    token: str
    sip_port: int
    root: str


def pktcable(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pktcable", *args], capture_output=True, text=True, timeout=120,
                          env=FAULT_ENV)
    assert done.returncode == 0, f"pktcable {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def serving(lab: LabPki, folder: Path) -> Iterator[Plant]:
    """serve over a data dir with an operator token and the phones as known devices of kind sip."""
    data = folder / "data"
    root = folder / "cvc-root.pem"
    root.write_bytes(lab.get("cvc-root").certificate.public_bytes(Encoding.PEM))
    token = pktcable("token", "create", "--data-dir", str(data), "--name", "rollout", "--role", "operator").strip()
    p = {k: ports.free_port("127.0.0.1")
         for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent", "api", "http", "sip")}
    devices = ",\n  ".join(DEVICE.format(mac=phone_mac(n), user=3000 + n) for n in range(COUNT))
    conf = folder / "serve.toml"
    conf.write_text("".join(f"{k}_port = {v}\n" for k, v in p.items())
                    + f'data_dir = "{data}"\ncm_key = "test-cmts-secret"\n'
                    # The catalogue judges an uploaded image by the root and the manufacturer.
                    f'firmware_cvc_root = "{root}"\nfirmware_manufacturer = "{MFG}"\n'
                    f"devices = [\n  {devices}\n]\n")
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(conf)], env=FAULT_ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield Plant(f"http://127.0.0.1:{p['api']}/api/v1", token, p["sip"], str(root))
    finally:
        stop(server)


def in_stage(index: int, percent: int) -> bool:
    """The rule's own arithmetic (pktcable.firmware.rules.bucket), from the outside."""
    return bucket(RULE, phone_mac(index)) < percent * (BUCKETS // 100)


def images(lab: LabPki) -> dict[str, tuple[str, bytes]]:
    """file name -> (version, code file): the lab images signed by the manufacturer's CVC."""
    mfg = lab.get("manufacturer-cvc")
    return {f"ph-{v}.p7": (v, cf.sign(make_image(v, b"\x5a" * 4096), mfg.certificate, mfg.key, signing_time=SIGNED))
            for v in ("1.0.0", "2.0.0")}


class Api:
    def __init__(self, plant: Plant, http: aiohttp.ClientSession) -> None:
        self.plant, self.http = plant, http
        self.headers = {"Authorization": f"Bearer {plant.token}"}

    async def call(self, method: str, path: str, content_type: str | None = None, **kw: Any) -> tuple[int, Any]:
        headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
        async with self.http.request(method, self.plant.api + path, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=60), **kw) as r:
            return r.status, json.loads(await r.read() or b"null")

    async def up(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = await self.call("GET", "/firmware-rules")
                if status == 200:
                    return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "serve's API did not come up"
            await asyncio.sleep(0.3)

    async def firmware(self, index: int) -> dict[str, Any]:
        status, body = await self.call("GET", f"/devices/{phone_mac(index)}")
        assert status == 200, body
        return body["firmware"]  # type: ignore[no-any-return]

    async def views(self) -> list[dict[str, Any]]:
        """serve's firmware view of every phone, a few requests at a time."""
        out: list[dict[str, Any]] = []
        for start in range(0, COUNT, 20):
            out += await asyncio.gather(*(self.firmware(i) for i in range(start, min(COUNT, start + 20))))
        return out


def _state(phone: SimulatedPhone) -> object:
    r = phone.result
    return (phone.mac, phone.software.version, r.state, r.upgrade, dict(phone.counters), r.deviations[-3:])


async def _until(what: Any, why: Any) -> None:
    deadline = time.monotonic() + BUDGET
    while not what():
        assert time.monotonic() < deadline, why()
        await asyncio.sleep(0.1)


async def stage(api: Api, phones: list[SimulatedPhone], change: tuple[str, str, dict[str, Any] | None],
                due: set[int], before: str, after: str, image: str) -> tuple[float, float]:
    """Make the rule change; exactly the phones ``due`` get the change NOTIFY and upgrade from
    ``before`` to ``after`` (each in order: NOTIFY, image, reboot, SUBSCRIBE reporting it,
    within the stage), the others are not told anything. The stage's POSIX start and end."""
    notified = {p.mac: p.counters["notify-received"] for p in phones}
    reboots = {p.mac: p.counters["reboots"] for p in phones}
    versions = {p.mac: p.software.version for p in phones}
    method, path, body = change
    started = time.time()
    status, answer = await api.call(method, path, json=body)
    assert status == 200, answer

    def done(p: SimulatedPhone) -> bool:
        r = p.result
        return p.software.version == after and r.reported_at > started and r.state == "SUBSCRIBED"

    await _until(lambda: all(done(phones[i]) for i in due),
                 lambda: [_state(phones[i]) for i in due if not done(phones[i])][:5])
    await asyncio.sleep(QUIET)  # a NOTIFY to a phone outside the stage would have come by now
    finished = time.time()
    for index, p in enumerate(phones):
        r = p.result
        if index not in due:
            assert p.counters["notify-received"] == notified[p.mac], _state(p)
            assert (p.software.version, p.counters["reboots"]) == (versions[p.mac], reboots[p.mac]), _state(p)
            continue
        assert versions[p.mac] == before and p.counters["notify-received"] > notified[p.mac], _state(p)
        assert p.counters["reboots"] == reboots[p.mac] + 1, _state(p)
        assert (r.upgrade, r.cm_version, r.cm_image) == (f"upgraded: {after}", after, image), _state(p)
        # When: the change NOTIFY, the image fetched and checked, the reboot, the fresh SUBSCRIBE's 2xx.
        assert started <= r.notified_at <= r.image_at <= r.rebooted_at <= r.reported_at <= finished, r
        assert r.deviations == [], _state(p)
    return started, finished


def test_a_staged_rollout_to_phones_through_the_api_and_its_rollback(lab: LabPki, tmp_path: Path) -> None:
    # The stages the hash makes: each adds phones, none leaves.
    sizes = [sum(in_stage(i, p) for i in range(COUNT)) for p in (10, 50)]
    assert 0 < sizes[0] < sizes[1] < COUNT, sizes
    with serving(lab, tmp_path) as plant:
        asyncio.run(asyncio.wait_for(rollout(lab, plant), 6 * BUDGET))


async def rollout(lab: LabPki, plant: Plant) -> None:
    # An idle connection is dropped by this client before serve's keep-alive limit
    # (http_header_timeout, 5 s) closes it: else a PATCH can go out on a connection the server is
    # closing, and a PATCH is not retried.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=1)) as http:
        api = Api(plant, http)
        await api.up()
        for name, (version, data) in images(lab).items():
            status, body = await api.call(
                "POST", "/firmware", data=data, content_type="application/octet-stream",
                params={"filename": name, "vendor": VENDOR, "model": MODEL, "hw_version": "1", "version": version})
            assert status == 201 and body["signature"].startswith("signed"), body
        # The rule the phones are under before the rollout: the image they run (so retargeting it
        # keeps that image as the rollback's), at 100 %: nothing offered, the profiles name no firmware.
        rule = {"name": RULE, "vendor": VENDOR, "model": MODEL, "hw_version": "*", "target": OLD, "percent": 100}
        status, body = await api.call("POST", "/firmware-rules", json=rule)
        assert status == 201, body
        config = PhoneConfig("127.0.0.1", plant.sip_port, cvc_root=plant.root, manufacturer=MFG)
        async with PhoneFleet(config, COUNT, rate=RATE) as fleet:
            await fleet.enroll()
            phones = fleet.phones
            assert all(p.result.passed for p in phones), [_state(p) for p in phones if not p.result.passed][:5]
            assert all(p.result.upgrade == "" for p in phones)
            upgraded: set[int] = set()
            when: dict[int, tuple[float, float]] = {}
            for percent in (10, 50, 100):
                change = {"percent": percent} if upgraded else {"target": NEW, "percent": percent}
                joining = {i for i in range(COUNT) if in_stage(i, percent)} - upgraded
                span = await stage(api, phones, ("PATCH", f"/firmware-rules/{RULE}", change), joining,
                                   "1.0.0", "2.0.0", NEW)
                when.update(dict.fromkeys(joining, span))
                upgraded |= joining
                for index, view in enumerate(await api.views()):
                    assert (view["target"], view["target_version"], view["rule"]) == (NEW, "2.0.0", RULE), view
                    if index in upgraded:
                        assert (view["current"], view["reason"]) == ("2.0.0", "already running 2.0.0"), view
                        assert [(h["sw_version"], h["source"]) for h in view["history"]][:2] == \
                            [("2.0.0", "sip"), ("1.0.0", "sip")], view["history"]
                    else:
                        assert view["current"] == "1.0.0", view
                        assert f"not in the rollout's {percent}% stage" in view["reason"], view
            assert upgraded == set(range(COUNT))
            # The simulator's report: who upgraded when, each phone within the stage that took it.
            report = summarize(fleet.results, 1.0)
            assert report["software"] == {"upgraded": COUNT, "not_asked": 0, "failed": {}}, report["software"]
            assert report["cm_versions"] == {"2.0.0": COUNT}
            rows = report["cm_upgrades"]
            assert sorted(row["index"] for row in rows) == list(range(COUNT))
            for row in rows:
                started, finished = when[row["index"]]
                assert (row["mta_mac"], row["before"], row["image"]) == (phone_mac(row["index"]), "1.0.0", NEW), row
                assert started <= row["notified_at"] <= row["reported_at"] <= finished, (row, started, finished)

            # The rollback: the rule's target is 1.0.0 again, and every phone goes back.
            await stage(api, phones, ("POST", f"/firmware-rules/{RULE}/rollback", None), set(range(COUNT)),
                        "2.0.0", "1.0.0", OLD)
            for view in await api.views():
                assert (view["current"], view["target"], view["reason"]) == ("1.0.0", OLD, "already running 1.0.0"), \
                    view
                assert [h["sw_version"] for h in view["history"]][:3] == ["1.0.0", "2.0.0", "1.0.0"], view["history"]
            assert summarize(fleet.results, 1.0)["cm_versions"] == {"1.0.0": COUNT}
