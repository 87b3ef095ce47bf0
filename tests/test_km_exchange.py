"""Key management end to end in memory, with a fake clock: our MTA side against our
server side, the AP exchange's checks, the backoff, and every refusal by name."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pktcable.secure import kmcodec as km
from pktcable.secure import krbap, krbcrypto
from pktcable.secure.km import (
    ClientState,
    Established,
    Failed,
    KmBackoff,
    KmClient,
    KmServer,
    Refused,
    Rejected,
    Send,
    ServerError,
    ServerPolicy,
)
from pktcable.secure.kmkeys import SnmpSa, derive_key
from pktcable.snmp import message as m
from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from pktcable.snmp.usmengine import Accepted, UsmEngine

from .kmhelpers import CLIENT, SERVICE, T0, Issued, issue, lookup
from .pcap import udp_frame, write_pcap
from .peers import require

MTA = ("10.1.0.7", 1293)
ENGINE = bytes.fromhex("8000118b030010180a0b0c")
SERVER_ENGINE = bytes.fromhex("8000118b030010180a0b01")
APP = km.SnmpAppData(ENGINE, 1, 12, "MTA-Prov-00:10:18:0a:0b:0c")


def _pair(issued: Issued | None = None, policy: ServerPolicy | None = None, **client: object
          ) -> tuple[Issued, KmServer, KmClient]:
    issued = issued or issue()
    server = KmServer(SERVICE, lookup(issued), SERVER_ENGINE, policy=policy, engine_started=T0 - 100)
    mta = KmClient(issued.ticket, issued.session_key, CLIENT, APP, **client)  # type: ignore[arg-type]
    return issued, server, mta


def _sent(events: list) -> bytes:  # type: ignore[type-arg]
    sends = [e for e in events if isinstance(e, Send)]
    assert len(sends) == 1, events
    return sends[0].data


def _refused(events: list) -> Refused:  # type: ignore[type-arg]
    refused = [e for e in events if isinstance(e, Refused)]
    assert len(refused) == 1, events
    return refused[0]


def test_unsolicited_exchange_gives_both_sides_the_same_sa() -> None:
    _, server, mta = _pair()
    request = _sent(mta.start(T0 + 1))
    assert km.decode(request).server_nonce == 0
    answer = server.receive(request, MTA, T0 + 1.5)
    server_sa = next(e.sa for e in answer if isinstance(e, Established))
    reply = km.decode(_sent(answer))
    assert isinstance(reply, km.ApReply)
    assert reply.ciphersuites == ((km.SNMP_AUTH_SHA1, km.SNMP_PRIV_DES),)  # server preference
    assert reply.app_data == km.SnmpAppData(SERVER_ENGINE, 1, 101, APP.user_name)
    events = mta.receive(_sent(answer), T0 + 2)
    assert events == [Established(mta.sa)] and mta.state is ClientState.ESTABLISHED
    assert isinstance(mta.sa, SnmpSa)
    assert dataclasses.replace(mta.sa, established=0) == dataclasses.replace(server_sa, established=0)
    assert (mta.sa.engine_id, mta.sa.user_name) == (ENGINE, APP.user_name)
    assert (mta.sa.auth, len(mta.sa.auth_key)) == (AuthProtocol.HMAC_SHA_96, 20)
    assert (mta.sa.priv, len(mta.sa.priv_key)) == (PrivProtocol.DES, 16)
    assert mta.sa.auth_key != mta.sa.priv_key[:16]
    assert mta.sa.lifetime == ServerPolicy().sa_lifetime and mta.sa.renew_at < mta.sa.expires


def test_keys_come_from_the_ap_rep_subkey() -> None:
    subkeys: list[krbcrypto.Key] = []

    def make(enctype: int) -> krbcrypto.Key:
        subkeys.append(krbcrypto.random_key(enctype))
        return subkeys[-1]
    issued, _, mta = _pair(suites=((km.SNMP_AUTH_MD5, km.SNMP_PRIV_NULL),))
    server = KmServer(SERVICE, lookup(issued), SERVER_ENGINE, make_subkey=make)
    mta.receive(_sent(server.receive(_sent(mta.start(T0)), MTA, T0)), T0)
    assert mta.sa is not None
    assert mta.sa.auth_key == derive_key(subkeys[0].value, b"PacketCable SNMPv3 authentication key", 16)
    assert (mta.sa.auth, mta.sa.priv, mta.sa.priv_key) == (AuthProtocol.HMAC_MD5_96, PrivProtocol.NONE, b"")


def test_wake_up_nonce_is_echoed_and_checked() -> None:
    _, server, mta = _pair(solicited_timeout=120)
    wake = _sent(server.wake_up(MTA, T0))
    assert km.decode(wake) == km.WakeUp(km.decode(wake).server_nonce, str(SERVICE))
    request = _sent(mta.receive(wake, T0 + 0.1))
    assert km.decode(request).server_nonce == km.decode(wake).server_nonce != 0
    mta.receive(_sent(server.receive(request, MTA, T0 + 0.2)), T0 + 0.3)
    assert mta.state is ClientState.ESTABLISHED


def test_a_repeated_wake_up_keeps_its_nonce() -> None:
    _, server, mta = _pair()
    first = km.decode(_sent(server.wake_up(MTA, T0)))
    again = km.decode(_sent(server.wake_up(MTA, T0 + 1)))
    assert first == again
    request = _sent(mta.receive(km.encode(first), T0 + 1))
    assert [type(e) for e in mta.receive(km.encode(again), T0 + 1)] == [Rejected]  # busy: already answering
    assert any(isinstance(e, Established) for e in server.receive(request, MTA, T0 + 2))
    assert km.decode(_sent(server.wake_up(MTA, T0 + 3))) != first  # a new keying, a new nonce


def test_wrong_nonce_after_wake_up_is_refused() -> None:
    _, server, mta = _pair()
    server.wake_up(MTA, T0)
    events = server.receive(_sent(mta.start(T0, nonce=12345)), MTA, T0)
    assert _refused(events).reason == "nonce-mismatch"
    reply = km.decode(_sent(events))
    assert isinstance(reply, km.ErrorReply)
    assert krbap.read_krb_error(reply.krb_error)[0] == krbap.KRB_AP_ERR_MODIFIED


def test_wake_up_for_another_server_is_ignored() -> None:
    _, _, mta = _pair()
    other = km.encode(km.WakeUp(7, "mtaprovsrvr/other@LAB.EXAMPLE.NET"))
    assert [type(e) for e in mta.receive(other, T0)] == [Rejected]
    assert mta.state is ClientState.IDLE


def test_replayed_ap_req_is_krb_ap_err_repeat() -> None:
    _, server, mta = _pair()
    request = km.decode(_sent(mta.start(T0)))
    assert isinstance(request, km.ApRequest)
    assert any(isinstance(e, Established) for e in server.receive(km.encode(request), MTA, T0))
    # The same AP-REQ (same authenticator) in a new KM message, from elsewhere.
    replay = km.encode(dataclasses.replace(request, server_nonce=99))
    events = server.receive(replay, ("10.9.9.9", 1293), T0 + 1)
    assert _refused(events).reason == "KRB_AP_ERR_REPEAT"
    error = km.decode(_sent(events))
    assert isinstance(error, km.ErrorReply) and krbap.read_krb_error(error.krb_error)[0] == 34


def test_identical_retransmission_gets_the_same_reply() -> None:
    _, server, mta = _pair()
    request = _sent(mta.start(T0))
    first = _sent(server.receive(request, MTA, T0))
    assert server.receive(request, MTA, T0 + 5) == [Send(first, MTA)]
    assert _refused(server.receive(request, ("10.9.9.9", 1), T0 + 5)).reason == "KRB_AP_ERR_REPEAT"


def test_wrong_hmac_is_refused_on_both_sides() -> None:
    _, server, mta = _pair()
    request = bytearray(_sent(mta.start(T0)))
    request[-1] ^= 1
    events = server.receive(bytes(request), MTA, T0)
    assert _refused(events).reason == "KRB_AP_ERR_MODIFIED" and "HMAC" in _refused(events).detail
    # A changed field (the user name) breaks the HMAC just the same.
    _, server, mta = _pair()
    good = km.decode(_sent(mta.start(T0)))
    assert isinstance(good, km.ApRequest)
    forged = dataclasses.replace(good, app_data=dataclasses.replace(APP, user_name="admin"))
    assert _refused(server.receive(km.encode(forged), MTA, T0)).reason == "KRB_AP_ERR_MODIFIED"
    # The MTA ignores an AP Reply with a bad HMAC and keeps waiting.
    _, server, mta = _pair()
    reply = bytearray(_sent(server.receive(_sent(mta.start(T0)), MTA, T0)))
    reply[-5] ^= 0x40
    assert mta.receive(bytes(reply), T0) == [Rejected("KRB_AP_ERR_MODIFIED",
                                                      "the AP Reply's SHA-1 HMAC does not verify")]
    assert mta.state is ClientState.WAITING


def test_wrong_service_key_is_bad_integrity() -> None:
    issued = issue()
    _, server, mta = _pair(issued)
    server.keys = lookup(dataclasses.replace(issued, service_key=krbcrypto.random_key(issued.service_key.enctype)))
    events = server.receive(_sent(mta.start(T0)), MTA, T0)
    assert _refused(events).reason == "KRB_AP_ERR_BAD_INTEGRITY"
    server.keys = lambda etype, kvno: None
    assert _refused(server.receive(_sent(mta.start(T0 + 1)), MTA, T0 + 1)).reason == "KRB_AP_ERR_NOKEY"


@pytest.mark.parametrize(("offset", "reason"), [(-301, "KRB_AP_ERR_SKEW"), (301, "KRB_AP_ERR_SKEW"),
                                                (-10, None), (299, None)])
def test_clock_skew(offset: float, reason: str | None) -> None:
    _, server, mta = _pair()
    events = server.receive(_sent(mta.start(T0 + offset)), MTA, T0)
    if reason is None:
        assert any(isinstance(e, Established) for e in events)
    else:
        assert _refused(events).reason == reason


def test_expired_ticket_and_other_service() -> None:
    issued = issue(life=600)
    _, server, mta = _pair(issued)
    assert _refused(server.receive(_sent(mta.start(T0 + 1000)), MTA, T0 + 1000)).reason == "KRB_AP_ERR_TKT_EXPIRED"
    other = issue(service=krbap.Principal(SERVICE.realm, ("mtaprovsrvr", "elsewhere"), 2))
    _, server, mta = _pair(other)
    assert _refused(server.receive(_sent(mta.start(T0)), MTA, T0)).reason == "KRB_AP_ERR_NOT_US"


def test_no_common_ciphersuite() -> None:
    _, server, mta = _pair(policy=ServerPolicy(suites=((km.SNMP_AUTH_SHA1, km.SNMP_PRIV_DES),)),
                           suites=((km.SNMP_AUTH_MD5, km.SNMP_PRIV_NULL),))
    events = server.receive(_sent(mta.start(T0)), MTA, T0)
    assert _refused(events).reason == "no-common-ciphersuite"
    assert [type(e) for e in mta.receive(_sent(events), T0)] == [ServerError]
    assert mta.state is ClientState.WAITING  # a KRB-ERROR is unauthenticated: keep trying


def test_ack_required_waits_for_security_parameter_recovered() -> None:
    _, server, mta = _pair(policy=ServerPolicy(ack_required=True))
    answer = server.receive(_sent(mta.start(T0)), MTA, T0)
    assert not any(isinstance(e, Established) for e in answer)
    events = mta.receive(_sent(answer), T0)
    ack = _sent(events)
    assert isinstance(km.decode(ack), km.SecParamRecovered)
    bad = ack[:-1] + bytes([ack[-1] ^ 1])
    assert _refused(server.receive(bad, MTA, T0)).reason == "KRB_AP_ERR_MODIFIED"
    done = server.receive(ack, MTA, T0 + 1)
    assert len(done) == 1 and isinstance(done[0], Established)
    assert done[0].sa.auth_key == mta.sa.auth_key  # type: ignore[union-attr]


def test_backoff_of_122_5_then_failure() -> None:
    backoff = KmBackoff(nominal=3, maximum=20, retries=4)
    assert backoff.waits() == (3, 6, 12, 20, 20)
    assert KmBackoff().waits() == (30, 60, 120, 240, 480, 600, 600, 600, 600)
    _, _, mta = _pair(backoff=backoff)
    first = _sent(mta.start(T0))
    now, sends = T0, [first]
    for wait in backoff.waits()[:-1]:
        assert mta.poll(now + wait - 0.01) == []
        now += wait
        sends.append(_sent(mta.poll(now)))
    assert sends == [first] * 5  # the same datagram: the server answers a retransmission from its cache
    events = mta.poll(now + 20)
    assert [type(e) for e in events] == [Failed] and events[0].reason == "no-reply"  # type: ignore[union-attr]
    assert mta.state is ClientState.FAILED and mta.deadline is None


def test_solicited_timeout_ends_a_wake_up_exchange() -> None:
    _, server, mta = _pair(backoff=KmBackoff(nominal=3, maximum=600, retries=8), solicited_timeout=10)
    mta.receive(_sent(server.wake_up(MTA, T0)), T0)
    assert len(mta.poll(T0 + 3)) == 1 and mta.deadline == T0 + 9
    assert mta.deadline is not None and len(mta.poll(mta.deadline)) == 1 and mta.deadline == T0 + 10
    assert [e.reason for e in mta.poll(T0 + 10)] == ["solicited-timeout"]  # type: ignore[union-attr]


def test_server_refuses_what_it_should_not_get() -> None:
    _, server, _ = _pair()
    assert _refused(server.receive(b"\x01\x02", MTA, T0)).reason == "malformed"
    wake = km.encode(km.WakeUp(1, "x@Y"))
    assert _refused(server.receive(wake, MTA, T0)).reason == "unexpected"
    assert _refused(server.receive(km.encode(km.SecParamRecovered()), MTA, T0)).reason == "unexpected"


def test_replay_cache_is_bounded_in_time_and_size() -> None:
    cache = krbap.ReplayCache(window=10, max_entries=2)
    t = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    cache.check_and_add("a@R", t, 1, now=0)
    cache.check_and_add("a@R", t, 2, now=0)
    with pytest.raises(krbap.ApError) as full:
        cache.check_and_add("a@R", t, 3, now=1)
    assert full.value.code == krbap.KRB_ERR_GENERIC
    with pytest.raises(krbap.ApError) as repeat:
        cache.check_and_add("a@R", t, 1, now=9)
    assert repeat.value.name == "KRB_AP_ERR_REPEAT"
    cache.check_and_add("a@R", t, 3, now=10)  # the first two expired
    assert len(cache) == 1


def test_ap_req_with_subkey_and_seq_and_the_ap_rep_checks() -> None:
    issued = issue()
    mine = krbcrypto.random_key(issued.session_key.enctype)
    sent = krbap.build_ap_req(issued.ticket, issued.session_key, CLIENT, now=T0 + 0.123456, subkey=mine, seq=77)
    verified = krbap.verify_ap_req(sent.der, SERVICE, lookup(issued), now=T0, replay=krbap.ReplayCache())
    assert (verified.subkey, verified.seq, verified.cusec, verified.mutual) == (mine, 77, 123456, True)
    assert verified.client == CLIENT
    theirs = krbcrypto.random_key(issued.session_key.enctype)
    rep = krbap.build_ap_rep(verified, theirs, seq=9)
    assert krbap.read_ap_rep(rep, sent) == krbap.ApRepContents(theirs, 9)
    # An AP-REP for another authenticator (another time) is a mutual-authentication failure.
    other = krbap.build_ap_req(issued.ticket, issued.session_key, CLIENT, now=T0 + 1)
    with pytest.raises(krbap.ApError) as caught:
        krbap.read_ap_rep(rep, other)
    assert caught.value.name == "KRB_AP_ERR_MUT_FAIL"
    # One encrypted in another key does not decrypt.
    with pytest.raises(krbap.ApError) as caught:
        krbap.read_ap_rep(rep, dataclasses.replace(sent, session_key=theirs))
    assert caught.value.name == "KRB_AP_ERR_BAD_INTEGRITY"


def test_tshark_dissects_every_message_we_send(tmp_path: Path) -> None:
    """Wake Up, AP Request, AP Reply with ACK required, Security Parameter Recovered, an
    Error Reply (a replay's KRB-ERROR) and an IPsec Rekey, as tshark's pktc dissector
    reads them: the KMMIDs in order, no malformed or expert-info marker."""
    tshark = require("tshark")
    _, server, mta = _pair(policy=ServerPolicy(ack_required=True))
    wake = _sent(server.wake_up(MTA, T0))
    request = _sent(mta.receive(wake, T0))
    reply = _sent(server.receive(request, MTA, T0))
    ack = _sent(mta.receive(reply, T0))
    server.receive(ack, MTA, T0)
    decoded = km.decode(request)
    assert isinstance(decoded, km.ApRequest)
    error = _sent(server.receive(km.encode(dataclasses.replace(decoded, server_nonce=5)), ("10.9.9.9", 1293), T0))
    rekey = km.encode(km.Rekey(0x0A0B0C0D, str(SERVICE), dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC),
                               km.IpsecAppData(0x1234), ((0x02, 0x0C), (0x01, 0x03)), 3600, 300,
                               hmac=bytes(range(20))))
    frames = [udp_frame(d, "10.0.0.1", "10.1.0.7", 1293, 1293) for d in (wake, request, reply, ack, error, rekey)]
    pcap = tmp_path / "km.pcap"
    write_pcap(pcap, frames)
    fields = ["pktc.kmmid", "pktc.doi", "pktc.server_nonce", "pktc.server_principal", "pktc.ack_required",
              "pktc.sha1_hmac", "pktc.asd.ipsec_spi", "pktc.timestamp", "kerberos.error_code"]
    out = subprocess.run([tshark, "-r", str(pcap), "-T", "fields", "-E", "separator=|",
                          *(a for f in fields for a in ("-e", f))], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
    assert [r["pktc.kmmid"] for r in rows] == ["0x01", "0x02", "0x03", "0x04", "0x06", "0x05"]
    assert rows[0]["pktc.server_principal"] == str(SERVICE)
    assert int(rows[0]["pktc.server_nonce"], 16) == int(rows[1]["pktc.server_nonce"], 16) != 0
    assert rows[2]["pktc.ack_required"] == "1" and rows[3]["pktc.sha1_hmac"] == ack[-20:].hex()
    assert rows[4]["kerberos.error_code"] == str(krbap.KRB_AP_ERR_REPEAT)
    assert (rows[5]["pktc.doi"], rows[5]["pktc.asd.ipsec_spi"]) == ("1", "0x00001234")
    verbose = subprocess.run([tshark, "-r", str(pcap), "-V"], capture_output=True, text=True, timeout=120,
                             check=True).stdout
    assert "Malformed" not in verbose and "Expert Info" not in verbose, verbose


def test_wake_up_crossing_our_own_request_and_retry_after_an_error() -> None:
    """The server sends a Wake Up while the MTA's unsolicited AP Request is on its way:
    the server refuses that request (nonce 0 is not its Wake Up's); the MTA answers the
    Wake Up anyway and the exchange completes. After an Error Reply the next
    retransmission carries a new authenticator (the old one would be a replay)."""
    _, server, mta = _pair(backoff=KmBackoff(nominal=2, maximum=8, retries=3))
    unsolicited = _sent(mta.start(T0))
    wake = _sent(server.wake_up(MTA, T0))
    refused = server.receive(unsolicited, MTA, T0 + 0.1)
    assert _refused(refused).reason == "nonce-mismatch"
    answer = _sent(mta.receive(wake, T0 + 0.1))
    assert [type(e) for e in mta.receive(_sent(refused), T0 + 0.2)] == [ServerError]  # about the old request
    assert any(isinstance(e, Established) for e in server.receive(answer, MTA, T0 + 0.2))

    _, server, mta = _pair(policy=ServerPolicy(suites=((km.SNMP_AUTH_SHA1, km.SNMP_PRIV_DES),)),
                           suites=((km.SNMP_AUTH_MD5, km.SNMP_PRIV_NULL),), backoff=KmBackoff(2, 8, 3))
    first = _sent(mta.start(T0))
    mta.receive(_sent(server.receive(first, MTA, T0)), T0)
    second = _sent(mta.poll(T0 + 2))
    assert second != first
    assert _refused(server.receive(second, MTA, T0 + 2)).reason == "no-common-ciphersuite"  # not a replay
    assert mta.poll(T0 + 6) and mta.poll(T0 + 14)
    failed = mta.poll(T0 + 22)
    assert [type(e) for e in failed] == [Failed] and "no common ciphersuite" in failed[0].detail  # type: ignore[union-attr]


_FUZZ_ISSUED = issue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_requests_are_refused_never_raised(data: st.DataObject) -> None:
    """Any change to a valid AP Request (octets flipped, cut or appended) ends in a
    refusal with a reason; nothing escapes, and nothing damaged establishes keys."""
    server = KmServer(SERVICE, lookup(_FUZZ_ISSUED), SERVER_ENGINE)
    mta = KmClient(_FUZZ_ISSUED.ticket, _FUZZ_ISSUED.session_key, CLIENT, APP)
    original = _sent(mta.start(T0))
    wire = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(wire) - 1))
        wire[where] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        wire = wire[:data.draw(st.integers(0, len(wire)))]
    assume(bytes(wire) != original)  # two flips of one octet can cancel out
    events = server.receive(bytes(wire), MTA, T0)
    assert not any(isinstance(e, Established) for e in events)
    assert len([e for e in events if isinstance(e, Refused)]) == 1


def test_the_sa_is_a_usm_user_both_sides_can_use() -> None:
    """Both sides' SA becomes the same USM user: a GET the server's USM engine signs and
    encrypts with it, the eMTA's accepts at authPriv."""
    _, server, mta = _pair()
    answer = server.receive(_sent(mta.start(T0)), MTA, T0)
    server_sa = next(e.sa for e in answer if isinstance(e, Established))
    mta.receive(_sent(answer), T0)
    assert mta.sa is not None
    user = mta.sa.usm_user()
    assert user == server_sa.usm_user() == UsmUser(APP.user_name.encode(), ENGINE, AuthProtocol.HMAC_SHA_96,
                                                   mta.sa.auth_key, PrivProtocol.DES, mta.sa.priv_key)
    assert user.level == (True, True)
    # The server (manager) GETs from the eMTA (agent, authoritative): the engine's boots
    # and time come from the AP Request's application data, no discovery needed.
    agent = UsmEngine(ENGINE, boots=APP.engine_boots, started=T0 - APP.engine_time)
    agent.add_user(user)
    manager = UsmEngine(SERVER_ENGINE)
    manager.learn(server_sa.engine_id, server_sa.engine_boots, server_sa.engine_time, T0)
    oid = (1, 3, 6, 1, 2, 1, 1, 1, 0)
    request = manager.encode_request(m.Pdu(m.PduType.GET, 7, (m.null_varbind(oid),)), server_sa.usm_user(), 7,
                                     T0 + 1)
    got = agent.receive(request, T0 + 1)
    assert isinstance(got, Accepted) and got.level == (True, True), got
    assert got.pdu.varbinds[0].oid == oid
    # A key from another exchange does not open it.
    other = dataclasses.replace(user, auth_key=bytes(20))
    stranger = UsmEngine(ENGINE, boots=APP.engine_boots, started=T0 - APP.engine_time)
    stranger.add_user(other)
    assert not isinstance(stranger.receive(request, T0 + 1), Accepted)
