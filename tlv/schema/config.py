"""The top level of a DOCSIS / PacketCable config file and its small aggregates."""

from __future__ import annotations

from tlv.schema._rows import block, later, row, sub
from tlv.types import (
    CHAR_LIST,
    ETHER,
    HEXSTR,
    IP,
    IP6,
    IP6_LIST,
    IP6_PREFIX_LIST,
    IP_LIST,
    MD5_DIGEST,
    SNMP_VARBIND,
    SNMP_WRITE_CONTROL,
    STRING,
    UCHAR,
    UINT,
    USHORT,
    USHORT_LIST,
)

# Defined by the other schema modules, read on first use (tlv.schema._rows.later).
DROP_CLASSIFIER = later("UpstreamDropPacketClassification", "classifier")
PACKET_CLASSIFIER = later("PacketClassifier", "classifier")
PHS = later("PHS", "classifier")
ADVANCED_DIPLEXER_BAND_EDGE = later("AdvancedDiplexerBandEdge", "management")
CHANNEL_ASSIGNMENT_CONFIG = later("ChannelAssignmentConfig", "management")
DIPLEXER_BAND_EDGE = later("DiplexerBandEdge", "management")
DOCSIS_SYNC_CONFIGURATIONS = later("DOCSISSyncConfigurations", "management")
DS_CHANNEL_LIST = later("DsChannelList", "management")
DUT_FILTERING = later("DUTFiltering", "management")
ENERGY_MANAGEMENT_PARAMETER = later("EnergyManagementParameter", "management")
EROUTER = later("eRouter", "management")
ESTB_SETTINGS = later("EstbSettings", "management")
L2VPN_MAC_AGING = later("L2VPNMACAgingEncoding", "management")
MAC_ADDRESS_LEARNING_CONTROL_ENCODING = later("MACAddressLearningControlEncoding", "management")
METRO_ETHERNET_SERVICE_PROFILE = later("MetroEthernetServiceProfile", "management")
NETWORK_TIMING_PROFILE = later("NetworkTimingProfile", "management")
PTP_ADDRESS_CONFIGURATIONS = later("PTPAddressConfigurations", "management")
QOS_FRAMEWORK = later("QoSFrameworkforDOCSISEncodings", "management")
SNMPV1V2C_COEXISTENCE = later("SNMPv1v2cCoexistenceConfig", "management")
SNMPV3_ACCESS_VIEW = later("SNMPv3AccessViewConfiguration", "management")
SNMPV3_KICKSTART = later("SnmpV3Kickstart", "management")
SNMPV3_TRAP_RECEIVER = later("SnmpV3TrapReceiver", "management")
STATIC_MULTICAST_SESSION = later("CMTSStaticMulticastSessionEncodings", "management")
UNI_CONTROL_ENCODINGS = later("UNIControlEncodings", "management")
DOWNSTREAM_ASF = later("DownstreamAggregateServiceFlow", "serviceflow")
DOWNSTREAM_EHQOS_ASF = later("DownstreamEHQoSASF", "serviceflow")
DS_SERVICE_FLOW = later("DsServiceFlow", "serviceflow")
UPSTREAM_ASF = later("UpstreamAggregateServiceFlow", "serviceflow")
UPSTREAM_EHQOS_ASF = later("UpstreamEHQoSASF", "serviceflow")
US_SERVICE_FLOW = later("UsServiceFlow", "serviceflow")
VENDOR_SPECIFIC = later("VendorSpecific", "vendor")

# TLV 4.
CLASS_OF_SERVICE = sub(
    "ClassOfService",
    [
        row(1, "ClassID", UCHAR, 1, 16, spec="MULPIv3.0 C.1.1.4.1"),
        row(2, "MaxRateDown", UINT, 0, 1334880000, spec="MULPIv3.0 C.1.1.4.2"),
        row(3, "MaxRateUp", UINT, 0, 183900000, spec="MULPIv3.0 C.1.1.4.3"),
        row(4, "PriorityUp", UCHAR, 0, 7, spec="MULPIv3.0 C.1.1.4.4"),
        row(5, "GuaranteedUp", UINT, 0, 183900000, spec="MULPIv3.0 C.1.1.4.5"),
        row(6, "MaxBurstUp", USHORT, 0, 65535, spec="MULPIv3.0 C.1.1.4.6"),
        row(7, "PrivacyEnable", UCHAR, 0, 1, spec="MULPIv3.0 C.1.1.4.7"),
    ],
)

# TLV 5.
MODEM_CAPABILITIES = sub(
    "ModemCapabilities",
    [
        row(1, "ConcatenationSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.1"),
        row(2, "ModemDocsisVersion", UCHAR, 0, 3, spec="MULPIv3.0 C.1.3.1.2"),
        row(3, "FragmentationSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.3"),
        row(4, "PHSSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.4"),
        row(5, "IGMPSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.5"),
        row(6, "BaselinePrivacySupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.6"),
        row(7, "DownstreamSAIDSupport", UCHAR, 0, 255, spec="MULPIv3.0 C.1.3.1.7"),
        row(8, "UpstreamSIDSupport", UCHAR, 0, 255, spec="MULPIv3.0 C.1.3.1.8"),
        row(9, "OptionalFilteringSupport", UCHAR, spec="MULPIv3.0 C.1.3.1.9"),
        row(10, "TransmitPreEqualizerTapsPerModulationInterval", UCHAR, 1, 4,
            spec="MULPIv3.0 C.1.3.1.10"),
        row(11, "NumberofTransmitEqualizerTaps", UCHAR, 8, 64, spec="MULPIv3.0 C.1.3.1.11"),
        row(12, "DCCSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.12"),
        row(13, "IPFiltersSupport", USHORT, 64, 65535, spec="MULPIv3.0 C.1.3.1.13"),
        row(14, "LLCFiltersSupport", USHORT, 10, 65535, spec="MULPIv3.0 C.1.3.1.14"),
        row(15, "ExpandedUnicastSIDSpace", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.15"),
        row(16, "RangingHoldOffSupport", HEXSTR, 4, 4, spec="MULPIv3.0 C.1.3.1.16"),
        row(17, "L2VPNCapability", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.17"),
        row(18, "L2VPNeSAFEHostCapability", HEXSTR, spec="MULPIv3.0 C.1.3.1.18"),
        row(19, "DUTFilteringSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.19"),
        row(20, "UpstreamFrequencyRangeSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.20"),
        row(21, "UpstreamSymbolRateSupport", UCHAR, spec="MULPIv3.0 C.1.3.1.21"),
        row(22, "SelectableActiveCodeMode2Support", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.22"),
        row(23, "CodeHoppingMode2Support", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.23"),
        row(24, "MultipleTransmitChannelSupport", UCHAR, spec="MULPIv3.0 C.1.3.1.24"),
        row(25, "M512MspsUpstreamTransmitChannel", UCHAR, spec="MULPIv3.0 C.1.3.1.25"),
        row(26, "M256MspsUpstreamTransmitChannel", UCHAR, spec="MULPIv3.0 C.1.3.1.26"),
        row(27, "TotalSIDClusterSupport", UCHAR, spec="MULPIv3.0 C.1.3.1.27"),
        row(28, "SIDClustersPerServiceFlow", UCHAR, 2, 8, spec="MULPIv3.0 C.1.3.1.28"),
        row(29, "MultipleReceiveChannelSupport", UCHAR, spec="MULPIv3.0 C.1.3.1.29"),
        row(30, "TotalDownstreamServiceIDSupport", UCHAR, 32, 255, spec="MULPIv3.0 C.1.3.1.30"),
        row(31, "ResequencingDownstreamServiceID", UCHAR, 16, 255, spec="MULPIv3.0 C.1.3.1.31"),
        row(32, "MulticastDownstreamServiceID", UCHAR, 16, 255, spec="MULPIv3.0 C.1.3.1.32"),
        row(33, "MulticastDSIDForwarding", UCHAR, 0, 2, spec="MULPIv3.0 C.1.3.1.33"),
        row(34, "FrameControlTypeForwarding", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.34"),
        row(35, "DPVCapability", UCHAR, spec="MULPIv3.0 C.1.3.1.35"),
        row(36, "UnsolicitedGrantServiceSupport", UCHAR, spec="MULPIv3.0 C.1.3.1.36"),
        row(37, "MAPandUCDReceiptSupport", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.37"),
        row(38, "UpstreamDropClassifierSupport", USHORT, 64, 65535, spec="MULPIv3.0 C.1.3.1.38"),
        row(39, "IPv6Support", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.39"),
        row(40, "ExtendedUpstreamTransmitPower", UCHAR, 0, 244, spec="MULPIv3.0 C.1.3.1.40"),
        row(41, "MPLSClassificationSupport", HEXSTR, 4, 4, spec="MULPIv3.0 C.1.3.1.41"),
        row(42, "DONUCapabilitiesEncoding", HEXSTR, spec="MULPIv3.0 C.1.3.1.42"),
        row(44, "EnergyManagementCapabilities", HEXSTR, 4, 4, spec="MULPIv3.0 C.1.3.1.43"),
        row(45, "CDOCSISCapabilityEncoding", HEXSTR, spec="MULPIv3.0 C.1.3.1.44"),
        row(46, "CMSTATUSACK", UCHAR, 0, 1, spec="MULPIv3.0 C.1.3.1.45"),
    ],
)

# TLV 17.
BASELINE_PRIVACY = sub(
    "BaselinePrivacy",
    [
        row(1, "AuthTimeout", UINT, 1, 30, spec="SECv3.0 A.1.1.1.1"),
        row(2, "ReAuthTimeout", UINT, 1, 30, spec="SECv3.0 A.1.1.1.2"),
        row(3, "AuthGraceTime", UINT, 1, 6047999, spec="SECv3.0 A.1.1.1.3"),
        row(4, "OperTimeout", UINT, 1, 10, spec="SECv3.0 A.1.1.1.4"),
        row(5, "ReKeyTimeout", UINT, 1, 10, spec="SECv3.0 A.1.1.1.5"),
        row(6, "TEKGraceTime", UINT, 1, 302399, spec="SECv3.0 A.1.1.1.6"),
        row(7, "AuthRejectTimeout", UINT, 1, 600, spec="SECv3.0 A.1.1.1.7"),
        row(8, "SAMapWaitTimeout", UINT, 1, 10, spec="SECv3.0 A.1.1.1.8"),
        row(9, "SAMapMaxRetries", UINT, 0, 10, spec="SECv3.0 A.1.1.1.9"),
    ],
)

# The top level of a config file. Not rows here, because the compiler core
# handles them itself: 0 (pad) and 255 (end of data); the file-loading pseudo
# keywords ManufacturerCVC, CoSignerCVC (32, 33), ManufacturerCVCChainFile,
# CoSignerCVCChainFile (81, 82) and DigitMap (an SNMP object); GenericTLV; and
# TLV 64 with a 2-byte length in MTA files (long SNMP objects) - the row for 64
# below is its CM-file meaning.
CONFIG = sub(
    "Config",
    [
        row(1, "DownstreamFrequency", UINT, 88000000, 1008000000, spec="MULPIv3.0 C.1.1.1"),
        row(2, "UpstreamChannelId", UCHAR, 0, 255, spec="MULPIv3.0 C.1.1.2"),
        row(3, "NetworkAccess", UCHAR, 0, 1, spec="MULPIv3.0 C.1.1.3"),
        block(4, "ClassOfService", CLASS_OF_SERVICE, spec="MULPIv3.0 C.1.1.4"),
        block(5, "ModemCapabilities", MODEM_CAPABILITIES, spec="MULPIv3.0 C.1.3.1"),
        # The MICs are computed by the compiler; the rows let a decoder show them.
        row(6, "CmMic", MD5_DIGEST, spec="MULPIv3.0 C.1.1.5"),
        row(7, "CmtsMic", MD5_DIGEST, spec="MULPIv3.0 C.1.1.6"),
        row(9, "SwUpgradeFilename", STRING, spec="MULPIv3.0 C.1.2.3"),
        row(10, "SnmpWriteControl", SNMP_WRITE_CONTROL, spec="MULPIv3.0 C.1.2.4"),
        row(11, "SnmpMibObject", SNMP_VARBIND, spec="MULPIv3.0 C.1.2.5"),
        row(12, "ModemIPAddress", IP, spec="MULPIv3.0 C.1.3.3"),
        row(14, "CpeMacAddress", ETHER, spec="MULPIv3.0 C.1.2.6"),
        block(17, "BaselinePrivacy", BASELINE_PRIVACY, spec="SECv3.0 A.1.1.1"),
        row(18, "MaxCPE", UCHAR, 1, 254, spec="MULPIv3.0 C.1.1.7"),
        row(19, "TftpTimestamp", UINT, 0, 4294967295, spec="MULPIv3.0 C.1.1.8"),
        row(20, "TftpModemAddress", IP, spec="MULPIv3.0 C.1.1.9"),
        row(21, "SwUpgradeServer", IP, spec="MULPIv3.0 C.1.2.7"),
        block(22, "UsPacketClass", PACKET_CLASSIFIER, spec="MULPIv3.0 C.2.1.1"),
        # Same encodings as 22 (see PACKET_CLASSIFIER for the limits it uses).
        block(23, "DsPacketClass", PACKET_CLASSIFIER, spec="MULPIv3.0 C.2.1.3"),
        block(24, "UsServiceFlow", US_SERVICE_FLOW, spec="MULPIv3.0 C.2.2.5"),
        block(25, "DsServiceFlow", DS_SERVICE_FLOW, spec="MULPIv3.0 C.2.2.5"),
        block(26, "PHS", PHS, spec="MULPIv3.0 C.2.3"),
        row(28, "MaxClassifiers", USHORT, spec="MULPIv3.0 C.1.1.16"),
        row(29, "GlobalPrivacyEnable", UCHAR, 0, 1, spec="MULPIv3.0 C.1.1.17"),
        row(32, "MfgCVCData", HEXSTR, 0, 255, spec="MULPIv3.0 C.1.2.10"),
        row(33, "CoSignerCVCData", HEXSTR, 0, 255, spec="MULPIv3.0 C.1.2.11"),
        block(34, "SnmpV3Kickstart", SNMPV3_KICKSTART, spec="MULPIv3.0 C.1.2.9"),
        row(35, "SubMgmtControl", HEXSTR, 3, 3, spec="MULPIv3.0 C.1.1.19.1"),
        row(36, "SubscriberManagementCPEIPTable", IP_LIST, spec="MULPIv3.0 C.1.1.19.2"),
        row(37, "SubMgmtFilters", USHORT_LIST, 4, 10, spec="MULPIv3.0 C.1.1.19.4"),
        block(38, "SnmpV3TrapReceiver", SNMPV3_TRAP_RECEIVER, spec="MULPIv3.0 C.1.2.12"),
        row(39, "DocsisTwoEnable", UCHAR, 0, 1, spec="MULPIv3.0 C.1.1.20"),
        row(40, "EnableTestModes", UCHAR, 0, 1, spec="MULPIv3.0 C.1.1.21"),
        block(41, "DsChannelList", DS_CHANNEL_LIST, spec="MULPIv3.0 C.1.1.22"),
        row(42, "MulticastMACAddress", ETHER, spec="MULPIv3.0 C.1.1.23"),
        block(43, "VendorSpecific", VENDOR_SPECIFIC, spec="MULPIv3.0 C.2.1.11"),
        block(45, "DUTFiltering", DUT_FILTERING, spec="MULPIv3.0 C.1.1.24"),
        block(53, "SNMPv1v2cCoexistenceConfig", SNMPV1V2C_COEXISTENCE, spec="MULPIv3.0 C.1.2.13"),
        block(54, "SNMPv3AccessViewConfiguration", SNMPV3_ACCESS_VIEW, spec="MULPIv3.0 C.1.2.14"),
        row(55, "SNMPCPEAccessControl", UCHAR, 0, 1, spec="MULPIv3.0 C.1.2.15"),
        block(56, "ChannelAssignmentConfig", CHANNEL_ASSIGNMENT_CONFIG, spec="MULPIv3.0 C.1.1.25"),
        row(58, "SwUpgradeServer6", IP6, spec="MULPIv3.0 C.1.2.8"),
        row(59, "TFTPProvisionedModemIPv6Address", IP6, spec="MULPIv3.0 C.1.1.10"),
        block(60, "UpstreamDropPacketClassification", DROP_CLASSIFIER, spec="MULPIv3.0 C.2.1.2"),
        row(61, "SubMgmtCPEIPv6PrefixList", IP6_PREFIX_LIST, spec="MULPIv3.0 C.1.1.19.3"),
        row(62, "UpstreamDropClassifierGroupID", CHAR_LIST, spec="MULPIv3.0 C.1.1.26"),
        row(63, "SubMgmtControl6", USHORT, spec="MULPIv3.0 C.1.1.19.5"),
        block(64, "CMTSStaticMulticastSessionEncodings", STATIC_MULTICAST_SESSION,
            spec="MULPIv3.0 C.1.1.27"),
        block(65, "L2VPNMACAgingEncoding", L2VPN_MAC_AGING, spec="L2VPN B.7"),
        row(66, "ManagementEventControl", UINT, spec="MULPIv3.0 C.1.2.16"),
        row(67, "SubscriberManagementCPEIPv6Table", IP6_LIST, spec="MULPIv3.0 C.1.1.19.6"),
        row(68, "DefaultUpstreamTargetBuffer", USHORT, spec="MULPIv3.0 C.1.2.17"),
        block(69, "MACAddressLearningControlEncoding", MAC_ADDRESS_LEARNING_CONTROL_ENCODING,
            spec="MULPIv3.0 C.1.2.18"),
        block(70, "UpstreamAggregateServiceFlow", UPSTREAM_ASF, spec="MULPIv3.0 C.2.2.3"),
        block(71, "DownstreamAggregateServiceFlow", DOWNSTREAM_ASF, spec="MULPIv3.0 C.2.2.3"),
        block(72, "MetroEthernetServiceProfile", METRO_ETHERNET_SERVICE_PROFILE,
            spec="MULPIv3.0 C.2.2.10"),
        block(73, "NetworkTimingProfile", NETWORK_TIMING_PROFILE, spec="MULPIv3.0 C.1.2.19"),
        block(74, "EnergyManagementParameter", ENERGY_MANAGEMENT_PARAMETER,
            spec="MULPIv3.0 C.1.1.30"),
        row(75, "EnergyManagement1x1ModeIndicator", UCHAR, 0, 2, spec="MULPIv3.0 C.1.4.4"),
        row(76, "CMUpstreamAQMDisable", UCHAR, 0, 1, spec="MULPIv3.0 C.1.2.20"),
        block(79, "UNIControlEncodings", UNI_CONTROL_ENCODINGS, spec="MULPIv3.0 C.3.3"),
        row(81, "ManufacturerCVCChain", HEXSTR, 0, 255, spec="MULPIv3.1 C.1.2.21"),
        row(82, "CoSignerCVCChain", HEXSTR, 0, 255, spec="MULPIv3.1 C.1.2.22"),
        row(83, "DTPModeConfiguration", UCHAR, 0, 2, spec="MULPIv3.1 C.1.1.31"),
        block(84, "DiplexerBandEdge", DIPLEXER_BAND_EDGE, spec="MULPIv3.1 C.1.2.23"),
        block(88, "QoSFrameworkforDOCSISEncodings", QOS_FRAMEWORK, spec="MULPIv3.1 C.1.7"),
        row(91, "LowLatencyDisable", UCHAR, 0, 2, spec="MULPIv3.1 C.1.1.32"),
        row(92, "DistributedHQoSEnable", UCHAR, 0, 2, spec="MULPIv3.1 C.1.1.33"),
        block(93, "UpstreamEHQoSASF", UPSTREAM_EHQOS_ASF, spec="MULPIv3.1 C.2.2.5"),
        # The reference names TLV 94 "UpstreamEHQoSASF" like TLV 93, so by name
        # only 93 can be written there; 94 is the downstream set (its 94.8 cites
        # the downstream max-rate section C.2.2.9.2.2), hence this name.
        block(94, "DownstreamEHQoSASF", DOWNSTREAM_EHQOS_ASF, spec="MULPIv3.1 C.2.2.6"),
        block(96, "AdvancedDiplexerBandEdge", ADVANCED_DIPLEXER_BAND_EDGE,
            spec="MULPIv4.0 C.1.2.24"),
        row(97, "AdvancedBandPlanSupport", UCHAR, 0, 1, spec="MULPIv4.0 C.1.2.25"),
        block(101, "DOCSISSyncConfigurations", DOCSIS_SYNC_CONFIGURATIONS, spec="SYNC D.2.1"),
        block(102, "PTPAddressConfigurations", PTP_ADDRESS_CONFIGURATIONS, spec="SYNC D.2.2"),
        block(202, "eRouter", EROUTER, spec="eRouter"),
        block(217, "EstbSettings", ESTB_SETTINGS, spec="eDOCSIS 5.2.8.1"),
        # PacketCable MTA files start with 254 = 1 and end with 254 = 255.
        row(254, "MtaConfigDelimiter", UCHAR, 1, 255, spec="PROV1.5 9.1"),
    ],
)
