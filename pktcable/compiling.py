"""``pktcable compile`` without click: the compile loop, its file helpers, and a fast path.

``python -m pktcable compile ...`` is the command a provisioning script runs
once per device or once per batch, so its start-up counts: importing click
costs about as much as compiling a file. ``fast_main`` reads the command line
when it uses only the options below in their plain forms and runs the same
``run_compile`` the click command runs; anything else (help, a typo, ``--``,
an attached short value, a repeated option) goes to click, which owns the
usage messages. Nothing here imports click (so it stands outside pktcable.cli,
whose package imports it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from pktcable.exitcodes import ExitStatus

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import NoReturn, TypeVar

    T = TypeVar("T")

KEY_LIMIT = 64  # the reference compiler reads at most 64 key bytes
HASH_CHOICES = ("cablelabs", "ietf", "euro", "none")


def say(message: str) -> None:
    """One line on stderr (what click.echo(err=True) does for plain text)."""
    stream = sys.stderr
    try:
        stream.write(message + "\n")
    except UnicodeEncodeError:
        stream.write(message.encode("ascii", "backslashreplace").decode("ascii") + "\n")
    stream.flush()


def fail(message: str, status: ExitStatus) -> NoReturn:
    say(f"pktcable: {message}")
    sys.exit(int(status))


def read_input(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        # os.open/os.read: no buffer object, no isatty or seek calls (1,000 inputs in a batch).
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as exc:
        fail(f"cannot read {name}: {exc.strerror or exc}", ExitStatus.IO)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd``: os.write may take less than it is given."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_output(name: str, data: bytes) -> None:
    """Write ``name`` whole or not at all.

    A file that is not there yet is created and written in place (one
    system call fewer per file than a temporary file and a rename); if the
    write fails, the part is removed. A file that is there is replaced by a
    rename, so whoever reads it (a TFTP server) sees the old bytes or the new
    ones, never a mix.
    """
    if name == "-":
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as exc:
            fail(f"cannot write {name}: {exc.strerror or exc}", ExitStatus.IO)
        return
    target = name
    try:
        fd = os.open(name, _NEW_FILE, 0o666)
    except FileExistsError:
        name = f"{target}.tmp{os.getpid()}"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}", ExitStatus.IO)
    except OSError as exc:
        fail(f"cannot write {name}: {exc.strerror or exc}", ExitStatus.IO)
    try:
        try:
            write_all(fd, data)
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
        say(f"pktcable: warning: key longer than {KEY_LIMIT} bytes; using the first {KEY_LIMIT}")
        key = key[:KEY_LIMIT]
    return key


def make_loader(source: str) -> Callable[[str], bytes]:
    """Files named in a config (certificates, digit maps) are relative to it."""

    def load(name: str) -> bytes:
        from pathlib import Path  # only configs that name files need it

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


def output_name(name: str, output: str | None, out_dir: str | None) -> str:
    if output:
        return output
    if name == "-":
        return "-"
    fast = _plain_output_name(name, out_dir)
    if fast is not None:
        return fast
    from pathlib import Path

    stem = Path(name).with_suffix(".bin").name
    return str(Path(out_dir) / stem) if out_dir else str(Path(name).with_suffix(".bin"))


def _plain_output_name(name: str, out_dir: str | None) -> str | None:
    """output_name() without pathlib for names pathlib leaves as written
    (no empty, '.' or trailing part), which a batch of 1,000 has; else None."""
    for path in (name, out_dir or "x"):
        if "//" in path or path.endswith(("/", "/.")) or path.startswith("./") or "/./" in path or path == ".":
            return None
    head, _, tail = name.rpartition("/")
    dot = tail.rfind(".")
    stem = tail[:dot] if 0 < dot < len(tail) - 1 else tail  # pathlib's suffix rule
    if not stem:
        return None
    if out_dir:
        return f"{out_dir}{stem}.bin" if out_dir == "/" else f"{out_dir}/{stem}.bin"
    return f"{head}/{stem}.bin" if head or name.startswith("/") else f"{stem}.bin"


def run_compile(inputs: tuple[str, ...], output: str | None, out_dir: str | None, key_file: str | None,
                hash_name: str, minimal_ber: bool, lenient: bool, mib_dirs: tuple[str, ...]) -> None:
    """The body of ``pktcable compile`` (click's command and fast_main)."""
    from pktcable.mibctx import MibContext
    from tlv.config import compile_text
    from tlv.errors import EncodeError

    if output and len(inputs) > 1:
        fail("-o names one output; use --out-dir for several inputs", ExitStatus.USAGE)
    key = read_key(key_file)
    ctx = MibContext(mib_dirs=mib_dirs)
    # Lines repeat across a batch (tlv.batch); one file is parsed as it is.
    memo: dict | None = {} if len(inputs) > 1 else None  # type: ignore[type-arg]
    if out_dir:
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            fail(f"cannot create {out_dir}: {exc.strerror or exc}", ExitStatus.IO)
    def compile_all() -> None:
        for name in inputs:
            text = read_input(name).decode("utf-8", "surrogateescape")
            warnings: list[EncodeError] | None = [] if lenient else None
            data = compile_text(text, source="<stdin>" if name == "-" else name, ctx=ctx, key=key, hash=hash_name,
                                loader=make_loader(name), memo=memo, minimal_ber=minimal_ber, warnings=warnings)
            for warning in warnings or ():
                say(f"pktcable: warning: {warning}")
            write_output(output_name(name, output, out_dir), data)

    # One handler around the whole batch, not one per file: the first codec
    # error still ends the run with its status, and read or write failures
    # exit through fail() as before.
    run_codec(compile_all)


_VALUED = {"-o": "output", "--output": "output", "--out-dir": "out_dir", "--key": "key_file", "--hash": "hash_name",
           "--mib-dir": "mib_dirs"}
_FLAGS = {"--minimal-ber": "minimal_ber", "--lenient": "lenient"}


def fast_main(args: list[str]) -> None:
    """Run ``compile`` with ``args`` (what follows the word) and exit, or
    return when click should read them."""
    inputs: list[str] = []
    values: dict[str, str] = {}
    mib_dirs: list[str] = []
    flags: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "-" or not arg.startswith("-"):
            inputs.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in _FLAGS and not eq and _FLAGS[name] not in flags:
            flags.add(_FLAGS[name])
            continue
        dest = _VALUED.get(name)
        if dest is None or (eq and not name.startswith("--")):
            return  # help, an unknown option, an attached short value: click explains
        if not eq:
            if i >= len(args):
                return
            value = args[i]
            i += 1
        if not value or (value.startswith("-") and value != "-"):
            return  # an empty value, or an option where the value should be
        if dest == "mib_dirs":
            mib_dirs.append(value)
        elif dest in values:
            return
        else:
            values[dest] = value
    hash_name = values.get("hash_name", "none")
    if not inputs or hash_name not in HASH_CHOICES:
        return
    # click's checks of the path options: a directory where a file is meant, and so on.
    key_file, out_dir = values.get("key_file"), values.get("out_dir")
    if key_file not in (None, "-") and os.path.isdir(key_file):
        return
    if any(os.path.exists(d) and not os.path.isdir(d) for d in [*mib_dirs, *([out_dir] if out_dir else [])]):
        return
    try:
        run_compile(tuple(inputs), values.get("output"), out_dir, key_file, hash_name, "minimal_ber" in flags,
                    "lenient" in flags, tuple(mib_dirs))
    except KeyboardInterrupt:
        say("Aborted!")  # what click prints and returns for Ctrl-C
        sys.exit(1)
    sys.exit(int(ExitStatus.OK))
