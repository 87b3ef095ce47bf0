"""A CVC that arrives in a CM config file (TLV 32 or 33) or by SNMP: checked and taken (sans-IO).

The config file of a modem due for an upgrade carries the CVC that enables it:
the manufacturer's (TLV 32) or the co-signer's (TLV 33), split into TLVs of 254
bytes that the config-file decoder joins again (tlv.configfile.certificates).
The modem checks it as it checks a code file's CVC, then moves its stored
cvcAccessStart forward; a co-signer CVC also names the co-signer the modem will
require from then on. What the specification says and what is unverified:
docs/firmware.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID

from pktcable.secure import pki

from . import der
from .codefile import AccessStart, AccessState, CodeFileError, CvcTrust

MAX_CVC = 16 * 1024  # a CVC is about 1 kB; a config file holds at most a few
ROLES = ("manufacturer", "co-signer")
#: The config-file TLV of each role (MULPI C.1.2.10 and C.1.2.11).
TLV_OF_ROLE = {"manufacturer": 32, "co-signer": 33}


def accept_cvc(cvc_der: bytes, role: str, trust: CvcTrust, state: AccessState, *,
               now: dt.datetime | None = None) -> tuple[CvcTrust, AccessState]:
    """Check a manufacturer or co-signer CVC (DER) against ``trust``; return the trust and
    the stored times with it taken. CodeFileError (its reasons) when it is refused.

    - the CVC chains to the CVC root with id-kp-codeSigning (at its own validity start,
      or also at ``now`` with ``trust.check_clock``);
    - a manufacturer CVC names the device's manufacturer (subject O);
    - its validity start is not earlier than the stored cvcAccessStart; a later one
      becomes the new cvcAccessStart;
    - a co-signer CVC of another organization than the current co-signer makes that
      organization the co-signer, with both its times at the CVC's validity start.
    """
    if role not in ROLES:
        raise ValueError(f"role {role!r}: one of {', '.join(ROLES)}")
    path = f"TLV {TLV_OF_ROLE[role]}"
    cert = _load(cvc_der, path)
    start = cert.not_valid_before_utc
    at_times = [start] if now is None or not trust.check_clock else [start, now]
    for moment in at_times:
        try:
            pki.verify_chain(cert, [], trust.root, now=moment, purpose=ExtendedKeyUsageOID.CODE_SIGNING)
        except pki.ValidityError as exc:
            raise CodeFileError("cvc-expired", str(exc), path=path, offset=0) from None
        except pki.PurposeError as exc:
            raise CodeFileError("not-code-signing", str(exc), path=path, offset=0) from None
        except pki.PkiError as exc:
            raise CodeFileError("cvc-untrusted", str(exc), path=path, offset=0) from None
        except (ValueError, UnsupportedAlgorithm) as exc:  # an extension cryptography reads lazily
            raise CodeFileError("malformed", f"{type(exc).__name__}: {exc}", path=path, offset=0) from None
    org = pki.organization(cert) or ""
    if role == "manufacturer":
        if org != trust.manufacturer:
            raise CodeFileError("wrong-manufacturer", f"the CVC names {org!r}, the device's manufacturer is "
                                f"{trust.manufacturer!r}", path=path, offset=0)
        return trust, dataclasses.replace(state, manufacturer=_forward(state.manufacturer, start, path))
    if trust.cosigner != org or state.cosigner is None:
        # A new co-signer: its times start with this CVC.
        return dataclasses.replace(trust, cosigner=org), dataclasses.replace(state, cosigner=AccessStart(start, start))
    return trust, dataclasses.replace(state, cosigner=_forward(state.cosigner, start, path))


def _forward(access: AccessStart, start: dt.datetime, path: str) -> AccessStart:
    if start < access.cvc:
        raise CodeFileError("stale-cvc", f"the CVC is valid from {start:%Y-%m-%d %H:%M:%S}Z, before "
                            f"cvcAccessStart {access.cvc:%Y-%m-%d %H:%M:%S}Z", path=path, offset=0)
    return AccessStart(access.code, max(access.cvc, start))


def _load(data: bytes, path: str) -> x509.Certificate:
    if len(data) > MAX_CVC:
        raise CodeFileError("malformed", f"{len(data)} bytes, more than the limit of {MAX_CVC}", path=path, offset=0)
    try:
        der.walk(data)
    except der.DerError as exc:
        raise CodeFileError("malformed", exc.why, path=path, offset=exc.offset) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # what cryptography would only warn about is refused
            cert = x509.load_der_x509_certificate(data)
            cert.serial_number, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()  # noqa: B018
            return cert
    except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm, Warning) as exc:
        raise CodeFileError("malformed", f"not an X.509 certificate ({exc})", path=path, offset=0) from None
