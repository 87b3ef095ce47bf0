"""Why a cable modem did not take the image its config file offered, from its own agent
(sans-IO).

A CM file with TLV 9 asks the modem to download, verify and install an image, then
reboot: a modem that refuses (a CVC or code file it does not trust, a download that
failed) keeps running, and its next DHCP report still names its old version. Nothing
else tells the provisioning server why; the modem's agent does (RFC 4639
docsDevSoftware: the status of its last upgrade and the file it was told of; RFC 4131
docsBpi2CodeDownloadStatusCode/String: what the last CVC or code file check decided).

:func:`request` is the GET to send; :func:`judge` turns the answer (or none) into a
:class:`Verdict`: the device-history event that says it, in words, and whether to ask
again later (a download still in progress).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pktcable.snmp.message import Pdu
from tlv.ber import SNMP_TYPE_BY_KEYWORD, VarBind

from .device import DownloadStatus
from .push import error_name
from .swmib import SwAdmin, SwOper, sw_oids

_NULL = SNMP_TYPE_BY_KEYWORD["null"]
#: Characters of the modem's own words kept in a verdict (it chose them: bounded, printable).
MAX_WORDS = 200


class Check(Enum):
    """The history events of a check (docs/firmware.md "Why a modem did not upgrade")."""

    #: The modem runs the offered version (it upgraded; its next report will say so).
    UPGRADED = "SwUpgradeConfirmed"
    #: A download or install of the offered image failed, or a CVC was refused: the reason.
    FAILED = "SwUpgradeFailed"
    #: The download is still running: asked again later.
    IN_PROGRESS = "SwUpgradeInProgress"
    #: The modem has not tried: it ignores provisioning upgrades, or never took the offer.
    NOT_TRIED = "SwUpgradeNotTried"
    #: No usable answer from the modem's agent.
    UNANSWERED = "SwUpgradeUnanswered"


@dataclass(frozen=True)
class Verdict:
    check: Check
    detail: str

    @property
    def again(self) -> bool:
        """Worth asking once more later (a download under way, or no answer yet)."""
        return self.check in (Check.IN_PROGRESS, Check.UNANSWERED)


def request() -> tuple[VarBind, ...]:
    """The GET's varbinds: the docsDevSoftware status, version, file, admin status and the
    BPI+ download status code and string."""
    o = sw_oids()
    return tuple(VarBind(oid, _NULL, None) for oid in (o.oper, o.current, o.filename, o.admin,
                                                      o.download_status, o.download_string))


def _words(value: object) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else ""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:MAX_WORDS] + ("..." if len(text) > MAX_WORDS else "")


def _name(kind: type[Enum], value: object) -> str:
    """``failed(4)``; a number outside the enumeration as itself."""
    try:
        member = kind(value)
    except ValueError:
        return f"{value!r} (not a {kind.__name__} value)"
    words = member.name.lower().split("_")
    return f"{words[0]}{''.join(w.title() for w in words[1:])}({member.value})"


def judge(response: Pdu | None, image: str, version: str) -> Verdict:
    """What the modem's answer says of the offer of ``image`` (version ``version``)."""
    if response is None:
        return Verdict(Check.UNANSWERED, "the modem's agent did not answer")
    if response.error_status:
        return Verdict(Check.UNANSWERED, f"the modem's agent answered {error_name(response.error_status)}")
    o = sw_oids()
    # An object the agent lacks comes back as an exception (noSuchObject): no value.
    got = {vb.oid: vb.value for vb in response.varbinds
           if isinstance(vb.value, bytes) or (isinstance(vb.value, int) and not isinstance(vb.value, bool))}
    oper, current = got.get(o.oper), _words(got.get(o.current))
    if oper is None:
        return Verdict(Check.UNANSWERED, "docsDevSwOperStatus missing from the modem's answer")
    said = [f"docsDevSwOperStatus {_name(SwOper, oper)}", f"running {current or '?'}"]
    filename = _words(got.get(o.filename))
    if filename and filename != image:
        said.append(f"docsDevSwFilename {filename!r}")
    code, words = got.get(o.download_status), _words(got.get(o.download_string))
    if code is not None and code != DownloadStatus.OTHER:
        said.append(f"docsBpi2CodeDownloadStatusCode {_name(DownloadStatus, code)}")
    if words:
        said.append(f"{words!r}")
    detail = "; ".join(said)
    if current == version:
        return Verdict(Check.UPGRADED, detail)
    if oper == SwOper.IN_PROGRESS:
        return Verdict(Check.IN_PROGRESS, detail)
    refused = code in (DownloadStatus.CONFIG_FILE_CVC_REJECTED, DownloadStatus.CODE_FILE_REJECTED)
    if oper == SwOper.FAILED or refused:
        return Verdict(Check.FAILED, detail)
    admin = got.get(o.admin)
    if admin == SwAdmin.IGNORE_PROVISIONING_UPGRADE:
        detail += f"; docsDevSwAdminStatus {_name(SwAdmin, admin)}: provisioning upgrades are ignored"
    return Verdict(Check.NOT_TRIED, detail)
