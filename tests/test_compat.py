"""Byte-identical with the reference compiler on every compatibility vector,
and decode -> text -> compile gives the same bytes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlv.config import compile_text, decode_file, format_file
from tlv.errors import EncodeError

from .conftest import COMPAT
from .test_cmts_mic import without_cmts_mic

TEXTS = sorted(p.stem for p in COMPAT.glob("*.txt"))
BINARIES = sorted(p.name for p in COMPAT.glob("*.bin"))
HASH_SUFFIX = {"": "none", ".na": "cablelabs", ".eu": "euro"}
# The documented exceptions: vectors where the reference's file is wrong. Ours
# is kept beside it as NAME.pktcable.bin; the two may differ only in the CMTS
# MIC (see tests/test_cmts_mic.py and docs/config-language.md).
DOCSIS_WRONG = {
    "cm_static_multicast": "its CMTS MIC reads TLV 64 with a 2-byte length and leaves out the TLVs after it",
}


# Vectors that break a MIB constraint of the object they set: they compile
# only leniently (the bytes stay docsis's).  docsis has no integer range
# check (mta_ncs: 184, a TOS byte of an older PKTC-SIG-MIB, where the current
# one says 0..63); varbind_lengths was made with fewer MIBs loaded, and docsis
# with the full set refuses its hash strings ("Value too long").
CONSTRAINT_BREAKS: dict[str, list[str]] = {
    "mta_ncs": ["mta_ncs:7:51: TLV 11: SnmpMibObject: 184 is outside the range of pktcSigDefMediaStreamTos (0..63)"],
    "varbind_lengths": [
        "varbind_lengths:16:58: TLV 11: SnmpMibObject: 104 bytes do not fit the SIZE of pktcMtaDevProvConfigHash "
        "(16 or 20 bytes)",
        "varbind_lengths:17:58: TLV 11: SnmpMibObject: 105 bytes do not fit the SIZE of pktcMtaDevProvConfigHash "
        "(16 or 20 bytes)",
    ],
}


def expected_outputs(stem: str) -> list[tuple[str, Path]]:
    out = []
    for suffix, hash_name in HASH_SUFFIX.items():
        path = COMPAT / f"{stem}{suffix}.bin"
        if path.exists():
            out.append((hash_name, path))
    return out


@pytest.mark.parametrize("stem", TEXTS)
def test_compiles_to_reference_bytes(stem: str, mib_ctx, compat_key: bytes) -> None:  # type: ignore[no-untyped-def]
    text = (COMPAT / f"{stem}.txt").read_text()
    outputs = expected_outputs(stem)
    assert outputs, f"no reference binary for {stem}"
    for hash_name, path in outputs:
        warnings: list[EncodeError] = []
        got = compile_text(text, source=stem, ctx=mib_ctx, key=compat_key, hash=hash_name, warnings=warnings)
        assert [str(w) for w in warnings] == CONSTRAINT_BREAKS.get(stem, [])
        if stem in DOCSIS_WRONG:
            assert got.hex() == (COMPAT / f"{stem}.pktcable.bin").read_bytes().hex()
            assert without_cmts_mic(got) == without_cmts_mic(path.read_bytes()), DOCSIS_WRONG[stem]
            continue
        assert got.hex() == path.read_bytes().hex(), f"{path.name} with --hash {hash_name}"
        assert [str(w) for w in warnings] == CONSTRAINT_BREAKS.get(stem, [])


@pytest.mark.parametrize("stem", sorted(CONSTRAINT_BREAKS))
def test_constraint_breaks_are_errors_by_default(stem: str, mib_ctx, compat_key: bytes) -> None:  # type: ignore[no-untyped-def]
    text = (COMPAT / f"{stem}.txt").read_text()
    with pytest.raises(EncodeError) as info:
        compile_text(text, source=stem, ctx=mib_ctx, key=compat_key)
    assert str(info.value) == CONSTRAINT_BREAKS[stem][0]


@pytest.mark.parametrize("name", BINARIES)
@pytest.mark.parametrize("numeric", [False, True])
def test_decode_recompiles_identically(name: str, numeric: bool, compat_key: bytes) -> None:
    from pktcable.mibctx import MibContext

    ctx = MibContext(numeric=numeric)
    data = (COMPAT / name).read_bytes()
    cf = decode_file(data, key=compat_key)
    stem = name.removesuffix(".bin")
    if stem in DOCSIS_WRONG:
        # The reference's wrong MIC is reported; the text, compiled again,
        # gives our file with the right one.
        assert cf.mic_ok is False and len(cf.problems) == 1
        assert "CMTS MIC does not match" in cf.problems[0]
        text = format_file(cf, ctx)
        again = compile_text(text, source=name, ctx=ctx, key=compat_key, hash="none")
        assert again == (COMPAT / f"{stem}.pktcable.bin").read_bytes(), DOCSIS_WRONG[stem]
        return
    assert cf.problems == []
    if cf.mta and ".na." in name or ".eu." in name:
        assert cf.hash_ok is True
    if not cf.mta:
        assert cf.mic_ok is True
    text = format_file(cf, ctx)
    again = compile_text(text, source=name, ctx=ctx, key=compat_key, hash="none", warnings=[])
    assert again.hex() == data.hex(), text
