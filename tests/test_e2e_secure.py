"""The Secure flow end to end over real UDP on loopback: ``serve`` with its KDC and key
management (a lab PKI), and ``simulate``'s Secure eMTAs with their device certificates.
Each step is asserted from the simulator's report and the server's device history;
each negative ends in its named failure state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pktcable.flow import Flow, MtaState, ProvisioningState, ServerState
from pktcable.secure.labdir import LabPki, LabSettings
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check
from pktcable.settings import SettingError
from pktcable.simulate.config import SimConfig
from pktcable.simulate.identity import Identity
from pktcable.simulate.runner import simulate
from pktcable.snmp import pktc
from pktcable.snmp.usmengine import UsmStat

from .test_e2e import FAST, configs, free_port, run

REALM = "LAB.EXAMPLE.NET"
DEVICES = 3


def make_lab(folder: Path, count: int, *, realm: str = REALM) -> LabPki:
    now = dt.datetime.now(dt.UTC)
    lab = LabPki.create(folder, LabSettings(realm=realm, organization="Example Cable", kdc_fqdn="kdc.lab.example.net",
                                            prov_fqdn="prov.lab.example.net", key_size=2048), now=now)
    for index in range(count):
        lab.issue_device(Identity.make(index).mta_mac, now=now)
    return lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPki]:
    yield make_lab(tmp_path_factory.mktemp("lab"), DEVICES)


def secure_configs(lab: LabPki, **serve: Any) -> tuple[ServeConfig, SimConfig]:
    cfg, sim = configs([REALM], secure_pki=str(lab.folder), kdc=True, km=True, kdc_port=free_port(),
                       km_port=free_port(), **serve)
    sim.pki, sim.kdc_port, sim.km_port = str(lab.folder), cfg.kdc_port, cfg.km_port
    sim.kerberos_wait_scale = 0.5  # 1.5 s before the first AS retransmission (dhcp_timeout scales DHCP so)
    sim.timing = replace(FAST, kdc=10, key_management=20)
    return cfg, sim


SECURE_STEPS = ["CM-1...CM-10", "MTA-1/2", "MTA-3/4", "MTA-5...8", "MTA-9/10", "MTA-13/14", "MTA-15",
                "MTA-16...19", "MTA-20/21", "MTA-22/23", "MTA-23", "MTA-23", "MTA-25"]
SECURE_STATES = ["WAIT_ECM", "DHCP_DISCOVER", "DHCP_REQUEST", "LOCATE_KDC", "AS_EXCHANGE", "KEY_MANAGEMENT",
                 "ENROLL", "WAIT_SET", "RESOLVE_HOST", "DOWNLOAD", "DECRYPT", "VALIDATE", "REPORT_PASS"]
SERVER_EVENTS = ["LeaseAcked", "KeysEstablished", "EnrollmentReceived", "ConfigBuilt", "LocationSetAcked",
                 "FileServed", "StatusReceived"]


@pytest.mark.parametrize("tree", ["cablelabs", "ietf"])
def test_every_device_passes_every_secure_step(lab: LabPki, tree: str) -> None:
    cfg, sim = secure_configs(lab, mib_tree=tree)
    sim.tree = pktc.Tree(tree)

    async def scenario(office: Backoffice) -> None:
        results, _ = await simulate(sim, Flow.SECURE, DEVICES)
        for r in results:
            assert r.passed and r.result == ProvisioningState.PASS, (r.state, r.deviations)
            assert r.deviations == []
            assert [step for step, _, _ in r.steps] == SECURE_STEPS
            assert [state for _, state, _ in r.steps] == SECURE_STATES
            machine = office.entity.machines[r.mta_mac]  # type: ignore[union-attr]
            assert machine.state is ServerState.DONE and machine.result == ProvisioningState.PASS
            steps = office.devices.history(r.mta_mac)
            assert [s.event for s in steps] == SERVER_EVENTS
            built = next(s.detail for s in steps if s.event == "ConfigBuilt")
            assert built.endswith("AES256_CBC" if tree == "ietf" else "DES64_CBC")  # the file went out encrypted
        assert office.secure is not None and office.secure.kdc is not None
        assert office.secure.kdc.counts["as-rep"] >= DEVICES  # and retransmissions answered again
        # Nothing arrived over SNMPv2c: every INFORM was the association's (USM accepted them all).
        assert office.entity.rejected["not-snmpv3"] == 0  # type: ignore[union-attr]
        assert office.snmp is not None and office.snmp.usm is not None
        assert office.snmp.usm.stats[UsmStat.WRONG_DIGESTS] == 0

    run(cfg, scenario)


def test_a_device_certificate_from_another_root_is_refused_by_the_kdc(lab: LabPki, tmp_path: Path) -> None:
    """The eMTA's certificate chains to another MTA Root: KDC_ERR_CANT_VERIFY_CERTIFICATE (70),
    FAILED_KDC_REFUSED; the server never keys it."""
    other = make_lab(tmp_path / "other", 1)
    cfg, sim = secure_configs(lab)
    sim.pki = str(other.folder)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.state == MtaState.FAILED_KDC_REFUSED.name, r.deviations
        assert any("KRB-ERROR 70" in d.text for d in r.deviations), r.deviations
        assert "KeysEstablished" not in [s.event for s in office.devices.history(r.mta_mac)]

    run(cfg, scenario)


def test_the_kerberos_realm_is_offered_only_with_the_kdc_and_key_management(lab: LabPki) -> None:
    base: dict[str, Any] = {"realms": [REALM], "secure_pki": str(lab.folder), "api_port": 0}
    assert check(ServeConfig(**base, kdc=True, km=True)).realms == [REALM]
    with pytest.raises(SettingError, match=r"^km: the Secure flow needs both"):
        check(ServeConfig(**base, kdc=True))
    with pytest.raises(SettingError, match=r"^realms\[0\]: 'LAB.EXAMPLE.NET' is a Kerberos realm"):
        check(ServeConfig(realms=[REALM], api_port=0))
    with pytest.raises(SettingError, match=r"^realms\[0\]: 'OTHER.REALM' is not a flow serve can run"):
        check(ServeConfig(**{**base, "realms": ["OTHER.REALM"]}, kdc=True, km=True))


def test_an_expired_device_certificate_is_refused_by_the_kdc(lab: LabPki) -> None:
    """A device certificate whose validity ended (issued 21 years ago, devices live 20):
    KDC_ERR_INVALID_CERTIFICATE (71), FAILED_KDC_REFUSED."""
    index = 7
    lab.issue_device(Identity.make(index).mta_mac, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=21 * 366))
    cfg, sim = secure_configs(lab)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1, first=index)
        assert r.state == MtaState.FAILED_KDC_REFUSED.name, r.deviations
        assert any("KRB-ERROR 71" in d.text for d in r.deviations), r.deviations
        assert "KeysEstablished" not in [s.event for s in office.devices.history(r.mta_mac)]

    run(cfg, scenario)


def test_a_device_of_another_realm_refuses_the_offered_one(tmp_path: Path, lab: LabPki) -> None:
    """The eMTA's lab says OTHER.EXAMPLE.NET, 122.6 says LAB.EXAMPLE.NET: FAILED_REALM at MTA-4,
    before any Kerberos message."""
    other = make_lab(tmp_path / "other", 1, realm="OTHER.EXAMPLE.NET")
    cfg, sim = secure_configs(lab)
    sim.pki = str(other.folder)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.state == MtaState.FAILED_REALM.name, r.deviations
        assert any(d.step == "MTA-4" and "LAB.EXAMPLE.NET" in d.text for d in r.deviations)
        assert office.secure is not None and office.secure.kdc is not None
        assert office.secure.kdc.counts["as-rep"] == 0

    run(cfg, scenario)


def test_a_tampered_encrypted_file_is_reported_and_named(lab: LabPki) -> None:
    """One ciphertext octet changed on the way: the decrypted file's SHA-1 is not the SET hash.
    The eMTA reports failConfigFileError (MTA-25) and ends in FAILED_CONFIG_DECRYPT; the
    server records the reported outcome."""
    cfg, sim = secure_configs(lab)

    def setup(office: Backoffice) -> None:
        publish = office.publish

        def tampered(device, data, client_ip):  # type: ignore[no-untyped-def]
            url = publish(device, data, client_ip)
            issued = office.names.get(url.rsplit("/", 1)[1], office.clock())
            issued.data = bytes([data[0] ^ 0x01]) + data[1:]  # type: ignore[union-attr]
            return url

        office.publish = tampered  # type: ignore[method-assign]

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.state == MtaState.FAILED_CONFIG_DECRYPT.name, r.deviations
        assert r.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR
        assert any(d.step == "MTA-23" and "hash-mismatch" in d.text for d in r.deviations), r.deviations
        assert [s for _, s, _ in r.steps][-2:] == ["DECRYPT", "REPORT_UNDECRYPTABLE"]
        machine = office.entity.machines[r.mta_mac]  # type: ignore[union-attr]
        assert machine.state is ServerState.DONE and machine.result == ProvisioningState.FAIL_CONFIG_FILE_ERROR

    run(cfg, scenario, setup)


def test_a_wrong_ap_request_hmac_never_gets_keys(lab: LabPki) -> None:
    """Fault "ap-hmac": the server answers each AP Request with KRB_AP_ERR_MODIFIED and keys
    nothing; the eMTA ends in FAILED_KM when its key-management wait runs out."""
    cfg, sim = secure_configs(lab)
    sim.secure_fault = "ap-hmac"
    sim.timing = replace(sim.timing, key_management=4)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.state == MtaState.FAILED_KM.name, r.deviations
        assert any("KRB_AP_ERR_MODIFIED" in d.text for d in r.deviations), r.deviations
        assert office.secure is not None and office.secure.km is not None
        assert office.secure.km.stats.refused >= 1 and office.secure.km.stats.established == 0
        # Each refusal is on the device's history; none ended its run (anybody could send one).
        history = office.devices.history(r.mta_mac)
        refusals = [s.detail for s in history if s.event == "KeyRequestRefused"]
        assert refusals and all(d.startswith("KRB_AP_ERR_MODIFIED") for d in refusals), history
        assert office.entity.machines[r.mta_mac].state is ServerState.LEASED  # type: ignore[union-attr]

    run(cfg, scenario)


def test_wrong_usm_keys_end_in_failed_usm(lab: LabPki) -> None:
    """Fault "usm-keys": the eMTA signs its enrollment INFORM with a key that is not the
    association's; the server's USM answers usmStatsWrongDigests and acts on nothing."""
    cfg, sim = secure_configs(lab)
    sim.secure_fault = "usm-keys"

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.state == MtaState.FAILED_USM.name, r.deviations
        assert any(d.step == "MTA-15" and "usmStatsWrongDigests" in d.text for d in r.deviations), r.deviations
        assert office.snmp is not None and office.snmp.usm is not None
        assert office.snmp.usm.stats[UsmStat.WRONG_DIGESTS] >= 1
        machine = office.entity.machines[r.mta_mac]  # type: ignore[union-attr]
        assert machine.state is ServerState.KEYED  # keyed, never enrolled
        # The refused INFORM is on the device's history (by the address it came from); its run goes on.
        failed = [s.detail for s in office.devices.history(r.mta_mac) if s.event == "UsmFailed"]
        assert failed and all(d.startswith("usmStatsWrongDigests") for d in failed), failed

    run(cfg, scenario)


def test_simulate_command_plays_the_secure_flow(lab: LabPki, tmp_path: Path) -> None:
    """`pktcable simulate --flow secure --pki DIR` as a process against `serve`'s services;
    its JSON report lists every step of every device; without --pki it is a usage error."""
    import asyncio
    import json
    import sys

    from click.testing import CliRunner

    from pktcable.cli.backoffice import SECURE_FAULTS, simulate_cmd
    from pktcable.simulate.mtasecure import FAULTS

    assert SECURE_FAULTS == FAULTS
    refused = CliRunner().invoke(simulate_cmd, ["--server", "127.0.0.1", "--flow", "secure"])
    assert refused.exit_code == 2 and "--pki" in refused.output
    # The lab holds certificates for eMTAs 0 ... DEVICES-1 (and 7, the expired one) only.
    refused = CliRunner().invoke(simulate_cmd, ["--server", "127.0.0.1", "--flow", "secure", "--pki",
                                                str(lab.folder), "--count", str(DEVICES + 1)])
    assert refused.exit_code == 2 and "no device certificate for 1 of the 4 eMTAs" in refused.output
    cfg, sim = secure_configs(lab)
    report = tmp_path / "report.json"

    async def scenario(office: Backoffice) -> None:
        args = ["--server", "127.0.0.1", "--flow", "secure", "--pki", str(lab.folder), "--count", "2",
                "--dhcp-port", str(cfg.dhcp_port), "--relay-port", str(cfg.relay_port),
                "--snmp-port", str(cfg.snmp_port), "--agent-port", str(cfg.agent_port),
                "--tftp-port", str(cfg.tftp_port), "--tod-port", str(cfg.tod_port),
                "--kdc-port", str(cfg.kdc_port), "--km-port", str(cfg.km_port),
                "--dhcp-timeout", "0.5", "--quiet", "--report", str(report)]
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "pktcable", "simulate", *args,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, (out.decode(), err.decode())

    run(cfg, scenario)
    summary = json.loads(report.read_text())
    assert summary["flow"] == "SECURE" and summary["passed"] == 2, summary
    # The compliance report times every Secure step, MTA-5 to MTA-25, for both devices.
    assert {f"{step} {state}": 2 for step, state in zip(SECURE_STEPS, SECURE_STATES, strict=True)} == \
        {key: row["count"] for key, row in summary["steps"].items()}
    assert summary["deviations"] == []


def test_a_replayed_ap_request_is_refused_and_recorded(lab: LabPki) -> None:
    """An AP Request captured from a device that passed, sent again from its address (another
    port): KRB_AP_ERR_REPEAT, no new association, recorded on the device's history; its
    finished run stays as it was."""
    import asyncio
    import socket

    from pktcable.secure import kmcodec as km
    from pktcable.secure.krbap import read_krb_error

    cfg, sim = secure_configs(lab)

    async def scenario(office: Backoffice) -> None:
        assert office.secure is not None and office.secure.km is not None
        server = office.secure.km.server
        captured: list[tuple[bytes, tuple[str, int]]] = []
        receive = server.receive

        def recording(data: bytes, peer: tuple[str, int], now: float) -> list[object]:
            captured.append((data, peer))
            return receive(data, peer, now)  # type: ignore[return-value]

        server.receive = recording  # type: ignore[method-assign]
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.passed, r.deviations
        (request, (host, _)), = captured
        established = office.secure.km.stats.established
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((host, 0))
            sock.setblocking(False)
            await loop.sock_sendto(sock, request, ("127.0.0.1", cfg.km_port))
            answer = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
        reply = km.decode(answer)
        assert isinstance(reply, km.ErrorReply) and read_krb_error(reply.krb_error)[0] == 34  # KRB_AP_ERR_REPEAT
        assert office.secure.km.stats.established == established
        history = office.devices.history(r.mta_mac)
        assert history[-1].event == "KeyRequestRefused" and history[-1].detail.startswith("KRB_AP_ERR_REPEAT")
        machine = office.entity.machines[r.mta_mac]  # type: ignore[union-attr]
        assert machine.state is ServerState.DONE and machine.result == ProvisioningState.PASS

    run(cfg, scenario)


def test_secure_devices_pass_with_the_dhcp_server_in_a_worker_process(lab: LabPki) -> None:
    """dhcp_workers = 1: the lease table is the worker's; an AP Request that overtakes its
    lease's record waits for the worker's records (entity.lease_sync) instead of being refused."""
    cfg, sim = secure_configs(lab, dhcp_workers=1)

    async def scenario(office: Backoffice) -> None:
        results, _ = await simulate(sim, Flow.SECURE, DEVICES)
        for r in results:
            assert r.passed, (r.state, r.deviations)
            assert [s.event for s in office.devices.history(r.mta_mac)] == SERVER_EVENTS
        assert office.entity is not None and office.entity.rejected["not-leased-address"] == 0

    run(cfg, scenario)


def test_a_file_encrypted_with_another_key_than_the_set_one_is_refused(lab: LabPki,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The server SETs a key other than the one the file was encrypted with: the eMTA's
    decryption yields garbage (bad padding, or, when the garbage happens to end in valid
    padding, a hash that does not match), FAILED_CONFIG_DECRYPT."""
    from pktcable.provision import entity as entity_module
    from pktcable.provision import secureentity
    from tlv import ber

    def wrong_key(data: bytes, tree: pktc.Tree, sa: Any) -> Any:
        protected, extra = secureentity.protect_file(data, tree, sa)
        key_oid = pktc.oids(tree).config_key
        swapped = tuple(ber.VarBind(vb.oid, vb.type, bytes(b ^ 0x5A for b in vb.value))  # type: ignore[arg-type, union-attr]
                        if vb.oid == key_oid else vb for vb in extra)
        return protected, swapped

    monkeypatch.setattr(entity_module, "protect_file", wrong_key)
    cfg, sim = secure_configs(lab)

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.state == MtaState.FAILED_CONFIG_DECRYPT.name, r.deviations
        assert any(d.step == "MTA-23" and ("bad-padding" in d.text or "hash-mismatch" in d.text)
                   for d in r.deviations), r.deviations
        assert office.entity.machines[r.mta_mac].result == ProvisioningState.FAIL_CONFIG_FILE_ERROR  # type: ignore[union-attr]

    run(cfg, scenario)


def test_a_tgt_first_when_option_122_7_asks_for_one(lab: LabPki) -> None:
    """122.7 set: the eMTA gets a TGT at MTA-9/10 and buys the provisioning server's ticket with
    it in the TGS exchange (MTA-11/12), then goes on as before."""
    cfg, sim = secure_configs(lab)

    def setup(office: Backoffice) -> None:
        (mta,) = [c for c in office.dhcp_config.classes if c.kind == "mta"]
        mta.ccc["use-tgt"] = True

    async def scenario(office: Backoffice) -> None:
        (r,), _ = await simulate(sim, Flow.SECURE, 1)
        assert r.passed, (r.state, r.deviations)
        steps = [step for step, _, _ in r.steps]
        assert steps == [*SECURE_STEPS[:5], "MTA-11/12", *SECURE_STEPS[5:]]
        assert office.secure is not None and office.secure.kdc is not None
        assert office.secure.kdc.counts["tgs-rep"] >= 1

    run(cfg, scenario, setup)
