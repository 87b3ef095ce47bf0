"""Taking up a run another serve node started, from the shared device row.

Several nodes on one store, one service address in front of them: an eMTA's status
INFORM (MTA-25) can reach a node that never ran its flow (it did not lease the eMTA,
or the node that did died after the SET). The device row every node reads says
where the run is (the state the running node recorded last), so this node takes the
run up in that state and feeds it the status, as the node that started it would
have: the outcome is on the device for every node.

Only where the flow's table takes a status in that state (after the SET, the
download, or a SET whose Response got lost): a row in a final state (the run
ended), in no state of the flow, or of a flow without a table is left alone, and
the status is recorded as unexpected. Never a Secure run: its status comes over
SNMPv3 with the keys of the node that ran key management, and a community INFORM
naming such a device proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from pktcable.flow import Flow, FlowTable, Machine
from pktcable.store.devices import Device


def resumable(device: Device, table_of: Callable[[Flow], FlowTable], event: object, now: float) -> Machine | None:
    """A machine for ``device``'s run in the state its row records, when ``event`` (a
    status) has a row there; None otherwise."""
    try:
        flow = Flow.of(device.flow)
    except ValueError:
        return None
    if flow is Flow.SECURE:
        return None
    table = table_of(flow)
    state = next((s for s in table.states if s.name == device.state), None)
    if state is None or table.states[state].final or table.target(state, event) is None:
        return None
    return Machine.resumed(table, state, now)


__all__ = ["resumable"]
