"""The simulated eCM upgrades its software as a CM config file asks (TLV 9/21/32/33): it
fetches the code file by TFTP, checks it against its CVC trust, installs it, reboots and
comes back with the new version in DHCP option 43 sub-option 6; each way an upgrade
fails ends in a named state in the report, and the device keeps its old version."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from dhcp.message import Message
from dhcp.options.space import decode_space
from dhcp.options.tables import CABLELABS_CLIENT
from pktcable.delivery.resolvers import MemoryResolver
from pktcable.delivery.tftp_aio import TftpServer
from pktcable.firmware import codefile as cf
from pktcable.firmware.labimage import ImageError, image_version, make_image
from pktcable.flow import Flow, Timing
from pktcable.secure.labdir import LabPki
from pktcable.simulate import net
from pktcable.simulate.emta import SimConfig, SimulatedMta
from pktcable.simulate.identity import Identity
from pktcable.simulate.report import render, summarize
from tlv.config import compile_text

from .test_firmware import MFG, NOW, SETTINGS, SIGNED, cvc
from .test_simulator_strict import HOST, fake_dhcp, free_port, reply

TIMING = Timing(ecm=30, dhcp=1, inform=1, wait_set=1, resolve=1, download=1, report=1, validate=1)
CM_CCC = [("dhcp-server-1", IPv4Address("255.255.255.255"))]
INDEX = 5
CM_MAC = Identity.make(INDEX).cm_mac


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


@pytest.fixture(scope="module")
def root_pem(lab: LabPki, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_root(lab, tmp_path_factory.mktemp("root"))


def write_root(lab: LabPki, folder: Path) -> str:
    """The lab's CVC root as a PEM file, as SimConfig.cvc_root names it."""
    path = folder / "cvc-root.pem"
    path.write_bytes(lab.get("cvc-root").certificate.public_bytes(Encoding.PEM))
    return str(path)


def der(lab: LabPki, profile: str) -> bytes:
    return lab.get(profile).certificate.public_bytes(Encoding.DER)


def code_file(lab: LabPki, image: bytes) -> bytes:
    mfg = lab.get("manufacturer-cvc")
    return cf.sign(image, mfg.certificate, mfg.key, signing_time=SIGNED)


def cm_config(tmp_path: Path, filename: str, server: str = HOST, cvc_der: bytes | None = None) -> bytes:
    lines = f'\tSwUpgradeServer {server};\n\tSwUpgradeFilename "{filename}";\n'
    if cvc_der is not None:
        (tmp_path / "mfg.der").write_bytes(cvc_der)
        lines += '\tManufacturerCVC "mfg.der";\n'
    text = "Main {\n\tNetworkAccess 1;\n" + lines + "}\n"
    return compile_text(text, key=b"cmts", loader=lambda name: (tmp_path / name).read_bytes())


def software_versions(seen: list[tuple[float, Message]]) -> list[str]:
    """Option 43 sub-option 6 of every eCM DISCOVER, in order."""
    out = []
    for _, msg in seen:
        if bytes(msg.chaddr[:6]) == CM_MAC and msg.message_type == 1:
            raw43 = msg.get(43)
            assert raw43 is not None
            items = {item.name: item.value for item in decode_space(CABLELABS_CLIENT, raw43, 0, 43)}
            out.append(str(items["software-version"]))
    return out


def cm_only(req: Message) -> list[bytes]:
    """The eCM gets a lease and its config file; the eMTA half gets nothing (not under test)."""
    if bytes(req.chaddr[:6]) != CM_MAC:
        return []
    kind = 2 if req.message_type == 1 else 5
    return [reply(req, kind, CM_CCC, file="cm.cfg")]  # type: ignore[arg-type]


async def start_tftp(sim: SimConfig, files: dict[str, bytes]) -> TftpServer:
    server = TftpServer(MemoryResolver(files), HOST, 0)
    await server.start()
    sim.tftp_port = server.address[1]
    return server


def sim_config(root: str | None, **kw: Any) -> SimConfig:
    base: dict[str, Any] = dict(server=HOST, dhcp_port=0, relay_port=free_port(), snmp_port=0,
                                agent_port=free_port(), tftp_port=0, tod_port=free_port(), timing=TIMING,
                                # DHCP retransmits for 4.5 s: a loaded machine must not fail a reboot's DHCP.
                                dhcp_timeout=0.3, dhcp_retries=3, snmp_timeout=0.3, snmp_retries=1,
                                cm_version="1.0.0", cm_image="fw-1.0.0.p7", cvc_root=root, manufacturer=MFG)
    return SimConfig(**{**base, **kw})


async def walk_once(sim: SimConfig, files: dict[str, bytes],
                    answer: Callable[[Message], list[bytes]] = cm_only) -> tuple[SimulatedMta, list[str]]:
    dhcp = await fake_dhcp(sim, answer)
    tftp = await start_tftp(sim, files)
    relay = await net.open_relay((sim.relay, sim.relay_port), (sim.server, sim.dhcp_port))
    device = SimulatedMta(Identity.make(INDEX), Flow.BASIC_1, sim, relay)
    task = asyncio.ensure_future(device.run())
    try:
        await asyncio.wait_for(asyncio.shield(device.finished), 60)
    finally:
        device.stop()
        await asyncio.wait_for(task, 10)
        relay.close()
        tftp.close()
        dhcp.transport.close()
    return device, software_versions(dhcp.seen)


def test_lab_image_header_round_trip_and_refusals() -> None:
    assert image_version(make_image("2.0.0", b"\x00" * 100)) == "2.0.0"
    for bad, offset in ((b"\x7fELF", 0), (b"PKTCABLE-SIM-IMAGE " + b"9" * 80, 19),
                        (b"PKTCABLE-SIM-IMAGE 2.0 beta\n", 22), (b"PKTCABLE-SIM-IMAGE \n", 19)):
        with pytest.raises(ImageError) as err:
            image_version(bad)
        assert err.value.offset == offset, (bad, err.value)


def test_a_config_file_naming_a_new_image_upgrades_reboots_and_reports_the_new_version(
        lab: LabPki, root_pem: str, tmp_path: Path) -> None:
    sim = sim_config(root_pem)
    files = {"cm.cfg": cm_config(tmp_path, "fw-2.0.0.p7", cvc_der=der(lab, "manufacturer-cvc")),
             "fw-2.0.0.p7": code_file(lab, make_image("2.0.0", bytes(range(256)) * 20))}
    device, versions = asyncio.run(walk_once(sim, files))
    assert device.result.upgrade == "upgraded: 2.0.0", device.result.deviations
    assert device.result.cm_version == device.software.version == "2.0.0"
    # Before the upgrade 1.0.0, after the reboot (DHCP again) 2.0.0; the same file then asks for nothing.
    assert versions[0] == "1.0.0" and versions[-1] == "2.0.0" and len(versions) == 2, versions
    assert device.software.store is not None and device.software.store.running == "fw-2.0.0.p7"
    assert not [d for d in device.result.deviations if d.step == "CM-SWDL"]
    summary = summarize([device.result], 1.0)
    assert summary["upgrades"] == {"upgraded": 1} and summary["cm_versions"] == {"2.0.0": 1}
    assert "eCM upgrades: upgraded 1; versions now: 2.0.0 1" in render(summary, "BASIC.1")


def _bad_signature(lab: LabPki) -> bytes:
    good = bytearray(code_file(lab, make_image("2.0.0", b"\xaa" * 600)))
    at = bytes(good).index(b"\xaa" * 600)
    good[at + 10] ^= 0x01  # a byte of the signed image: the messageDigest no longer matches
    return bytes(good)


CASES: dict[str, tuple[Callable[[LabPki, Path], dict[str, bytes]], str]] = {
    "bad-signature": (lambda lab, tmp: {
        "cm.cfg": cm_config(tmp, "fw-2.0.0.p7", cvc_der=der(lab, "manufacturer-cvc")),
        "fw-2.0.0.p7": _bad_signature(lab)}, "code-file-rejected: bad-signature"),
    "wrong-cvc": (lambda lab, tmp: {
        "cm.cfg": cm_config(tmp, "fw-2.0.0.p7", cvc_der=cvc(lab.get("cvc-root"), "Another Vendor")
                            .certificate.public_bytes(Encoding.DER)),
        "fw-2.0.0.p7": code_file(lab, make_image("2.0.0"))}, "cvc-rejected: wrong-manufacturer"),
    "no-cvc": (lambda lab, tmp: {
        "cm.cfg": cm_config(tmp, "fw-2.0.0.p7"),
        "fw-2.0.0.p7": code_file(lab, make_image("2.0.0"))}, "no-cvc"),
    "missing-file": (lambda lab, tmp: {
        "cm.cfg": cm_config(tmp, "fw-9.9.9.p7", cvc_der=der(lab, "manufacturer-cvc"))}, "file-missing"),
    "tftp-fails": (lambda lab, tmp: {
        # TLV 21 names a host where no TFTP server listens.
        "cm.cfg": cm_config(tmp, "fw-2.0.0.p7", server="127.0.0.2", cvc_der=der(lab, "manufacturer-cvc"))},
        "download-failed"),
    "foreign-image": (lambda lab, tmp: {
        "cm.cfg": cm_config(tmp, "fw-2.0.0.p7", cvc_der=der(lab, "manufacturer-cvc")),
        "fw-2.0.0.p7": code_file(lab, b"\x7fELF not a lab image")}, "image-refused"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_failed_upgrade_is_named_in_the_report_and_the_old_version_stays(
        case: str, lab: LabPki, root_pem: str, tmp_path: Path) -> None:
    make, expected = CASES[case]
    sim = sim_config(root_pem)
    device, versions = asyncio.run(walk_once(sim, make(lab, tmp_path)))
    assert device.result.upgrade.startswith(expected), (device.result.upgrade, device.result.deviations)
    assert device.result.cm_version == device.software.version == "1.0.0"
    assert versions == ["1.0.0"]  # no reboot
    steps = [d for d in device.result.deviations if d.step == "CM-SWDL"]
    assert len(steps) == 1 and expected in steps[0].text
    summary = summarize([device.result], 1.0)
    assert summary["upgrades"] == {expected.split(":")[0]: 1}
    assert "deviation CM-SWDL: software upgrade to " in render(summary, "BASIC.1")


def test_the_running_image_named_again_downloads_nothing(lab: LabPki, root_pem: str, tmp_path: Path) -> None:
    sim = sim_config(root_pem)
    files = {"cm.cfg": cm_config(tmp_path, "fw-1.0.0.p7", cvc_der=der(lab, "manufacturer-cvc"))}
    device, versions = asyncio.run(walk_once(sim, files))
    assert device.result.upgrade == "" and versions == ["1.0.0"], device.result.deviations
    assert device.software.store is not None and device.software.store.status is not None  # the CVC was taken


def test_a_server_that_names_a_new_image_every_boot_stops_after_the_bound(
        lab: LabPki, root_pem: str, tmp_path: Path) -> None:
    """Each boot a new name (the server's files change): the eCM stays after the bound."""
    sim = sim_config(root_pem)
    cvc_der = der(lab, "manufacturer-cvc")
    files = {f"cm{n}.cfg": cm_config(tmp_path, f"fw-{n}.p7", cvc_der=cvc_der) for n in range(6)}
    files |= {f"fw-{n}.p7": code_file(lab, make_image(f"{n}.0")) for n in range(6)}
    boots: list[int] = []

    def answer(req: Message) -> list[bytes]:
        if bytes(req.chaddr[:6]) != CM_MAC:
            return []
        if req.message_type == 1:
            boots.append(1)
        kind = 2 if req.message_type == 1 else 5
        return [reply(req, kind, CM_CCC, file=f"cm{len(boots) - 1}.cfg")]  # type: ignore[arg-type]

    device, versions = asyncio.run(walk_once(sim, files, answer))
    # MAX_UPGRADES_PER_WALK = 3: three installs and reboots, then the fourth boot's file is refused.
    assert versions == ["1.0.0", "0.0", "1.0", "2.0"] and device.software.version == "2.0", versions
    assert device.result.upgrade == "too-many-upgrades: 3 upgrades in this walk"
    assert device.result.state == "FAILED_DHCP", device.result  # the eCM came up; only the eMTA half gets no lease here


def test_without_a_cvc_root_nothing_installs_and_the_running_name_is_no_deviation(tmp_path: Path) -> None:
    sim = sim_config(None)
    device, versions = asyncio.run(walk_once(sim, {"cm.cfg": cm_config(tmp_path, "fw-1.0.0.p7")}))
    assert device.result.upgrade == "" and versions == ["1.0.0"], device.result.deviations
    device, _ = asyncio.run(walk_once(sim_config(None), {"cm.cfg": cm_config(tmp_path, "fw-2.0.0.p7")}))
    assert device.result.upgrade == "no-cvc: the device trusts no CVC root" and device.software.version == "1.0.0"
