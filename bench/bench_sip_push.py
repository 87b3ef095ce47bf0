"""SIP phone provisioning at scale, in the sans-IO core with a fake clock (no sockets):
``--phones`` phones subscribe, then one edit changes every profile and every phone
is queued for a push.

Usage: python bench/bench_sip_push.py [--phones 10000] [--rate 50] [--runs 3] [--no-cache]

Reports, as medians of ``--runs`` runs (CPU time of this process): the cost of one
SUBSCRIBE (identification, profile build and validation, 200 and NOTIFY built),
the cost of one change push (profile rebuilt, version compared, NOTIFY built),
the cost of the phone's profile GET after each NOTIFY, the profile builds per phone
(``--no-cache``: without the built-profile cache, to compare), and how long the pushes
take on the clock at ``--rate`` per second (the token bucket's doing: the figure a
100,000-phone template edit is planned with). Each push NOTIFY is answered 200 at once
(the pushes in flight are bounded: unanswered, they would stop at the window).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from pktcable.phones.book import PhoneBook
from pktcable.phones.profiles import Profiles
from pktcable.sip.dialog import Local
from pktcable.sip.digest import DigestAuth
from pktcable.sip.message import Request, make_response, parse_datagram
from pktcable.sip.provisioning import ProvisioningCore, SendTo
from pktcable.store.devices import Device, MemoryDeviceStore

VARS = {"registrar": "sip.example.net", "lines": [{"user": "1001", "password": "pw"}], "codecs": ["PCMU"]}


def subscribe(mac: str, n: int) -> Request:
    text = (f"SUBSCRIBE sip:MAC%3a{mac}@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.{n // 250 % 250}.{n % 250}:5060;"
            f"branch=z9hG4bK{n}\r\nFrom: <sip:MAC%3a{mac}@10.0.0.1>;tag=p{n}\r\nTo: <sip:MAC%3a{mac}@10.0.0.1>\r\n"
            f"Call-ID: c{n}@phone\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:{mac}@10.1.0.1:5060>\r\nMax-Forwards: 70\r\n"
            f"Event: ua-profile;profile-type=device\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n")
    message = parse_datagram(text.encode())
    assert isinstance(message, Request)
    return message


def run(phones: int, rate: float, cache: bool = True) -> tuple[float, float, float, float, float]:
    store = MemoryDeviceStore()
    macs = [f"0004f2{n:06x}" for n in range(phones)]
    for mac in macs:
        store.put(Device(mac, kind="sip", vars=dict(VARS)))
    ids = itertools.count()
    profiles = Profiles() if cache else Profiles(cache_size=0)
    book = PhoneBook(profiles, store.get, b"k" * 32, lambda: 0.0)
    core = ProvisioningCore(Local("10.0.0.1", 5060), book, lambda mac: f"http://10.0.0.1/{book.path(mac)}",
                            lambda: f"{next(ids)}", DigestAuth("r", b"n" * 32), push_rate=rate, push_burst=rate * 2)
    requests = [subscribe(mac, n) for n, mac in enumerate(macs)]
    start = time.process_time()
    for n, request in enumerate(requests):
        core.on_request(request, ("10.1.0.1", 5060 + n % 1000), 0.0)
    per_subscribe = (time.process_time() - start) / phones
    start = time.process_time()
    for mac in macs:  # each phone GETs the profile its NOTIFY named
        book.serve(book.path(mac), ("10.1.0.1", 80))
    get_time = time.process_time() - start
    for mac in macs:  # one edit changes every phone's profile
        device = store.get(mac)
        assert device is not None
        device.vars["codecs"] = ["G722"]
        store.put(device)
        core.notify_change(mac)
    now, sent = 1.0, 0
    start = time.process_time()
    while True:
        due = core.next_deadline()
        if due is None or due >= 3000:  # the subscriptions expire at 3,600 s: pushes only
            break
        now = max(now, due)
        for action in core.handle_timer(now):
            if isinstance(action, SendTo):
                sent += 1
                core.on_result(action.request, make_response(action.request, 200), now)
    per_push = (time.process_time() - start) / phones
    assert sent == phones, sent
    start = time.process_time()
    for mac in macs:  # and GETs the changed profile
        book.serve(book.path(mac), ("10.1.0.1", 80))
    per_get = (get_time + time.process_time() - start) / (2 * phones)
    return per_subscribe * 1e6, per_push * 1e6, per_get * 1e6, profiles.builds / phones, now - 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-cache", action="store_true", help="build every profile asked for (no cache)")
    args = parser.parse_args()
    results = [run(args.phones, args.rate, not args.no_cache) for _ in range(args.runs)]
    sub, push, get, builds, span = (statistics.median(r[i] for r in results) for i in range(5))
    print(f"{args.phones} phones{' (no cache)' if args.no_cache else ''}: SUBSCRIBE {sub:.0f} us CPU each, "
          f"change push {push:.0f} us CPU each, profile GET {get:.0f} us CPU each, {builds:g} builds per phone; "
          f"pushes spread over {span:.0f} s at {args.rate:g}/s")


if __name__ == "__main__":
    main()
