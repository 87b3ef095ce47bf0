"""The CMTS MIC of a CM file with a TLV 64, where the reference compiler is wrong.

In a CM file TLV 64 is CMTSStaticMulticastSessionEncodings with the usual
one-byte length. The reference compiler's CMTS-MIC scanner reads every TLV 64
with a two-byte length (the MTA-file convention for long SNMP objects), so it
jumps past the end of the file and leaves every listed TLV after the TLV 64,
the CM MIC included, out of the CMTS MIC. The vector cm_static_multicast keeps
both files: .pktcable.bin (ours, correct) and .bin (the reference's).

The expected MICs here are computed from the definition, with a walker of
their own, not with tlv.config.cmts_mic_digest.
"""

from __future__ import annotations

import hashlib
import hmac

from tlv.config import compile_text

from .conftest import COMPAT

VECTOR = "cm_static_multicast"
STATIC_MULTICAST = 64
CM_MIC, CMTS_MIC, END = 6, 7, 255
# The CMTS MIC definition (MULPIv3.0 D.2.1): HMAC-MD5 with the CMTS shared
# secret over the complete encodings of these top-level TLV types, in this
# order of types, each type's TLVs in file order; the CM MIC is one of them.
SPEC_ORDER = (1, 2, 3, 4, 17, 43, 6, 18, 19, 20, 22, 23, 24, 25, 28, 29, 26, 35, 36, 37, 40)


def top_level(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, offset, whole TLV) for each top-level TLV of a CM file, up to
    the end marker. Every CM-file TLV has a one-byte length, TLV 64 too."""
    out, pos = [], 0
    while data[pos] != END:
        length = data[pos + 1]
        out.append((data[pos], pos, data[pos : pos + 2 + length]))
        pos += 2 + length
    return out


def mic_over(tlvs: list[tuple[int, int, bytes]], key: bytes) -> bytes:
    msg = b"".join(raw for code in SPEC_ORDER for c, _, raw in tlvs if c == code)
    return hmac.new(key, msg, hashlib.md5).digest()


def without_cmts_mic(data: bytes) -> bytes:
    """The file with the CMTS MIC's 16 value bytes zeroed."""
    (offset,) = [off for code, off, _ in top_level(data) if code == CMTS_MIC]
    return data[: offset + 2] + bytes(16) + data[offset + 18 :]


def _files() -> tuple[bytes, bytes]:
    return (COMPAT / f"{VECTOR}.pktcable.bin").read_bytes(), (COMPAT / f"{VECTOR}.bin").read_bytes()


def test_vector_is_what_the_compiler_makes(mib_ctx, compat_key: bytes) -> None:  # type: ignore[no-untyped-def]
    text = (COMPAT / f"{VECTOR}.txt").read_text()
    ours, _ = _files()
    assert compile_text(text, source=VECTOR, ctx=mib_ctx, key=compat_key) == ours


def test_our_cmts_mic_covers_every_listed_tlv(compat_key: bytes) -> None:
    ours, _ = _files()
    tlvs = top_level(ours)
    codes = [code for code, _, _ in tlvs]
    # The vector puts TLV 64 between listed TLVs: some before it, some after.
    at = codes.index(STATIC_MULTICAST)
    assert {3, 18, 24} <= set(codes[:at]) and {6, 25, 28, 29} <= set(codes[at:])
    assert tlvs[-1][0] == CMTS_MIC
    assert tlvs[-1][2][2:] == mic_over(tlvs[:-1], compat_key)


def test_reference_differs_only_in_the_cmts_mic(compat_key: bytes) -> None:
    ours, docsis = _files()
    assert ours != docsis
    assert without_cmts_mic(ours) == without_cmts_mic(docsis)


def test_reference_mic_leaves_out_the_tlvs_after_tlv_64(compat_key: bytes) -> None:
    _, docsis = _files()
    tlvs = top_level(docsis)
    at = [code for code, _, _ in tlvs].index(STATIC_MULTICAST)
    # Its scanner reads the TLV 64 header "40 0f 01" as a length of 0x0f01
    # and so stops there: only the listed TLVs before TLV 64 are hashed.
    kept = tlvs[:at]
    left_out = sorted({code for code, _, _ in tlvs[at:-1] if code in SPEC_ORDER})
    assert left_out == [CM_MIC, 25, 28, 29]  # CmMic, DsServiceFlow, MaxClassifiers, GlobalPrivacyEnable
    assert tlvs[-1][2][2:] == mic_over(kept, compat_key)
    assert tlvs[-1][2][2:] != mic_over(tlvs[:-1], compat_key)
