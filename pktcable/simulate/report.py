"""The compliance report of a simulation run: where every device got to,
time per step (p50/p95/p99), and every deviation from the spec by step id."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import fields
from typing import Any

from .config import Deviation, DeviceResult

#: Seconds per bucket of the report's timeline (devices done per bucket).
BUCKET = 1.0
#: Devices the text report lists by name under their software (the JSON report lists every one).
SHOWN_UPGRADES = 10


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def timeline(results: list[DeviceResult], bucket: float = BUCKET) -> dict[str, Any]:
    """Devices that passed and failed in each ``bucket`` seconds, counted
    from the first device's start (the rate over time: a server past its knee
    shows as a falling count, a herd's retries as a tail)."""
    if not results:
        return {"bucket_s": bucket, "passed": [], "failed": []}
    origin = min(r.started_at for r in results)
    size = int(max(r.done_at - origin for r in results) // bucket) + 1
    passed, failed = [0] * size, [0] * size
    for r in results:
        (passed if r.passed else failed)[max(0, int((r.done_at - origin) // bucket))] += 1
    return {"bucket_s": bucket, "passed": passed, "failed": failed}


def to_rows(results: list[DeviceResult]) -> list[dict[str, Any]]:
    """Results as JSON-ready rows: a worker process hands them to the parent,
    which summarizes every worker's devices as one run."""
    rows = []
    for r in results:
        row = {f.name: getattr(r, f.name) for f in fields(DeviceResult)}
        row["deviations"] = [[d.step, d.text] for d in r.deviations]
        rows.append(row)
    return rows


def from_rows(rows: list[dict[str, Any]]) -> list[DeviceResult]:
    out = []
    for row in rows:
        r = DeviceResult(**{**row, "deviations": [], "steps": []})
        r.steps = [(str(a), str(b), float(c)) for a, b, c in row["steps"]]
        r.deviations = [Deviation(str(step), str(text)) for step, text in row["deviations"]]
        out.append(r)
    return out


def upgrade_rows(results: list[DeviceResult]) -> list[dict[str, Any]]:
    """Who upgraded when: every device (its eCM, or a phone) told to take another image (or running
    another at the end), with its version before and after, how the upgrade ended and, for
    an installed one, the POSIX times of the code file's TFTP (a phone's: its change NOTIFY,
    then the image's GET), the reboot and the DHCP ACK (a phone's: the 2xx to its SUBSCRIBE)
    of the new version."""
    return [{"index": r.index, "cm_mac": r.cm_mac, "mta_mac": r.mta_mac, "before": r.cm_before,
             "after": r.cm_version, "image": r.cm_image, "upgrade": r.upgrade,
             "notified_at": r.notified_at or None,
             "image_at": r.image_at or None, "rebooted_at": r.rebooted_at or None,
             "reported_at": r.reported_at or None}
            for r in results if r.upgrade or r.cm_version != r.cm_before]


def software_summary(results: list[DeviceResult]) -> dict[str, Any]:
    """The eCMs' upgrades counted: installed, none asked for (not in the rollout's stage,
    already on the target, no rule: the server names no other image), failed by the reason's name."""
    failed = Counter(r.upgrade.split(":", 1)[0] for r in results
                     if r.upgrade and not r.upgrade.startswith("upgraded"))
    return {"upgraded": sum(1 for r in results if r.upgrade.startswith("upgraded")),
            "not_asked": sum(1 for r in results if not r.upgrade), "failed": dict(sorted(failed.items()))}


def summarize(results: list[DeviceResult], elapsed: float) -> dict[str, Any]:
    states = Counter(r.state for r in results)
    per_step: dict[str, list[float]] = defaultdict(list)
    for r in results:
        for step, state, seconds in r.steps:
            per_step[f"{step} {state}"].append(seconds)
    totals = sorted(r.total for r in results)
    # Devices per deviation (as the text says), and how often it was seen: a device that
    # retries meets the same fault on every walk.
    deviations = Counter(key for r in results for key in {(d.step, d.text) for d in r.deviations})
    seen = Counter((d.step, d.text) for r in results for d in r.deviations)
    passed = sum(r.passed for r in results)
    return {
        "devices": len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "elapsed_s": round(elapsed, 3),
        "devices_per_s": round(len(results) / elapsed, 1) if elapsed else 0.0,
        "final_states": dict(sorted(states.items())),
        # Walks started over after a failure (within the device budget), and on how many devices.
        "retries": sum(r.retries for r in results),
        "devices_retried": sum(1 for r in results if r.retries),
        "timeline": timeline(results),
        # The eCMs' software at the end, and how each device's last upgrade ended (named: "upgraded",
        # "code-file-rejected", "file-missing" ...; devices with no upgrade due are not counted).
        "cm_versions": dict(sorted(Counter(r.cm_version for r in results if r.cm_version).items())),
        "upgrades": dict(sorted(Counter(r.upgrade.split(":", 1)[0] for r in results if r.upgrade).items())),
        "software": software_summary(results),
        "cm_upgrades": upgrade_rows(results),
        "flow_time_s": {f"p{q}": round(percentile(totals, q), 4) for q in (50, 95, 99)},
        "steps": {
            step: {"count": len(v), **{f"p{q}": round(percentile(sorted(v), q), 4) for q in (50, 95, 99)}}
            for step, v in per_step.items()
        },
        "deviations": [{"step": step, "text": text, "devices": n, "times": seen[step, text]}
                       for (step, text), n in deviations.most_common()],
        "failures": [
            {"index": r.index, "mta_mac": r.mta_mac, "state": r.state, "result": r.result, "upgrade": r.upgrade,
             "deviations": [f"{d.step}: {d.text}" for d in r.deviations]}
            for r in results if not r.passed
        ][:100],
    }


def render(summary: dict[str, Any], flow: str) -> str:
    lines = [f"{flow}: {summary['passed']}/{summary['devices']} devices provisioned in {summary['elapsed_s']} s "
             f"({summary['devices_per_s']} devices/s); flow time p50 {summary['flow_time_s']['p50']} s, "
             f"p99 {summary['flow_time_s']['p99']} s"]
    lines.append("step                                   count    p50 s    p95 s    p99 s")
    for step, row in summary["steps"].items():
        lines.append(f"  {step:36} {row['count']:5} {row['p50']:8.4f} {row['p95']:8.4f} {row['p99']:8.4f}")
    if summary["failed"]:
        lines.append("final states: " + ", ".join(f"{k} {v}" for k, v in summary["final_states"].items()))
    if summary.get("upgrades"):
        lines.append(("phone" if flow == "SIP" else "eCM") + " upgrades: " + ", ".join(f"{k} {v}" for k, v in summary["upgrades"].items())
                     + "; versions now: " + ", ".join(f"{k} {v}" for k, v in summary["cm_versions"].items()))
    soft = summary.get("software")
    if summary.get("upgrades") and soft:
        lines.append(("phone" if flow == "SIP" else "eCM") + f" software: {soft['upgraded']} upgraded, {soft['not_asked']} not asked to, failed: "
                     + (", ".join(f"{k} {v}" for k, v in soft["failed"].items()) or "none"))
    rows = summary.get("cm_upgrades") or []
    for row in rows[:SHOWN_UPGRADES]:
        told = f"notified {_clock(row['notified_at'])}, " if row.get("notified_at") else ""
        lines.append(f"  {row['cm_mac'] or row['mta_mac']} {row['before']} -> {row['after']}: {row['upgrade'] or 'running another image'}"
                     + (f" ({told}image {_clock(row['image_at'])}, rebooted {_clock(row['rebooted_at'])}, reported "
                        f"{_clock(row['reported_at'])})" if row["image_at"] else ""))
    if len(rows) > SHOWN_UPGRADES:
        lines.append(f"  ... {len(rows) - SHOWN_UPGRADES} more devices in the JSON report (cm_upgrades)")
    if summary.get("retries"):
        lines.append(f"retries: {summary['retries']} walks started over on {summary['devices_retried']} devices")
    for dev in summary["deviations"]:
        again = f", {dev['times']} times" if dev.get("times", dev["devices"]) != dev["devices"] else ""
        lines.append(f"  deviation {dev['step']}: {dev['text']} ({dev['devices']} devices{again})")
    return "\n".join(lines)


def _clock(at: float | None) -> str:
    """A POSIX time as the UTC time of day (the report's times are wall-clock: they meet the server's logs)."""
    return "-" if not at else dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
