"""Fuzz the SIP codec: mutated messages must only raise SipParseError.

Usage: python bench/fuzz_sip.py [--count 100000] [--seed 1]

Seeds are a ua-profile SUBSCRIBE and every message kind the notifier and the
subscriber produce, in long and compact form. Each input gets 1-4 byte edits
(delete, insert, overwrite) from an alphabet rich in SIP separators. For every
input, through ``parse_datagram`` and through ``StreamFramer``: either
SipParseError, or messages that serialize and parse back to themselves.
Anything else is printed with the input and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pktcable.sip.errors import SipParseError  # noqa: E402
from pktcable.sip.message import Message, StreamFramer, parse_datagram, serialize  # noqa: E402
from tests.test_sip_codec import SUBSCRIBE  # noqa: E402
from tests.test_sip_interop import _exchange  # noqa: E402

ALPHABET = b'\r\n \t:;,<>"@=\\/?[]\x00\xff' + b"abcSIP0123456789"


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        op = rng.randrange(3)
        if op == 0 and data:
            del data[at % len(data)]
        elif op == 1:
            data[at:at] = bytes([rng.choice(ALPHABET)])
        elif data:
            data[at % len(data)] = rng.choice(ALPHABET)
    return bytes(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    seeds = [SUBSCRIBE] + [serialize(m, compact=c) for m in _exchange() for c in (False, True)]
    rng = random.Random(args.seed)
    parsed = refused = failures = 0
    for _ in range(args.count):
        data = mutate(rng, rng.choice(seeds))
        for name in ("datagram", "stream"):
            try:
                messages: list[Message] = [parse_datagram(data)] if name == "datagram" else StreamFramer().feed(data)
                for msg in messages:
                    if parse_datagram(serialize(msg)) != msg:
                        raise AssertionError("does not round-trip")
                parsed += 1
            except SipParseError:
                refused += 1
            except Exception as exc:  # the finding this tool exists for
                failures += 1
                print(f"{name}: {type(exc).__name__}: {exc}\n  input: {data!r}")
    print(f"{args.count} inputs: {parsed} parsed and round-tripped, {refused} refused, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
