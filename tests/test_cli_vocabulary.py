"""One name per concept across the command line, and examples that work in every --help.

The checks walk the command tree the ``pktcable`` group lists, so a command
added later is held to the same rules without a line here. The vocabulary is
docs/cli.md.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pktcable.cli import main
from pktcable.cli.common import Command, rename_deprecated

ROOT = Path(__file__).resolve().parent.parent

#: concept -> (the one option name, spellings no command may use for it).
VOCABULARY: dict[str, tuple[str, frozenset[str]]] = {
    "the store folder": ("--data-dir", frozenset({
        "--datadir", "--db", "--database", "--store-dir", "--storedir", "--data", "--db-dir",
        "--state-dir", "--data-folder"})),
    # A PostgreSQL store is named by the ``store`` setting's URL, never by a folder.
    "a store database (the store setting's URL)": ("--store", frozenset({
        "--store-url", "--db-url", "--database-url", "--dsn", "--postgresql", "--pg", "--pg-url"})),
    "an address to listen on or advertise": ("--address", frozenset({
        "--listen", "--bind", "--listen-address", "--bind-address", "--host", "--ip", "--addr", "--listen-on"})),
    "a TOML settings file": ("--config", frozenset({
        "--conf", "--config-file", "--configfile", "--settings", "--cfg", "--toml", "--config-path"})),
    "a device": ("--mac", frozenset({
        "--device", "--hwaddr", "--mac-address", "--macaddr", "--chaddr", "--device-mac", "--cm-mac"})),
    "an eMTA's MIB tree": ("--mib-tree", frozenset({"--tree", "--mib", "--mibtree", "--pktc-tree", "--mta-tree"})),
    "extra MIB modules": ("--mib-dir", frozenset({"--mibs", "--mibdir", "--mib-dirs", "--mib-path", "--mib-folder"})),
    "machine-readable output": ("--json", frozenset({
        "--as-json", "--output-json", "--json-output", "--machine", "--machine-readable", "--raw-json"})),
    "less output": ("--quiet", frozenset({"--silent", "--no-progress", "--no-output"})),
    "more output": ("--verbose", frozenset({"--debug", "--verbosity", "--loud"})),
    "how many devices": ("--count", frozenset({"--number", "--num", "--n", "--devices-count", "--how-many"})),
    "the server a client talks to": ("--server", frozenset({"--target", "--server-address", "--server-ip"})),
    "the one port a server listens on": ("--port", frozenset({"--listen-port", "--bind-port", "--server-port"})),
}
FORBIDDEN = {old: (concept, name) for concept, (name, olds) in VOCABULARY.items() for old in olds}
#: Commands whose examples run here as written: no server, no root, only the repo's files.
OFFLINE = {("compile",), ("decode",), ("validate",), ("dhcp", "option122"), ("dhcp", "decode"),
           ("firmware", "verify")}
#: Shell syntax an example may not use: each line is one invocation, run as written.
SHELL = {"|", "||", "&", "&&", ";", ">", ">>", "<", "2>"}


def walk(command: click.Command = main, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name="pktcable")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from walk(sub, (*path, name))


COMMANDS = list(walk())
IDS = [" ".join(("pktcable", *path)) for path, _ in COMMANDS]


def visible_options(command: click.Command) -> Iterator[click.Option]:
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            yield param


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="pktcable")
    assert result.exit_code == 0, result.output
    return result.output


def examples(path: tuple[str, ...]) -> list[list[str]]:
    """The invocations of the Examples block of a command's --help, as argument lists."""
    lines = help_text(path).splitlines()
    start = [i for i, line in enumerate(lines) if line.strip() == "Examples:"]
    assert len(start) == 1, f"pktcable {' '.join(path)} --help: one Examples: block, found {len(start)}"
    found = []
    for line in lines[start[0] + 1:]:
        if line and not line[0].isspace():  # the next section (Options:, Commands:)
            break
        if line.strip():
            found.append(shlex.split(line))
    return found


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_help_ends_with_examples(path: tuple[str, ...], command: click.Command) -> None:
    runs = examples(path)
    assert 2 <= len(runs) <= 4, f"pktcable {' '.join(path)}: 2-4 examples, found {len(runs)}"
    for args in runs:
        # One invocation per line: a missing \b would let click fold the lines into one paragraph.
        assert args[0] == "pktcable" and args.count("pktcable") == 1, args
        assert not SHELL & set(args), f"{args}: an example is one command, without shell syntax"
    # The block is the last of the description: only the invocations follow the heading.
    text = (command.help or "").rstrip()
    tail = text[text.rindex("Examples:") + len("Examples:"):]
    assert all(not line.strip() or line.strip() == "\b" or line.strip().startswith("pktcable ")
               for line in tail.splitlines()), f"pktcable {' '.join(path)}: text after the examples"


def resolve(args: list[str]) -> tuple[tuple[str, ...], click.Command, list[str]]:
    """The command an example invokes, and the arguments left for it."""
    path: tuple[str, ...] = ()
    command: click.Command = main
    rest = args[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"{shlex.join(args)}: no command {rest[0]!r}"
        path, command, rest = (*path, rest[0]), sub, rest[1:]
    return path, command, rest


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=IDS)
def test_examples_parse_without_deprecated_spellings(path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)  # the repo's files are named from its root
    for args in examples(path):
        _, command, rest = resolve(args)
        try:
            command.make_context(args[-1], rest)
        except click.BadParameter as exc:
            # A placeholder for the operator's own file or folder (/srv/tftp); any other mistake fails.
            assert "does not exist" in exc.format_message(), f"{shlex.join(args)}: {exc.format_message()}"
        except click.UsageError as exc:
            pytest.fail(f"{shlex.join(args)}: {exc.format_message()}")
        assert "deprecated" not in capsys.readouterr().err, f"{shlex.join(args)} uses an old spelling"


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=IDS)
def test_offline_examples_run(path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example that needs no server and no root runs as written, in order, in a fresh folder
    holding a copy of the repo's test data (an example that writes next to its input writes there)."""
    shutil.copytree(ROOT / "tests" / "data", tmp_path / "tests" / "data")
    monkeypatch.chdir(tmp_path)
    for args in examples(path):
        if resolve(args)[0] not in OFFLINE:
            continue
        result = CliRunner().invoke(main, args[1:], prog_name="pktcable")
        assert result.exit_code == 0, f"{shlex.join(args)}: exit {result.exit_code}\n{result.output}"
        assert "warning" not in result.stderr, f"{shlex.join(args)}: {result.stderr}"


def test_every_offline_command_has_a_running_example() -> None:
    shown = {resolve(args)[0] for path, _ in COMMANDS for args in examples(path)}
    assert OFFLINE <= shown, f"no example runs {OFFLINE - shown}"


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_one_name_per_concept(path: tuple[str, ...], command: click.Command) -> None:
    for option in visible_options(command):
        for name in (*option.opts, *option.secondary_opts):
            if name in FORBIDDEN:
                concept, canonical = FORBIDDEN[name]
                pytest.fail(f"pktcable {' '.join(path)} {name}: {concept} is {canonical} (docs/cli.md)")


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_every_option_has_help(path: tuple[str, ...], command: click.Command) -> None:
    for option in visible_options(command):
        assert option.help, f"pktcable {' '.join(path)} {option.opts[0]}: no help text"


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_old_spellings_are_hidden_and_point_to_a_shown_option(path: tuple[str, ...], command: click.Command) -> None:
    shown = {name for option in visible_options(command) for name in option.opts}
    for param in command.params:
        if isinstance(param, click.Option) and param.hidden:
            assert (param.help or "").startswith("Deprecated: use --"), f"{param.opts}: hidden but not deprecated"
            new = (param.help or "").split()[2]
            assert new in shown, f"{param.opts[0]} points to {new}, not an option of pktcable {' '.join(path)}"
    for old, new in getattr(command, "renamed", {}).items():
        assert old not in shown, f"{old} is both shown and an old spelling"
        assert new in shown, f"{old} -> {new}: no such option of pktcable {' '.join(path)}"


def test_short_flags_mean_one_thing() -> None:
    meaning: dict[str, set[str]] = {}
    for _, command in COMMANDS:
        for option in visible_options(command):
            longs = [n for n in option.opts if n.startswith("--")]
            for short in (n for n in option.opts if not n.startswith("--")):
                meaning.setdefault(short, set()).update(longs)
    assert {short: longs for short, longs in meaning.items() if len(longs) != 1} == {}


def test_docs_list_the_vocabulary_and_the_old_spellings() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    for concept, (name, _) in VOCABULARY.items():
        assert f"`{name}`" in text, f"docs/cli.md: {concept} ({name})"
    for _, command in COMMANDS:
        olds = [*getattr(command, "renamed", {}),
                *(p.opts[0] for p in command.params if isinstance(p, click.Option) and p.hidden)]
        for old in olds:
            assert f"`{old}`" in text, f"docs/cli.md: the old spelling {old}"


def test_docs_table_names_what_the_commands_take() -> None:
    """Each row of docs/cli.md's vocabulary: every command it names takes one of its options,
    and each of its options is taken by one of the commands it names."""
    import re

    by_name = {" ".join(("pktcable", *path)): command for path, command in COMMANDS}
    section = (ROOT / "docs" / "cli.md").read_text().split("## Vocabulary", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) >= len(VOCABULARY)
    for _, options_cell, commands_cell in rows:
        options = set(re.findall(r"`(-[^`]+)`", options_cell))
        commands = re.findall(r"`(pktcable[^`]*)`", commands_cell)
        assert options and commands, options_cell
        taken = {name: {n for o in visible_options(by_name[name]) for n in o.opts} & options for name in commands}
        assert all(taken.values()), f"docs/cli.md: {taken}"
        assert set().union(*taken.values()) == options, f"docs/cli.md: no command named takes {options}"


# The old spellings, one release long: they still work, and say what replaced them.

def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="pktcable")
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def parse(path: tuple[str, ...], args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, object], str]:
    _, command, _ = resolve(["pktcable", *path])
    ctx = command.make_context(path[-1], args)
    return ctx.params, capsys.readouterr().err


@pytest.mark.parametrize("path, old, new, key, value", [
    (("deliver",), "--bind", "--address", "address", "127.0.0.2"),
    (("dhcp", "serve"), "--listen", "--address", "address", "127.0.0.2"),
    (("reset",), "--address", "--device-address", "device_address", "127.0.0.2"),
    (("reset",), "--tree", "--mib-tree", "mib_tree", "ietf"),
])
def test_renamed_option_still_works_and_warns_once(path: tuple[str, ...], old: str, new: str, key: str, value: str,
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--root", str(tmp_path)] if path == ("deliver",) else []
    params, err = parse(path, [old, value, *extra], capsys)
    assert params[key] == value
    assert err == f"pktcable: warning: {old} is deprecated; use {new}\n"
    params, err = parse(path, [f"{old}={value}", old, value, *extra], capsys)
    assert params[key] == value and err.count("deprecated") == 1
    params, err = parse(path, [new, value, *extra], capsys)
    assert params[key] == value and err == ""
    assert old not in help_text(path)


def test_rename_stops_at_the_end_of_options() -> None:
    assert rename_deprecated(["--bind", "x", "--", "--bind"], {"--bind": "--address"}) == [
        "--address", "x", "--", "--bind"]
    assert rename_deprecated(["--binder", "--bind=y"], {"--bind": "--address"}) == ["--binder", "--address=y"]


def test_reset_takes_the_mac_as_an_operand_still(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run("reset", "00:11:22:33:44:zz", "--device-address", "127.0.0.1")
    assert code == 2 and "deprecated; use --mac" in err  # the operand was read as the MAC (and refused)
    code, _, err = run("reset", "0011223344aa", "--mac", "0011223344aa", "--device-address", "127.0.0.1")
    assert code == 2 and "give the MAC once" in err
    code, _, err = run("reset", "--device-address", "127.0.0.1")
    assert code == 2 and "--mac" in err
    assert "[MAC]" not in help_text(("reset",)) and "MAC" in help_text(("reset",))
    assert isinstance(resolve(["pktcable", "reset"])[1], Command)


def test_dhcp_serve_db_file_still_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params, err = parse(("dhcp", "serve"), ["--db", str(tmp_path / "leases.db")], capsys)
    assert params["db_file"] == str(tmp_path / "leases.db") and params["data_dir"] is None
    assert err.startswith("pktcable: warning: --db is deprecated; use --data-dir")
    config = tmp_path / "dhcpd.toml"
    config.write_text('[server]\nserver_id = "127.0.0.1"\n[[subnet]]\nnetwork = "127.0.0.0/8"\n')
    code, _, err = run("dhcp", "serve", "--config", str(config), "--db", "x.db", "--data-dir", str(tmp_path))
    assert code == 2 and "give one of them" in err


def test_dhcp_serve_data_dir_that_cannot_be_made(tmp_path: Path) -> None:
    config = tmp_path / "dhcpd.toml"
    config.write_text('[server]\nserver_id = "127.0.0.1"\n[[subnet]]\nnetwork = "127.0.0.0/8"\n')
    code, _, err = run("dhcp", "serve", "--config", str(config), "--address", "127.0.0.1", "--port", "0",
                       "--data-dir", str(config / "data"))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"pktcable: --data-dir {config / 'data'}: cannot create"), err


def test_simulate_json_prints_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--json prints on stdout the object --report writes (the devices' walk replaced by two results)."""
    import json

    from pktcable.simulate import runner
    from pktcable.simulate.emta import DeviceResult

    async def walked(*_: object) -> tuple[list[DeviceResult], float]:
        return [DeviceResult(0, "0011223344aa", "HYBRID.2", "OPERATIONAL", 1, [("MTA-1", "DISCOVER", 0.5)], [], 2.0, 1),
                DeviceResult(1, "0011223344ab", "HYBRID.2", "MTA_15_WAIT", None, [], [], 9.0, 0)], 2.5

    monkeypatch.setattr(runner, "simulate", walked)
    report = tmp_path / "report.json"
    code, out, _ = run("simulate", "--server", "127.0.0.1", "--flow", "hybrid.2", "--count", "2", "--quiet", "--json",
                       "--report", str(report))
    assert code == 1  # one device failed
    assert json.loads(out) == json.loads(report.read_text())
    assert json.loads(out)["flow"] == "HYBRID.2" and json.loads(out)["passed"] == 1
    code, out, _ = run("simulate", "--server", "127.0.0.1", "--flow", "hybrid.2", "--count", "2", "--quiet")
    assert code == 1 and not out.lstrip().startswith("{")
