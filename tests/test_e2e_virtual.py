"""The end-to-end flows of test_e2e on virtual time and an in-memory network.

The same Backoffice and the same simulator, with the Backoffice's clock the
loop's: timers fire as soon as nothing else can run, so the spec's own budgets
(a 600 s provisioning timer, RFC 2131 backoff) cost no wall time and no budget
depends on how loaded the machine is. Datagram loss is seeded, so a run is
the same run every time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from pktcable.flow import Flow, MtaState, ProvisioningState, ServerState, Timing
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig
from pktcable.simulate.emta import SimConfig
from pktcable.simulate.identity import Identity
from pktcable.simulate.report import summarize
from pktcable.simulate.runner import simulate

from .test_e2e import EXPECTED_STEPS, configs
from .virtual import Run, VirtualNetwork, run_virtual

DEVICES = 50
#: The spec's budgets (flows.md): on virtual time nothing needs scaling down.
SPEC = Timing()


def spec_configs(realm: str, **serve: Any) -> tuple[ServeConfig, SimConfig]:
    """test_e2e's settings with the real timeouts: RFC 2131's 4 s first DHCP
    wait, 1 s SNMP attempts, the spec's step budgets."""
    cfg, sim = configs([realm], **serve)
    cfg.snmp_timeout, cfg.snmp_retries = 1.0, 3
    sim.timing, sim.dhcp_timeout, sim.dhcp_retries, sim.snmp_timeout, sim.snmp_retries = SPEC, 4.0, 3, 1.0, 3
    return cfg, sim


def run(cfg: ServeConfig, scenario: Callable[[Backoffice], Awaitable[Any]],
        network: VirtualNetwork | None = None) -> Run:
    async def main() -> Any:
        office = Backoffice(cfg, clock=asyncio.get_running_loop().time)
        await office.start()
        try:
            return await scenario(office)
        finally:
            await office.close()

    return run_virtual(main, network)


def check_flow(office: Backoffice, flow: Flow, results: list[Any], elapsed: float) -> None:
    """Every device passed every step of its flow, as the eMTA and as the server saw it."""
    report = summarize(results, elapsed)
    assert report["passed"] == len(results), report["failures"]
    assert report["deviations"] == []
    assert office.entity is not None
    for r in results:
        assert [step for step, _, _ in r.steps] == EXPECTED_STEPS[flow]
        assert r.result == ProvisioningState.PASS
        machine = office.entity.machines[r.mta_mac]
        if flow.reports_status:
            assert machine.state is ServerState.DONE and machine.result == ProvisioningState.PASS
        else:
            assert machine.state is ServerState.FILE_DELIVERED and machine.result is None
        history = [s.event for s in office.devices.history(r.mta_mac)]
        assert history[0] == "LeaseAcked" and "FileServed" in history
        assert ("StatusReceived" in history) == flow.reports_status
        assert ("LocationSetAcked" in history) == flow.hybrid
        device = office.devices.get(r.mta_mac)
        assert device is not None and device.cm_mac == Identity.make(r.index).cm_mac.hex()


@pytest.mark.parametrize("flow", list(Flow), ids=lambda f: f.value)
def test_fifty_devices_pass_every_step_on_virtual_time(flow: Flow) -> None:
    cfg, sim = spec_configs(flow.value)

    async def scenario(office: Backoffice) -> None:
        results, elapsed = await simulate(sim, flow, DEVICES)
        check_flow(office, flow, results, elapsed)

    network = VirtualNetwork(seed=1)
    run(cfg, scenario, network)
    # Nothing was lost, so nothing had to wait for a retransmission timer.
    assert network.stats["lost"] == network.stats["unreachable"] == 0
