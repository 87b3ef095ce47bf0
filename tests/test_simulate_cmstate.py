"""The simulated modems' flash between runs (--cm-state) and the report's rows of who
upgraded when (pktcable/simulate/cmstate.py, report.py)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pktcable.firmware.codefile import AccessStart, AccessState
from pktcable.simulate import cmstate
from pktcable.simulate.config import DeviceResult
from pktcable.simulate.report import from_rows, render, summarize, to_rows

T1 = dt.datetime(2026, 12, 3, 13, 0, tzinfo=dt.UTC)
T0 = T1 - dt.timedelta(days=30)


def test_state_round_trips_with_and_without_a_code_store() -> None:
    state = {"021000000001": cmstate.Saved("2.0.0", "fw-2.0.0.p7", AccessState(AccessStart(T1, T0))),
             "021000000002": cmstate.Saved("1.0.0", "", None),
             "021000000003": cmstate.Saved("1.0.0", "fw-1.0.0.p7",
                                           AccessState(AccessStart(T0, T0), AccessStart(T1, T1)))}
    assert cmstate.parse(cmstate.dump(state)) == state
    row = cmstate.access_row(state["021000000003"].access)
    assert cmstate.access_of(json.loads(json.dumps(row))) == state["021000000003"].access
    assert cmstate.access_row(None) == [] and cmstate.access_of([]) is None


def entry(**kw: object) -> bytes:
    device = {"version": "2.0.0", "image": "fw.p7", "access": {"code": T1.isoformat(), "cvc": T0.isoformat()},
              "cosigner": None, **kw}
    return json.dumps({"format": cmstate.FORMAT, "devices": {"021000000001": device}}).encode()


@pytest.mark.parametrize(("data", "where"), [
    (b"[", "$"),
    (b'{"format": "other", "devices": {}}', "$.format"),
    (json.dumps({"format": cmstate.FORMAT, "devices": []}).encode(), "$.devices"),
    (json.dumps({"format": cmstate.FORMAT, "devices": {"02:10": {}}}).encode(), "$.devices.02:10"),
    (entry(extra=1), "$.devices.021000000001"),
    (entry(version="2.0 beta"), "$.devices.021000000001.version"),
    (entry(version=2), "$.devices.021000000001.version"),
    (entry(image="a\nb"), "$.devices.021000000001.image"),
    (entry(access={"code": "2026-12-03T13:00:00", "cvc": T0.isoformat()}), "$.devices.021000000001.access.code"),
    (entry(access={"code": T1.isoformat()}), "$.devices.021000000001.access"),
    (entry(access=None, cosigner={"code": T1.isoformat(), "cvc": T1.isoformat()}), "$.devices.021000000001.cosigner"),
])
def test_a_state_file_that_says_something_else_is_refused_with_where(data: bytes, where: str) -> None:
    with pytest.raises(cmstate.StateError) as err:
        cmstate.parse(data)
    assert err.value.where == where, err.value


def test_updated_keeps_devices_not_in_this_run() -> None:
    before = {"a" * 12: cmstate.Saved("1.0.0", "x", None)}
    after = cmstate.updated(before, [("b" * 12, "2.0.0", "y", []), ("", "9", "z", [])])
    assert after == {"a" * 12: cmstate.Saved("1.0.0", "x", None), "b" * 12: cmstate.Saved("2.0.0", "y", None)}


def device(index: int, before: str, after: str, upgrade: str, at: float = 0.0) -> DeviceResult:
    return DeviceResult(index, f"0210010000{index:02x}", "BASIC.1", state="OPERATIONAL", cm_mac=f"0210000000{index:02x}",
                        cm_before=before, cm_version=after, cm_image=f"fw-{after}.p7", upgrade=upgrade,
                        image_at=at, rebooted_at=at + 0.5 if at else 0.0, reported_at=at + 1.5 if at else 0.0)


def test_the_report_says_who_upgraded_when_and_sums_up() -> None:
    at = dt.datetime(2026, 12, 3, 17, 9, 47, 763000, tzinfo=dt.UTC).timestamp()
    results = [device(1, "1.0.0", "2.0.0", "upgraded: 2.0.0", at), device(2, "1.0.0", "1.0.0", ""),
               device(3, "1.0.0", "1.0.0", "code-file-rejected: bad-signature"),
               device(4, "2.0.0", "2.0.0", "")]
    results = from_rows(json.loads(json.dumps(to_rows(results))))  # as a worker hands them over
    summary = summarize(results, 1.0)
    assert summary["software"] == {"upgraded": 1, "not_asked": 2, "failed": {"code-file-rejected": 1}}
    rows = summary["cm_upgrades"]
    assert [r["index"] for r in rows] == [1, 3]  # asked to take another image; the others ran on
    assert rows[0] == {"index": 1, "cm_mac": "021000000001", "mta_mac": "021001000001", "before": "1.0.0",
                       "after": "2.0.0", "image": "fw-2.0.0.p7", "upgrade": "upgraded: 2.0.0", "notified_at": None,
                       "image_at": at, "rebooted_at": at + 0.5, "reported_at": at + 1.5}
    assert rows[1]["image_at"] is None and rows[1]["after"] == "1.0.0"
    text = render(summary, "BASIC.1")
    assert "eCM software: 1 upgraded, 2 not asked to, failed: code-file-rejected 1" in text
    assert ("021000000001 1.0.0 -> 2.0.0: upgraded: 2.0.0 (image 17:09:47.763, rebooted 17:09:48.263, "
            "reported 17:09:49.263)") in text


def test_a_phone_s_row_says_when_its_change_notify_came() -> None:
    at = dt.datetime(2026, 12, 3, 17, 9, 47, 763000, tzinfo=dt.UTC).timestamp()
    phone = DeviceResult(0, "02a000000000", "SIP", state="SUBSCRIBED", cm_before="1.0.0", cm_version="2.0.0",
                         cm_image="ph-2.0.0.p7", upgrade="upgraded: 2.0.0", notified_at=at, image_at=at + 0.25,
                         rebooted_at=at + 0.25, reported_at=at + 1.0)
    summary = summarize(from_rows(json.loads(json.dumps(to_rows([phone])))), 1.0)
    [row] = summary["cm_upgrades"]
    assert (row["mta_mac"], row["notified_at"], row["reported_at"]) == ("02a000000000", at, at + 1.0)
    assert ("02a000000000 1.0.0 -> 2.0.0: upgraded: 2.0.0 (notified 17:09:47.763, image 17:09:48.013, "
            "rebooted 17:09:48.013, reported 17:09:48.763)") in render(summary, "SIP")


def test_the_text_report_names_ten_devices_and_says_how_many_more() -> None:
    results = [device(i, "1.0.0", "2.0.0", "upgraded: 2.0.0", 1e9 + i) for i in range(13)]
    text = render(summarize(results, 1.0), "BASIC.1")
    assert sum(" 1.0.0 -> 2.0.0: " in line for line in text.splitlines()) == 10
    assert "... 3 more devices in the JSON report (cm_upgrades)" in text


def test_simulate_refuses_a_damaged_state_file_before_it_starts(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(entry(version="two words"))
    done = subprocess.run([sys.executable, "-m", "pktcable", "simulate", "--server", "127.0.0.1", "--flow", "basic.1",
                           "--cm-state", str(state), "--quiet"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "--cm-state" in done.stderr and "$.devices.021000000001.version" in done.stderr


def test_load_reads_a_changed_file_again_and_a_missing_one_is_the_factorys(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert cmstate.load(str(path)) == {}
    first = {"021000000001": cmstate.Saved("1.0.0", "a.p7", None)}
    path.write_bytes(cmstate.dump(first))
    assert cmstate.load(str(path)) == first
    second = {"021000000001": cmstate.Saved("2.0.0", "b.p7", AccessState(AccessStart(T1, T0)))}
    path.write_bytes(cmstate.dump(second))
    assert cmstate.load(str(path)) == second
