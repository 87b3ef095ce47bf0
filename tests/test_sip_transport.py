"""The asyncio SIP transports on loopback: hostile input is counted, never fatal;
TCP framing, per-source caps; the whole subscription over TCP and TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

from pktcable.sip import grammar as g
from pktcable.sip import uaprofile
from pktcable.sip.dialog import Local
from pktcable.sip.message import Message, Request, make_response, parse_datagram, serialize
from pktcable.sip.subscriber import Notified, SendRequest, Subscriber
from pktcable.sip.transport import RateLimiter, StreamTransport, open_udp
from tests.sip_peers import URL, Phone, ProfileNotifier, counter_ids, tls_contexts

BUDGET = 20.0
Got = list[tuple[Message, tuple[str, int]]]


def _subscribe_bytes() -> bytes:
    sub = Subscriber(Local("127.0.0.1", 5060), aor=g.NameAddr(g.SipUri("127.0.0.1", "MAC000413000001")),
                     target=g.SipUri("127.0.0.1", "MAC000413000001"),
                     event=uaprofile.UaProfile("device", model="x1").to_event(), new_id=counter_ids("p"))
    first = sub.subscribe(0.0)[0]
    assert isinstance(first, SendRequest)
    return serialize(first.request)


async def _until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + BUDGET
    while not check():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_udp_counts_garbage_keepalives_and_rate_limits() -> None:
    async def main() -> None:
        got: Got = []
        udp = await open_udp("127.0.0.1", 0, lambda m, p: got.append((m, p)),
                             limiter=RateLimiter(rate=0.001, burst=3))
        assert udp.transport is not None
        port = udp.transport.get_extra_info("sockname")[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\r\n\r\n", ("127.0.0.1", port))
            s.sendto(b"\x00garbage\r\n\r\n", ("127.0.0.1", port))
            s.sendto(_subscribe_bytes(), ("127.0.0.1", port))
            for _ in range(3):
                s.sendto(_subscribe_bytes(), ("127.0.0.1", port))
            await _until(lambda: udp.counters["rate-limited"] == 2, "the rate limit")
        assert udp.counters["keepalives"] == 1 and udp.counters["malformed"] == 1
        assert len(got) == 2 and got[0][0].cseq.method == "SUBSCRIBE"
        udp.close()

    asyncio.run(main())


def test_udp_handler_errors_are_counted_not_raised() -> None:
    async def main() -> None:
        def broken(m: Message, p: tuple[str, int]) -> None:
            raise RuntimeError("handler bug")

        udp = await open_udp("127.0.0.1", 0, broken)
        assert udp.transport is not None
        port = udp.transport.get_extra_info("sockname")[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(_subscribe_bytes(), ("127.0.0.1", port))
            await _until(lambda: udp.counters["internal-errors"] == 1, "the handler error")
        udp.close()

    asyncio.run(main())


def test_tcp_frames_split_messages_and_drops_a_bad_stream() -> None:
    async def main() -> None:
        got: Got = []
        tcp = StreamTransport(lambda m, p: got.append((m, p)), max_per_source=2)
        port = await tcp.listen("127.0.0.1", 0)
        data = _subscribe_bytes()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\r\n" + data[:50])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(data[50:] + data)
        await writer.drain()
        await _until(lambda: len(got) == 2, "two framed messages")
        # A second connection from the same host is admitted, a third refused.
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(r3.read(), BUDGET) == b""  # closed by the server
        await _until(lambda: tcp.counters["connections-refused"] == 1, "the refusal")
        # Garbage on a stream closes that connection only.
        w2.write(b"NOT SIP AT ALL\r\n\r\n")
        await w2.drain()
        assert await asyncio.wait_for(r2.read(), BUDGET) == b""
        assert tcp.counters["malformed"] == 1
        writer.write(data)
        await writer.drain()
        await _until(lambda: len(got) == 3, "the first connection still serving")
        for w in (writer, w2, w3):
            w.close()
        tcp.close()

    asyncio.run(main())


def _subscription_over_stream(server_ssl: ssl.SSLContext | None, client_ssl: ssl.SSLContext | None) -> None:
    async def main() -> None:
        transport_name = "TLS" if server_ssl else "TCP"
        app = ProfileNotifier(Local("127.0.0.1", None, transport_name))
        server = StreamTransport(lambda m, p: app.driver.on_message(m, p), ssl_context=server_ssl)
        app.attach(server)
        port = await server.listen("127.0.0.1", 0)
        sub = Subscriber(Local("127.0.0.1", None, transport_name),
                         aor=g.NameAddr(g.SipUri("127.0.0.1", "MAC000413000001")),
                         target=g.SipUri("127.0.0.1", "MAC000413000001", port, scheme="sips" if server_ssl else "sip"),
                         event=uaprofile.UaProfile("device", model="x1").to_event(), accept=(URL,),
                         new_id=counter_ids("p"))
        client = StreamTransport(lambda m, p: phone.driver.on_message(m, p), ssl_context=client_ssl)
        peer = await client.connect("127.0.0.1", port, server_hostname="prov.test")
        phone = Phone(sub, peer)
        phone.attach(client)
        phone.start()
        await asyncio.wait_for(phone.notified.wait(), BUDGET)
        await asyncio.wait_for(app.done.wait(), BUDGET)
        [note] = [e for e in phone.events if isinstance(e, Notified)]
        assert note.body == b"http://prov.example/x1/MAC000413000001.cfg"
        assert app.notify_results == [200]
        assert server.counters["malformed"] == client.counters["malformed"] == 0
        for side in (phone.driver, app.driver):
            side.close()
        client.close()
        server.close()

    asyncio.run(main())


def test_subscription_over_tcp() -> None:
    _subscription_over_stream(None, None)


def test_subscription_over_tls(tmp_path: Path) -> None:
    server, client = tls_contexts(tmp_path)
    _subscription_over_stream(server, client)


def test_responses_we_asked_for_pass_the_rate_limit_and_no_more() -> None:
    # Many phones behind one address (a NAT) answer a burst of pushes from that address: the
    # answers were asked for, and dropping them made NOTIFYs retransmit and then time out.
    limiter = RateLimiter(rate=0.001, burst=2)
    assert [limiter.allow("10.0.0.9", 0.0, response=True) for _ in range(3)] == [True, True, False]
    for _ in range(3):
        limiter.expect("10.0.0.9")
    assert [limiter.allow("10.0.0.9", 0.1) for _ in range(2)] == [False, False]  # requests: still the bucket
    assert [limiter.allow("10.0.0.9", 0.1, response=True) for _ in range(4)] == [True, True, True, False]
    limiter.expect("10.0.0.9")
    assert [limiter.allow("10.0.0.10", 0.1, response=True) for _ in range(3)] == [True, True, False]  # its own bucket
    assert limiter.allow("10.0.0.9", 0.2, response=True)  # owed per host, not shared


def test_udp_answers_to_our_requests_are_not_rate_limited() -> None:
    async def main() -> None:
        got: Got = []
        udp = await open_udp("127.0.0.1", 0, lambda m, p: got.append((m, p)),
                             limiter=RateLimiter(rate=0.001, burst=1))
        assert udp.transport is not None
        port = udp.transport.get_extra_info("sockname")[1]
        request = parse_datagram(_subscribe_bytes())
        assert isinstance(request, Request)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(BUDGET)
            for _ in range(5):
                udp.send(request, s.getsockname())
            for _ in range(5):
                s.recv(65536)
                s.sendto(serialize(make_response(request, 200)), ("127.0.0.1", port))
            # One not asked for takes the bucket's only token; the request after it finds none.
            s.sendto(serialize(make_response(request, 200)), ("127.0.0.1", port))
            s.sendto(_subscribe_bytes(), ("127.0.0.1", port))
            await _until(lambda: len(got) + udp.counters["rate-limited"] == 7, "the datagrams")
        assert len(got) == 6 and udp.counters["rate-limited"] == 1
        udp.close()

    asyncio.run(main())
