"""What the SNMP provisioning entity (pktcable/provision/entity.py) is given: its settings,
the services it calls (config files, SNMP requests, timing observers, software reports),
and how a handler's bug is counted. Kept apart so the entity module holds the flow alone."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from pktcable.admission import AdmissionLimits
from pktcable.flow import DEFAULT_FLOW
from pktcable.flow.tables import SERVER_BUDGET
from pktcable.snmp import message as m
from pktcable.store.devices import Device
from tlv import ber

from .ratelog import DEFAULT_INTERVAL, DEFAULT_MAX_LINES, DEFAULT_MAX_SOURCES
from .screen import DEFAULT_BURST, DEFAULT_RATE

log = logging.getLogger("pktcable.provision")
Address = tuple[str, int]


#: Where a handler's bug is caught: the ``where`` label of pktcable_internal_errors_total
#: (the DHCP event callback, the INFORM handler, this entity's file-and-SET task, the
#: TFTP/HTTP completion callback).
INTERNAL_ERROR_PLACES = ("dhcp", "snmp", "configure", "delivery")


def internal_error(counter: Counter[str], where: str, what: str, *args: object) -> None:
    """A bug in a handler: logged once with its traceback, counted by where (call from an except block)."""
    counter[where] += 1
    log.exception("internal error in %s: " + what, where, *args)


class ConfigFiles(Protocol):
    def build(self, device: Device) -> bytes:
        """The device's config file (raises ValueError with a reason)."""
        ...

    def publish(self, device: Device, data: bytes, client_ip: str) -> str:
        """Make ``data`` downloadable by ``client_ip``; returns its URL."""
        ...


class FlowObserver(Protocol):
    """Where the entity reports how long devices take (the back office's histograms)."""

    def step(self, flow: str, step: str, seconds: float) -> None:
        """A step was recorded ``seconds`` after the device's previous one."""
        ...

    def provisioned(self, flow: str, outcome: str, seconds: float) -> None:
        """A run reached a final state ``seconds`` after the event that started it
        (its lease, or its enrollment); ``outcome`` "pass" or "fail"."""
        ...


class NoObserver:
    def step(self, flow: str, step: str, seconds: float) -> None:
        pass

    def provisioned(self, flow: str, outcome: str, seconds: float) -> None:
        pass


class SnmpRequester(Protocol):
    async def request(self, addr: Address, community: bytes, pdu_type: m.PduType,
                      varbinds: tuple[ber.VarBind, ...]) -> m.Message: ...


@dataclass(frozen=True, slots=True)
class EntityConfig:
    write_community: bytes = b"private"
    #: The community eMTAs send their INFORMs with ("public" on the simulator
    #: and real Hybrid eMTAs); an INFORM with any other is dropped unanswered.
    inform_community: bytes = b"public"
    agent_port: int = 161  # where each eMTA's SNMP agent listens
    #: Provision eMTAs the store does not know (with ``default_template``);
    #: otherwise an enrollment from an unknown MAC is recorded and not served.
    auto_enroll: bool = False
    default_template: str = "mta"
    default_flow: str = DEFAULT_FLOW.value
    #: Seconds a device's run may take, from its lease or enrollment to a final state.
    budget: float = SERVER_BUDGET
    #: Drop a device's flow machine when it finishes (its steps stay in the store).
    forget_finished: bool = False
    #: Rejected INFORMs are logged at most once per source per this many seconds ...
    reject_log_interval: float = DEFAULT_INTERVAL
    #: ... remembering at most this many sources, and writing at most this
    #: many lines per interval about all sources together.
    reject_log_sources: int = DEFAULT_MAX_SOURCES
    reject_log_lines: int = DEFAULT_MAX_LINES
    #: When an enrollment INFORM that would start a new run is dropped unanswered
    #: (pktcable.admission); its in-flight count is runs waiting for their file and SET.
    admission: AdmissionLimits = AdmissionLimits()
    #: Rejected INFORMs a leased source may send at once, and more per second, before its
    #: datagrams are dropped undecoded (pktcable.provision.screen).
    reject_burst: int = DEFAULT_BURST
    reject_rate: float = DEFAULT_RATE


#: The settings a ProvisioningEntity gets when given none.
DEFAULT_CONFIG = EntityConfig()


class SoftwareReports(Protocol):
    """Where an eMTA's reported software version goes (its enrollment INFORM's
    pktcMtaDevSwCurrentVers): the firmware store, through the back office."""

    def reported(self, mac: str, sw_version: bytes) -> None: ...
