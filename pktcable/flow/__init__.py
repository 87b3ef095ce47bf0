"""PacketCable provisioning flows as explicit, table-driven state machines (pure)."""

from .machine import Entered, FlowError, FlowTable, InvalidTransition, Machine, StateInfo
from .tables import MTA_TABLES, SERVER_TABLES, Flow, MtaState, ProvisioningState, ServerState, Timing

__all__ = [
    "Entered", "Flow", "FlowError", "FlowTable", "InvalidTransition", "MTA_TABLES", "Machine", "MtaState",
    "ProvisioningState", "SERVER_TABLES", "ServerState", "StateInfo", "Timing",
]
