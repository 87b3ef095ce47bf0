"""The whole upgrade, server and devices: `pktcable serve` with a catalogued lab image and a
rollout rule, simulated cable modems that report their software in option 43, get TLV
9/21/32 in their config file, fetch the code file from serve's TFTP, install it, reboot
and report the new version, after which serve offers them nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pktcable.firmware.labimage import make_image
from pktcable.firmware.rules import Rule
from pktcable.flow import Flow
from pktcable.secure.labdir import LabPki
from pktcable.serve.app import Backoffice
from pktcable.serve.officeview import OfficeView
from pktcable.simulate.identity import MODEL_NUMBER, VENDOR_NAME, Identity
from pktcable.simulate.report import summarize
from pktcable.simulate.runner import simulate
from pktcable.store.firmware import make_image as catalogue_entry
from pktcable.store.firmware import signature_status

from .test_e2e import configs, run
from .test_firmware import MFG, NOW, SETTINGS
from .test_simulate_upgrade import code_file, write_root

COUNT = 4


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def test_a_rollout_upgrades_simulated_modems_through_serve(lab: LabPki, tmp_path: Path) -> None:
    root = write_root(lab, tmp_path)
    cfg, sim = configs(["BASIC.1"], firmware_cvc_root=root, firmware_manufacturer=MFG)
    sim.cvc_root, sim.manufacturer, sim.cm_version, sim.cm_image = root, MFG, "1.0.0", "fw-1.0.0.p7"
    data = code_file(lab, make_image("2.0.0", bytes(range(256)) * 64))

    async def scenario(office: Backoffice) -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
        trust = office.firmware_trust
        image = catalogue_entry("fw-2.0.0.p7", VENDOR_NAME, MODEL_NUMBER, "*", "2.0.0", data,
                                signature_status(data, trust, None), 0.0)
        office.firmware.add(image, data)
        office.firmware.add_rule(Rule("sim", VENDOR_NAME, MODEL_NUMBER, "*", "fw-2.0.0.p7", "2.0.0"))
        office.upgrades.changed()
        results, elapsed = await simulate(sim, Flow.BASIC_1, COUNT)
        report = summarize(results, elapsed)
        view = OfficeView(office)
        return results, report, [view.firmware_status(Identity.make(r.index).cm_mac.hex()) for r in results]

    results, report, statuses = run(cfg, scenario)
    assert report["passed"] == COUNT, report["failures"]
    assert report["upgrades"] == {"upgraded": COUNT} and report["cm_versions"] == {"2.0.0": COUNT}, report
    assert not [d for d in report["deviations"] if d["step"] == "CM-SWDL"], report["deviations"]
    # serve saw each modem come back on 2.0.0 (option 43.6 after the reboot) and offers nothing more.
    for status in statuses:
        assert status["current"] == "2.0.0" and status["image"] is None, status
        assert [h["sw_version"] for h in status["history"]][:2] == ["2.0.0", "1.0.0"], status
