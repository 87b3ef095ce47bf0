"""Cold start of ``python -m pktcable compile``: what it skips, and that skipping changes nothing.

The compile command runs without click when its options are plain
(pktcable.compiling.fast_main) and reads the generated MIB tables as text
instead of compiling their modules (pktcable.mibdata reads them for
mibs.registry.tables_from_text). Each test
checks the short path against the long one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import COMPAT

ROOT = Path(__file__).resolve().parent.parent
KEY = str(COMPAT / "key")


def run(args: list[str], cwd: Path, show_imports: bool = False) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import runpy, sys; sys.argv = ['pktcable', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('pktcable', run_name='__main__')\n"
            "finally:\n    print(' '.join(sorted(sys.modules)), file=sys.stderr)\n") if show_imports else None
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "pktcable", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=60)


def test_generated_tables_read_as_text_are_the_modules_tables() -> None:
    import mibs._data as module
    from mibs.registry import DATA_TABLES, tables_from_text
    from pktcable.mibdata import read_generated

    tables = tables_from_text({file: read_generated(file) for file in DATA_TABLES})
    for names in DATA_TABLES.values():
        for name in names:
            assert getattr(tables, name) == getattr(module, name), name


@pytest.mark.parametrize("damage", [
    lambda text: text.replace(b'\nOIDS = """\\\n', b'\nOIDS = (\n'),  # not the generator's layout
    lambda text: text.replace(b"ifAdminStatus", b"ifAdmin\\Status"),  # a backslash in a table
    lambda text: text + b"\xff",  # not ASCII
])
def test_tables_from_text_refuses_what_it_cannot_cut_exactly(damage: Callable[[bytes], bytes]) -> None:
    from mibs.registry import DATA_TABLES, tables_from_text
    from pktcable.mibdata import read_generated

    sources = {file: read_generated(file) for file in DATA_TABLES}
    damaged = 0
    for file in DATA_TABLES:
        broken = {**sources, file: damage(sources[file])}
        if broken[file] != sources[file]:
            damaged += 1
            with pytest.raises(ValueError):
                tables_from_text(broken)
    assert damaged


@pytest.mark.parametrize("read", ["raise OSError(name)", "return b'junk'"])
def test_registry_imports_the_modules_when_the_text_cannot_be_had(read: str) -> None:
    """The same registry from the imported modules (only slower without byte code)."""
    code = ("import sys, mibs.registry as r\n"
            f"def read(name):\n    {read}\n"
            "reg = r.default_registry(read)\n"
            "assert 'mibs._data' in sys.modules\n"
            "print(reg.resolve('ifAdminStatus.9'), reg.format((1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 9)))\n")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 9) ifAdminStatus.9"


def test_compile_needs_neither_click_nor_the_data_modules(tmp_path: Path) -> None:
    done = run(["compile", str(COMPAT / "cm_basic.txt"), "--key", KEY, "-o", "cm.bin"], tmp_path, show_imports=True)
    assert done.returncode == 0, done.stderr
    modules = done.stderr.decode().split()
    assert "click" not in modules and "mibs._data" not in modules and "pktcable.cli" not in modules
    assert "typing" not in modules
    assert "mibs.registry" in modules  # names were resolved
    assert (tmp_path / "cm.bin").read_bytes() == (COMPAT / "cm_basic.bin").read_bytes()


def test_mta_compile_imports_no_block_tables_nor_dataclasses(tmp_path: Path) -> None:
    """An MTA file (SNMP objects only) reads none of the block schema modules,
    and the compile path has neither dataclasses nor typing (all cost without byte code)."""
    (tmp_path / "mta.txt").write_text("Main\n{\n\tMtaConfigDelimiter 1;\n"
                                      "\tSnmpMibObject pktcMtaDevEnabled.0 Integer 1;\n"
                                      "\tSnmpMibObject ifAdminStatus.9 Integer 2;\n\tMtaConfigDelimiter 255;\n}\n")
    done = run(["compile", "mta.txt", "--hash", "cablelabs", "-o", "mta.bin"], tmp_path, show_imports=True)
    assert done.returncode == 0, done.stderr
    modules = set(done.stderr.decode().split())
    assert "tlv.schema.config" in modules and "dataclasses" not in modules
    assert "typing" not in modules  # annotations only: each module guards it with TYPE_CHECKING
    assert not modules & {f"tlv.schema.{m}" for m in ("classifier", "management", "serviceflow", "vendor")}
    # The decoding half, OID formatting, the rare statements (GenericTLV, files).
    assert not modules & {"tlv.configfile", "tlv.bindecode", "tlv.formatter", "mibs.textual", "tlv.textspecial"}
    # The same bytes as with every table loaded.
    from pktcable.mibctx import MibContext
    from tlv.config import compile_text
    from tlv.schema import ALL_TABLES  # noqa: F401  (loads them all in this process)

    text = (tmp_path / "mta.txt").read_text()
    assert (tmp_path / "mta.bin").read_bytes() == compile_text(text, ctx=MibContext(), hash="cablelabs")


@pytest.mark.parametrize("args", [
    ["mta_vendor.txt", "--hash", "cablelabs", "-o", "OUT"],
    ["mta_vendor.txt", "--hash=euro", "--output=OUT"],
    ["--lenient", "mta_ncs.txt", "--out-dir", "DIR", "mta_vendor.txt", "--minimal-ber"],
    ["cm_basic.txt", "cm_classifiers.txt", "--key", KEY, "--out-dir=DIR"],
    ["mta_ncs.txt", "-o", "OUT"],  # a MIB constraint broken: exit 4
    ["cm_basic.txt", "-o", "OUT"],  # no key: exit 4
    ["missing.txt", "-o", "OUT"],  # exit 6
    ["cm_basic.txt", "cm_classifiers.txt", "-o", "OUT", "--key", KEY],  # -o with two inputs: exit 2
    ["mta_vendor.txt", "--hash", "md5", "-o", "OUT"],  # not a choice: click's message
    ["mta_vendor.txt", "-oOUT"],  # attached short value: click reads it
    ["mta_vendor.txt", "--bogus"],
    [],
])
def test_fast_path_and_click_agree(tmp_path: Path, args: list[str]) -> None:
    """The same outputs, messages and statuses through fast_main and through click."""
    outcomes = []
    for way in ("fast", "click"):
        work = tmp_path / way
        work.mkdir()
        for p in COMPAT.glob("*.txt"):
            (work / p.name).write_bytes(p.read_bytes())
        real = [a.replace("OUT", str(work / "out.bin")).replace("DIR", str(work / "dir")) for a in args]
        if way == "fast":
            done = run(["compile", *real], work)
        else:
            from click.testing import CliRunner

            from pktcable.cli import main

            cwd = os.getcwd()
            os.chdir(work)
            try:
                result = CliRunner().invoke(main, ["compile", *real], prog_name="python -m pktcable")
            finally:
                os.chdir(cwd)
            done = subprocess.CompletedProcess([], result.exit_code, result.stdout_bytes, result.stderr_bytes)
        files = {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*.bin"))}
        err = done.stderr.decode().replace(str(work), "WORK")
        outcomes.append((done.returncode, done.stdout, err, files))
    assert outcomes[0] == outcomes[1]


def test_help_goes_to_click(tmp_path: Path) -> None:
    done = run(["compile", "--help"], tmp_path)
    assert done.returncode == 0 and b"--out-dir" in done.stdout and b"Examples:" in done.stdout


def test_output_names_are_pathlibs() -> None:
    """The batch's pathlib-free output names are what pathlib makes of them."""
    import random

    from pktcable.compiling import output_name

    def by_pathlib(name: str, out_dir: str | None) -> str:
        stem = Path(name).with_suffix(".bin").name
        return str(Path(out_dir) / stem) if out_dir else str(Path(name).with_suffix(".bin"))

    parts = ["a", ".", "..", "/", "b.txt", "x.", ".h", "c.d.e", "//", "dir/", "é"]
    dirs = [None, "out", "/", "o/p", "./o", "o/", ".", "/abs/x", "a/.", "..", "../x"]
    rng = random.Random(11)
    for _ in range(20000):
        name = "".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
        out_dir = rng.choice(dirs)
        try:
            want = by_pathlib(name, out_dir)
        except ValueError:
            with pytest.raises(ValueError):
                output_name(name, None, out_dir)
            continue
        assert output_name(name, None, out_dir) == want, (name, out_dir)


def console_script(tmp_path: Path) -> Path:
    """The ``pktcable`` script as pip writes it for setup.cfg's console_scripts entry."""
    import configparser

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    entries = dict(line.split(" = ") for line in setup["options.entry_points"]["console_scripts"].strip().splitlines())
    module, func = entries["pktcable"].split(":")
    script = tmp_path / "bin" / "pktcable"
    script.parent.mkdir()
    script.write_text(f"import re\nimport sys\nfrom {module} import {func}\nif __name__ == '__main__':\n"
                      f"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit({func}())\n")
    return script


def test_installed_command_compiles_without_click(tmp_path: Path) -> None:
    """``pktcable compile`` (the installed console script) takes the same fast
    path as ``python -m pktcable compile``; other commands and help reach click."""
    script = console_script(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import runpy, sys\nsys.argv = sys.argv[1:]\ntry:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "finally:\n    print(' '.join(sorted(sys.modules)), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, str(script), "compile", str(COMPAT / "cm_basic.txt"),
                           "--key", KEY, "-o", "cm.bin"], cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    modules = done.stderr.decode().split()
    assert "click" not in modules and "pktcable.cli" not in modules
    assert (tmp_path / "cm.bin").read_bytes() == (COMPAT / "cm_basic.bin").read_bytes()
    helped = subprocess.run([sys.executable, str(script), "compile", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, timeout=60)
    assert helped.returncode == 0 and b"Usage: pktcable compile" in helped.stdout
    typo = subprocess.run([sys.executable, str(script), "compil", "x.txt"], cwd=tmp_path, env=env,
                          capture_output=True, timeout=60)
    assert typo.returncode == 2 and b"No such command" in typo.stderr
