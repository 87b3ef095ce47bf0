"""A KDC configuration from a lab PKI folder (``pktcable pki init``).

The KDC signs with the lab's ``kdc.pem``/``kdc.key``, sends the SP CA with it,
trusts ``mta-root.pem`` for devices and knows ``mta-manufacturer.pem``. The
long-term keys of the two services it issues tickets for — the provisioning
server ``mtaprovsrvr/<prov FQDN>`` (option 122.3) and ``krbtgt/<REALM>`` — live in
``kdc-keys.json`` next to them, made with random keys on first use (mode 0600:
whoever reads it can forge tickets; the provisioning server reads its key there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pktcable.compiling import write_all

from . import krbcrypto
from .kdc import KdcConfig, ServiceKey
from .labdir import LabPki

KEYS_FILE = "kdc-keys.json"
PROV_SERVICE = "mtaprovsrvr"


def service_names(lab: LabPki) -> list[tuple[str, ...]]:
    s = lab.settings
    return [(PROV_SERVICE, s.prov_fqdn), ("krbtgt", s.realm)]


def service_keys(lab: LabPki, *, random: Callable[[int], bytes] = os.urandom,
                 enctype: int = krbcrypto.AES256_CTS_HMAC_SHA1_96) -> dict[tuple[str, ...], ServiceKey]:
    """The services' keys from ``kdc-keys.json``, the file made (and missing services
    added) with fresh random keys of ``enctype`` when needed."""
    path = lab.folder / KEYS_FILE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise ValueError(f"{path}: not a key file ({exc})") from None
    changed = False
    for name in service_names(lab):
        label = "/".join(name)
        if label not in data:
            key = krbcrypto.random_to_key(enctype, random(krbcrypto.key_lengths(enctype)[0]))
            data[label] = {"enctype": key.enctype, "kvno": 1, "key": key.value.hex()}
            changed = True
    if changed:
        _write_private(path, (json.dumps(data, indent=2) + "\n").encode())
    out = {}
    for label, entry in data.items():
        try:
            out[tuple(label.split("/"))] = ServiceKey(krbcrypto.Key(int(entry["enctype"]), bytes.fromhex(entry["key"])),
                                                      int(entry["kvno"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {label}: {exc!r}") from None
    return out


def config(lab: LabPki, **settings: Any) -> KdcConfig:
    """A :class:`KdcConfig` for the lab's realm; ``settings`` override the defaults."""
    kdc = lab.get("kdc")
    return KdcConfig(realm=lab.settings.realm, certificate=kdc.certificate, key=kdc.key,
                     chain=[lab.get("sp-ca").certificate], mta_roots=[lab.get("mta-root").certificate],
                     intermediates=[lab.get("mta-manufacturer").certificate],
                     services=service_keys(lab), **settings)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def prov_key_lookup(lab: LabPki) -> Callable[[int, int | None], krbcrypto.Key | None]:
    """The provisioning server's key lookup (``krbap.KeyLookup``: by enctype and kvno,
    kvno None for any) over ``kdc-keys.json``: what key management verifies the tickets
    of this KDC with."""
    key = service_keys(lab).get((PROV_SERVICE, lab.settings.prov_fqdn))

    def lookup(enctype: int, kvno: int | None) -> krbcrypto.Key | None:
        if key is None or key.key.enctype != enctype or kvno not in (None, key.kvno):
            return None
        return key.key

    return lookup
