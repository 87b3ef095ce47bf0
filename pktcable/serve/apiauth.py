"""The gate in front of every API request, in this order:

1. **Host**: the name the request was addressed to must be one the API is
   reached by (``api_address``, ``localhost`` and ``api_hosts``), else 421
   ``bad-host``. A page on another site whose name an attacker points at
   127.0.0.1 (DNS rebinding) sends its own name here, and is refused.
2. **Origin**: a request that carries an ``Origin`` header (browsers add one to
   cross-site requests) must come from the API's own origin, whatever the
   method, else 403 ``bad-origin``: a form or script on another site cannot
   change a device, even with a token the browser would send.
3. **Token**: ``Authorization: Bearer <token>`` naming a live token, else 401
   ``unauthorized`` with ``WWW-Authenticate: Bearer``; the OpenAPI document, the
   dashboard's page and static files are public (they hold no data), and
   ``/metrics`` is when ``metrics_open`` is on.
4. **Role**: ``read`` may GET (and HEAD) only; ``operator`` anything, else 403 ``forbidden``.
5. **Body**: a request with a body must say ``Content-Type: application/json``
   (``application/octet-stream`` for a firmware upload, :data:`BINARY_BODIES`),
   else 415 ``unsupported-media-type`` (an HTML form cannot send either type
   cross-site without a CORS preflight, which this API never grants).

Failed authentications are counted per source address (a bounded table) and
logged at most once per source per minute.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware

from pktcable.provision.ratelog import RateLimitedLog
from pktcable.store.admin import AdminStore, Token

from .problems import Handler, Problem

log = logging.getLogger("pktcable.serve.api")
API_PREFIX = "/api/v1"
#: Paths any client may fetch without a token: they hold no device data.
PUBLIC = (f"{API_PREFIX}/openapi.json", "/", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)
READ_METHODS = ("GET", "HEAD", "OPTIONS")
#: The requests whose body is bytes, not JSON: (method, path) -> the one type they take.
BINARY_BODIES = {("POST", f"{API_PREFIX}/firmware"): "application/octet-stream"}
MAX_SOURCES = 4096  # sources whose failures are counted one by one
CHALLENGE = 'Bearer realm="pktcable"'
IDENTITY: web.RequestKey[Token] = web.RequestKey("identity", Token)


@dataclass(slots=True)
class Access:
    """What the gate needs: the token store, the host names the API answers to,
    whether /metrics is open, and the clock for the log limit."""

    admin: AdminStore
    hosts: frozenset[str]
    metrics_open: bool = False
    clock: Callable[[], float] = time.time
    #: Authentication failures by source address (at most MAX_SOURCES sources, stalest dropped).
    failures: OrderedDict[str, int] = field(default_factory=OrderedDict)
    #: Authentication failures by reason: missing, malformed, invalid.
    failure_reasons: Counter[str] = field(default_factory=Counter)
    failure_log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))

    def failed(self, source: str, reason: str) -> None:
        self.failures[source] = self.failures.pop(source, 0) + 1
        if len(self.failures) > MAX_SOURCES:
            self.failures.popitem(last=False)
        self.failure_reasons[reason] += 1
        self.failure_log.log(source, self.clock(), "API authentication failed from %s: %s", source, reason)


def allowed_hosts(api_address: str, names: Iterable[str]) -> frozenset[str]:
    """The host names (lower case, no port) the API answers to."""
    return frozenset({api_address.lower(), "localhost", *(n.lower() for n in names)})


def _host_name(host: str) -> str:
    """The name of a Host header without its port (``[::1]:80`` -> ``::1``)."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _public(request: web.Request, access: Access) -> bool:
    path = request.path
    if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
        return True
    return path == "/metrics" and access.metrics_open and request.method in READ_METHODS


def gate(access: Access) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if _host_name(host).lower() not in access.hosts:
            raise Problem(421, "bad-host", f"this API is not reached by the name {host[:100]!r}")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{host}":
            raise Problem(403, "bad-origin", f"requests from {origin[:100]!r} are refused: not this API's origin")
        if not _public(request, access):
            request[IDENTITY] = _identify(request, access)
            if request.method not in READ_METHODS and request[IDENTITY].role != "operator":
                raise Problem(403, "forbidden", f"{request.method} needs the operator role; this token's is "
                                                f"{request[IDENTITY].role}")
        if request.method not in READ_METHODS and request.body_exists:
            if request.content_type != BINARY_BODIES.get((request.method, request.path), "application/json"):
                raise Problem(415, "unsupported-media-type",
                              f"the body must be application/json, not {request.content_type[:100]!r}")
        return await handler(request)

    return check


def identify(request: web.Request, access: Access) -> Token:
    """The token of a request to a public path whose handler shows data all the same
    (the server-rendered dashboard), checked as the gate checks the API's."""
    request[IDENTITY] = _identify(request, access)
    return request[IDENTITY]


def _identify(request: web.Request, access: Access) -> Token:
    source = request.remote or "?"
    header = request.headers.get("Authorization")
    if header is None:
        access.failed(source, "missing")
        raise Problem(401, "unauthorized", "this needs an API token: Authorization: Bearer <token>",
                      {"WWW-Authenticate": CHALLENGE})
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        access.failed(source, "malformed")
        raise Problem(401, "unauthorized", "the Authorization header must be: Bearer <token>",
                      {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_request"'})
    found = access.admin.authenticate(token.strip())
    if found is None:
        access.failed(source, "invalid")
        raise Problem(401, "unauthorized", "the token is unknown or revoked",
                      {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'})
    return found
