"""Why a modem did not take the image its file offered (pktcable.firmware.swcheck): the GET
serve sends, and the verdict from the answer. The answers come from the simulated eCM's
agent in each state its software can be in (refused code file, refused CVC, download under
way, upgraded, ignoring provisioning upgrades), plus hostile and broken answers."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pktcable.firmware.device import DownloadStatus
from pktcable.firmware.swcheck import MAX_WORDS, Check, judge, request
from pktcable.firmware.swmib import SwAdmin, SwOper, sw_oids
from pktcable.simulate.cmagent import CmMib
from pktcable.simulate.cmsoftware import Attempt, CmSoftware, Outcome, Result
from pktcable.snmp import message as m

SW = sw_oids()
T = m.ber.SNMP_TYPE_BY_KEYWORD
IMAGE, VERSION = "fw-2.0.0.p7", "2.0.0"


def agent_answer(sw: CmSoftware) -> m.Pdu:
    """The simulated agent's Response to serve's GET (through its real MIB view)."""
    agent = CmMib(sw, {b"private": True}, lambda: None)
    got = agent.answer(m.Message(b"private", m.Pdu(m.PduType.GET, 9, request())), ("127.0.0.1", 1))
    assert got is not None
    return got.pdu


def software() -> CmSoftware:
    return CmSoftware("1.0.0", None, filename=IMAGE, server=IPv4Address("10.0.0.1"))


def test_the_get_names_status_version_file_admin_and_the_download_status() -> None:
    assert [vb.oid for vb in request()] == [SW.oper, SW.current, SW.filename, SW.admin, SW.download_status,
                                            SW.download_string]
    assert all(vb.value is None for vb in request())


def test_a_refused_code_file_is_a_failure_with_the_modems_own_words() -> None:
    sw = software()
    sw._end(Outcome.CODE_FILE_REJECTED, "wrong-manufacturer", Attempt(IPv4Address("10.0.0.1"), IMAGE, False))
    verdict = judge(agent_answer(sw), IMAGE, VERSION)
    assert verdict.check is Check.FAILED and not verdict.again
    assert "docsDevSwOperStatus failed(4)" in verdict.detail and "running 1.0.0" in verdict.detail
    assert "'code-file-rejected: wrong-manufacturer'" in verdict.detail, verdict.detail


def test_a_refused_cvc_is_a_failure_though_no_download_started() -> None:
    from pktcable.firmware.device import CodeStore

    sw = software()
    sw.store = CodeStore(None, None, status=DownloadStatus.CONFIG_FILE_CVC_REJECTED)  # type: ignore[arg-type]
    sw.last = Result(Outcome.CVC_REJECTED, "cvc-untrusted")
    verdict = judge(agent_answer(sw), IMAGE, VERSION)
    assert verdict.check is Check.FAILED
    assert "docsDevSwOperStatus other(5)" in verdict.detail
    assert "docsBpi2CodeDownloadStatusCode configFileCvcRejected(2)" in verdict.detail, verdict.detail
    assert "cvc-untrusted" in verdict.detail


def test_a_download_under_way_is_asked_again() -> None:
    sw = software()
    sw.oper = SwOper.IN_PROGRESS
    verdict = judge(agent_answer(sw), IMAGE, VERSION)
    assert verdict.check is Check.IN_PROGRESS and verdict.again


def test_a_modem_running_the_offered_version_is_confirmed() -> None:
    sw = software()
    sw.version, sw.oper = VERSION, SwOper.COMPLETE_FROM_PROVISIONING
    assert judge(agent_answer(sw), IMAGE, VERSION).check is Check.UPGRADED


def test_a_modem_ignoring_provisioning_upgrades_has_not_tried_and_says_why() -> None:
    sw = software()
    sw.filename, sw.admin, sw.oper = "fw-9.p7", SwAdmin.IGNORE_PROVISIONING_UPGRADE, SwOper.COMPLETE_FROM_MGT
    verdict = judge(agent_answer(sw), IMAGE, VERSION)
    assert verdict.check is Check.NOT_TRIED and not verdict.again
    assert "docsDevSwFilename 'fw-9.p7'" in verdict.detail  # told of another file (set by SNMP)
    assert "ignoreProvisioningUpgrade(3): provisioning upgrades are ignored" in verdict.detail


@pytest.mark.parametrize("response, words", [
    (None, "did not answer"),
    (m.Pdu(m.PduType.RESPONSE, 9, (), error_status=m.ErrorStatus.GEN_ERR), "gen_err"),
    (m.Pdu(m.PduType.RESPONSE, 9, (), error_status=77), "77"),
    (m.Pdu(m.PduType.RESPONSE, 9, (m.VarBind(SW.current, T["string"], b"1.0.0"),)), "docsDevSwOperStatus missing"),
])
def test_no_usable_answer_is_unanswered_and_asked_again(response: m.Pdu | None, words: str) -> None:
    verdict = judge(response, IMAGE, VERSION)
    assert verdict.check is Check.UNANSWERED and verdict.again and words in verdict.detail, verdict


def test_the_modems_words_are_bounded_and_printable_and_odd_numbers_named_as_such() -> None:
    hostile = b"\x1b[2J" + b"A" * 1000
    pdu = m.Pdu(m.PduType.RESPONSE, 9, (m.VarBind(SW.oper, T["integer"], 99), m.VarBind(SW.current, T["string"], hostile),
                                          m.VarBind(SW.download_status, T["integer"], 42),
                                          m.VarBind(SW.download_string, T["string"], hostile)))
    verdict = judge(pdu, IMAGE, VERSION)
    assert verdict.check is Check.NOT_TRIED
    assert "\x1b" not in verdict.detail and verdict.detail.count("A") <= 2 * MAX_WORDS
    assert "99 (not a SwOper value)" in verdict.detail and "42 (not a DownloadStatus value)" in verdict.detail


def test_serves_get_against_net_snmp_snmpd_as_the_modems_agent(tmp_path: Path) -> None:
    """A real agent nobody here wrote: net-snmp's snmpd showing a refused upgrade through
    `override` objects (it has no DOCSIS MIB of its own: docsDevSwFilename and the BPI+
    string are left out, so they come back as noSuchObject). serve's GET over its own
    SNMP endpoint, as swchecks sends it, and the verdict."""
    from pktcable.snmp.aio import open_endpoint

    from .peers import require
    from .ports import free_port
    from .test_snmp_v3_interop import Daemon

    tool = require("snmpd")
    port = free_port()
    dotted = {name: "." + ".".join(map(str, getattr(SW, name))) for name in ("oper", "current", "admin",
                                                                            "download_status")}
    config = ("rocommunity private 127.0.0.1\n"
              f"override {dotted['oper']} integer 4\n"
              f"override {dotted['current']} octet_str 1.0.0\n"
              f"override {dotted['admin']} integer 2\n"
              f"override {dotted['download_status']} integer 6\n")
    snmpd = Daemon(tool, tmp_path, config, port, "-I", "-vacm_conf")

    async def scenario() -> m.Pdu:
        endpoint = await open_endpoint("127.0.0.1", 0, None, timeout=3.0, retries=1)
        try:
            return (await endpoint.request(("127.0.0.1", port), b"private", m.PduType.GET, request())).pdu
        finally:
            endpoint.close()

    try:
        response = asyncio.run(scenario())
    finally:
        log = snmpd.close()
    assert response.error_status == 0, log
    verdict = judge(response, IMAGE, VERSION)
    assert verdict.check is Check.FAILED, (verdict, log)
    assert verdict.detail == ("docsDevSwOperStatus failed(4); running 1.0.0; "
                              "docsBpi2CodeDownloadStatusCode codeFileRejected(6)"), verdict.detail
