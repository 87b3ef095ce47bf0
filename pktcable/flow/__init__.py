"""PacketCable provisioning flows as explicit, table-driven state machines (pure)."""

from .flows import DEFAULT_FLOW, Family, Flow, realm_family
from .machine import Entered, FlowError, FlowTable, InvalidTransition, Machine, StateInfo
from .tables import (
    CM_FLOW,
    CM_TABLE,
    FINAL_STATES,
    MTA_TABLES,
    SERVER_TABLES,
    CmState,
    MtaState,
    ProvisioningState,
    ServerState,
    Timing,
    cm_state,
    device_outcome,
    outcome,
)

__all__ = [
    "CM_FLOW", "CM_TABLE", "CmState", "cm_state", "device_outcome", "FINAL_STATES", "outcome",
    "DEFAULT_FLOW", "Entered", "Family", "Flow", "FlowError", "FlowTable", "InvalidTransition", "MTA_TABLES", "Machine", "MtaState",
    "ProvisioningState", "SERVER_TABLES", "ServerState", "StateInfo", "Timing", "realm_family",
]
