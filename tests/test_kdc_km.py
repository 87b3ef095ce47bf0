"""The tickets our KDC issues are the ones key management takes: an eMTA's AP-REQ
(MTA-13) with the provisioning server's ticket from our AS exchange, or from the
TGS exchange, verifies on the server side with the key from kdc-keys.json, and
the AP-REP's subkey comes back. Fake clock."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from pktcable.secure import asclient, kdclab, krbap, krbcrypto
from pktcable.secure.kdc import Kdc
from pktcable.secure.labdir import LabPki, LabSettings

BORN = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
NOW = BORN + dt.timedelta(hours=1)
MAC = bytes.fromhex("0010180a0b0c")
REALM = "LAB.EXAMPLE.NET"
PROV = ("mtaprovsrvr", "prov.lab.example.net")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    made = LabPki.create(tmp_path_factory.mktemp("pki"), LabSettings(REALM, "Example Cable", "kdc.lab.example.net",
                                                                       PROV[1], key_size=1024), now=BORN)
    made.issue_device(MAC, now=BORN)
    return made


def _prov_ticket(lab: LabPki, via_tgt: bool) -> asclient.Credentials:
    server = Kdc(kdclab.config(lab))
    device, rng = lab.device(MAC), random.Random(5).randbytes
    roots = [lab.get("sp-root").certificate]
    service = ("krbtgt", REALM) if via_tgt else PROV
    req = asclient.build_as_req(device.certificate, device.key, [lab.get("mta-manufacturer").certificate],
                                principal=MAC.hex(), realm=REALM, service=service, now=NOW, nonce=1)
    creds = asclient.read_as_rep(req, server.handle(req, NOW, rng) or b"", device.key, roots, now=NOW)
    if via_tgt:
        tgs = asclient.build_tgs_req(creds, principal=MAC.hex(), realm=REALM, service=PROV, now=NOW, nonce=2)
        creds = asclient.read_tgs_rep(tgs, server.handle(tgs, NOW, rng) or b"", creds)
    return creds


@pytest.mark.parametrize("via_tgt", [False, True], ids=["as", "tgs"])
def test_key_management_takes_our_tickets(lab: LabPki, via_tgt: bool) -> None:
    creds = _prov_ticket(lab, via_tgt)
    client = krbap.Principal(REALM, (MAC.hex(),))
    subkey = krbcrypto.random_key(krbcrypto.AES256_CTS_HMAC_SHA1_96)
    sent = krbap.build_ap_req(creds.ticket, creds.session_key, client, now=NOW.timestamp() + 5)
    verified = krbap.verify_ap_req(sent.der, krbap.Principal(REALM, PROV, 2), kdclab.prov_key_lookup(lab),
                                   now=NOW.timestamp() + 5, replay=krbap.ReplayCache())
    assert verified.client.components == (MAC.hex(),) and verified.session_key == creds.session_key
    assert verified.ticket_end == creds.part["endtime"].native.timestamp()
    back = krbap.read_ap_rep(krbap.build_ap_rep(verified, subkey), sent)
    assert back.subkey == subkey


def test_a_ticket_of_another_kdc_key_is_refused(lab: LabPki, tmp_path_factory: pytest.TempPathFactory) -> None:
    creds = _prov_ticket(lab, via_tgt=False)
    other = LabPki.create(tmp_path_factory.mktemp("other"), LabSettings(REALM, "Example Cable", "kdc.x", PROV[1],
                                                                          key_size=1024), now=BORN)
    sent = krbap.build_ap_req(creds.ticket, creds.session_key, krbap.Principal(REALM, (MAC.hex(),)),
                              now=NOW.timestamp())
    with pytest.raises(krbap.ApError) as refused:
        krbap.verify_ap_req(sent.der, krbap.Principal(REALM, PROV, 2), kdclab.prov_key_lookup(other),
                            now=NOW.timestamp(), replay=krbap.ReplayCache())
    assert refused.value.code == krbap.KRB_AP_ERR_BAD_INTEGRITY
