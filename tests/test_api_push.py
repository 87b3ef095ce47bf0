"""``/api/v1/devices/{mac}/firmware-push``: the route's rules against a fake office, every
answer checked against the OpenAPI document, and a push through the API that upgrades a
running simulated cable modem."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from pktcable.firmware.push import Done, Outcome
from pktcable.provision.swpush import push_firmware, v2c
from pktcable.secure.labdir import LabPki
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint
from pktcable.store.firmware import make_image
from pktcable.store.leases import Lease

from .apiclient import serving
from .test_api_firmware import CatalogueOffice
from .test_firmware import NOW, SETTINGS
from .test_simulate_cmagent import running, upgrade_files
from .test_simulate_upgrade import CM_MAC, sim_config, write_root
from .test_simulator_strict import HOST, free_port

MAC = CM_MAC.hex()
PATH = f"/api/v1/devices/{MAC}/firmware-push"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


class PushOffice(CatalogueOffice):
    """The catalogue, one leased modem, and a push that runs over ``endpoint`` to ``port``
    (None: the fake answers with ``canned``)."""

    __slots__ = ("endpoint", "port", "canned", "pushed", "http")

    def __init__(self) -> None:
        super().__init__()
        self.endpoint: SnmpEndpoint | None = None
        self.port = 0
        self.canned: Done | None = None
        self.pushed: list[tuple[str, str, float, bool, str | None]] = []
        self.http = True
        self.leases.append(Lease(IPv4Address(HOST), "01" + MAC, MAC, 2e9, device_class="cm"))
        self.catalogue.add(make_image("fw-2.0.0.p7", "Example Vendor", "SIM-1", "1", "2.0.0", b"x", "not checked",
                                      0.0, max_bytes=1 << 20), b"x")

    def serves_http(self) -> bool:
        return self.http

    async def push_firmware(self, mac: str, filename: str, *, budget: float, poll_every: float,
                            legacy: bool, transport: str | None = None) -> Done:
        self.pushed.append((mac, filename, budget, legacy, transport))
        if self.endpoint is None:
            await asyncio.sleep(0.3)
            assert self.canned is not None
            return self.canned
        return await push_firmware(v2c(self.endpoint, (HOST, self.port), b"private"), IPv4Address(HOST), filename,
                                   budget=budget, poll_every=poll_every, legacy=legacy)


async def until_done(call: Any, path: str = PATH, seconds: float = 30.0) -> dict[str, Any]:
    for _ in range(int(seconds * 10)):
        status, got = await call("GET", path)
        assert status == 200, got
        if got["state"] == "done":
            return got  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"still running: {got}")


def test_push_route_rules_and_audit() -> None:
    office = PushOffice()
    office.canned = Done(Outcome.FAILED, "docsDevSwOperStatus failed(4)", "1.0.0", "1.0.0", 4)

    async def main() -> None:
        async with serving(office) as (call, admin):
            assert (await call("GET", PATH))[0] == 404  # none yet
            status, started = await call("POST", PATH, json={"filename": "fw-2.0.0.p7", "budget": 60})
            assert status == 202 and started["state"] == "running" and started["ended"] is None, started
            status, again = await call("POST", PATH, json={"filename": "fw-2.0.0.p7"})
            assert status == 409 and again["code"] == "push-running"
            done = await until_done(call)
            assert done["outcome"] == "failed" and done["version"] == "1.0.0" and done["ended"] >= done["started"]
            assert office.pushed == [(MAC, "fw-2.0.0.p7", 60.0, False, None)]
            assert [e.action for e in admin.entries(10)] == ["device.firmware-push"]
            for body, code in (({"filename": "nope.p7"}, 404), ({"filename": "fw-2.0.0.p7", "budget": 1}, 400),
                               ({"filename": "fw-2.0.0.p7", "legacy": "yes"}, 400), ({"file": "x"}, 400),
                               ({"filename": "fw-2.0.0.p7", "poll_every": True}, 400),
                               ({"filename": "fw-2.0.0.p7", "transport": "ftp"}, 400)):
                status, why = await call("POST", PATH, json=body)
                assert status == code, (body, why)
            # By HTTP: told to the push; refused while this server's HTTP delivery is off.
            office.http = False
            status, why = await call("POST", PATH, json={"filename": "fw-2.0.0.p7", "transport": "http"})
            assert status == 409 and why["code"] == "no-http", why
            office.http = True
            status, started = await call("POST", PATH, json={"filename": "fw-2.0.0.p7", "transport": "http"})
            assert status == 202, started
            await until_done(call)
            assert office.pushed[-1] == (MAC, "fw-2.0.0.p7", 600.0, False, "http")
            other = "/api/v1/devices/00:11:22:33:44:55/firmware-push"
            status, why = await call("POST", other, json={"filename": "fw-2.0.0.p7"})
            assert status == 409 and why["code"] == "no-current-lease"

    asyncio.run(main())


def test_push_route_needs_the_operator_role() -> None:
    office = PushOffice()

    async def main() -> None:
        async with serving(office) as (call, admin):
            reader = admin.create("bob", "read")
            status, why = await call("POST", PATH, json={"filename": "fw-2.0.0.p7"}, token=reader)
            assert status == 403 and not office.pushed

    asyncio.run(main())


def test_a_push_through_the_api_upgrades_a_simulated_cable_modem(lab: LabPki, tmp_path: Path) -> None:
    sim = sim_config(write_root(lab, tmp_path), cm_agent_port=free_port())
    office = PushOffice()

    async def main() -> dict[str, Any]:
        async with running(sim, upgrade_files(lab, tmp_path)) as (device, _):
            office.endpoint = await open_endpoint(HOST, 0, timeout=0.5, retries=1)
            office.port = sim.cm_agent_port or 0
            try:
                async with serving(office) as (call, _):
                    status, started = await call("POST", PATH, json={"filename": "fw-2.0.0.p7", "poll_every": 0.5,
                                                                     "legacy": True, "budget": 30})
                    assert status == 202, started
                    done = await until_done(call)
            finally:
                office.endpoint.close()
            assert device.software.version == "2.0.0"
            return done

    done = asyncio.run(main())
    assert (done["outcome"], done["version_before"], done["version"]) == ("completed", "1.0.0", "2.0.0"), done


def test_the_office_view_pushes_to_the_leased_address() -> None:
    """OfficeView.push_firmware: no lease is NoCurrentLease (the route's 409 when it races)."""
    from pktcable.serve.office import NoCurrentLease
    from pktcable.serve.officeview import OfficeView

    class Leaseless:
        snmp = None

        def leased_address(self, mac: str) -> None:
            return None

    with pytest.raises(NoCurrentLease):
        asyncio.run(OfficeView(Leaseless()).push_firmware(MAC, "f", budget=10, poll_every=1,  # type: ignore[arg-type]
                                                          legacy=False))


def test_the_office_view_pushes_through_serve_to_a_simulated_modem(lab: LabPki, tmp_path: Path) -> None:
    """A real back office and a simulated device (its own CM lease, its eCM agent at the
    agent_port setting): the push reaches the modem's agent with the write community. serve's
    default CM file carries no CVC, so the modem refuses upgradeFromMgt: the push says so."""
    from pktcable.flow import Flow
    from pktcable.serve.app import Backoffice
    from pktcable.serve.officeview import OfficeView
    from pktcable.simulate import net
    from pktcable.simulate.emta import SimulatedMta
    from pktcable.simulate.identity import Identity

    from .test_e2e import configs, run

    cfg, sim = configs(["BASIC.1"])
    sim.cm_agent_port, sim.cvc_root, sim.manufacturer = cfg.agent_port, write_root(lab, tmp_path), "Example Vendor"
    identity = Identity.make(7)

    async def scenario(office: Backoffice) -> tuple[Done, Any, str]:
        relay = await net.open_relay((sim.relay, sim.relay_port), (sim.server, sim.dhcp_port))
        device = SimulatedMta(identity, Flow.BASIC_1, sim, relay)
        task = asyncio.ensure_future(device.run())
        try:
            result = await asyncio.wait_for(asyncio.shield(device.finished), 30)
            leased = office.leased_address(identity.cm_mac.hex())
            done = await OfficeView(office).push_firmware(identity.cm_mac.hex(), "fw-2.0.0.p7", budget=10,
                                                          poll_every=0.5, legacy=False)
        finally:
            device.stop()
            await asyncio.wait_for(task, 10)
            relay.close()
        return done, result, str(leased)

    done, result, leased = run(cfg, scenario)
    assert result.passed, result.deviations
    assert leased.startswith("127.101."), leased  # the CM pool: the eMTA's agent is on another address
    assert done.outcome is Outcome.REFUSED and "docsDevSwAdminStatus.0" in done.detail, done
    assert done.version_before == "1.0.0"


def test_with_the_cvc_in_every_file_serve_pushes_by_http_from_its_own_catalogue(lab: LabPki, tmp_path: Path) -> None:
    """firmware_cvc_always: the modem's file offers no image but carries the manufacturer's
    CVC (TLV 32), so a push by SNMP is enabled; with transport http the modem fetches the image
    from serve's own HTTP delivery (its catalogue), installs it and reboots into it."""
    from pktcable.firmware.labimage import make_image as lab_image
    from pktcable.flow import Flow
    from pktcable.serve.app import Backoffice
    from pktcable.serve.officeview import OfficeView
    from pktcable.simulate import net
    from pktcable.simulate.emta import SimulatedMta
    from pktcable.simulate.identity import Identity

    from .test_e2e import configs, run
    from .test_simulate_upgrade import code_file, der

    mfg = tmp_path / "mfg-cvc.der"
    mfg.write_bytes(der(lab, "manufacturer-cvc"))
    cfg, sim = configs(["BASIC.1"], firmware_manufacturer_cvc=str(mfg), firmware_cvc_always=True,
                       data_dir=str(tmp_path / "data"))
    cfg.http_port = free_port()
    sim.cm_agent_port, sim.cvc_root, sim.manufacturer = cfg.agent_port, write_root(lab, tmp_path), "Example Vendor"
    sim.cm_http_port = cfg.http_port
    identity = Identity.make(7)
    image = code_file(lab, lab_image("2.0.0", b"\x42" * 4096))

    def catalogue(office: Backoffice) -> None:
        office.firmware.add(make_image("fw-2.0.0.p7", "pktcable-sim", "SIM-1", "1.0", "2.0.0", image, "signed",
                                       0.0), image)

    async def scenario(office: Backoffice) -> tuple[Done, Any, str]:
        relay = await net.open_relay((sim.relay, sim.relay_port), (sim.server, sim.dhcp_port))
        device = SimulatedMta(identity, Flow.BASIC_1, sim, relay)
        task = asyncio.ensure_future(device.run())
        try:
            await asyncio.wait_for(asyncio.shield(device.finished), 30)
            done = await OfficeView(office).push_firmware(identity.cm_mac.hex(), "fw-2.0.0.p7", budget=30,
                                                          poll_every=0.5, legacy=False, transport="http")
            return done, device, office.built.of(identity.cm_mac.hex())[0].data.hex()
        finally:
            device.stop()
            await asyncio.wait_for(task, 10)
            relay.close()

    done, device, cm_file = run(cfg, scenario, catalogue)
    assert der(lab, "manufacturer-cvc")[:64].hex() in cm_file  # TLV 32 in a file that offers nothing
    assert done.outcome is Outcome.COMPLETED, done
    assert (done.version_before, done.version) == ("1.0.0", "2.0.0")
    assert device.software.version == "2.0.0" and device.software.transport == 2
    assert device.result.cm_image == "fw-2.0.0.p7"
