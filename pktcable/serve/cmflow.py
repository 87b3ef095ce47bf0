"""A cable modem's provisioning steps in the back office, by the CM table.

A modem has no provisioning entity of its own (no SNMP exchange before its file): its
row follows the CM table (pktcable.flow CM_TABLE) from the events the DHCP server and
the file delivery report: LEASED at its ACK, FILE_SERVED when its file went out, and so
on. Each step is recorded on the device's history and timed in the metrics; an event
the table has no row for is recorded as unexpected (a modem that fetched its file
twice, a renewal in a state that takes none), never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from pktcable.flow import CM_FLOW, CM_TABLE, cm_state, outcome
from pktcable.flow import events as ev
from pktcable.store.devices import DeviceStore, Step

log = logging.getLogger("pktcable.serve")


class StepTimes(Protocol):
    """What the metrics registry takes of a modem's steps (serve/metrics.py Metrics)."""

    def step(self, flow: str, step: str, seconds: float) -> None: ...

    def provisioned(self, flow: str, outcome: str, seconds: float) -> None: ...


class CmFlow:
    def __init__(self, devices: DeviceStore, clock: Callable[[], float], metrics: StepTimes,
                 commit: Callable[[], None]) -> None:
        self.devices, self.clock, self.metrics, self.commit = devices, clock, metrics, commit

    def event(self, mac: str, event: object, detail: str) -> None:
        """A cable modem's step: its state and result from the CM table, the step
        recorded and timed. An event the table has no row for is recorded as unexpected."""
        device = self.devices.get(mac)
        if device is None:
            return
        now = self.clock()
        before = cm_state(device.state)
        target = CM_TABLE.target(before, event)
        name = type(event).__name__
        if target is None:
            self.devices.record(Step(mac, now, CM_TABLE.states[before].step, f"Unexpected{name}",
                                     f"in {before.name}: {detail}"))
            log.info("%s %s not expected in %s (CM)", mac, name, before.name, extra={"mac": mac})
            return
        info = CM_TABLE.states[target]
        self.devices.record(Step(mac, now, info.step, name, detail))
        log.debug("%s %s %s -> %s %s", mac, info.step, name, target.name, detail, extra={"mac": mac})
        if target is before and not isinstance(event, ev.LeaseAcked):
            return  # recorded; the state, its result and its time stand
        # device.updated is when the CM entered its state (its lease, for a LEASED one).
        since, was_new = device.updated, not device.state
        device.state, device.result = target.name, info.result
        device.updated = now
        self.devices.put(device)
        self.commit()
        if was_new or isinstance(event, ev.LeaseAcked):
            return  # the first step of a run: no step before it to time
        self.metrics.step(CM_FLOW, info.step, max(0.0, now - since))
        if info.final and not CM_TABLE.states[before].final:
            self.metrics.provisioned(CM_FLOW, outcome(info.result, True), max(0.0, now - since))
