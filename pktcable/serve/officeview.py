"""The back office as the operators' API sees it: :class:`OfficeView`
implements :class:`~pktcable.serve.office.Office` over a
:class:`~pktcable.serve.app.Backoffice` (kept apart from it so the services'
module stays about the services)."""

from __future__ import annotations

import dataclasses
import re
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import jinja2
from prometheus_client.registry import Collector

from pktcable.delivery.resolvers import BuildFailed
from pktcable.store.built import BuiltFile
from pktcable.store.devices import Device, Step
from pktcable.store.leases import Lease
from pktcable.store.pg_nodes import Node
from pktcable.store.query import DeviceQuery, Page, StateCount

from . import nodes as node_wiring
from .office import NoCurrentLease, NoSuchTemplate, TemplateInfo, TextError

if TYPE_CHECKING:
    from pktcable.firmware.codefile import CvcTrust
    from pktcable.firmware.push import Done
    from pktcable.store.firmware import FirmwareStore

    from .app import Backoffice
    from .phonestatus import PhoneLive

#: Settings never shown through the API: whoever holds them can sign CM files or SET eMTAs.
SECRETS = ("cm_key", "write_community", "inform_community")
REDACTED = "(redacted)"
#: Longest template text validated, characters (the API's body limit bounds it too).
TEXT_LIMIT = 200_000
_MTA_MARK = re.compile(r"MtaConfigDelimiter")


class OfficeView:
    def __init__(self, office: Backoffice) -> None:
        from pktcable.mibctx import MibContext

        self._office = office
        self._decode_ctx = MibContext()  # used from worker threads only, apart from the services' own

    # -- the first interface -------------------------------------------------------------------
    def list_devices(self) -> Iterable[Device]:
        return self._office.devices.devices()

    def get_device(self, mac: str) -> Device | None:
        return self._office.devices.get(mac)

    def device_history(self, mac: str) -> list[Step]:
        return self._office.devices.history(mac)

    def save_device(self, device: Device) -> None:
        self._office.save_device(device)  # a SIP phone's edit is announced to it there

    def forget(self, mac: str) -> bool:
        return self._office.forget(mac)

    async def reset_device(self, mac: str) -> bool:
        return await self._office.reset_device(mac)

    def metrics(self) -> Collector:
        return self._office.metrics_registry.registry

    def settle(self) -> None:
        # Handed over, not waited for: query_devices and device_summary (worker threads)
        # wait for the store's writes themselves, so the event loop does not.
        self._office.commit_batch()

    # -- queries (worker thread) ----------------------------------------------------------------
    def query_devices(self, query: DeviceQuery) -> Page:
        return self._office.devices.query(query)

    def device_summary(self) -> list[StateCount]:
        return self._office.devices.summary()

    def describe_file(self, data: bytes) -> str:
        from tlv.config import decode_file, format_file

        return format_file(decode_file(data, strict=False), self._decode_ctx)

    # -- lookups --------------------------------------------------------------------------------
    def current_lease(self, mac: str) -> Lease | None:
        now = self._office.clock()
        found = self._office.lease_view.bound_lease(mac, now)
        beat = node_wiring.running(self._office)
        if found is None and beat is not None:  # bound by another node of the shared database
            found = beat.bound_lease(mac, now)
        return found

    def lease_snapshot(self) -> list[Lease]:
        # One C-level copy of the list on the loop; the API sorts and filters it in a worker thread.
        return list(self._office.lease_view.by_address.values())

    def shared_leases(self) -> Callable[[], list[Lease]] | None:
        beat = node_wiring.running(self._office)
        return beat.leases if beat is not None else None

    def nodes(self) -> list[Node] | None:
        beat = node_wiring.running(self._office)
        return beat.nodes() if beat is not None else None

    def built_files(self, mac: str) -> Sequence[BuiltFile]:
        return self._office.built.of(mac)

    def phone_live(self, mac: str) -> PhoneLive | None:
        sip = self._office.sip
        return sip.live(mac) if sip is not None else None

    async def reprovision(self, mac: str) -> bool:
        office = self._office
        if office.entity is None:
            raise NoCurrentLease(f"no lease for {mac}: the server has not started")
        tree = office.entity.trees.get(mac)  # the reset goes in the tree it enrolled with
        if office.leased_address(mac) is None:
            raise NoCurrentLease(f"no lease for {mac}: its address is not known")
        office.entity.forget(mac)
        device = office.devices.get(mac)
        if device is not None:
            device.state, device.result, device.updated = "", None, office.clock()
            office.devices.put(device)
        office.devices.record(Step(mac, office.clock(), "MTA-1", "ReprovisionRequested", "flow state cleared"))
        office.devices.commit()
        try:
            return await office.entity.reset(mac, tree)
        except KeyError as exc:
            raise NoCurrentLease(exc.args[0] if exc.args else mac) from None

    # -- templates ------------------------------------------------------------------------------
    def templates(self) -> list[TemplateInfo]:
        out = []
        for name in self._office.templates.names():
            text = self._office.templates.source(name)
            out.append(TemplateInfo(name, _kind_of(text), len(text.encode("utf-8"))))
        return out

    def template_text(self, name: str) -> str:
        try:
            return self._office.templates.source(name)
        except jinja2.TemplateNotFound:
            raise NoSuchTemplate(f"no template {name!r}") from None

    def preview(self, template: str, mac: str) -> bytes:
        office = self._office
        device = office.devices.get(mac)
        if device is None:
            raise LookupError(f"no device {mac}")
        self.template_text(template)
        device = replace(device, template=template)
        try:
            data = office.templates.build(office.with_mib_tree(device), device.ip)
        except BuildFailed as exc:
            raise ValueError(exc.reason) from None
        # As the modem would get it now: with the upgrade TLVs its rule adds (serve/upgrades.py).
        return office.upgrades.cm_file(device, data)

    def validate_template(self, kind: str, text: str) -> list[TextError]:
        office = self._office
        trial = Device("000000000000", kind=kind, flow=office.cfg.realms[0] if kind == "mta" else "")
        return check_template(text, office.with_mib_tree(trial), office.templates.source, office.mib)

    def settings(self) -> dict[str, Any]:
        out = dataclasses.asdict(self._office.cfg)
        for key in SECRETS:
            if out.get(key) is not None:
                out[key] = REDACTED
        return out

    # -- the firmware catalogue ---------------------------------------------------------------
    def firmware(self) -> FirmwareStore:
        return self._office.firmware

    def firmware_status(self, mac: str) -> dict[str, Any]:
        device = self._office.devices.get(mac)
        return self._office.upgrades.view(mac, device.kind if device is not None else "")

    def rules_changed(self) -> None:
        self._office.upgrades.changed()
        if self._office.sip is not None:
            self._office.sip.rules_changed()  # the phones whose image moved get the change NOTIFY

    def firmware_trust(self) -> CvcTrust | None:
        return self._office.firmware_trust

    def firmware_limit(self) -> int:
        return self._office.cfg.firmware_max_bytes

    async def push_firmware(self, mac: str, filename: str, *, budget: float, poll_every: float,
                            legacy: bool, transport: str | None = None) -> Done:
        from pktcable.firmware.swmib import HTTP, TFTP
        from pktcable.provision.swpush import push_firmware, v2c

        office = self._office
        # The address leased to the modem now (never the store's last one), its agent at the
        # agent_port setting, the write community; the code file from this server's TFTP.
        address = office.leased_address(mac)
        if address is None or office.snmp is None:
            raise NoCurrentLease(f"no current lease for {mac}")
        send = v2c(office.snmp, (address, office.cfg.agent_port), office.cfg.write_community.encode())
        kind = None if transport is None else HTTP if transport == "http" else TFTP
        return await push_firmware(send, office.site.advertise, filename, budget=budget, poll_every=poll_every,
                                   legacy=legacy, transport=kind)

    def serves_http(self) -> bool:
        return self._office.http is not None


def _kind_of(text: str) -> str:
    """What a template makes: an MTA file starts with MtaConfigDelimiter, a CM file has none."""
    return "mta" if _MTA_MARK.search(text) else "cm"


def check_template(text: str, device: Device, loader: Any, ctx: Any) -> list[TextError]:
    """Template ``text`` checked in three passes, each stopping at its first kind of problem:
    Jinja2 syntax (the template's line), rendering for ``device`` (the template line the
    failure is on, from the traceback), and compiling what it rendered (every problem
    the compiler finds, at the rendered text's line and column: the template's own lines,
    since the environment keeps line breaks, unless a loop or ``-`` whitespace control moves them)."""
    from pktcable.templates import environment
    from tlv.config import compile_text
    from tlv.errors import EncodeError, TextSyntaxError, TlvError

    if len(text) > TEXT_LIMIT:
        return [TextError(0, 0, f"the text is longer than {TEXT_LIMIT} characters")]
    env = environment(loader=jinja2.FunctionLoader(lambda name: loader(name)))
    try:
        template = env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        return [TextError(exc.lineno or 0, 0, exc.message or str(exc))]
    facts = {**device.vars, "mac": device.mac, "kind": device.kind, "ip": device.ip, "flow": device.flow,
             "client_ip": ""}
    try:
        rendered = template.render(facts)
    except Exception as exc:  # undefined variables, typed filters, arithmetic: all the template's own
        return [TextError(_template_line(exc), 0, f"{type(exc).__name__}: {exc}")]
    errors: list[TlvError] = []
    try:
        compile_text(rendered, source="<template>", ctx=ctx, key=b"" if device.kind == "cm" else None,
                     errors=errors)
    except (TlvError, ValueError) as exc:
        if not errors:
            errors.append(exc)  # type: ignore[arg-type]
    out = []
    for error in errors:
        if isinstance(error, TextSyntaxError):
            out.append(TextError(error.line, error.col, error.message))
        elif isinstance(error, EncodeError) and error.line is not None:
            out.append(TextError(error.line, error.col or 0, error.reason))
        else:
            out.append(TextError(0, 0, str(error)))
    return out


def _template_line(exc: BaseException) -> int:
    """The template line a rendering error happened on (Jinja2 names template frames
    ``<template>`` in the traceback), 0 when none is found."""
    line = 0
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return line
