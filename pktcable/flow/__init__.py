"""PacketCable provisioning flows as explicit, table-driven state machines (pure)."""

from .flows import DEFAULT_FLOW, Family, Flow, realm_family
from .machine import Entered, FlowError, FlowTable, InvalidTransition, Machine, StateInfo
from .tables import MTA_TABLES, SERVER_TABLES, MtaState, ProvisioningState, ServerState, Timing

__all__ = [
    "DEFAULT_FLOW", "Entered", "Family", "Flow", "FlowError", "FlowTable", "InvalidTransition", "MTA_TABLES", "Machine", "MtaState",
    "ProvisioningState", "SERVER_TABLES", "ServerState", "StateInfo", "Timing", "realm_family",
]
