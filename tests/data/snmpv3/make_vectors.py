"""Capture the SNMPv3 golden vectors in this folder (see README.md): net-snmp's
snmpget against our agent, and net-snmp's snmpd answering our manager.

    python tests/data/snmpv3/make_vectors.py   # needs snmpget and snmpd on PATH
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from pktcable.snmp import message as m
from pktcable.snmp.agent import MibView
from pktcable.snmp.aio import SnmpEndpoint, open_endpoint
from pktcable.snmp.usm import AuthProtocol, EngineIdFormat, PrivProtocol, UsmUser, make_engine_id
from pktcable.snmp.usmengine import UsmEngine

HERE = Path(__file__).parent
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
AGENT_ENGINE = make_engine_id(EngineIdFormat.MAC, bytes.fromhex("0010180a0b0c"))
NO_MIBS = ["-m", "", "-M", "/nonexistent"]
#: (user name, auth, net-snmp -a, priv, net-snmp -x): the lab passwords are "authpassword"/"privpassword".
USERS = [("sha-des", AuthProtocol.HMAC_SHA_96, "SHA", PrivProtocol.DES, "DES"),
         ("md5-aes", AuthProtocol.HMAC_MD5_96, "MD5", PrivProtocol.AES_128, "AES")]


def recording(ep: SnmpEndpoint, log: list[str]) -> None:
    """Keep every datagram the endpoint receives, as received."""
    received = ep.datagram_received

    def record(data: bytes, addr: tuple[str, int]) -> None:
        log.append(data.hex())
        received(data, addr)

    ep.datagram_received = record  # type: ignore[method-assign]


async def from_snmpget(tmp: Path) -> list[dict[str, object]]:
    out = []
    for name, auth, a, priv, x in USERS:
        user = UsmUser.from_passwords(name.encode(), AGENT_ENGINE, auth, b"authpassword", priv, b"privpassword")
        engine = UsmEngine(AGENT_ENGINE, boots=7, started=asyncio.get_running_loop().time() - 4242)
        engine.add_user(user)
        view = MibView({}, users={user.name: False})
        view.define(SYS_DESCR, "String", b"Example eMTA")
        ep = await open_endpoint("127.0.0.1", 0, usm=engine, v3_handler=lambda req, addr, v=view: v.handle_v3(req))
        log: list[str] = []
        recording(ep, log)
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp / name), "SNMPCONFPATH": str(tmp / name)}
        proc = await asyncio.create_subprocess_exec(
            "snmpget", "-v3", "-l", "authPriv", "-u", name, "-a", a, "-A", "authpassword", "-x", x, "-X",
            "privpassword", "-r", "0", "-t", "5", *NO_MIBS, f"127.0.0.1:{ep.address[1]}", ".1.3.6.1.2.1.1.1.0",
            env=env, stdout=subprocess.PIPE)
        answer = (await proc.communicate())[0].decode()
        ep.close()
        assert "Example eMTA" in answer, answer
        out.append({"user": name, "auth": auth.name, "priv": priv.name, "engine_id": AGENT_ENGINE.hex(),
                    "boots": 7, "probe": log[0], "request": log[1]})
    return out


async def from_snmpd(tmp: Path) -> dict[str, object]:
    port = 20161
    conf = tmp / "snmpd.conf"
    conf.write_text("createUser sha-des SHA authpassword DES privpassword\nrouser sha-des priv\n"
                    "sysDescr Example snmpd\n")
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp / "snmpd"), "SNMPCONFPATH": str(tmp / "snmpd")}
    proc = subprocess.Popen(["snmpd", "-f", "-Lo", "-C", "-c", str(conf), *NO_MIBS, f"udp:127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        engine = UsmEngine(make_engine_id(EngineIdFormat.IPV4, bytes((127, 0, 0, 1))),
                           started=asyncio.get_running_loop().time())
        ep = await open_endpoint("127.0.0.1", 0, usm=engine)
        log: list[str] = []
        recording(ep, log)
        peer = ("127.0.0.1", port)
        snmpd_engine = await ep.discover(peer)
        user = UsmUser.from_passwords(b"sha-des", snmpd_engine, AuthProtocol.HMAC_SHA_96, b"authpassword",
                                      PrivProtocol.DES, b"privpassword")
        got = await ep.request_v3(peer, user, m.PduType.GET, (m.null_varbind(SYS_DESCR),))
        ep.close()
        assert got.varbinds[0].value == b"Example snmpd"
        return {"user": "sha-des", "auth": "HMAC_SHA_96", "priv": "DES", "engine_id": snmpd_engine.hex(),
                "report": log[0], "response": log[-1]}
    finally:
        proc.terminate()
        proc.wait()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        vectors = {"snmpget_requests": await from_snmpget(Path(tmp)), "snmpd_response": await from_snmpd(Path(tmp))}
    (HERE / "net-snmp.json").write_text(json.dumps(vectors, indent=1) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
