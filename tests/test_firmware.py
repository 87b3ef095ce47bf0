"""DOCSIS code files (pktcable.firmware.codefile): round trips, every refusal reason with
its place in the file, damaged files, and OpenSSL and tshark as independent judges."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pktcable.firmware import codefile as cf
from pktcable.firmware import der
from pktcable.secure import pki
from pktcable.secure.labdir import LabPki, LabSettings

from .peers import require

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
SIGNED = NOW + dt.timedelta(hours=1)
MFG = "Example Vendor"
OPERATOR = "Example Cable"
SETTINGS = LabSettings("LAB.EXAMPLE.NET", OPERATOR, "kdc.lab.example.net", "prov.lab.example.net",
                       manufacturer=MFG, key_size=1024)
IMAGE = bytes(range(256)) * 40 + b"firmware 1.2.3"
FRESH = cf.AccessState(cf.AccessStart(NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=1)))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki.create(tmp_path_factory.mktemp("pki"), SETTINGS, now=NOW)


def signer(lab: LabPki, profile: str) -> cf.Signer:
    issued = lab.get(profile)
    return cf.Signer(issued.certificate, issued.key)


def trust(lab: LabPki, cosigner: str | None = None) -> cf.CvcTrust:
    return cf.CvcTrust(lab.get("cvc-root").certificate, MFG, cosigner)


def mfg_file(lab: LabPki, image: bytes = IMAGE, when: dt.datetime = SIGNED, **kw: object) -> bytes:
    m = signer(lab, "manufacturer-cvc")
    return cf.sign(image, m.certificate, m.key, signing_time=when, **kw)  # type: ignore[arg-type]


def cvc(issuer: pki.Issued, org: str, *, eku: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.CODE_SIGNING,
        not_before: dt.datetime = NOW, days: int = 365) -> cf.Signer:
    """A CVC made outside the lab's profiles: another organization, usage or validity."""
    key = pki.new_key(1024)
    builder = (x509.CertificateBuilder().subject_name(pki.name(org, f"{org} CVC"))
               .issuer_name(issuer.certificate.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before)
               .not_valid_after(not_before + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    return cf.Signer(builder.sign(issuer.key, hashes.SHA256()), key)


def cosigner_path(lab: LabPki, data: bytes) -> str:
    """Where the co-signer's SignerInfo is: DER sorts a SET OF by encoding, so either place."""
    from asn1crypto import cms

    serial = lab.get("cosigner-cvc").certificate.serial_number
    infos = cms.ContentInfo.load(data)["content"]["signer_infos"]
    index, = [i for i, info in enumerate(infos) if info["sid"].chosen["serial_number"].native == serial]
    return f"signerInfos[{index}]"


def refused(data: bytes, t: cf.CvcTrust, now: dt.datetime | None = NOW, state: cf.AccessState = FRESH) -> cf.CodeFileError:
    with pytest.raises(cf.CodeFileError) as info:
        cf.verify(data, t, now, state)
    return info.value


# -- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("digest", ["sha256", "sha1", "sha512"])
def test_manufacturer_signed_round_trip(lab: LabPki, digest: str) -> None:
    got = cf.verify(mfg_file(lab, digest=digest), trust(lab), NOW + dt.timedelta(days=30), FRESH)
    assert got.image == IMAGE
    assert got.manufacturer.organization == MFG and got.manufacturer.role == "manufacturer"
    assert got.manufacturer.signing_time == SIGNED
    assert got.cosigner is None
    # What the device stores once the image is installed: the signing time and the CVC's start.
    cert = lab.get("manufacturer-cvc").certificate
    assert got.state == cf.AccessState(cf.AccessStart(SIGNED, cert.not_valid_before_utc))


def test_cosigned_round_trip_and_cosign_adds_to_a_manufacturer_file(lab: LabPki) -> None:
    later = SIGNED + dt.timedelta(days=2)
    both = mfg_file(lab, cosigner=signer(lab, "cosigner-cvc"), cosigning_time=later)
    added = cf.cosign(mfg_file(lab), signer(lab, "cosigner-cvc"), signing_time=later)
    assert added == both  # the same bytes whether signed together or one after the other
    got = cf.verify(both, trust(lab, OPERATOR), None, FRESH)
    assert got.image == IMAGE
    assert got.cosigner is not None and got.cosigner.organization == OPERATOR
    assert got.cosigner.signing_time == later
    assert got.state.cosigner == cf.AccessStart(later, lab.get("cosigner-cvc").certificate.not_valid_before_utc)


def test_the_stored_times_after_an_install_refuse_an_older_file(lab: LabPki) -> None:
    new = cf.verify(mfg_file(lab), trust(lab), NOW, FRESH).state
    older = mfg_file(lab, when=SIGNED - dt.timedelta(minutes=1))
    assert refused(older, trust(lab), state=new).reason == "stale-signing-time"
    assert cf.verify(mfg_file(lab), trust(lab), NOW, new).image == IMAGE  # the same time again passes


def test_empty_and_large_images(lab: LabPki) -> None:
    for image in (b"", b"\x00" * 200_000):
        assert cf.verify(mfg_file(lab, image), trust(lab), NOW, FRESH).image == image


def test_signing_time_after_2049_is_generalized_time(lab: LabPki) -> None:
    late = dt.datetime(2050, 1, 2, tzinfo=dt.UTC)
    root = lab.get("cvc-root")
    m = cvc(root, MFG, not_before=dt.datetime(2049, 6, 1, tzinfo=dt.UTC))
    data = cf.sign(IMAGE, m.certificate, m.key, signing_time=late)
    assert b"\x18\x0f20500102000000Z" in data
    # The lab root ends in 2056: the chain holds at the signing time, the device having no clock.
    assert cf.verify(data, trust(lab), None, FRESH).manufacturer.signing_time == late


# -- every refusal ------------------------------------------------------------------------------

def test_bad_signature_when_the_image_changes(lab: LabPki) -> None:
    data = bytearray(mfg_file(lab))
    at = data.index(b"firmware 1.2.3")
    data[at] ^= 1
    err = refused(bytes(data), trust(lab))
    assert err.reason == "bad-signature" and "message digest" in err.detail
    assert err.path == "signerInfos[0]" and err.offset == der.walk(bytes(data)).child(1, 0, 4, 0).offset  # type: ignore[union-attr]


def test_bad_signature_when_the_signature_changes(lab: LabPki) -> None:
    data = bytearray(mfg_file(lab))
    data[-5] ^= 0x40  # inside the RSA signature, the last field of the last SignerInfo
    err = refused(bytes(data), trust(lab))
    assert err.reason == "bad-signature" and "does not verify" in err.detail


def test_bad_signature_by_a_key_that_is_not_the_cvcs(lab: LabPki) -> None:
    m = signer(lab, "manufacturer-cvc")
    other = signer(lab, "cosigner-cvc")
    data = cf.sign(IMAGE, m.certificate, other.key, signing_time=SIGNED)
    assert refused(data, trust(lab)).reason == "bad-signature"


def test_cvc_untrusted_from_another_root(lab: LabPki) -> None:
    foreign = pki.issue("cvc-root", pki.name("Elsewhere", "Other Root"), pki.new_key(1024), now=NOW, serial=7)
    m = cvc(foreign, MFG)  # the right organization, the wrong root
    err = refused(cf.sign(IMAGE, m.certificate, m.key, signing_time=SIGNED), trust(lab))
    assert err.reason == "cvc-untrusted" and "no issuer" in err.detail and err.path == "signerInfos[0]"


def test_cvc_untrusted_when_the_signers_cvc_is_not_in_the_file(lab: LabPki) -> None:
    from asn1crypto import cms

    info = cms.ContentInfo.load(mfg_file(lab))
    info["content"]["certificates"] = []
    err = refused(info.dump(force=True), trust(lab))
    assert err.reason == "cvc-untrusted" and "not among" in err.detail


def test_cvc_validity_counts_at_the_signing_time_not_the_devices_clock(lab: LabPki) -> None:
    # DOCSIS: a file signed while its CVC was valid installs after the CVC ends...
    later = NOW + dt.timedelta(days=365 * 11)
    assert cf.verify(mfg_file(lab), trust(lab), later, FRESH).image == IMAGE
    # ...unless the device also holds the CVC to its own clock (check_clock).
    strict = cf.CvcTrust(lab.get("cvc-root").certificate, MFG, check_clock=True)
    err = refused(mfg_file(lab), strict, now=later)
    assert err.reason == "cvc-expired" and "the device's time" in err.detail
    assert cf.verify(mfg_file(lab), strict, NOW + dt.timedelta(days=1), FRESH).image == IMAGE


def test_cvc_expired_at_the_signing_time(lab: LabPki) -> None:
    early = cf.AccessState(cf.AccessStart(NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=400)))
    # Signed a year before the CVC began...
    err = refused(mfg_file(lab, when=NOW - dt.timedelta(days=365)), trust(lab), state=early)
    assert err.reason == "cvc-expired" and "the signing time" in err.detail
    # ...or after it ended: the device's clock plays no part in either.
    err = refused(mfg_file(lab, when=NOW + dt.timedelta(days=365 * 11)), trust(lab), now=None)
    assert err.reason == "cvc-expired"


def test_not_code_signing(lab: LabPki) -> None:
    root = lab.get("cvc-root")
    for eku in (ExtendedKeyUsageOID.SERVER_AUTH, None):
        m = cvc(root, MFG, eku=eku)
        err = refused(cf.sign(IMAGE, m.certificate, m.key, signing_time=SIGNED), trust(lab))
        assert err.reason == "not-code-signing", eku


def test_wrong_manufacturer(lab: LabPki) -> None:
    # Another vendor's CVC, from the same root: a device of MFG refuses its code.
    other = cvc(lab.get("cvc-root"), "Another Vendor")
    err = refused(cf.sign(IMAGE, other.certificate, other.key, signing_time=SIGNED), trust(lab))
    assert err.reason == "wrong-manufacturer" and "'Another Vendor'" in err.detail and err.path == "signerInfos"
    # The device of another vendor refuses the lab manufacturer's code the same way.
    elsewhere = cf.CvcTrust(lab.get("cvc-root").certificate, "Another Vendor")
    assert refused(mfg_file(lab), elsewhere).reason == "wrong-manufacturer"
    # Signed by the operator alone: co-signing is no substitute for the manufacturer.
    co = signer(lab, "cosigner-cvc")
    err = refused(cf.sign(IMAGE, co.certificate, co.key, signing_time=SIGNED), trust(lab, OPERATOR))
    assert err.reason == "wrong-manufacturer"


def test_missing_cosigner(lab: LabPki) -> None:
    err = refused(mfg_file(lab), trust(lab, OPERATOR))
    assert err.reason == "missing-cosigner" and OPERATOR in err.detail


def test_a_cosignature_the_device_does_not_require_is_ignored(lab: LabPki) -> None:
    both = mfg_file(lab, cosigner=signer(lab, "cosigner-cvc"))
    got = cf.verify(both, trust(lab), None, FRESH)
    assert got.image == IMAGE and got.cosigner is None
    assert got.ignored is not None and got.ignored.organization == OPERATOR
    assert got.state.cosigner is None  # no co-signer times are stored for it
    # Its signature must still hold: a damaged co-signature is refused, not skipped.
    from asn1crypto import cms

    info = cms.ContentInfo.load(both)
    index = int(cosigner_path(lab, both)[len("signerInfos["):-1])
    sig = info["content"]["signer_infos"][index]["signature"].native
    info["content"]["signer_infos"][index]["signature"] = bytes([sig[0] ^ 1]) + sig[1:]
    err = refused(info.dump(force=True), trust(lab))
    assert err.reason == "bad-signature" and err.path == f"signerInfos[{index}]"


def test_unexpected_signer_twice_the_manufacturer(lab: LabPki) -> None:
    m = signer(lab, "manufacturer-cvc")
    twice = cf.sign(IMAGE, m.certificate, m.key, signing_time=SIGNED, cosigner=m,
                    cosigning_time=SIGNED + dt.timedelta(seconds=1))
    err = refused(twice, trust(lab))
    assert err.reason == "unexpected-signer" and "signed again" in err.detail


def test_stale_signing_time_for_each_signer(lab: LabPki) -> None:
    late = cf.AccessStart(SIGNED + dt.timedelta(seconds=1), NOW - dt.timedelta(days=1))
    assert refused(mfg_file(lab), trust(lab), state=cf.AccessState(late)).reason == "stale-signing-time"
    both = mfg_file(lab, cosigner=signer(lab, "cosigner-cvc"))
    err = refused(both, trust(lab, OPERATOR), state=cf.AccessState(FRESH.manufacturer, late))
    assert err.reason == "stale-signing-time" and err.path == cosigner_path(lab, both)


def test_stale_cvc(lab: LabPki) -> None:
    after_cvc = cf.AccessStart(NOW - dt.timedelta(days=1), NOW + dt.timedelta(minutes=1))
    err = refused(mfg_file(lab), trust(lab), state=cf.AccessState(after_cvc))
    assert err.reason == "stale-cvc" and "cvcAccessStart" in err.detail


# -- malformed files, with the offset -----------------------------------------------------------

def test_malformed_structure_names_the_offset(lab: LabPki) -> None:
    data = mfg_file(lab)
    cases = {
        "truncated": (data[:-10], 0),
        "trailing bytes": (data + b"\x00", len(data)),
        "indefinite length": (b"\x30\x80" + data[4:], 1),
        "long length not minimal": (b"\x30\x81\x05\x02\x01\x01\x05\x00", 1),
        "constructed octet string": (b"\x30\x04\x24\x02\x04\x00", 2),
        "not der at all": (b"firmware", 0),
    }
    for name, (bad, offset) in cases.items():
        err = refused(bad, trust(lab))
        assert (err.reason, err.offset) == ("malformed", offset), (name, err)


def test_malformed_contents(lab: LabPki) -> None:
    from asn1crypto import cms, core

    def altered(change: object) -> bytes:
        info = cms.ContentInfo.load(mfg_file(lab))
        change(info["content"])  # type: ignore[operator]
        return bytes(info.dump(force=True))

    def detach(s: cms.SignedData) -> None:
        s["encap_content_info"] = {"content_type": "data"}

    def other_type(s: cms.SignedData) -> None:
        s["encap_content_info"] = {"content_type": "1.3.6.1.5.2.3.1", "content": core.OctetString(b"x")}

    def no_signers(s: cms.SignedData) -> None:
        s["signer_infos"] = []

    def three_signers(s: cms.SignedData) -> None:
        s["signer_infos"] = [s["signer_infos"][0]] * 3

    def no_signing_time(s: cms.SignedData) -> None:
        attrs = s["signer_infos"][0]["signed_attrs"]
        s["signer_infos"][0]["signed_attrs"] = [a for a in attrs if a["type"].native != "signing_time"]

    def md5(s: cms.SignedData) -> None:
        s["signer_infos"][0]["digest_algorithm"] = {"algorithm": "md5"}

    def signer_version_3(s: cms.SignedData) -> None:
        s["signer_infos"][0]["version"] = "v3"  # v3 means a subjectKeyIdentifier, not issuerAndSerialNumber

    def digest_not_listed(s: cms.SignedData) -> None:
        s["digest_algorithms"] = [{"algorithm": "sha1"}]

    for change, path in ((signer_version_3, "signerInfos[0]"), (digest_not_listed, "signerInfos[0]"),
                         (detach, "encapContentInfo"), (other_type, "encapContentInfo"),
                         (no_signers, "signerInfos"), (three_signers, "signerInfos"),
                         (no_signing_time, "signerInfos[0]"), (md5, "signerInfos[0]")):
        bad = altered(change)
        err = refused(bad, trust(lab))
        assert (err.reason, err.path) == ("malformed", path), (change.__name__, err)
        assert err.offset is not None and 0 < err.offset < len(bad)
    plain = cms.ContentInfo({"content_type": "data", "content": core.OctetString(IMAGE)}).dump()
    assert refused(plain, trust(lab)).path == "contentType"


def test_size_limit(lab: LabPki) -> None:
    data = mfg_file(lab)
    with pytest.raises(cf.CodeFileError) as info:
        cf.verify(data, trust(lab), NOW, FRESH, max_size=len(data) - 1)
    assert info.value.reason == "malformed" and "limit" in info.value.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_files_give_a_typed_error_never_another(lab: LabPki, data: st.DataObject) -> None:
    good = _good_files(lab)
    original = data.draw(st.sampled_from(good))
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(damaged) - 1, 0)))
        if kind == "flip" and damaged:
            damaged[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del damaged[at:]
        elif kind == "insert":
            damaged[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif damaged:
            del damaged[at]
    try:
        got = cf.verify(bytes(damaged), trust(lab, OPERATOR if original is good[1] else None), NOW, FRESH)
    except cf.CodeFileError as exc:
        assert exc.reason in cf.REASONS
        return
    assert got.image == IMAGE  # damage that passes (an unsigned field) never changes the image


_CACHE: dict[str, list[bytes]] = {}


def _good_files(lab: LabPki) -> list[bytes]:
    if "files" not in _CACHE:
        _CACHE["files"] = [mfg_file(lab), mfg_file(lab, cosigner=signer(lab, "cosigner-cvc"))]
    return _CACHE["files"]


# -- OpenSSL and tshark as judges ---------------------------------------------------------------

def test_openssl_verifies_our_code_files(lab: LabPki, tmp_path: Path) -> None:
    openssl = require("openssl")
    for name, data in (("mfg", mfg_file(lab)), ("both", mfg_file(lab, cosigner=signer(lab, "cosigner-cvc")))):
        (tmp_path / f"{name}.p7").write_bytes(data)
        run = subprocess.run([openssl, "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / f"{name}.p7"),
                              "-CAfile", str(lab.folder / "cvc-root.pem"), "-purpose", "any", "-binary",
                              "-attime", str(int(SIGNED.timestamp())), "-out", str(tmp_path / f"{name}.bin")],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert (tmp_path / f"{name}.bin").read_bytes() == IMAGE
        parsed = subprocess.run([openssl, "asn1parse", "-inform", "DER", "-in", str(tmp_path / f"{name}.p7")],
                                capture_output=True, text=True, timeout=60)
        assert parsed.returncode == 0 and "pkcs7-signedData" in parsed.stdout and "signingTime" in parsed.stdout


def test_openssl_refuses_a_damaged_code_file_too(lab: LabPki, tmp_path: Path) -> None:
    openssl = require("openssl")
    data = bytearray(mfg_file(lab))
    data[data.index(b"firmware 1.2.3")] ^= 1
    (tmp_path / "bad.p7").write_bytes(bytes(data))
    run = subprocess.run([openssl, "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "bad.p7"),
                          "-CAfile", str(lab.folder / "cvc-root.pem"), "-purpose", "any", "-binary",
                          "-attime", str(int(SIGNED.timestamp())), "-out", str(tmp_path / "bad.bin")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0


def test_we_verify_a_code_file_openssl_signed(lab: LabPki, tmp_path: Path) -> None:
    openssl = require("openssl")
    (tmp_path / "image.bin").write_bytes(IMAGE)
    for digest in ("sha256", "sha1"):
        out = tmp_path / f"openssl-{digest}.p7"
        run = subprocess.run([openssl, "cms", "-sign", "-nodetach", "-binary", "-outform", "DER",
                              "-md", digest, "-in", str(tmp_path / "image.bin"),
                              "-signer", str(lab.folder / "manufacturer-cvc.pem"),
                              "-inkey", str(lab.folder / "manufacturer-cvc.key"), "-out", str(out)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        # OpenSSL signs at the real time: the device's clock and stored times follow it.
        now = dt.datetime.now(dt.UTC)
        got = cf.verify(out.read_bytes(), trust(lab), None, FRESH)
        assert got.image == IMAGE and got.manufacturer.organization == MFG
        assert abs(got.manufacturer.signing_time - now) < dt.timedelta(minutes=10)


def test_tshark_decodes_our_code_file_without_errors(lab: LabPki, tmp_path: Path) -> None:
    tshark = require("tshark")
    path = tmp_path / "both.p7"
    path.write_bytes(mfg_file(lab, cosigner=signer(lab, "cosigner-cvc")))
    run = subprocess.run([tshark, "-r", str(path), "-V"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "id-signedData" in run.stdout and "id-data" in run.stdout
    assert "Malformed" not in run.stdout and "Expert Info" not in run.stdout


# -- the command line ---------------------------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pktcable", "firmware", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_sign_cosign_verify(lab: LabPki, tmp_path: Path) -> None:
    image = tmp_path / "image.bin"
    image.write_bytes(IMAGE)
    d = str(lab.folder)
    when = "--signing-time", "2026-12-03T13:00:00Z"
    assert cli("sign", "--dir", d, *when, str(image), "-o", str(tmp_path / "m.p7")).returncode == 0
    assert cli("cosign", "--dir", d, *when, str(tmp_path / "m.p7"), "-o", str(tmp_path / "c.p7")).returncode == 0
    ok = cli("verify", "--dir", d, "--cosigner", OPERATOR, str(tmp_path / "c.p7"), "--image", str(tmp_path / "out"))
    assert ok.returncode == 0, ok.stderr
    assert f"manufacturer: {MFG}" in ok.stdout and f"co-signer: {OPERATOR}" in ok.stdout
    assert "2026-12-03 13:00:00Z" in ok.stdout
    assert (tmp_path / "out").read_bytes() == IMAGE
    no = cli("verify", "--dir", d, "--cosigner", OPERATOR, str(tmp_path / "m.p7"), "--json")
    assert no.returncode == 1 and '"reason": "missing-cosigner"' in no.stdout
    assert no.stderr.count("\n") == 1 and "missing-cosigner" in no.stderr
    stale = cli("verify", "--dir", d, "--code-access-start", "2027-01-01T00:00:00Z", str(tmp_path / "m.p7"))
    assert stale.returncode == 1 and "stale-signing-time" in stale.stderr


def test_cli_usage_errors_are_one_line_exit_2(lab: LabPki, tmp_path: Path) -> None:
    image = tmp_path / "image.bin"
    image.write_bytes(IMAGE)
    for args in (("sign", "--dir", str(tmp_path / "none"), str(image), "-o", str(tmp_path / "x")),
                 ("sign", str(image), "-o", str(tmp_path / "x")),
                 ("sign", "--dir", str(lab.folder), "--signing-time", "soon", str(image), "-o", str(tmp_path / "x")),
                 ("verify", "--root", str(lab.folder / "cvc-root.pem"), str(image))):
        run = cli(*args)
        assert run.returncode == 2, (args, run.stderr)
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr


# -- golden files (tests/data/firmware/README.md) ------------------------------------------------

GOLDEN = Path(__file__).parent / "data" / "firmware"


def test_golden_openssl_code_files_verify() -> None:
    root = x509.load_pem_x509_certificate((GOLDEN / "cvc-root.pem").read_bytes())
    image = (GOLDEN / "image.bin").read_bytes()
    mfg_cvc = x509.load_pem_x509_certificate((GOLDEN / "manufacturer-cvc.pem").read_bytes())
    start = mfg_cvc.not_valid_before_utc
    state = cf.AccessState(cf.AccessStart(start, start), cf.AccessStart(start, start))
    for name, cosigner in (("openssl-sha256.p7", None), ("openssl-sha1.p7", None),
                           ("openssl-sha256-cosigned.p7", OPERATOR)):
        got = cf.verify((GOLDEN / name).read_bytes(), cf.CvcTrust(root, MFG, cosigner), None, state)
        assert got.image == image, name
        assert got.manufacturer.cvc == mfg_cvc and got.manufacturer.signing_time >= start
        assert (got.cosigner is not None) == (cosigner is not None)
    # Another device's manufacturer, and a device that wants a co-signer, refuse them.
    assert refused((GOLDEN / "openssl-sha1.p7").read_bytes(), cf.CvcTrust(root, "Other"), state=state).reason \
        == "wrong-manufacturer"
    assert refused((GOLDEN / "openssl-sha1.p7").read_bytes(), cf.CvcTrust(root, MFG, OPERATOR),
                   state=state).reason == "missing-cosigner"


def test_golden_cosign_keeps_the_manufacturer_signature_byte_for_byte() -> None:
    from asn1crypto import cms

    def infos(name: str) -> set[bytes]:
        return {i.dump() for i in cms.ContentInfo.load((GOLDEN / name).read_bytes())["content"]["signer_infos"]}

    alone, both = infos("openssl-sha256.p7"), infos("openssl-sha256-cosigned.p7")
    assert alone < both and len(both) == 2
