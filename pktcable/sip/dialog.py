"""Dialog state shared by both ends of a subscription (RFC 3261 §12, RFC 6665 §4.4.1).

A dialog is identified by Call-ID, local tag and remote tag. It keeps the local
CSeq (incremented for each request we send), the remote CSeq (requests must
arrive in order, §12.2.2), the remote target (the peer's Contact) and the route
set (Record-Route, reversed on the subscriber side, §12.1.2). Requests inside
it are built here; ids (branches) come from the caller, as everything sans-IO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pktcable.sip import grammar as g
from pktcable.sip.errors import SipBuildError
from pktcable.sip.message import Header, Request

DialogId = tuple[str, str, str]
#: Max-Forwards on requests we originate (§8.1.1.6 recommends 70).
MAX_FORWARDS = 70


@dataclass(frozen=True)
class Local:
    """How this endpoint names itself: the Via sent-by and transport, and the Contact."""

    host: str
    port: int | None
    transport: str = "UDP"
    contact: g.SipUri | None = None

    def via(self, branch: str) -> g.Via:
        return g.Via(self.transport, self.host, self.port, (("branch", branch), ("rport", None)))

    def contact_uri(self) -> g.SipUri:
        return self.contact or g.SipUri(self.host, port=self.port)


def new_branch(new_id: Callable[[], str]) -> str:
    return g.BRANCH_COOKIE + new_id()


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: g.NameAddr
    remote_uri: g.NameAddr
    remote_target: g.Uri
    route_set: tuple[g.NameAddr, ...] = ()
    local_seq: int = 0
    remote_seq: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def id(self) -> DialogId:
        return self.call_id, self.local_tag, self.remote_tag

    def accepts_remote_seq(self, seq: int) -> bool:
        """§12.2.2: a request lower than the remote CSeq is out of order (500). An equal
        one is a retransmission the transaction layer absorbs; a new transaction with
        the same number is refused too, since it cannot be told from a replay."""
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def request(self, method: str, local: Local, branch: str, headers: tuple[Header, ...] = (),
                body: bytes = b"") -> Request:
        """A request inside the dialog (§12.2.1.1), loose routing assumed for Route."""
        self.local_seq += 1
        base: list[Header] = [
            ("Via", local.via(branch)),
            ("Max-Forwards", MAX_FORWARDS),
            ("From", self.local_uri),
            ("To", self.remote_uri),
            ("Call-ID", self.call_id),
            ("CSeq", g.CSeq(self.local_seq, method)),
        ]
        base += [("Route", r) for r in self.route_set]
        base.append(("Contact", g.NameAddr(local.contact_uri())))
        return Request(method=method, uri=self.remote_target, headers=tuple(base) + headers, body=body)


def peer_address(request: Request) -> tuple[str, int]:
    """Where a request goes: the first Route's host, else the Request-URI's (no DNS, §8.1.2
    for numeric hosts; a provisioning notifier answers phones that name themselves by IP)."""
    routes = request.get_all("Route")
    first = routes[0] if routes else None
    uri = first.uri if isinstance(first, g.NameAddr) else request.uri
    if not isinstance(uri, g.SipUri):
        raise SipBuildError(f"cannot send to a {uri.scheme}: URI")
    host = uri.host.strip("[]")
    # §19.1.2: 5060 for sip:, 5061 for sips: when the URI names no port.
    return host, uri.port or (5061 if uri.scheme == "sips" else 5060)
