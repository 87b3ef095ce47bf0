"""Compile speed: pktcable against the C ``docsis`` compiler, measured in one run.

Usage: python bench/bench_compile.py [--runs 3] [--files 1000] [--docsis PATH] [--mib-dirs DIRS]
       [--profile] [--tmp DIR]

Cases, each tool in fresh processes, 1 warm-up + ``--runs`` runs, median:

* 1,000 distinct MTA files (a per-device call agent, realm and line status) in
  one process: ``docsis -na -m -p FILES .bin`` against ``pktcable compile
  FILES --hash cablelabs --out-dir DIR``;
* 1,000 distinct CM files (per-device rates and SNMP community) in one
  process: ``docsis -m FILES key .bin`` against ``pktcable compile FILES --key
  key --out-dir DIR``;
* one file, cold: ``docsis -e cm.txt key cm.bin`` / ``docsis -na -p mta.txt
  mta.bin`` against ``pktcable compile``: ``python -m pktcable`` on this
  checkout with the modules' byte code cached, and on a fresh copy of the
  sources with none (PYTHONDONTWRITEBYTECODE=1); then the ``pktcable``
  command of an installed copy, as a user runs it: a new virtual environment
  of this interpreter with the packages in its site-packages and the console
  script setup.cfg declares, with byte code (what ``pip install`` leaves) and
  without (``pip install --no-compile``, PYTHONDONTWRITEBYTECODE=1). The
  interpreter running this script may have start-up costs of its own (an
  editable install's import hook, other packages' .pth files) that the
  checkout cases pay and the installed ones do not.

CPU is user + system time of the child (``getrusage(RUSAGE_CHILDREN)``); the
ratio is pktcable's CPU over docsis's CPU in the same run. Every run writes into
a new empty folder (docsis writes next to its inputs, so each of its runs gets
a fresh copy of them, made before the clock starts). All outputs of the two
tools are compared byte for byte; a difference fails the run.

docsis: ``--docsis PATH`` or ``docsis`` on PATH, with its MIB folders from
``--mib-dirs`` or MIBDIRS (it needs the DOCSIS and PacketCable MIBs to resolve
names). Without it only pktcable's figures are printed. ``--profile`` adds a
cProfile summary of the distinct-MTA batch compiled in this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / "tests" / "data" / "docsis-compat" / "key"
PACKAGES = ("pktcable", "tlv", "mibs", "dhcp")
# Measure what an installed copy does: byte-compiled modules are cached.
# This checkout's modules, whatever copy of pktcable the interpreter has installed.
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT)}

# Per-device MTA file: NCS lines, call agent, Kerberos realm, one line enabled or not.
MTA_TEMPLATE = """\
/* PacketCable 1.5 NCS eMTA, device {n} */
Main
{{
\tMtaConfigDelimiter 1;
\tSnmpMibObject pktcMtaDevEnabled.0 Integer 1;
\tSnmpMibObject pktcSigDefCallSigTos.0 Integer 40;
\tSnmpMibObject pktcSigDefMediaStreamTos.0 Integer 46;
\tSnmpMibObject pktcNcsEndPntConfigCallAgentId.9 String "ca{n}@cms1.example.net";
\tSnmpMibObject pktcNcsEndPntConfigCallAgentUdpPort.9 Integer 2727;
\tSnmpMibObject pktcNcsEndPntConfigCallAgentId.10 String "ca{n}@cms1.example.net";
\tSnmpMibObject pktcNcsEndPntConfigCallAgentUdpPort.10 Integer 2727;
\tSnmpMibObject ifAdminStatus.9 Integer 1;
\tSnmpMibObject ifAdminStatus.10 Integer {line2};
\tSnmpMibObject pktcMtaDevRealmOrgName.'BASIC.1' String "Example Cable {region}";
\tSnmpMibObject pktcSigDevRgCadence.0 HexString 0x003ff00000000000;
\tMtaConfigDelimiter 255;
}}
"""

# Per-device CM file: a service tier's rates and the device's SNMP community.
CM_TEMPLATE = """\
/* DOCSIS 1.1+ residential tier, device {n} */
Main
{{
\tNetworkAccess 1;
\tMaxCPE {cpe};
\tGlobalPrivacyEnable 1;
\tBaselinePrivacy
\t{{
\t\tAuthTimeout 10;
\t\tReAuthTimeout 10;
\t\tAuthGraceTime 600;
\t\tOperTimeout 1;
\t\tReKeyTimeout 1;
\t\tTEKGraceTime 600;
\t\tAuthRejectTimeout 60;
\t}}
\tUsServiceFlow
\t{{
\t\tUsServiceFlowRef 1;
\t\tQosParamSetType 7;
\t\tTrafficPriority 2;
\t\tMaxRateSustained {up};
\t\tMaxTrafficBurst 1522;
\t\tSchedulingType 2;
\t}}
\tDsServiceFlow
\t{{
\t\tDsServiceFlowRef 2;
\t\tQosParamSetType 7;
\t\tTrafficPriority 2;
\t\tMaxRateSustained {down};
\t}}
\tMaxClassifiers 16;
\tSwUpgradeServer 10.1.1.1;
\tSwUpgradeFilename "vendor-fw-2.4.1.bin";
\tSnmpMibObject sysContact.0 String "noc@example.net";
\tSnmpMibObject docsDevNmAccessIp.1 IPAddress 10.1.1.0;
\tSnmpMibObject docsDevNmAccessIpMask.1 IPAddress 255.255.255.0;
\tSnmpMibObject docsDevNmAccessCommunity.1 String "c{n:04x}";
\tSnmpMibObject docsDevNmAccessControl.1 Integer 3;
\tSnmpMibObject docsDevNmAccessStatus.1 Integer 4;
}}
"""


def mta_text(n: int) -> str:
    return MTA_TEMPLATE.format(n=n, line2=1 + n % 2, region=n % 7)


def cm_text(n: int) -> str:
    return CM_TEMPLATE.format(n=n, cpe=1 + n % 8, up=1_000_000 * (1 + n % 20) + n, down=10_000_000 * (1 + n % 30) + n)


class Timing(NamedTuple):
    wall: float
    user: float
    sys: float

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    def __str__(self) -> str:
        return f"{self.cpu:.3f} s CPU ({self.user:.3f} user + {self.sys:.3f} sys), {self.wall:.3f} s wall"


def run_once(cmd: list[str], cwd: Path, env: dict[str, str]) -> Timing:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd[:6])} ...\n{done.stderr.decode(errors='replace')[:2000]}")
    return Timing(wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime)


def median(samples: list[Timing]) -> Timing:
    return Timing(*(statistics.median(getattr(s, f) for s in samples) for f in Timing._fields))


class Result(NamedTuple):
    """A case's median, and its runs (in the order they ran)."""

    median: Timing
    runs: list[Timing]

    def __str__(self) -> str:
        return str(self.median)


def interleaved(cases: dict[str, Callable[[int], Timing]], runs: int) -> dict[str, Result]:
    """Run the cases in turn (A B A B ...), one warm-up each, so a slow phase of
    the machine falls on both tools alike; the median of each."""
    samples: dict[str, list[Timing]] = {name: [] for name in cases}
    for i in range(runs + 1):
        for name, case in cases.items():
            t = case(i)
            if i:
                samples[name].append(t)
    return {name: Result(median(s), s) for name, s in samples.items()}


class Setup(NamedTuple):
    tmp: Path
    docsis: str | None
    docsis_env: dict[str, str]


def batch(setup: Setup, kind: str, texts: list[str], runs: int) -> dict[str, Result]:
    src = setup.tmp / f"{kind}-in"
    src.mkdir()
    names = [f"{kind}{i:04d}.txt" for i in range(len(texts))]
    for name, text in zip(names, texts, strict=True):
        (src / name).write_text(text)
    out = {"docsis": setup.tmp / f"{kind}-docsis", "pktcable": setup.tmp / f"{kind}-pktcable"}
    hash_args = ["--hash", "cablelabs"] if kind == "mta" else ["--key", str(KEY)]

    def ours(i: int) -> Timing:
        run = out["pktcable"] / f"run{i}"
        cmd = [sys.executable, "-m", "pktcable", "compile", *names, *hash_args, "--out-dir", str(run)]
        return run_once(cmd, src, ENV)

    def theirs(i: int) -> Timing:
        run = out["docsis"] / f"run{i}"
        shutil.copytree(src, run)
        assert setup.docsis is not None
        mode = ["-na", "-m", "-p", *names, ".bin"] if kind == "mta" else ["-m", *names, str(KEY), ".bin"]
        return run_once([setup.docsis, *mode], run, setup.docsis_env)

    cases: dict[str, Callable[[int], Timing]] = {"pktcable": ours}
    if setup.docsis:
        cases["docsis"] = theirs
    result = interleaved(cases, runs)
    if setup.docsis:
        compare(out["pktcable"] / f"run{runs}", out["docsis"] / f"run{runs}", [n[:-4] + ".bin" for n in names])
    return result


def compare(ours: Path, theirs: Path, names: list[str]) -> None:
    differ = [n for n in names if (ours / n).read_bytes() != (theirs / n).read_bytes()]
    if differ:
        sys.exit(f"outputs differ from docsis's for {len(differ)} of {len(names)} files, e.g. {differ[0]}")
    print(f"  outputs: all {len(names)} files byte-identical with docsis's")


def installed(tmp: Path, compiled: bool) -> tuple[str, dict[str, str]]:
    """The ``pktcable`` command of a new virtual environment holding the
    packages as ``pip install`` (``--no-compile`` unless ``compiled``) lays
    them out, and the environment to run it in."""
    import configparser

    venv = tmp / ("venv-pyc" if compiled else "venv-src")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, Path(site) / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    if compiled:
        subprocess.run([python, "-m", "compileall", "-q", site], check=True, stdout=subprocess.DEVNULL)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The console script pip writes for setup.cfg's entry point.
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    entries = dict(line.split(" = ") for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines())
    module, func = entries["pktcable"].split(":")
    script = venv / "bin" / "pktcable"
    script.write_text(f"#!{python}\nimport re\nimport sys\nfrom {module} import {func}\nif __name__ == '__main__':\n"
                      f"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit({func}())\n")
    script.chmod(0o755)
    where = subprocess.run([python, "-c", "import pktcable; print(pktcable.__file__)"], env=env, cwd=tmp,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(site), where  # the installed copy, not the checkout
    return str(script), env


def cold(setup: Setup, runs: int) -> dict[str, dict[str, Result]]:
    """One file per process, with and without cached byte code."""
    fresh = setup.tmp / "fresh"
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, fresh / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    command, with_pyc = installed(setup.tmp, compiled=True)
    command_src, without_pyc = installed(setup.tmp, compiled=False)
    no_pyc = {**ENV, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(fresh)}
    work = setup.tmp / "cold"
    work.mkdir()
    where = subprocess.run([sys.executable, "-c", "import pktcable, tlv; print(pktcable.__file__, tlv.__file__)"],
                           env=no_pyc, cwd=work, capture_output=True, text=True, check=True).stdout.split()
    assert all(w.startswith(str(fresh)) for w in where), where  # the copy, not the checkout
    (work / "mta.txt").write_text(mta_text(1))
    (work / "cm.txt").write_text(cm_text(1))
    out: dict[str, dict[str, Result]] = {}
    for kind, ours_args, theirs_args in (
        ("mta", ["mta.txt", "--hash", "cablelabs", "-o", "mta.bin"], ["-na", "-p", "mta.txt", "mta.d.bin"]),
        ("cm", ["cm.txt", "--key", str(KEY), "-o", "cm.bin"], ["-e", "cm.txt", str(KEY), "cm.d.bin"]),
    ):
        cmd = [sys.executable, "-m", "pktcable", "compile", *ours_args]
        cases: dict[str, Callable[[int], Timing]] = {
            "pktcable": lambda i, cmd=cmd: run_once(cmd, work, ENV),
            "pktcable, no byte code": lambda i, cmd=cmd: run_once(cmd, work, no_pyc),
            "installed": lambda i, a=[command, "compile", *ours_args]: run_once(a, work, with_pyc),
            "installed, no byte code": lambda i, a=[command_src, "compile", *ours_args]: run_once(a, work, without_pyc),
        }
        if setup.docsis:
            cases["docsis"] = lambda i, a=[setup.docsis, *theirs_args]: run_once(a, work, setup.docsis_env)
        out[kind] = interleaved(cases, runs)
        if setup.docsis and (work / f"{kind}.bin").read_bytes() != (work / f"{kind}.d.bin").read_bytes():
            sys.exit(f"cold {kind}: output differs from docsis's")
    bare = [sys.executable, "-c", "pass"]
    venv_bare = [str(Path(command).parent / "python"), "-c", "pass"]
    out["bare"] = interleaved({"interpreter": lambda i: run_once(bare, work, ENV),
                               "installed's interpreter": lambda i: run_once(venv_bare, work, with_pyc)}, runs)
    return out


def ratio(ours: Result, theirs: Result | None) -> str:
    """Ratio of the medians, and the median of the ratios of runs made side by
    side (each run of ours right after one of docsis's: less exposed to the
    load of a shared machine changing between runs)."""
    if theirs is None:
        return ""
    pairs = statistics.median(a.cpu / b.cpu for a, b in zip(ours.runs, theirs.runs, strict=True))
    # User time alone: the system time of a batch is mostly the file system creating 1,000 files.
    user = ours.median.user / theirs.median.user
    return f"  {ours.median.cpu / theirs.median.cpu:.2f}x docsis's CPU (run by run: {pairs:.2f}x; user time {user:.2f}x)"


def profile(texts: list[str]) -> None:
    import cProfile
    import pstats

    from pktcable.mibctx import MibContext
    from tlv.config import compile_text

    ctx = MibContext()
    memo: dict = {}  # type: ignore[type-arg]
    prof = cProfile.Profile()
    prof.enable()
    for i, text in enumerate(texts):
        compile_text(text, source=f"mta{i:04d}.txt", ctx=ctx, hash="cablelabs", memo=memo)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--docsis", help="the docsis binary (default: docsis on PATH)")
    ap.add_argument("--mib-dirs", help="docsis's MIB folders, colon-separated (default: $MIBDIRS)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--tmp", help="folder for the inputs and outputs (default: the system's temporary folder); "
                                  "e.g. a tmpfs to take the disk's file creation out of the system time")
    args = ap.parse_args()
    docsis = args.docsis or shutil.which("docsis")
    mib_dirs = args.mib_dirs or os.environ.get("MIBDIRS")
    if docsis and not mib_dirs:
        print("docsis found but no --mib-dirs/MIBDIRS: it cannot resolve DOCSIS names; skipping it")
        docsis = None
    if not docsis:
        print("no docsis (--docsis PATH or on PATH): pktcable figures only, no ratios")
    docsis_env = {**os.environ, "MIBDIRS": mib_dirs or ""}
    mta = [mta_text(n) for n in range(args.files)]
    cm = [cm_text(n) for n in range(args.files)]
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        setup = Setup(Path(tmp), docsis, docsis_env)
        print(f"{args.files} distinct MTA files, one process (--hash cablelabs / -na):")
        res = batch(setup, "mta", mta, args.runs)
        for name, t in res.items():
            print(f"  {name:8} {t}{ratio(t, res.get('docsis')) if name == 'pktcable' else ''}")
        print(f"{args.files} distinct CM files, one process:")
        res = batch(setup, "cm", cm, args.runs)
        for name, t in res.items():
            print(f"  {name:8} {t}{ratio(t, res.get('docsis')) if name == 'pktcable' else ''}")
        for kind, res in cold(setup, args.runs).items():
            print(f"one {kind.upper()} file, cold:" if kind != "bare" else "interpreter start alone:")
            for name, t in res.items():
                r = ratio(t, res.get("docsis")) if name != "docsis" else ""
                print(f"  {name:24} {t}{r}")
    if args.profile:
        profile(mta)


if __name__ == "__main__":
    main()
