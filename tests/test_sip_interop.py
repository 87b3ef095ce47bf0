"""SIP interop with real peers: tshark dissects what we send, SIPp plays the phone
against a notifier built from our layers, and the notifier against our phone."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from pktcable.sip import grammar as g
from pktcable.sip import uaprofile
from pktcable.sip.dialog import Local
from pktcable.sip.message import Request, Response, StreamFramer, make_response, serialize
from pktcable.sip.notifier import Notifier, Policy
from pktcable.sip.subscriber import Notified, SendRequest, Subscriber
from pktcable.sip.transport import StreamTransport, open_udp
from tests.pcap import udp_frame, write_pcap
from tests.peers import require
from tests.ports import free_port
from tests.sip_peers import URL, Phone, ProfileNotifier, counter_ids, tls_contexts

DATA = Path(__file__).parent / "data" / "sip"
SIP_PORT = 5060
#: A real socket exchange on a loaded 2-core machine: generous.
BUDGET = 20.0


# -- tshark ---------------------------------------------------------------------------------------


def _exchange() -> list[Request | Response]:
    """Every kind of message the layers produce, from one scripted lifecycle."""
    profile = uaprofile.UaProfile("device", vendor="acme", model="x1", version="1.0", effective_by=60)
    phone = Subscriber(Local("10.0.0.5", SIP_PORT), aor=g.NameAddr(g.SipUri("10.0.0.5", "MAC000413000001")),
                       target=g.SipUri("10.0.0.1", "MAC000413000001"), event=profile.to_event(),
                       accept=(URL,), expires=30, new_id=counter_ids("p"))
    srv = Notifier(Local("10.0.0.1", SIP_PORT), new_id=counter_ids("s"), policy=Policy(min_expires=60))
    out: list[Request | Response] = []
    first = phone.subscribe(0.0)[0]
    assert isinstance(first, SendRequest)
    out.append(first.request)
    refused = srv.on_subscribe(first.request, 0.0).response  # 423: 30 s is below 60
    out.append(refused)
    retry = phone.on_response(refused, 0.1)[0]
    assert isinstance(retry, SendRequest)
    out.append(retry.request)
    ok = srv.on_subscribe(retry.request, 0.1)
    assert ok.subscription is not None
    out.append(ok.response)
    phone.on_response(ok.response, 0.2)
    notify = srv.notify(ok.subscription, 0.2, b"http://prov.example/x1.cfg", URL)
    out.append(notify)
    out.append(make_response(notify, 200))
    out.append(srv.on_subscribe(retry.request.with_header("Event", g.Event("presence")), 0.3).response)  # 489
    out.append(srv.notify(ok.subscription, 0.4, terminate_reason="deactivated"))
    return out


def test_tshark_dissects_every_message_we_send(tmp_path: Path) -> None:
    require("tshark")
    messages = _exchange()
    frames = []
    for i, msg in enumerate(messages):
        compact = i % 2 == 1  # both header forms
        src, dst = ("10.0.0.5", "10.0.0.1") if isinstance(msg, Request) == (i % 4 == 0) else ("10.0.0.1", "10.0.0.5")
        frames.append(udp_frame(serialize(msg, compact=compact), src, dst, SIP_PORT, SIP_PORT))
    # A control the oracle must flag, so a silent tshark cannot pass the test.
    broken = serialize(messages[0]).replace(b"\r\nCSeq: ", b"\r\nCSeq ", 1)
    frames.append(udp_frame(broken, "10.0.0.5", "10.0.0.1", SIP_PORT, SIP_PORT))
    pcap = tmp_path / "sip.pcap"
    write_pcap(pcap, frames)
    fields = ["frame.number", "sip.Method", "sip.Status-Code", "sip.Call-ID", "sip.CSeq.seq", "sip.Via.branch",
              "sip.from.tag", "sip.Event", "sip.Expires", "_ws.malformed", "_ws.expert.severity"]
    cmd = ["tshark", "-r", str(pcap), "-d", f"udp.port=={SIP_PORT},sip", "-T", "fields", "-E", "separator=|"]
    for f in fields:
        cmd += ["-e", f]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines()]
    assert len(rows) == len(messages) + 1
    control = dict(zip(fields, rows.pop(), strict=True))
    assert control["_ws.malformed"] and int(control["_ws.expert.severity"].split(",")[0], 0) >= 0x00600000
    for row, msg in zip(rows, messages, strict=True):
        got = dict(zip(fields, row, strict=True))
        assert got["_ws.malformed"] == "", (got, serialize(msg))
        # Expert severities: 0x00600000 warning, 0x00800000 error (epan/proto.h); notes/chats are fine.
        assert all(int(s, 0) < 0x00600000 for s in got["_ws.expert.severity"].split(",") if s), got
        if isinstance(msg, Request):
            assert got["sip.Method"] == msg.method
        else:
            assert got["sip.Status-Code"] == str(msg.status)
        assert got["sip.Call-ID"] == msg.call_id
        assert got["sip.CSeq.seq"] == str(msg.cseq.seq)
        assert got["sip.Via.branch"] == msg.top_via.branch
        assert got["sip.from.tag"] == msg.from_.tag
        event = msg.typed("Event", g.Event)
        if event is not None:
            assert got["sip.Event"] == str(event)
        expires = msg.typed("Expires", int)
        if expires is not None:
            assert got["sip.Expires"] == str(expires)


# -- SIPp -----------------------------------------------------------------------------------------


async def _sipp(*args: str, cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, "-m", "1", "-i", "127.0.0.1", "-timeout", "15", "-timeout_error", "-trace_err",
        "-nostdin", cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), BUDGET)
    errors = "".join(p.read_text(errors="replace") for p in cwd.glob("*_errors.log"))
    return proc.returncode or 0, out.decode(errors="replace")[-3000:] + errors[-3000:]


def test_sipp_phone_subscribes_to_our_notifier_over_udp(tmp_path: Path) -> None:
    require("sipp")

    async def main() -> None:
        port = free_port()
        app = ProfileNotifier(Local("127.0.0.1", port))
        udp = await open_udp("127.0.0.1", port, app.driver.on_message)
        app.attach(udp)
        try:
            code, log = await _sipp(f"127.0.0.1:{port}", "-sf", str(DATA / "uac_ua_profile.xml"),
                                    "-p", str(free_port()), cwd=tmp_path)
            assert code == 0, log
            await asyncio.wait_for(app.done.wait(), BUDGET)
            assert app.notify_results == [200]
            assert udp.counters["malformed"] == 0 and udp.counters["internal-errors"] == 0
        finally:
            app.driver.close()
            udp.close()

    asyncio.run(main())


def test_sipp_phone_subscribes_then_unsubscribes(tmp_path: Path) -> None:
    require("sipp")

    async def main() -> None:
        port = free_port()
        app = ProfileNotifier(Local("127.0.0.1", port))
        udp = await open_udp("127.0.0.1", port, app.driver.on_message)
        app.attach(udp)
        try:
            code, log = await _sipp(f"127.0.0.1:{port}", "-sf", str(DATA / "uac_ua_profile_unsubscribe.xml"),
                                    "-p", str(free_port()), cwd=tmp_path)
            assert code == 0, log
            loop = asyncio.get_running_loop()
            end = loop.time() + BUDGET
            while len(app.notify_results) < 2:
                assert loop.time() < end, app.notify_results
                await asyncio.sleep(0.05)
            assert app.notify_results == [200, 200] and app.notifier.subscriptions == {}
        finally:
            app.driver.close()
            udp.close()

    asyncio.run(main())


def test_sipp_phone_subscribes_to_our_notifier_over_tcp(tmp_path: Path) -> None:
    require("sipp")

    async def main() -> None:
        tcp = StreamTransport(lambda m, p: None)
        port = free_port()
        app = ProfileNotifier(Local("127.0.0.1", port, "TCP"))
        tcp.on_message = app.driver.on_message
        app.attach(tcp)
        await tcp.listen("127.0.0.1", port)
        try:
            code, log = await _sipp(f"127.0.0.1:{port}", "-sf", str(DATA / "uac_ua_profile.xml"), "-t", "t1",
                                    "-p", str(free_port()), cwd=tmp_path)
            assert code == 0, log
            await asyncio.wait_for(app.done.wait(), BUDGET)
            assert app.notify_results == [200]
            assert tcp.counters["malformed"] == 0
        finally:
            app.driver.close()
            tcp.close()

    asyncio.run(main())


def test_our_phone_subscribes_to_a_sipp_notifier(tmp_path: Path) -> None:
    require("sipp")

    async def main() -> None:
        sipp_port, our_port = free_port(), free_port()
        profile = uaprofile.UaProfile("device", vendor="acme", model="x1", version="1.0")
        sub = Subscriber(Local("127.0.0.1", our_port), aor=g.NameAddr(g.SipUri("127.0.0.1", "MAC000413000001")),
                         target=g.SipUri("127.0.0.1", "MAC000413000001", sipp_port), event=profile.to_event(),
                         accept=(URL,), expires=600, new_id=counter_ids("p"))
        phone = Phone(sub, ("127.0.0.1", sipp_port))
        udp = await open_udp("127.0.0.1", our_port, phone.driver.on_message)
        phone.attach(udp)
        sipp = asyncio.ensure_future(_sipp("-sf", str(DATA / "uas_ua_profile.xml"), "-p", str(sipp_port),
                                           cwd=tmp_path))
        try:
            await asyncio.sleep(1.0)  # SIPp binds its port (our SUBSCRIBE is retransmitted anyway)
            phone.start()
            await asyncio.wait_for(phone.notified.wait(), BUDGET)
            code, log = await sipp
            assert code == 0, log
            [note] = [e for e in phone.events if isinstance(e, Notified)]
            assert note.body.strip() == b"http://prov.example/x1/MAC000413000001.cfg"
            assert note.state.state == "active" and note.state.expires == 600
            assert sub.dialog is not None and "SIPpTag01" in sub.dialog.remote_tag  # the 200's To tag
            assert udp.counters["malformed"] == 0
        finally:
            phone.driver.close()
            udp.close()
            if not sipp.done():
                sipp.cancel()

    asyncio.run(main())



def test_openssl_client_subscribes_over_tls_to_our_notifier(tmp_path: Path) -> None:
    """Debian's SIPp has no TLS, so the TLS peer is openssl s_client: it verifies our
    certificate, carries a SUBSCRIBE in and prints the 200 and the NOTIFY that come back."""
    require("openssl")
    async def main() -> None:
        server_ssl, _ = tls_contexts(tmp_path)
        app = ProfileNotifier(Local("127.0.0.1", None, "TLS"))
        tls = StreamTransport(lambda m, p: app.driver.on_message(m, p), ssl_context=server_ssl)
        app.attach(tls)
        port = await tls.listen("127.0.0.1", 0)
        profile = uaprofile.UaProfile("device", vendor="acme", model="x1", version="1.0")
        phone = Subscriber(Local("127.0.0.1", None, "TLS"), aor=g.NameAddr(g.SipUri("127.0.0.1", "MAC000413000001")),
                           target=g.SipUri("127.0.0.1", "MAC000413000001", port, scheme="sips"),
                           event=profile.to_event(), accept=(URL,), new_id=counter_ids("p"))
        first = phone.subscribe(0.0)[0]
        assert isinstance(first, SendRequest)
        proc = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-quiet", "-connect", f"127.0.0.1:{port}", "-servername", "prov.test",
            "-CAfile", str(tmp_path / "cert.pem"), "-verify_return_error",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(serialize(first.request))
            await proc.stdin.drain()
            seen = b""
            loop = asyncio.get_running_loop()
            end = loop.time() + BUDGET
            while b"http://prov.example/x1/MAC000413000001.cfg" not in seen:
                assert loop.time() < end, seen
                chunk = await asyncio.wait_for(proc.stdout.read(4096), BUDGET)
                assert chunk, seen
                seen += chunk
            got = StreamFramer().feed(seen)
            assert [type(m).__name__ for m in got] == ["Response", "Request"]
            ok, notify = got
            assert isinstance(ok, Response) and ok.status == 200 and ok.get("Expires") == 3600
            assert isinstance(notify, Request) and notify.method == "NOTIFY"
            assert phone.on_response(ok, 0.1) and phone.on_notify(notify, 0.2)
            assert tls.counters["malformed"] == 0
        finally:
            proc.kill()
            await proc.wait()
            app.driver.close()
            tls.close()

    asyncio.run(main())
