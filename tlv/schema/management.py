"""SNMP, channel, energy, timing, eRouter and eSTB settings (TLV 34 ... 217)."""

from __future__ import annotations

from tlv.schema._rows import block, row, sub
from tlv.types import (
    ETHER,
    HEXSTR,
    IP,
    IP6,
    IP_IP6,
    IP_IP6_PORT,
    OID,
    SNMP_VARBIND,
    STRING,
    STRZERO,
    UCHAR,
    UINT,
    USHORT,
)

# TLV 34.
SNMPV3_KICKSTART = sub(
    "SnmpV3Kickstart",
    [
        row(1, "SnmpV3SecurityName", STRING, 1, 16, spec="MULPIv3.0 C.1.2.9.1"),
        row(2, "SnmpV3MgrPublicNumber", HEXSTR, 1, 514, spec="MULPIv3.0 C.1.2.9.2"),
    ],
)

# TLV 38.
SNMPV3_TRAP_RECEIVER = sub(
    "SnmpV3TrapReceiver",
    [
        row(1, "SnmpV3TrapRxIP", IP, spec="MULPIv3.0 C.1.2.12.1"),
        row(2, "SnmpV3TrapRxPort", USHORT, spec="MULPIv3.0 C.1.2.12.2"),
        row(3, "SnmpV3TrapRxType", USHORT, 1, 5, spec="MULPIv3.0 C.1.2.12.3"),
        row(4, "SnmpV3TrapRxTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.1.2.12.4"),
        row(5, "SnmpV3TrapRxRetries", USHORT, 0, 65535, spec="MULPIv3.0 C.1.2.12.5"),
        row(6, "SnmpV3TrapRxFilterOID", OID, 1, 5, spec="MULPIv3.0 C.1.2.12.6"),
        row(7, "SnmpV3TrapRxSecurityName", STRING, 1, 16, spec="MULPIv3.0 C.1.2.12.7"),
        row(8, "SnmpV3TrapRxIP6", IP6, spec="MULPIv3.0 C.1.2.12.8"),
    ],
)

# TLV 41.1.
SINGLE_DS_CHANNEL = sub(
    "SingleDsChannel",
    [
        row(1, "SingleDsTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.1.1.22.1.1"),
        row(2, "SingleDsFrequency", UINT, 0, 4294967295, spec="MULPIv3.0 C.1.1.22.1.2"),
    ],
)

# TLV 41.2.
DS_FREQ_RANGE = sub(
    "DsFreqRange",
    [
        row(1, "DsFreqRangeTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.1.1.22.2.1"),
        row(2, "DsFreqRangeStart", UINT, 0, 4294967295, spec="MULPIv3.0 C.1.1.22.2.2"),
        row(3, "DsFreqRangeEnd", UINT, 0, 4294967295, spec="MULPIv3.0 C.1.1.22.2.3"),
        row(4, "DsFreqRangeStepSize", UINT, 0, 4294967295, spec="MULPIv3.0 C.1.1.22.2.4"),
    ],
)

# TLV 41.
DS_CHANNEL_LIST = sub(
    "DsChannelList",
    [
        block(1, "SingleDsChannel", SINGLE_DS_CHANNEL, spec="MULPIv3.0 C.1.1.22.1"),
        block(2, "DsFreqRange", DS_FREQ_RANGE, spec="MULPIv3.0 C.1.1.22.2"),
        row(3, "DefaultScanTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.1.1.22.3"),
    ],
)

# TLV 45.
DUT_FILTERING = sub(
    "DUTFiltering",
    [
        row(1, "DUTControl", UCHAR, 0, 1, spec="L2VPN B.2.1"),
        row(2, "DUTCMIM", HEXSTR, spec="L2VPN B.2.2"),
    ],
)

# TLV 53.2.
SNMPV1V2C_TRANSPORT_ADDRESS_ACCESS = sub(
    "SNMPv1v2cTransportAddressAccess",
    [
        row(1, "SNMPv1v2cTransportAddress", IP_IP6_PORT, spec="MULPIv3.0 C.1.2.13.2.1"),
        row(2, "SNMPv1v2cTransportAddressMask", IP_IP6_PORT, spec="MULPIv3.0 C.1.2.13.2.2"),
    ],
)

# TLV 53.
SNMPV1V2C_COEXISTENCE = sub(
    "SNMPv1v2cCoexistenceConfig",
    [
        row(1, "SNMPv1v2cCommunityName", STRING, spec="MULPIv3.0 C.1.2.13.1"),
        block(2, "SNMPv1v2cTransportAddressAccess", SNMPV1V2C_TRANSPORT_ADDRESS_ACCESS,
            spec="MULPIv3.0 C.1.2.13.2"),
        row(3, "SNMPv1v2cAccessViewType", UCHAR, 1, 2, spec="MULPIv3.0 C.1.2.13.3"),
        row(4, "SNMPv1v2cAccessViewName", STRING, spec="MULPIv3.0 C.1.2.13.4"),
    ],
)

# TLV 54.
SNMPV3_ACCESS_VIEW = sub(
    "SNMPv3AccessViewConfiguration",
    [
        row(1, "SNMPv3AccessViewName", STRING, spec="MULPIv3.0 C.1.2.14.1"),
        row(2, "SNMPv3AccessViewSubtree", OID, spec="MULPIv3.0 C.1.2.14.2"),
        row(3, "SNMPv3AccessViewMask", HEXSTR, 1, 2, spec="MULPIv3.0 C.1.2.14.3"),
        row(4, "SNMPv3AccessViewType", UCHAR, 1, 2, spec="MULPIv3.0 C.1.2.14.4"),
    ],
)

# TLV 56.
CHANNEL_ASSIGNMENT_CONFIG = sub(
    "ChannelAssignmentConfig",
    [
        row(1, "CaTransmit", UCHAR, 0, 255, spec="MULPIv3.0 C.1.1.25.1"),
        row(2, "CaReceive", UINT, 88000000, 860000000, spec="MULPIv3.0 C.1.1.25.2"),
    ],
)

# TLV 64.
STATIC_MULTICAST_SESSION = sub(
    "CMTSStaticMulticastSessionEncodings",
    [
        row(1, "CMTSStaticMulticastSessionGroup", IP_IP6, spec="MULPIv3.0 C.1.1.27.1"),
        row(2, "CMTSStaticMulticastSessionSource", IP_IP6, spec="MULPIv3.0 C.1.1.27.2"),
        row(3, "CMTSStaticMulticastSessionCMIM", HEXSTR, spec="MULPIv3.0 C.1.1.27.3"),
    ],
)

# TLV 65.
L2VPN_MAC_AGING = sub(
    "L2VPNMACAgingEncoding",
    [
        row(1, "L2VPNMACAgingMode", UCHAR, 0, 1, spec="L2VPN B.7.1"),
    ],
)

# TLV 69.
MAC_ADDRESS_LEARNING_CONTROL_ENCODING = sub(
    "MACAddressLearningControlEncoding",
    [
        row(1, "MACAddressLearningControl", UCHAR, 0, 1, spec="MULPIv3.0 C.1.2.18.1"),
        row(2, "MACAddressLearningHoldoffTimer", UCHAR, 0, 10, spec="MULPIv3.0 C.1.2.18.2"),
    ],
)

# TLV 72.2.6.
COLOR_MODE = sub(
    "ColorMode",
    [
        row(1, "ColorIdentificationField", UCHAR, 0, 9, spec="MULPIv3.0 C.2.2.10.2.6.1"),
        row(2, "ColorIdentificationFieldValue", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.2.10.2.6.2"),
    ],
)

# TLV 72.2.7.
COLOR_MARKING = sub(
    "ColorMarking",
    [
        row(1, "ColorMarkingField", UCHAR, 0, 5, spec="MULPIv3.0 C.2.2.10.2.7.1"),
        row(2, "ColorMarkingFieldValue", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.2.10.2.7.2"),
    ],
)

# TLV 72.2.
MESP_BANDWIDTH_PROFILE = sub(
    "MESPBandwidthProfile",
    [
        row(1, "CIR", UINT, spec="MULPIv3.0 C.2.2.10.2.1"),
        row(2, "CBR", UINT, spec="MULPIv3.0 C.2.2.10.2.2"),
        row(3, "EIR", UINT, spec="MULPIv3.0 C.2.2.10.2.3"),
        row(4, "EBS", UINT, spec="MULPIv3.0 C.2.2.10.2.4"),
        row(5, "CouplingFlag", UCHAR, 0, 1, spec="MULPIv3.0 C.2.2.10.2.5"),
        block(6, "ColorMode", COLOR_MODE, spec="MULPIv3.0 C.2.2.10.2.6"),
        block(7, "ColorMarking", COLOR_MARKING, spec="MULPIv3.0 C.2.2.10.2.7"),
    ],
)

# TLV 72.
METRO_ETHERNET_SERVICE_PROFILE = sub(
    "MetroEthernetServiceProfile",
    [
        row(1, "MESPReference", UCHAR, 1, 255, spec="MULPIv3.0 C.2.2.10.1"),
        block(2, "MESPBandwidthProfile", MESP_BANDWIDTH_PROFILE, spec="MULPIv3.0 C.2.2.10.2"),
        row(3, "MESPName", STRZERO, 2, 254, spec="MULPIv3.0 C.2.2.10.3"),
    ],
)

# TLV 73.
NETWORK_TIMING_PROFILE = sub(
    "NetworkTimingProfile",
    [
        row(1, "NetworkTimingProfileReference", USHORT, 1, 65536, spec="MULPIv3.0 C.1.2.19.1"),
        row(2, "NetworkTimingProfileName", STRZERO, 2, 16, spec="MULPIv3.0 C.1.2.19.2"),
    ],
)

# TLV 74.2.1.
EM1X1_DOWNSTREAM_ACTIVITY_DETECTION = sub(
    "EM1x1DownstreamActivityDetection",
    [
        row(1, "DownstreamEntryBitrateThreshold", UINT, spec="MULPIv3.0 C.1.1.30.2.1.1"),
        row(2, "DownstreamEntryTimeThreshold", USHORT, 1, 65535, spec="MULPIv3.0 C.1.1.30.2.1.2"),
        row(3, "DownstreamExitBitrateThreshold", UINT, spec="MULPIv3.0 C.1.1.30.2.1.3"),
        row(4, "DownstreamExitTimeThreshold", USHORT, 1, 65535, spec="MULPIv3.0 C.1.1.30.2.1.4"),
    ],
)

# TLV 74.2.2.
EM1X1_UPSTREAM_ACTIVITY_DETECTION = sub(
    "EM1x1UpstreamActivityDetection",
    [
        row(1, "UpstreamEntryBitrateThreshold", UINT, spec="MULPIv3.0 C.1.1.30.2.2.1"),
        row(2, "UpstreamEntryTimeThreshold", USHORT, 1, 65535, spec="MULPIv3.0 C.1.1.30.2.2.2"),
        row(3, "UpstreamExitBitrateThreshold", UINT, spec="MULPIv3.0 C.1.1.30.2.2.3"),
        row(4, "UpstreamExitTimeThreshold", USHORT, 1, 65535, spec="MULPIv3.0 C.1.1.30.2.2.4"),
    ],
)

# TLV 74.2.
ENERGY_MANAGEMENT_1X1_MODE = sub(
    "EnergyManagement1x1Mode",
    [
        block(1, "DownstreamActivityDetectionParameters", EM1X1_DOWNSTREAM_ACTIVITY_DETECTION,
            spec="MULPIv3.0 C.1.1.30.2.1"),
        block(2, "UpstreamActivityDetectionParameters", EM1X1_UPSTREAM_ACTIVITY_DETECTION,
            spec="MULPIv3.0 C.1.1.30.2.2"),
    ],
)

# TLV 74.4.1.
DLS_DOWNSTREAM_ACTIVITY_DETECTION = sub(
    "DLSDownstreamActivityDetection",
    [
        row(1, "DownstreamEntryBitrateThreshold", UINT, spec="MULPIv4.0 C.1.1.30.4.1.1"),
        row(2, "DownstreamEntryTimeThreshold", USHORT, 1, 65535, spec="MULPIv4.0 C.1.1.30.4.1.2"),
        row(3, "DownstreamExitBitrateThreshold", UINT, spec="MULPIv4.0 C.1.1.30.4.1.3"),
        row(4, "DownstreamExitTimeThreshold", USHORT, 1, 65535, spec="MULPIv4.0 C.1.1.30.4.1.4"),
    ],
)

# TLV 74.4.2. The reference's rows 74.4.2.1-4 name themselves or a sibling as
# parent, so its decoder never finds them; they belong here (C.1.1.30.4.2.x).
DLS_UPSTREAM_ACTIVITY_DETECTION = sub(
    "DLSUpstreamActivityDetection",
    [
        row(1, "UpstreamEntryBitrateThreshold", UINT, spec="MULPIv4.0 C.1.1.30.4.2.1"),
        row(2, "UpstreamEntryTimeThreshold", USHORT, 1, 65535, spec="MULPIv4.0 C.1.1.30.4.2.2"),
        row(3, "UpstreamExitBitrateThreshold", UINT, spec="MULPIv4.0 C.1.1.30.4.2.3"),
        row(4, "UpstreamExitTimeThreshold", USHORT, 1, 65535, spec="MULPIv4.0 C.1.1.30.4.2.4"),
    ],
)

# TLV 74.4.
ENERGY_MANAGEMENT_DLS_MODE = sub(
    "EnergyManagementDLSMode",
    [
        block(1, "DownstreamActivityDetectionParameters", DLS_DOWNSTREAM_ACTIVITY_DETECTION,
            spec="MULPIv4.0 C.1.1.30.4.1"),
        block(2, "UpstreamActivityDetectionParameters", DLS_UPSTREAM_ACTIVITY_DETECTION,
            spec="MULPIv4.0 C.1.1.30.4.2"),
    ],
)

# TLV 74.
ENERGY_MANAGEMENT_PARAMETER = sub(
    "EnergyManagementParameter",
    [
        row(1, "EnergyManagementFeatureControl", UINT, 0, 1, spec="MULPIv3.0 C.1.1.30.1"),
        block(2, "EnergyManagement1x1Mode", ENERGY_MANAGEMENT_1X1_MODE,
            spec="MULPIv3.0 C.1.1.30.2"),
        row(3, "EnergyManagementCyclePeriod", USHORT, spec="MULPIv3.0 C.1.1.30.3"),
        # The reference cites C.1.1.30.3 here (the section of 74.3); the
        # children of 74.4 cite C.1.1.30.4.x, so .4 it is.
        block(4, "EnergyManagementDLSMode", ENERGY_MANAGEMENT_DLS_MODE,
            spec="MULPIv4.0 C.1.1.30.4"),
    ],
)

# TLV 79.
UNI_CONTROL_ENCODINGS = sub(
    "UNIControlEncodings",
    [
        row(1, "ContextCMIM", HEXSTR, spec="MULPIv3.0 C.3.3.1"),
        row(2, "UNIAdminStatus", UCHAR, 0, 1, spec="MULPIv3.0 C.3.3.2"),
        row(3, "UNIAutoNegotiationStatus", UCHAR, 0, 1, spec="MULPIv3.0 C.3.3.3"),
        row(4, "UNIOperatingSpeed", UCHAR, 0, 6, spec="MULPIv3.0 C.3.3.4"),
        row(5, "UNIDuplex", UCHAR, 0, 2, spec="MULPIv3.0 C.3.3.5"),
        row(6, "EEEStatus", UCHAR, 0, 1, spec="MULPIv3.0 C.3.3.6"),
        row(7, "MaximumFrameSize", USHORT, spec="MULPIv3.0 C.3.3.7"),
        row(8, "PowerOverEthernetStatus", UCHAR, 0, 1, spec="MULPIv3.0 C.3.3.8"),
        row(9, "MediaType", UCHAR, 0, 1, spec="MULPIv3.0 C.3.3.9"),
    ],
)

# TLV 84.
DIPLEXER_BAND_EDGE = sub(
    "DiplexerBandEdge",
    [
        row(1, "DiplexerUpstreamUpperBandEdge", UCHAR, 0, 4, spec="MULPIv3.1 C.1.2.23.1"),
        row(2, "DiplexerDownstreamLowerBandEdge", UCHAR, 0, 1, spec="MULPIv3.1 C.1.2.23.2"),
        row(3, "DiplexerDownstreamUpperBandEdge", UCHAR, 0, 2, spec="MULPIv3.1 C.1.2.23.3"),
    ],
)

# TLV 88.
QOS_FRAMEWORK = sub(
    "QoSFrameworkforDOCSISEncodings",
    [
    ],
)

# TLV 96.
ADVANCED_DIPLEXER_BAND_EDGE = sub(
    "AdvancedDiplexerBandEdge",
    [
        row(1, "AdvDiplexerUpstreamUpperBandEdge", USHORT, spec="MULPIv4.0 C.1.2.24.1"),
        row(2, "AdvDiplexerDownstreamLowerBandEdge", USHORT, spec="MULPIv4.0 C.1.2.24.2"),
        row(3, "AdvDiplexerDownstreamUpperBandEdge", USHORT, spec="MULPIv4.0 C.1.2.24.3"),
    ],
)

# TLV 101.
DOCSIS_SYNC_CONFIGURATIONS = sub(
    "DOCSISSyncConfigurations",
    [
        row(1, "PTPMasterClockEnable", UCHAR, 1, 2, spec="SYNC D.2.1.1"),
        row(2, "PTPProfileConfiguration", UCHAR, 0, 3, spec="SYNC D.2.1.2"),
        row(3, "PTPMaxNumberofClockSlavesConfiguration", UCHAR, 0, 255, spec="SYNC D.2.1.3"),
        row(4, "SyncEClockEnable", UCHAR, 1, 2, spec="SYNC D.2.1.4"),
    ],
)

# TLV 102.
PTP_ADDRESS_CONFIGURATIONS = sub(
    "PTPAddressConfigurations",
    [
        row(1, "PTPSourceIPAddressConfiguration", IP_IP6, spec="SYNC D.2.2.1"),
        row(2, "CMTSPTPIPAddressConfiguration", IP_IP6, spec="SYNC D.2.2.2"),
        row(3, "PTPDestMulticastMACAddressConfiguration", ETHER, spec="SYNC D.2.2.3"),
    ],
)

# TLV 202.2.
TR69_MANAGEMENT_SERVER = sub(
    "TR69ManagementServer",
    [
        row(1, "EnableCWMP", UCHAR, 0, 1, spec="eRouter B.4.3.1"),
        row(2, "URL", STRING, spec="eRouter B.4.3.2"),
        row(3, "Username", STRING, spec="eRouter B.4.3.3"),
        row(4, "Password", STRING, spec="eRouter B.4.3.4"),
        row(5, "ConnectionRequestUsername", STRING, spec="eRouter B.4.3.5"),
        row(6, "ConnectionRequestPassword", STRING, spec="eRouter B.4.3.6"),
        row(7, "ACSOverride", UCHAR, 0, 1, spec="eRouter B.4.3.7"),
    ],
)

# TLV 202.43.
EROUTER_VENDOR_SPECIFIC = sub(
    "ERouterVendorSpecific",
    [
        row(8, "VendorIdentifier", HEXSTR, 3, 3, spec="eRouter B.4.7.1"),
    ],
)

# TLV 202.53.2.
EROUTER_SNMPV1V2C_TRANSPORT_ADDRESS_ACCESS = sub(
    "ERouterSNMPv1v2cTransportAddressAccess",
    [
        row(1, "SNMPv1v2cTransportAddress", IP_IP6_PORT, spec="eRouter B.4.5.2.1"),
        row(2, "SNMPv1v2cTransportAddressMask", IP_IP6_PORT, spec="eRouter B.4.5.2.2"),
    ],
)

# TLV 202.53.
EROUTER_SNMPV1V2C_COEXISTENCE = sub(
    "ERouterSNMPv1v2cCoexistenceConfig",
    [
        row(1, "SNMPv1v2cCommunityName", STRING, spec="eRouter B.4.5.1"),
        block(2, "SNMPv1v2cTransportAddressAccess", EROUTER_SNMPV1V2C_TRANSPORT_ADDRESS_ACCESS,
            spec="eRouter B.4.5.2"),
        row(3, "SNMPv1v2cAccessViewType", UCHAR, 1, 2, spec="eRouter B.4.5.3"),
        row(4, "SNMPv1v2cAccessViewName", STRING, spec="eRouter B.4.5.4"),
    ],
)

# TLV 202.54.
EROUTER_SNMPV3_ACCESS_VIEW = sub(
    "ERouterSNMPv3AccessViewConfiguration",
    [
        row(1, "SNMPv3AccessViewName", STRING, spec="eRouter B.4.6.1"),
        row(2, "SNMPv3AccessViewSubtree", OID, spec="eRouter B.4.6.2"),
        # The reference's own row says 2..2, but it resolves the keyword by
        # name to the TLV 54.3 row and so accepts 1..2; we accept what it does.
        row(3, "SNMPv3AccessViewMask", HEXSTR, 1, 2, spec="eRouter B.4.6.3"),
        row(4, "SNMPv3AccessViewType", UCHAR, 1, 2, spec="eRouter B.4.6.4"),
    ],
)

# TLV 202.
EROUTER = sub(
    "eRouter",
    [
        row(1, "InitializationMode", UCHAR, 0, 3, spec="eRouter B.4.2"),
        block(2, "TR69ManagementServer", TR69_MANAGEMENT_SERVER, spec="eRouter B.4.3"),
        row(3, "InitializationModeOverride", UCHAR, 0, 1, spec="eRouter B.4.4"),
        row(10, "RATransmissionInterval", USHORT, 3, 1800, spec="eRouter B.4.10"),
        # An SNMP VarBind for the eRouter's agent, same value as top-level 11.
        row(11, "SnmpMibObject", SNMP_VARBIND, spec="eRouter B.4.8"),
        row(42, "TopologyModeEncoding", UCHAR, 1, 2, spec="eRouter B.4.9"),
        block(43, "VendorSpecific", EROUTER_VENDOR_SPECIFIC, spec="eRouter B.4.7"),
        block(53, "SNMPv1v2cCoexistenceConfig", EROUTER_SNMPV1V2C_COEXISTENCE,
            spec="eRouter B.4.5"),
        block(54, "SNMPv3AccessViewConfiguration", EROUTER_SNMPV3_ACCESS_VIEW,
            spec="eRouter B.4.6"),
    ],
)

# TLV 217.53.
ESTB_SNMPV1V2_SETTINGS = sub(
    "Snmpv1v2Settings",
    [
        row(1, "Snmpv1v2CommunityName", STRING, 1, 32, spec="HOST2.1 15.2.1.1"),
    ],
)

# TLV 217.
ESTB_SETTINGS = sub(
    "EstbSettings",
    [
        row(1, "IpModeControl", UCHAR, 0, 2, spec="HOST2.1 15.2.6"),
        block(53, "Snmpv1v2Settings", ESTB_SNMPV1V2_SETTINGS, spec="HOST2.1 15.2.1"),
    ],
)
