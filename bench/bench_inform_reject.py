"""CPU the provisioning entity spends on a forged INFORM, by kind, with and without
the source screen.

Usage: python bench/bench_inform_reject.py [--count 5000] [--runs 5] [--profile KIND]

Drives the receive path serve runs per datagram (SnmpEndpoint.datagram_received:
screen, BER decoding, the entity's checks, the Response's encoding) with a
transport that only records what would be sent, so the figures are the
process's own CPU (time.process_time) per datagram, without the kernel's share
or the event loop's. The kinds are those of the flood test: enrollments and
statuses from an address that holds no lease (right and wrong community), and
enrollments for MACs not its own from an address that holds a lease. Prints the
median of ``runs`` passes over ``count`` datagrams of each kind, screen off (every
datagram decoded, as before the screen) and on; ``--profile KIND`` prints
cProfile's top functions for one kind with the screen off instead.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import random
import statistics
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pktcable.provision.entity import EntityConfig, ProvisioningEntity  # noqa: E402
from pktcable.snmp import message as m  # noqa: E402
from pktcable.snmp import pktc  # noqa: E402
from pktcable.snmp.aio import SnmpEndpoint  # noqa: E402
from pktcable.store.devices import MemoryDeviceStore  # noqa: E402

TREE = pktc.Tree.CABLELABS
HOLDER, UNLEASED = "10.0.0.5", "10.0.0.66"


class Wire:
    sent = 0

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent += 1


def kinds(count: int) -> dict[str, tuple[list[bytes], str]]:
    rng = random.Random(8)
    macs = [bytes((0x0E,)) + rng.randbytes(5) for _ in range(count)]

    def encode(note: pktc.Enrollment | pktc.Status, community: bytes = b"public") -> bytes:
        return m.encode(m.Message(community, m.Pdu(m.PduType.INFORM, rng.randrange(1, 2**31), note.varbinds(1))))

    def enroll(mac: bytes) -> pktc.Enrollment:
        return pktc.Enrollment(TREE, b"eMTA", b"1.0", b"pktc1.5:051f0101", mac, rng.randrange(2**31))

    return {
        "unleased-enroll": ([encode(enroll(mac)) for mac in macs], UNLEASED),
        "unleased-enroll-guess": ([encode(enroll(mac), b"guess") for mac in macs], UNLEASED),
        "unleased-status": ([encode(pktc.Status(TREE, mac, 1, 1)) for mac in macs], UNLEASED),
        "leased-other-mac": ([encode(enroll(mac)) for mac in macs], HOLDER),
    }


def endpoint(screen: bool) -> SnmpEndpoint:
    leases = {"0a0000000001": HOLDER}
    by_address = {IPv4Address(ip) for ip in leases.values()}

    def address_leased(source: str) -> bool:  # as the back office asks its lease table
        try:
            return IPv4Address(source) in by_address
        except ValueError:
            return False

    entity = ProvisioningEntity(MemoryDeviceStore(), None, None, time.monotonic,  # type: ignore[arg-type]
                                EntityConfig(auto_enroll=True), leased_address=leases.get,
                                address_leased=address_leased if screen else None)
    ep = SnmpEndpoint(entity.handle, screen=entity.screen if screen else None)
    ep.transport = Wire()  # type: ignore[assignment]
    return ep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", choices=sorted(kinds(1)))
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # the rejection log is rate-limited; its lines are not the point here
    datagrams = kinds(args.count)
    if args.profile:
        ep, (data, source) = endpoint(False), datagrams[args.profile]
        profile = cProfile.Profile()
        profile.enable()
        for d in data:
            ep.datagram_received(d, (source, 5000))
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        return
    print(f"{'kind':24} {'decoded':>12} {'screened':>12}  (us of CPU per datagram, median of {args.runs})")
    for name, (data, source) in datagrams.items():
        row = []
        for screen in (False, True):
            ep, runs = endpoint(screen), []
            for _ in range(args.runs):
                start = time.process_time()
                for d in data:
                    ep.datagram_received(d, (source, 5000))
                runs.append((time.process_time() - start) / len(data) * 1e6)
            row.append(statistics.median(runs))
        print(f"{name:24} {row[0]:12.1f} {row[1]:12.1f}")


if __name__ == "__main__":
    main()
