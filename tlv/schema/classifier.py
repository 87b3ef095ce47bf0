"""Packet classifiers (TLV 22, 23, 60) and payload header suppression (TLV 26)."""

from __future__ import annotations

from tlv.schema._rows import block, later, row, sub
from tlv.types import CHAR_LIST, ETHER, ETHERMASK, HEXSTR, IP, IP6, UCHAR, UINT, USHORT

NESTED_VENDOR_SPECIFIC = later("NestedVendorSpecific", "vendor")

# Shared: TLV 22.9, 23.9.
IP_CLASSIFIER = sub(
    "IpPacketClassifier",
    [
        row(1, "IpTos", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.6.1"),
        row(2, "IpProto", USHORT, 0, 257, spec="MULPIv3.0 C.2.1.6.2"),
        row(3, "IpSrcAddr", IP, spec="MULPIv3.0 C.2.1.6.3"),
        row(4, "IpSrcMask", IP, spec="MULPIv3.0 C.2.1.6.4"),
        row(5, "IpDstAddr", IP, spec="MULPIv3.0 C.2.1.6.5"),
        row(6, "IpDstMask", IP, spec="MULPIv3.0 C.2.1.6.6"),
        row(7, "SrcPortStart", USHORT, 0, 65535, spec="MULPIv3.0 C.2.1.7.1"),
        row(8, "SrcPortEnd", USHORT, 0, 65535, spec="MULPIv3.0 C.2.1.7.2"),
        row(9, "DstPortStart", USHORT, 0, 65535, spec="MULPIv3.0 C.2.1.7.3"),
        row(10, "DstPortEnd", USHORT, 0, 65535, spec="MULPIv3.0 C.2.1.7.4"),
    ],
)

# Shared: TLV 22.10, 23.10.
LLC_CLASSIFIER = sub(
    "LLCPacketClassifier",
    [
        row(1, "DstMacAddress", ETHERMASK, spec="MULPIv3.0 C.2.1.8.1"),
        row(2, "SrcMacAddress", ETHER, spec="MULPIv3.0 C.2.1.8.2"),
        row(3, "EtherType", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.8.3"),
    ],
)

# Shared: TLV 22.11, 23.11.
IEEE802_CLASSIFIER = sub(
    "IEEE802Classifier",
    [
        row(1, "UserPriority", CHAR_LIST, spec="MULPIv3.0 C.2.1.9.1"),
        row(2, "VlanID", USHORT, 0, 4096, spec="MULPIv3.0 C.2.1.9.2"),
    ],
)

# Shared: TLV 22.12, 23.12.
PC_IPV6_CLASSIFIER = sub(
    "PcIPv6PacketClassification",
    [
        row(1, "PcIPv6TrafficClassRangeAndMask", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.10.1"),
        row(2, "PcIPv6FlowLabel", HEXSTR, 4, 4, spec="MULPIv3.0 C.2.1.10.2"),
        row(3, "PcIPv6NextHeaderType", USHORT, 0, 257, spec="MULPIv3.0 C.2.1.10.3"),
        row(4, "PcIPv6SourceAddress", IP6, spec="MULPIv3.0 C.2.1.10.4"),
        row(5, "PcIPv6SourcePrefixLength", UCHAR, 0, 128, spec="MULPIv3.0 C.2.1.10.5"),
        row(6, "PcIPv6DestAddress", IP6, spec="MULPIv3.0 C.2.1.10.6"),
        row(7, "PcIPv6DestPrefixLength", UCHAR, 0, 128, spec="MULPIv3.0 C.2.1.10.7"),
    ],
)

# Shared: TLV 22.14, 23.14, 60.14.
STAG_CTAG_CLASSIFIER = sub(
    "STagCTagFrameClassification",
    [
        row(1, "STPID", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.13.1"),
        row(2, "SVID", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.13.2"),
        row(3, "SPCP", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.13.3"),
        row(4, "SDEI", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.13.4"),
        row(5, "CTPID", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.13.5"),
        row(6, "CVID", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.13.6"),
        row(7, "CPCP", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.13.7"),
        row(8, "CCFI", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.13.8"),
        row(9, "STCI", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.13.9"),
        row(10, "CTCI", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.13.10"),
    ],
)

# Shared: TLV 22.15, 23.15, 60.15.
IEEE8021AH_CLASSIFIER = sub(
    "IEEE8021ahPacketClassification",
    [
        row(1, "ITPID", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.14.1"),
        row(2, "ISID", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.14.2"),
        row(3, "ITCI", HEXSTR, 5, 5, spec="MULPIv3.0 C.2.1.14.3"),
        row(4, "IPCP", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.14.4"),
        row(5, "IDEI", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.14.5"),
        row(6, "IUCA", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.14.6"),
        row(7, "BTPID", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.14.7"),
        row(8, "BTCI", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.14.8"),
        row(9, "BPCP", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.14.9"),
        row(10, "BDEI", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.14.10"),
        row(11, "BVID", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.1.14.11"),
        row(12, "BDA", ETHER, spec="MULPIv3.0 C.2.1.14.12"),
        row(13, "BSA", ETHER, spec="MULPIv3.0 C.2.1.14.13"),
    ],
)

# Shared: TLV 22.16, 23.16, 60.16.
ICMP_CLASSIFIER = sub(
    "ICMPv4ICMPv6PacketClassification",
    [
        row(1, "ICMPv4ICMPv6TypeStart", UCHAR, 0, 255, spec="MULPIv3.0 C.2.1.12.1"),
        row(2, "ICMPv4ICMPv6TypeEnd", UCHAR, 0, 255, spec="MULPIv3.0 C.2.1.12.2"),
    ],
)

# Shared: TLV 22.17, 23.17, 60.17.
MPLS_CLASSIFIER = sub(
    "MPLSClassificationEncoding",
    [
        row(1, "MPLSTCbits", HEXSTR, 1, 1, spec="MULPIv3.0 C.2.1.15.1"),
        row(2, "MPLSLabel", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.15.2"),
    ],
)

# Shared: TLV 22, 23. The reference keeps separate rows for 23 whose limits
# differ in three places (23.10.3 EtherType 0..3, 23.11.2 VlanID unchecked,
# 23.12.1 PcIPv6TrafficClassRangeAndMask unchecked), but it looks keywords up by
# name and always finds the TLV 22 row first, so the 22 limits are the ones it
# applies in both blocks; they are the ones kept here. Its 23.13 row cites no
# spec section; it is the same CMIM encoding as 22.13.
PACKET_CLASSIFIER = sub(
    "PacketClassifier",
    [
        row(1, "ClassifierRef", UCHAR, 1, 255, spec="MULPIv3.0 C.2.1.4.1"),
        row(2, "ClassifierId", USHORT, 1, 65535, spec="MULPIv3.0 C.2.1.4.2"),
        row(3, "ServiceFlowRef", USHORT, 1, 65535, spec="MULPIv3.0 C.2.1.4.3"),
        row(4, "ServiceFlowId", UINT, 1, 4294967295, spec="MULPIv3.0 C.2.1.4.4"),
        row(5, "RulePriority", UCHAR, 0, 255, spec="MULPIv3.0 C.2.1.4.5"),
        row(6, "ActivationState", UCHAR, 0, 1, spec="MULPIv3.0 C.2.1.4.6"),
        row(7, "DscAction", UCHAR, 0, 2, spec="MULPIv3.0 C.2.1.4.7"),
        block(9, "IpPacketClassifier", IP_CLASSIFIER, spec="MULPIv3.0 C.2.1.6"),
        block(10, "LLCPacketClassifier", LLC_CLASSIFIER, spec="MULPIv3.0 C.2.1.8"),
        block(11, "IEEE802Classifier", IEEE802_CLASSIFIER, spec="MULPIv3.0 C.2.1.9"),
        block(12, "PcIPv6PacketClassification", PC_IPV6_CLASSIFIER, spec="MULPIv3.0 C.2.1.10"),
        row(13, "PcCMIMEncoding", HEXSTR, spec="MULPIv3.0 C.2.1.4.8"),
        block(14, "STagCTagFrameClassification", STAG_CTAG_CLASSIFIER, spec="MULPIv3.0 C.2.1.13"),
        block(15, "IEEE8021ahPacketClassification", IEEE8021AH_CLASSIFIER,
            spec="MULPIv3.0 C.2.1.14"),
        block(16, "ICMPv4ICMPv6PacketClassification", ICMP_CLASSIFIER, spec="MULPIv3.0 C.2.1.12"),
        block(17, "MPLSClassificationEncoding", MPLS_CLASSIFIER, spec="MULPIv3.0 C.2.1.15"),
        block(43, "VendorSpecific", NESTED_VENDOR_SPECIFIC, spec="MULPIv3.0 C.2.1.11"),
    ],
)

# TLV 26.
PHS = sub(
    "PHS",
    [
        row(1, "PHSClassifierRef", UCHAR, 1, 255, spec="MULPIv3.0 C.2.3.1.1"),
        row(2, "PHSClassifierId", USHORT, 1, 65535, spec="MULPIv3.0 C.2.3.1.2"),
        row(3, "PHSServiceFlowRef", USHORT, 1, 65535, spec="MULPIv3.0 C.2.3.1.3"),
        row(4, "PHSServiceFlowId", UINT, 1, 4294967295, spec="MULPIv3.0 C.2.3.1.4"),
        row(5, "PHSDSCAction", UCHAR, 0, 3, spec="MULPIv3.0 C.2.3.1.5"),
        row(7, "PHSField", HEXSTR, 1, 255, spec="MULPIv3.0 C.2.4.2.1"),
        row(8, "PHSIndex", UCHAR, 1, 255, spec="MULPIv3.0 C.2.4.2.2"),
        row(9, "PHSMask", HEXSTR, 1, 255, spec="MULPIv3.0 C.2.4.2.3"),
        row(10, "PHSSize", UCHAR, 1, 255, spec="MULPIv3.0 C.2.4.2.4"),
        row(11, "PHSVerify", UCHAR, 0, 1, spec="MULPIv3.0 C.2.4.2.5"),
        row(13, "PHSDBCAction", UCHAR, 0, 1, spec="MULPIv3.0 C.2.3.1.6"),
        block(43, "VendorSpecific", NESTED_VENDOR_SPECIFIC, spec="MULPIv3.0 C.2.1.11"),
    ],
)

# TLV 60.9.
DROP_IPV4_CLASSIFIER = sub(
    "IPv4PacketClassification",
    [
        row(1, "IPv4Tos", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.6.1"),
        row(2, "IPProtocol", USHORT, 0, 257, spec="MULPIv3.0 C.2.1.6.2"),
        row(3, "IPv4SourceAddress", IP, spec="MULPIv3.0 C.2.1.6.3"),
        row(4, "IPv4SourceMask", IP, spec="MULPIv3.0 C.2.1.6.4"),
        row(5, "IPv4DestinationAddress", IP, spec="MULPIv3.0 C.2.1.6.5"),
        row(6, "IPv4DestinationMask", IP, spec="MULPIv3.0 C.2.1.6.6"),
        row(7, "SourcePortStart", USHORT, spec="MULPIv3.0 C.2.1.7.1"),
        row(8, "SourcePortEnd", USHORT, spec="MULPIv3.0 C.2.1.7.2"),
        row(9, "DestinationPortStart", USHORT, spec="MULPIv3.0 C.2.1.7.3"),
        row(10, "DestinationPortEnd", USHORT, spec="MULPIv3.0 C.2.1.7.4"),
    ],
)

# TLV 60.10.
DROP_LLC_CLASSIFIER = sub(
    "EthernetLLCPacketClassification",
    [
        row(1, "DestinationMACAddress", ETHERMASK, spec="MULPIv3.0 C.2.1.8.1"),
        row(2, "SourceMACAddress", ETHER, spec="MULPIv3.0 C.2.1.8.2"),
        row(3, "EthertypeDSAPMacType", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.8.3"),
    ],
)

# TLV 60.11.
DROP_IEEE802_CLASSIFIER = sub(
    "IEEE8021PQPacketClassification",
    [
        row(1, "UserPriority", CHAR_LIST, spec="MULPIv3.0 C.2.1.9.1"),
        row(2, "VlanID", USHORT, spec="MULPIv3.0 C.2.1.9.2"),
    ],
)

# TLV 60.12.
DROP_IPV6_CLASSIFIER = sub(
    "IPv6PacketClassification",
    [
        row(1, "IPv6TrafficClassRangeandMask", HEXSTR, 3, 3, spec="MULPIv3.0 C.2.1.10.1"),
        row(2, "IPv6FlowLabel", HEXSTR, 4, 4, spec="MULPIv3.0 C.2.1.10.2"),
        row(3, "IPv6NextHeaderType", USHORT, 0, 257, spec="MULPIv3.0 C.2.1.10.3"),
        row(4, "IPv6SourceAddress", IP6, spec="MULPIv3.0 C.2.1.10.4"),
        row(5, "IPv6SourcePrefixLength", UCHAR, 0, 128, spec="MULPIv3.0 C.2.1.10.5"),
        row(6, "IPv6DestinationAddress", IP6, spec="MULPIv3.0 C.2.1.10.6"),
        row(7, "IPv6DestinationPrefixLength", UCHAR, 0, 128, spec="MULPIv3.0 C.2.1.10.7"),
    ],
)

# TLV 60.
DROP_CLASSIFIER = sub(
    "UpstreamDropPacketClassification",
    [
        row(1, "ClassifierReference", UCHAR, 1, 255, spec="MULPIv3.0 C.2.1.4.1"),
        row(2, "ClassifierIdentifier", USHORT, 1, 65535, spec="MULPIv3.0 C.2.1.4.2"),
        row(5, "RulePriority", UCHAR, spec="MULPIv3.0 C.2.1.4.5"),
        row(7, "DynamicServiceChangeAction", UCHAR, 0, 2, spec="MULPIv3.0 C.2.1.4.7"),
        block(9, "IPv4PacketClassification", DROP_IPV4_CLASSIFIER, spec="MULPIv3.0 C.2.1.6"),
        block(10, "EthernetLLCPacketClassification", DROP_LLC_CLASSIFIER, spec="MULPIv3.0 C.2.1.8"),
        block(11, "IEEE8021PQPacketClassification", DROP_IEEE802_CLASSIFIER,
            spec="MULPIv3.0 C.2.1.9"),
        block(12, "IPv6PacketClassification", DROP_IPV6_CLASSIFIER, spec="MULPIv3.0 C.2.1.10"),
        row(13, "CMInterfaceMaskEncoding", HEXSTR, spec="MULPIv3.0 C.2.1.4.8"),
        block(14, "STagCTagFrameClassification", STAG_CTAG_CLASSIFIER, spec="MULPIv3.0 C.2.1.13"),
        block(15, "IEEE8021ahPacketClassification", IEEE8021AH_CLASSIFIER,
            spec="MULPIv3.0 C.2.1.14"),
        block(16, "ICMPv4ICMPv6PacketClassification", ICMP_CLASSIFIER, spec="MULPIv3.0 C.2.1.12"),
        block(17, "MPLSClassificationEncoding", MPLS_CLASSIFIER, spec="MULPIv3.0 C.2.1.15"),
        block(43, "VendorSpecific", NESTED_VENDOR_SPECIFIC, spec="MULPIv3.0 C.2.1.11"),
    ],
)
