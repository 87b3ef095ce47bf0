"""``pktcable compile | decode | validate``: the config-file compiler's commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pktcable.compiling import HASH_CHOICES, run_compile
from pktcable.exitcodes import ExitStatus

from .common import (
    Command,
    key_option,
    make_loader,
    mib_dir_option,
    read_input,
    read_key,
    run_codec,
    write_output,
)


@click.command("compile", cls=Command)
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file ('-' for stdout); default: input name with .bin.")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write each output here (for many inputs).")
@key_option
@click.option("--hash", "hash_name", type=click.Choice(HASH_CHOICES), default="none", show_default=True,
              help="MTA files: add the SHA-1 config hash under this tree's OID.")
@click.option("--minimal-ber", is_flag=True,
              help="Write SNMP objects with minimal BER lengths, not the docsis tool's 4-byte header for long "
                   "strings (both are valid BER; the default keeps files identical to docsis).")
@click.option("--lenient", is_flag=True,
              help="Compile SNMP objects that break their MIB constraints (type, enum, range, SIZE, index) "
                   "as written, with a warning each, instead of failing.")
@mib_dir_option
def compile_cmd(inputs: tuple[str, ...], output: str | None, out_dir: str | None, key_file: str | None,
                hash_name: str, minimal_ber: bool, lenient: bool, mib_dirs: tuple[str, ...]) -> None:
    """Compile config text (docsis tool language) to binary CM or MTA files.

    Examples:

    \b
      pktcable compile tests/data/docsis-compat/cm_basic.txt --key tests/data/docsis-compat/key -o cm.bin
      pktcable compile tests/data/docsis-compat/mta_vendor.txt --hash cablelabs -o mta.bin
      pktcable compile tests/data/docsis-compat/cm_basic.txt tests/data/docsis-compat/cm_classifiers.txt --key tests/data/docsis-compat/key --out-dir build
    """
    run_compile(inputs, output, out_dir, key_file, hash_name, minimal_ber, lenient, mib_dirs)


@click.command("decode", cls=Command)
@click.argument("input_file", metavar="INPUT")
@click.option("--numeric", is_flag=True, help="Print OIDs as numbers, not names.")
@click.option("--lenient", is_flag=True, help="Print what a damaged file holds up to the damage, marked by a comment; exit 0.")
@click.option("--cvc-dir", type=click.Path(file_okay=False),
              help="Write certificates (TLV 32/33/81/82) here as files and name them in the text.")
@key_option
@mib_dir_option
def decode_cmd(input_file: str, numeric: bool, lenient: bool, cvc_dir: str | None, key_file: str | None,
               mib_dirs: tuple[str, ...]) -> None:
    """Print a binary config file as text that compiles back to the same bytes.

    Examples:

    \b
      pktcable decode tests/data/docsis-compat/cm_basic.bin --key tests/data/docsis-compat/key
      pktcable decode tests/data/docsis-compat/mta_ncs.na.bin --numeric
      pktcable decode tests/data/docsis-compat/mta_vendor.bin --cvc-dir certs
    """
    from pktcable.mibctx import MibContext
    from tlv.config import decode_file, format_file

    data = read_input(input_file)
    key = read_key(key_file)
    ctx = MibContext(numeric=numeric, mib_dirs=mib_dirs)
    cf = run_codec(lambda: decode_file(data, key=key, strict=not lenient))
    if cvc_dir:
        stem = Path(input_file).stem if input_file != "-" else "stdin"
        Path(cvc_dir).mkdir(parents=True, exist_ok=True)
        for i, cert in enumerate(cf.certificates):
            if cert.splits_like_the_compiler:
                path = Path(cvc_dir).resolve() / f"{stem}-tlv{cert.code}-{i}.der"
                write_output(str(path), cert.data)
                cf.cite_certificate(cert, str(path))
    text = run_codec(lambda: format_file(cf, ctx))
    sys.stdout.write(text)
    for problem in cf.problems:
        click.echo(f"pktcable: warning: {input_file}: {problem}", err=True)
    if cf.mic_ok is False or cf.hash_ok is False:
        sys.exit(int(ExitStatus.INVALID))


def looks_like_text(data: bytes) -> bool:
    head = data.lstrip()[:4096]
    if head[:4].lower() == b"main" or head.startswith((b"/*", b"#")):
        return True  # text, even with a stray byte that is not UTF-8 (reported where it stands)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"main" in head.lower() or head.startswith((b"/*", b"#"))


@click.command("validate", cls=Command)
@click.argument("inputs", nargs=-1, required=True)
@key_option
@click.option("--lenient", is_flag=True,
              help="Report SNMP objects that break their MIB constraints as warnings, not problems.")
@mib_dir_option
def validate_cmd(inputs: tuple[str, ...], key_file: str | None, lenient: bool, mib_dirs: tuple[str, ...]) -> None:
    """Check config files (text or binary); list every problem, exit 1 if any.

    Examples:

    \b
      pktcable validate tests/data/docsis-compat/cm_basic.txt tests/data/docsis-compat/mta_ncs.na.bin
      pktcable validate tests/data/docsis-compat/cm_basic.bin --key tests/data/docsis-compat/key
    """
    from pktcable.mibctx import MibContext
    from tlv.config import compile_text, decode_file
    from tlv.errors import EncodeError, TlvError

    key = read_key(key_file)
    ctx = MibContext(mib_dirs=mib_dirs)
    bad = 0
    for name in inputs:
        data = read_input(name)
        problems: list[str] = []
        errors: list[TlvError] = []
        warnings: list[EncodeError] | None = [] if lenient else None
        try:
            if looks_like_text(data):
                # The key only changes the CMTS MIC, so any key checks the text.
                compile_text(data.decode("utf-8", "surrogateescape"), source=name, ctx=ctx,
                             key=key if key is not None else b"", loader=make_loader(name), errors=errors,
                             warnings=warnings)
            else:
                cf = decode_file(data, key=key)
                problems += [f"{name}: {p}" for p in cf.problems]
        except (TlvError, ValueError) as exc:
            if not errors:
                errors.append(exc)  # type: ignore[arg-type]
        problems += [str(e) if str(e).startswith(name) else f"{name}: {e}" for e in errors]
        for warning in warnings or ():
            click.echo(f"warning: {warning}", err=True)
        for p in problems:
            click.echo(p, err=True)
        if not problems:
            click.echo(f"{name}: ok")
        bad += bool(problems)
    sys.exit(int(ExitStatus.INVALID if bad else ExitStatus.OK))

