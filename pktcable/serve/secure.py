"""The Secure flow's services inside ``serve``: the realm's KDC (MTA-9/10, 11/12) and
Kerberized key management (MTA-13/14), from a lab PKI folder (``pktcable pki init``).

    secure_pki = "lab-pki"   # the KDC's certificate and key, the MTA Root it trusts,
                             # kdc-keys.json (the provisioning server's service key)
    kdc = true               # run the KDC (UDP and TCP) on kdc_port
    kdc_port = 10188         # 88 in production
    km = true                # run key management on km_port
    km_port = 11293          # 1293 in production
    km_suites = ["sha1-des", "md5-des", "sha1-none", "md5-none"]  # preference
    km_lifetime = 604800     # seconds an SNMPv3 association lives (the eMTA rekeys before)
    realms = ["LAB.EXAMPLE.NET", "HYBRID.2"]  # the lab's Kerberos realm may now be offered

The Kerberos realm goes in option 122.6 only when both the KDC and key management
run: an eMTA told a realm with no KDC, or a KDC but nobody to key with, cannot get
past MTA-10 or MTA-14. The realm is the lab's (pki.json): its KDC certificate names
``krbtgt/REALM`` and its provisioning-server principal is ``mtaprovsrvr/<prov FQDN>``,
the FQDN the eMTA is told in option 122.3.

A device keyed here (KEYED) goes on over SNMPv3 with its association's keys: serve's
SNMP endpoint speaks USM (engine ID :func:`engine_id`), the entity takes the INFORMs of
that user only and SETs the URL, hash and key of an encrypted file
(pktcable/provision/secureentity.py; docs/secure.md, "A Secure lab in minutes").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pktcable.settings import SettingError, named

if TYPE_CHECKING:
    import asyncio

    from pktcable.secure.kdcnet import KdcServer
    from pktcable.secure.kmaio import KmServerEndpoint
    from pktcable.secure.kmkeys import SnmpSa

log = logging.getLogger("pktcable.secure")
Address = tuple[str, int]

#: km_suites names -> (authentication, privacy) codes of key management (docs/secure.md).
SUITE_NAMES = {"sha1-des": (0x22, 0x21), "md5-des": (0x21, 0x21), "sha1-none": (0x22, 0x20), "md5-none": (0x21, 0x20)}
DEFAULT_SUITES = ("sha1-des", "md5-des", "sha1-none", "md5-none")


@dataclass(frozen=True, slots=True)
class SecureSettings:
    """What the settings say of the Secure flow, checked."""

    folder: Path
    realm: str
    prov_fqdn: str
    kdc_port: int
    km_port: int
    suites: tuple[tuple[int, int], ...]
    lifetime: int
    #: Seconds a device clock may be off (kdc_max_skew).
    max_skew: int = 300


def check(cfg: Any) -> SecureSettings | None:
    """The Secure settings of ``cfg`` (a ServeConfig), or None when neither service is on;
    a SettingError names the setting at fault."""
    if not cfg.kdc and not cfg.km:
        return None
    if not (cfg.kdc and cfg.km):
        missing = "km" if cfg.kdc else "kdc"
        raise named(missing, "the Secure flow needs both the KDC (kdc) and key management (km): set both to true")
    if not cfg.secure_pki:
        raise named("secure_pki", "kdc and km need the lab PKI folder (pktcable pki init)")
    from pktcable.secure.labdir import LabPki
    from pktcable.secure.pki import PkiError

    try:
        lab = LabPki.open(Path(cfg.secure_pki))
    except (OSError, ValueError, PkiError) as exc:
        raise named("secure_pki", f"{cfg.secure_pki}: not a lab PKI folder ({exc})") from None
    suites = []
    for i, name in enumerate(cfg.km_suites):
        if name not in SUITE_NAMES:
            raise named(f"km_suites[{i}]", f"{name!r} is none of {', '.join(SUITE_NAMES)}")
        suites.append(SUITE_NAMES[name])
    if not suites:
        raise named("km_suites", f"empty: give at least one of {', '.join(SUITE_NAMES)}")
    return SecureSettings(Path(cfg.secure_pki), lab.settings.realm, lab.settings.prov_fqdn, cfg.kdc_port,
                          cfg.km_port, tuple(suites), cfg.km_lifetime, cfg.kdc_max_skew)


def kerberos_realm(cfg: Any) -> str | None:
    """The Kerberos realm serve may offer, or None; SettingError when the settings do not hold."""
    settings = check(cfg)
    return None if settings is None else settings.realm


def engine_id(advertise: IPv4Address) -> bytes:
    """The provisioning server's snmpEngineID: RFC 3411's IPv4 form of the address the
    devices are told (the key-management AP Reply carries it too)."""
    from pktcable.snmp.usm import EngineIdFormat, make_engine_id

    return make_engine_id(EngineIdFormat.IPV4, advertise.packed)


def usm_engine(advertise: IPv4Address) -> Any:
    """The USM engine of serve's SNMP endpoint: its boots start at 1, its clock now."""
    import asyncio
    import os

    from pktcable.snmp.usmengine import UsmEngine

    return UsmEngine(engine_id(advertise), started=asyncio.get_running_loop().time(),
                     salt=int.from_bytes(os.urandom(4), "big"))


class SecureServices:
    """The KDC and the key-management endpoint of one back office."""

    def __init__(self, settings: SecureSettings, host: str, advertise: IPv4Address,
                 on_keyed: Callable[[str, SnmpSa, Address], None],
                 on_refused: Callable[[str, str, str], None] | None = None, *,
                 mapper: Callable[[Any], str | None] | None = None) -> None:
        self.settings = settings
        #: Device certificate -> principal (kdcservice.StoreMapper: the device store decides
        #: who gets tickets); None: every device certificate of the lab's MTA Root.
        self.mapper = mapper
        self.host, self.advertise = host, advertise
        #: (source address, reason, detail) of each AP Request key management refused.
        self.on_refused = on_refused
        #: (device principal, its association, where its AP Request came from).
        self.on_keyed = on_keyed
        self.kdc: KdcServer | None = None
        self.km_transport: asyncio.DatagramTransport | None = None
        self.km: KmServerEndpoint | None = None

    async def start(self) -> None:
        import asyncio
        import datetime as dt

        from pktcable.secure import kdc, kdclab, km, kmaio
        from pktcable.secure.kdcnet import KdcServer
        from pktcable.secure.krbap import Principal
        from pktcable.secure.labdir import LabPki
        s = self.settings
        lab = LabPki.open(s.folder)
        mapper = {} if self.mapper is None else {"mapper": self.mapper}
        if self.mapper is not None and hasattr(self.mapper, "loop"):
            self.mapper.loop = asyncio.get_running_loop()
        self.kdc = KdcServer(kdc.Kdc(kdclab.config(lab, max_skew=dt.timedelta(seconds=s.max_skew), **mapper)),
                             self.host, s.kdc_port)
        await self.kdc.start()
        keys = kdclab.service_keys(lab)
        service_name = (kdclab.PROV_SERVICE, s.prov_fqdn)
        service_key = keys[service_name]

        def lookup(etype: int, kvno: int | None) -> Any:
            if etype == service_key.key.enctype and kvno in (None, service_key.kvno):
                return service_key.key
            return None

        server = km.KmServer(Principal(s.realm, service_name, 2), lookup, engine_id(self.advertise),
                             policy=km.ServerPolicy(suites=s.suites, sa_lifetime=s.lifetime))
        self.km_transport, self.km = await kmaio.serve(server, self.host, s.km_port,
                                                       on_established=self._established,
                                                       on_refused=self._refused)

    def _refused(self, event: Any) -> None:
        if self.on_refused is not None:
            self.on_refused(event.peer[0], event.reason, event.detail)

    def _established(self, sa: SnmpSa, peer: Address) -> None:
        self.on_keyed(sa.client, sa, peer)

    def addresses(self) -> dict[str, Address]:
        out: dict[str, Address] = {}
        if self.kdc is not None:
            out["kdc"] = self.kdc.address
        if self.km_transport is not None:
            host, port = self.km_transport.get_extra_info("sockname")[:2]
            out["km"] = (host, port)
        return out

    async def close(self) -> None:
        if self.km_transport is not None:
            self.km_transport.close()
        if self.kdc is not None:
            await self.kdc.close()


__all__ = ["SecureServices", "SecureSettings", "SettingError", "check", "kerberos_realm"]


class SecureEvents:
    """What the Secure services tell the provisioning entity: an association made (the
    device goes on over SNMPv3), an AP Request or an SNMPv3 message refused (on the
    history of the device holding the sender's address now, if any). A bug here costs
    one event, counted, never the endpoint that reported it."""

    def __init__(self, entity: Callable[[], Any], lease_view: Any, clock: Callable[[], float],
                 internal_errors: Any) -> None:
        self.entity, self.lease_view, self.clock = entity, lease_view, clock
        self.internal_errors = internal_errors

    def keyed(self, client: str, sa: object, peer: Address) -> None:
        from pktcable.provision.entity import internal_error

        try:
            entity = self.entity()
            assert entity is not None
            entity.keys_established(client, sa, peer[0])
        except Exception:
            internal_error(self.internal_errors, "snmp", "key management for %s", client)

    def key_refused(self, ip: str, reason: str, detail: str) -> None:
        from pktcable.flow import events as ev

        self._refusal(ip, ev.KeyRequestRefused(reason), f"{reason}: {detail}")

    def usm_refused(self, refused: Any, addr: Address) -> None:
        """An SNMPv3 message USM refused (usmengine.Refused): a Secure device whose keys do not work."""
        from pktcable.flow import events as ev

        self._refusal(addr[0], ev.UsmFailed(refused.stat.mib_name), f"{refused.stat.mib_name}: {refused.detail}")

    def _refusal(self, ip: str, event: object, detail: str) -> None:
        from pktcable.provision.entity import internal_error
        from pktcable.store.devices import normalize_mac

        try:
            lease = self.lease_view.by_address.get(IPv4Address(ip))
            entity = self.entity()
            if lease is not None and lease.expires > self.clock() and entity is not None:
                entity.secure_refusal(normalize_mac(lease.mac), event, detail)
        except Exception:
            internal_error(self.internal_errors, "snmp", "a Secure refusal from %s", ip)
