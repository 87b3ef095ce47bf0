"""Helpers every ``pktcable`` command shares: files, keys, errors to exit statuses."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from pktcable.exitcodes import ExitStatus

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
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
        with open(name, "rb") as f:
            return f.read()
    except OSError as exc:
        fail(f"cannot read {name}: {exc.strerror or exc}", ExitStatus.IO)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def write_output(name: str, data: bytes) -> None:
    """Write ``name`` whole or not at all.

    A file that is not there yet is created and written in place (a batch
    of 1,000 outputs costs the kernel a third less than with a temporary
    file and a rename each); if the write fails, the part is removed. A file
    that is there is replaced by a rename, so whoever reads it (a TFTP
    server) sees the old bytes or the new ones, never a mix.
    """
    if name == "-":
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as exc:
            fail(f"cannot write {name}: {exc.strerror or exc}", ExitStatus.IO)
        return
    try:
        fd = os.open(name, _NEW_FILE, 0o666)
    except FileExistsError:
        target = name
        name = f"{target}.tmp{os.getpid()}"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}", ExitStatus.IO)
    except OSError as exc:
        fail(f"cannot write {name}: {exc.strerror or exc}", ExitStatus.IO)
    else:
        target = name
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        if name != target:
            os.replace(name, target)
    except OSError as exc:
        try:
            os.unlink(name)
        except OSError:
            pass
        fail(f"cannot write {target}: {exc.strerror or exc}", ExitStatus.IO)


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

    def load(name: str) -> bytes:
        base = Path(source).parent if source != "-" else Path.cwd()
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


def warn_deprecated(old: str, new: str) -> None:
    click.echo(f"pktcable: warning: {old} is deprecated; use {new}", err=True)


def rename_deprecated(args: list[str], renames: Mapping[str, str]) -> list[str]:
    """``args`` with each old option spelling replaced by its new one (``--old`` and
    ``--old=value``), warning once per old spelling. Stops at ``--``: what follows
    is operands, whatever they look like."""
    out: list[str] = []
    warned: set[str] = set()
    for i, arg in enumerate(args):
        if arg == "--":
            out += args[i:]
            break
        name, eq, value = arg.partition("=")
        new = renames.get(name)
        if new is None:
            out.append(arg)
            continue
        if name not in warned:
            warned.add(name)
            warn_deprecated(name, new)
        out.append(new + eq + value)
    return out


class Command(click.Command):
    """A command whose renamed options keep their old spelling for one release.

    ``renamed`` maps an old spelling to the option that replaced it
    (``{"--bind": "--address"}``); the old one is left out of --help, still
    works, and warns on stderr. One vocabulary across commands is docs/cli.md."""

    def __init__(self, *args: Any, renamed: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renamed: dict[str, str] = dict(renamed or {})  # not `deprecated`: click's word for a whole command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rename_deprecated(args, self.renamed))


class HiddenArgument(click.Argument):
    """An operand kept for an old spelling of a command: accepted, not shown in the usage line."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def deprecated_option(old: str, new: str, dest: str, **kwargs: Any) -> Callable[[F], F]:
    """A hidden option kept for one release where the replacement means a little
    more than a new name (``--db FILE`` became ``--data-dir DIR``): it still works
    as before and warns."""

    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if param.name and ctx.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE:
            warn_deprecated(old, new)
        return value

    return click.option(old, dest, hidden=True, callback=warn, help=f"Deprecated: use {new}.", **kwargs)
