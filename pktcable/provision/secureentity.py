"""The provisioning entity's Secure-flow parts (MTA-15 ... MTA-25 over SNMPv3): which
SNMPv3 user is which device, and the config file's protection (MTA-18/19).

Kept apart from entity.py so the Hybrid and Basic paths read as they did; the entity
calls these with the association key management made (kmkeys.SnmpSa).

File protection (pktcable.secure.filecrypt, docs/secure.md "Config file protection"):
the CableLabs tree has no algorithm object, its key follows the association's SNMPv3
privacy (8 octets, DES-CBC, when it has DES; none, 0 octets, when it has none); the
IETF tree's pktcMtaDevProvConfigKey is SIZE(32), so there the file is AES-256-CBC
(aes256CbcMode(4) SET in pktcMtaDevProvConfigEncryptAlg), whose key is 32 octets.
The key comes from the system's random source; the hash is over the plaintext.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from pktcable.secure.filecrypt import EncryptAlg, ProtectedFile, Protection, protect
from pktcable.snmp import pktc
from pktcable.snmp.usm import PrivProtocol
from tlv import ber

_STRING = ber.SNMP_TYPE_BY_KEYWORD["string"]
_INTEGER = ber.SNMP_TYPE_BY_KEYWORD["integer"]


def file_protection(tree: pktc.Tree, sa: Any) -> Protection:
    if tree is pktc.Tree.IETF:
        return Protection(EncryptAlg.AES256_CBC)
    return Protection(EncryptAlg.DES64_CBC if sa.priv is not PrivProtocol.NONE else EncryptAlg.NONE)


def protect_file(data: bytes, tree: pktc.Tree, sa: Any,
                 random: Callable[[int], bytes] = os.urandom) -> tuple[ProtectedFile, tuple[ber.VarBind, ...]]:
    """The file to serve and the varbinds MTA-19 adds to the URL and hash: the key and,
    in the IETF tree, the algorithm. ValueError for a tree with no key object (Euro)."""
    o = pktc.oids(tree)
    if o.config_key is None:
        raise ValueError(f"the {tree.value} MIB tree has no pktcMtaDevProvConfigKey: no Secure flow in it")
    protection = file_protection(tree, sa)
    protected = protect(data, random(protection.alg.key_octets), protection)
    extra = [ber.VarBind(o.config_key, _STRING, protected.key)]
    if o.encrypt_alg is not None:
        extra.append(ber.VarBind(o.encrypt_alg, _INTEGER, int(protected.alg)))
    return protected, tuple(extra)
