"""Service flows (TLV 24, 25) and aggregate service flows (TLV 70, 71, 93, 94)."""

from __future__ import annotations

from tlv.model import SubTable
from tlv.schema._rows import block, later, row, sub
from tlv.types import CHAR_LIST, HEXSTR, STRZERO, UCHAR, UINT, USHORT, USHORT_LIST

NESTED_VENDOR_SPECIFIC = later("NestedVendorSpecific", "vendor")

# Shared: TLV 24.35, 25.35.
BUFFER_CONTROL = sub(
    "BufferControl",
    [
        row(1, "MinimumBuffer", UINT, 0, 4294967295, spec="MULPIv3.0 C.2.2.7.11.3"),
        row(2, "TargetBuffer", UINT, 0, 4294967295, spec="MULPIv3.0 C.2.2.7.11.4"),
        row(3, "MaximumBuffer", UINT, 0, 4294967295, spec="MULPIv3.0 C.2.2.7.11.5"),
    ],
)

# Shared: TLV 24.40, 25.40.
AQM_ENCODINGS = sub(
    "AQMEncodings",
    [
        row(1, "SFAQMDisable", UCHAR, 0, 1, spec="MULPIv3.0 C.2.2.7.12.3"),
        row(2, "SFAQMLatencyTarget", UCHAR, 0, 255, spec="MULPIv3.0 C.2.2.7.12.4"),
        row(3, "AQMAlgorithm", UCHAR, 0, 2, spec="MULPIv3.1 C.2.2.9.15.3"),
        row(4, "ImmediateAQMMaxThreshold", USHORT, spec="MULPIv3.1 C.2.2.9.15.4"),
        row(5, "ImmediateAQMRangeExponent", UCHAR, 0, 25, spec="MULPIv3.1 C.2.2.9.15.5"),
        row(6, "LatencyHistogramEncodings", USHORT_LIST, 1, 15, spec="MULPIv3.1 C.2.2.9.15.6"),
    ],
)

# TLV 24.
US_SERVICE_FLOW = sub(
    "UsServiceFlow",
    [
        row(1, "UsServiceFlowRef", USHORT, 1, 65535, spec="MULPIv3.0 C.2.2.5.1"),
        row(2, "UsServiceFlowId", UINT, 1, 4294967295, spec="MULPIv3.0 C.2.2.5.2"),
        row(3, "ServiceIdentifier", USHORT, spec="MULPIv3.0 C.2.2.5.3"),
        row(4, "ServiceClassName", STRZERO, 2, 16, spec="MULPIv3.0 C.2.2.5.4"),
        row(6, "QosParamSetType", UCHAR, 0, 255, spec="MULPIv3.0 C.2.2.5.5"),
        row(7, "TrafficPriority", UCHAR, 0, 7, spec="MULPIv3.0 C.2.2.7.1"),
        row(8, "MaxRateSustained", UINT, spec="MULPIv3.0 C.2.2.7.2.1"),
        row(9, "MaxTrafficBurst", UINT, spec="MULPIv3.0 C.2.2.7.3"),
        row(10, "MinReservedRate", UINT, spec="MULPIv3.0 C.2.2.7.4"),
        row(11, "MinResPacketSize", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.7.5"),
        row(12, "ActQosParamsTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.7.6"),
        row(13, "AdmQosParamsTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.7.7"),
        row(14, "MaxConcatenatedBurst", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.8.1"),
        row(15, "SchedulingType", UCHAR, 0, 6, spec="MULPIv3.0 C.2.2.8.2"),
        row(16, "RequestOrTxPolicy", HEXSTR, 4, 4, spec="MULPIv3.0 C.2.2.8.3"),
        row(17, "NominalPollInterval", UINT, spec="MULPIv3.0 C.2.2.8.4"),
        row(18, "ToleratedPollJitter", UINT, spec="MULPIv3.0 C.2.2.8.5"),
        row(19, "UnsolicitedGrantSize", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.8.6"),
        row(20, "NominalGrantInterval", UINT, spec="MULPIv3.0 C.2.2.8.7"),
        row(21, "ToleratedGrantJitter", UINT, spec="MULPIv3.0 C.2.2.8.8"),
        row(22, "GrantsPerInterval", UCHAR, 0, 127, spec="MULPIv3.0 C.2.2.8.9"),
        row(23, "IpTosOverwrite", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.2.7.9"),
        row(26, "MultipliertoNumberofBytesRequested", UCHAR, 1, 16, spec="MULPIv3.0 C.2.2.8.12"),
        row(27, "UpstreamPeakTrafficRate", UINT, spec="MULPIv3.0 C.2.2.7.10.1"),
        row(31, "ServiceFlowRequiredAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.2.2.5.6"),
        row(32, "ServiceFlowForbiddenAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.2.2.5.7"),
        row(33, "ServiceFlowAttributeAggregationRuleMask", HEXSTR, 4, 4,
            spec="MULPIv3.0 C.2.2.5.8"),
        row(34, "ApplicationIdentifier", UINT, spec="MULPIv3.0 C.2.2.5.9"),
        block(35, "BufferControl", BUFFER_CONTROL, spec="MULPIv3.0 C.2.2.7.11.1"),
        row(36, "UpstreamAggregateServiceFlowReference", USHORT, 1, 65535,
            spec="MULPIv3.0 C.2.2.5.10"),
        row(37, "UpstreamMESPReference", USHORT, 1, 65535, spec="MULPIv3.0 C.2.2.5.11"),
        # The reference lists this row twice (second copy citing C.2.2.9.14);
        # one keyword per table, the first copy kept.
        row(39, "SFtoIATCProfileNameReference", STRZERO, 2, 16, spec="MULPIv3.1 C.2.2.7.14"),
        block(40, "AQMEncodings", AQM_ENCODINGS, spec="MULPIv3.0 C.2.2.7.12"),
        row(41, "DataRateUnitSetting", UCHAR, 0, 3, spec="MULPIv3.0 C.2.2.7.13.1"),
        block(43, "VendorSpecific", NESTED_VENDOR_SPECIFIC, spec="MULPIv3.0 C.2.1.11"),
        row(44, "GuaranteedGrantInterval", USHORT, spec="MULPIv3.1 C.2.2.10.13"),
        row(45, "GuaranteedGrantRate", UINT, spec="MULPIv3.1 C.2.2.10.14"),
        row(46, "GuaranteedRequestInterval", USHORT, spec="MULPIv3.1 C.2.2.10.15"),
        row(48, "AbsoluteQueueDepthRequestEnable", UCHAR, 0, 1, spec="MULPIv3.1 C.2.2.10.17"),
        row(49, "PGSActivityDetectionDisable", UCHAR, 0, 1, spec="MULPIv3.1 C.2.2.10.16"),
    ],
)

# TLV 25.
DS_SERVICE_FLOW = sub(
    "DsServiceFlow",
    [
        row(1, "DsServiceFlowRef", USHORT, 1, 65535, spec="MULPIv3.0 C.2.2.5.1"),
        row(2, "DsServiceFlowId", UINT, 1, 4294967295, spec="MULPIv3.0 C.2.2.5.2"),
        row(4, "ServiceClassName", STRZERO, 2, 16, spec="MULPIv3.0 C.2.2.5.4"),
        row(6, "QosParamSetType", UCHAR, 0, 255, spec="MULPIv3.0 C.2.2.5.5"),
        row(7, "TrafficPriority", UCHAR, 0, 7, spec="MULPIv3.0 C.2.2.7.1"),
        row(8, "MaxRateSustained", UINT, 0, 4294967295, spec="MULPIv3.0 C.2.2.7.2.2"),
        row(9, "MaxTrafficBurst", UINT, 0, 4294967295, spec="MULPIv3.0 C.2.2.7.3"),
        row(10, "MinReservedRate", UINT, 0, 4294967295, spec="MULPIv3.0 C.2.2.7.4"),
        row(11, "MinResPacketSize", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.7.5"),
        row(12, "ActQosParamsTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.7.6"),
        row(13, "AdmQosParamsTimeout", USHORT, 0, 65535, spec="MULPIv3.0 C.2.2.7.7"),
        row(14, "MaxDsLatency", UINT, spec="MULPIv3.0 C.2.2.9.1"),
        row(17, "DsResequencing", UCHAR, 0, 1, spec="MULPIv3.0 C.2.2.9.2"),
        row(23, "IpTosOverwrite", HEXSTR, 2, 2, spec="MULPIv3.0 C.2.2.7.9"),
        row(27, "DownstreamPeakTrafficRate", UINT, spec="MULPIv3.0 C.2.2.7.10.2"),
        row(31, "ServiceFlowRequiredAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.2.2.5.6"),
        row(32, "ServiceFlowForbiddenAttributeMask", HEXSTR, 4, 4, spec="MULPIv3.0 C.2.2.5.7"),
        row(33, "ServiceFlowAttributeAggregationRuleMask", HEXSTR, 4, 4,
            spec="MULPIv3.0 C.2.2.5.8"),
        row(34, "ApplicationIdentifier", UINT, spec="MULPIv3.0 C.2.2.5.9"),
        block(35, "BufferControl", BUFFER_CONTROL, spec="MULPIv3.0 C.2.2.7.11.1"),
        row(36, "DownstreamAggregateServiceFlowReference", USHORT, 1, 65535,
            spec="MULPIv3.0 C.2.2.5.10"),
        row(37, "DownstreamMESPReference", USHORT, 1, 65535, spec="MULPIv3.0 C.2.2.5.11"),
        block(40, "AQMEncodings", AQM_ENCODINGS, spec="MULPIv3.0 C.2.2.7.12"),
        row(41, "DataRateUnitSetting", UCHAR, 0, 3, spec="MULPIv3.0 C.2.2.7.13.1"),
        block(43, "VendorSpecific", NESTED_VENDOR_SPECIFIC, spec="MULPIv3.0 C.2.1.11"),
    ],
)

# Shared: TLV 70.42, 71.42.
LOW_LATENCY_ASF = sub(
    "LowLatencyAggregateSFEncodings",
    [
        row(1, "LowLatencyServiceFlowReference", USHORT, 1, 65535, spec="MULPIv3.1 C.2.2.9.17.1"),
        row(3, "ClassicSFSCN", STRZERO, 2, 16, spec="MULPIv3.1 C.2.2.9.17.3"),
        row(4, "LowLatencySFSCN", STRZERO, 2, 16, spec="MULPIv3.1 C.2.2.9.17.4"),
        row(5, "AQMCouplingFactor", UCHAR, spec="MULPIv3.1 C.2.2.9.17.5"),
        row(6, "SchedulingWeight", UCHAR, 1, 255, spec="MULPIv3.1 C.2.2.9.17.6"),
        row(7, "QueueProtectionEnable", UCHAR, 0, 1, spec="MULPIv3.1 C.2.2.9.17.7"),
        row(8, "QPLatencyThreshold", USHORT, spec="MULPIv3.1 C.2.2.9.17.8"),
        row(9, "QPQueuingScoreThreshold", USHORT, spec="MULPIv3.1 C.2.2.9.17.9"),
        row(10, "QPDrainRateExponent", UCHAR, spec="MULPIv3.1 C.2.2.9.17.10"),
    ],
)



def _asf_matching(name: str, range_spec: str) -> SubTable:
    """TLV 70.38 / 71.38: which service flows join the aggregate."""
    return sub(
        name,
        [
            row(1, "MatchingbyApplicationId", UINT, 0, 1, spec="MULPIv3.1 C.2.2.9.13.1"),
            row(2, "MatchingbyServiceClassName", STRZERO, 2, 16, spec="MULPIv3.1 C.2.2.9.13.2"),
            row(3, "MatchingbyTrafficPriorityRange", CHAR_LIST, 2, 2, spec=range_spec),
        ],
    )


def _aggregate_service_flow(name: str, direction: str, rate_spec: str, matching: SubTable) -> SubTable:
    """TLV 70 / 71: the same encodings up and down, the reference naming the
    direction-specific rows Upstream... / Downstream..."""
    return sub(
        name,
        [
            row(1, f"{direction}ServiceFlowReference", USHORT, 1, 65535, spec="MULPIv3.0 C.2.2.5.1"),
            row(4, "ASFQoSProfileName", STRZERO, 2, 16, spec="MULPIv3.1 C.2.2.9.12"),
            row(7, "TrafficPriority", UCHAR, 0, 7, spec="MULPIv3.1 C.2.2.9.1"),
            row(8, "MaxRateSustained", UINT, spec=rate_spec),
            row(9, "MaxTrafficBurst", UINT, spec="MULPIv3.1 C.2.2.9.3"),
            row(10, "MinReservedRate", UINT, spec="MULPIv3.1 C.2.2.9.4"),
            row(11, "MinResPacketSize", USHORT, 0, 65535, spec="MULPIv3.1 C.2.2.9.5"),
            row(27, f"{direction}PeakTrafficRate", UINT, spec="MULPIv3.1 C.2.2.9.10.1"),
            row(37, f"{direction}MESPReference", USHORT, 1, 65535, spec="MULPIv3.0 C.2.2.5.11"),
            block(38, "ServiceFlowMatchingCriteria", matching, spec="MULPIv3.1 C.2.2.9.13"),
            row(41, "DataRateUnitSetting", UCHAR, 0, 3, spec="MULPIv3.1 C.2.2.9.16"),
            block(42, "LowLatencyAggregateSFEncodings", LOW_LATENCY_ASF, spec="MULPIv3.1 C.2.2.9.17"),
        ],
    )


# TLV 70.38, 71.38 (the reference cites C.2.2.9.13.34 for 71.38.3, kept as it is).
UPSTREAM_ASF_MATCHING = _asf_matching("UpstreamASFMatchingCriteria", "MULPIv3.1 C.2.2.9.13.3")
DOWNSTREAM_ASF_MATCHING = _asf_matching("DownstreamASFMatchingCriteria", "MULPIv3.1 C.2.2.9.13.34")
# TLV 70, 71.
UPSTREAM_ASF = _aggregate_service_flow("UpstreamAggregateServiceFlow", "Upstream", "MULPIv3.1 C.2.2.9.2.1",
                                       UPSTREAM_ASF_MATCHING)
DOWNSTREAM_ASF = _aggregate_service_flow("DownstreamAggregateServiceFlow", "Downstream", "MULPIv3.1 C.2.2.9.2.2",
                                         DOWNSTREAM_ASF_MATCHING)

# Shared: TLV 93.47, 94.47.
EHQOS_INTRA_ASF_SCHEDULING = sub(
    "EnhancedHQoSIntraASFSchedulingEncoding",
    [
        row(1, "ConstituentSFReference", USHORT, 1, 65535, spec="MULPIv3.1 C.2.2.9.18.1"),
        row(3, "ConstituentSFSCN", STRZERO, 2, 16, spec="MULPIv3.1 C.2.2.9.18.3"),
        row(4, "ConstituentSFPriority", UCHAR, 0, 7, spec="MULPIv3.1 C.2.2.9.18.4"),
        row(5, "ConstituentSFWeight", UCHAR, spec="MULPIv3.1 C.2.2.9.18.5"),
    ],
)

# TLV 93.
UPSTREAM_EHQOS_ASF = sub(
    "UpstreamEHQoSASF",
    [
        row(1, "ServiceFlowReference", USHORT, 1, 65535, spec="MULPIv3.1 C.2.2.7.1"),
        row(7, "TrafficPriority", UCHAR, 0, 7, spec="MULPIv3.1 C.2.2.9.1"),
        row(8, "MaxSustainedRate", UINT, spec="MULPIv3.1 C.2.2.9.2.1"),
        row(9, "MaxTrafficBurst", UINT, spec="MULPIv3.1 C.2.2.9.3"),
        row(10, "MinReservedRate", UINT, spec="MULPIv3.1 C.2.2.9.4"),
        row(11, "MinResPacketSize", USHORT, 0, 65535, spec="MULPIv3.1 C.2.2.9.5"),
        block(47, "EnhancedHQoSIntraASFSchedulingEncoding", EHQOS_INTRA_ASF_SCHEDULING,
            spec="MULPIv3.1 C.2.2.9.18"),
    ],
)

# TLV 94.
DOWNSTREAM_EHQOS_ASF = sub(
    "DownstreamEHQoSASF",
    [
        row(1, "ServiceFlowReference", USHORT, 1, 65535, spec="MULPIv3.1 C.2.2.7.1"),
        row(7, "TrafficPriority", UCHAR, 0, 7, spec="MULPIv3.1 C.2.2.9.1"),
        row(8, "MaxSustainedRate", UINT, spec="MULPIv3.1 C.2.2.9.2.2"),
        row(9, "MaxTrafficBurst", UINT, spec="MULPIv3.1 C.2.2.9.3"),
        row(10, "MinReservedRate", UINT, spec="MULPIv3.1 C.2.2.9.4"),
        row(11, "MinResPacketSize", USHORT, 0, 65535, spec="MULPIv3.1 C.2.2.9.5"),
        block(47, "EnhancedHQoSIntraASFSchedulingEncoding", EHQOS_INTRA_ASF_SCHEDULING,
            spec="MULPIv3.1 C.2.2.9.18"),
    ],
)
