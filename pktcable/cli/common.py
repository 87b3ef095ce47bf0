"""Helpers every ``pktcable`` command shares: files, keys, errors to exit statuses."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from pktcable.exitcodes import ExitStatus

T = TypeVar("T")
KEY_LIMIT = 64  # the reference compiler reads at most 64 key bytes


def raise_fd_limit() -> None:
    """Soft open-file limit up to the hard one: the servers use one socket per
    TFTP transfer and per HTTP connection, so a burst of thousands of them
    must not run out of descriptors at a distribution's default of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # an unlimited hard limit is more than the kernel takes: keep soft
            pass


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
