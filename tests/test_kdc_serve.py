"""`pktcable serve` with the Secure settings (secure_pki, kdc, km) runs the KDC: an eMTA
the device store knows gets its ticket over UDP, one it does not know is refused (unless
auto_enroll), the outcome is in /metrics, and a secure_pki that holds no PKI is a setting
error."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from pathlib import Path

import pytest

from pktcable.secure import asclient, krbmsg
from pktcable.secure.kdc import ErrorCode
from pktcable.secure.labdir import LabPki, LabSettings
from pktcable.serve.api import metrics_text
from pktcable.serve.app import Backoffice
from pktcable.serve.config import ServeConfig, check
from pktcable.settings import SettingError

from .ports import free_port

REALM = "LAB.EXAMPLE.NET"
PROV = ("mtaprovsrvr", "prov.lab.example.net")
KNOWN, STRANGER = bytes.fromhex("0010180a0b0c"), bytes.fromhex("0010180a0b0d")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    made = LabPki.create(tmp_path_factory.mktemp("pki"), LabSettings(REALM, "Example Cable", "kdc.lab.example.net",
                                                                       PROV[1], key_size=1024), now=_now())
    made.issue_device(KNOWN, now=_now())
    made.issue_device(STRANGER, now=_now())
    return made


def _config(lab: LabPki, **kwargs: object) -> ServeConfig:
    ports = {k: free_port() for k in ("dhcp_port", "tftp_port", "tod_port", "snmp_port", "kdc_port", "km_port")}
    return check(ServeConfig(cm_key="test-cmts-secret", http_port=0, api_port=0, secure_pki=str(lab.folder),
                             kdc=True, km=True, realms=[REALM, "HYBRID.2"],
                             devices=[{"mac": KNOWN.hex(), "kind": "mta", "flow": "HYBRID.2"}],
                             **ports, **kwargs))  # type: ignore[arg-type]


async def _ask(lab: LabPki, port: int, mac: bytes) -> tuple[bytes, bytes]:
    device = lab.device(mac)
    req = asclient.build_as_req(device.certificate, device.key, [lab.get("mta-manufacturer").certificate],
                                principal=mac.hex(), realm=REALM, service=PROV, now=_now(), nonce=3)

    def exchange() -> tuple[bytes, bytes]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(30.0)
            s.sendto(req, ("127.0.0.1", port))
            return req, s.recvfrom(65535)[0]

    return await asyncio.to_thread(exchange)


@pytest.mark.parametrize("auto_enroll", [False, True])
def test_serve_runs_the_kdc_for_the_stores_emtas(lab: LabPki, auto_enroll: bool) -> None:
    cfg = _config(lab, auto_enroll=auto_enroll)

    async def main() -> tuple[tuple[bytes, bytes], tuple[bytes, bytes], str]:
        office = Backoffice(cfg)
        await office.start()
        try:
            port = office.addresses()["kdc"][1]
            known = await _ask(lab, port, KNOWN)
            stranger = await _ask(lab, port, STRANGER)
            return known, stranger, metrics_text(office)
        finally:
            await office.close()

    (req, known), (_, stranger), metrics = asyncio.run(main())
    creds = asclient.read_as_rep(req, known, lab.device(KNOWN).key, [lab.get("sp-root").certificate], now=_now())
    assert creds.part["sname"]["name-string"].native == list(PROV)
    if auto_enroll:
        assert krbmsg.message_type(stranger) == krbmsg.AS_REP
        assert 'pktcable_kdc_requests_total{outcome="as-rep"} 2.0' in metrics, metrics
    else:
        error = krbmsg.load(stranger, krbmsg.KrbError)
        assert error["error-code"].native == ErrorCode.KDC_ERR_CLIENT_NOT_TRUSTED
        assert f'pktcable_kdc_requests_total{{outcome="error-{int(ErrorCode.KDC_ERR_CLIENT_NOT_TRUSTED)}"}} 1.0' \
            in metrics, metrics


def test_a_secure_pki_without_a_pki_is_a_setting_error(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="secure_pki.*not a lab PKI folder"):
        check(ServeConfig(cm_key="x", secure_pki=str(tmp_path), kdc=True, km=True))
