"""The back office's Prometheus metrics: one :class:`CollectorRegistry` per
:class:`~pktcable.serve.app.Backoffice` (never the process-wide default, so
tests and several back offices in one process do not share counters).

Three kinds of families live in it:

- the services' own counters and queue depths, read when ``/metrics`` is
  scraped (:class:`ServiceCollector`): the services keep plain counters and
  know nothing of Prometheus;
- histograms observed as things happen (:class:`Metrics`): how long each step
  and each whole run took, and how long the stores' commits take;
- the process (CPU, memory, open files) and the Python platform.

Every family is named ``pktcable_...``. No label carries a device (MAC,
address): label values come from fixed lists (reasons, flow tables' steps
and states, store names), so a scrape costs the same for 10 or 100,000
devices, and the device gauge is one GROUP BY in the store.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pktcable.admission import REASONS as ADMISSION_REASONS
from pktcable.delivery.onetime import SHARED_OPERATIONS
from pktcable.dhcpd.intake import PRIORITY_NAMES
from pktcable.provision.entity import INTERNAL_ERROR_PLACES, REJECT_REASONS

from .dhcpwiring import server_stats
from .dhcpworker import DhcpWorker
from .swchecks import OUTCOMES as CHECK_OUTCOMES
from .upgrades import REFUSED

if TYPE_CHECKING:
    from .app import Backoffice

PREFIX = "pktcable"
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)  # asm-generic/socket.h
#: SO_MEMINFO's first u32, SK_MEMINFO_RMEM_ALLOC (linux/sock_diag.h): the receive queue.
_MEMINFO = struct.Struct("=I")
#: Seconds: a step answered at once (a Response on loopback) up to a device's whole budget.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: Seconds from a lease to a final state: a loopback run takes a fraction of a second, a
#: storm minutes, and the server's budget (600 s by default) bounds a run.
RUN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
#: Seconds per store commit: a WAL commit of a batch is milliseconds; a slow disk shows above.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: The stores whose commits are timed: the ``store`` label.
STORES = ("devices", "leases")
#: The counters of the SNMP endpoint shown as ``pktcable_snmp_messages_total{kind}``.
SNMP_KINDS = (("received", "received"), ("malformed", "malformed"), ("answered", "answered"),
              ("requests", "requests"), ("retransmissions", "retransmissions"), ("timeouts", "timeouts"),
              ("unmatched-responses", "unmatched_responses"), ("foreign-responses", "foreign_responses"))


def receive_queue_bytes(sock: socket.socket | None) -> int | None:
    """Bytes of datagrams waiting in a socket's receive queue (Linux SO_MEMINFO, as the
    DHCP transport reads its own); None where the kernel does not say."""
    if sock is None:
        return None
    try:
        info = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size)
    except OSError:
        return None
    return int(_MEMINFO.unpack_from(info)[0])


def _name(name: str) -> str:
    return f"{PREFIX}_{name}"


#: The SIP provisioning server's push counters shown as ``pktcable_sip_pushes_total{outcome}``.
SIP_PUSH_OUTCOMES = ("queued", "notify", "check-sync", "no-target", "delivered", "fetched", "unfetched", "retried",
                     "unreachable")
#: Its NOTIFY answers shown as ``pktcable_sip_notifies_total{outcome}``.
SIP_NOTIFY_OUTCOMES = ("2xx", "408", "481", "timeout", "failed")
#: Its transport's counters shown as ``pktcable_sip_messages_total{kind}``.
SIP_MESSAGE_KINDS = ("sent", "received", "retransmitted", "rate-limited", "malformed")


def _sip(office: Backoffice) -> Iterator[Metric]:
    server = office.sip.server if office.sip is not None else None
    if server is None or server.core is None:
        return
    stats = server.stats()
    yield counter("sip_pushes_total", "SIP phone change pushes by outcome (delivered: the NOTIFY answered 2xx; "
                  "unreachable: no try reached the phone).", ["outcome"],
                  [([k], stats.get(f"push-{k}", 0)) for k in SIP_PUSH_OUTCOMES])
    yield counter("sip_notifies_total", "Answers to the SIP NOTIFYs sent, by outcome (timeout: none within timer F).",
                  ["outcome"], [([k], stats.get(f"notify-{k}", 0)) for k in SIP_NOTIFY_OUTCOMES])
    yield counter("sip_messages_total", "SIP messages of the provisioning server by kind.", ["kind"],
                  [([k], stats.get(f"transport-{k}", 0)) for k in SIP_MESSAGE_KINDS])
    yield gauge("sip_pushes_in_flight", "SIP pushes awaiting their NOTIFY's answer or the phone's GET.", [],
                [([], server.core.pushes_in_flight)])


def counter(name: str, help_text: str, labels: Iterable[str], samples: Iterable[tuple[Iterable[str], float]]) \
        -> CounterMetricFamily:
    """A counter family (``name`` without the prefix, with its ``_total``) and its samples."""
    family = CounterMetricFamily(_name(name), help_text, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def gauge(name: str, help_text: str, labels: Iterable[str], samples: Iterable[tuple[Iterable[str], float]]) \
        -> GaugeMetricFamily:
    family = GaugeMetricFamily(_name(name), help_text, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


class ServiceCollector(Collector):
    """The counters and queue depths of a Backoffice's services, read at scrape time;
    services not started (the SNMP endpoint, the entity, HTTP) are left out."""

    def __init__(self, office: Backoffice) -> None:
        self.office = office

    def collect(self) -> Iterator[Metric]:
        office = self.office
        yield from dhcp_families(office)
        tftp = office.tftp.stats
        yield counter("tftp_requests_total", "TFTP read requests received.", [], [([], tftp.requests)])
        yield counter("tftp_transfers_total", "TFTP transfers by outcome (refused-<reason>: no transfer).",
                      ["outcome"], [(["completed"], tftp.completed), (["failed"], tftp.failed)]
                      + [([f"refused-{k}"], v) for k, v in sorted(tftp.refused.items())])
        yield gauge("tftp_sessions", "TFTP transfers in flight.", [], [([], office.tftp.active)])
        queued = receive_queue_bytes(office.tftp.listener)
        if queued is not None:
            yield gauge("tftp_receive_queue_bytes", "Bytes of TFTP requests waiting in the well-known port's "
                        "receive queue.", [], [([], queued)])
        if office.http is not None:
            http = office.http
            yield counter("http_responses_total", "HTTP file requests by response status.", ["status"],
                          [([k], v) for k, v in sorted(http.responses.items())])
            yield counter("http_connections_cut_total", "HTTP connections closed for a request head that did "
                          "not come in time.", [], [([], http.cut_off)])
        yield counter("file_refusals_total", "Requests for a device's file from an address its lease does not allow.",
                      ["reason"], [([k], v) for k, v in sorted(office.files.refused.items())])
        names = office.names
        if names.shared is not None:  # several nodes on one database
            yield counter("onetime_names_adopted_total", "One-time file names another node built, read from the "
                          "shared table.", [], [([], names.adopted)])
            yield counter("onetime_shared_errors_total", "Calls to the shared one-time name table that failed, by "
                          "operation.", ["operation"], [([k], names.shared_errors[k]) for k in SHARED_OPERATIONS])
        yield counter("tod_requests_total", "Time of Day (RFC 868) requests answered, by transport.", ["transport"],
                      [([k], v) for k, v in sorted(office.tod.answered.items())])
        yield from _sip(office)
        kdc = office.secure.kdc if office.secure is not None else None
        if kdc is not None:
            yield counter("kdc_requests_total", "KDC requests by outcome (as-rep, tgs-rep, error-<code>, dropped, "
                          "rate-limited, too-large, busy, failed).", ["outcome"],
                          [([k], v) for k, v in sorted(kdc.counts.items())])
        snmp = office.snmp
        if snmp is not None:
            s = snmp.stats
            yield counter("snmp_messages_total", "SNMP messages of the provisioning entity, by kind (requests: "
                          "sent by the entity; answered: Responses it sent).", ["kind"],
                          [([kind], getattr(s, field)) for kind, field in SNMP_KINDS])
            yield gauge("snmp_requests_waiting", "SNMP requests of the entity waiting for their Response.", [],
                        [([], snmp.pending)])
            queued = receive_queue_bytes(snmp.transport.get_extra_info("socket") if snmp.transport else None)
            if queued is not None:
                yield gauge("snmp_receive_queue_bytes", "Bytes of INFORMs and Responses waiting in the SNMP "
                            "socket's receive queue.", [], [([], queued)])
        entity = office.entity
        if entity is not None:
            yield counter("informs_rejected_total", "INFORMs not acted on, by reason (bad-community ones "
                          "unanswered).", ["reason"], [([r], entity.rejected[r]) for r in REJECT_REASONS])
            yield counter("informs_dropped_total", "Enrollment INFORMs dropped unanswered under overload (the eMTA "
                          "re-sends them), by the bound reached.", ["reason"],
                          [([r], entity.admission.refused[r]) for r in ADMISSION_REASONS])
            yield counter("enrollments_admitted_total", "Enrollment INFORMs that started a new run.", [],
                          [([], entity.admission.admitted)])
            yield gauge("flows_in_progress", "eMTAs whose server-side flow is running (not in a final state).", [],
                        [([], entity.running())])
            yield gauge("configure_tasks", "eMTAs whose config file is being built and its location SET.", [],
                        [([], len(entity.tasks))])
            shared = entity.shared_rounds
            if shared is not None:
                yield counter("shared_lease_lookups_total", "The INFORM screen's rounds of the shared lease table (a "
                              "source address another node may have leased), by outcome: queries sent, bindings "
                              "learned, datagrams refused without a query (source found unleased a moment ago) or "
                              "for want of room to wait.", ["outcome"],
                              [(["query"], shared.queries), (["learned"], shared.learned),
                               (["known-unleased"], shared.known_unleased), (["no-room"], shared.refused)])
            yield counter("unexpected_events_total", "Events a device's flow table has no row for in its state "
                          "(recorded, run unchanged).", ["flow", "state", "event"],
                          [([f, st, e], n) for (f, st, e), n in sorted(entity.unexpected.items())])
        writers = [(name, store) for name, store in (("devices", office.devices), ("built_files", office.built))
                   if hasattr(store, "failed")]  # the PostgreSQL stores, whose writes run in a thread
        if writers:
            yield counter("store_write_failures_total", "Batches of a store's writer thread the database refused "
                          "(lost; each logged with the reason), by store.", ["store"],
                          [([name], getattr(store, "failed")) for name, store in writers])  # noqa: B009
        yield counter("internal_errors_total", "Bugs caught in a handler (logged with a traceback), by where.",
                      ["where"], [([w], office.internal_errors[w]) for w in INTERNAL_ERROR_PLACES])
        upgrades = office.upgrades
        yield counter("firmware_upgrades_offered_total", "CM files built with upgrade TLVs (9, 21, 32/33).", [],
                      [([], upgrades.offered)])
        yield counter("firmware_refused_total", "Device firmware reports with a refused field, and upgrades a rule "
                      "offered but left out of a CM file (each logged), by what.", ["what"],
                      [([w], upgrades.refused[w]) for w in REFUSED])
        if office.sw_checks is not None:
            checks = office.sw_checks.counts
            yield counter("firmware_checks_total", "Modems asked why they did not take an offered image, by what "
                          "their agent said (the history event), or reported: the offered version was reported "
                          "by then, skipped: too many checks waiting.", ["outcome"],
                          [([o], checks[o]) for o in CHECK_OUTCOMES])
        states: Counter[tuple[str, str]] = Counter()
        for (kind, state), n in office.devices.counts().items():
            states[kind, state or "NEW"] += n
        yield gauge("devices", "Devices in the store by kind and flow state (NEW: no step yet).", ["kind", "state"],
                    [([kind, state], n) for (kind, state), n in sorted(states.items())])


def dhcp_families(office: Backoffice) -> Iterator[Metric]:
    """The DHCP server's figures, the same families whether it runs in this process or in
    the DHCP worker (whose counters come with its lease stream, at most a second old)."""
    service = office.dhcp_service
    stats = service.stats() if service is not None else \
        server_stats(office.dhcp, None) if office.dhcp is not None else {}
    if not stats:
        return
    yield counter("dhcp_packets_total", "DHCP server events by kind.", ["event"],
                  [([k], v) for k, v in sorted(stats["metrics"].items())])
    yield counter("dhcp_dropped_total", "DHCP datagrams that got no reply, by reason.", ["reason"],
                  [([k], v) for k, v in sorted(stats["drops"].items())])
    yield gauge("dhcp_offers_pending", "OFFERs made and held for the client's REQUEST.", [], [([], stats["offers"])])
    if stats.get("queued") is not None:
        yield gauge("dhcp_receive_queue_bytes", "Bytes of DHCP datagrams waiting in the socket's receive queue.",
                    [], [([], stats["queued"])])
    if stats.get("intake") is not None:  # the intake's queues (shed datagrams count in dhcp_dropped_total{reason="shed-*"})
        yield gauge("dhcp_intake_queued", "DHCP datagrams waiting in the intake, by priority.", ["priority"],
                    [([name], stats["intake"].get(name, 0)) for name in PRIORITY_NAMES.values()])
    if isinstance(service, DhcpWorker):
        yield counter("dhcp_worker_restarts_total", "Times the DHCP worker process was started again after it "
                      "died.", [], [([], service.restarts)])
        if "cpu" in stats:
            yield counter("dhcp_worker_cpu_seconds_total", "CPU seconds the DHCP worker process used (user + "
                          "system; pktcable_process_cpu_seconds_total is this process's).", [], [([], stats["cpu"])])


class _Prefixed(Collector):
    """prometheus_client's platform collector (``python_info``) under the ``pktcable_`` prefix."""

    def __init__(self, inner: Collector) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        for family in self.inner.collect():
            renamed = Metric(_name(family.name), family.documentation, family.type, family.unit)
            for sample in family.samples:
                renamed.add_sample(_name(sample.name), sample.labels, sample.value, sample.timestamp, sample.exemplar)
            yield renamed


class Metrics:
    """A Backoffice's registry and the instruments its parts observe into."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.step_seconds = Histogram(
            "step_duration_seconds", "Time from a device's previous step to this one, by flow and spec step.",
            ["flow", "step"], namespace=PREFIX, buckets=STEP_BUCKETS, registry=self.registry)
        self.run_seconds = Histogram(
            "provisioning_duration_seconds", "Time from a device's lease to its final state, by flow and outcome.",
            ["flow", "outcome"], namespace=PREFIX, buckets=RUN_BUCKETS, registry=self.registry)
        self.commit_seconds = Histogram(
            "store_commit_seconds", "Time a store commit that wrote rows took, by store.", ["store"],
            namespace=PREFIX, buckets=COMMIT_BUCKETS, registry=self.registry)
        ProcessCollector(namespace=PREFIX, registry=self.registry)
        self.registry.register(_Prefixed(PlatformCollector(registry=None)))
        # Each labelled histogram looked up once: labels() costs more than the observation,
        # and a device is observed at every step. Bounded: flows x steps x outcomes.
        self._steps: dict[tuple[str, str], Histogram] = {}
        self._runs: dict[tuple[str, str], Histogram] = {}

    def attach(self, office: Backoffice) -> None:
        self.registry.register(ServiceCollector(office))

    # -- the entity's FlowObserver ------------------------------------------------
    def step(self, flow: str, step: str, seconds: float) -> None:
        child = self._steps.get((flow, step))
        if child is None:
            child = self._steps[flow, step] = self.step_seconds.labels(flow, step)
        child.observe(seconds)

    def provisioned(self, flow: str, outcome: str, seconds: float) -> None:
        child = self._runs.get((flow, outcome))
        if child is None:
            child = self._runs[flow, outcome] = self.run_seconds.labels(flow, outcome)
        child.observe(seconds)

    def committed(self, store: str) -> Histogram:
        """The histogram child one store's commits are observed into."""
        return self.commit_seconds.labels(store)
