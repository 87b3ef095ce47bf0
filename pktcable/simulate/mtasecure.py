"""The simulated eMTA's Secure-flow steps: MTA-5 ... MTA-14 (the KDC, PKINIT, the TGS
exchange, Kerberized key management), on top of :class:`SimulatedMta`'s walk.

Its identity is a device certificate of a lab PKI (``pktcable pki devices``, by the
simulated MAC); its telephony root (``pktcMtaDevTelephonyRootCertificate``) is the
lab's ``sp-root.pem``, and ``pki.json`` gives the realm it expects in option 122.6.
Choices of the simulator, not the specification's:

* The KDC is the first address of option 122.10 (RFC 3634) at ``SimConfig.kdc_port``;
  without 122.10 the eMTA would look the realm's KDC up by DNS SRV (MTA-5...8), which
  the simulator does not do: that is a named deviation and FAILED_KDC.
* The provisioning server's principal is ``mtaprovsrvr/<FQDN>``: the 122.3 FQDN when
  122.3 is one, else (122.3 an address) the lab's provisioning FQDN from ``pki.json``.
* The AS and AP exchanges retry on the MIB's default backoff, or 122.4 / 122.5's
  values when the ACK carries them; the device's clock for Kerberos is the host's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from dhcp.options.types import Backoff
from pktcable.flow import MtaState, ProvisioningState
from pktcable.flow import events as ev
from pktcable.flow.tables import AP_BACKOFF, AS_BACKOFF, backoff_waits
from pktcable.secure import asclient, kmaio
from pktcable.secure import kmcodec as km
from pktcable.secure.filecrypt import EncryptAlg, FileProtectionError, Protection, unprotect
from pktcable.secure.kdclab import PROV_SERVICE
from pktcable.secure.km import KmBackoff, KmClient
from pktcable.secure.kmkeys import SnmpSa
from pktcable.secure.krbap import Principal
from pktcable.secure.labdir import LabPki
from pktcable.snmp import message as m
from pktcable.snmp.aio import open_endpoint
from pktcable.snmp.usm import EngineIdFormat, UsmUser, make_engine_id
from pktcable.snmp.usmengine import UsmEngine, UsmFailure

from .emta import SimulatedMta
from .mtaagent import MtaMib

Address = tuple[str, int]


@cache
def lab(folder: str) -> LabPki:
    """One lab per run (the certificates are read once, not per device)."""
    return LabPki.open(Path(folder))


def pki_problem(folder: str, macs: Sequence[bytes]) -> str:
    """Why the lab in ``folder`` cannot play these eMTAs (not a lab, a device without its
    certificate), or "": checked before a run, so that no device starts without one."""
    from pktcable.secure.labdir import DEVICES
    from pktcable.secure.pki import PkiError

    try:
        found = lab(folder)
    except (OSError, ValueError, PkiError) as exc:
        return f"{folder}: not a lab PKI folder ({exc})"
    missing = [mac for mac in macs if not (found.folder / DEVICES / f"{mac.hex()}.pem").is_file()]
    if missing:
        return (f"{folder}: no device certificate for {len(missing)} of the {len(macs)} eMTAs (the first "
                f"{missing[0].hex(':')}); make them with: pktcable pki devices --dir {folder} --count N")
    return ""


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, peer: Address) -> None:
        self.peer = peer
        self.replies: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if (addr[0], addr[1]) == self.peer and not self.replies.full():
            self.replies.put_nowait(data)


async def udp_exchange(request: bytes, peer: Address, local_host: str, waits: Sequence[float]) -> bytes | None:
    """``request`` to ``peer`` and its first answer; sent again after each wait, None when
    the last one passes unanswered."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _Datagrams(peer), local_addr=(local_host, 0))
    try:
        for wait in waits:
            transport.sendto(request, peer)
            try:
                return await asyncio.wait_for(proto.replies.get(), wait)
            except TimeoutError:
                continue
        return None
    finally:
        transport.close()


def _backoff(value: Any, default: tuple[float, float, int]) -> tuple[float, float, int]:
    """122.4 / 122.5 (nominal in ms, maximum in s, retries: RFC 3495 5.4/5.5), else ``default``."""
    if isinstance(value, Backoff):
        return value.nominal / 1000.0, float(value.maximum), value.retries
    return default


#: SimConfig.secure_fault values.
FAULTS = ("ap-hmac", "usm-keys")


class _ForgedHmacClient(KmClient):
    """Fault "ap-hmac": an AP Request whose SHA-1 HMAC is not the session key's."""

    def _build(self, now: float, nonce: int) -> None:
        super()._build(now, nonce)
        self._datagram = self._datagram[:-1] + bytes([self._datagram[-1] ^ 0x01])


class SecureMta(SimulatedMta):
    """An eMTA playing the Secure flow with its lab device certificate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.secure_fault not in ("", *FAULTS):
            raise ValueError(f"secure_fault {self.config.secure_fault!r} is none of {', '.join(FAULTS)}")
        if self.config.pki is None:
            raise ValueError("the Secure flow needs a lab PKI folder (SimConfig.pki, simulate --pki)")
        self.lab = lab(self.config.pki)
        self.device = self.lab.device(self.id.mta_mac, check_key=False)
        self.expected_realm = self.lab.settings.realm
        self.principal = self.id.mta_mac.hex()
        self.handlers |= {
            MtaState.LOCATE_KDC: self.locate_kdc,
            MtaState.AS_EXCHANGE: self.as_exchange,
            MtaState.TGS_EXCHANGE: self.tgs_exchange,
            MtaState.KEY_MANAGEMENT: self.key_management,
            MtaState.DECRYPT: self.decrypt,
            MtaState.REPORT_UNDECRYPTABLE: self.report,
        }
        self.kdc: str | None = None
        self.credentials: asclient.Credentials | None = None
        self.tgt: asclient.Credentials | None = None
        self.sa: SnmpSa | None = None

    def begin_walk(self) -> None:
        super().begin_walk()
        self.kdc = None
        self.credentials = self.tgt = None
        self.sa = None
        self.user: UsmUser | None = None
        self.key = b""
        self.alg: int | None = None

    # -- MTA-5 ... MTA-8 ----------------------------------------------------------------
    async def locate_kdc(self) -> object | None:
        assert self.ack is not None
        servers = self.ack.ccc.get("kdc-servers") or []
        if not servers:
            why = "the ACK has no option 122.10; the simulator does not look the KDC up by DNS SRV"
            self.deviate("MTA-5...8", why)
            return ev.KdcNotFound(why)
        self.kdc = str(servers[0])
        return ev.KdcLocated(self.kdc)

    def prov_fqdn(self) -> str:
        assert self.ack is not None
        value = self.ack.ccc.get("prov-server")
        return value if isinstance(value, str) and value else self.lab.settings.prov_fqdn

    # -- MTA-9 ... MTA-12 ---------------------------------------------------------------
    async def _kdc_exchange(self, request: bytes, step: str) -> bytes | None:
        assert self.ack is not None and self.kdc is not None
        waits = backoff_waits(*_backoff(self.ack.ccc.get("as-req-backoff"), AS_BACKOFF))
        scale = self.config.kerberos_wait_scale
        reply = await udp_exchange(request, (self.kdc, self.config.kdc_port), str(self.ack.yiaddr),
                                   [w * scale for w in waits])
        if reply is None:
            self.deviate(step, f"no answer from the KDC {self.kdc}:{self.config.kdc_port}")
        return reply

    async def as_exchange(self) -> object | None:
        realm = self.expected_realm
        assert self.ack is not None
        want_tgt = bool(self.ack.ccc.get("use-tgt"))  # 122.7 (RFC 3495 5.7): MTA-11/12 follow
        service = ("krbtgt", realm) if want_tgt else (PROV_SERVICE, self.prov_fqdn())
        now = dt.datetime.now(dt.UTC)
        manufacturer = self.lab.get("mta-manufacturer").certificate
        request = asclient.build_as_req(self.device.certificate, self.device.key, [manufacturer],  # type: ignore[arg-type]
                                        principal=self.principal, realm=realm, service=service, now=now,
                                        nonce=self.rng.getrandbits(31))
        reply = await self._kdc_exchange(request, "MTA-9/10")
        if reply is None:
            return ev.KdcUnanswered()
        try:
            creds = asclient.read_as_rep(request, reply, self.device.key,  # type: ignore[arg-type]
                                         [self.lab.get("sp-root").certificate], now=dt.datetime.now(dt.UTC))
        except asclient.KdcRefused as exc:
            self.deviate("MTA-10", f"the KDC refused the AS Request: {exc}")
            return ev.KdcRefused(exc.code, exc.text)
        except asclient.AsError as exc:
            self.deviate("MTA-10", f"AS Reply not accepted: {exc}")
            return ev.AsReplyUntrusted(str(exc))
        if want_tgt:
            self.tgt = creds
            return ev.TgtReceived()
        self.credentials = creds
        return ev.AsReplyReceived()

    async def tgs_exchange(self) -> object | None:
        assert self.tgt is not None
        request = asclient.build_tgs_req(self.tgt, principal=self.principal, realm=self.expected_realm,
                                         service=(PROV_SERVICE, self.prov_fqdn()), now=dt.datetime.now(dt.UTC),
                                         nonce=self.rng.getrandbits(31))
        reply = await self._kdc_exchange(request, "MTA-11/12")
        if reply is None:
            return ev.KdcUnanswered()
        try:
            self.credentials = asclient.read_tgs_rep(request, reply, self.tgt)
        except asclient.KdcRefused as exc:
            self.deviate("MTA-12", f"the KDC refused the TGS Request: {exc}")
            return ev.KdcRefused(exc.code, exc.text)
        except asclient.AsError as exc:
            self.deviate("MTA-12", f"TGS Reply not accepted: {exc}")
            return ev.KdcRefused(0, str(exc))
        return ev.TgsReplyReceived()

    # -- MTA-13/14 ------------------------------------------------------------------------
    def engine_id(self) -> bytes:
        return make_engine_id(EngineIdFormat.MAC, self.id.mta_mac)

    async def key_management(self) -> object | None:
        assert self.ack is not None and self.credentials is not None
        host, _ = await self.prov_server()
        user = f"MTA-Prov-{self.id.mta_mac.hex(':')}"
        app = km.SnmpAppData(self.engine_id(), 1, int(self.loop.time() - self.machine.history[0].at), user)
        nominal, maximum, retries = _backoff(self.ack.ccc.get("ap-req-backoff"), AP_BACKOFF)
        scale = self.config.kerberos_wait_scale
        kind = _ForgedHmacClient if self.config.secure_fault == "ap-hmac" else KmClient
        client = kind(self.credentials.ticket, self.credentials.session_key,
                          Principal(self.expected_realm, (self.principal,)), app,
                          backoff=KmBackoff(nominal * scale, maximum * scale, retries))
        notes: list[object] = []
        try:
            self.sa = await kmaio.establish(client, (host, self.config.km_port), clock=time.time,
                                            local=(str(self.ack.yiaddr), 0), notes=notes)
        except kmaio.KmFailed as exc:
            self.deviate("MTA-13/14", f"key management failed: {exc}")
            return ev.KeyManagementFailed(str(exc))
        finally:
            for note in notes:
                self.deviate("MTA-14", f"key management: {note}")
        try:
            await self.start_secure_agent()
        except OSError as exc:
            self.deviate("MTA-14", f"cannot answer SNMPv3 on the leased address: {exc}")
            return None
        return ev.ApReplyReceived()

    # -- MTA-15 ... MTA-25 over SNMPv3 ------------------------------------------------------
    async def start_secure_agent(self) -> None:
        """The agent and the INFORM sender of MTA-4 turned SNMPv3 only, with the association's
        user (no community is answered: a Secure eMTA's objects are not readable without keys)."""
        assert self.ack is not None and self.sa is not None and self.agent is not None
        self.user = self.sa.usm_user()
        if self.config.secure_fault == "usm-keys":
            self.user = replace(self.user, auth_key=bytes(b ^ 0xFF for b in self.user.auth_key))
        # Its clock as the AP Request told it: boots 1, time from the walk's start.
        engine = UsmEngine(self.engine_id(), started=self.machine.history[0].at, salt=self.rng.getrandbits(31))
        engine.add_user(self.user)
        self.mib = MtaMib(self.config.tree, {}, mac=self.id.mta_mac, serial=self.id.serial,
                          correlation_id=self.id.correlation_id, type_identifier=self.type_identifier, hybrid=True,
                          on_set=self.on_set, users={self.user.name: True})
        o = self.mib.o
        if o.config_key is not None:
            self.mib.view.define(o.config_key, "String", b"", writable=True)
        if o.encrypt_alg is not None:
            self.mib.view.define(o.encrypt_alg, "Integer", int(EncryptAlg.DES64_CBC), writable=True)  # DEFVAL
        # The same sockets (a port closed and bound again at once may still be taken).
        self.agent.handler, self.agent.usm, self.agent.v3_handler = None, engine, self.mib.answer_v3
        if self.informer is None:
            self.informer = await open_endpoint(str(self.ack.yiaddr), 0, timeout=self.config.snmp_timeout,
                                                retries=self.config.snmp_retries)
        self.informer.usm = engine

    def on_set(self, written: set[tuple[int, ...]]) -> None:
        # The key (and algorithm) first: the URL's SET wakes the walk up.
        if self.mib is not None:
            o = self.mib.o
            if o.config_key is not None and o.config_key in written:
                key = self.mib.value(o.config_key)
                self.key = key if isinstance(key, bytes) else b""
            if o.encrypt_alg is not None:
                alg = self.mib.value(o.encrypt_alg)
                self.alg = alg if isinstance(alg, int) else None
        super().on_set(written)

    async def inform(self, varbinds: tuple, step: str) -> object:  # type: ignore[type-arg]
        if self.user is None or self.informer is None or self.informer.usm is None:
            return await super().inform(varbinds, step)
        try:
            host, port = await self.prov_server()
        except OSError as exc:
            self.deviate(step, f"provisioning server (122.3) does not resolve: {exc}")
            return ev.InformUnanswered()
        try:
            # The receiver is authoritative for an INFORM: discovery finds its engine (RFC 3414 4).
            pdu = await self.informer.request_v3((host, port), self.user.at_engine(b""), m.PduType.INFORM, varbinds)
        except UsmFailure as exc:
            self.deviate(step, f"SNMPv3 INFORM refused: {exc}")
            return ev.UsmRejected(exc.stat.mib_name)
        except (TimeoutError, OSError) as exc:
            self.deviate(step, f"SNMPv3 INFORM to {host}:{port} unacknowledged: {exc!r}")
            return ev.InformUnanswered()
        if pdu.error_status:
            self.deviate(step, f"INFORM answered with error-status {pdu.error_status}")
        return ev.InformAcked()

    # -- MTA-23: decryption ----------------------------------------------------------------
    def protection(self) -> Protection:
        """The algorithm the SET named (IETF tree), else the one the key's length means."""
        if self.alg is not None:
            return Protection(EncryptAlg(self.alg))
        return Protection(EncryptAlg.DES64_CBC if self.key else EncryptAlg.NONE)

    async def decrypt(self) -> object | None:
        try:
            plaintext = unprotect(self.file, self.hash, self.key, self.protection())
        except (FileProtectionError, ValueError) as exc:
            self.deviate("MTA-23", f"config file refused: {exc}")
            self.outcome = ProvisioningState.FAIL_CONFIG_FILE_ERROR
            if self.mib is not None:
                self.mib.set_state(int(self.outcome))
            return ev.ConfigDecryptFailed(getattr(exc, "reason", str(exc)))
        self.file = plaintext
        return ev.ConfigDecrypted()

