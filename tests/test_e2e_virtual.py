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

from .test_e2e import EXPECTED_STEPS, PLAYED, configs, tamper_published_files
from .virtual import Run, VirtualNetwork, run_virtual

DEVICES = 50
#: The spec's budgets (flows.md): on virtual time nothing needs scaling down.
SPEC = Timing()


def spec_configs(realm: str, **serve: Any) -> tuple[ServeConfig, SimConfig]:
    """test_e2e's settings with the real timeouts: RFC 2131's 4 s first DHCP
    wait, 1 s SNMP attempts, the spec's step budgets."""
    cfg, sim = configs([realm], **serve)
    cfg.snmp_timeout, cfg.snmp_retries = 1.0, 3
    # ToD's TCP side is a real listener: let the system pick its port (run() tells the simulator).
    cfg.tod_port = 0
    sim.timing, sim.dhcp_timeout, sim.dhcp_retries, sim.snmp_timeout, sim.snmp_retries = SPEC, 4.0, 3, 1.0, 3
    return cfg, sim


def run(cfg: ServeConfig, sim: SimConfig, scenario: Callable[[Backoffice], Awaitable[Any]],
        network: VirtualNetwork | None = None) -> Run:
    async def main() -> Any:
        office = Backoffice(cfg, clock=asyncio.get_running_loop().time)
        await office.start()
        sim.tod_port = office.tod.address[1]
        try:
            return await scenario(office)
        finally:
            await office.close()

    return run_virtual(main, network)


def check_flow(office: Backoffice, flow: Flow, results: list[Any], elapsed: float, lossy: bool = False) -> None:
    """Every device passed every step of its flow, as the eMTA and as the server saw it.

    ``lossy``: the server may not know that a file arrived. The simulated
    eMTA does not dally after its final TFTP ACK (RFC 1350 section 6 allows
    that), so when that ACK is lost the server's transfer fails although the
    device has its file; only a flow with a status INFORM tells the server."""
    unconfirmed = 0
    report = summarize(results, elapsed)
    assert report["passed"] == len(results), report["failures"]
    # The simulated eCM asks the time twice, half a second apart, and goes on without it (CM-7/8 is
    # not fatal): under loss that may go unanswered, a deviation of the eCM and no failure.
    deviations = [d for d in report["deviations"] if not (lossy and d["step"] == "CM-7/8")]
    assert deviations == []
    assert office.entity is not None
    for r in results:
        assert [step for step, _, _ in r.steps] == EXPECTED_STEPS[flow]
        assert r.result == ProvisioningState.PASS
        machine = office.entity.machines[r.mta_mac]
        history = [s.event for s in office.devices.history(r.mta_mac)]
        if lossy and "FileServed" not in history and not flow.reports_status:
            unconfirmed += 1
            assert machine.state is (ServerState.LOCATION_SET if flow.hybrid else ServerState.LEASED)
            continue
        if flow.reports_status:
            assert machine.state is ServerState.DONE and machine.result == ProvisioningState.PASS
        else:
            assert machine.state is ServerState.FILE_DELIVERED and machine.result is None
        # A status INFORM may come before the server's transfer has seen the last ACK (lost).
        assert history[0] == "LeaseAcked" and ("FileServed" in history or lossy and "TransferFailed" in history)
        assert ("StatusReceived" in history) == flow.reports_status
        assert ("LocationSetAcked" in history) == flow.hybrid
        device = office.devices.get(r.mta_mac)
        assert device is not None and device.cm_mac == Identity.make(r.index).cm_mac.hex()
    # Each unconfirmed file is a transfer the server saw fail, or one still waiting for its last ACK.
    assert unconfirmed <= office.tftp.stats.failed + office.tftp.active


@pytest.mark.parametrize("flow", PLAYED, ids=lambda f: f.value)
def test_fifty_devices_pass_every_step_on_virtual_time(flow: Flow) -> None:
    cfg, sim = spec_configs(flow.value)

    async def scenario(office: Backoffice) -> None:
        results, elapsed = await simulate(sim, flow, DEVICES)
        check_flow(office, flow, results, elapsed)

    network = VirtualNetwork(seed=1)
    run(cfg, sim, scenario, network)
    # Nothing was lost, so nothing had to wait for a retransmission timer.
    assert network.stats["lost"] == network.stats["unreachable"] == 0


def lossy_run(flow: Flow, seed: int, loss: float) -> tuple[Run, VirtualNetwork]:
    cfg, sim = spec_configs(flow.value)
    # Enough attempts that ten per cent loss leaves no exchange unanswered: a
    # message and its answer both arrive with 0.81, so four tries fail 1 in 2300.
    sim.dhcp_retries = sim.snmp_retries = cfg.snmp_retries = 5

    async def scenario(office: Backoffice) -> list[tuple[str, str, list[tuple[str, str, float]]]]:
        results, elapsed = await simulate(sim, flow, DEVICES)
        check_flow(office, flow, results, elapsed, lossy=loss > 0)
        return [(r.mta_mac, r.state, r.steps) for r in results]

    network = VirtualNetwork(seed=seed, loss=loss)
    return run(cfg, sim, scenario, network), network


# A Hybrid eMTA whose enrollment INFORM's Response is lost re-sends that INFORM, perhaps after
# the server's SET: the copy must change nothing (it once restarted the run and voided the file).
@pytest.mark.parametrize("flow", PLAYED, ids=lambda f: f.value)
def test_ten_percent_datagram_loss_is_overcome_by_retransmission(flow: Flow) -> None:
    clean, clean_net = lossy_run(flow, seed=7, loss=0.0)
    lossy, lossy_net = lossy_run(flow, seed=7, loss=0.10)
    # Roughly one datagram in ten was dropped (DHCP, TFTP and SNMP alike) ...
    assert 0.06 < lossy_net.stats["lost"] / lossy_net.stats["sent"] < 0.14, lossy_net.stats
    # ... and made up for by retransmissions, which waited on their timers.
    assert lossy_net.stats["sent"] > clean_net.stats["sent"]
    assert lossy.virtual > clean.virtual + 1.0
    assert lossy.wall < 30.0


def test_a_seeded_lossy_run_is_the_same_run_every_time() -> None:
    first, first_net = lossy_run(Flow.BASIC_2, seed=3, loss=0.10)
    again, again_net = lossy_run(Flow.BASIC_2, seed=3, loss=0.10)
    assert first.result == again.result and first.virtual == again.virtual
    assert first_net.stats == again_net.stats


def test_a_600_second_provisioning_timer_expires_in_wall_milliseconds() -> None:
    # Every SET is refused (a wrong community gets no Response), so the eMTA waits
    # for its configuration until option 122.8's ten minutes are up.
    cfg, sim = spec_configs("HYBRID.2", write_community="wrong")
    assert cfg.prov_timer == 10
    sim.timing = replace(SPEC, wait_set=900.0)  # the timer, not the step budget, ends the wait

    async def scenario(office: Backoffice) -> float:
        start = asyncio.get_running_loop().time()
        (r,), _ = await simulate(sim, Flow.HYBRID_2, 1)
        assert r.state == MtaState.FAILED_TIMER.name and r.result == ProvisioningState.FAIL_OTHER_REASON
        assert office.entity is not None
        await asyncio.gather(*office.entity.tasks)
        # Unanswered, then (SET_UNANSWERED_WAIT later, no fetch came) failed: the long wait real time cannot afford.
        assert office.entity.machines[r.mta_mac].state is ServerState.FAILED_SET
        assert office.snmp is not None and office.snmp.stats.timeouts == 1
        return asyncio.get_running_loop().time() - start

    done = run(cfg, sim, scenario)
    assert 600.0 <= done.result < 660.0
    assert done.wall < 2.0


def test_tampered_file_is_reported_as_a_config_file_error_on_virtual_time() -> None:
    cfg, sim = spec_configs("HYBRID.2")

    async def scenario(office: Backoffice) -> None:
        tamper_published_files(office)
        (r,), _ = await simulate(sim, Flow.HYBRID_2, 1)
        assert r.state == MtaState.FAILED_CONFIG.name and r.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR
        assert office.entity is not None
        machine = office.entity.machines[r.mta_mac]
        assert machine.state is ServerState.DONE and machine.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR

    run(cfg, sim, scenario)


def test_enrollment_of_an_unknown_device_is_not_served_on_virtual_time() -> None:
    cfg, sim = spec_configs("HYBRID.2", auto_enroll=False)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.HYBRID_2, 1)
        # The eMTA waited the whole spec budget for a SET (120 s), in no wall time.
        assert r.state == MtaState.FAILED_NO_SET.name and r.result == ProvisioningState.FAIL_OTHER_REASON
        assert office.entity is not None and office.entity.unknown_informs == 1
        assert office.devices.get(r.mta_mac) is None and office.devices.history(r.mta_mac) == []

    done = run(cfg, sim, scenario)
    assert done.virtual >= SPEC.wait_set and done.wall < 5.0


def test_a_server_that_never_answers_costs_the_spec_budgets_in_virtual_time() -> None:
    _, sim = spec_configs("BASIC.1")  # nothing is bound on the virtual network

    async def scenario() -> tuple[str, str]:
        (ecm,), _ = await simulate(sim, Flow.BASIC_1, 1)
        sim.run_ecm = False
        (mta,), _ = await simulate(sim, Flow.BASIC_1, 1)
        return ecm.state, mta.state

    network = VirtualNetwork()
    done = run_virtual(scenario, network)
    assert done.result == (MtaState.FAILED_ECM.name, MtaState.FAILED_DHCP.name)
    assert network.stats["unreachable"] == network.stats["sent"] > 0
    # RFC 2131 backoff from 4 s, four tries: about a minute of DHCP per attempt, in no wall time.
    assert done.virtual >= 60.0 and done.wall < 5.0


def test_a_lease_lapses_on_the_backoffice_clock_not_the_wall_clock() -> None:
    # The DHCP transport must read the Backoffice's clock: on another one a lapsed lease
    # would still let its old holder fetch files and send INFORMs that are believed.
    cfg, sim = spec_configs("BASIC.1", lease_time=60)

    async def scenario(office: Backoffice) -> tuple[str | None, str | None]:
        (r,), _ = await simulate(sim, Flow.BASIC_1, 1)
        assert r.passed
        held = office.leased_address(r.mta_mac)
        await asyncio.sleep(61.0)
        return held, office.leased_address(r.mta_mac)

    held, later = run(cfg, sim, scenario).result
    assert held is not None and later is None
