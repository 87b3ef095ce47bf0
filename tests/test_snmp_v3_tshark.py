"""Wireshark's SNMP dissector as a third oracle: it checks our digests and decrypts our
encryptedPDUs (DES and AES) with a users table of passwords, as an operator would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pktcable.snmp import message as m
from pktcable.snmp.usm import AuthProtocol, PrivProtocol, UsmUser
from pktcable.snmp.usmengine import Accepted, UsmEngine
from tlv import ber
from tlv.ber import VarBind

from .pcap import udp_frame, write_pcap
from .peers import require

AGENT_ENGINE = bytes.fromhex("8000118b03" + "0010180a0b0c")  # CableLabs enterprise, MAC format
STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]
WIRESHARK = {AuthProtocol.HMAC_MD5_96: "MD5", AuthProtocol.HMAC_SHA_96: "SHA1",
             PrivProtocol.DES: "DES", PrivProtocol.AES_128: "AES"}


@pytest.mark.parametrize(("auth", "priv"), [(AuthProtocol.HMAC_SHA_96, PrivProtocol.DES),
                                            (AuthProtocol.HMAC_MD5_96, PrivProtocol.AES_128)],
                         ids=lambda p: p.name)
def test_tshark_verifies_and_decrypts_our_request_and_response(auth: AuthProtocol, priv: PrivProtocol,
                                                               tmp_path: Path) -> None:
    tshark = require("tshark")
    user = UsmUser.from_passwords(b"mtauser", AGENT_ENGINE, auth, b"authpassword", priv, b"privpassword")
    agent = UsmEngine(AGENT_ENGINE, boots=3, started=-1234.0)
    agent.add_user(user)
    manager = UsmEngine(bytes.fromhex("8000118b01" + "0a000001"))
    manager.add_user(user)
    manager.learn(AGENT_ENGINE, 3, 1234, 0.0)
    request = manager.encode_request(m.Pdu(m.PduType.SET, 7, (VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), STRING,
                                                                      b"set-by-pktcable"),)), user, 7, 0.0)
    got = agent.receive(request, 0.0)
    assert isinstance(got, Accepted)
    response = agent.encode_response(got, m.Pdu(m.PduType.RESPONSE, 7, got.pdu.varbinds), 0.0)
    pcap = tmp_path / "v3.pcap"
    write_pcap(pcap, [udp_frame(request, "10.0.0.1", "10.0.0.2", 40000, 161),
                      udp_frame(response, "10.0.0.2", "10.0.0.1", 161, 40000)])
    users = f'{AGENT_ENGINE.hex()},"mtauser","{WIRESHARK[auth]}","authpassword","{WIRESHARK[priv]}","privpassword"'
    out = subprocess.run([tshark, "-r", str(pcap), "-o", f"uat:snmp_users:{users}", "-T", "fields",
                          "-e", "snmp.v3.auth", "-e", "snmp.value.octets", "-e", "_ws.malformed"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    # Both frames: authentication OK (1), the value decrypted, nothing malformed.
    assert rows == [["1", b"set-by-pktcable".hex(), ""]] * 2, out
