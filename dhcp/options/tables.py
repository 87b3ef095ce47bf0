"""The option tables: DHCPv4 options and the CableLabs sub-option spaces.

Names are kebab-case in Kea's style; ``ref`` names the spec section. A space
is named once and referenced by name wherever it nests.
"""

from __future__ import annotations

from ..capabilities import CODECS, MODEM_CAPABILITIES, VENDOR_CLASS
from .space import ENTERPRISES, OptionDef, OptionSpace, register
from .types import (
    BACKOFF,
    BYTES,
    FLAG,
    INT32,
    IPV4,
    IPV4_LIST,
    MAC,
    OUI,
    PROV_SERVER,
    REALM,
    SIP_SERVERS,
    TEXT,
    UINT8,
    UINT8_LIST,
    UINT16,
    UINT32,
    Bits,
)

CABLELABS = 4491  # IANA enterprise number of Cable Television Laboratories

DHCP4 = OptionSpace("dhcp4", (
    OptionDef(1, "subnet-mask", IPV4, ref="RFC 2132 3.3"),
    OptionDef(2, "time-offset", INT32, ref="RFC 2132 3.4"),
    OptionDef(3, "routers", IPV4_LIST, ref="RFC 2132 3.5"),
    OptionDef(4, "time-servers", IPV4_LIST, ref="RFC 2132 3.6; RFC 868 ToD for the CM"),
    OptionDef(6, "domain-name-servers", IPV4_LIST, ref="RFC 2132 3.8"),
    OptionDef(7, "log-servers", IPV4_LIST, ref="RFC 2132 3.9; syslog of CM and MTA"),
    OptionDef(12, "host-name", TEXT, ref="RFC 2132 3.14; MTA FQDN = 12 + '.' + 15"),
    OptionDef(15, "domain-name", TEXT, ref="RFC 2132 3.17"),
    OptionDef(28, "broadcast-address", IPV4, ref="RFC 2132 5.3"),
    OptionDef(42, "ntp-servers", IPV4_LIST, ref="RFC 2132 8.3"),
    OptionDef(43, "vendor-encapsulated-options", space="cablelabs-client",
              ref="RFC 2132 8.4; CableLabs sub-options when option 60 is a cable prefix"),
    OptionDef(50, "dhcp-requested-address", IPV4, ref="RFC 2132 9.1"),
    OptionDef(51, "dhcp-lease-time", UINT32, ref="RFC 2132 9.2"),
    OptionDef(52, "dhcp-option-overload", UINT8, ref="RFC 2132 9.3; 1 file, 2 sname, 3 both"),
    OptionDef(53, "dhcp-message-type", UINT8, ref="RFC 2132 9.6"),
    OptionDef(54, "dhcp-server-identifier", IPV4, ref="RFC 2132 9.7"),
    OptionDef(55, "dhcp-parameter-request-list", UINT8_LIST, ref="RFC 2132 9.8"),
    OptionDef(56, "dhcp-message", TEXT, ref="RFC 2132 9.9"),
    OptionDef(57, "dhcp-max-message-size", UINT16, ref="RFC 2132 9.10"),
    OptionDef(58, "dhcp-renewal-time", UINT32, ref="RFC 2132 9.11"),
    OptionDef(59, "dhcp-rebinding-time", UINT32, ref="RFC 2132 9.12"),
    OptionDef(60, "vendor-class-identifier", VENDOR_CLASS, ref="RFC 2132 9.13; docsisX.Y: / pktcX.Y: + hex"),
    OptionDef(61, "dhcp-client-identifier", BYTES, ref="RFC 2132 9.14; RFC 4361"),
    OptionDef(66, "tftp-server-name", TEXT, ref="RFC 2132 9.4"),
    OptionDef(67, "boot-file-name", TEXT, ref="RFC 2132 9.5"),
    OptionDef(82, "relay-agent-information", space="relay-agent", ref="RFC 3046"),
    OptionDef(118, "subnet-selection", IPV4, ref="RFC 3011"),
    OptionDef(120, "sip-servers", SIP_SERVERS, ref="RFC 3361; 0 + domain names or 1 + IPv4 addresses"),
    OptionDef(122, "cablelabs-client-configuration", space="ccc", ref="RFC 3495, RFC 3594, RFC 3634"),
    OptionDef(125, "vivso-suboptions", space="vivso", ref="RFC 3925 4"),
    OptionDef(177, "pktc-ccc-i05", space="ccc-i05", ref="IANA: PacketCable/CableHome, replaced by 122"),
))

TICKET_CONTROL = Bits(2, {0x0001: "invalidate-prov-server-ticket", 0x0002: "invalidate-cms-tickets"})
CCC = OptionSpace("ccc", (
    OptionDef(1, "dhcp-server-1", IPV4, ref="RFC 3495 5.1; to the eCM; 0.0.0.0 disables the eMTA"),
    OptionDef(2, "dhcp-server-2", IPV4, ref="RFC 3495 5.2; to the eCM"),
    OptionDef(3, "prov-server", PROV_SERVER, ref="RFC 3495 5.3; type 0 FQDN or 1 IPv4"),
    OptionDef(4, "as-req-backoff", BACKOFF, ref="RFC 3495 5.4; nominal, maximum, retries"),
    OptionDef(5, "ap-req-backoff", BACKOFF, ref="RFC 3495 5.5; nominal, maximum, retries"),
    OptionDef(6, "realm", REALM, ref="RFC 3495 5.6; a provisioning flow's name (PKT-SP-PROV1.5 7.1) or a Kerberos realm"),
    OptionDef(7, "use-tgt", FLAG, ref="RFC 3495 5.7"),
    OptionDef(8, "prov-timer", UINT8, ref="RFC 3495 5.8; minutes, 0 disables"),
    OptionDef(9, "ticket-control", TICKET_CONTROL, ref="RFC 3594"),
    OptionDef(10, "kdc-servers", IPV4_LIST, ref="RFC 3634"),
))

CCC_I05 = OptionSpace("ccc-i05", (
    OptionDef(1, "primary-dhcp-server", TEXT, ref="PKT-SP-PROV-I05"),
    OptionDef(2, "secondary-dhcp-server", TEXT, ref="PKT-SP-PROV-I05"),
    OptionDef(3, "snmp-entity", TEXT, ref="PKT-SP-PROV-I05"),
    OptionDef(4, "primary-dns-server", TEXT, ref="PKT-SP-PROV-I05"),
    OptionDef(5, "secondary-dns-server", TEXT, ref="PKT-SP-PROV-I05"),
    OptionDef(6, "realm", TEXT, ref="PKT-SP-PROV-I05"),
    OptionDef(7, "use-tgt", FLAG, ref="PKT-SP-PROV-I05"),
    OptionDef(8, "prov-timer", UINT8, ref="PKT-SP-PROV-I05; minutes"),
    OptionDef(9, "cms-fqdn", TEXT, ref="PKT-SP-PROV-I05"),
    OptionDef(10, "as-req-backoff", BACKOFF, ref="PKT-SP-PROV-I05"),
    OptionDef(11, "ap-req-backoff", BACKOFF, ref="PKT-SP-PROV-I05"),
    OptionDef(12, "clear-tickets", UINT8, ref="PKT-SP-PROV-I05; 1 prov server, 2 CMS, 3 all"),
))

CABLELABS_CLIENT = OptionSpace("cablelabs-client", (
    OptionDef(1, "suboption-request-list", UINT8_LIST, ref="CableHome"),
    OptionDef(2, "device-type", TEXT, ref="ECM, EMTA, EPS, EDVA ..."),
    OptionDef(3, "esafe-types", TEXT, ref="e.g. ECM:EMTA"),
    OptionDef(4, "serial-number", TEXT, ref="= pktcMtaDevSerialNumber"),
    OptionDef(5, "hardware-version", TEXT),
    OptionDef(6, "software-version", TEXT, ref="= pktcMtaDevSwCurrentVers"),
    OptionDef(7, "boot-rom-version", TEXT),
    OptionDef(8, "oui", OUI, ref="3 bytes or 6 hex digits"),
    OptionDef(9, "model-number", TEXT),
    OptionDef(10, "vendor-name", TEXT),
    OptionDef(11, "address-realm", UINT8, ref="CableHome; 1 PS WAN-Man, 2 PS WAN-Data"),
    OptionDef(12, "system-description", TEXT, ref="CableHome"),
    OptionDef(13, "firmware-revision", TEXT, ref="CableHome"),
    OptionDef(14, "firewall-policy-version", TEXT, ref="CableHome"),
    OptionDef(31, "mta-mac", MAC, ref="eMTA MAC address"),
    OptionDef(32, "correlation-id", UINT32, ref="= pktcMtaDevCorrelationId"),
    OptionDef(51, "opencable-vendor-name", TEXT, ref="OpenCable"),
), pads=True)

RELAY_AGENT = OptionSpace("relay-agent", (
    OptionDef(1, "circuit-id", BYTES, ref="RFC 3046 3.1"),
    OptionDef(2, "remote-id", BYTES, ref="RFC 3046 3.2; the CM MAC for cable"),
    OptionDef(4, "docsis-device-class", UINT32, ref="RFC 3256"),
    OptionDef(5, "link-selection", IPV4, ref="RFC 3527"),
    OptionDef(6, "subscriber-id", TEXT, ref="RFC 3993"),
    OptionDef(9, "vendor-specific", space="relay-vendor", ref="RFC 4243"),
    OptionDef(11, "server-id-override", IPV4, ref="RFC 5107"),
))
RELAY_VENDOR = OptionSpace("relay-vendor", (), layout="enterprise")
RELAY_VENDOR_4491 = OptionSpace("relay-vendor-4491", (
    OptionDef(1, "cmts-capabilities", space="cmts-capabilities", ref="CableLabs relay sub-option 9.1"),
    OptionDef(2, "dpoe-system-version", BYTES),
    OptionDef(4, "dpoe-pbb-service", BYTES),
    OptionDef(5, "cm-service-class", TEXT),
    OptionDef(6, "mso-defined-text", TEXT),
    OptionDef(7, "secure-file-transfer-uri", TEXT),
))
CMTS_CAPABILITIES = OptionSpace("cmts-capabilities", (
    OptionDef(1, "docsis-version", UINT8_LIST, ref="major, minor"),
))

VIVSO = OptionSpace("vivso", (), layout="enterprise")
VENDOR_4491 = OptionSpace("vendor-4491", (
    OptionDef(1, "oro", UINT8_LIST, ref="option request"),
    OptionDef(2, "tftp-servers", IPV4_LIST),
    OptionDef(3, "erouter-container", BYTES),
    OptionDef(4, "mib-environment", UINT8, ref="1 CableLabs, 2 IETF, 3 EuroCableLabs"),
    OptionDef(5, "modem-capabilities", MODEM_CAPABILITIES, ref="binary TLV 5"),
))

register(DHCP4, CCC, CCC_I05, CABLELABS_CLIENT, RELAY_AGENT, RELAY_VENDOR, RELAY_VENDOR_4491,
         CMTS_CAPABILITIES, VIVSO, VENDOR_4491)
ENTERPRISES[("vivso", CABLELABS)] = "vendor-4491"
ENTERPRISES[("relay-vendor", CABLELABS)] = "relay-vendor-4491"

#: Option-60 prefixes after which option 43 holds CableLabs sub-options (as Wireshark decides).
CABLELABS_VENDOR_PREFIXES = ("pktc", "docsis", "OpenCable2.0", "CableHome")

CODECS_NOTE = CODECS
