"""``pktcable pki``: a lab PacketCable PKI for the Secure flow (docs/secure.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pktcable.exitcodes import ExitStatus

from .common import fail

if TYPE_CHECKING:
    from pktcable.secure.labdir import LabPki

dir_option = click.option("--dir", "folder", required=True, type=click.Path(file_okay=False),
                          help="The PKI folder (PEM files and pki.json).")
MAX_BULK = 100_000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _open(folder: str) -> LabPki:
    from pktcable.secure.labdir import LabPki
    from pktcable.secure.pki import PkiError

    try:
        return LabPki.open(Path(folder))
    except PkiError as exc:
        fail(f"--dir: {exc}", ExitStatus.USAGE)


def _mac(text: str) -> bytes:
    digits = text.replace(":", "").replace("-", "").replace(".", "")
    try:
        mac = bytes.fromhex(digits)
    except ValueError:
        mac = b""
    if len(mac) != 6 or len(digits) != 12:
        fail(f"--mac {text!r}: not a MAC address (12 hex digits, separators : - . allowed)", ExitStatus.USAGE)
    return mac


@click.group("pki")
def pki_group() -> None:
    """A lab PKI: MTA Root and manufacturer CAs with device certificates, the service
    provider's root and CA with the KDC and provisioning-server certificates, and
    code verification certificates.

    Examples:

    \b
      pktcable pki init --dir lab-pki --realm LAB.EXAMPLE.NET --organization "Example Cable" --kdc-fqdn kdc.lab.example.net --prov-fqdn prov.lab.example.net
      pktcable pki devices --dir lab-pki --count 100
      pktcable pki import --dir lab-pki vendor-certs/*.pem
      pktcable pki show --dir lab-pki
    """


@pki_group.command("init")
@dir_option
@click.option("--realm", required=True, help="The Kerberos realm (option 122.6), upper case.")
@click.option("--organization", required=True,
              help="The service provider's O attribute (pktcMtaDevRealmOrgName must equal it).")
@click.option("--kdc-fqdn", required=True, help="The KDC's host name (in its certificate).")
@click.option("--prov-fqdn", required=True, help="The provisioning server's FQDN (option 122.3).")
@click.option("--manufacturer", default="pktcable lab manufacturer", show_default=True,
              help="The MTA manufacturer's O attribute.")
@click.option("--key-size", type=click.Choice(["1024", "2048", "4096"]), default="2048", show_default=True,
              help="RSA key size of every key made.")
@click.option("--digest", type=click.Choice(["sha256", "sha384", "sha512"]), default="sha256", show_default=True,
              help="Signature digest.")
def init_cmd(folder: str, realm: str, organization: str, kdc_fqdn: str, prov_fqdn: str,
             manufacturer: str, key_size: str, digest: str) -> None:
    """Make the three hierarchies in a new folder (refuses a folder that holds one).

    Examples:

    \b
      pktcable pki init --dir lab-pki --realm LAB.EXAMPLE.NET --organization "Example Cable" --kdc-fqdn kdc.lab.example.net --prov-fqdn prov.lab.example.net
      pktcable pki init --dir small-pki --realm R1 --organization Op --kdc-fqdn kdc.r1 --prov-fqdn prov.r1 --key-size 1024
    """
    from pktcable.secure.labdir import LabPki, LabSettings
    from pktcable.secure.pki import PROFILES, PkiError

    settings = LabSettings(realm, organization, kdc_fqdn, prov_fqdn, manufacturer, int(key_size), digest)
    try:
        LabPki.create(Path(folder), settings, now=_now())
    except PkiError as exc:
        fail(str(exc), ExitStatus.USAGE)
    except OSError as exc:
        fail(f"--dir {folder}: {exc.strerror or exc}", ExitStatus.IO)
    for profile in PROFILES.values():
        if profile.name != "mta-device":
            click.echo(f"{folder}/{profile.name}.pem  {profile.title}")


@pki_group.command("devices")
@dir_option
@click.option("--mac", "macs", multiple=True, help="A device's MAC (repeatable).")
@click.option("--count", type=click.IntRange(0, MAX_BULK), default=0,
              help="Also issue for the eMTAs of `pktcable simulate` with these indexes...")
@click.option("--first", type=click.IntRange(0, 2**24 - 1), default=0, show_default=True,
              help="...starting at this index (as simulate's --first).")
def devices_cmd(folder: str, macs: tuple[str, ...], count: int, first: int) -> None:
    """Issue MTA device certificates (CN = the MAC) signed by the lab's manufacturer CA.

    Examples:

    \b
      pktcable pki devices --dir lab-pki --mac 00:11:22:33:44:55
      pktcable pki devices --dir lab-pki --count 1000 --first 0
    """
    from pktcable.secure.pki import PkiError
    from pktcable.simulate.identity import Identity

    if first + count > 2**24:
        fail("--first + --count: the simulator numbers at most 2^24 devices", ExitStatus.USAGE)
    wanted = [_mac(m) for m in macs] + [Identity.make(i).mta_mac for i in range(first, first + count)]
    if not wanted:
        fail("give --mac or --count", ExitStatus.USAGE)
    lab = _open(folder)
    now = _now()
    try:
        for mac in wanted:
            lab.issue_device(mac, now=now)
    except PkiError as exc:
        fail(str(exc), ExitStatus.USAGE)
    except OSError as exc:
        fail(f"--dir {folder}: {exc.strerror or exc}", ExitStatus.IO)
    click.echo(f"{len(wanted)} device certificates in {folder}/devices")


@pki_group.command("import")
@dir_option
@click.option("--manufacturer-ca", "cas", multiple=True, type=click.Path(dir_okay=False),
              help="A manufacturer CA (PEM) the devices chain through, signed by the lab's MTA Root.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def import_cmd(folder: str, cas: tuple[str, ...], files: tuple[str, ...]) -> None:
    """Import device certificates (with their keys, when a file holds one): each must
    chain to the lab's MTA Root and name a MAC in its CN. All or nothing: the first
    bad file stops the import before anything is written.

    Examples:

    \b
      pktcable pki import --dir lab-pki devices/*.pem
      pktcable pki import --dir lab-pki --manufacturer-ca acme-ca.pem acme/*.pem
    """
    from pktcable.secure.labdir import read_pem_bundle
    from pktcable.secure.pki import PkiError, verify_chain

    lab = _open(folder)
    now = _now()
    try:
        manufacturer_cas = [c for path in cas for c in read_pem_bundle(_read(path), path)[0]]
        root = lab.get("mta-root").certificate
        for ca in manufacturer_cas:
            verify_chain(ca, [], root, now=now)
        staged = []
        for path in files:
            certs, keys = read_pem_bundle(_read(path), path)
            if len(certs) != 1 or len(keys) > 1:
                raise PkiError(f"{path}: one device certificate (and at most one key) per file")
            staged.append((path, certs[0], keys[0] if keys else None))
        for _path, cert, _key in staged:  # check every file before writing any
            verify_chain(cert, [lab.get("mta-manufacturer").certificate, *manufacturer_cas], root, now=now)
        for _path, cert, key in staged:
            lab.import_device(cert, key, now=now, manufacturer_cas=manufacturer_cas)
    except PkiError as exc:
        fail(str(exc), ExitStatus.INVALID)
    click.echo(f"{len(staged)} device certificates imported into {folder}/devices")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}", ExitStatus.IO)


@pki_group.command("show")
@dir_option
def show_cmd(folder: str) -> None:
    """List the hierarchy: each certificate's subject, issuer, validity; the device count.

    Examples:

    \b
      pktcable pki show --dir lab-pki
      pktcable pki show --dir /etc/pktcable/pki
    """
    from pktcable.secure.pki import PROFILES, PkiError

    lab = _open(folder)
    s = lab.settings
    click.echo(f"realm {s.realm}, organization {s.organization}, KDC {s.kdc_fqdn}, "
               f"provisioning server {s.prov_fqdn}, RSA {s.key_size}, {s.digest}")
    try:
        for profile in PROFILES.values():
            if profile.name == "mta-device":
                continue
            cert = lab.get(profile.name).certificate
            click.echo(f"{profile.name:17} {cert.subject.rfc4514_string()}  "
                       f"(by {cert.issuer.rfc4514_string()}; until {cert.not_valid_after_utc:%Y-%m-%d})")
    except PkiError as exc:
        fail(str(exc), ExitStatus.INVALID)
    click.echo(f"devices: {sum(1 for _ in lab.devices())}")
