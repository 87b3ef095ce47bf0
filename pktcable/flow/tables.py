"""The transition tables of the PacketCable flows, device side and server side.

One table per flow (BASIC.1, BASIC.2, HYBRID.1, HYBRID.2, SECURE: its Kerberos
and key-management states MTA-5 ... MTA-14 slot in between MTA-4 and MTA-15,
then the Hybrid steps follow over SNMPv3, with the file decrypted at MTA-23).
States carry the spec's step labels (PKT-SP-PROV1.5 / J.167: MTA-1 ... MTA-25,
the Hybrid steps from 15 on as H-MTA-n), the command their entry issues, their own wait (if any) and, when final,
the pktcMtaDevProvisioningState value reported (PKT-SP-PROV1.5; drawn in
docs/flows.md, "eMTA side"). The eMTA tables run the provisioning timer (122.8) from MTA-1 to MTA-23; the
server tables run one budget per run (SERVER_BUDGET), from the lease or the
enrollment that starts it to its final state, and list every event the
server takes in every state: retransmissions, re-enrollment, replies that
arrive after the run ended (AFTER_END) included.

The .1 flows end without the MTA-25 status INFORM, the .2 flows end with it.
So a server running a .1 flow never learns whether the eMTA accepted its file:
its last state there is FILE_DELIVERED (the file went to the device), with no
pktcMtaDevProvisioningState, rather than a pass it cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from . import events as ev
from .flows import Flow
from .machine import FlowTable, StateInfo


class ProvisioningState(IntEnum):
    """pktcMtaDevProvisioningState (PKTC-MTA-MIB / RFC 4682)."""

    PASS = 1
    IN_PROGRESS = 2
    FAIL_CONFIG_FILE_ERROR = 3
    PASS_WITH_WARNINGS = 4
    PASS_WITH_INCOMPLETE_PARSING = 5
    FAILURE_INTERNAL_ERROR = 6
    FAIL_OTHER_REASON = 7


PASSING = frozenset({ProvisioningState.PASS, ProvisioningState.PASS_WITH_WARNINGS,
                     ProvisioningState.PASS_WITH_INCOMPLETE_PARSING})


class MtaState(Enum):
    """The eMTA's provisioning states (docs/flows.md, "eMTA side")."""

    WAIT_ECM = "eCM registration (CM-1 ... CM-10)"
    FAILED_ECM = "the eCM did not come up"
    DHCP_DISCOVER = "DHCPDISCOVER sent, waiting for an acceptable OFFER"
    DHCP_REQUEST = "DHCPREQUEST sent, waiting for the ACK"
    ENROLL = "enrollment INFORM sent"
    WAIT_SET = "waiting for the SET of the config-file location"
    RESOLVE_HOST = "resolving the host of the config-file URL"
    DOWNLOAD = "downloading the config file"
    VALIDATE = "checking the hash and parsing the file"
    REPORT_PASS = "status INFORM (pass) sent"
    REPORT_FAIL = "status INFORM (fail) sent"
    OPERATIONAL = "provisioned"
    FAILED_DHCP = "no usable DHCP lease"
    FAILED_REALM = "option 122.6 names another flow"
    FAILED_ENROLL = "enrollment INFORM unanswered"
    FAILED_NO_SET = "no SET of the config-file location"
    FAILED_RESOLVE = "config-file host not resolved"
    FAILED_DOWNLOAD = "config file not delivered"
    FAILED_CONFIG = "config file rejected"
    FAILED_STATUS = "status INFORM unanswered"
    FAILED_TIMER = "provisioning timer expired"
    # The Secure flow's own (MTA-5 ... MTA-14, MTA-23's decryption).
    LOCATE_KDC = "finding the realm's KDC (122.10, or DNS SRV and A)"
    AS_EXCHANGE = "PKINIT AS Request sent, waiting for the AS Reply"
    TGS_EXCHANGE = "TGS Request sent, waiting for the provisioning server's ticket"
    KEY_MANAGEMENT = "AP Request sent to the provisioning server, waiting for the AP Reply"
    DECRYPT = "decrypting the config file and checking its hash"
    REPORT_UNDECRYPTABLE = "status INFORM (fail: the file did not decrypt) sent"
    FAILED_KDC = "no KDC found, or it never answered"
    FAILED_AS_REP_UNTRUSTED = "AS Reply from a KDC the telephony root does not vouch for"
    FAILED_KDC_REFUSED = "the KDC refused the device (KRB-ERROR)"
    FAILED_KM = "no SNMPv3 keys from key management"
    FAILED_USM = "SNMPv3 message refused by USM"
    FAILED_CONFIG_DECRYPT = "config file did not decrypt, or its hash did not match"


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds each step may take before it counts as failed (the protocol
    clients retry inside the budget with their own backoff)."""

    ecm: float = 300.0  # the eCM's own DHCP, ToD and file; before the MTA's timer starts
    dhcp: float = 64.0  # RFC 2131 backoff reaches 64 s
    inform: float = 30.0
    wait_set: float = 120.0
    resolve: float = 30.0
    download: float = 60.0
    report: float = 30.0
    validate: float = 10.0
    # Secure: finding the KDC, and the two Kerberos exchanges, each bounded by the whole of
    # its backoff (the client retries inside it with the 122.4/122.5 values when given).
    locate_kdc: float = 30.0
    kdc: float = 0.0  # 0: backoff_budget(*AS_BACKOFF)
    key_management: float = 0.0  # 0: backoff_budget(*AP_BACKOFF)

    def kdc_wait(self) -> float:
        return self.kdc or backoff_budget(*AS_BACKOFF)

    def key_management_wait(self) -> float:
        return self.key_management or backoff_budget(*AP_BACKOFF)


#: PKTC-IETF-MTA-MIB DEFVALs (RFC 4682): nominal and maximum timeout (s), retries, of
#: pktcMtaDevRealmUnsolicitedKey* (AS, option 122.4) and pktcMtaDevProvUnsolicitedKey*
#: (AP with the provisioning server, option 122.5).
AS_BACKOFF = (3.0, 100.0, 5)
AP_BACKOFF = (3.0, 600.0, 8)


def backoff_waits(nominal: float, maximum: float, retries: int) -> list[float]:
    """The waits of one exchange: the first try and ``retries`` more, each doubling from
    ``nominal`` up to ``maximum`` (the MIB's example: 3, 6, 12, 24, 48, 96, 100, 100 s)."""
    return [min(nominal * 2**i, maximum) for i in range(retries + 1)]


def backoff_budget(nominal: float, maximum: float, retries: int) -> float:
    return sum(backoff_waits(nominal, maximum, retries))


FAIL = ProvisioningState.FAIL_OTHER_REASON


def _mta_states(flow: Flow, t: Timing) -> dict[Enum, StateInfo]:
    h = "H-" if flow.hybrid else ""
    # Secure checks the hash as it decrypts; its VALIDATE only parses.
    validate = "parse the file" if flow.secure else "check the hash and parse the file"
    s = MtaState
    states: dict[Enum, StateInfo] = {
        s.WAIT_ECM: StateInfo("CM-1...CM-10", "wait for the eCM", t.ecm, ev.EcmFailed),
        s.FAILED_ECM: StateInfo("CM-1...CM-10", result=FAIL, final=True),
        s.DHCP_DISCOVER: StateInfo("MTA-1/2", "send DHCPDISCOVER", t.dhcp, ev.DhcpGaveUp),
        s.DHCP_REQUEST: StateInfo("MTA-3/4", "send DHCPREQUEST", t.dhcp, ev.DhcpGaveUp),
        s.DOWNLOAD: StateInfo(f"{h}MTA-22/23", "download the config file", t.download, ev.DownloadFailed),
        # Checking is local work; a stall counts as a rejected file.
        s.VALIDATE: StateInfo(f"{h}MTA-23", validate, t.validate, ev.ConfigRejected),
        s.OPERATIONAL: StateInfo(f"{h}MTA-25" if flow.reports_status else f"{h}MTA-23",
                                 result=ProvisioningState.PASS, final=True),
        s.FAILED_DHCP: StateInfo("MTA-1...4", result=FAIL, final=True),
        s.FAILED_REALM: StateInfo("MTA-4", result=FAIL, final=True),
        s.FAILED_DOWNLOAD: StateInfo(f"{h}MTA-22/23", result=FAIL, final=True),
        s.FAILED_CONFIG: StateInfo(f"{h}MTA-23", result=ProvisioningState.FAIL_CONFIG_FILE_ERROR, final=True),
        s.FAILED_TIMER: StateInfo("MTA-1...23", result=FAIL, final=True),
    }
    if flow.enrolls:
        states |= {
            s.ENROLL: StateInfo(f"{h}MTA-15", "send the enrollment INFORM", t.inform, ev.InformUnanswered),
            s.WAIT_SET: StateInfo(f"{h}MTA-16...19", "answer GET and SET", t.wait_set, ev.SetNotReceived),
            s.RESOLVE_HOST: StateInfo(f"{h}MTA-20/21", "resolve the config-file host", t.resolve, ev.ResolveFailed),
            s.FAILED_ENROLL: StateInfo(f"{h}MTA-15", result=FAIL, final=True),
            s.FAILED_NO_SET: StateInfo(f"{h}MTA-19", result=FAIL, final=True),
            s.FAILED_RESOLVE: StateInfo(f"{h}MTA-20/21", result=FAIL, final=True),
        }
    if flow.secure:
        states |= {
            s.LOCATE_KDC: StateInfo("MTA-5...8", "find the realm's KDC", t.locate_kdc, ev.KdcNotFound),
            s.AS_EXCHANGE: StateInfo("MTA-9/10", "send the PKINIT AS Request", t.kdc_wait(), ev.KdcUnanswered),
            s.TGS_EXCHANGE: StateInfo("MTA-11/12", "send the TGS Request", t.kdc_wait(), ev.KdcUnanswered),
            s.KEY_MANAGEMENT: StateInfo("MTA-13/14", "send the AP Request", t.key_management_wait(),
                                        ev.KeyManagementFailed),
            s.DECRYPT: StateInfo("MTA-23", "decrypt the file and check its hash", t.validate, ev.ConfigDecryptFailed),
            s.REPORT_UNDECRYPTABLE: StateInfo("MTA-25", "send the status INFORM", t.report, ev.InformUnanswered),
            s.FAILED_KDC: StateInfo("MTA-5...10", result=FAIL, final=True),
            s.FAILED_AS_REP_UNTRUSTED: StateInfo("MTA-10", result=FAIL, final=True),
            s.FAILED_KDC_REFUSED: StateInfo("MTA-10/12", result=FAIL, final=True),
            s.FAILED_KM: StateInfo("MTA-13/14", result=FAIL, final=True),
            s.FAILED_USM: StateInfo("MTA-15/25", result=FAIL, final=True),
            # The file is unusable as delivered: the MIB's value for a file it rejects.
            s.FAILED_CONFIG_DECRYPT: StateInfo("MTA-23", result=ProvisioningState.FAIL_CONFIG_FILE_ERROR,
                                               final=True),
        }
    if flow.reports_status:
        states |= {
            s.REPORT_PASS: StateInfo(f"{h}MTA-25", "send the status INFORM", t.report, ev.InformUnanswered),
            s.REPORT_FAIL: StateInfo(f"{h}MTA-25", "send the status INFORM", t.report, ev.InformUnanswered),
            s.FAILED_STATUS: StateInfo(f"{h}MTA-25", result=FAIL, final=True),
        }
    return states


def _mta_transitions(flow: Flow) -> dict[tuple[Enum, type], Enum]:
    s = MtaState
    t: dict[tuple[Enum, type], Enum] = {
        (s.WAIT_ECM, ev.EcmOperational): s.DHCP_DISCOVER,
        (s.WAIT_ECM, ev.EcmFailed): s.FAILED_ECM,
        (s.DHCP_DISCOVER, ev.OfferAccepted): s.DHCP_REQUEST,
        (s.DHCP_DISCOVER, ev.OfferRejected): s.DHCP_DISCOVER,
        (s.DHCP_DISCOVER, ev.DhcpGaveUp): s.FAILED_DHCP,
        (s.DHCP_REQUEST, ev.NakReceived): s.DHCP_DISCOVER,
        (s.DHCP_REQUEST, ev.RealmMismatch): s.FAILED_REALM,
        (s.DHCP_REQUEST, ev.DhcpGaveUp): s.FAILED_DHCP,
        # Basic: the file location is siaddr/file of the ACK itself.
        (s.DHCP_REQUEST, ev.AckReceived): s.LOCATE_KDC if flow.secure else s.ENROLL if flow.hybrid else s.DOWNLOAD,
        (s.DOWNLOAD, ev.FileReceived): s.DECRYPT if flow.secure else s.VALIDATE,
        (s.DOWNLOAD, ev.DownloadFailed): s.FAILED_DOWNLOAD,
    }
    if flow.enrolls:
        t |= {
            (s.ENROLL, ev.InformAcked): s.WAIT_SET,
            (s.ENROLL, ev.InformUnanswered): s.FAILED_ENROLL,
            (s.WAIT_SET, ev.ConfigLocationSet): s.RESOLVE_HOST,
            (s.WAIT_SET, ev.SetNotReceived): s.FAILED_NO_SET,
            (s.RESOLVE_HOST, ev.HostResolved): s.DOWNLOAD,
            (s.RESOLVE_HOST, ev.ResolveFailed): s.FAILED_RESOLVE,
        }
    if flow.secure:
        t |= {
            (s.LOCATE_KDC, ev.KdcLocated): s.AS_EXCHANGE,
            (s.LOCATE_KDC, ev.KdcNotFound): s.FAILED_KDC,
            # 122.7 asked for a TGT: MTA-11/12 buy the service ticket with it.
            (s.AS_EXCHANGE, ev.AsReplyReceived): s.KEY_MANAGEMENT,
            (s.AS_EXCHANGE, ev.TgtReceived): s.TGS_EXCHANGE,
            (s.AS_EXCHANGE, ev.AsReplyUntrusted): s.FAILED_AS_REP_UNTRUSTED,
            (s.AS_EXCHANGE, ev.KdcRefused): s.FAILED_KDC_REFUSED,
            (s.AS_EXCHANGE, ev.KdcUnanswered): s.FAILED_KDC,
            (s.TGS_EXCHANGE, ev.TgsReplyReceived): s.KEY_MANAGEMENT,
            (s.TGS_EXCHANGE, ev.KdcRefused): s.FAILED_KDC_REFUSED,
            (s.TGS_EXCHANGE, ev.KdcUnanswered): s.FAILED_KDC,
            (s.KEY_MANAGEMENT, ev.ApReplyReceived): s.ENROLL,
            (s.KEY_MANAGEMENT, ev.KeyManagementFailed): s.FAILED_KM,
            # The SNMPv3 keys of MTA-14 do not work: nothing further can be said to the server.
            (s.ENROLL, ev.UsmRejected): s.FAILED_USM,
            (s.REPORT_PASS, ev.UsmRejected): s.FAILED_USM,
            (s.REPORT_FAIL, ev.UsmRejected): s.FAILED_USM,
            (s.REPORT_UNDECRYPTABLE, ev.UsmRejected): s.FAILED_USM,
            (s.DECRYPT, ev.ConfigDecrypted): s.VALIDATE,
            (s.DECRYPT, ev.ConfigDecryptFailed): s.REPORT_UNDECRYPTABLE,
            (s.REPORT_UNDECRYPTABLE, ev.InformAcked): s.FAILED_CONFIG_DECRYPT,
            (s.REPORT_UNDECRYPTABLE, ev.InformUnanswered): s.FAILED_CONFIG_DECRYPT,
        }
    if flow.reports_status:
        t |= {
            (s.VALIDATE, ev.ConfigAccepted): s.REPORT_PASS,
            (s.VALIDATE, ev.ConfigRejected): s.REPORT_FAIL,
            (s.REPORT_PASS, ev.InformAcked): s.OPERATIONAL,
            (s.REPORT_PASS, ev.InformUnanswered): s.FAILED_STATUS,
            (s.REPORT_FAIL, ev.InformAcked): s.FAILED_CONFIG,
            (s.REPORT_FAIL, ev.InformUnanswered): s.FAILED_CONFIG,
        }
    else:
        t |= {
            (s.VALIDATE, ev.ConfigAccepted): s.OPERATIONAL,
            (s.VALIDATE, ev.ConfigRejected): s.FAILED_CONFIG,
        }
    return t


def mta_table(flow: Flow, timing: Timing = Timing()) -> FlowTable:
    return FlowTable(
        name=f"{flow.value} (eMTA)",
        states=_mta_states(flow, timing),
        start=MtaState.WAIT_ECM,
        transitions=_mta_transitions(flow),
        # A reset restarts at MTA-1 (PKTC-MTA-MIB pktcMtaDevResetNow).
        global_events={ev.ResetRequested: MtaState.DHCP_DISCOVER, ev.ProvisioningTimerExpired: MtaState.FAILED_TIMER},
        # CableLabs MIB window: from MTA-1 to MTA-23.
        timer_start=MtaState.DHCP_DISCOVER,
        timer_stop=ev.FileReceived,
        timer_event=ev.ProvisioningTimerExpired,
        spec="PKT-SP-PROV1.5 7.3/7.4 (J.167 7.3, 7.4)",
        flow=flow.value,
    )


class ServerState(Enum):
    """One device as the provisioning server sees it (docs/flows.md, "Provisioning-server side")."""

    LEASED = "ACK with option 122 sent"
    #: Secure: the device's AP Request verified, its SNMPv3 keys in place (MTA-13/14).
    KEYED = "SNMPv3 security association made, waiting for the enrollment INFORM"
    ENROLLED = "enrollment INFORM received"
    CONFIG_READY = "config file built"
    #: The eMTA fetched its file while the SET's Response was still on its way: it acted on the SET.
    SERVED_SET_PENDING = "config file delivered before the SET's Response arrived"
    LOCATION_SET = "config-file URL and hash SET on the MTA"
    #: The SET went unanswered: the eMTA shows whether it acted on it by fetching the file or reporting.
    SET_UNANSWERED = "SET of the config-file location sent, no Response"
    FILE_SERVED = "config file delivered, waiting for the status INFORM"
    #: The end of a .1 flow: the file went to the device, which reports nothing more.
    FILE_DELIVERED = "config file delivered (the flow has no status INFORM)"
    DONE = "flow finished (outcome as reported)"
    FAILED_BUILD = "no config file could be built"
    FAILED_SET = "SET of the config-file location failed"
    TIMED_OUT = "the device did not finish within the flow's budget"


#: Seconds a device's run may take, from its lease (MTA-4) or its enrollment
#: (MTA-15) to a final state, unless the server's settings say otherwise
#: (server_budget). The eMTA's own step budgets from MTA-4 on (Timing: inform,
#: wait_set, resolve, download, validate, report) add up to 280 s; this leaves
#: room for its retries.
SERVER_BUDGET = 600.0

#: Seconds the server waits, after a SET of the file location went unanswered, for the eMTA to
#: show it acted on it anyway (it fetches the file, or reports): past the eMTA's own time to
#: resolve the host and download (Timing.resolve + Timing.download), with room to spare.
SET_UNANSWERED_WAIT = 180.0

#: Events that start a device's run over (and so re-arm the flow's budget).
RUN_STARTS = frozenset({ev.LeaseAcked, ev.KeysEstablished, ev.EnrollmentReceived})

#: Secure: an AP Request refused, an SNMPv3 message that failed USM. Anybody can send one
#: naming the device (a replay, a forgery), so neither ends its run: recorded, the state stays,
#: and a device whose keys really do not work runs out of its budget (TIMED_OUT).
HOSTILE = frozenset({ev.KeyRequestRefused, ev.UsmFailed})

#: Replies to what the server sent, arriving after the run ended (a status INFORM
#: overtook the SET's Response, or the budget ran out during the SET), and a
#: file fetched again: recorded, the outcome stays.
AFTER_END = frozenset({ev.LocationSetAcked, ev.LocationSetFailed, ev.LocationSetUnanswered, ev.FileServed})


def _server_states(flow: Flow, budget: float) -> dict[Enum, StateInfo]:
    h = "H-" if flow.hybrid else ""
    s = ServerState
    # No state has a wait of its own but SET_UNANSWERED: the flow's budget bounds them all.
    states: dict[Enum, StateInfo] = {
        s.LEASED: StateInfo("MTA-4...12" if flow.secure else "MTA-4", "wait for the device"),
        s.TIMED_OUT: StateInfo("MTA-1...25", result=FAIL, final=True),
    }
    # Secure SETs the key (and the algorithm) with the URL and hash, and serves the file encrypted.
    what = "URL, hash and key" if flow.secure else "URL and hash"
    if flow.secure:
        states[s.KEYED] = StateInfo("MTA-13/14", "wait for the enrollment INFORM")
    if flow.enrolls:
        states |= {
            s.ENROLLED: StateInfo(f"{h}MTA-15/18", "build and encrypt the config file" if flow.secure
                                  else "build the config file"),
            s.CONFIG_READY: StateInfo(f"{h}MTA-19", f"SET the {what}"),
            s.SERVED_SET_PENDING: StateInfo(f"{h}MTA-19...23", "wait for the SET's Response"),
            s.LOCATION_SET: StateInfo(f"{h}MTA-20...22", "serve the file"),
            s.SET_UNANSWERED: StateInfo(f"{h}MTA-19...22", "serve the file if the eMTA asks for it",
                                        min(budget, SET_UNANSWERED_WAIT), ev.LocationSetFailed),
            s.FAILED_BUILD: StateInfo(f"{h}MTA-18", result=FAIL, final=True),
            s.FAILED_SET: StateInfo(f"{h}MTA-19", result=FAIL, final=True),
        }
    if flow.reports_status:
        states[s.FILE_SERVED] = StateInfo(f"{h}MTA-23/25", "wait for the status INFORM")
        # The result is the one the status INFORM reported (the event carries it).
        states[s.DONE] = StateInfo(f"{h}MTA-25", result=ProvisioningState.PASS, final=True)
    else:
        states[s.FILE_DELIVERED] = StateInfo(f"{h}MTA-23", final=True)
    return states


def _server_transitions(flow: Flow) -> dict[tuple[Enum, type], Enum]:
    s = ServerState
    served = s.FILE_SERVED if flow.reports_status else s.FILE_DELIVERED
    every_state = list(_server_states(flow, 0.0))
    # A new lease, in any state, finished ones too, starts the device's run over (MTA-1 again).
    t: dict[tuple[Enum, type], Enum] = {(state, ev.LeaseAcked): s.LEASED for state in every_state}
    if flow.secure:
        # So does a new security association: the eMTA started over (MTA-1) and keyed again.
        t |= {(state, ev.KeysEstablished): s.KEYED for state in every_state}
        t |= {(state, kind): state for state in every_state for kind in HOSTILE}
    if flow.enrolls:
        # So does an enrollment INFORM: the eMTA rebooted (or was reset) and provisions again
        # (Secure: over the association it has; it cannot enroll before it has one).
        t |= {(state, ev.EnrollmentReceived): s.ENROLLED for state in every_state
              if not (flow.secure and state is s.LEASED)}
        # A re-sent copy of the INFORM that started the run (its Response was lost) is a retry,
        # however far the run got meanwhile: it changes nothing.
        t |= {(state, ev.EnrollmentRetransmitted): state for state in every_state
              if state not in (s.LEASED, s.KEYED)}
        t |= {
            (s.ENROLLED, ev.ConfigBuilt): s.CONFIG_READY,
            (s.ENROLLED, ev.ConfigBuildFailed): s.FAILED_BUILD,
            (s.CONFIG_READY, ev.LocationSetAcked): s.LOCATION_SET,
            (s.CONFIG_READY, ev.LocationSetFailed): s.FAILED_SET,
            (s.LOCATION_SET, ev.FileServed): served,
            # The transfer's end can overtake the SET's Response on the way through the server.
            (s.CONFIG_READY, ev.FileServed): s.SERVED_SET_PENDING,
            (s.SERVED_SET_PENDING, ev.FileServed): s.SERVED_SET_PENDING,  # fetched again
            (s.SERVED_SET_PENDING, ev.LocationSetAcked): served,
            # The fetch showed the eMTA acted on the SET: its Response is what got lost.
            (s.SERVED_SET_PENDING, ev.LocationSetUnanswered): served,
            (s.SERVED_SET_PENDING, ev.LocationSetFailed): s.FAILED_SET,
            # The SET's Response is what got lost when the eMTA fetches its file all the same.
            (s.CONFIG_READY, ev.LocationSetUnanswered): s.SET_UNANSWERED,
            (s.SET_UNANSWERED, ev.FileServed): served,
            (s.SET_UNANSWERED, ev.LocationSetFailed): s.FAILED_SET,
        }
    else:
        t[(s.LEASED, ev.FileServed)] = served
    if flow.reports_status:
        t[(s.FILE_SERVED, ev.StatusReceived)] = s.DONE
        t[(s.FILE_SERVED, ev.FileServed)] = s.FILE_SERVED  # fetched again
        # The device reports only after it has the file (and, Hybrid, the SET): its status INFORM
        # can overtake the transfer's last ACK, or the SET's Response, on the way through the
        # server's sockets. What it reports is what it did; the late completion changes nothing.
        waiting = (s.CONFIG_READY, s.SERVED_SET_PENDING, s.LOCATION_SET, s.SET_UNANSWERED) if flow.enrolls \
            else (s.LEASED,)
        for state in waiting:
            t[(state, ev.StatusReceived)] = s.DONE
    return t


def server_table(flow: Flow, budget: float = SERVER_BUDGET) -> FlowTable:
    """``budget``: seconds from the event that starts a run (RUN_STARTS) to a final state."""
    transitions = _server_transitions(flow)
    return FlowTable(
        name=f"{flow.value} (provisioning server)",
        states=_server_states(flow, budget),
        start=ServerState.LEASED,
        transitions=transitions,
        global_events={ev.ServerTimerExpired: ServerState.TIMED_OUT},
        spec="PKT-SP-PROV1.5 7.3/7.4",
        flow=flow.value,
        budget=budget,
        budget_from=frozenset(kind for _, kind in transitions if kind in RUN_STARTS),
        budget_event=ev.ServerTimerExpired,
        after_end=AFTER_END,
    )


MTA_TABLES: dict[Flow, FlowTable] = {flow: mta_table(flow) for flow in Flow}
SERVER_TABLES: dict[Flow, FlowTable] = {flow: server_table(flow) for flow in Flow}


class CmState(Enum):
    """One cable modem (an eMTA's eCM, or a plain CM) as the provisioning server
    sees it (docs/flows.md, "Cable-modem side"). The server takes part in CM-1 ...
    CM-6 (DHCP, the config file); ToD (CM-7/8) and registration with the CMTS
    (CM-9/10) it does not see, so a CM whose file went out is as far as it can tell."""

    LEASED = "ACK sent (CM-4), waiting for the CM to fetch its config file"
    CONFIG_SERVED = "config file delivered (CM-5/6)"
    CONFIG_FAILED = "transfer of the config file failed (CM-5/6)"


#: The name a CM's flow goes by in metrics labels and the step history (a CM has no
#: option 122.6 realm; its Device.flow stays empty).
CM_FLOW = "DOCSIS"

#: Events a CM's finished state still takes: a lease renewed, its file fetched again or
#: a repeated fetch that failed after the file went out; recorded, the state stays.
CM_AFTER_END = frozenset({ev.LeaseRenewed, ev.FileServed, ev.TransferFailed})


def cm_table() -> FlowTable:
    """The server's table for a CM: CM-3/4 to CM-5/6 (PKT-SP-PROV1.5 7.2, DOCSIS MULPI).
    Final states carry the result an eMTA's would (1 pass, 7 fail), so "outcome"
    means the same for both kinds of device. No budget: the server holds no timer per
    CM (a CM that never fetches its file stays LEASED; its lease runs out)."""
    s = CmState
    states: dict[Enum, StateInfo] = {
        s.LEASED: StateInfo("CM-4", "serve the config file"),
        s.CONFIG_SERVED: StateInfo("CM-5/6", result=ProvisioningState.PASS, final=True),
        s.CONFIG_FAILED: StateInfo("CM-5/6", result=FAIL, final=True),
    }
    # A new binding, in any state, starts the CM's run over (it rebooted: CM-1 again).
    transitions: dict[tuple[Enum, type], Enum] = {(state, ev.LeaseAcked): s.LEASED for state in states}
    transitions |= {
        (s.LEASED, ev.LeaseRenewed): s.LEASED,
        (s.LEASED, ev.FileServed): s.CONFIG_SERVED,
        (s.LEASED, ev.TransferFailed): s.CONFIG_FAILED,
        # A CM retries its TFTP read before it gives up (DOCSIS MULPI): a later complete
        # transfer is what counts.
        (s.CONFIG_FAILED, ev.FileServed): s.CONFIG_SERVED,
    }
    return FlowTable(name=f"{CM_FLOW} cable modem (provisioning server)", states=states, start=s.LEASED,
                     transitions=transitions, spec="PKT-SP-PROV1.5 7.2 (CM-1 ... CM-10)", flow=CM_FLOW,
                     after_end=CM_AFTER_END)


CM_TABLE = cm_table()


def cm_state(name: str) -> CmState:
    """A CM's stored state; a CM stored before CM states were kept ("") is where a lease leaves it."""
    try:
        return CmState[name]
    except KeyError:
        return CmState.LEASED


def outcome(result: int | None, final: bool) -> str:
    """The word the API, the dashboard and the metrics use for where a device's run is:
    "pass" / "fail" by its result once final, "pending" before. A final state that
    reports no result (a .1 flow's FILE_DELIVERED: the eMTA reports nothing) is "pass"
    as far as the server can tell: it delivered everything the flow asks of it."""
    if not final:
        return "pending"
    return "fail" if result is not None and result not in PASSING else "pass"


def _final_states() -> frozenset[str]:
    finals: set[str] = set()
    for table in (*SERVER_TABLES.values(), CM_TABLE):
        finals |= {state.name for state, info in table.states.items() if info.final}
    return frozenset(finals)


#: The names of the states that end a device's run, in any server table (a state name
#: means the same in every table that has it). The device store's SQL reads this too.
FINAL_STATES = _final_states()


def device_outcome(state: str, result: int | None) -> str:
    """:func:`outcome` of a stored device: "new" before its first step, "pending"
    while its state is not final, then "pass" or "fail" by its result (a final state
    with no result passes). The one rule for the API, the dashboard, the store's
    filters and the metrics."""
    if not state:
        return "new"
    return outcome(result, state in FINAL_STATES)
