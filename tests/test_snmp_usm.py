"""SNMPv3 USM (RFC 3414/3826): keys, the message codec and USM processing, on a fake clock."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.snmp import message as m
from pktcable.snmp import usm, v3
from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from pktcable.snmp.usmengine import TIME_WINDOW, Accepted, Refused, UsmEngine, UsmStat, report_stat
from tlv import ber
from tlv.ber import VarBind

RFC_ENGINE = bytes.fromhex("000000000000000000000002")
AGENT_ENGINE = bytes.fromhex("80001f8880" + "00112233445566")
MANAGER_ENGINE = bytes.fromhex("80001f8880" + "aabbccddeeff00")
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
OCTETS = ber.SNMP_TYPE_BY_KEYWORD["string"]


@pytest.mark.parametrize(("protocol", "ku", "kul"), [
    # RFC 3414 A.3.1 and A.3.2: password "maplesyrup", engine ID 00..02.
    (AuthProtocol.HMAC_MD5_96, "9faf3283884e92834ebc9847d8edd963", "526f5eed9fcce26f8964c2930787d82b"),
    (AuthProtocol.HMAC_SHA_96, "9fb5cc0381497b3793528939ff788d5d79145211",
     "6695febc9288e36282235fc7151f128497b38f3f"),
])
def test_rfc3414_key_localization_vectors(protocol: AuthProtocol, ku: str, kul: str) -> None:
    master = usm.password_to_key(protocol, b"maplesyrup")
    assert master.hex() == ku
    assert usm.localize_key(protocol, master, RFC_ENGINE).hex() == kul


def test_user_records_refuse_wrong_key_lengths_and_levels() -> None:
    with pytest.raises(usm.UsmKeyError, match="20-octet"):
        UsmUser(b"u", AGENT_ENGINE, AuthProtocol.HMAC_SHA_96, b"\1" * 16)
    with pytest.raises(usm.UsmKeyError, match="privacy without authentication"):
        UsmUser(b"u", AGENT_ENGINE, priv=PrivProtocol.DES, priv_key=b"\1" * 16)
    with pytest.raises(usm.UsmKeyError, match="privKey"):
        UsmUser(b"u", AGENT_ENGINE, AuthProtocol.HMAC_MD5_96, b"\1" * 16, PrivProtocol.AES_128, b"\2" * 8)
    with pytest.raises(usm.UsmKeyError, match="usmUserName"):
        UsmUser(b"u" * 33, AGENT_ENGINE)
    with pytest.raises(usm.UsmKeyError, match="snmpEngineID"):
        UsmUser(b"u", b"\1\2")


@pytest.mark.parametrize("protocol", [PrivProtocol.DES, PrivProtocol.AES_128])
def test_ciphers_round_trip_and_depend_on_salt_and_clock(protocol: PrivProtocol) -> None:
    key = bytes(range(16))
    plain = b"\x30\x05scoped-pdu-bytes"
    salt = bytes.fromhex("0000000100000007")
    sealed = usm.encrypt(protocol, key, plain, salt=salt, boots=1, time=100)
    assert sealed != plain and len(sealed) == (len(plain) + 7) // 8 * 8 if protocol is PrivProtocol.DES \
        else len(sealed) == len(plain)
    opened = usm.decrypt(protocol, key, sealed, salt=salt, boots=1, time=100)
    assert opened[: len(plain)] == plain
    other_salt = usm.encrypt(protocol, key, plain, salt=bytes(8), boots=1, time=100)
    assert other_salt != sealed
    if protocol is PrivProtocol.AES_128:  # RFC 3826: the IV holds the authoritative boots and time
        assert usm.encrypt(protocol, key, plain, salt=salt, boots=1, time=101) != sealed


def users(auth: AuthProtocol = AuthProtocol.HMAC_SHA_96, priv: PrivProtocol = PrivProtocol.DES,
          name: bytes = b"MTA-Prov-00:11:22:33:44:55") -> UsmUser:
    return UsmUser.from_passwords(name, AGENT_ENGINE, auth, b"authpassword", priv, b"privpassword")


def pair(user: UsmUser, now: float = 1000.0) -> tuple[UsmEngine, UsmEngine]:
    """(agent, manager): the agent authoritative, started 500 s before ``now``."""
    agent = UsmEngine(AGENT_ENGINE, boots=3, started=now - 500, salt=7)
    agent.add_user(user)
    manager = UsmEngine(MANAGER_ENGINE, salt=99)
    manager.add_user(user)
    manager.learn(AGENT_ENGINE, 3, 500, now)  # as key management's application data tells it
    return agent, manager


@pytest.mark.parametrize(("auth", "priv"), [
    (AuthProtocol.HMAC_MD5_96, PrivProtocol.NONE), (AuthProtocol.HMAC_SHA_96, PrivProtocol.NONE),
    (AuthProtocol.HMAC_MD5_96, PrivProtocol.DES), (AuthProtocol.HMAC_SHA_96, PrivProtocol.DES),
    (AuthProtocol.HMAC_SHA_96, PrivProtocol.AES_128),
])
def test_get_and_response_between_two_engines(auth: AuthProtocol, priv: PrivProtocol) -> None:
    user = users(auth, priv)
    agent, manager = pair(user)
    request = manager.encode_request(m.Pdu(m.PduType.GET, 41, (m.null_varbind(SYS_DESCR),)), user, 41, 1000.0)
    if priv is not PrivProtocol.NONE:
        assert b"\x2b\x06\x01\x02\x01\x01\x01\x00" not in request  # the OID travels encrypted
    got = agent.receive(request, 1001.0)
    assert isinstance(got, Accepted), got
    assert got.pdu.type is m.PduType.GET and got.pdu.varbinds[0].oid == SYS_DESCR
    assert got.level == (True, priv is not PrivProtocol.NONE) and got.user == user
    answer = got.pdu.varbinds[0]
    reply = agent.encode_response(got, m.Pdu(m.PduType.RESPONSE, 41, (VarBind(answer.oid, OCTETS, b"eMTA"),)),
                                  1001.0)
    back = manager.receive(reply, 1001.0)
    assert isinstance(back, Accepted), back
    assert back.pdu.varbinds[0].value == b"eMTA" and back.message.msg_id == 41
    assert back.message.security.boots == 3 and back.message.security.time == 501


def test_wrong_auth_key_is_a_wrong_digest_report() -> None:
    user = users()
    agent, manager = pair(user)
    forged = dataclasses.replace(user, auth_key=bytes(20))
    manager.add_user(forged)
    request = manager.encode_request(m.Pdu(m.PduType.GET, 5, (m.null_varbind(SYS_DESCR),)), forged, 5, 1000.0)
    refused = agent.receive(request, 1000.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.WRONG_DIGESTS
    assert agent.stats[UsmStat.WRONG_DIGESTS] == 1 and refused.report is not None
    report = manager.receive(refused.report, 1000.0)
    assert isinstance(report, Accepted) and not report.message.authenticated
    assert report_stat(report.pdu) is UsmStat.WRONG_DIGESTS and report.message.msg_id == 5
    assert UsmStat.WRONG_DIGESTS.mib_name == "usmStatsWrongDigests"


def test_stale_time_is_an_authenticated_not_in_time_window_report() -> None:
    user = users()
    agent, manager = pair(user)
    manager.learn(AGENT_ENGINE, 3, 500 - TIME_WINDOW - 10, 1000.0)  # a clock far behind the agent's
    request = manager.encode_request(m.Pdu(m.PduType.GET, 6, (m.null_varbind(SYS_DESCR),)), user, 6, 1000.0)
    refused = agent.receive(request, 1000.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.NOT_IN_TIME_WINDOWS, refused
    assert refused.report is not None
    report = manager.receive(refused.report, 1000.0)
    assert isinstance(report, Accepted) and report.message.authenticated  # RFC 3414 3.2 step 7a
    assert report_stat(report.pdu) is UsmStat.NOT_IN_TIME_WINDOWS
    # The manager learned the agent's clock from the authenticated Report: a retry is timely.
    retry = manager.encode_request(m.Pdu(m.PduType.GET, 7, (m.null_varbind(SYS_DESCR),)), user, 7, 1000.0)
    assert isinstance(agent.receive(retry, 1000.0), Accepted)
    # Another boot of the agent makes the old clock stale too.
    agent.boots += 1
    stale = agent.receive(retry, 1000.0)
    assert isinstance(stale, Refused) and stale.stat is UsmStat.NOT_IN_TIME_WINDOWS
    assert stale.detail == "boots/time 3/500, ours 4/500" and agent.stats[UsmStat.NOT_IN_TIME_WINDOWS] == 2


def test_time_window_edges_on_a_fake_clock() -> None:
    user = users(priv=PrivProtocol.NONE)
    agent, manager = pair(user)
    request = manager.encode_request(m.Pdu(m.PduType.GET, 8), user, 8, 1000.0)  # carries time 500
    assert isinstance(agent.receive(request, 1000.0 + TIME_WINDOW), Accepted)
    assert isinstance(agent.receive(request, 1000.0 - TIME_WINDOW), Accepted)
    late = agent.receive(request, 1000.0 + TIME_WINDOW + 1)
    assert isinstance(late, Refused) and late.stat is UsmStat.NOT_IN_TIME_WINDOWS


def test_wrong_priv_key_is_a_decryption_error() -> None:
    for priv in (PrivProtocol.DES, PrivProtocol.AES_128):
        user = users(priv=priv)
        agent, manager = pair(user)
        other = dataclasses.replace(user, priv_key=bytes(20))
        manager.add_user(other)
        request = manager.encode_request(m.Pdu(m.PduType.SET, 9, (m.null_varbind(SYS_DESCR),)), other, 9, 1000.0)
        refused = agent.receive(request, 1000.0)
        assert isinstance(refused, Refused) and refused.stat is UsmStat.DECRYPTION_ERRORS, (priv, refused)
        assert agent.stats[UsmStat.DECRYPTION_ERRORS] == 1


def test_unknown_user_and_unsupported_level() -> None:
    user = users(priv=PrivProtocol.NONE)
    agent, manager = pair(user)
    stranger = dataclasses.replace(user, name=b"stranger")
    manager.add_user(stranger)
    refused = agent.receive(manager.encode_request(m.Pdu(m.PduType.GET, 1), stranger, 1, 1000.0), 1000.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.UNKNOWN_USER_NAMES
    # The manager believes the user has privacy; the agent's record has none.
    private = UsmUser(user.name, AGENT_ENGINE, user.auth, user.auth_key, PrivProtocol.DES, bytes(16))
    manager.add_user(private)
    refused = agent.receive(manager.encode_request(m.Pdu(m.PduType.GET, 2), private, 2, 1000.0), 1000.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.UNSUPPORTED_SEC_LEVELS


def test_discovery_probe_gets_engine_id_boots_and_time() -> None:
    user = users()
    agent, _ = pair(user)
    sender = UsmEngine(MANAGER_ENGINE)
    refused = agent.receive(sender.discovery_probe(77, 78), 1000.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.UNKNOWN_ENGINE_IDS
    assert refused.report is not None
    report = sender.receive(refused.report, 1000.0)
    assert isinstance(report, Accepted) and report_stat(report.pdu) is UsmStat.UNKNOWN_ENGINE_IDS
    sec = report.message.security
    assert (sec.engine_id, sec.boots, sec.time) == (AGENT_ENGINE, 3, 500)
    assert report.message.msg_id == 77 and report.pdu.request_id == 78


def test_inform_goes_to_the_receivers_engine() -> None:
    """The eMTA sends an INFORM: the provisioning server is authoritative (RFC 3414 4)."""
    keys = users()
    server = UsmEngine(MANAGER_ENGINE, boots=1, started=0.0)
    server.add_user(dataclasses.replace(keys, engine_id=b""))  # the SA's keys, at the server's own engine
    emta = UsmEngine(AGENT_ENGINE, boots=3)
    report = emta.receive(server.receive(emta.discovery_probe(1, 1), 50.0).report or b"", 50.0)  # type: ignore[union-attr]
    assert isinstance(report, Accepted)
    sec = report.message.security
    emta.learn(sec.engine_id, sec.boots, sec.time, 50.0)
    to_server = dataclasses.replace(keys, engine_id=sec.engine_id)
    emta.add_user(to_server)
    inform = m.Pdu(m.PduType.INFORM, 2, m.notification((1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 0), 100, ()))
    got = server.receive(emta.encode_request(inform, to_server, 2, 60.0), 60.0)
    assert isinstance(got, Accepted) and got.pdu.type is m.PduType.INFORM and got.message.reportable
    ack = emta.receive(server.encode_response(got, m.Pdu(m.PduType.RESPONSE, 2, got.pdu.varbinds), 60.0), 60.0)
    assert isinstance(ack, Accepted) and ack.pdu.type is m.PduType.RESPONSE
    # The eMTA holds keys for the server's engine, yet a request naming that engine is not for it.
    known = dataclasses.replace(emta.remote[sec.engine_id])
    ahead = emta.encode_request(m.Pdu(m.PduType.GET, 3), to_server, 3, 160.0)  # claims a later server clock
    refused = emta.receive(ahead, 60.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.UNKNOWN_ENGINE_IDS
    assert emta.remote[sec.engine_id] == known  # a refused message teaches no clock


def test_codec_round_trip_and_typed_errors() -> None:
    sec = v3.SecurityParameters(AGENT_ENGINE, 1, 2, b"user")
    msg = v3.V3Message(12, 1500, v3.FLAG_REPORTABLE, sec, v3.ScopedPdu(AGENT_ENGINE, b"", m.Pdu(m.PduType.GET, 12)))
    data, _ = v3.encode(msg)
    back = v3.decode(data)
    assert back.scoped == msg.scoped and back.security == sec and back.msg_id == 12 and back.max_size == 1500
    assert v3.peek_version(data) == 3 and v3.peek_version(b"\x30") is None
    with pytest.raises(m.SnmpDecodeError) as exc:
        v3.decode(data[:-1])
    assert exc.value.offset >= 0
    bad_size = v3.V3Message(12, 100, 0, sec, msg.scoped)
    with pytest.raises(m.SnmpDecodeError, match="msgMaxSize 100"):
        v3.decode(v3.encode(bad_size)[0])
    priv_only = dataclasses.replace(msg, flags=v3.FLAG_PRIV)
    with pytest.raises(m.SnmpDecodeError, match="privacy without authentication"):
        v3.decode(v3.encode(priv_only, ber.tlv(ber.OCTET_STRING, b"x" * 8))[0])
    long_user = dataclasses.replace(msg, security=dataclasses.replace(sec, user_name=b"u" * 33))
    with pytest.raises(m.SnmpDecodeError, match="msgUserName has 33 octets"):
        v3.decode(v3.encode(long_user)[0])


def test_truncated_and_mutated_messages_never_escape_as_other_errors() -> None:
    user = users()
    agent, manager = pair(user)
    request = manager.encode_request(m.Pdu(m.PduType.GET, 4, (m.null_varbind(SYS_DESCR),)), user, 4, 1000.0)
    outcomes = set()
    for cut in range(len(request)):
        for data in (request[:cut], request[:cut] + bytes([request[cut] ^ 0x41]) + request[cut + 1 :]):
            try:
                got = agent.receive(data, 1000.0)
            except m.SnmpDecodeError:
                outcomes.add("malformed")
                continue
            outcomes.add(type(got).__name__ if isinstance(got, Accepted) else got.stat.name)
    assert "malformed" in outcomes and "WRONG_DIGESTS" in outcomes
    assert "Accepted" not in outcomes  # no single-byte change survives the digest


def test_reports_are_rate_limited_but_counters_are_not() -> None:
    from pktcable.snmp.usmengine import REPORT_BURST, REPORT_RATE

    agent, _ = pair(users())
    probe = UsmEngine(MANAGER_ENGINE).discovery_probe(1, 1)
    flood = [agent.receive(probe, 1000.0) for _ in range(int(REPORT_BURST) + 100)]
    reports = sum(1 for r in flood if isinstance(r, Refused) and r.report is not None)
    assert reports == REPORT_BURST and agent.reports_suppressed == 100
    assert agent.stats[UsmStat.UNKNOWN_ENGINE_IDS] == REPORT_BURST + 100
    later = [agent.receive(probe, 1001.0) for _ in range(int(REPORT_RATE) + 10)]
    assert sum(1 for r in later if isinstance(r, Refused) and r.report is not None) == REPORT_RATE


def test_removed_user_is_unknown_again() -> None:
    user = users(priv=PrivProtocol.NONE)
    agent, manager = pair(user)
    request = manager.encode_request(m.Pdu(m.PduType.GET, 1), user, 1, 1000.0)
    assert isinstance(agent.receive(request, 1000.0), Accepted)
    agent.remove_user(AGENT_ENGINE, user.name)
    refused = agent.receive(request, 1000.0)
    assert isinstance(refused, Refused) and refused.stat is UsmStat.UNKNOWN_USER_NAMES
    manager.remove_user(AGENT_ENGINE, user.name)
    assert AGENT_ENGINE not in manager.remote  # its clock goes with its last user


def test_engine_ids_follow_rfc3411() -> None:
    from pktcable.snmp.usm import EngineIdFormat, make_engine_id

    mac = bytes.fromhex("0010180a0b0c")
    assert make_engine_id(EngineIdFormat.MAC, mac) == bytes.fromhex("8000118b03") + mac
    assert make_engine_id(EngineIdFormat.IPV4, bytes((10, 0, 0, 1)), 8072) == bytes.fromhex("80001f88010a000001")
    with pytest.raises(usm.UsmKeyError, match="5 to 32"):
        make_engine_id(EngineIdFormat.TEXT, b"x" * 40)


def test_a_key_management_sa_becomes_a_usm_user_that_talks() -> None:
    """The SA key management computes (pktcable.secure.kmkeys) -> UsmUser -> a GET
    from the server to the eMTA's engine and an INFORM to the server's."""
    from pktcable.secure import kmcodec, kmkeys

    app = kmcodec.SnmpAppData(AGENT_ENGINE, 2, 300, "MTA-Prov-00:10:18:0a:0b:0c")
    for suite in [(kmcodec.SNMP_AUTH_SHA1, kmcodec.SNMP_PRIV_DES), (kmcodec.SNMP_AUTH_MD5, kmcodec.SNMP_PRIV_NULL)]:
        sa = kmkeys.snmp_sa(bytes(range(16)), suite, app, lifetime=3600, grace_period=600, now=0.0)
        user = sa.usm_user()
        assert (user.engine_id, user.name) == (AGENT_ENGINE, b"MTA-Prov-00:10:18:0a:0b:0c")
        emta = UsmEngine(AGENT_ENGINE, boots=sa.engine_boots, started=-float(sa.engine_time))
        emta.add_user(user)
        server = UsmEngine(MANAGER_ENGINE)
        server.add_user(user)
        server.add_user(user.at_engine(b""))  # the same keys at the server's own engine, for INFORMs
        server.learn(sa.engine_id, sa.engine_boots, sa.engine_time, 0.0)
        got = emta.receive(server.encode_request(m.Pdu(m.PduType.GET, 1), user, 1, 0.0), 0.0)
        assert isinstance(got, Accepted) and got.level == (True, suite[1] == kmcodec.SNMP_PRIV_DES)
        emta.learn(MANAGER_ENGINE, 1, 0, 0.0)
        inform = m.Pdu(m.PduType.INFORM, 2, m.notification((1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 2, 0, 1), 5, ()))
        got = server.receive(emta.encode_request(inform, user.at_engine(MANAGER_ENGINE), 2, 0.0), 0.0)
        assert isinstance(got, Accepted) and got.user is not None and got.user.engine_id == MANAGER_ENGINE
    with pytest.raises(usm.UsmKeyError, match="authKey"):  # keys that do not fit the protocol
        dataclasses.replace(sa, auth_key=bytes(12)).usm_user()


_FUZZ_USER = users()
_FUZZ_AGENT, _FUZZ_MANAGER = pair(_FUZZ_USER)
_FUZZ_VALID = _FUZZ_MANAGER.encode_request(m.Pdu(m.PduType.SET, 3, (m.null_varbind(SYS_DESCR),)), _FUZZ_USER, 3,
                                           1000.0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | st.builds(lambda cut, junk: _FUZZ_VALID[:cut] + junk,
                                           st.integers(0, len(_FUZZ_VALID)), st.binary(max_size=40)))
def test_any_datagram_is_accepted_refused_or_a_decode_error(data: bytes) -> None:
    try:
        got = _FUZZ_AGENT.receive(data, 1000.0)
    except m.SnmpDecodeError as exc:
        assert 0 <= exc.offset <= len(data)
        return
    assert isinstance(got, Accepted | Refused)
    if isinstance(got, Accepted):
        assert got.user is None or data.startswith(_FUZZ_VALID)


def test_response_larger_than_the_requesters_max_size_is_too_big() -> None:
    user = users()
    agent, manager = pair(user)
    request = manager.encode_request(m.Pdu(m.PduType.GET, 5, (m.null_varbind(SYS_DESCR),)), user, 5, 1000.0)
    got = agent.receive(request, 1000.0)
    assert isinstance(got, Accepted)
    small = dataclasses.replace(got, message=dataclasses.replace(got.message, max_size=v3.MIN_MAX_SIZE))
    huge = m.Pdu(m.PduType.RESPONSE, 5, (VarBind(SYS_DESCR, OCTETS, b"x" * 600),))
    answer = manager.receive(agent.encode_response(small, huge, 1000.0), 1000.0)
    assert isinstance(answer, Accepted) and answer.level == (True, True)
    assert answer.pdu.error_status == m.ErrorStatus.TOO_BIG and answer.pdu.varbinds == ()
    fits = manager.receive(agent.encode_response(got, huge, 1000.0), 1000.0)
    assert isinstance(fits, Accepted) and fits.pdu.varbinds[0].value == b"x" * 600
