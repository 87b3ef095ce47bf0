"""Key management with a real ticket: MIT ``kinit`` (PKINIT with a lab device certificate)
gets a ticket for the provisioning server's service principal from MIT ``krb5kdc``;
the service key comes out of a keytab made by ``kadmin.local``. Our MTA side builds the
AP Request from that ccache, our server side verifies it with the keytab's key, over
real UDP; tshark dissects the exchange. The negatives end in named refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from minikerberos.common.ccache import CCACHE
from minikerberos.common.keytab import Keytab

from pktcable.secure import keytab as keytabs
from pktcable.secure import kmcodec as km
from pktcable.secure import krbcrypto, krbmsg
from pktcable.secure.km import Established, KmBackoff, KmClient, KmServer, Refused, Send
from pktcable.secure.kmaio import establish, serve
from pktcable.secure.krbap import Principal
from pktcable.secure.krbcrypto import Key
from pktcable.secure.labdir import LabPki, LabSettings

from .krbpeers import KINIT_BUDGET, MitKdc, client_conf, mit_kdc, require_mit
from .pcap import udp_frame, write_pcap
from .peers import require

REALM = "LAB.EXAMPLE.NET"
PROV = "prov.lab.example.net"
SERVICE = Principal(REALM, ("mtaprovsrvr", PROV), 2)
MAC = bytes.fromhex("0010180a0b0c")
ENGINE = bytes.fromhex("8000118b030010180a0b0c")
APP = km.SnmpAppData(ENGINE, 1, 5, "MTA-Prov-00:10:18:0a:0b:0c")
#: Seconds for one exchange over loopback on a loaded 2-core machine.
EXCHANGE_BUDGET = 30.0


@dataclasses.dataclass(frozen=True)
class Material:
    ticket: bytes
    session_key: Key
    client: Principal
    service_keys: dict[tuple[int, int], Key]  # (enctype, kvno) -> key, from the keytab

    def keys(self, etype: int, kvno: int | None) -> Key | None:
        entries = [keytabs.KeytabEntry(SERVICE, 0, v, k) for (_, v), k in self.service_keys.items()]
        return keytabs.lookup(entries, SERVICE)(etype, kvno)


def _kinit_for_service(kdc: MitKdc, folder: Path) -> Path:
    """``kinit -S mtaprovsrvr/<fqdn>`` with the device certificate: a ticket for the
    provisioning server straight from the AS exchange."""
    lab = kdc.lab.folder
    conf = folder / "client-km.conf"
    conf.write_text(client_conf(kdc.realm, kdc.port, anchors=[lab / "sp-root.pem", lab / "mta-root.pem"],
                                pool=[lab / "sp-ca.pem", lab / "mta-manufacturer.pem"]))
    ccache = folder / "cc-km"
    device = lab / "devices" / MAC.hex()
    env = {**kdc.env(conf), "KRB5CCNAME": f"FILE:{ccache}"}
    done = subprocess.run(["kinit", "-X", f"X509_user_identity=FILE:{device}.pem,{device}.key",
                           "-S", f"mtaprovsrvr/{PROV}", MAC.hex()], env=env, capture_output=True, text=True,
                          timeout=KINIT_BUDGET, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, f"kinit: {done.stdout}{done.stderr}\nKDC log:\n{kdc.log()}"
    return ccache


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Material]:
    require_mit()
    now = dt.datetime.now(dt.UTC)  # real clocks: the KDC checks certificates against them
    lab = LabPki.create(tmp_path_factory.mktemp("pki"), LabSettings(REALM, "Example Cable", "kdc.lab.example.net",
                                                                    PROV), now=now)
    lab.issue_device(MAC, now=now)
    folder = tmp_path_factory.mktemp("kdc")
    with mit_kdc(folder, lab) as kdc:
        kdc.add_device(MAC)
        kdc.admin(f"addprinc -randkey mtaprovsrvr/{PROV}")
        keytab = folder / "prov.keytab"
        kdc.admin(f"ktadd -k {keytab} -norandkey mtaprovsrvr/{PROV}")
        ccache = _kinit_for_service(kdc, folder)
        listed = subprocess.run(["klist", "-k", "-K", "-e", "-t", str(keytab)], env=kdc.env(), capture_output=True,
                                text=True, timeout=KINIT_BUDGET, check=True).stdout
    cred = next(c for c in CCACHE.from_file(str(ccache)).credentials
                if "mtaprovsrvr" in str(c.server.to_string("/")))
    # Our keytab reader is the product's path; minikerberos's and klist's readings check it.
    ours = keytabs.parse(keytab.read_bytes())
    theirs = Keytab.from_bytes(keytab.read_bytes()).entries
    assert [(e.kvno, e.key.enctype, e.key.value) for e in ours] == [
        (t.key_version, t.enctype, t.key_contents) for t in theirs]
    for entry in ours:
        assert str(entry.principal) == f"mtaprovsrvr/{PROV}@{REALM}"
        assert f"(0x{entry.key.value.hex()})" in listed, listed
    keys = {(e.key.enctype, e.kvno): e.key for e in ours}
    yield Material(bytes(cred.ticket.to_asn1()), Key(cred.key.keytype, bytes(cred.key.keyvalue)),
                   Principal(REALM, (MAC.hex(),)), keys)


def _server(material: Material, keys: object = None) -> KmServer:
    return KmServer(SERVICE, keys or material.keys, bytes.fromhex("8000118b030010180a0b01"),  # type: ignore[arg-type]
                    engine_started=time.time() - 10)


def _client(material: Material, **options: object) -> KmClient:
    return KmClient(material.ticket, material.session_key, material.client, APP, **options)  # type: ignore[arg-type]


def test_mit_ticket_is_for_the_provisioning_server(material: Material) -> None:
    ticket = krbmsg.Ticket.load(material.ticket)
    assert ticket["sname"]["name-string"].native == ["mtaprovsrvr", PROV]
    assert ticket["realm"].native == REALM
    assert (ticket["enc-part"]["etype"].native, ticket["enc-part"]["kvno"].native) in material.service_keys


def _one_send(events: list) -> bytes:  # type: ignore[type-arg]
    sends = [e.data for e in events if isinstance(e, Send)]
    assert len(sends) == 1, events
    return sends[0]


def _reason(events: list) -> str:  # type: ignore[type-arg]
    return next(e.reason for e in events if isinstance(e, Refused))


def test_negatives_with_a_real_ticket(material: Material) -> None:
    now = time.time()
    peer = ("127.0.0.1", 40000)
    # Replayed AP-REQ: the same authenticator again (in a new KM message) is refused.
    server, mta = _server(material), _client(material)
    request = km.decode(_one_send(mta.start(now)))
    assert isinstance(request, km.ApRequest)
    assert any(isinstance(e, Established) for e in server.receive(km.encode(request), peer, now))
    replay = km.encode(dataclasses.replace(request, server_nonce=1))
    assert _reason(server.receive(replay, ("127.0.0.2", 40000), now + 1)) == "KRB_AP_ERR_REPEAT"
    # Wrong HMAC.
    damaged = bytearray(_one_send(_client(material).start(now + 2)))
    damaged[-3] ^= 0x10
    assert _reason(server.receive(bytes(damaged), peer, now + 2)) == "KRB_AP_ERR_MODIFIED"
    # Wrong service key: the ticket does not decrypt.
    wrong = {k: krbcrypto.random_key(k[0]) for k in material.service_keys}
    stranger = _server(dataclasses.replace(material, service_keys=wrong))
    assert _reason(stranger.receive(_one_send(_client(material).start(now + 3)), peer, now + 3)) == \
        "KRB_AP_ERR_BAD_INTEGRITY"
    # The MIT ticket two days on (MIT's default max_life is one day), with
    # both clocks there: the ticket has expired.
    later = now + 2 * 86_400
    assert _reason(_server(material).receive(_one_send(_client(material).start(later)), peer, later)) == \
        "KRB_AP_ERR_TKT_EXPIRED"
    # An authenticator that names another client than the ticket.
    impostor = dataclasses.replace(material, client=Principal(REALM, ("0010180a0b0d",)))
    assert _reason(_server(material).receive(_one_send(_client(impostor).start(now + 4)), peer, now + 4)) == \
        "KRB_AP_ERR_BADMATCH"
    # A client clock ten minutes ahead.
    assert _reason(_server(material).receive(_one_send(_client(material).start(now + 600)), peer, now)) == \
        "KRB_AP_ERR_SKEW"


def test_exchange_over_udp_and_tshark_dissects_it(material: Material, tmp_path: Path) -> None:
    server = _server(material)
    seen: list[tuple[bool, bytes]] = []  # (to the server?, datagram)
    receive = server.receive

    def recording(data: bytes, peer: tuple[str, int], now: float) -> list:  # type: ignore[type-arg]
        seen.append((True, data))
        events = receive(data, peer, now)
        seen.extend((False, e.data) for e in events if isinstance(e, Send))
        return events
    server.receive = recording  # type: ignore[method-assign]
    established: list[object] = []

    async def run() -> object:
        transport, endpoint = await serve(server, "127.0.0.1", 0,
                                          on_established=lambda sa, peer: established.append(sa))
        port = transport.get_extra_info("sockname")[1]
        try:
            mta = _client(material, backoff=KmBackoff(nominal=2, maximum=8, retries=3))
            return await asyncio.wait_for(establish(mta, ("127.0.0.1", port), local=("127.0.0.1", 0)),
                                          EXCHANGE_BUDGET)
        finally:
            transport.close()
    sa = asyncio.run(run())
    assert [dataclasses.replace(s, established=0) for s in established] == [  # type: ignore[type-var]
        dataclasses.replace(sa, established=0)]  # type: ignore[type-var]
    assert [km.decode(d).KMMID for _, d in seen] == [km.Kmmid.AP_REQUEST, km.Kmmid.AP_REPLY]

    tshark = require("tshark")
    pcap = tmp_path / "km.pcap"
    write_pcap(pcap, [udp_frame(d, "10.0.0.7", "10.0.0.1", 1293, 1293) if up else
                      udp_frame(d, "10.0.0.1", "10.0.0.7", 1293, 1293) for up, d in seen])
    fields = ["pktc.kmmid", "pktc.doi", "pktc.version.major", "pktc.version.minor", "pktc.server_nonce",
              "pktc.asd.snmp_engine_id", "pktc.asd.snmp_engine_boots", "pktc.asd.snmp_usm_username",
              "pktc.asd.snmp_auth_alg", "pktc.asd.snmp_enc_alg", "pktc.reestablish", "pktc.ack_required",
              "pktc.spl", "pktc.grace_period", "pktc.sha1_hmac", "kerberos.msg_type"]
    out = subprocess.run([tshark, "-r", str(pcap), "-T", "fields", "-E", "separator=|",
                          *(a for f in fields for a in ("-e", f))],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
    request, reply = rows
    assert (request["pktc.kmmid"], request["pktc.doi"], request["pktc.version.major"]) == ("0x02", "2", "1")
    assert request["pktc.asd.snmp_engine_id"] == ENGINE.hex()
    assert request["pktc.asd.snmp_usm_username"] == APP.user_name
    assert request["pktc.asd.snmp_auth_alg"].split(",")[0] == "0x22"
    assert request["kerberos.msg_type"] == "14" and reply["kerberos.msg_type"] == "15"
    assert request["pktc.sha1_hmac"] == seen[0][1][-20:].hex()
    assert reply["pktc.kmmid"] == "0x03" and reply["pktc.spl"] == str(server.policy.sa_lifetime)
    assert reply["pktc.grace_period"] == str(server.policy.grace_period)
    assert (reply["pktc.asd.snmp_auth_alg"], reply["pktc.asd.snmp_enc_alg"]) == ("0x22", "0x21")
    verbose = subprocess.run([tshark, "-r", str(pcap), "-V"], capture_output=True, text=True, timeout=120,
                             check=True).stdout
    assert "Malformed" not in verbose and "Expert Info" not in verbose, verbose
