"""``pktcable`` command line: compile, decode and validate config files.

Every error reaches the user as one line on stderr that says where (file,
line and column, or byte offset and TLV path) and why, with the exit status
from :mod:`pktcable.exitcodes`; bad input never produces a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from .exitcodes import ExitStatus

T = TypeVar("T")
HASH_CHOICES = ("cablelabs", "ietf", "euro", "none")
KEY_LIMIT = 64  # the reference compiler reads at most 64 key bytes


def fail(message: str, status: ExitStatus) -> NoReturn:
    click.echo(f"pktcable: {message}", err=True)
    sys.exit(int(status))


def read_input(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        return Path(name).read_bytes()
    except OSError as exc:
        fail(f"cannot read {name}: {exc.strerror or exc}", ExitStatus.IO)


def write_output(name: str, data: bytes) -> None:
    try:
        if name == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        tmp = f"{name}.tmp{os.getpid()}"
        Path(tmp).write_bytes(data)
        os.replace(tmp, name)  # never leave a half-written file behind
    except OSError as exc:
        fail(f"cannot write {name}: {exc.strerror or exc}", ExitStatus.IO)


def read_key(path: str | None) -> bytes | None:
    if path is None:
        return None
    key = read_input(path).rstrip(b"\r\n")
    if len(key) > KEY_LIMIT:
        click.echo(f"pktcable: warning: key longer than {KEY_LIMIT} bytes; using the first {KEY_LIMIT}", err=True)
        key = key[:KEY_LIMIT]
    return key


def make_loader(source: str) -> Callable[[str], bytes]:
    """Files named in a config (certificates, digit maps) are relative to it."""
    base = Path(source).parent if source != "-" else Path.cwd()

    def load(name: str) -> bytes:
        return (base / name).read_bytes()

    return load


def run_codec(action: Callable[[], T]) -> T:
    """Run a codec call, turning its typed errors into exit statuses."""
    from mibs import MibError
    from tlv.errors import DecodeError, EncodeError, TextSyntaxError

    try:
        return action()
    except TextSyntaxError as exc:
        fail(str(exc), ExitStatus.SYNTAX)
    except EncodeError as exc:
        fail(str(exc), ExitStatus.VALUE)
    except DecodeError as exc:
        fail(str(exc), ExitStatus.DECODE)
    except MibError as exc:
        fail(str(exc), ExitStatus.IO)


mib_dir_option = click.option(
    "--mib-dir", "mib_dirs", multiple=True, type=click.Path(file_okay=False), help="Extra MIB modules (repeatable)."
)
key_option = click.option("--key", "key_file", type=click.Path(dir_okay=False, allow_dash=True), help="CMTS shared secret file.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pktcable")
def main() -> None:
    """pktcable: DOCSIS and PacketCable provisioning tools."""


@main.command("compile")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file ('-' for stdout); default: input name with .bin.")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write each output here (for many inputs).")
@key_option
@click.option("--hash", "hash_name", type=click.Choice(HASH_CHOICES), default="none", show_default=True,
              help="MTA files: add the SHA-1 config hash under this tree's OID.")
@mib_dir_option
def compile_cmd(inputs: tuple[str, ...], output: str | None, out_dir: str | None, key_file: str | None,
                hash_name: str, mib_dirs: tuple[str, ...]) -> None:
    """Compile config text (docsis tool language) to binary CM or MTA files."""
    from tlv.config import compile_text

    from .mibctx import MibContext

    if output and len(inputs) > 1:
        fail("-o names one output; use --out-dir for several inputs", ExitStatus.USAGE)
    key = read_key(key_file)
    ctx = MibContext(mib_dirs=mib_dirs)
    memo: dict = {}  # type: ignore[type-arg]  # statements repeat across a batch
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    for name in inputs:
        text = read_input(name).decode("utf-8", "surrogateescape")
        source = "<stdin>" if name == "-" else name

        def build(text: str = text, source: str = source, name: str = name) -> bytes:
            return compile_text(text, source=source, ctx=ctx, key=key, hash=hash_name, loader=make_loader(name),
                                memo=memo)

        data = run_codec(build)
        write_output(output_name(name, output, out_dir), data)


def output_name(name: str, output: str | None, out_dir: str | None) -> str:
    if output:
        return output
    if name == "-":
        return "-"
    stem = Path(name).with_suffix(".bin").name
    return str(Path(out_dir) / stem) if out_dir else str(Path(name).with_suffix(".bin"))


@main.command("decode")
@click.argument("input_file", metavar="INPUT")
@click.option("--numeric", is_flag=True, help="Print OIDs as numbers, not names.")
@click.option("--lenient", is_flag=True, help="Keep broken sub-TLV structures as raw bytes instead of failing.")
@click.option("--cvc-dir", type=click.Path(file_okay=False),
              help="Write certificates (TLV 32/33/81/82) here as files and name them in the text.")
@key_option
@mib_dir_option
def decode_cmd(input_file: str, numeric: bool, lenient: bool, cvc_dir: str | None, key_file: str | None,
               mib_dirs: tuple[str, ...]) -> None:
    """Print a binary config file as text that compiles back to the same bytes."""
    from tlv.config import decode_file, format_file

    from .mibctx import MibContext

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
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"main" in head.lower() or head.startswith((b"/*", b"#"))


@main.command("validate")
@click.argument("inputs", nargs=-1, required=True)
@key_option
@mib_dir_option
def validate_cmd(inputs: tuple[str, ...], key_file: str | None, mib_dirs: tuple[str, ...]) -> None:
    """Check config files (text or binary); list every problem, exit 1 if any."""
    from tlv.config import compile_text, decode_file
    from tlv.errors import TlvError

    from .mibctx import MibContext

    key = read_key(key_file)
    ctx = MibContext(mib_dirs=mib_dirs)
    bad = 0
    for name in inputs:
        data = read_input(name)
        problems: list[str] = []
        errors: list[TlvError] = []
        try:
            if looks_like_text(data):
                # The key only changes the CMTS MIC, so any key checks the text.
                compile_text(data.decode("utf-8", "surrogateescape"), source=name, ctx=ctx,
                             key=key if key is not None else b"", loader=make_loader(name), errors=errors)
            else:
                cf = decode_file(data, key=key)
                problems += [f"{name}: {p}" for p in cf.problems]
        except (TlvError, ValueError) as exc:
            if not errors:
                errors.append(exc)  # type: ignore[arg-type]
        problems += [str(e) if str(e).startswith(name) else f"{name}: {e}" for e in errors]
        for p in problems:
            click.echo(p, err=True)
        if not problems:
            click.echo(f"{name}: ok")
        bad += bool(problems)
    sys.exit(int(ExitStatus.INVALID if bad else ExitStatus.OK))

