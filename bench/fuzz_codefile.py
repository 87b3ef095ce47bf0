"""Fuzz the code file verifier: mutated code files must only raise CodeFileError.

Usage: python bench/fuzz_codefile.py [--count 20000] [--seed 1]

Seeds are the golden files of tests/data/firmware (OpenSSL-signed, SHA-256 and
SHA-1, and co-signed). Each input gets 1-4 edits (overwrite, insert, delete a
byte, or set a byte to a DER-significant value: 0x00, 0x80, 0x81, 0x82, 0xff,
0x30, 0x31, 0xa0) with half of them aimed inside the certificates, where
parsing is lazy. For every input: either CodeFileError with a known reason, or
an accepted file whose image is the seed's. Anything else is printed with the
input (hex) and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

from pktcable.firmware import codefile as cf  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "firmware"
SPECIAL = bytes([0x00, 0x80, 0x81, 0x82, 0xFF, 0x30, 0x31, 0xA0])


def mutate(rng: random.Random, seed: bytes, cert_span: tuple[int, int]) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.5:
            at = rng.randrange(*cert_span)
        else:
            at = rng.randrange(len(data) + 1)
        op = rng.randrange(4)
        if op == 0 and data:
            del data[at % len(data)]
        elif op == 1:
            data[at:at] = bytes([rng.randrange(256)])
        elif data:
            data[at % len(data)] = rng.choice(SPECIAL) if op == 2 else rng.randrange(256)
    return bytes(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = x509.load_pem_x509_certificate((GOLDEN / "cvc-root.pem").read_bytes())
    image = (GOLDEN / "image.bin").read_bytes()
    start = x509.load_pem_x509_certificate((GOLDEN / "manufacturer-cvc.pem").read_bytes()).not_valid_before_utc
    state = cf.AccessState(cf.AccessStart(start, start), cf.AccessStart(start, start))
    seeds = []
    for name, cosigner in (("openssl-sha256.p7", None), ("openssl-sha1.p7", None),
                           ("openssl-sha256-cosigned.p7", "Example Cable")):
        data = (GOLDEN / name).read_bytes()
        cert = (GOLDEN / "manufacturer-cvc.pem").read_bytes()
        der = x509.load_pem_x509_certificate(cert).public_bytes(Encoding.DER)
        at = data.index(der[:64])
        seeds.append((data, cf.CvcTrust(root, "Example Vendor", cosigner), (at, at + len(der))))
    reasons: dict[str, int] = {}
    failures = 0
    began = time.perf_counter()
    for _ in range(args.count):
        data, trust, span = rng.choice(seeds)
        bad = mutate(rng, data, span)
        try:
            got = cf.verify(bad, trust, None, state)
        except cf.CodeFileError as exc:
            if exc.reason not in cf.REASONS:
                failures += 1
                print(f"unknown reason {exc.reason}: {bad.hex()}")
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            continue
        except Exception as exc:  # what the fuzzer is for: report, never stop
            failures += 1
            print(f"{type(exc).__name__}: {exc}: {bad.hex()}")
            continue
        if got.image != image:
            failures += 1
            print(f"accepted with another image: {bad.hex()}")
        reasons["accepted"] = reasons.get("accepted", 0) + 1
    elapsed = time.perf_counter() - began
    print(f"{args.count} inputs in {elapsed:.1f} s, {failures} failures; outcomes: "
          + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
