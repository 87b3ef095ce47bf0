"""The lab PKI (`pktcable pki`): profiles, chains, bad certificates, and OpenSSL as the
independent judge of what we issue."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pktcable.secure import krbnames, pki
from pktcable.secure.labdir import LabPki, LabSettings, read_pem_bundle

from .peers import require

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
SETTINGS = LabSettings("LAB.EXAMPLE.NET", "Example Cable", "kdc.lab.example.net", "prov.lab.example.net",
                       key_size=1024)
MAC = bytes.fromhex("0210010000aa")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    folder = tmp_path_factory.mktemp("pki")
    made = LabPki.create(folder, SETTINGS, now=NOW)
    made.issue_device(MAC, now=NOW)
    return made


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pktcable", "pki", *args], capture_output=True, text=True,
                          timeout=120)


def test_hierarchies_chain_and_carry_their_profiles(lab: LabPki) -> None:
    device = lab.device(MAC)
    path = pki.verify_chain(device.certificate, [lab.get("mta-manufacturer").certificate],
                            lab.get("mta-root").certificate, now=NOW,
                            purpose=x509.ObjectIdentifier(krbnames.ID_PKINIT_KPCLIENTAUTH))
    assert [c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in path] == [
        "02:10:01:00:00:AA", "pktcable lab manufacturer MTA Manufacturer CA", "MTA Root CA"]
    assert pki.device_mac(device.certificate) == MAC
    kdc = lab.get("kdc").certificate
    pki.verify_chain(kdc, [lab.get("sp-ca").certificate], lab.get("sp-root").certificate, now=NOW,
                     purpose=x509.ObjectIdentifier(krbnames.ID_PKINIT_KPKDC))
    assert pki.organization(kdc) == "Example Cable"  # what the eMTA compares with pktcMtaDevRealmOrgName
    san = kdc.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    other = san.get_values_for_type(x509.OtherName)
    assert [o.type_id.dotted_string for o in other] == [krbnames.ID_PKINIT_SAN]
    assert krbnames.parse_principal(other[0].value) == (
        "LAB.EXAMPLE.NET", krbnames.NT_SRV_INST, ("krbtgt", "LAB.EXAMPLE.NET"))
    for cvc in ("manufacturer-cvc", "cosigner-cvc"):
        pki.verify_chain(lab.get(cvc).certificate, [], lab.get("cvc-root").certificate, now=NOW,
                         purpose=ExtendedKeyUsageOID.CODE_SIGNING)


def test_chain_refusals_name_the_problem(lab: LabPki) -> None:
    """An attacker's or a careless lab's certificates: each refusal says which link and why."""
    device = lab.device(MAC).certificate
    mfr = lab.get("mta-manufacturer").certificate
    root = lab.get("mta-root").certificate
    # a device certificate offered against the service provider's root
    with pytest.raises(pki.PkiError, match="no issuer"):
        pki.verify_chain(device, [mfr], lab.get("sp-root").certificate, now=NOW)
    # expired (the device certificate lives 20 years)
    with pytest.raises(pki.PkiError, match="outside its validity"):
        pki.verify_chain(device, [mfr], root, now=NOW + dt.timedelta(days=365 * 21))
    with pytest.raises(pki.PkiError, match="outside its validity"):
        pki.verify_chain(device, [mfr], root, now=NOW - dt.timedelta(days=1))
    # a KDC certificate is no PKINIT client certificate
    with pytest.raises(pki.PkiError, match="not for 1.3.6.1.5.2.3.4"):
        pki.verify_chain(lab.get("kdc").certificate, [lab.get("sp-ca").certificate], lab.get("sp-root").certificate,
                         now=NOW, purpose=x509.ObjectIdentifier(krbnames.ID_PKINIT_KPCLIENTAUTH))
    # a forged manufacturer CA with the real one's name but its own key
    forged_root = pki.issue("mta-root", root.subject, pki.new_key(1024), now=NOW, serial=7)
    forged_mfr = pki.issue("mta-manufacturer", mfr.subject, pki.new_key(1024), now=NOW, serial=8, issuer=forged_root)
    fake = pki.issue("mta-device", device.subject, pki.new_key(1024), now=NOW, serial=9, issuer=forged_mfr)
    with pytest.raises(pki.PkiError, match="bad signature"):
        pki.verify_chain(fake.certificate, [mfr], root, now=NOW)
    # a device certificate used as a CA: not a CA
    leaf = lab.device(MAC)
    rogue = x509.CertificateBuilder().subject_name(pki.name("x", "02:10:01:00:00:BB")).issuer_name(
        leaf.certificate.subject).public_key(leaf.key.public_key()).serial_number(5).not_valid_before(
        NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=1)).sign(
        leaf.key, pki.DIGESTS["sha256"]())
    with pytest.raises(pki.PkiError, match="no CA"):
        pki.verify_chain(rogue, [leaf.certificate, mfr], root, now=NOW)


def test_profiles_refuse_the_wrong_issuer_and_bad_settings() -> None:
    root = pki.issue("sp-root", pki.name("o", "r"), pki.new_key(1024), now=NOW, serial=1)
    with pytest.raises(pki.PkiError, match="MTA Manufacturer CA is issued by mta-root, not sp-root"):
        pki.issue("mta-manufacturer", pki.name("o", "m"), pki.new_key(1024), now=NOW, serial=2, issuer=root)
    with pytest.raises(pki.PkiError, match="key size 512"):
        pki.new_key(512)
    with pytest.raises(pki.PkiError, match="upper case"):
        LabSettings("lab.example.net", "o", "k", "p").check()
    with pytest.raises(ValueError, match="not a KRB5PrincipalName"):
        krbnames.parse_principal(b"\x30\x03\x02\x01\x01")


def test_openssl_verifies_what_we_issue(lab: LabPki) -> None:
    """OpenSSL, which we did not write, accepts our chains and reads our PKINIT SAN."""
    openssl = require("openssl")
    folder = lab.folder
    device = folder / "devices" / f"{MAC.hex()}.pem"
    for leaf, untrusted, root in ((device, "mta-manufacturer", "mta-root"), (folder / "kdc.pem", "sp-ca", "sp-root"),
                                  (folder / "prov-server.pem", "sp-ca", "sp-root")):
        done = subprocess.run([openssl, "verify", "-x509_strict", "-attime", str(int(NOW.timestamp())), "-CAfile", str(folder / f"{root}.pem"),
                               "-untrusted", str(folder / f"{untrusted}.pem"), str(leaf)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stdout + done.stderr
    text = subprocess.run([openssl, "x509", "-in", str(folder / "kdc.pem"), "-noout", "-text"],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert "1.3.6.1.5.2.3.5" in text or "KDC" in text  # the PKINIT KDC purpose
    outer = subprocess.run([openssl, "asn1parse", "-in", str(folder / "kdc.pem")],
                           capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    at = next(i for i, line in enumerate(outer) if "Subject Alternative Name" in line)
    offset = outer[at + 1].split(":")[0].strip()  # the extension's OCTET STRING
    parsed = subprocess.run([openssl, "asn1parse", "-in", str(folder / "kdc.pem"), "-strparse", offset, "-dump"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert "OBJECT            :1.3.6.1.5.2.2" in parsed  # id-pkinit-san
    assert parsed.count("prim: GENERALSTRING") == 3  # realm, then krbtgt / realm
    assert " krbtgt\n" in parsed and parsed.count(" LAB.EXAMPLE.NET\n") == 2
    # a device certificate checked against the wrong root fails in OpenSSL too
    bad = subprocess.run([openssl, "verify", "-attime", str(int(NOW.timestamp())), "-CAfile", str(folder / "sp-root.pem"), "-untrusted",
                          str(folder / "mta-manufacturer.pem"), str(device)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0


def test_cli_init_devices_import_show(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    made = run_cli("init", "--dir", str(folder), "--realm", "R1.NET", "--organization", "Op",
                   "--kdc-fqdn", "kdc.r1.net", "--prov-fqdn", "prov.r1.net", "--key-size", "1024")
    assert made.returncode == 0, made.stderr
    assert (folder / "kdc.key").stat().st_mode & 0o777 == 0o600
    again = run_cli("init", "--dir", str(folder), "--realm", "R1.NET", "--organization", "Op",
                    "--kdc-fqdn", "k", "--prov-fqdn", "p")
    assert again.returncode == 2 and "already holds a PKI" in again.stderr
    issued = run_cli("devices", "--dir", str(folder), "--count", "3", "--first", "5", "--mac", "00-11-22-33-44-55")
    assert issued.returncode == 0, issued.stderr
    assert sorted(p.name for p in (folder / "devices").glob("*.pem")) == [
        "001122334455.pem", "021001000005.pem", "021001000006.pem", "021001000007.pem"]
    bad_mac = run_cli("devices", "--dir", str(folder), "--mac", "00:11:22:33:44")
    assert bad_mac.returncode == 2 and "not a MAC address" in bad_mac.stderr
    # another lab's device certificates are refused, none written; this lab's own are accepted
    other = tmp_path / "other"
    assert run_cli("init", "--dir", str(other), "--realm", "R2", "--organization", "O2", "--kdc-fqdn", "k",
                   "--prov-fqdn", "p", "--key-size", "1024").returncode == 0
    assert run_cli("devices", "--dir", str(other), "--mac", "0a0b0c0d0e0f").returncode == 0
    bundle = tmp_path / "foreign.pem"
    bundle.write_bytes((other / "devices" / "0a0b0c0d0e0f.pem").read_bytes()
                       + (other / "devices" / "0a0b0c0d0e0f.key").read_bytes())
    own = tmp_path / "own.pem"
    own.write_bytes((folder / "devices" / "001122334455.pem").read_bytes())
    refused = run_cli("import", "--dir", str(folder), str(own), str(bundle))
    assert refused.returncode == 1 and "bad signature" in refused.stderr
    assert not (folder / "devices" / "0a0b0c0d0e0f.pem").exists()
    taken = run_cli("import", "--dir", str(folder), str(own))
    assert taken.returncode == 0, taken.stderr
    shown = run_cli("show", "--dir", str(folder))
    assert shown.returncode == 0 and "devices: 4" in shown.stdout and "realm R1.NET" in shown.stdout
    missing = run_cli("show", "--dir", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "no PKI here" in missing.stderr


def test_import_refuses_a_key_of_another_device(lab: LabPki, tmp_path: Path) -> None:
    other = lab.issue_device(bytes.fromhex("0210010000ab"), now=NOW)
    with pytest.raises(pki.PkiError, match="does not belong"):
        lab.import_device(lab.device(MAC).certificate, other.key, now=NOW)
    with pytest.raises(pki.PkiError, match="no certificate"):
        read_pem_bundle(b"-----BEGIN JUNK-----\nAA==\n-----END JUNK-----\n", "x.pem")
    with pytest.raises(pki.PkiError, match="unreadable PEM"):
        read_pem_bundle(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "x.pem")
