"""A staged rollout end to end: `serve` with a catalogued code file and a rule, simulated
eCMs that upgrade as their CM file asks (TLV 9/21/32 from the rule), fetch the image from
serve's TFTP, verify it, reboot and report the new version in option 43.6, which serve
records; the next file then carries no upgrade."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from pktcable.firmware import codefile as cf
from pktcable.firmware.labimage import make_image as lab_image
from pktcable.firmware.rules import Rule
from pktcable.flow import Flow
from pktcable.secure.labdir import LabPki
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig
from pktcable.simulate.config import SimConfig
from pktcable.simulate.identity import Identity
from pktcable.simulate.runner import simulate
from pktcable.store.firmware import make_image, signature_status

from .test_e2e import configs, run
from .test_firmware import MFG, NOW, SETTINGS, SIGNED

IMAGE = "fw-2.0.0.p7"
VENDOR = "pktcable-sim"  # what the simulated eCM names itself in option 43.10


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def setting_up(lab: LabPki, root: str, rule: Rule) -> tuple[tuple[ServeConfig, SimConfig], Callable[[Backoffice], None]]:
    """serve's and the simulator's settings, and the setup that catalogues the image and the rule."""
    cfg, sim = configs([Flow.BASIC_1.value], firmware_cvc_root=root, firmware_manufacturer=MFG)
    sim = dataclasses.replace(sim, cm_version="1.0.0", cm_image="fw-1.0.0.p7", cvc_root=root, manufacturer=MFG,
                              dhcp_retries=3)
    mfg = lab.get("manufacturer-cvc")
    data = cf.sign(lab_image("2.0.0", bytes(range(256)) * 20), mfg.certificate, mfg.key, signing_time=SIGNED)

    def setup(office: Backoffice) -> None:
        status = signature_status(data, office.firmware_trust, None)
        assert status == f"signed by {MFG}", status
        office.firmware.add(make_image(IMAGE, VENDOR, "SIM-1", "1.0", "2.0.0", data, status, 1.0), data)
        office.firmware.add_rule(rule)

    return (cfg, sim), setup


def root_pem(lab: LabPki, folder: Path) -> str:
    path = folder / "cvc-root.pem"
    path.write_bytes(lab.get("cvc-root").certificate.public_bytes(Encoding.PEM))
    return str(path)


def test_a_rule_upgrades_the_modems_and_serve_records_their_new_version(lab: LabPki, tmp_path: Path) -> None:
    (cfg, sim), setup = setting_up(lab, root_pem(lab, tmp_path), Rule("sim", VENDOR, "*", "*", IMAGE, "2.0.0"))

    async def scenario(office: Backoffice) -> None:
        results, _ = await simulate(sim, Flow.BASIC_1, 2)
        for r in results:
            assert r.upgrade == "upgraded: 2.0.0", (r.upgrade, r.deviations)
            assert r.cm_version == "2.0.0"
            mac = Identity.make(r.index).cm_mac.hex()
            seen = office.firmware.device(mac)
            assert seen is not None and (seen.vendor, seen.sw_version) == (VENDOR, "2.0.0")
            assert [v.sw_version for v in office.firmware.versions(mac)] == ["2.0.0", "1.0.0"]
            status = office.upgrades.view(mac)
            assert status["image"] is None and status["reason"] == "already running 2.0.0"
        assert office.upgrades.offered == 2 and not office.upgrades.refused

    run(cfg, scenario, setup)


def test_a_zero_percent_stage_upgrades_only_the_listed_modem(lab: LabPki, tmp_path: Path) -> None:
    listed = Identity.make(1).cm_mac.hex()
    rule = Rule("pilot", VENDOR, "*", "*", IMAGE, "2.0.0", percent=0, macs=(listed,))
    (cfg, sim), setup = setting_up(lab, root_pem(lab, tmp_path), rule)

    async def scenario(office: Backoffice) -> None:
        results, _ = await simulate(sim, Flow.BASIC_1, 3)
        for r in results:
            mac = Identity.make(r.index).cm_mac.hex()
            want = "2.0.0" if mac == listed else "1.0.0"
            assert r.cm_version == want, (r.index, r.upgrade, r.deviations)
            seen = office.firmware.device(mac)
            assert seen is not None and seen.sw_version == want
            if mac != listed:
                assert r.upgrade == "" and "0% stage" in office.upgrades.view(mac)["reason"]
        assert office.upgrades.offered == 1

    run(cfg, scenario, setup)
