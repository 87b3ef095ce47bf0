"""MIT Kerberos as a test peer: ``krb5kdc`` with the PKINIT plugin, configured with a
lab PKI from :mod:`pktcable.secure.labdir`, and ``kinit`` as a PKINIT client.

Everything lives in one temporary folder and nothing touches /etc: the KDC reads
its own ``kdc.conf`` (``KRB5_KDC_PROFILE``) and both programs a ``krb5.conf``
(``KRB5_CONFIG``) written here; the database is made with ``kdb5_util create
-s`` in the folder, the KDC listens on a free loopback port for UDP and TCP, and
logs to a file that a failing test prints. Device principals have no key (they
only ever authenticate with PKINIT) and are mapped from the device certificate's
subject with the ``pkinit_cert_match`` string attribute: PacketCable device
certificates name the MAC in their CN and carry no ``id-pkinit-san``.

``python -m tests.krbpeers OUTDIR`` captures the golden vectors of
tests/data/kerberos (see its README.md).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pktcable.secure import pki
from pktcable.secure.labdir import LabPki

from .peers import CI, require
from .ports import free_port

#: The Debian packages: krb5-kdc (krb5kdc, kdb5_util), krb5-admin-server (kadmin.local),
#: krb5-pkinit (the plugin both sides load), krb5-user (kinit, klist).
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist")
#: Seconds for the KDC to come up, and for one kinit, on a loaded 2-core machine.
START_BUDGET = 60.0
KINIT_BUDGET = 60.0
#: A lab database's master password: it guards nothing (the folder is deleted after the test).
MASTER_PASSWORD = "pktcable-lab-master"


def require_mit() -> None:
    """Skip (fail under CI=true) unless the MIT tools and the PKINIT plugin are installed."""
    require(*TOOLS)
    plugin = "krb5/plugins/preauth/pkinit.so"  # under /usr/lib/<multiarch triplet>/ on Debian
    if not (Path("/usr/lib", plugin).exists() or list(Path("/usr/lib").glob(f"*/{plugin}"))):
        message = "missing: MIT's PKINIT plugin pkinit.so (Debian package krb5-pkinit: see .ci/run)"
        if CI:
            pytest.fail(message + "; CI=true: the CI script must install it")
        pytest.skip(message)


def principal_for(mac: bytes) -> str:
    """The lab's device principal: the MAC as 12 lower-case hex digits (a lab choice,
    docs/secure.md "MIT Kerberos as a peer")."""
    return mac.hex()


def cert_match(mac: bytes) -> str:
    """The ``pkinit_cert_match`` rule for a device: its CN is the MAC (pki.mac_text).

    MIT matches ``<SUBJECT>`` as a regular expression against the subject printed
    with commas in certificate order (``C=US,O=...,OU=eMTA,CN=00:10:18:0A:0B:0C``,
    seen in tests/test_krb_mit.py), so the CN anchors at the end."""
    return f"<SUBJECT>,CN={pki.mac_text(mac)}$"


@dataclass
class Kinit:
    """One kinit run: its exit status, its output (with KRB5_TRACE) and the cache."""

    returncode: int
    output: str
    ccache: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class MitKdc:
    folder: Path
    lab: LabPki
    port: int
    process: subprocess.Popen[str] | None = None
    _runs: int = field(default=0)

    @property
    def realm(self) -> str:
        return self.lab.settings.realm

    @property
    def log_path(self) -> Path:
        return self.folder / "kdc.log"

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        out = (self.folder / "krb5kdc.out")
        return text + (out.read_text(errors="replace") if out.exists() else "")

    def env(self, client_conf: Path | None = None) -> dict[str, str]:
        return {**os.environ, "KRB5_CONFIG": str(client_conf or self.folder / "krb5.conf"),
                "KRB5_KDC_PROFILE": str(self.folder / "kdc.conf"), "KRB5CCNAME": "FILE:/dev/null",
                "KRB5RCACHEDIR": str(self.folder)}

    def admin(self, query: str) -> str:
        """One ``kadmin.local`` command against the lab database (no kadmind, no ACLs)."""
        done = subprocess.run(["kadmin.local", "-r", self.realm, "-q", query], env=self.env(),
                              capture_output=True, text=True, timeout=KINIT_BUDGET, check=False)
        # kadmin.local exits 0 even when the query fails; it says "<command>: <error> while
        # <doing what>" on stderr (besides notes such as "No policy specified ...").
        if done.returncode != 0 or re.search(r"^[a-z_]+: .* while ", done.stderr, re.MULTILINE):
            raise AssertionError(f"kadmin.local -q {query!r}: {done.stdout}{done.stderr}")
        return done.stdout

    def add_device(self, mac: bytes, *, match: str | None = None) -> str:
        """A keyless principal for the device that requires pre-authentication (so the KDC
        answers PREAUTH_REQUIRED instead of looking for a key), mapped to its certificate."""
        name = principal_for(mac)
        self.admin(f"addprinc -nokey +requires_preauth {name}")
        self.admin(f'set_string {name} pkinit_cert_match "{match or cert_match(mac)}"')
        return name

    def kinit(self, cert: Path, key: Path, principal: str, *, rsa: bool = False,
              anchors: Sequence[Path] = (), pool: Sequence[Path] = (),
              udp: bool = False) -> Kinit:
        """``kinit`` with the device's certificate and key. The client trusts the lab's SP
        Root (for the KDC's certificate) and, to build the chain it sends, needs the
        device's own root and manufacturer CA: the lab's, or ``anchors``/``pool``.
        ``udp`` raises the UDP size limit so the PKINIT request (~4 kB) goes by UDP,
        as an eMTA sends it, rather than MIT's default TCP for large requests."""
        self._runs += 1
        conf = self.folder / f"client-{self._runs}.conf"
        lab = self.lab.folder
        conf.write_text(client_conf(
            self.realm, self.port,
            anchors=[lab / "sp-root.pem", *(anchors or [lab / "mta-root.pem"])],
            pool=[lab / "sp-ca.pem", *(pool or [lab / "mta-manufacturer.pem"])], udp=udp))
        ccache = self.folder / f"cc-{self._runs}"
        argv = ["kinit", "-X", f"X509_user_identity=FILE:{cert},{key}"]
        if rsa:
            argv += ["-X", "flag_RSA_PROTOCOL=yes"]
        env = {**self.env(conf), "KRB5CCNAME": f"FILE:{ccache}", "KRB5_TRACE": "/dev/stderr"}
        try:
            done = subprocess.run([*argv, principal], env=env, capture_output=True, text=True,
                                  timeout=KINIT_BUDGET, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"kinit hung for {KINIT_BUDGET:g} s; KDC log:\n{self.log()}") from None
        return Kinit(done.returncode, done.stdout + done.stderr, ccache)

    def klist(self, ccache: Path) -> str:
        done = subprocess.run(["klist", "-c", f"FILE:{ccache}"], env=self.env(), capture_output=True,
                              text=True, timeout=KINIT_BUDGET, check=False)
        return done.stdout + done.stderr

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def client_conf(realm: str, port: int, *, anchors: Sequence[Path], pool: Sequence[Path],
                udp: bool = False) -> str:
    lines = ["[libdefaults]", f" default_realm = {realm}", " dns_lookup_kdc = false",
             " dns_lookup_realm = false", " rdns = false", " dns_canonicalize_hostname = false"]
    if udp:
        lines.append(" udp_preference_limit = 32700")
    lines += ["[realms]", f" {realm} = {{", f"  kdc = 127.0.0.1:{port}"]
    lines += [f"  pkinit_anchors = FILE:{p}" for p in anchors]
    lines += [f"  pkinit_pool = FILE:{p}" for p in pool]
    lines += [" }", ""]
    return "\n".join(lines)


def kdc_conf(folder: Path, lab: LabPki, port: int, settings: dict[str, str] | None = None) -> str:
    d = lab.folder
    return "\n".join([
        "[kdcdefaults]", f" kdc_listen = 127.0.0.1:{port}", f" kdc_tcp_listen = 127.0.0.1:{port}",
        "[realms]", f" {lab.settings.realm} = {{",
        f"  database_name = {folder / 'db' / 'principal'}",
        f"  key_stash_file = {folder / 'db' / 'stash'}",
        f"  acl_file = {folder / 'kadm5.acl'}",
        f"  pkinit_identity = FILE:{d / 'kdc.pem'},{d / 'kdc.key'}",
        # Device certificates chain to the MTA Root; the manufacturer CA arrives in the
        # AS-REQ, and is also in the pool for a client that does not send it.
        f"  pkinit_anchors = FILE:{d / 'mta-root.pem'}",
        f"  pkinit_pool = FILE:{d / 'mta-manufacturer.pem'}",
        "  pkinit_allow_upn = false",
        *(f"  {name} = {value}" for name, value in (settings or {}).items()),
        " }",
        "[logging]", f" kdc = FILE:{folder / 'kdc.log'}", ""])


@contextmanager
def mit_kdc(folder: Path, lab: LabPki, settings: dict[str, str] | None = None) -> Iterator[MitKdc]:
    """A running ``krb5kdc`` for the lab's realm, ``settings`` added to its realm's
    section of kdc.conf; stopped (and its log kept in ``folder``) on exit."""
    require_mit()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db").mkdir(exist_ok=True)
    port = free_port()
    kdc = MitKdc(folder, lab, port)
    (folder / "kdc.conf").write_text(kdc_conf(folder, lab, port, settings))
    (folder / "krb5.conf").write_text(client_conf(lab.settings.realm, port, anchors=[lab.folder / "sp-root.pem"],
                                                  pool=[lab.folder / "sp-ca.pem"]))
    (folder / "kadm5.acl").write_text("")
    made = subprocess.run(["kdb5_util", "create", "-s", "-r", kdc.realm, "-P", MASTER_PASSWORD],
                          env=kdc.env(), capture_output=True, text=True, timeout=START_BUDGET, check=False)
    if made.returncode != 0:
        raise AssertionError(f"kdb5_util create: {made.stdout}{made.stderr}")
    out = (folder / "krb5kdc.out").open("w")
    try:
        kdc.process = subprocess.Popen(["krb5kdc", "-n", "-r", kdc.realm, "-P", str(folder / "kdc.pid")],
                                       env=kdc.env(), stdout=out, stderr=subprocess.STDOUT, text=True,
                                       stdin=subprocess.DEVNULL)
        _wait_ready(kdc)
        yield kdc
    finally:
        kdc.stop()
        out.close()


def _wait_ready(kdc: MitKdc) -> None:
    """The KDC logs "commencing operation" once its sockets are bound."""
    deadline = time.monotonic() + START_BUDGET
    while time.monotonic() < deadline:
        if "commencing operation" in kdc.log():
            return
        if kdc.process is not None and kdc.process.poll() is not None:
            raise AssertionError(f"krb5kdc exited with {kdc.process.returncode}:\n{kdc.log()}")
        time.sleep(0.1)
    raise AssertionError(f"krb5kdc not up after {START_BUDGET:g} s:\n{kdc.log()}")


# -- capturing golden vectors -------------------------------------------------------------------

@contextmanager
def capture(path: Path, port: int) -> Iterator[None]:
    """tshark on loopback writing the KDC's UDP traffic to a pcap file."""
    require("tshark")
    proc = subprocess.Popen(["tshark", "-q", "-i", "lo", "-F", "pcap", "-f", f"udp port {port}", "-w", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_BUDGET
        assert proc.stderr is not None
        while time.monotonic() < deadline:  # tshark says so once the capture is running
            line = proc.stderr.readline()
            if "Capturing on" in line or not line:
                break
        time.sleep(0.5)
        yield
        time.sleep(1.0)  # let the last datagram reach the file
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def udp_payloads(pcap: bytes, port: int) -> list[tuple[bool, bytes]]:
    """(sent to the KDC?, payload) of each IPv4 UDP datagram to or from ``port`` in a
    classic pcap file with Ethernet framing (loopback as tshark writes it)."""
    magic = struct.unpack("<I", pcap[:4])[0]
    if magic != 0xA1B2C3D4:
        raise ValueError(f"not a little-endian microsecond pcap (magic {magic:#x})")
    out = []
    offset = 24
    while offset + 16 <= len(pcap):
        incl = struct.unpack("<I", pcap[offset + 8:offset + 12])[0]
        frame = pcap[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        if frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        udp = frame[14 + ihl:]
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        if port in (sport, dport):
            out.append((dport == port, udp[8:length]))
    return out


def _capture_vectors(out: Path) -> None:
    """Make a lab PKI, run MIT kinit against MIT krb5kdc in DH and RSA mode over UDP,
    and write each mode's messages and the PKI into ``out``."""
    from pktcable.secure.labdir import LabSettings

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"krbvectors-{os.getpid()}"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    mac = bytes.fromhex("0010180a0b0c")
    lab = LabPki.create(out / "pki", LabSettings("LAB.EXAMPLE.NET", "Example Cable", "kdc.lab.example.net",
                                                 "prov.lab.example.net"), now=now)
    lab.issue_device(mac, now=now)
    for profile in ("prov-server", "cvc-root", "manufacturer-cvc", "cosigner-cvc"):
        (out / "pki" / f"{profile}.pem").unlink()
        (out / "pki" / f"{profile}.key").unlink()
    device = out / "pki" / "devices" / mac.hex()
    try:
        with mit_kdc(work, lab) as kdc:
            principal = kdc.add_device(mac)
            for mode in ("dh", "rsa"):
                pcap = work / f"{mode}.pcap"
                with capture(pcap, kdc.port):
                    run = kdc.kinit(device.with_suffix(".pem"), device.with_suffix(".key"), principal,
                                    rsa=mode == "rsa", udp=True)
                if not run.ok:
                    raise SystemExit(f"kinit ({mode}) failed:\n{run.output}\n{kdc.log()}")
                names = iter(["as-req", "krb-error", "as-req-pkinit", "as-rep"])
                for _, payload in udp_payloads(pcap.read_bytes(), kdc.port):
                    (out / f"{mode}-{next(names)}.der").write_bytes(payload)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for profile in ("mta-root", "mta-manufacturer", "sp-root", "sp-ca", "kdc"):
        (out / "pki" / f"{profile}.key").unlink()  # certificates suffice to verify; keep no CA key
    print(f"captured at {now:%Y-%m-%dT%H:%M:%SZ} into {out}")


if __name__ == "__main__":
    _capture_vectors(Path(sys.argv[1]))
