"""SIP parse speed: a typical ua-profile SUBSCRIBE through pktcable.sip and, when
they are importable, the maintained Python SIP parsers considered in docs/sip.md.

Usage: python bench/bench_sip.py [--runs 7] [--number 5000]

Each parser parses the same 420-byte SUBSCRIBE ``--number`` times per run (CPU time
of this process, so other work on the machine counts less); the
figure is the median of ``--runs`` runs, in microseconds per message. Only the
parse is timed (plus, for pktcable, reading the typed Event, CSeq and Via the
provisioning server needs; the others parse those headers lazily, so the
same fields are read from them too).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

SUBSCRIBE = (
    b"SUBSCRIBE sip:MAC000413000001@224.0.1.75 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:MAC000413000001@10.0.0.5>;tag=f1\r\n"
    b"To: <sip:MAC000413000001@224.0.1.75>\r\n"
    b"Call-ID: c1@10.0.0.5\r\n"
    b"CSeq: 1 SUBSCRIBE\r\n"
    b"Contact: <sip:10.0.0.5:5060>\r\n"
    b"Event: ua-profile;profile-type=\"device\";vendor=\"acme\";model=\"x1\";version=\"1.0\"\r\n"
    b"Accept: application/url\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def _pktcable() -> Callable[[], object]:
    from pktcable.sip import grammar as g
    from pktcable.sip.message import parse_datagram

    def run() -> object:
        msg = parse_datagram(SUBSCRIBE)
        return msg.need("Event", g.Event), msg.cseq, msg.top_via.branch

    return run


def _sipmessage() -> Callable[[], object]:
    from sipmessage import Message  # type: ignore[import-not-found]

    def run() -> object:
        msg = Message.parse(SUBSCRIBE)
        return msg.headers.get("Event"), msg.cseq, msg.via[0]

    return run


def _aiosipua() -> Callable[[], object]:
    from aiosipua import SipMessage  # type: ignore[import-not-found]

    def run() -> object:
        msg = SipMessage.parse(SUBSCRIBE)
        return msg.headers.get("Event"), msg.headers.get("CSeq"), msg.headers.get("Via")

    return run


def _sippy() -> Callable[[], object]:
    from sippy.SipRequest import SipRequest  # type: ignore[import-not-found]

    text = SUBSCRIBE.decode()

    def run() -> object:
        msg = SipRequest(buf=text)
        return msg.getHFBody("event"), msg.getHFBody("cseq"), msg.getHFBody("via").getBranch()

    return run


PARSERS = {"pktcable.sip": _pktcable, "sipmessage": _sipmessage, "aiosipua": _aiosipua, "sippy": _sippy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--number", type=int, default=5_000)
    args = ap.parse_args()
    runners: dict[str, Callable[[], object]] = {}
    for name, make in PARSERS.items():
        try:
            runners[name] = make()
            runners[name]()
        except ImportError:
            print(f"{name:14} not installed")
    # Interleaved: every run times each parser in turn, so a busy machine slows all alike.
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.runs):
        for name, run in runners.items():
            start = time.process_time()
            for _ in range(args.number):
                run()
            times[name].append((time.process_time() - start) / args.number * 1e6)
    for name, values in times.items():
        print(f"{name:14} {statistics.median(values):7.1f} us/message (median of {args.runs})")


if __name__ == "__main__":
    main()
