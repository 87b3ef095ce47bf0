"""The request/retry core on a fake clock, and the clients built on it over
loopback: a response counts only with the request's id, from the peer asked."""

from __future__ import annotations

import asyncio
import random
import socket
import tracemalloc

import pytest

from pktcable.delivery import tftp
from pktcable.exchange import (
    RFC2131_BASE,
    Answered,
    DoublingBackoff,
    ExchangeError,
    Exchanges,
    FixedBackoff,
    Send,
    TimedOut,
    Verdict,
)
from pktcable.simulate import net
from pktcable.snmp import message as m
from pktcable.snmp.aio import open_endpoint
from tlv import ber

PEER = ("127.0.0.2", 161)


def sends(actions: list) -> list[int]:  # type: ignore[type-arg]
    return [a.attempt for a in actions if isinstance(a, Send)]


# -- schedules ---------------------------------------------------------------------------------------


def test_fixed_schedule_is_timeout_times_retries_plus_one() -> None:
    assert FixedBackoff(1.5, 3).waits() == (1.5, 1.5, 1.5, 1.5)
    assert FixedBackoff(2.0, 0).waits() == (2.0,)


def test_doubling_schedule_follows_rfc2131_and_its_jitter_comes_from_the_injected_rng() -> None:
    schedule = DoublingBackoff(RFC2131_BASE, 6)
    waits = schedule.waits(random.Random(7))
    assert len(waits) == 7
    for n, wait in enumerate(waits):
        assert abs(wait - min(4.0 * 2**n, 64.0)) <= 1.0  # 4, 8, 16, 32, 64, 64, 64 +- 1 s
    assert waits == schedule.waits(random.Random(7))  # reproducible per seed
    assert waits != schedule.waits(random.Random(8))  # and really randomized
    scaled = DoublingBackoff(0.2, 2).waits(random.Random(1))
    assert all(abs(w - e) <= 0.05 for w, e in zip(scaled, (0.2, 0.4, 0.8), strict=True)), scaled


# -- one exchange on a fake clock --------------------------------------------------------------------------


def test_unanswered_request_is_resent_at_each_wait_then_times_out() -> None:
    core: Exchanges[int, bytes] = Exchanges()
    first = core.start(1, b"req", PEER, (1.0, 2.0, 4.0), now=100.0)
    assert first == [Send(1, b"req", PEER, 0)]
    assert core.next_timer() == 101.0
    assert core.handle_timer(100.999) == []  # not before its time
    assert core.handle_timer(101.0) == [Send(1, b"req", PEER, 1)]
    assert core.next_timer() == 103.0
    assert sends(core.handle_timer(103.0)) == [2]
    assert core.next_timer() == 107.0
    assert core.handle_timer(107.0) == [TimedOut(1, 3)]
    assert core.next_timer() is None and 1 not in core
    assert core.stats.sent == 3 and core.stats.retransmissions == 2 and core.stats.timeouts == 1


def test_answer_ends_the_exchange_and_no_retransmission_follows() -> None:
    core: Exchanges[int, bytes] = Exchanges()
    core.start(5, b"req", PEER, (1.0, 1.0), now=0.0)
    verdict, actions = core.receive(5, b"resp", now=0.5)
    assert verdict is Verdict.MATCHED and actions == [Answered(5, b"resp", 1)]
    assert core.next_timer() is None and core.handle_timer(10.0) == []
    assert core.stats.sent == 1


def test_answer_to_a_retransmission_counts_its_attempts() -> None:
    core: Exchanges[int, bytes] = Exchanges()
    core.start(5, b"req", PEER, (1.0, 1.0, 1.0), now=0.0)
    core.handle_timer(1.0)
    assert core.receive(5, b"resp", now=1.2) == (Verdict.MATCHED, [Answered(5, b"resp", 2)])


def test_forged_response_refused_by_the_check_leaves_the_request_waiting() -> None:
    core: Exchanges[int, tuple[bytes, tuple[str, int]]] = Exchanges()
    core.start(9, b"req", PEER, (1.0, 1.0), now=0.0, accept=lambda r: r[1] == PEER)
    verdict, actions = core.receive(9, (b"forged", ("127.0.0.66", 161)), now=0.1)
    assert verdict is Verdict.REFUSED and actions == []
    assert core.next_timer() == 1.0  # the schedule runs on, as if nothing had come
    assert core.receive(9, (b"real", PEER), now=0.2) == (Verdict.MATCHED, [Answered(9, (b"real", PEER), 1)])
    assert core.stats.refused == 1 and core.stats.matched == 1


def test_duplicate_response_is_counted_and_never_answers_twice() -> None:
    core: Exchanges[int, bytes] = Exchanges()
    core.start(3, b"req", PEER, (1.0,), now=0.0)
    assert core.receive(3, b"a", now=0.1)[0] is Verdict.MATCHED
    assert core.receive(3, b"a", now=0.2) == (Verdict.DUPLICATE, [])
    assert core.stats.duplicates == 1 and core.stats.matched == 1


def test_late_response_after_the_timeout_is_counted_late() -> None:
    core: Exchanges[int, bytes] = Exchanges()
    core.start(3, b"req", PEER, (1.0,), now=0.0)
    assert core.handle_timer(1.0) == [TimedOut(3, 1)]
    assert core.receive(3, b"a", now=1.5) == (Verdict.LATE, [])
    core.start(4, b"req", PEER, (1.0,), now=2.0)
    core.cancel(4)  # the caller went away
    assert core.receive(4, b"a", now=2.1) == (Verdict.LATE, [])
    assert core.next_timer() is None
    assert core.stats.late == 2 and core.stats.cancelled == 1


def test_response_with_an_id_nobody_asked_for_is_unknown() -> None:
    core: Exchanges[int, bytes] = Exchanges()
    core.start(1, b"req", PEER, (1.0,), now=0.0)
    assert core.receive(2, b"a", now=0.1) == (Verdict.UNKNOWN, [])
    assert 1 in core and core.stats.unknown == 1


def test_a_finished_id_may_start_again_and_an_id_in_progress_may_not() -> None:
    core: Exchanges[tuple[int, bytes], bytes] = Exchanges()
    key = (0x1234, b"\x00\x11\x22\x33\x44\x55")
    core.start(key, b"discover", PEER, (1.0,), now=0.0)
    with pytest.raises(ExchangeError, match="in progress"):
        core.start(key, b"again", PEER, (1.0,), now=0.0)
    core.receive(key, b"offer", now=0.1)
    # The DHCPREQUEST answers the OFFER with the OFFER's xid: a new exchange on a finished id.
    assert core.start(key, b"request", PEER, (1.0,), now=0.2) == [Send(key, b"request", PEER, 0)]
    assert core.receive(key, b"ack", now=0.3)[0] is Verdict.MATCHED
    with pytest.raises(ExchangeError, match="at least one wait"):
        core.start((1, b""), b"x", PEER, (), now=0.0)


def test_interleaved_exchanges_fire_in_deadline_order() -> None:
    core: Exchanges[str, bytes] = Exchanges()
    core.start("slow", b"s", PEER, (5.0, 5.0), now=0.0)
    core.start("fast", b"f", PEER, (1.0, 1.0), now=0.5)
    assert core.next_timer() == 1.5
    assert core.handle_timer(2.5) == [Send("fast", b"f", PEER, 1)]
    assert core.handle_timer(3.5) == [TimedOut("fast", 2)]
    assert core.handle_timer(5.0) == [Send("slow", b"s", PEER, 1)]
    core.receive("slow", b"ok", now=6.0)
    assert core.next_timer() is None and len(core) == 0


def test_flood_of_responses_and_requests_keeps_memory_bounded() -> None:
    """30 000 exchanges answered, timed out or hit by unknown ids: what the
    core keeps stays under a stated bound (the remembered ids are capped)."""
    core: Exchanges[int, bytes] = Exchanges(remember=256)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        now = 0.0
        for n in range(30_000):
            core.start(n, b"x" * 64, PEER, (1.0, 1.0), now)
            if n % 3 == 0:
                core.receive(n, b"y", now)
            core.receive(n + 10**9, b"z", now)  # ids nobody asked for
            now += 0.01
            core.handle_timer(now)
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert len(core) <= 300  # only those whose 2 s schedule is still running
    assert grown < 1_000_000, grown
    assert core.stats.unknown == 30_000


# -- the clients over loopback -------------------------------------------------------------------------


def test_snmp_response_from_another_host_does_not_answer_a_request() -> None:
    """A host that learns (or guesses: they count up) a request-id and answers
    first is not the agent asked: only the agent's own Response counts."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        agent.bind(("127.0.0.2", 0))
        attacker.bind(("127.0.0.66", 0))
        agent.setblocking(False)
        client = await open_endpoint("127.0.0.1", 0, timeout=2.0, retries=1)
        oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
        try:
            asking = asyncio.ensure_future(client.request(agent.getsockname(), b"private", m.PduType.GET,
                                                          (m.null_varbind(oid),)))
            data, source = await asyncio.wait_for(loop.sock_recvfrom(agent, 2048), 10)
            msg = m.decode(data)

            def answer(value: int) -> bytes:
                return m.encode(msg.response((ber.VarBind(oid, ber.SNMP_TYPE_BY_KEYWORD["integer"], value),)))

            attacker.sendto(answer(666), source)
            await asyncio.sleep(0.2)  # give the forgery every chance to be taken (it must not be)
            assert not asking.done()
            agent.sendto(answer(42), source)
            reply = await asyncio.wait_for(asking, 10)
            assert reply.pdu.varbinds[0].value == 42
            assert client.stats.foreign_responses == 1
        finally:
            client.close()
            agent.close()
            attacker.close()

    asyncio.run(scenario())


def test_tftp_data_from_another_host_does_not_become_the_downloaded_file() -> None:
    """Another host races the server with a DATA block to the device's port:
    the device ignores it and takes the file from the server it asked."""

    async def scenario() -> bytes:
        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        transfer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listener.bind(("127.0.0.2", 0))
        transfer.bind(("127.0.0.2", 0))  # the server's TID for this transfer
        attacker.bind(("127.0.0.66", 0))
        for s in (listener, transfer):
            s.setblocking(False)
        try:
            getting = asyncio.ensure_future(net.tftp_get(listener.getsockname(), "mta.cfg", local_host="127.0.0.1",
                                                         timeout=2.0, retries=2))
            data, client = await asyncio.wait_for(loop.sock_recvfrom(listener, 2048), 10)
            assert tftp.decode_request(data).filename == "mta.cfg"
            attacker.sendto(tftp.encode_data(1, b"evil config"), client)
            await asyncio.sleep(0.2)
            transfer.sendto(tftp.encode_data(1, b"good config"), client)
            ack, _ = await asyncio.wait_for(loop.sock_recvfrom(transfer, 2048), 10)
            assert tftp.decode(ack) == tftp.Ack(1)
            return await asyncio.wait_for(getting, 10)
        finally:
            for s in (listener, transfer, attacker):
                s.close()

    assert asyncio.run(scenario()) == b"good config"


def test_tod_answer_from_another_host_does_not_set_the_device_clock() -> None:
    """A host on the cable segment answers the device's ToD question first
    with a time of its choosing (to make certificates look expired, say): the
    device keeps waiting and takes the time server's own answer."""

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind(("127.0.0.2", 0))
        attacker.bind(("127.0.0.66", 0))
        server.setblocking(False)
        try:
            asking = asyncio.ensure_future(net.tod(server.getsockname(), timeout=2.0, retries=2,
                                                   local_host="127.0.0.1"))
            question, device = await asyncio.wait_for(loop.sock_recvfrom(server, 64), 10)
            assert question == b""
            attacker.sendto((1).to_bytes(4, "big"), device)
            await asyncio.sleep(0.2)
            assert not asking.done()
            server.sendto((3_900_000_000).to_bytes(4, "big"), device)
            return await asyncio.wait_for(asking, 10)
        finally:
            server.close()
            attacker.close()

    assert asyncio.run(scenario()) == 3_900_000_000


def test_tod_question_is_asked_again_after_each_timeout_on_a_fake_clock() -> None:
    """The first two questions are lost; the third is answered. The client's
    schedule is the core's: two full timeouts pass, in virtual time only."""
    from tests.virtual import VirtualNetwork, run_virtual

    network = VirtualNetwork()
    questions: list[float] = []

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        server = network.socket()
        server.bind(("127.0.0.2", 37))

        def readable() -> None:
            while True:
                try:
                    _, device = server.recvfrom(64)
                except BlockingIOError:
                    return
                questions.append(loop.time())
                if len(questions) == 3:
                    server.sendto((3_900_000_000).to_bytes(4, "big"), device)

        loop.add_reader(server.fileno(), readable)
        try:
            return await net.tod(("127.0.0.2", 37), timeout=30.0, retries=2, local_host="127.0.0.1")
        finally:
            loop.remove_reader(server.fileno())
            server.close()

    run = run_virtual(scenario, network)
    assert run.result == 3_900_000_000
    assert [round(t - questions[0], 6) for t in questions] == [0.0, 30.0, 60.0]
    assert run.wall < 30  # a minute of device time, no minute of real time


def test_tod_without_an_answer_times_out_after_every_retry_on_a_fake_clock() -> None:
    from tests.virtual import VirtualNetwork, run_virtual

    network = VirtualNetwork()

    async def scenario() -> str:
        try:
            await net.tod(("127.0.0.2", 37), timeout=5.0, retries=3, local_host="127.0.0.1")
        except TimeoutError as exc:
            return str(exc)
        return "answered"

    run = run_virtual(scenario, network)
    assert run.result == "no ToD answer from 127.0.0.2:37"
    assert round(run.virtual, 6) == 20.0
    assert network.stats["sent"] == 4
