"""A staged firmware rollout end to end, as an operator runs it (docs/firmware.md, "A staged
rollout, step by step"): `pktcable serve` in its own process over a data dir, the
catalogue and the rule changed with `pktcable firmware ...` on that data dir, and
`pktcable simulate` rebooting 1,000 eCM + eMTA devices between stages (their software
kept in ``--cm-state``, as a modem keeps its image in flash).

At 10 %, 50 % and 100 % exactly the devices of the stage (by the rule's hash of its name
and the CM MAC) upgrade, the simulator's report says who upgraded when, and serve's API
shows each device's current version against its target; the rollback brings every
device back to the previous image. Then the refusals: a code file signed by another
manufacturer, one with a damaged signature, and a CVC in the CM file from a root the
devices do not trust: the modem names its refusal, keeps its version, and serve still
shows it behind its target."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from pktcable.firmware import codefile as cf
from pktcable.firmware.labimage import make_image
from pktcable.firmware.rules import BUCKETS, bucket
from pktcable.secure.labdir import LabPki
from pktcable.serve.upgrades import RULES_TTL
from pktcable.simulate.identity import VENDOR_NAME, Identity

from . import ports
from .procs import FAULT_ENV, stop
from .test_firmware import MFG, NOW, SETTINGS, SIGNED, cvc

#: Devices of the rollout: eCM + eMTA pairs (BASIC.1), split between two simulator processes.
COUNT = 1000
WORKERS = 2
RULE = "sim-rollout"
OLD, NEW = "fw-1.0.0.p7", "fw-2.0.0.p7"
#: Devices booted per second: a plant's modems come back over minutes, not in one burst (and a
#: burst past serve's knee on a loaded two-core machine ends in timeouts, which is not under test).
RATE = 50
#: Seconds a simulator run may take on a loaded two-core machine (1,000 devices take about 25).
RUN_BUDGET = 600


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def pktcable(*args: str, budget: float = 120) -> str:
    """One `pktcable` command, as an operator types it; its stdout (a failure shows stderr)."""
    done = subprocess.run([sys.executable, "-m", "pktcable", *args], capture_output=True, text=True,
                          timeout=budget, env=FAULT_ENV)
    assert done.returncode == 0, f"pktcable {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@dataclass
class Plant:
    """A running serve, its data dir and API, and what the simulator needs to reach it."""

    folder: Path
    data: Path
    ports: dict[str, int]
    token: str
    root: str

    def rule(self, *args: str) -> None:
        pktcable("firmware", "rule", *args, "--data-dir", str(self.data), RULE)

    def api(self, path: str) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports['api']}/api/v1{path}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def firmware(self, mac: str) -> dict[str, Any]:
        return self.api(f"/devices/{mac}")["firmware"]  # type: ignore[no-any-return]

    def simulate(self, count: int, first: int = 0, state: Path | None = None, root: str | None = None,
                 workers: int = WORKERS, hold: float = 0.0) -> dict[str, Any]:
        """One boot of ``count`` devices from index ``first``; the JSON report. With ``hold``, the
        eCMs answer SNMP on serve's agent_port, and stay up that long after the run."""
        report = self.folder / f"report-{first}-{time.monotonic_ns()}.json"
        net = [f"--{k}-port={self.ports[k]}" for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent")]
        done = subprocess.run(
            [sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1", "--flow", "basic.1",
             "--count", str(count), "--first", str(first), "--workers", str(workers), "--rate", str(RATE), "--quiet",
             "--dhcp-timeout", "0.5", "--dhcp-retries", "4", "--device-budget", "120",
             "--cvc-root", root or self.root, "--manufacturer", MFG, "--cm-version", "1.0.0", "--cm-image", OLD,
             "--report", str(report), *(["--cm-state", str(state)] if state else []), *net,
             *(["--cm-agent-port", str(self.ports["agent"]), "--hold", str(hold)] if hold else [])],
            capture_output=True, text=True, timeout=RUN_BUDGET, env=FAULT_ENV)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(report.read_text())  # type: ignore[no-any-return]

    def wait_for_reason(self, mac: str, text: str) -> dict[str, Any]:
        """serve reads the rules again within its RULES_TTL after the CLI changed them."""
        deadline = time.monotonic() + 30
        while True:
            view = self.firmware(mac)
            if text in view["reason"] or time.monotonic() > deadline:
                assert text in view["reason"], view
                return view
            time.sleep(0.5)


def write_images(lab: LabPki, folder: Path) -> dict[str, Path]:
    """The lab images as the vendor ships them (`pktcable firmware lab-image` + `sign`), and the bad ones."""
    out = {}
    for version in ("1.0.0", "2.0.0"):
        image = folder / f"fw-{version}.bin"
        pktcable("firmware", "lab-image", "--version", version, "--size", "16384", "-o", str(image))
        out[version] = folder / f"fw-{version}.p7"
        pktcable("firmware", "sign", "--dir", str(lab.folder), "--signing-time", SIGNED.isoformat(), str(image),
                 "-o", str(out[version]))
    # Signed by another manufacturer (under the same root: only the organization differs).
    other = cvc(lab.get("cvc-root"), "Another Vendor")
    out["other-vendor"] = folder / "fw-2.0.1.p7"
    out["other-vendor"].write_bytes(cf.sign(make_image("2.0.1", b"\x00" * 4096), other.certificate, other.key,
                                            signing_time=SIGNED))
    # The manufacturer's, but signed half an hour before the image the modems run after the rollout.
    older = folder / "fw-0.9.0.bin"
    pktcable("firmware", "lab-image", "--version", "0.9.0", "--size", "4096", "-o", str(older))
    out["older"] = folder / "fw-0.9.0.p7"
    pktcable("firmware", "sign", "--dir", str(lab.folder), "--signing-time", (SIGNED - dt.timedelta(minutes=30)).isoformat(),
             str(older), "-o", str(out["older"]))
    # The manufacturer's signature, then one byte of the signed image changed.
    good = bytearray(out["2.0.0"].read_bytes().replace(b"PKTCABLE-SIM-IMAGE 2.0.0", b"PKTCABLE-SIM-IMAGE 2.0.2"))
    out["damaged"] = folder / "fw-2.0.2.p7"
    out["damaged"].write_bytes(bytes(good))
    return out


@contextmanager
def serving(lab: LabPki, folder: Path, check_after: float = 0.0) -> Iterator[Plant]:
    """A data dir with the catalogue, an operator token and a rule at the fleet's image,
    then serve started on it (and stopped at the end); ``check_after``: serve's
    firmware_check_after (0: modems still behind an offer are never asked why)."""
    data = folder / "data"
    root = folder / "cvc-root.pem"
    root.write_bytes(lab.get("cvc-root").certificate.public_bytes(Encoding.PEM))
    mfg_cvc = folder / "mfg-cvc.der"
    mfg_cvc.write_bytes(lab.get("manufacturer-cvc").certificate.public_bytes(Encoding.DER))
    images = write_images(lab, folder)
    versions = {"1.0.0": "1.0.0", "2.0.0": "2.0.0", "other-vendor": "2.0.1", "damaged": "2.0.2", "older": "0.9.0"}
    for key, path in images.items():
        pktcable("firmware", "add", "--data-dir", str(data), "--vendor", VENDOR_NAME, "--model", "SIM-1",
                 "--hw-version", "1.0", "--version", versions[key], "--root", str(root), "--manufacturer", MFG,
                 str(path))
    token = pktcable("token", "create", "--data-dir", str(data), "--name", "rollout", "--role", "operator").strip()
    # The rule the fleet is under before the rollout: the image it runs (so the next image's rule
    # change keeps it as the rollback target).
    pktcable("firmware", "rule", "add", "--data-dir", str(data), "--vendor", VENDOR_NAME, "--image", OLD, RULE)
    p = {k: ports.free_port("127.0.0.1") for k in ("dhcp", "relay", "tftp", "tod", "snmp", "agent", "api")}
    conf = folder / "serve.toml"
    conf.write_text("".join(f"{k}_port = {v}\n" for k, v in p.items()) + "http_port = 0\n"
                    f'data_dir = "{data}"\nrealms = ["BASIC.1"]\nauto_enroll = true\ncm_key = "test-cmts-secret"\n'
                    # TLV 32 is the manufacturer's CVC whoever signed the image, and serve is told no
                    # manufacturer to check the image's signer against: the bad images reach the modem,
                    # whose refusal is under test (the catalogue judged them: `firmware add --root`).
                    f'firmware_manufacturer_cvc = "{mfg_cvc}"\nfirmware_check_after = {check_after}\n')
    server = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--config", str(conf)], env=FAULT_ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    plant = Plant(folder, data, p, token, str(root))
    try:
        deadline = time.monotonic() + 60
        while True:  # up once its API answers
            try:
                plant.api("/firmware-rules")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr
                time.sleep(0.3)
        yield plant
    finally:
        stop(server)


def cm_mac(index: int) -> str:
    return Identity.make(index).cm_mac.hex()


def in_stage(index: int, percent: int) -> bool:
    """The rule's own arithmetic (pktcable.firmware.rules.bucket), from the outside."""
    return bucket(RULE, cm_mac(index)) < percent * (BUCKETS // 100)


#: Boots of the plant a stage may take: a download that timed out on a loaded machine
#: (download-failed) is taken at the device's next boot, as a real modem's is.
BOOTS = 3


def boot(plant: Plant, state: Path, due: set[int], before: str, after: str, image: str) -> dict[str, Any]:
    """Boot the plant until the devices ``due`` run ``after`` (a device whose TFTP timed out
    takes the image at its next boot): exactly those are asked to upgrade, each at a time
    within its boot, the others are not; the last boot's report."""
    for _ in range(BOOTS):
        started = time.time()
        report = plant.simulate(COUNT, state=state)
        finished = time.time()
        assert report["devices"] == report["passed"] == COUNT, report["failures"][:3]
        rows = {row["index"]: row for row in report["cm_upgrades"]}
        assert set(rows) == due, (after, len(rows), len(due), report["software"], report["deviations"][:5])
        retry = {i for i, row in rows.items() if row["upgrade"].startswith("download-failed")}
        for index, row in rows.items():
            assert row["cm_mac"] == cm_mac(index)
            if index in retry:
                assert row["after"] == before, row
                continue
            assert (row["before"], row["after"], row["upgrade"], row["image"]) == (before, after, f"upgraded: {after}",
                                                                                   image), row
            # When: the image's TFTP, then the reboot, then the DHCP ACK of the new version, all in this boot.
            assert started <= row["image_at"] <= row["rebooted_at"] <= row["reported_at"] <= finished, row
        assert report["software"] == {"upgraded": len(due) - len(retry), "not_asked": COUNT - len(due),
                                      "failed": {"download-failed": len(retry)} if retry else {}}
        due = retry
        if not due:
            return report
    raise AssertionError(f"{len(due)} devices could not download {image} in {BOOTS} boots")


def boot_stage(plant: Plant, state: Path, upgraded_before: set[int], percent: int) -> set[int]:
    """The stage's devices not upgraded before upgrade, the others are not asked to; serve
    shows every device's current version and the target."""
    stage = {i for i in range(COUNT) if in_stage(i, percent)}
    report = boot(plant, state, stage - upgraded_before, "1.0.0", "2.0.0", NEW)
    assert report["cm_versions"] == {k: v for k, v in (("1.0.0", COUNT - len(stage)), ("2.0.0", len(stage))) if v}
    for index in range(COUNT):
        view = plant.firmware(cm_mac(index))
        assert (view["target"], view["target_version"], view["rule"]) == (NEW, "2.0.0", RULE), view
        if index in stage:
            assert view["current"] == "2.0.0" and view["reason"] == "already running 2.0.0", view
        else:
            assert view["current"] == "1.0.0" and f"not in the rollout's {percent}% stage" in view["reason"], view
    return stage


def test_a_staged_rollout_to_1000_devices_and_its_rollback(lab: LabPki, tmp_path: Path) -> None:
    state = tmp_path / "cm-state.json"
    # The devices the stages hold by the hash: each stage adds some, none leaves.
    assert 0 < sum(in_stage(i, 10) for i in range(COUNT)) < sum(in_stage(i, 50) for i in range(COUNT)) < COUNT
    with serving(lab, tmp_path) as plant:
        upgraded: set[int] = set()
        for n, percent in enumerate((10, 50, 100)):
            if n == 0:
                plant.rule("set", "--image", NEW, "--percent", str(percent))
                time.sleep(RULES_TTL + 1)  # no device known yet to ask serve about: its rules' cache lapses
            else:
                plant.rule("set", "--percent", str(percent))
                joining = next(i for i in range(COUNT) if i not in upgraded and in_stage(i, percent))
                plant.wait_for_reason(cm_mac(joining), f"in the {percent}% stage")
            upgraded = boot_stage(plant, state, upgraded, percent)
        assert upgraded == set(range(COUNT))
        # A boot at 100 % with every device on its target: nothing to do.
        quiet = plant.simulate(COUNT, state=state)
        assert quiet["cm_upgrades"] == [] and quiet["cm_versions"] == {"2.0.0": COUNT}

        # The rollback: the rule's target is its previous image again, and every device goes back.
        plant.rule("rollback")
        plant.wait_for_reason(cm_mac(0), "in the 100% stage")
        back = boot(plant, state, set(range(COUNT)), "2.0.0", "1.0.0", OLD)
        assert back["cm_versions"] == {"1.0.0": COUNT}
        for index in range(0, COUNT, 7):  # serve's view of a sample (the stages checked every device)
            view = plant.firmware(cm_mac(index))
            assert (view["current"], view["target"], view["reason"]) == ("1.0.0", OLD, "already running 1.0.0"), view
            assert [v["sw_version"] for v in view["history"]][:3] == ["1.0.0", "2.0.0", "1.0.0"], view["history"]
        saved = json.loads(state.read_text())["devices"]
        assert {s["version"] for s in saved.values()} == {"1.0.0"} and len(saved) == COUNT


#: Seconds after a refused offer until serve asks the modem why (its firmware_check_after), and
#: the seconds the simulated modems stay up after their run to be asked (up to three asks).
CHECK_AFTER, HOLD = 1.0, 8.0
#: The refusals: the rule's image, the devices' CVC root ("own" or another lab's), whether they
#: first upgrade to NEW (their code access start is then its signing time), the upgrade's name in
#: the report.
REFUSALS = {
    "signed-by-another-manufacturer": ("fw-2.0.1.p7", "2.0.1", "own", False, "code-file-rejected: wrong-manufacturer"),
    "damaged-signature": ("fw-2.0.2.p7", "2.0.2", "own", False, "code-file-rejected: bad-signature"),
    "cvc-not-from-the-devices-root": (NEW, "2.0.0", "other", False, "cvc-rejected: cvc-untrusted"),
    # A rollback to an image signed before the one the modems run: they refuse it (re-sign it first).
    "signed-before-the-running-image": ("fw-0.9.0.p7", "0.9.0", "own", True, "code-file-rejected: stale-signing-time"),
}


def test_refused_images_and_cvcs_keep_the_version_and_serve_shows_the_device_behind(
        lab: LabPki, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = LabPki.create(tmp_path_factory.mktemp("other-pki"), SETTINGS, now=NOW)
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(other.get("cvc-root").certificate.public_bytes(Encoding.PEM))
    with serving(lab, tmp_path, check_after=CHECK_AFTER) as plant:
        for n, (case, (image, version, root, upgraded, named)) in enumerate(REFUSALS.items()):
            first, count = 5000 + 10 * n, 4
            state = tmp_path / f"state-{case}.json"
            if upgraded:
                plant.rule("set", "--image", NEW, "--percent", "100")
                time.sleep(RULES_TTL + 1)  # serve reads the changed rule again
                assert plant.simulate(count, first, state=state, workers=1)["cm_versions"] == {"2.0.0": count}
            running = "2.0.0" if upgraded else "1.0.0"
            plant.rule("set", "--image", image, "--percent", "100")
            time.sleep(RULES_TTL + 1)
            report = plant.simulate(count, first, state=state, root=None if root == "own" else str(other_root),
                                    workers=1, hold=HOLD)
            assert report["passed"] == count, (case, report["failures"][:2])
            assert report["cm_versions"] == {running: count}, case
            assert report["software"]["failed"] == {named.split(":")[0]: count}, (case, report["software"])
            for row in report["cm_upgrades"]:
                assert row["upgrade"] == named and row["after"] == running and row["image_at"] is None, (case, row)
            assert any(d["step"] == "CM-SWDL" and named in d["text"] for d in report["deviations"]), case
            for index in range(first, first + count):
                view = plant.firmware(cm_mac(index))
                # Still behind: serve offers the image again at its next boot.
                assert (view["current"], view["target"], view["target_version"]) == (running, image, version), \
                    (case, view)
                assert view["image"] == image and view["reason"] == "in the 100% stage", (case, view)
                # And serve asked the modem why: its agent's words are on the history and in the view.
                device = plant.api(f"/devices/{cm_mac(index)}")
                asked = [s for s in device["history"] if s["step"] == "CM-SWDL"]
                assert asked and asked[-1]["event"] == "SwUpgradeFailed", (case, asked)
                assert f"offered {image} ({version})" in asked[-1]["detail"], (case, asked[-1])
                assert named.split(": ")[-1] in asked[-1]["detail"] and f"running {running}" in asked[-1]["detail"], \
                    (case, asked[-1])
                assert device["firmware"]["checked"]["event"] == "SwUpgradeFailed", (case, device["firmware"])
