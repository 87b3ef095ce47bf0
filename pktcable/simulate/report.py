"""The compliance report of a simulation run: where every device got to,
time per step (p50/p95/p99), and every deviation from the spec by step id."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from .emta import DeviceResult


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarize(results: list[DeviceResult], elapsed: float) -> dict[str, Any]:
    states = Counter(r.state for r in results)
    per_step: dict[str, list[float]] = defaultdict(list)
    for r in results:
        for step, state, seconds in r.steps:
            per_step[f"{step} {state}"].append(seconds)
    totals = sorted(r.total for r in results)
    deviations = Counter((d.step, d.text) for r in results for d in r.deviations)
    passed = sum(r.passed for r in results)
    return {
        "devices": len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "elapsed_s": round(elapsed, 3),
        "devices_per_s": round(len(results) / elapsed, 1) if elapsed else 0.0,
        "final_states": dict(sorted(states.items())),
        "flow_time_s": {f"p{q}": round(percentile(totals, q), 4) for q in (50, 95, 99)},
        "steps": {
            step: {"count": len(v), **{f"p{q}": round(percentile(sorted(v), q), 4) for q in (50, 95, 99)}}
            for step, v in per_step.items()
        },
        "deviations": [{"step": step, "text": text, "devices": n} for (step, text), n in deviations.most_common()],
        "failures": [
            {"index": r.index, "mta_mac": r.mta_mac, "state": r.state, "result": r.result,
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
    for dev in summary["deviations"]:
        lines.append(f"  deviation {dev['step']}: {dev['text']} ({dev['devices']} devices)")
    return "\n".join(lines)
