"""Kerberos principal names as ASN.1 (RFC 4120 section 5.2.2, RFC 4556 section 3.2.2).

The structures are declared with asn1crypto's typed classes (a table of
fields per type, not hand-written DER): asn1crypto was chosen over
minikerberos and impacket for the Secure flow's Kerberos, PKINIT and CMS
structures (docs/secure.md, "Libraries"), with both kept as test oracles.

Only the names live here for now: the KDC certificate carries its principal
``krbtgt/REALM@REALM`` in an ``id-pkinit-san`` subjectAltName, which MIT's
``kinit`` checks before it trusts the KDC.
"""

from __future__ import annotations

from asn1crypto import core

#: RFC 4556 section 3.2.2: the otherName type of a Kerberos principal in a certificate.
ID_PKINIT_SAN = "1.3.6.1.5.2.2"
#: RFC 4556 section 3.2.4 / 3.2.2: extended key usages of PKINIT clients and KDCs.
ID_PKINIT_KPCLIENTAUTH = "1.3.6.1.5.2.3.4"
ID_PKINIT_KPKDC = "1.3.6.1.5.2.3.5"

#: RFC 4120 section 6.2: name types used by the Secure flow.
NT_PRINCIPAL = 1
NT_SRV_INST = 2


class KerberosString(core.GeneralString):
    pass


class _NameStrings(core.SequenceOf):
    _child_spec = KerberosString


class PrincipalName(core.Sequence):
    _fields = [
        ("name-type", core.Integer, {"explicit": 0}),
        ("name-string", _NameStrings, {"explicit": 1}),
    ]


class KRB5PrincipalName(core.Sequence):
    _fields = [
        ("realm", KerberosString, {"explicit": 0}),
        ("principalName", PrincipalName, {"explicit": 1}),
    ]


def principal_der(realm: str, name_type: int, *components: str) -> bytes:
    """DER of a KRB5PrincipalName, e.g. ``principal_der("R", NT_SRV_INST, "krbtgt", "R")``."""
    if not components:
        raise ValueError("a principal name needs at least one component")
    value = KRB5PrincipalName({
        "realm": realm,
        "principalName": {"name-type": name_type, "name-string": list(components)},
    })
    return bytes(value.dump())


def parse_principal(der: bytes) -> tuple[str, int, tuple[str, ...]]:
    """(realm, name type, components) of a KRB5PrincipalName; ValueError when it is not one."""
    try:
        value = KRB5PrincipalName.load(der, strict=True)
        native = value.native
        return (str(native["realm"]), int(native["principalName"]["name-type"]),
                tuple(str(c) for c in native["principalName"]["name-string"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a KRB5PrincipalName: {exc}") from exc
