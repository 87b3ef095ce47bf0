"""``/api/v1/devices/{mac}/firmware-push``: upgrade a cable modem now, by SNMP.

POST starts a push of a catalogued image (pktcable.firmware.push through the back
office's SNMP endpoint) and answers 202 at once: a modem downloads, verifies, writes
flash and reboots, minutes that no HTTP request should hold. GET shows the push under
way or the last one's named outcome. One push per modem at a time (409 while one runs),
at most ``MAX_RUNNING`` at once for the server (503 beyond), and the last
``MAX_KEPT`` outcomes kept in memory (a restart forgets them; the audit log keeps who
started which).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .api import audit, json_object, mac_of, office_of
from .office import NoCurrentLease, Office
from .problems import Problem, bad_request, not_found

MAX_RUNNING = 64
MAX_KEPT = 1024
#: Bounds of the request's ``budget`` (seconds) and ``poll_every``.
BUDGET = (10.0, 3600.0, 600.0)      # least, most, default
POLL_EVERY = (0.5, 60.0, 2.0)


@dataclass
class Job:
    mac: str
    filename: str
    started: float
    task: asyncio.Task[None] | None = None
    ended: float | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"mac": self.mac, "filename": self.filename, "state": "running" if self.ended is None else "done",
                "started": self.started, "ended": self.ended, **self.result}


_JOBS: web.AppKey[OrderedDict[str, Job]] = web.AppKey("firmware_pushes")


def _number(body: dict[str, Any], name: str, bounds: tuple[float, float, float]) -> float:
    least, most, default = bounds
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not least <= value <= most:
        raise bad_request(f"{name}: a number of seconds from {least:g} to {most:g}")
    return float(value)


async def start_push(request: web.Request) -> web.Response:
    mac = mac_of(request)
    body = await json_object(request, ("filename", "budget", "poll_every", "legacy", "transport"), ("filename",))
    filename, legacy, transport = body["filename"], body.get("legacy", False), body.get("transport")
    if not isinstance(filename, str) or not filename:
        raise bad_request("filename: the catalogued image's file name")
    if not isinstance(legacy, bool):
        raise bad_request("legacy: true or false")
    if transport not in (None, "tftp", "http"):
        raise bad_request('transport: "tftp" or "http"')
    budget, poll_every = _number(body, "budget", BUDGET), _number(body, "poll_every", POLL_EVERY)
    office = office_of(request)
    if transport == "http" and not office.serves_http():
        raise Problem(409, "no-http", "this server's HTTP delivery is off (http_port = 0): the modem has nothing to "
                                      "download from by HTTP")
    if await asyncio.to_thread(office.firmware().get, filename) is None:
        raise not_found(f"no firmware image {filename!r} in the catalogue")
    jobs = request.app[_JOBS]
    running = [j for j in jobs.values() if j.ended is None]
    if mac in jobs and jobs[mac].ended is None:
        raise Problem(409, "push-running", f"a push to {mac} is under way")
    if len(running) >= MAX_RUNNING:
        raise Problem(503, "too-many-pushes", f"{MAX_RUNNING} pushes are under way; try again later")
    if office.current_lease(mac) is None:
        raise Problem(409, "no-current-lease", f"device {mac} holds no current DHCP lease: there is no address to "
                                               "push to")
    job = Job(mac, filename, time.time())
    jobs.pop(mac, None)
    jobs[mac] = job
    while len(jobs) > MAX_KEPT:
        oldest = next(iter(jobs))
        if jobs[oldest].ended is None:
            break
        del jobs[oldest]
    job.task = asyncio.ensure_future(_run(office, job, budget, poll_every, legacy, transport))
    audit(request, "device.firmware-push", mac, None, {"filename": filename, "budget": budget, "legacy": legacy,
                                                        "transport": transport})
    return web.json_response(job.to_json(), status=202)


async def _run(office: Office, job: Job, budget: float, poll_every: float, legacy: bool,
               transport: str | None) -> None:
    try:
        done = await office.push_firmware(job.mac, job.filename, budget=budget, poll_every=poll_every,
                                          legacy=legacy, transport=transport)
        job.result = {"outcome": done.outcome.value, "detail": done.detail, "version_before": done.version_before,
                      "version": done.version}
    except NoCurrentLease as exc:
        job.result = {"outcome": "unreachable", "detail": str(exc)}
    except asyncio.CancelledError:
        job.result = {"outcome": "cancelled", "detail": "the server stopped"}
        raise
    except Exception as exc:  # noqa: BLE001 - one push's failure is its outcome, never the server's
        job.result = {"outcome": "error", "detail": f"{type(exc).__name__}: {exc}"}
    finally:
        job.ended = time.time()


async def get_push(request: web.Request) -> web.Response:
    mac = mac_of(request)
    job = request.app[_JOBS].get(mac)
    if job is None:
        raise not_found(f"no firmware push to {mac} since the server started")
    return web.json_response(job.to_json())


async def _cancel(app: web.Application) -> None:
    tasks = [j.task for j in app[_JOBS].values() if j.task is not None and not j.task.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def add_routes(app: web.Application, prefix: str) -> None:
    app[_JOBS] = OrderedDict()
    app.router.add_post(f"{prefix}/devices/{{mac}}/firmware-push", start_push)
    app.router.add_get(f"{prefix}/devices/{{mac}}/firmware-push", get_push)
    app.on_cleanup.append(_cancel)

