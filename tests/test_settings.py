"""Every bad setting of `pktcable serve` and `pktcable dhcp serve` stops the command with one
line that names the key and the problem, and exit status 2, run as an operator runs it; and
SIGHUP, which a supervisor sends to "reload", never stops a running server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pktcable.serve.config import ServeConfig

from .apiclient import bearer, demo_token
from .test_e2e import free_tcp_port

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
KEY = 'cm_key = "test-cmts-secret"\n'
MAC = "00:11:22:33:44:55"
#: Every port 0 (any free one): a bad-setting run must fail on the setting, never on a taken port.
PORTS = "".join(f"{k} = 0\n" for k in ("dhcp_port", "tftp_port", "http_port", "tod_port", "snmp_port", "api_port"))


#: The lines a server prints once it is up: a run that gets there took the bad setting.
UP = ("store ", "pktcable dhcp: serving")


def run(*args: str, preexec: typing.Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """The command's exit status and stderr; a server that comes up instead is stopped (and fails the test)."""
    proc = subprocess.Popen([sys.executable, "-m", "pktcable", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV, preexec_fn=preexec)
    assert proc.stderr is not None
    err = []
    try:
        for line in proc.stderr:
            err.append(line)
            if line.startswith(UP):
                err.append("(the server started)\n")
                proc.send_signal(signal.SIGINT)
                err.append(proc.stderr.read())
                break
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", "".join(err))


def without_root_overrides() -> None:
    """In the child: root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so file modes
    bind it as they bind any user (dropped from the bounding set, they are gone after exec)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def one_line_exit_2(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The run stopped with exit 2 and one stderr line that holds every one of ``words``."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def defaults(text: str) -> str:
    """The ports and key of every run, less those ``text`` sets itself (TOML refuses a key twice)."""
    lines = (PORTS + KEY).splitlines(keepends=True)
    return "".join(line for line in lines if f"\n{line.split(' =')[0]} =" not in f"\n{text}")


def serve_with(tmp_path: Path, text: str, *flags: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "serve.toml"
    config.write_text(defaults(text) + text + "\n")
    return run("serve", "--memory", "--config", str(config), *flags)


# -- a wrong type, for every field ------------------------------------------------------------------------------

def wrong_value(hint: object) -> str:
    """A TOML value that is not of ``hint``'s type (booleans are not numbers)."""
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return '"HYBRID.2"'
    if origin is dict:
        return "5"
    if hint is bool:
        return "1"
    if hint in (int, float):
        return "true"
    return "[1]"  # strings, and optional strings


FIELDS = typing.get_type_hints(ServeConfig)


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_a_value_of_the_wrong_type_is_named_before_anything_starts(tmp_path: Path, key: str) -> None:
    line = one_line_exit_2(serve_with(tmp_path, f"{key} = {wrong_value(FIELDS[key])}"), f"{key}: must be")
    assert line.startswith(f"pktcable: {tmp_path / 'serve.toml'}: {key}"), line


@pytest.mark.parametrize("key", ["dhcp_port", "tftp_port", "snmp_port", "lease_time", "prov_timer"])
def test_a_float_for_a_whole_number_is_refused_not_truncated(tmp_path: Path, key: str) -> None:
    one_line_exit_2(serve_with(tmp_path, f"{key} = 67.5"), key, "whole number")


# -- one case per mistake -------------------------------------------------------------------------------------------

DEVICE = f'[[devices]]\nmac = "{MAC}"\n'
DHCP = '[dhcp.server]\nserver_id = "10.0.0.1"\n[[dhcp.subnet]]\nnetwork = "10.0.0.0/24"\n'
SERVE_CASES = {
    "unknown key": ('adress = "127.0.0.1"', ["adress", "unknown setting", "did you mean address?"]),
    "unknown key, nothing close": ("colour = 3", ["colour", "unknown setting"]),
    "port above 65535": ("tftp_port = 70000", ["tftp_port", "65535"]),
    "negative port": ("snmp_port = -1", ["snmp_port"]),
    "two services on one port": ("tftp_port = 20069\ntod_port = 20069", ["tod_port", "20069", "tftp_port"]),
    "api on a device service's port": ("snmp_port = 20070\napi_port = 20070", ["api_port", "snmp_port"]),
    "realm serve cannot run": ('realms = ["HYBRID.2", "SECURE"]', ["realms[1]", "SECURE", "Kerberos realm", "kdc = true"]),
    "empty realms": ("realms = []", ["realms", "empty"]),
    "pool that is no address": ('mta_pool = ["127.100.0.1", "127.100.0"]', ["mta_pool", "IPv4"]),
    "pool that ends before it starts": ('cm_pool = ["127.101.0.9", "127.101.0.1"]', ["cm_pool", "ends before"]),
    "pools that overlap": ('cpe_pool = ["127.100.0.5", "127.100.0.9"]', ["cpe_pool", "overlaps mta_pool"]),
    "pool outside the subnet": ('mta_pool = ["10.1.0.1", "10.1.0.9"]', ["mta_pool", "not inside", "127.0.0.0/8"]),
    "address that is no address": ('address = "127.0.0"', ["address", "127.0.0"]),
    "file_scheme neither tftp nor http": ('file_scheme = "ftp"', ["file_scheme", "ftp"]),
    "empty community": ('write_community = ""', ["write_community", "empty"]),
    "templates folder that is not there": ('templates = "no/such/folder"', ["templates", "no/such/folder"]),
    "history_keep 0": ("history_keep = 0", ["history_keep"]),
    "TOML syntax error": ('address = "127.0.0.1"\nrealms = [HYBRID.2]', ["TOML syntax", "line", "column"]),
    "device MAC of 5 octets": ('[[devices]]\nmac = "00:11:22:33:44"', ["devices[0].mac", "not a MAC"]),
    "device MAC with a stray letter": ('[[devices]]\nmac = "00:11:22:33:44:5g"', ["devices[0].mac", "not a MAC"]),
    "device without a MAC": ('[[devices]]\nkind = "cm"', ["devices[0].mac", "missing"]),
    "device listed twice": (DEVICE + DEVICE.replace(MAC, MAC.upper()), ["devices[1].mac", "devices[0]"]),
    "device of an unknown kind": (DEVICE + 'kind = "cmts"', ["devices[0].kind", "cmts"]),
    "device flow serve cannot run": (DEVICE + 'flow = "BASIC.3"', ["devices[0].flow", "BASIC.3"]),
    "device key misspelt": (DEVICE + 'knd = "cm"', ["devices[0].knd", "did you mean kind?"]),
    "device vars not a table": (DEVICE + 'vars = "lines=2"', ["devices[0].vars", "table"]),
    "device vars shadowing the MAC": (DEVICE + 'vars = { mac = "00:00:00:00:00:01" }', ["devices[0].vars.mac", "reserved"]),
    "device vars the store cannot keep": (DEVICE + "vars = { since = 2024-01-01 }", ["devices[0].vars.since"]),
    "device template that is not there": (DEVICE + 'template = "mta-gold.txt"', ["devices[0].template", "mta-gold.txt"]),
    "[dhcp] key misspelt": ('[dhcp]\nsubnets = []', ["dhcp.subnets", "did you mean subnet?"]),
    "[dhcp] without server_id": ('[dhcp.server]\nrelay_port = 67', ["dhcp.server.server_id", "missing"]),
    "[dhcp] pool outside its subnet": (DHCP + '[[dhcp.subnet.pool]]\nstart = "10.0.0.10"\nend = "10.0.1.10"',
                                       ["dhcp.subnet[0].pool[0]", "not inside 10.0.0.0/24"]),
    "[dhcp] class offering a realm serve cannot run": (DHCP + '[[dhcp.class]]\nname = "mta"\nkind = "mta"\n'
                                                       'realms = ["PKTC.EXAMPLE.NET"]',
                                                       ["dhcp.class[0].realms[0]", "PKTC.EXAMPLE.NET"]),
    "[dhcp] mta class with no realm": (DHCP + '[[dhcp.class]]\nname = "mta"\nkind = "mta"',
                                       ["dhcp.class[0].realms", "empty"]),
}


@pytest.mark.parametrize("case", sorted(SERVE_CASES))
def test_bad_serve_setting_is_one_line_naming_the_key(tmp_path: Path, case: str) -> None:
    text, words = SERVE_CASES[case]
    one_line_exit_2(serve_with(tmp_path, text), *words)


@pytest.mark.parametrize(("flags", "words"), [
    (["--realm", "HYBRID.2", "--realm", "BASIC.9"], ["--realm", "BASIC.9", "not a flow"]),
    (["--address", "10.0.0.256"], ["--address", "10.0.0.256"]),
    (["--data-dir", "{file}/data"], ["--data-dir", "is not a folder"]),
])
def test_bad_flag_is_one_line_naming_the_flag(tmp_path: Path, flags: list[str], words: list[str]) -> None:
    (tmp_path / "file").write_text("")
    config = tmp_path / "serve.toml"
    config.write_text(PORTS + KEY)
    flags = [f.format(file=tmp_path / "file") for f in flags]
    result = run("serve", "--config", str(config), *flags)
    line = one_line_exit_2(result, *words)
    assert str(config) not in line, line  # the flag's value is the operator's mistake, not the file's


def test_missing_settings_file_is_one_line(tmp_path: Path) -> None:
    one_line_exit_2(run("serve", "--memory", "--config", str(tmp_path / "nope.toml")), "nope.toml", "cannot read")


def test_data_dir_the_server_cannot_write_is_named_with_its_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    config = tmp_path / "serve.toml"
    config.write_text(PORTS + KEY + f'data_dir = "{data}"\n')
    try:
        result = run("serve", "--config", str(config), preexec=without_root_overrides if os.geteuid() == 0 else None)
    finally:
        data.chmod(0o700)
    one_line_exit_2(result, "data_dir", str(data), "not writable")


# -- pktcable dhcp serve ----------------------------------------------------------------------------------------------

DHCP_FILE = '[server]\nserver_id = "10.0.0.1"\n[[subnet]]\nnetwork = "10.0.0.0/24"\n'
DHCP_CASES = {
    "unknown top-level table": (DHCP_FILE + "[[reservations]]\nmac = \"00:11:22:33:44:55\"",
                                ["reservations", "did you mean reservation?"]),
    "unknown server key": (DHCP_FILE.replace("[server]\n", "[server]\nrelay_prot = 67\n"),
                           ["server.relay_prot", "did you mean relay_port?"]),
    "server_id that is no address": (DHCP_FILE.replace("10.0.0.1", "10.0.0.x", 1), ["server.server_id", "10.0.0.x"]),
    "port as a string": (DHCP_FILE.replace("[server]\n", '[server]\nclient_port = "68"\n'),
                         ["server.client_port", "whole number"]),
    "port out of range": (DHCP_FILE.replace("[server]\n", "[server]\nrelay_port = 0\n"), ["server.relay_port"]),
    "true for a number": (DHCP_FILE.replace("[server]\n", "[server]\noffer_hold = true\n"), ["server.offer_hold"]),
    "network with host bits": (DHCP_FILE.replace("10.0.0.0/24", "10.0.0.1/24"), ["subnet[0].network", "host bits"]),
    "pool outside its subnet": (DHCP_FILE + '[[subnet.pool]]\nstart = "10.0.0.10"\nend = "10.0.9.9"',
                                ["subnet[0].pool[0]", "not inside"]),
    "pool that ends before it starts": (DHCP_FILE + '[[subnet.pool]]\nstart = "10.0.0.90"\nend = "10.0.0.10"',
                                        ["subnet[0].pool[0]", "ends before"]),
    "pools that overlap": (DHCP_FILE + '[[subnet.pool]]\nstart = "10.0.0.10"\nend = "10.0.0.50"\n'
                           '[[subnet.pool]]\nstart = "10.0.0.50"\nend = "10.0.0.60"',
                           ["subnet[0].pool[1]", "overlaps subnet[0].pool[0]"]),
    "pool for a class that does not exist": (DHCP_FILE + '[[subnet.pool]]\nstart = "10.0.0.10"\nend = "10.0.0.50"\n'
                                             'classes = ["mtas"]', ["subnet[0].pool[0].classes[0]", "did you mean mta?"]),
    "class of an unknown kind": (DHCP_FILE + '[[class]]\nname = "x"\nkind = "phone"', ["class[0].kind", "phone"]),
    "class without a name": (DHCP_FILE + '[[class]]\nkind = "cm"', ["class[0].name", "missing"]),
    "two classes of one name": (DHCP_FILE + '[[class]]\nname = "x"\nkind = "cm"\n[[class]]\nname = "x"\nkind = "mta"',
                                ["class[1].name", "class[0]"]),
    "empty realm": (DHCP_FILE + '[[class]]\nname = "mta"\nkind = "mta"\nrealms = [""]', ["class[0].realms[0]"]),
    "reservation with a bad MAC": (DHCP_FILE + '[[reservation]]\nmac = "00:11:22"', ["reservation[0].mac"]),
    "reservation of a class that does not exist": (DHCP_FILE + '[[reservation]]\nmac = "00:11:22:33:44:55"\n'
                                                   'device_class = "emta"', ["reservation[0].device_class", "emta"]),
    "TOML syntax error": (DHCP_FILE + "[[subnet.pool]\n", ["TOML syntax", "line 5"]),
}


@pytest.mark.parametrize("case", sorted(DHCP_CASES))
def test_bad_dhcp_serve_setting_is_one_line_naming_the_key(tmp_path: Path, case: str) -> None:
    text, words = DHCP_CASES[case]
    config = tmp_path / "dhcp.toml"
    config.write_text(text + "\n")
    one_line_exit_2(run("dhcp", "serve", "--config", str(config), "--address", "127.0.0.1", "--port", "0"), *words)


# -- SIGHUP ------------------------------------------------------------------------------------------------------------

@contextmanager
def serving(config: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """A `pktcable serve` process, its API's base URL and the operator token of its
    run (--memory), once it says it is up."""
    proc = subprocess.Popen([sys.executable, "-m", "pktcable", "serve", "--memory", "--config", str(config)],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    try:
        api, token = "", None
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("api "):
                api = "http://" + line.split()[1]
            token = demo_token(line)
            if token is not None:
                break
        assert api and token, f"serve did not come up (exit {proc.poll()})"
        yield proc, api, token
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)


def get(url: str, token: str) -> tuple[int, dict[str, typing.Any]]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=bearer(token)), timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def hangup_and_wait_for(proc: subprocess.Popen[str], text: str) -> str:
    """SIGHUP, then the server's log line that holds ``text``."""
    proc.send_signal(signal.SIGHUP)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        if text in line:
            return line
        assert time.monotonic() < deadline, f"no log line with {text!r}"
    pytest.fail(f"serve ended (exit {proc.wait(30)}) after SIGHUP")


def test_sighup_reloads_the_device_list_and_never_stops_the_server(tmp_path: Path) -> None:
    other = "00:11:22:33:44:66"
    config = tmp_path / "serve.toml"
    ports = PORTS.replace("api_port = 0", f"api_port = {free_tcp_port()}")
    config.write_text(ports + KEY + f'[[devices]]\nmac = "{MAC}"\nkind = "mta"\nvars = {{ lines = 1 }}\n')
    with serving(config) as (proc, api, token):
        status, device = get(f"{api}/api/v1/devices/{MAC}", token)
        assert status == 200 and device["vars"] == {"lines": 1}
        assert get(f"{api}/api/v1/devices/{other}", token)[0] == 404
        config.write_text(ports + KEY + f'[[devices]]\nmac = "{MAC}"\nkind = "mta"\nvars = {{ lines = 2 }}\n'
                          f'[[devices]]\nmac = "{other}"\nkind = "cm"\n')
        hangup_and_wait_for(proc, "read again")
        assert proc.poll() is None
        status, device = get(f"{api}/api/v1/devices/{MAC}", token)
        assert status == 200 and device["vars"] == {"lines": 2}
        status, device = get(f"{api}/api/v1/devices/{other}", token)
        assert status == 200 and device["kind"] == "cm"
        # A mistake in the file at reload time is logged, naming the key; the running settings stay.
        config.write_text(ports + KEY + f'[[devices]]\nmac = "{MAC}"\nkind = "modem"\n')
        line = hangup_and_wait_for(proc, "SIGHUP")
        assert "devices[0].kind" in line and "running settings stay" in line, line
        assert proc.poll() is None
        status, device = get(f"{api}/api/v1/devices/{MAC}", token)
        assert status == 200 and device["kind"] == "mta" and device["vars"] == {"lines": 2}
        # A setting that needs new sockets is named as waiting for a restart, not half-applied.
        config.write_text(ports.replace("tftp_port = 0", "tftp_port = 20069") + KEY)
        line = hangup_and_wait_for(proc, "restart")
        assert "tftp_port" in line, line
        assert get(f"{api}/api/v1/devices", token)[0] == 200
    assert proc.returncode == 0


def test_sighup_builds_from_the_new_templates(tmp_path: Path) -> None:
    import asyncio

    from pktcable.serve.app import Backoffice
    from pktcable.serve.config import check
    from pktcable.store.devices import Device

    shipped = (ROOT / "pktcable" / "templates" / "cm.txt").read_text()
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, cpes in ((first, 3), (second, 7)):
        folder.mkdir()
        gold = shipped.replace("{{ max_cpe | default(4) | integer(1, 254) }}", str(cpes))
        assert gold != shipped
        (folder / "cm-gold.txt").write_text(gold)
    device = {"mac": MAC, "kind": "cm", "template": "cm-gold.txt"}
    cfg = check(ServeConfig(templates=str(first), cm_key="test-cmts-secret", devices=[device]))
    office = Backoffice(cfg)
    try:
        before = office.build(Device(MAC.replace(":", ""), kind="cm", flow="", template="cm-gold.txt"))
        waiting = office.reload(check(ServeConfig(templates=str(second), cm_key="test-cmts-secret",
                                                  devices=[device])))
        after = office.build(Device(MAC.replace(":", ""), kind="cm", flow="", template="cm-gold.txt"))
        assert waiting == []
        assert before != after
        # and the template text itself, changed in place, is read again
        (second / "cm-gold.txt").write_text((second / "cm-gold.txt").read_text().replace("MaxCPE 7", "MaxCPE 9"))
        office.reload(check(ServeConfig(templates=str(second), cm_key="test-cmts-secret", devices=[device])))
        again = office.build(Device(MAC.replace(":", ""), kind="cm", flow="", template="cm-gold.txt"))
        assert again not in (before, after)
    finally:
        asyncio.run(office.close())
