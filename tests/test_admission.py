"""Admission of new flows under overload (pktcable.admission), on a fake clock."""

from __future__ import annotations

import pytest

from pktcable.admission import Admission, AdmissionLimits


def test_no_limits_admit_everything() -> None:
    a = Admission()
    assert all(a.admit(0.0, in_flight=n) is None for n in range(10_000))
    assert a.admitted == 10_000 and not a.refused


def test_in_flight_bound() -> None:
    a = Admission(AdmissionLimits(max_in_flight=3))
    assert [a.admit(0.0, n) for n in (0, 1, 2, 3, 4, 2)] == [None, None, None, "in-flight", "in-flight", None]
    assert a.admitted == 4 and a.refused == {"in-flight": 2}


def test_rate_bound_is_a_token_bucket() -> None:
    a = Admission(AdmissionLimits(rate=8.0, burst=5))  # times below in binary fractions: exact
    # A burst of 5 at once, then nothing until time has refilled a token.
    assert [a.admit(100.0, 0) for _ in range(7)] == [None] * 5 + ["rate"] * 2
    assert a.admit(100.0625, 0) == "rate"  # half a token
    assert a.admit(100.125, 0) is None  # one token (1/8 s at 8/s)
    assert a.admit(100.125, 0) == "rate"
    # Over a long spell the rate holds: 10 s of requests at 100/s, 8/s let in (+ the refilled burst).
    admitted = sum(a.admit(101.0 + i / 128, 0) is None for i in range(1280))
    assert 80 <= admitted <= 85
    assert a.refused["rate"] == 4 + 1280 - admitted


def test_a_quiet_spell_refills_no_more_than_the_burst() -> None:
    a = Admission(AdmissionLimits(rate=1.0, burst=3))
    for _ in range(3):
        assert a.admit(0.0, 0) is None
    assert [a.admit(3600.0, 0) for _ in range(4)] == [None, None, None, "rate"]


def test_a_clock_stepping_back_adds_nothing() -> None:
    a = Admission(AdmissionLimits(rate=1.0, burst=1))
    assert a.admit(50.0, 0) is None
    assert a.admit(10.0, 0) == "rate"  # back in time: no tokens
    assert a.admit(50.5, 0) == "rate"  # measured from 50.0, not from 10.0
    assert a.admit(51.0, 0) is None


def test_in_flight_is_checked_before_the_rate_and_spends_no_token() -> None:
    a = Admission(AdmissionLimits(max_in_flight=1, rate=1.0, burst=1))
    assert a.admit(0.0, 1) == "in-flight"
    assert a.admit(0.0, 0) is None  # the refused one did not take the token


@pytest.mark.parametrize("limits", [dict(max_in_flight=-1), dict(rate=-1.0), dict(burst=0)])
def test_bad_limits(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdmissionLimits(**limits)  # type: ignore[arg-type]


def test_an_enrollment_past_the_bound_gets_no_response_on_the_wire() -> None:
    """Real sockets: with one eMTA's SET in flight (its agent is not there, so the SET
    waits out its timeout) and ``enroll_max_in_flight = 1``, another eMTA's enrollment
    INFORM and its retransmission get no Response and create nothing."""
    import asyncio

    from pktcable.serve.app import Backoffice
    from pktcable.snmp import message as m
    from pktcable.snmp import pktc
    from pktcable.snmp.aio import open_endpoint

    from .test_e2e import configs, lease, run

    cfg, _ = configs(["HYBRID.2"], enroll_max_in_flight=1)
    cfg.snmp_timeout, cfg.snmp_retries = 3.0, 1  # the first run stays in flight for 6 s: ample on a busy machine
    first, second = "0a0000000201", "0a0000000202"

    def enrollment(mac: str) -> tuple:  # type: ignore[type-arg]
        return pktc.Enrollment(pktc.Tree.CABLELABS, b"eMTA", b"1.0", b"pktc1.5:", bytes.fromhex(mac), 9).varbinds(1)

    async def scenario(office: Backoffice) -> None:
        assert office.entity is not None
        lease(office, first, "127.0.0.1")
        lease(office, second, "127.0.0.2")
        one = await open_endpoint("127.0.0.1", 0, timeout=5.0, retries=0)
        two = await open_endpoint("127.0.0.2", 0, timeout=0.5, retries=1)
        try:
            reply = await one.request(("127.0.0.1", cfg.snmp_port), b"public", m.PduType.INFORM, enrollment(first))
            assert reply.pdu.type is m.PduType.RESPONSE
            with pytest.raises(TimeoutError):
                await two.request(("127.0.0.1", cfg.snmp_port), b"public", m.PduType.INFORM, enrollment(second))
            assert office.entity.admission.refused["in-flight"] == 2  # the INFORM and its retransmission
            assert office.devices.get(second) is None and office.devices.history(second) == []
            assert office.entity.admission.admitted == 1
        finally:
            one.close()
            two.close()
        await asyncio.sleep(0)

    run(cfg, scenario)
