"""The PacketCable provisioning flows: the one list of them, with what sets each apart.

Everything else that names flows derives from here or from the tables keyed by
:class:`Flow` (``MTA_TABLES``, ``SERVER_TABLES``): the CLI's choices, the settings
check, the REST API, the DHCP server's realm choice, the simulator's capability
bits, the device store's default. Adding a flow means adding its member here and
its tables in tables.py.

Option 122.6 (RFC 3495 5.6) carries the flow's name as the realm; any other realm
is a Kerberos realm, which selects the Secure flow (PKT-SP-PROV1.5 7.1). The
eMTA's capability TLV 18 (PKT-SP-PROV1.5 8.2, "supported provisioning flows")
has one bit per :class:`Family`.
"""

from __future__ import annotations

from enum import Enum, StrEnum

from dhcp.capabilities import FLOW_BASIC, FLOW_HYBRID, FLOW_SECURE

#: Option 122.6 is a DHCP option's sub-option: its length is one octet.
REALM_MAX_OCTETS = 255


class Family(Enum):
    """A flow family; its value is the family's bit in capability TLV 18."""

    SECURE = FLOW_SECURE
    HYBRID = FLOW_HYBRID
    BASIC = FLOW_BASIC

    @property
    def file_in_dhcp(self) -> bool:
        """Whether the DHCP ACK names the config file (siaddr/file) and the file carries its
        own hash; otherwise the provisioning server SETs the file's location and hash."""
        return self is Family.BASIC


class Flow(StrEnum):
    """A flow by its option 122.6 realm, with its family and whether it ends with the
    MTA-25 status INFORM (the .2 flows do, the .1 flows do not)."""

    family: Family
    reports_status: bool

    BASIC_1 = "BASIC.1", Family.BASIC, False
    BASIC_2 = "BASIC.2", Family.BASIC, True
    HYBRID_1 = "HYBRID.1", Family.HYBRID, False
    HYBRID_2 = "HYBRID.2", Family.HYBRID, True
    #: Its option 122.6 realm is a Kerberos realm (any realm that names no other flow); "SECURE"
    #: is the name settings, the store and metrics give the flow itself.
    SECURE = "SECURE", Family.SECURE, True

    def __new__(cls, realm: str, family: Family, reports_status: bool) -> Flow:
        member = str.__new__(cls, realm)
        member._value_ = realm
        member.family = family
        member.reports_status = reports_status
        return member

    @property
    def hybrid(self) -> bool:
        return self.family is Family.HYBRID

    @property
    def secure(self) -> bool:
        return self.family is Family.SECURE

    @property
    def enrolls(self) -> bool:
        """Whether the eMTA enrolls by SNMP INFORM (MTA-15) and is told its file by SET (MTA-19)."""
        return not self.family.file_in_dhcp

    @property
    def capability_bit(self) -> int:
        """The bit an eMTA sets in capability TLV 18 when it supports this flow."""
        return self.family.value

    @classmethod
    def of(cls, realm: str) -> Flow:
        """The flow ``realm`` names; ValueError for any other text. (``Flow(realm)`` does the
        same at run time; this spelling also tells a type checker which constructor is meant.)"""
        flow = cls.for_realm(realm)
        if flow is None:
            raise ValueError(f"{realm!r} is not a flow ({', '.join(f.value for f in cls)})")
        return flow

    @classmethod
    def for_realm(cls, realm: str) -> Flow | None:
        """The flow option 122.6 ``realm`` selects: the flow it names, else SECURE for a
        Kerberos realm; None for a realm 122.6 cannot carry (:func:`realm_problem`)."""
        named = _NAMED.get(realm)
        if named is not None:
            return named
        return cls.SECURE if realm_problem(realm) is None else None


#: The flows option 122.6 names by their own name (every flow but SECURE, whose realm is Kerberos').
_NAMED = {flow.value: flow for flow in Flow if not flow.secure}


def realm_family(realm: str) -> Family:
    """The family option 122.6 ``realm`` selects: a flow's own, else Secure (Kerberos)."""
    named = _NAMED.get(realm)
    return Family.SECURE if named is None else named.family


def realm_problem(realm: str) -> str | None:
    """Why ``realm`` cannot go in option 122.6, or None. A name of the form FAMILY.n that is
    not a flow (``BASIC.3``, ``hybrid.2``) is a mistyped flow: an eMTA would take it for a
    Kerberos realm and run the Secure flow, or refuse it."""
    if not realm or len(realm.encode()) > REALM_MAX_OCTETS:
        return f"a realm is 1 to {REALM_MAX_OCTETS} octets (option 122.6)"
    family, dot, number = realm.partition(".")
    if dot and number.isdigit() and family.upper() in Family.__members__ and realm not in _NAMED:
        return f"{realm!r} is no flow ({', '.join(_NAMED)}) and not a Kerberos realm either"
    return None


#: The flow of a device nobody named one for (the device store, the API, serve's first realm).
DEFAULT_FLOW = Flow.HYBRID_2
