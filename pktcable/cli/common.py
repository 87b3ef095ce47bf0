"""Helpers every ``pktcable`` command shares: files, keys, errors to exit statuses."""

from __future__ import annotations

import resource
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

# The file and error helpers live beside the compile loop, which runs without click.
from pktcable.compiling import KEY_LIMIT as KEY_LIMIT
from pktcable.compiling import fail as fail
from pktcable.compiling import make_loader as make_loader
from pktcable.compiling import read_input as read_input
from pktcable.compiling import read_key as read_key
from pktcable.compiling import run_codec as run_codec
from pktcable.compiling import write_output as write_output

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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
