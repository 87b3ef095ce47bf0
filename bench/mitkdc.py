"""MIT krb5kdc for a bench: a realm for a lab PKI, made and run in a temporary folder.

The bench's own copy of the setup the interop tests use (docs/secure.md "MIT
Kerberos as a peer"): ``kdc.conf`` and ``krb5.conf`` written in the folder and
named by ``KRB5_KDC_PROFILE``/``KRB5_CONFIG`` (nothing under /etc is read or
written), a database from ``kdb5_util create -s``, principals from one
``kadmin.local`` session, and ``krb5kdc -n`` (in the foreground, one process) on a
free loopback port. Device principals are keyless, require pre-authentication and
are mapped from the certificate's subject (``pkinit_cert_match``): the lab's device
certificates carry no id-pkinit-san, as PacketCable's do not.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pktcable.secure import pki
from pktcable.secure.labdir import LabPki

TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local")
#: Seconds for the KDC to come up and for one admin command, on a loaded machine.
BUDGET = 60.0
#: The lab database's master password: it guards nothing (the folder is deleted after the bench).
MASTER_PASSWORD = "pktcable-bench-master"


@dataclass
class MitKdc:
    folder: Path
    realm: str
    port: int
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        path = self.folder / "kdc.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"


def missing() -> str | None:
    """What is missing to run MIT's KDC with PKINIT here, or None."""
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"not installed: {', '.join(absent)} (Debian: krb5-kdc, krb5-admin-server)"
    plugin = "krb5/plugins/preauth/pkinit.so"
    if not (Path("/usr/lib", plugin).exists() or list(Path("/usr/lib").glob(f"*/{plugin}"))):
        return "MIT's PKINIT plugin pkinit.so is not installed (Debian: krb5-pkinit)"
    return None


def free_port() -> int:
    """A port free for both UDP and TCP on loopback (the KDC listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def _env(folder: Path) -> dict[str, str]:
    return {**os.environ, "KRB5_CONFIG": str(folder / "krb5.conf"), "KRB5_KDC_PROFILE": str(folder / "kdc.conf"),
            "KRB5CCNAME": "FILE:/dev/null", "KRB5RCACHEDIR": str(folder)}


def _kdc_conf(folder: Path, lab: LabPki, port: int) -> str:
    d = lab.folder
    return "\n".join([
        "[kdcdefaults]", f" kdc_listen = 127.0.0.1:{port}", f" kdc_tcp_listen = 127.0.0.1:{port}",
        "[realms]", f" {lab.settings.realm} = {{",
        f"  database_name = {folder / 'db' / 'principal'}",
        f"  key_stash_file = {folder / 'db' / 'stash'}",
        f"  acl_file = {folder / 'kadm5.acl'}",
        f"  pkinit_identity = FILE:{d / 'kdc.pem'},{d / 'kdc.key'}",
        f"  pkinit_anchors = FILE:{d / 'mta-root.pem'}",
        f"  pkinit_pool = FILE:{d / 'mta-manufacturer.pem'}",
        "  pkinit_allow_upn = false",
        " }",
        "[logging]", f" kdc = FILE:{folder / 'kdc.log'}", ""])


def _admin(folder: Path, realm: str, commands: Iterable[str]) -> None:
    """``kadmin.local`` commands in one session (no kadmind, no ACLs). kadmin.local exits 0
    even when a command fails; it says "<command>: <error> while <doing what>"."""
    done = subprocess.run(["kadmin.local", "-r", realm], input="\n".join([*commands, "quit", ""]), env=_env(folder),
                          capture_output=True, text=True, timeout=BUDGET, check=False)
    if done.returncode != 0 or re.search(r"^[a-z_]+: .* while ", done.stderr, re.MULTILINE):
        raise RuntimeError(f"kadmin.local: {done.stdout}{done.stderr}")


@contextmanager
def mit_kdc(folder: Path, lab: LabPki, devices: Iterable[bytes], services: Iterable[str] = ()) -> Iterator[MitKdc]:
    """``krb5kdc`` for the lab's realm with a principal for each device MAC (the MAC as
    12 hex digits, mapped from the CN) and a random key for each service principal
    (``name/host``); stopped on exit."""
    problem = missing()
    if problem:
        raise RuntimeError(problem)
    realm = lab.settings.realm
    (folder / "db").mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "kdc.conf").write_text(_kdc_conf(folder, lab, port))
    # The KDC reads krb5.conf too: with the SP Root and the SP CA of its realm there it can build
    # its own certificate's chain, which it must before it signs a reply (as tests/krbpeers.py).
    (folder / "krb5.conf").write_text("\n".join([
        "[libdefaults]", f" default_realm = {realm}", "[realms]", f" {realm} = {{",
        f"  pkinit_anchors = FILE:{lab.folder / 'sp-root.pem'}", f"  pkinit_pool = FILE:{lab.folder / 'sp-ca.pem'}",
        " }", ""]))
    (folder / "kadm5.acl").write_text("")
    made = subprocess.run(["kdb5_util", "create", "-s", "-r", realm, "-P", MASTER_PASSWORD], env=_env(folder),
                          capture_output=True, text=True, timeout=BUDGET, check=False)
    if made.returncode != 0:
        raise RuntimeError(f"kdb5_util create: {made.stdout}{made.stderr}")
    commands = [f"addprinc -randkey {service}" for service in services]
    for mac in devices:
        commands += [f"addprinc -nokey +requires_preauth {mac.hex()}",
                     f'set_string {mac.hex()} pkinit_cert_match "<SUBJECT>,CN={pki.mac_text(mac)}$"']
    _admin(folder, realm, commands)
    process = subprocess.Popen(["krb5kdc", "-n", "-r", realm, "-P", str(folder / "kdc.pid")], env=_env(folder),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    kdc = MitKdc(folder, realm, port, process)
    try:
        deadline = time.monotonic() + BUDGET
        while "commencing operation" not in kdc.log():  # logged once its sockets are bound
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"krb5kdc did not start ({process.poll()}):\n{kdc.log()}")
            time.sleep(0.1)
        yield kdc
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)
