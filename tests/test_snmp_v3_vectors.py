"""Golden SNMPv3 datagrams from net-snmp (tests/data/snmpv3/README.md): decoded, verified
and decrypted by our USM with keys localized from the lab passwords, no peer needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pktcable.snmp import message as m
from pktcable.snmp import v3
from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from pktcable.snmp.usmengine import Accepted, Refused, UsmEngine, UsmStat, report_stat

VECTORS = json.loads((Path(__file__).parent / "data" / "snmpv3" / "net-snmp.json").read_text())
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)


def lab_user(vector: dict[str, object]) -> UsmUser:
    return UsmUser.from_passwords(str(vector["user"]).encode(), bytes.fromhex(str(vector["engine_id"])),
                                  AuthProtocol[str(vector["auth"])], b"authpassword",
                                  PrivProtocol[str(vector["priv"])], b"privpassword")


@pytest.mark.parametrize("vector", VECTORS["snmpget_requests"], ids=lambda v: v["user"])
def test_snmpget_requests_pass_our_usm(vector: dict[str, object]) -> None:
    user = lab_user(vector)
    request = bytes.fromhex(str(vector["request"]))
    # The agent's clock when it was captured: the time net-snmp learned and sent back.
    sent_time = v3.decode(request).security.time
    agent = UsmEngine(user.engine_id, boots=int(str(vector["boots"])), started=-float(sent_time))
    agent.add_user(user)
    probe = agent.receive(bytes.fromhex(str(vector["probe"])), 0.0)
    assert isinstance(probe, Refused) and probe.stat is UsmStat.UNKNOWN_ENGINE_IDS and probe.report
    got = agent.receive(request, 0.0)
    assert isinstance(got, Accepted), got
    assert got.level == (True, True) and got.pdu.type is m.PduType.GET
    assert [vb.oid for vb in got.pdu.varbinds] == [SYS_DESCR]
    # One flipped bit anywhere in the digest is a wrong digest; a stale clock is out of the window.
    tampered = bytearray(request)
    tampered[v3.decode(request).auth_offset] ^= 1
    refused = agent.receive(bytes(tampered), 0.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.WRONG_DIGESTS
    refused = agent.receive(request, 151.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.NOT_IN_TIME_WINDOWS


def test_snmpd_report_and_response_pass_our_usm() -> None:
    vector = VECTORS["snmpd_response"]
    user = lab_user(vector)
    manager = UsmEngine(bytes.fromhex("8000118b017f000001"))
    report = manager.receive(bytes.fromhex(vector["report"]), 0.0)
    assert isinstance(report, Accepted) and report_stat(report.pdu) is UsmStat.UNKNOWN_ENGINE_IDS
    assert report.message.security.engine_id == user.engine_id
    manager.add_user(user)
    got = manager.receive(bytes.fromhex(vector["response"]), 0.0)
    assert isinstance(got, Accepted), got
    assert got.level == (True, True) and got.pdu.type is m.PduType.RESPONSE
    assert got.pdu.varbinds[0].oid == SYS_DESCR and got.pdu.varbinds[0].value == b"Example snmpd"
