"""Fuzz the decoder: random and mutated config files must only raise DecodeError.

Usage: python bench/fuzz_decode.py [--count 1000000] [--seed 1] [--jobs 2]

For every input: ``decode_file`` either raises tlv.errors.DecodeError or
returns a tree that (a) encodes back to exactly the input bytes and (b)
formats to text. Anything else is an unexpected exception and is printed with
the input in hex. docs/benchmarks.md records the count of a full run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tlv.binary import END, decode, encode_nodes  # noqa: E402
from tlv.config import decode_file, format_file  # noqa: E402
from tlv.errors import DecodeError  # noqa: E402
from tlv.schema import CONFIG  # noqa: E402

SEEDS = [p.read_bytes() for p in sorted((ROOT / "tests" / "data" / "docsis-compat").glob("*.bin"))]


def mutate(rng: random.Random, data: bytearray) -> bytes:
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if not data:
            data.append(rng.randrange(256))
        i = rng.randrange(len(data))
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[i] = rng.randrange(256)
        elif op == 2:
            del data[i : i + rng.randint(1, 8)]
        elif op == 3:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 4:
            del data[i:]
        else:
            data[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFE, 0xFF))
    return bytes(data)


def tlv_soup(rng: random.Random) -> bytes:
    out = bytearray()
    if rng.random() < 0.5:
        out += b"\xfe\x01\x01"
    for _ in range(rng.randint(0, 12)):
        value = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 2, 4, rng.randint(0, 40)))))
        out += bytes((rng.choice((1, 3, 4, 10, 11, 17, 22, 24, 43, 64, 254, rng.randrange(256))), len(value))) + value
    return bytes(out)


def one_input(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.6:
        return mutate(rng, bytearray(rng.choice(SEEDS)))
    if r < 0.85:
        return tlv_soup(rng)
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))


def check(data: bytes) -> str | None:
    try:
        cf = decode_file(data, key=b"DOCSIS")
        format_file(cf)
        raw = decode(data, CONFIG)
    except DecodeError:
        return None
    except Exception as exc:  # noqa: BLE001 - the point is to catch anything else
        return f"{type(exc).__name__}: {exc}"
    back = encode_nodes(raw.nodes)
    if raw.end_marker:
        back += bytes((END,)) + bytes(raw.pad)
    if back != data:
        return "decode accepted the input but it does not encode back to the same bytes"
    return None


def worker(args: tuple[int, int]) -> tuple[int, list[str]]:
    seed, count = args
    rng = random.Random(seed)
    bad = []
    for _ in range(count):
        data = one_input(rng)
        problem = check(data)
        if problem:
            bad.append(f"{problem} <- {data.hex()}")
    return count, bad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    chunk = 10_000
    tasks = [(args.seed * 1_000_003 + i, min(chunk, args.count - i * chunk)) for i in range(-(-args.count // chunk))]
    t0 = time.perf_counter()
    total, bad = 0, []
    with multiprocessing.Pool(args.jobs) as pool:
        for n, problems in pool.imap_unordered(worker, tasks):
            total += n
            bad += problems
    dt = time.perf_counter() - t0
    for line in bad[:20]:
        print(line)
    print(f"{total} inputs, {len(bad)} unexpected, {dt:.1f} s ({total / dt:,.0f} inputs/s)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
