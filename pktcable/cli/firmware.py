"""``pktcable firmware``: sign firmware images as DOCSIS code files and check them, and keep
the serve data dir's (or PostgreSQL store's) catalogue of images (docs/firmware.md)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pktcable.exitcodes import ExitStatus

from .common import fail, write_output

if TYPE_CHECKING:
    from pktcable.firmware.codefile import Signer
    from pktcable.secure.labdir import LabPki
    from pktcable.store.firmware import FirmwareStore

F = TypeVar("F", bound=Callable[..., Any])

dir_option = click.option("--dir", "folder", type=click.Path(file_okay=False),
                          help="The lab PKI folder of `pktcable pki init` (its CVCs and keys).")
output_option = click.option("-o", "--output", required=True, help="Output file ('-' for stdout).")
time_option = click.option("--signing-time", help="The signing time, ISO 8601 UTC (default: now).")
digest_option = click.option("--digest", type=click.Choice(["sha256", "sha384", "sha512", "sha1"]),
                             default="sha256", show_default=True,
                             help="Message digest; sha1 for devices that only know DOCSIS 3.0 code files.")


def _time(option: str, text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {text!r}: not an ISO 8601 time (2026-12-03T12:00:00Z)", ExitStatus.USAGE)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _lab(folder: str | None) -> LabPki:
    from pktcable.secure.labdir import LabPki
    from pktcable.secure.pki import PkiError

    if folder is None:
        fail("--dir: give the lab PKI folder", ExitStatus.USAGE)
    try:
        return LabPki.open(Path(folder))
    except PkiError as exc:
        fail(f"--dir: {exc}", ExitStatus.USAGE)


def _signer(lab: LabPki, profile: str) -> Signer:
    from pktcable.firmware.codefile import Signer
    from pktcable.secure.pki import PkiError

    try:
        issued = lab.get(profile)
    except PkiError as exc:
        fail(f"--dir: {exc}", ExitStatus.USAGE)
    return Signer(issued.certificate, issued.key)


def _read(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}", ExitStatus.IO)
    if len(data) > limit:
        fail(f"{path}: larger than the limit of {limit} bytes", ExitStatus.USAGE)
    return data


@click.group("firmware")
def firmware_group() -> None:
    """Firmware images as DOCSIS code files: CMS SignedData carrying the image, signed with
    the manufacturer's code verification certificate (CVC) and optionally an operator's
    co-signer CVC; and the checks a device makes before it installs one.

    Examples:

    \b
      pktcable firmware sign --dir lab-pki image.bin -o image.p7
      pktcable firmware verify --root tests/data/firmware/cvc-root.pem --manufacturer "Example Vendor" tests/data/firmware/openssl-sha1.p7
    """


@firmware_group.command("sign")
@dir_option
@click.argument("image", type=click.Path(dir_okay=False))
@output_option
@click.option("--cosign", is_flag=True, help="Also sign with the lab's co-signer CVC (the operator's signature).")
@time_option
@digest_option
def sign_cmd(folder: str | None, image: str, output: str, cosign: bool, signing_time: str | None,
             digest: str) -> None:
    """Sign IMAGE with the lab's manufacturer CVC (and co-signer CVC with --cosign).

    Examples:

    \b
      pktcable firmware sign --dir lab-pki image.bin -o image.p7
      pktcable firmware sign --dir lab-pki --cosign --signing-time 2026-12-03T12:00:00Z image.bin -o image.p7
    """
    from pktcable.firmware import codefile

    lab = _lab(folder)
    when = _time("--signing-time", signing_time) or dt.datetime.now(dt.UTC)
    manufacturer = _signer(lab, "manufacturer-cvc")
    data = _read(image, codefile.MAX_CODE_FILE - 64 * 1024)  # room for the CVCs and signatures
    out = codefile.sign(data, manufacturer.certificate, manufacturer.key, signing_time=when, digest=digest,
                        cosigner=_signer(lab, "cosigner-cvc") if cosign else None)
    write_output(output, out)


@firmware_group.command("cosign")
@dir_option
@click.argument("code_file", type=click.Path(dir_okay=False))
@output_option
@time_option
@digest_option
def cosign_cmd(folder: str | None, code_file: str, output: str, signing_time: str | None, digest: str) -> None:
    """Add the lab's co-signer signature and CVC to a manufacturer's CODE_FILE (checked first,
    against the lab's CVC root and manufacturer).

    Examples:

    \b
      pktcable firmware cosign --dir lab-pki vendor-image.p7 -o image.p7
      pktcable firmware cosign --dir lab-pki --signing-time 2026-12-03T12:00:00Z vendor-image.p7 -o image.p7
    """
    from pktcable.firmware import codefile

    lab = _lab(folder)
    when = _time("--signing-time", signing_time) or dt.datetime.now(dt.UTC)
    data = _read(code_file, codefile.MAX_CODE_FILE)
    trust = codefile.CvcTrust(lab.get("cvc-root").certificate, lab.settings.manufacturer)
    try:
        codefile.verify(data, trust, when, codefile.AccessState(codefile.AccessStart(_EPOCH, _EPOCH)))
        out = codefile.cosign(data, _signer(lab, "cosigner-cvc"), signing_time=when, digest=digest)
    except codefile.CodeFileError as exc:
        fail(f"{code_file}: {exc}", ExitStatus.INVALID)
    write_output(output, out)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@firmware_group.command("verify")
@dir_option
@click.argument("code_file", type=click.Path(dir_okay=False))
@click.option("--root", "root_file", type=click.Path(dir_okay=False),
              help="The CVC root (PEM) instead of the lab's cvc-root.pem.")
@click.option("--manufacturer", help="The manufacturer's organization name (default: the lab's).")
@click.option("--cosigner", help="Require a co-signature by this organization name.")
@click.option("--code-access-start", help="The device's stored codeAccessStart, ISO 8601 UTC (default: none).")
@click.option("--cvc-access-start", help="The device's stored cvcAccessStart, ISO 8601 UTC (default: none).")
@click.option("--check-clock", is_flag=True,
              help="Also refuse a CVC outside its validity at the device's time (DOCSIS judges the signing time).")
@click.option("--at", "at_text", help="The device's time for --check-clock, ISO 8601 UTC (default: now).")
@click.option("--image", "image_out", help="Write the image to this file once the code file is accepted.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def verify_cmd(folder: str | None, code_file: str, root_file: str | None, manufacturer: str | None,
               cosigner: str | None, code_access_start: str | None, cvc_access_start: str | None,
               check_clock: bool, at_text: str | None, image_out: str | None, as_json: bool) -> None:
    """Check CODE_FILE as a device would: strict DER, each signature, each CVC's chain to the
    CVC root with codeSigning, the organizations, and the access start times. Prints who
    signed and when; a refusal prints its reason name and exits 1.

    Examples:

    \b
      pktcable firmware verify --root tests/data/firmware/cvc-root.pem --manufacturer "Example Vendor" tests/data/firmware/openssl-sha256.p7
      pktcable firmware verify --root tests/data/firmware/cvc-root.pem --manufacturer "Example Vendor" --cosigner "Example Cable" tests/data/firmware/openssl-sha256-cosigned.p7 --json
    """
    from cryptography import x509

    from pktcable.firmware import codefile

    if root_file is not None:
        try:
            root = x509.load_pem_x509_certificate(_read(root_file, 1024 * 1024))
        except ValueError as exc:
            fail(f"--root {root_file}: not a PEM certificate ({exc})", ExitStatus.USAGE)
        if manufacturer is None:
            fail("--manufacturer: give the manufacturer's organization name with --root", ExitStatus.USAGE)
    else:
        lab = _lab(folder)
        root = lab.get("cvc-root").certificate
        manufacturer = manufacturer or lab.settings.manufacturer
    now = _time("--at", at_text) or dt.datetime.now(dt.UTC)
    code = _time("--code-access-start", code_access_start) or _EPOCH
    cvc = _time("--cvc-access-start", cvc_access_start) or _EPOCH
    state = codefile.AccessState(codefile.AccessStart(code, cvc), codefile.AccessStart(code, cvc) if cosigner else None)
    data = _read(code_file, codefile.MAX_CODE_FILE)
    try:
        result = codefile.verify(data, codefile.CvcTrust(root, manufacturer, cosigner, check_clock), now, state)
    except codefile.CodeFileError as exc:
        if as_json:
            click.echo(json.dumps({"accepted": False, "reason": exc.reason, "detail": exc.detail,
                                   "path": exc.path, "offset": exc.offset}))
        fail(f"{code_file}: {exc}", ExitStatus.INVALID)
    signatures = [s for s in (result.manufacturer, result.cosigner, result.ignored) if s is not None]
    if image_out:
        write_output(image_out, result.image)
    if as_json:
        click.echo(json.dumps({"accepted": True, "image_bytes": len(result.image), "signatures": [
            {"role": s.role, "organization": s.organization, "subject": s.cvc.subject.rfc4514_string(),
             "signing_time": s.signing_time.isoformat().replace("+00:00", "Z"),
             "cvc_valid_from": s.cvc.not_valid_before_utc.isoformat().replace("+00:00", "Z")}
            for s in signatures]}))
        return
    click.echo(f"{code_file}: accepted, image {len(result.image)} bytes")
    for s in signatures:
        click.echo(f"  {s.role}: {s.organization} ({s.cvc.subject.rfc4514_string()}), "
                   f"signed {s.signing_time:%Y-%m-%d %H:%M:%S}Z")


# -- the catalogue ----------------------------------------------------------------------------

def catalogue_options(command: F) -> F:
    """Where the catalogue is: ``--data-dir`` (its firmware.db and firmware/) or ``--store``
    (the PostgreSQL database of the serve ``store`` setting)."""
    command = click.option("--store", "store_url", metavar="URL",
                           help="The serve store setting's PostgreSQL URL instead of a data dir.")(command)
    return click.option("--data-dir", type=click.Path(file_okay=False),
                        help="The serve data dir whose firmware catalogue to use.")(command)


@contextmanager
def _catalogue(data_dir: str | None, store_url: str | None) -> Iterator[FirmwareStore]:
    """The data dir's catalogue, with the data dir held shared (as a serve holds it: a
    restore waits for us), or the one in the PostgreSQL database ``store_url`` names."""
    from pktcable.serve import datadir
    from pktcable.settings import SettingError
    from pktcable.store.firmware import SqliteFirmwareStore
    from pktcable.store.pg import StoreUnavailable, StoreUrlError, explain, parse_store
    from pktcable.store.sqlite import SchemaError

    if (data_dir is None) == (store_url is None):
        fail("give --data-dir or --store URL, one of them", ExitStatus.USAGE)
    store: FirmwareStore
    held = None
    if store_url is not None:
        try:
            parse_store(store_url)
            import psycopg

            from pktcable.store.pg_firmware import PgFirmwareStore

            store = PgFirmwareStore(store_url)
        except StoreUrlError as exc:
            fail(f"--store: {exc}", ExitStatus.USAGE)
        except StoreUnavailable as exc:
            fail(f"--store {exc}", ExitStatus.IO)
        except (SchemaError, psycopg.Error) as exc:
            fail(f"--store {explain(exc, store_url)}", ExitStatus.USAGE)
    else:
        assert data_dir is not None
        try:
            folder = datadir.prepare(data_dir)
            held = datadir.lock(folder, exclusive=False)
            store = SqliteFirmwareStore(folder)
        except datadir.DataDirBusy as exc:  # a restore or migrate holds it alone (exit 6, as elsewhere)
            fail(str(exc), ExitStatus.IO)
        except SettingError as exc:
            fail(f"--data-dir: {exc.problem or exc}", ExitStatus.USAGE)
        except Exception as exc:  # sqlite3.Error, SchemaError, OSError: no catalogue this code can use
            if held is not None:
                held.release()
            fail(f"--data-dir: {data_dir}: {exc}", ExitStatus.USAGE)
    try:
        yield store
    finally:
        store.close()
        if held is not None:
            held.release()


@firmware_group.command("add")
@catalogue_options
@click.argument("image_file", type=click.Path(dir_okay=False))
@click.option("--vendor", required=True, help="The vendor the image is for.")
@click.option("--model", required=True, help="The device model the image is for.")
@click.option("--hw-version", required=True, help="The hardware version the image is for.")
@click.option("--version", "version", required=True, help="The image's software version.")
@click.option("--filename", help="The name devices fetch it by over TFTP and HTTP (default: IMAGE_FILE's name).")
@click.option("--root", "root_file", type=click.Path(dir_okay=False),
              help="The CVC root (PEM) to judge the signature by (default: recorded as 'not checked').")
@click.option("--manufacturer", help="The manufacturer's organization name the code file must be signed by.")
@click.option("--cosigner", help="Also require a co-signature by this organization name.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=None,
              help="The largest image taken, bytes (default: 64 MiB).")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue entry as one JSON object.")
def add_cmd(data_dir: str | None, store_url: str | None, image_file: str, vendor: str, model: str, hw_version: str, version: str,
            filename: str | None, root_file: str | None, manufacturer: str | None, cosigner: str | None,
            max_bytes: int | None, as_json: bool) -> None:
    """Add IMAGE_FILE to the firmware catalogue of a data dir: kept under firmware/ with its
    size, SHA-256 and signature status, then served by TFTP and HTTP by its file name. A
    second image with the same vendor, model, hardware version and version is refused.

    Examples:

    \b
      pktcable firmware add --data-dir /var/lib/pktcable --vendor "Example Vendor" --model EX-100 --hw-version 2 --version 1.0 image.p7
      pktcable firmware add --data-dir /var/lib/pktcable --vendor "Example Vendor" --model EX-100 --hw-version 2 --version 1.1 --root tests/data/firmware/cvc-root.pem --manufacturer "Example Vendor" tests/data/firmware/openssl-sha256.p7
    """
    import time

    from cryptography import x509

    from pktcable.store.firmware import MAX_IMAGE_BYTES, Duplicate, FirmwareError, make_image, signature_status

    limit = max_bytes or MAX_IMAGE_BYTES
    trust = None
    if root_file is not None:
        from pktcable.firmware.codefile import CvcTrust

        if manufacturer is None:
            fail("--manufacturer: give the manufacturer's organization name with --root", ExitStatus.USAGE)
        try:
            root = x509.load_pem_x509_certificate(_read(root_file, 1024 * 1024))
        except ValueError as exc:
            fail(f"--root {root_file}: not a PEM certificate ({exc})", ExitStatus.USAGE)
        trust = CvcTrust(root, manufacturer, cosigner)
    data = _read(image_file, limit)
    try:
        entry = make_image(filename or Path(image_file).name, vendor, model, hw_version, version, data,
                           signature_status(data, trust, dt.datetime.now(dt.UTC)), time.time(), max_bytes=limit)
    except FirmwareError as exc:
        fail(f"--{exc.field.replace('_', '-')}: {exc.reason}", ExitStatus.USAGE)
    with _catalogue(data_dir, store_url) as store:
        try:
            store.add(entry, data)
        except Duplicate as exc:
            fail(f"{image_file}: {exc}", ExitStatus.INVALID)
    if as_json:
        click.echo(json.dumps(entry.to_json()))
        return
    click.echo(f"{entry.filename}: {entry.vendor} {entry.model} hw {entry.hw_version} version {entry.version}, "
               f"{entry.size} bytes, sha256 {entry.sha256}, {entry.signature}")


@firmware_group.command("list")
@catalogue_options
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as one JSON array.")
def list_cmd(data_dir: str | None, store_url: str | None, as_json: bool) -> None:
    """List the firmware catalogue of a data dir: each image's file name, what it is for, its
    version, size, SHA-256 and signature status.

    Examples:

    \b
      pktcable firmware list --data-dir /var/lib/pktcable
      pktcable firmware list --data-dir /var/lib/pktcable --json
      pktcable firmware list --store postgresql:///pktcable?host=/run/postgresql
    """
    with _catalogue(data_dir, store_url) as store:
        images = store.list()
    if as_json:
        click.echo(json.dumps([i.to_json() for i in images]))
        return
    for i in images:
        click.echo(f"{i.filename}\t{i.vendor}\t{i.model}\t{i.hw_version}\t{i.version}\t{i.size}\t{i.sha256}\t{i.signature}")


# The rollout rules' commands live in a module of their own (pktcable/cli/fwrules.py).
from .fwrules import rule_group  # noqa: E402 - after firmware_group and the catalogue helpers it uses

firmware_group.add_command(rule_group)


def _add_upgrade_commands() -> None:
    """push and lab-image live in their own module (SNMP, the simulator's images)."""
    from .firmwarepush import lab_image_cmd, push_cmd

    firmware_group.add_command(push_cmd)
    firmware_group.add_command(lab_image_cmd)


_add_upgrade_commands()
