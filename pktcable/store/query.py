"""Device queries: filters, order and cursor paging over the device store.

(A plain version over ``DeviceStore.devices()``; the store's own SQL version replaces it.)
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from .devices import Device, DeviceStore

PASS = 1  # pktcMtaDevProvisioningState pass(1)
FAILED_STEPS = {"FAILED_BUILD": "H-MTA-18", "FAILED_SET": "H-MTA-18/19"}


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    kind: str | None = None
    flow: str | None = None
    states: tuple[str, ...] = ()
    outcome: str | None = None
    failed_step: str | None = None
    mac_prefix: str | None = None
    address: str | None = None
    updated_since: float | None = None
    text: str | None = None
    sort: str = "mac"
    descending: bool = False
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Device]
    next: str | None
    total: int


def outcome(device: Device) -> str:
    if not device.state:
        return "new"
    if device.state.startswith("FAILED") or (device.state == "DONE" and device.result not in (None, PASS)):
        return "fail"
    if device.state in ("DONE", "FILE_DELIVERED"):
        return "pass"
    return "pending"


def failed_step(device: Device) -> str | None:
    if outcome(device) != "fail":
        return None
    return FAILED_STEPS.get(device.state, "MTA-25" if device.state == "DONE" else device.state)


def _key(device: Device, sort: str) -> tuple[Any, str]:
    return getattr(device, sort), device.mac


def _matches(d: Device, q: DeviceQuery) -> bool:
    return ((q.kind is None or d.kind == q.kind) and (q.flow is None or d.flow == q.flow)
            and (not q.states or d.state in q.states) and (q.outcome is None or outcome(d) == q.outcome)
            and (q.failed_step is None or failed_step(d) == q.failed_step)
            and (q.mac_prefix is None or d.mac.startswith(q.mac_prefix))
            and (q.address is None or d.ip == q.address or (q.address.endswith(".") and d.ip.startswith(q.address)))
            and (q.updated_since is None or d.updated >= q.updated_since)
            and (q.text is None or q.text.lower() in d.mac or q.text in d.ip or q.text.upper() in d.state))


def query(store: DeviceStore, q: DeviceQuery) -> Page:
    chosen = sorted((d for d in store.devices() if _matches(d, q)), key=lambda d: _key(d, q.sort),
                    reverse=q.descending)
    start = 0
    if q.cursor is not None:
        try:
            after = tuple(json.loads(base64.urlsafe_b64decode(q.cursor.encode() + b"==")))
        except (ValueError, TypeError) as exc:
            raise ValueError("not a cursor this store gave") from exc
        keys = [_key(d, q.sort) for d in chosen]
        start = next((i for i, k in enumerate(keys) if (k < after if q.descending else k > after)), len(chosen))
    page = chosen[start:start + q.limit]
    more = start + q.limit < len(chosen)
    cursor = base64.urlsafe_b64encode(json.dumps(list(_key(page[-1], q.sort))).encode()).decode() \
        if more and page else None
    return Page(page, cursor, len(chosen))


def summary(store: DeviceStore) -> list[dict[str, Any]]:
    rows = []
    for (kind, state), n in store.counts().items():
        d = Device("", kind=kind, state=state)
        rows.append({"kind": kind, "state": state or "NEW", "count": n, "outcome": outcome(d),
                     "failed_step": failed_step(d)})
    return sorted(rows, key=lambda r: (r["outcome"] != "fail", -r["count"], r["kind"], r["state"]))
