"""``pktcable dhcp option122 | decode``, and the Kea output checked by kea-dhcp4 itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pktcable.cli import main

from .test_dhcp_interop import need


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["dhcp", *args])
    return result.exit_code, result.stdout, result.stderr


def test_option122_hex_isc_kea() -> None:
    args = ["option122", "--realm", "BASIC.1", "--prov-server", "prov.example.net", "--timer", "10"]
    code, out, _ = run(*args)
    assert code == 0 and out.strip() == ("0313000470726f76076578616d706c65036e6574" "00" "0609054241534943013100"
                                         "08010a")
    code, out, _ = run(*args, "--format", "isc")
    assert "option ccc-encapsulation code 122 = encapsulate ccc;" in out
    assert "option ccc.realm 05:42:41:53:49:43:01:31:00;" in out and "option ccc.prov-timer 10;" in out
    code, out, _ = run(*args, "--format", "kea")
    assert json.loads(out)["data"] == "0313000470726F76076578616D706C65036E657400060905424153494301310008010A"


def test_option122_all_sub_options() -> None:
    code, out, _ = run("option122", "--dhcp-server-1", "10.0.0.1", "--dhcp-server-2", "10.0.0.2",
                       "--prov-server", "prov.example.net", "--as-backoff", "3000,30,5", "--ap-backoff", "3,600,8",
                       "--realm", "EXAMPLE.NET", "--use-tgt", "--timer", "10", "--ticket-control", "1",
                       "--kdc", "10.0.0.9", "--kdc", "10.0.0.10")
    from .test_dhcp_codec import CCC_EXAMPLE

    assert code == 0 and out.strip() == CCC_EXAMPLE.hex()


@pytest.mark.parametrize("args", [["--realm", "basic.1"], ["--prov-server", "a..b"], ["--timer", "300"],
                                  ["--as-backoff", "1,2"], []])
def test_option122_bad_values_exit_without_traceback(args: list[str]) -> None:
    code, _, err = run("option122", *args)
    assert code in (2, 4) and err.startswith("pktcable: ") and "Traceback" not in err


def test_decode_option_and_message() -> None:
    code, out, _ = run("decode", "7a0b0609054241534943013100")
    assert code == 0 and "6 realm: BASIC.1" in out
    from .dhcp_helpers import CG3000, mac_of, request

    code, out, _ = run("decode", request(1, mac_of(1), options=[(60, CG3000.encode())]).hex())
    assert code == 0 and out.startswith("DHCPDISCOVER") and "18 prov-flows: 0x0007" in out
    code, _, err = run("decode", "7a0b06090542")
    assert code == 5 and "option 122" in err


def test_kea_accepts_our_option_data(tmp_path: Path) -> None:
    need("kea-dhcp4")
    _, out, _ = run("option122", "--realm", "BASIC.1", "--prov-server", "prov.example.net", "--format", "kea")
    conf = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "option-data": [json.loads(out)]}],
                      "lease-database": {"type": "memfile", "persist": False}}}
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(conf))
    kea = shutil.which("kea-dhcp4")
    assert kea is not None
    result = subprocess.run([kea, "-t", str(path)], capture_output=True, text=True,
                            env={"KEA_PIDFILE_DIR": str(tmp_path), "KEA_LOCKFILE_DIR": str(tmp_path),
                                 "PATH": "/usr/sbin:/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
