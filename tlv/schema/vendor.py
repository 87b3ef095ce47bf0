"""Vendor-specific encodings (TLV 43) and the L2VPN, SAV, DEMARC ... sets inside them."""

from __future__ import annotations

from tlv.model import SubTable
from tlv.schema._rows import block, row, sub
from tlv.types import (
    CHAR_IP_IP6,
    CHAR_LIST,
    DUAL_QTAG,
    ETHER,
    HEXSTR,
    IP_IP6,
    LENZERO,
    STRING,
    STRZERO,
    UCHAR,
    UINT,
    UINT24,
    USHORT,
)

# Shared: TLV 43.5.2.4 at the top level and under 22, 23, 24, 25, 26, 60.
MPLS_PSEUDOWIRE = sub(
    "ServiceMultiplexingValueMPLSPW",
    [
        row(1, "MPLSPseudowireID", UINT, spec="L2VPN B.3.2"),
        row(2, "MPLSPeerIpAddress", CHAR_IP_IP6, spec="L2VPN B.3.2"),
        row(3, "MPLSPseudowireType", UCHAR, spec="L2VPN B.3.2"),
        row(4, "MPLSBackupPseudowireID", UINT, spec="L2VPN B.3.2"),
        row(5, "MPLSBackupPeerIpAddress", CHAR_IP_IP6, spec="L2VPN B.3.2"),
    ],
)

# Shared: TLV 43.5.2.6 at the top level and under 22, 23, 24, 25, 26, 60.
IEEE8021AH_ENCAPSULATION = sub(
    "IEEE8021ahEncapsulation",
    [
        row(1, "ITCIEncapsulation", HEXSTR, 4, 4, spec="L2VPN B.3.2.2.1"),
        row(2, "BDAEncapsulation", HEXSTR, 6, 6, spec="L2VPN B.3.2.2.2"),
        row(3, "BTCIEncapsulation", HEXSTR, 2, 2, spec="L2VPN B.3.2.2.3"),
        row(4, "ITPIDEncapsulation", HEXSTR, 2, 2, spec="L2VPN B.3.2.2.4"),
        row(5, "IPCPEncapsulation", HEXSTR, 1, 1, spec="L2VPN B.3.2.2.5"),
        row(6, "IDEIEncapsulation", HEXSTR, 1, 1, spec="L2VPN B.3.2.2.6"),
        row(7, "IUCAEncapsulation", HEXSTR, 1, 1, spec="L2VPN B.3.2.2.7"),
        row(8, "ISIDEncapsulation", HEXSTR, 3, 3, spec="L2VPN B.3.2.2.8"),
        row(9, "BTPIDEncapsulation", HEXSTR, 2, 2, spec="L2VPN B.3.2.2.9"),
        row(10, "BPCPEncapsulation", HEXSTR, 1, 1, spec="L2VPN B.3.2.2.10"),
        row(11, "BDEIEncapsulation", HEXSTR, 1, 1, spec="L2VPN B.3.2.2.11"),
        row(12, "BVIDEncapsulation", HEXSTR, 2, 2, spec="L2VPN B.3.2.2.11"),
    ],
)

# Shared: TLV 43.5.2 at the top level and under 22, 23, 24, 25, 26, 60.
NSI_ENCAPSULATION = sub(
    "NSIEncapsulation",
    [
        row(1, "ServiceMultiplexingValueOther", LENZERO, spec="L2VPN B.3.2"),
        row(2, "NSIEncapsulationSingleQTag", USHORT, 0, 4096, spec="L2VPN B.3.2"),
        row(3, "NSIEncapsulationDualQTag", DUAL_QTAG, spec="L2VPN B.3.2"),
        block(4, "ServiceMultiplexingValueMPLSPW", MPLS_PSEUDOWIRE, spec="L2VPN B.3.2"),
        row(5, "ServiceMultiplexingValueL2TPv3Peer", CHAR_IP_IP6, spec="L2VPN B.3.2"),
        block(6, "IEEE8021ahEncapsulation", IEEE8021AH_ENCAPSULATION, spec="L2VPN B.3.2.2"),
        row(8, "ServiceMultiplexingValueIEEE8021adSTPID", HEXSTR, 2, 2, spec="L2VPN B.3.2.1"),
    ],
)

# Shared: TLV 43.5.14 at the top level and under 22, 23, 24, 25, 26, 60.
TPID_TRANSLATION = sub(
    "TPIDTranslation",
    [
        row(1, "UpstreamTPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
        row(2, "DownstreamTPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
        row(3, "UpstreamSTPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
        row(4, "DownstreamSTPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
        row(5, "UpstreamBTPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
        row(6, "DownstreamBTPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
        row(7, "UpstreamITPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
        row(8, "DownstreamITPIDTranslation", HEXSTR, 2, 2, spec="L2VPN B.3.15.1"),
    ],
)

# Shared: TLV 43.5.15 at the top level and under 22, 23, 24, 25, 26, 60.
L2CP_PROCESSING = sub(
    "L2CPProcessing",
    [
        row(1, "L2CPTunnelMode", UCHAR, 0, 1, spec="L2VPN B.3.16.1"),
        row(2, "L2CPDMACAddress", ETHER, spec="L2VPN B.3.16.1"),
        row(3, "L2CPOverwrotingDMACAddress", ETHER, spec="L2VPN B.3.16.1"),
    ],
)

# Shared: TLV 43.5.19 at the top level and under 22, 23, 24, 25, 26, 60.
SERVICE_DELIMITER = sub(
    "ServiceDelimiter",
    [
        row(1, "CVIDDelimiter", HEXSTR, 2, 2, spec="L2VPN B.3.19.1"),
        row(2, "SVIDDelimiter", HEXSTR, 2, 2, spec="L2VPN B.3.19.2"),
        row(3, "ISIDDelimiter", HEXSTR, 3, 3, spec="L2VPN B.3.19.3"),
        row(4, "BVIDDelimiter", HEXSTR, 2, 2, spec="L2VPN B.3.19.4"),
    ],
)

# Shared: TLV 43.5.20 at the top level and under 22, 23, 24, 25, 26, 60.
VIRTUAL_SWITCH_INSTANCE_ENCODING = sub(
    "VirtualSwitchInstanceEncoding",
    [
        row(1, "VPLSClass", HEXSTR, spec="L2VPN B.3.20.1"),
        row(2, "ETreeRole", UCHAR, 0, 1, spec="L2VPN B.3.20.2"),
        row(3, "ETreeRootVID", HEXSTR, 2, 2, spec="L2VPN B.3.20.3"),
        row(4, "ETreeLeafVID", HEXSTR, 2, 2, spec="L2VPN B.3.20.4"),
    ],
)

# Shared: TLV 43.5.21 at the top level and under 22, 23, 24, 25, 26, 60.
BGP_ATTRIBUTE = sub(
    "BGPAttribute",
    [
        row(1, "BGPVPNID", UINT, spec="L2VPN B.3.21.1"),
        row(2, "RouteDistinguisher", HEXSTR, 8, 8, spec="L2VPN B.3.21.2"),
        row(3, "RouteTargetImport", HEXSTR, spec="L2VPN B.3.21.3"),
        row(4, "RouteTargetExport", HEXSTR, spec="L2VPN B.3.21.4"),
        row(5, "CEIDVEID", USHORT, spec="L2VPN B.3.21.5"),
    ],
)

# Shared: TLV 43.5.24.1 at the top level and under 22, 23, 24, 25, 26, 60.
MEP_CONFIGURATION = sub(
    "MEPConfiguration",
    [
        row(1, "MDLevel", UCHAR, 0, 7, spec="L2VPN B.3.24.1.1"),
        row(2, "MDName", STRING, 2, 16, spec="L2VPN B.3.24.1.2"),
        row(3, "MAName", STRING, 2, 28, spec="L2VPN B.3.24.1.3"),
        row(4, "MEPID", USHORT, 1, 8191, spec="L2VPN B.3.24.1.4"),
    ],
)

# Shared: TLV 43.5.24.2 at the top level and under 22, 23, 24, 25, 26, 60.
REMOTE_MEP_CONFIGURATION = sub(
    "RemoteMEPConfiguration",
    [
        row(1, "RemoteMDLevel", UCHAR, 0, 7, spec="L2VPN B.3.24.2.1"),
        row(2, "RemoteMDName", STRING, 2, 16, spec="L2VPN B.3.24.2.2"),
        row(3, "RemoteMAName", STRING, 2, 28, spec="L2VPN B.3.24.2.3"),
        row(4, "RemoteMEPID", USHORT, 1, 8191, spec="L2VPN B.3.24.2.4"),
    ],
)

# Shared: TLV 43.5.24.3 at the top level and under 22, 23, 24, 25, 26, 60.
FAULT_MANAGEMENT_CONFIGURATION = sub(
    "FaultManagementConfiguration",
    [
        row(1, "ContinuityCheckMessages", UCHAR, 0, 2, spec="L2VPN B.3.24.3.1"),
        row(2, "LoopbackFunction", UCHAR, 0, 1, spec="L2VPN B.3.24.3.2"),
        row(3, "LinktraceFunction", UCHAR, 0, 1, spec="L2VPN B.3.24.3.3"),
    ],
)

# Shared: TLV 43.5.24.4.1 at the top level and under 22, 23, 24, 25, 26, 60.
FRAME_DELAY_MEASUREMENT = sub(
    "FrameDelayMeasurement",
    [
        row(1, "FrameDelayMeasurementEnable", UCHAR, 0, 1, spec="L2VPN B.3.24.4.1.1"),
        row(2, "FrameDelayMeasurementOneWayTwoWay", UCHAR, 0, 1, spec="L2VPN B.3.24.4.1.2"),
        row(3, "FrameDelayMeasurementTransmissionPeriodicity", USHORT, spec="L2VPN B.3.24.4.1.3"),
    ],
)

# Shared: TLV 43.5.24.4.2 at the top level and under 22, 23, 24, 25, 26, 60.
FRAME_LOSS_MEASUREMENT = sub(
    "FrameLossMeasurement",
    [
        row(1, "FrameLossMeasurementEnable", UCHAR, 0, 1, spec="L2VPN B.3.24.4.2.1"),
        row(2, "FrameLossMeasurementTransmissionPeriodicity", UCHAR, spec="L2VPN B.3.24.4.2.2"),
    ],
)

# Shared: TLV 43.5.24.4 at the top level and under 22, 23, 24, 25, 26, 60.
PERFORMANCE_MANAGEMENT_CONFIGURATION = sub(
    "PerformanceManagementConfiguration",
    [
        block(1, "FrameDelayMeasurement", FRAME_DELAY_MEASUREMENT, spec="L2VPN B.3.24.4.1"),
        block(2, "FrameLossMeasurement", FRAME_LOSS_MEASUREMENT, spec="L2VPN B.3.24.4.2"),
    ],
)

# Shared: TLV 43.5.24 at the top level and under 22, 23, 24, 25, 26, 60.
SOAM_SUBTYPE = sub(
    "SOAMSubtype",
    [
        block(1, "MEPConfiguration", MEP_CONFIGURATION, spec="L2VPN B.3.24.1"),
        block(2, "RemoteMEPConfiguration", REMOTE_MEP_CONFIGURATION, spec="L2VPN B.3.24.2"),
        block(3, "FaultManagementConfiguration", FAULT_MANAGEMENT_CONFIGURATION,
            spec="L2VPN B.3.24.3"),
        block(4, "PerformanceManagementConfiguration", PERFORMANCE_MANAGEMENT_CONFIGURATION,
            spec="L2VPN B.3.24.4"),
    ],
)

# Shared: TLV 43.5.43 at the top level and under 22, 23, 24, 25, 26, 60.
L2VPN_VENDOR_SPECIFIC = sub(
    "VendorSpecificL2VPNSubtype",
    [
        row(8, "VendorIdentifier", HEXSTR, 3, 3, spec="L2VPN B.3.11"),
    ],
)

# Shared: TLV 43.5 at the top level and under 22, 23, 24, 25, 26, 60.
L2VPN_ENCODING = sub(
    "L2VPNEncoding",
    [
        row(1, "VPNIdentifier", HEXSTR, 4, 255, spec="L2VPN B.3.1"),
        block(2, "NSIEncapsulation", NSI_ENCAPSULATION, spec="L2VPN B.3.2"),
        row(3, "eSAFEDHCPSnooping", HEXSTR, spec="L2VPN B.3.3"),
        row(4, "CMInterfaceMaskCMIMSubtype", HEXSTR, spec="L2VPN B.3.4"),
        row(5, "AttachmentGroupID", HEXSTR, spec="L2VPN B.3.5"),
        row(6, "SourceAttachmentIndividualID", HEXSTR, spec="L2VPN B.3.6"),
        row(7, "TargetAttachmentIndividualID", HEXSTR, spec="L2VPN B.3.7"),
        row(8, "IngressUserPriority", UCHAR, 0, 7, spec="L2VPN B.3.8"),
        row(9, "UserPriorityRange", CHAR_LIST, spec="L2VPN B.3.9"),
        row(10, "L2VPNSADescriptorSubtype", HEXSTR, 14, 14, spec="L2VPN B.3.10"),
        row(12, "PseudowireType", UCHAR, 4, 5, spec="L2VPN B.3.13"),
        row(13, "L2VPNMode", UCHAR, 0, 1, spec="L2VPN B.3.14"),
        block(14, "TPIDTranslation", TPID_TRANSLATION, spec="L2VPN B.3.15"),
        block(15, "L2CPProcessing", L2CP_PROCESSING, spec="L2VPN B.3.16"),
        row(16, "DACDisableEnableConfiguration", UCHAR, 0, 1, spec="L2VPN B.3.17"),
        row(18, "PseudowireClass", HEXSTR, spec="L2VPN B.3.18"),
        block(19, "ServiceDelimiter", SERVICE_DELIMITER, spec="L2VPN B.3.19"),
        block(20, "VirtualSwitchInstanceEncoding", VIRTUAL_SWITCH_INSTANCE_ENCODING,
            spec="L2VPN B.3.20"),
        block(21, "BGPAttribute", BGP_ATTRIBUTE, spec="L2VPN B.3.21"),
        row(23, "PseudowireSignaling", UCHAR, 0, 2, spec="L2VPN B.3.23"),
        block(24, "SOAMSubtype", SOAM_SUBTYPE, spec="L2VPN B.3.24"),
        row(26, "L2VPNDSID", UINT24, 1, 1048575, spec="L2VPN B.3.26"),
        block(43, "VendorSpecificL2VPNSubtype", L2VPN_VENDOR_SPECIFIC, spec="L2VPN B.3.11"),
    ],
)

# Shared: TLV 22.43.6, 23.43.6, 24.43.6, 25.43.6, 26.43.6, 60.43.6.
NESTED_EXTENDED_CMTS_MIC = sub(
    "NestedExtendedCMTSMICConfiguration",
    [
        row(1, "ExtendedCMTSMICHMACtype", UCHAR, spec="MULPIv3.0 C.1.1.18.1.6.1"),
        row(2, "ExtendedCMTSMICBitmap", HEXSTR, spec="MULPIv3.0 C.1.1.18.1.6.2"),
        row(3, "ExplicitExtendedCMTSMICDigest", HEXSTR, spec="MULPIv3.0 C.1.1.18.1.6.3"),
    ],
)

# Shared: TLV 43.7.2 at the top level and under 22, 23, 24, 25, 26, 60.
SAV_STATIC_PREFIX_RULE = sub(
    "SAVStaticPrefixRule",
    [
        row(1, "SAVStaticPrefixAddress", IP_IP6, spec="MULPIv3.0 C.1.1.18.1.7.2.1"),
        row(2, "SAVStaticPrefixLength", UCHAR, spec="MULPIv3.0 C.1.1.18.1.7.2.2"),
    ],
)

# Shared: TLV 43.7 at the top level and under 22, 23, 24, 25, 26, 60.
SAV_AUTHORIZATION_ENCODING = sub(
    "SAVAuthorizationEncoding",
    [
        row(1, "SAVGroupName", STRING, 1, 15, spec="MULPIv3.0 C.1.1.18.1.7.1"),
        block(2, "SAVStaticPrefixRule", SAV_STATIC_PREFIX_RULE, spec="MULPIv3.0 C.1.1.18.1.7.2"),
    ],
)

# Shared: TLV 43.9 at the top level and under 22, 23, 24, 25, 26, 60.
CM_ATTRIBUTE_MASKS = sub(
    "CMAttributeMasks",
    [
        row(1, "CMDownstreamRequiredAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.1.1.18.1.8.1"),
        row(2, "CMDownstreamForbiddenAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.1.1.18.1.8.2"),
        row(3, "CMUpstreamRequiredAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.1.1.18.1.8.3"),
        row(4, "CMUpstreamForbiddenAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.1.1.18.1.8.4"),
    ],
)

# Shared: TLV 43.10.2 at the top level and under 22, 23, 24, 25, 26, 60.
IP_MULTICAST_STATIC_SESSION_RULE = sub(
    "IPMulticastJoinAuthStaticSessionRule",
    [
        row(1, "MulticastRulePriority", UCHAR, 0, 255, spec="MULPIv3.0 C.1.1.18.1.9.2.1"),
        row(2, "AuthorizationAction", UCHAR, 0, 1, spec="MULPIv3.0 C.1.1.18.1.9.2.2"),
        row(3, "SourcePrefixAddress", IP_IP6, spec="MULPIv3.0 C.1.1.18.1.9.2.3"),
        row(4, "SourcePrefixLength", UCHAR, 0, 128, spec="MULPIv3.0 C.1.1.18.1.9.2.4"),
        row(5, "GroupPrefixAddress", IP_IP6, spec="MULPIv3.0 C.1.1.18.1.9.2.5"),
        row(6, "GroupPrefixLength", UCHAR, 0, 128, spec="MULPIv3.0 C.1.1.18.1.9.2.6"),
    ],
)

# Shared: TLV 43.10 at the top level and under 22, 23, 24, 25, 26, 60.
IP_MULTICAST_JOIN_AUTHORIZATION = sub(
    "IPMulticastJoinAuthorization",
    [
        row(1, "IPMulticastProfileName", STRING, 1, 15, spec="MULPIv3.0 C.1.1.18.1.9.1"),
        block(2, "IPMulticastJoinAuthStaticSessionRule", IP_MULTICAST_STATIC_SESSION_RULE,
            spec="MULPIv3.0 C.1.1.18.1.9.2"),
        row(3, "MaximumMulticastSessions", USHORT, spec="MULPIv3.0 C.1.1.18.1.9.3"),
    ],
)

# Shared: TLV 43.12 at the top level and under 22, 23, 24, 25, 26, 60.
DEMARC_AUTO_CONFIGURATION = sub(
    "DEMARCAutoConfiguration",
    [
        row(1, "DACDisableEnableConfig", UCHAR, 0, 1, spec="DEMARCv1.0 B.1"),
        row(2, "CMIMEncoding", HEXSTR, spec="DEMARCv1.0 B.2"),
        row(3, "UpstreamServiceClassName", STRZERO, 2, 16, spec="DEMARCv1.0 B.3"),
        row(4, "DownstreamServiceClassName", STRZERO, 2, 16, spec="DEMARCv1.0 B.4"),
    ],
)

# TLV 43.6 at the top level (the reference spells these differently nested).
EXTENDED_CMTS_MIC = sub(
    "ExtendedCMTSMICConfiguration",
    [
        row(1, "ExtendedCMTSMICHMACDigestType", UCHAR, spec="MULPIv3.0 C.1.1.18.1.6.1"),
        row(2, "ExtendedCMTSMICHMACBitmap", HEXSTR, spec="MULPIv3.0 C.1.1.18.1.6.2"),
        row(3, "ExtendedCMTSMICHMACDigest", HEXSTR, spec="MULPIv3.0 C.1.1.18.1.6.3"),
    ],
)



def _vendor_specific(name: str, mic_name: str, mic: SubTable) -> SubTable:
    """TLV 43: the DOCSIS extension sub-types, and the vendor ID (43.8) that
    hands every other sub-type to that vendor."""
    return sub(
        name,
        [
            row(1, "CMLoadBalancingPolicyID", UINT, spec="MULPIv3.0 C.1.1.18.1.1"),
            row(2, "CMLoadBalancingPriority", UINT, spec="MULPIv3.0 C.1.1.18.1.2"),
            row(3, "CMLoadBalancingGroupID", UINT, spec="MULPIv3.0 C.1.1.18.1.3"),
            row(4, "CMRangingClassIDExtension", USHORT, spec="MULPIv3.0 C.1.1.18.1.4"),
            block(5, "L2VPNEncoding", L2VPN_ENCODING, spec="MULPIv3.0 C.1.1.18.1.5"),
            block(6, mic_name, mic, spec="MULPIv3.0 C.1.1.18.1.6"),
            block(7, "SAVAuthorizationEncoding", SAV_AUTHORIZATION_ENCODING, spec="MULPIv3.0 C.1.1.18.1.7"),
            row(8, "VendorIdentifier", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.11"),
            block(9, "CMAttributeMasks", CM_ATTRIBUTE_MASKS, spec="MULPIv3.0 C.1.1.18.1.8"),
            block(10, "IPMulticastJoinAuthorization", IP_MULTICAST_JOIN_AUTHORIZATION,
                  spec="MULPIv3.0 C.1.1.18.1.9"),
            row(11, "ServiceTypeIdentifier", STRING, 1, 16, spec="MULPIv3.0 C.1.1.18.1.10"),
            block(12, "DEMARCAutoConfiguration", DEMARC_AUTO_CONFIGURATION, spec="MULPIv3.0 C.1.1.18.1.11"),
        ],
        vendor_scope=8,
    )


# Shared: TLV 22.43, 23.43, 24.43, 25.43, 26.43, 60.43. Same as the top-level
# set except for the names of 43.6 and its children, which differ in the
# reference and are kept as it spells them in each place.
NESTED_VENDOR_SPECIFIC = _vendor_specific(
    "NestedVendorSpecific", "ExtendedCMTSMICConfigurationSetting", NESTED_EXTENDED_CMTS_MIC
)
# TLV 43 at the top level.
VENDOR_SPECIFIC = _vendor_specific("VendorSpecific", "ExtendedCMTSMICConfiguration", EXTENDED_CMTS_MIC)
