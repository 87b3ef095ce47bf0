"""The cost of serve's DHCP worker stream: encode BOUND records (the worker's side), then
decode them into the lease mirror (the main process's side).

    python bench/bench_leasewire.py [--records 20000] [--runs 5]

Prints the octets per record and the median CPU microseconds per record of each side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pktcable.dhcpd.events import LeaseBound  # noqa: E402
from pktcable.dhcpd.policy import vendor_class  # noqa: E402
from pktcable.serve import leasewire as wire  # noqa: E402
from pktcable.store import Lease, LeaseState  # noqa: E402

#: A real eMTA's option 60 (a Netgear CG3000's capability string).
CG3000 = "pktc1.0:051f0101000201020901010b04060903040c01010d01010f010110010912020007"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    vendor = vendor_class(CG3000.encode(), None)
    events = [LeaseBound(Lease(IPv4Address(0x0A000000 + i), f"01{i:012x}", ":".join(f"{i:012x}"[j:j + 2]
                                                                                    for j in range(0, 12, 2)),
                               5000.0, LeaseState.BOUND, "mta", "10.0.0.0/8", "02:aa:00:00:00:01", "", "10.1.0.1",
                               "0001"), "mta", "1.0", "HYBRID.2", vendor) for i in range(args.records)]
    encode, decode = [], []
    data = b""
    for _ in range(args.runs):
        started = time.process_time()
        data = wire.encode_round(events, {})
        encode.append((time.process_time() - started) / len(events))
        mirror, reader = wire.LeaseMirror(), wire.FrameReader()
        started = time.process_time()
        for i in range(0, len(data), 1 << 16):  # as the main process reads the socket pair
            for record in reader.feed(data[i:i + (1 << 16)]):
                mirror.apply(record)
        decode.append((time.process_time() - started) / len(events))
        assert len(mirror.by_address) == len(events)
    print(f"{len(data) / len(events):.0f} octets per BOUND record; encode {statistics.median(encode) * 1e6:.1f} µs, "
          f"decode into the mirror {statistics.median(decode) * 1e6:.1f} µs per record "
          f"(medians of {args.runs} runs of {len(events)} records)")


if __name__ == "__main__":
    main()
