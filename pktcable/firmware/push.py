"""Pushing firmware to a cable modem by SNMP, as a state machine (sans-IO).

The provisioning server tells a modem to upgrade now, without waiting for its next
reboot (RFC 4639, docsDevSoftware): it reads where the modem stands, SETs the server,
the file name and docsDevSwAdminStatus = upgradeFromMgt(1) in one PDU, then polls
docsDevSwOperStatus until the modem reports completeFromMgt(3) or failed(4), or the
deadline passes. The modem reboots after installing, so polls may go unanswered on the
way: that is expected, not the end.

:class:`Push` takes the time and each answer as arguments and says what to do next
(:class:`Send` a PDU, :class:`Sleep` until a time, or :class:`Done` with a named
:class:`Outcome`); pktcable.provision.swpush runs it over an SNMP endpoint.

A completeFromMgt(3) or failed(4) counts only when it is news: the status may say so
from an earlier upgrade. It is believed once the modem was seen inProgress(1), went
silent (it rebooted), or reports another version than before the SET; a
completeFromMgt(3) already there before the SET with none of these is polled past
until the deadline (``timed-out``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv6Address

from pktcable.snmp.message import ErrorStatus, Pdu
from tlv.ber import SNMP_TYPE_BY_KEYWORD, VarBind

from .swmib import HTTP, TFTP, AddressType, SwAdmin, SwOids, SwOper, sw_oids

#: Polls closer than this are refused (a modem's agent is no place for a busy loop).
MIN_POLL = 0.1
MAX_FILENAME = 64  # docsDevSwFilename SIZE (0..64)


class Outcome(Enum):
    COMPLETED = "completed"      # docsDevSwOperStatus completeFromMgt(3) after the SET
    FAILED = "failed"            # the modem reported failed(4): it keeps its image
    REFUSED = "refused"          # the SET came back with an error-status (which object, why)
    BUSY = "busy"                # a download was already in progress: nothing was SET
    UNREACHABLE = "unreachable"  # no answer before the SET (the GET or the SET itself)
    TIMED_OUT = "timed-out"      # the deadline passed before complete or failed


@dataclass(frozen=True)
class Send:
    """Send this PDU (GET or SET) and hand its Response PDU, or None, to :meth:`Push.answered`."""

    set: bool
    varbinds: tuple[VarBind, ...]


@dataclass(frozen=True)
class Sleep:
    """Call :meth:`Push.woke` at ``until`` (the same clock as every ``now``)."""

    until: float


@dataclass(frozen=True)
class Done:
    outcome: Outcome
    detail: str = ""
    version_before: str = ""
    version: str = ""    # docsDevSwCurrentVers when it ended ("" never read)
    oper: int | None = None  # the last docsDevSwOperStatus read

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.COMPLETED


Action = Send | Sleep | Done


@dataclass
class Push:
    """One push to one modem. ``deadline`` and every ``now`` are seconds on one clock."""

    server: IPv4Address | IPv6Address
    filename: str
    deadline: float
    poll_every: float = 2.0
    #: SET docsDevSwServer (the deprecated IPv4 object older modems know) instead of
    #: docsDevSwServerAddressType/Address.
    legacy: bool = False
    #: docsDevSwServerTransportProtocol to SET with the rest: tftp(1) or http(2) (the modem
    #: then downloads from the server's port 80); None leaves the modem's as it is.
    transport: int | None = None
    o: SwOids = field(default_factory=sw_oids)
    phase: str = "start"
    version_before: str = ""
    oper_before: int | None = None
    seen_progress: bool = False
    went_silent: bool = False
    last_oper: int | None = None
    last_version: str = ""

    def __post_init__(self) -> None:
        if not self.filename or len(self.filename.encode("utf-8")) > MAX_FILENAME:
            raise ValueError(f"file name of {len(self.filename.encode('utf-8'))} bytes: docsDevSwFilename "
                             f"takes 1 to {MAX_FILENAME}")
        if self.legacy and self.server.version != 4:
            raise ValueError("docsDevSwServer takes an IPv4 address only")
        if self.transport not in (None, TFTP, HTTP):
            raise ValueError(f"transport {self.transport}: docsDevSwServerTransportProtocol is tftp(1) or http(2)")
        if self.poll_every < MIN_POLL:
            raise ValueError(f"poll_every {self.poll_every} s: at least {MIN_POLL}")

    # -- what to send ------------------------------------------------------------------
    def start(self, now: float) -> Action:
        """The first step: read the status and version the modem has now."""
        self.phase = "baseline"
        return self._get()

    def set_request(self) -> Send:
        """The SET: server, file name and upgradeFromMgt(1), in one PDU (applied together)."""
        o, t = self.o, SNMP_TYPE_BY_KEYWORD
        if self.legacy:
            assert isinstance(self.server, IPv4Address)
            where = [VarBind(o.server, t["ipaddress"], self.server.packed)]
        else:
            kind = AddressType.IPV4 if self.server.version == 4 else AddressType.IPV6
            where = [VarBind(o.address_type, t["integer"], int(kind)),
                     VarBind(o.address, t["string"], self.server.packed)]
        if self.transport is not None:
            where.append(VarBind(o.transport, t["integer"], self.transport))
        return Send(True, (*where, VarBind(o.filename, t["string"], self.filename.encode("utf-8")),
                           VarBind(o.admin, t["integer"], int(SwAdmin.UPGRADE_FROM_MGT))))

    def _get(self) -> Send:
        null = SNMP_TYPE_BY_KEYWORD["null"]
        return Send(False, (VarBind(self.o.oper, null, None), VarBind(self.o.current, null, None)))

    # -- what came back ---------------------------------------------------------------
    def answered(self, response: Pdu | None, now: float) -> Action:
        """The Response PDU to the last :class:`Send`, or None when none came within the
        SNMP retries."""
        if self.phase == "baseline":
            return self._baseline(response, now)
        if self.phase == "set":
            return self._set_answered(response, now)
        if self.phase == "poll":
            return self._polled(response, now)
        raise RuntimeError(f"no answer expected in phase {self.phase}")

    def woke(self, now: float) -> Action:
        if now >= self.deadline:
            return self._done(Outcome.TIMED_OUT, self._status_text())
        self.phase = "poll"
        return self._get()

    def _baseline(self, response: Pdu | None, now: float) -> Action:
        if response is None:
            return self._done(Outcome.UNREACHABLE, "no answer to the GET of docsDevSwOperStatus")
        oper, version, problem = self._read(response)
        if problem:
            return self._done(Outcome.REFUSED, problem)
        self.oper_before, self.version_before = oper, version
        if oper == SwOper.IN_PROGRESS:
            return self._done(Outcome.BUSY, "docsDevSwOperStatus is inProgress(1): a download is under way")
        if now >= self.deadline:
            return self._done(Outcome.TIMED_OUT, "the deadline passed before the SET")
        self.phase = "set"
        return self.set_request()

    def _set_answered(self, response: Pdu | None, now: float) -> Action:
        if response is None:
            return self._done(Outcome.UNREACHABLE, "no answer to the SET")
        status, index = response.error_status, response.error_index
        if status:
            sent = self.set_request().varbinds
            name = self.o.name(sent[index - 1].oid) if 0 < index <= len(sent) else f"varbind {index}"
            return self._done(Outcome.REFUSED, f"SET refused: error-status {error_name(status)} at {name}")
        return self._sleep(now)

    def _polled(self, response: Pdu | None, now: float) -> Action:
        if response is None:
            self.went_silent = True  # rebooting, most likely: keep asking
            return self._sleep(now)
        oper, version, problem = self._read(response)
        if problem:
            return self._sleep(now)  # a modem on its way down or up may answer noSuchObject
        self.last_oper, self.last_version = oper, version
        news = self.seen_progress or self.went_silent or version != self.version_before
        if oper == SwOper.IN_PROGRESS:
            self.seen_progress = True
        elif oper == SwOper.COMPLETE_FROM_MGT and news:
            return self._done(Outcome.COMPLETED, f"version {version}")
        elif oper == SwOper.FAILED and (news or self.oper_before != SwOper.FAILED):
            return self._done(Outcome.FAILED, "docsDevSwOperStatus failed(4): the modem keeps its image")
        return self._sleep(now)

    def _sleep(self, now: float) -> Action:
        if now >= self.deadline:
            return self._done(Outcome.TIMED_OUT, self._status_text())
        self.phase = "sleep"
        return Sleep(min(now + self.poll_every, self.deadline))

    def _read(self, response: Pdu) -> tuple[int | None, str, str]:
        """(docsDevSwOperStatus, docsDevSwCurrentVers, what is wrong with the answer)."""
        if response.error_status:
            return None, "", f"GET answered with error-status {error_name(response.error_status)}"
        got = {vb.oid: vb.value for vb in response.varbinds}
        oper, version = got.get(self.o.oper), got.get(self.o.current)
        if not isinstance(oper, int) or isinstance(oper, bool) or not isinstance(version, bytes):
            return None, "", "docsDevSwOperStatus or docsDevSwCurrentVers missing from the answer"
        return oper, version.decode("utf-8", "replace"), ""

    def _status_text(self) -> str:
        if self.last_oper is None:
            return "no docsDevSwOperStatus read after the SET"
        name = SwOper(self.last_oper).name if self.last_oper in SwOper._value2member_map_ else str(self.last_oper)
        return f"docsDevSwOperStatus still {name.lower()} ({self.last_oper})"

    def _done(self, outcome: Outcome, detail: str) -> Done:
        self.phase = "done"
        return Done(outcome, detail, self.version_before, self.last_version or self.version_before, self.last_oper)


def error_name(status: int) -> str:
    """An error-status as ``inconsistent_value(12)``; a value RFC 3416 does not name as itself."""
    try:
        return f"{ErrorStatus(status).name.lower()}({status})"
    except ValueError:
        return str(status)
