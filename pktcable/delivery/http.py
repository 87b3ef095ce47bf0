"""HTTP/1.1 delivery of config files and firmware from the same resolver as TFTP.

PacketCable lets the provisioning server point an MTA at an HTTP URL
(``pktcMtaDevConfigFile``), and firmware downloads resume with Range requests
(RFC 9110 §14). One range per request is served; a request for several ranges
gets the whole file with 200, which RFC 9110 §14.2 allows.

Versioned files (a SIP phone's profile, under ``versioned_prefix``) come from a
:data:`VersionedSource` instead and carry ``ETag`` and ``Last-Modified``: a
conditional GET of an unchanged one is answered 304 with no body (RFC 9110
§13.1.1-2, §15.4.5), so a phone that re-reads its profile at every NOTIFY or
reboot costs a header exchange, not a rebuild download.

A HEAD request is answered from :func:`~.resolvers.peek`, so it does not spend
a one-time name. A client must send its whole request head within
``header_timeout`` seconds of connecting, and must start the next one within
as long after a response, or the connection is closed: a host that opens
connections and trickles bytes (or none) cannot hold them.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from .resolvers import AccessDenied, BuildFailed, NotFound, Resolver, peek

log = logging.getLogger("pktcable.delivery.http")

_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")
_RESOLVER = web.AppKey("resolver", Resolver)  # type: ignore[type-abstract]
OnServed = Callable[[str, tuple[str, int]], None] | Callable[[str, tuple[str, int], bool], None]
_ON_SERVED: web.AppKey[Callable[..., None]] = web.AppKey("on_served")
#: Seconds a client has to send a request head (and to start the next one after a response).
HEADER_TIMEOUT = 5.0
_HEAD_END = (b"\r\n\r\n", b"\n\n")  # RFC 9112 §2.2: a bare LF may end lines


@dataclass(frozen=True)
class Versioned:
    """A file with a version: its bytes, strong entity tag (quoted) and modification time."""

    data: bytes
    etag: str
    modified: float
    content_type: str


#: (name under the prefix, client) -> the file, or a resolver error (404/403/500).
VersionedSource = Callable[[str, tuple[str, int]], Versioned]
_VERSIONED: web.AppKey[tuple[str, VersionedSource]] = web.AppKey("versioned")


def not_modified(headers: Mapping[str, str], etag: str, modified: float) -> bool:
    """RFC 9110 §13.2.2 for GET/HEAD: If-None-Match decides when present (weak
    comparison, ``*`` matches); otherwise If-Modified-Since, when it is a valid
    date no earlier than the file's (one-second resolution); an invalid date is ignored."""
    inm = headers.get("If-None-Match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        bare = etag.removeprefix("W/")
        return "*" in tags or any(t.removeprefix("W/") == bare for t in tags)
    ims = headers.get("If-Modified-Since")
    if ims is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(ims)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False  # RFC 9110 §5.6.7: HTTP dates are GMT; a zone-less one is not an HTTP date
    return int(modified) <= since.timestamp()


async def _serve_versioned(request: web.Request) -> web.StreamResponse:
    prefix, source = request.app[_VERSIONED]
    name = request.match_info["name"]
    peer = request.transport.get_extra_info("peername") if request.transport else None
    client = (peer[0], peer[1]) if peer else ("", 0)
    try:
        found = source(name, client)
    except NotFound:
        raise web.HTTPNotFound(text="not found\n") from None
    except AccessDenied:
        raise web.HTTPForbidden(text="forbidden\n") from None
    except BuildFailed as exc:
        log.warning("http: %s%s for %s: %s", prefix, name, client[0], exc.reason)
        raise web.HTTPInternalServerError(text="file could not be built\n") from None
    # no-cache: a phone may keep it but must ask again (cheaply, with its validators) before use.
    headers = {"ETag": found.etag, "Last-Modified": email.utils.formatdate(found.modified, usegmt=True),
               "Cache-Control": "no-cache"}
    if not_modified(request.headers, found.etag, found.modified):
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.data, headers=headers, content_type=found.content_type)


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range -> (start, end exclusive); None means the whole file.

    Malformed or multi-range headers are ignored (whole file), as RFC 9110
    §14.2 says a server may; a well-formed range beyond the end raises
    :class:`RangeNotSatisfiable` (416).
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        if not last:
            return None
        suffix = int(last)  # bytes=-N: the last N bytes
        if suffix == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if last and int(last) < start:
        return None  # an invalid range is ignored, not refused
    if start >= size:
        raise RangeNotSatisfiable
    return start, end


async def _serve(request: web.Request) -> web.StreamResponse:
    resolver = request.app[_RESOLVER]
    name = request.match_info["name"]
    peer = request.transport.get_extra_info("peername") if request.transport else None
    client = (peer[0], peer[1]) if peer else ("", 0)
    try:
        content = peek(resolver, name, client) if request.method == "HEAD" else resolver.resolve(name, client)
    except NotFound:
        raise web.HTTPNotFound(text="not found\n") from None
    except AccessDenied:
        raise web.HTTPForbidden(text="forbidden\n") from None
    except BuildFailed as exc:
        log.warning("http: %s for %s: %s", name, client[0], exc.reason)
        raise web.HTTPInternalServerError(text="file could not be built\n") from None
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store"}
    size = len(content)
    try:
        span = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"}) from None
    if span is None:
        response = web.Response(body=content, headers=headers, content_type="application/octet-stream")
        on_served = request.app.get(_ON_SERVED)
        if on_served is not None and request.method == "GET":
            # Send it all first: "served" means the body went out, not that it was built.
            await response.prepare(request)
            await response.write_eof()
            try:
                on_served(name, client, True)
            except Exception:  # the embedder's bug must not fail the transfer
                log.exception("http: completion callback failed")
        return response
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return web.Response(status=206, body=content[start:end], headers=headers, content_type="application/octet-stream")


def _counting(responses: Counter[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware counting responses by status (a few fixed codes: a metric label)."""

    @web.middleware
    async def count(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            responses[str(exc.status)] += 1
            raise
        except Exception:
            responses["500"] += 1
            raise
        responses[str(response.status)] += 1
        return response

    return count


def make_app(resolver: Resolver, on_served: OnServed | None = None,
             responses: Counter[str] | None = None,
             versioned: tuple[str, VersionedSource] | None = None) -> web.Application:
    """``responses``: counted by status, when given. ``versioned``: (path prefix such as
    ``"profiles/"``, source) for the files served with ETag/Last-Modified."""
    app = web.Application(middlewares=[_counting(responses)] if responses is not None else [])
    app[_RESOLVER] = resolver
    if on_served is not None:
        app[_ON_SERVED] = on_served
    if versioned is not None:
        prefix = versioned[0].strip("/")
        app[_VERSIONED] = (prefix + "/", versioned[1])
        app.router.add_get(f"/{prefix}/{{name:[^/]+}}", _serve_versioned)
    # GET serves HEAD too (aiohttp sends the headers only), with the same Content-Length.
    app.router.add_get("/{name:.+}", _serve)
    return app


def make_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class _HeadDeadline(asyncio.Protocol):
    """Sits in front of aiohttp's protocol and closes the connection when the
    first request head is not complete ``timeout`` seconds after connecting.
    (aiohttp's keep-alive timer, set to the same value, covers the requests
    after the first: it closes a connection idle or mid-head that long after a
    response. Older aiohttp releases do not arm it before the first request.)"""

    def __init__(self, inner: asyncio.Protocol, timeout: float, on_cut: Callable[[], None]) -> None:
        self._inner = inner
        self._timeout = timeout
        self._on_cut = on_cut
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._cut)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if any(end in seen for end in _HEAD_END):
                self._timer.cancel()
                self._timer = None
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def _cut(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._on_cut()
            self._transport.close()


async def listen(runner: web.AppRunner, host: str, port: int, header_timeout: float, *,
                 ssl_context: ssl.SSLContext | None = None, on_cut: Callable[[], None] = lambda: None) -> asyncio.Server:
    """Serve a set-up aiohttp runner on host:port, each connection behind a
    request-head deadline (the delivery server and the operators' API both
    face clients that may open connections and never finish a request)."""
    handler = runner.server
    assert handler is not None, "runner not set up"

    def protocol() -> asyncio.Protocol:
        return _HeadDeadline(handler(), header_timeout, on_cut)

    return await asyncio.get_running_loop().create_server(protocol, host, port, ssl=ssl_context)


@dataclass
class HttpServer:
    """The aiohttp app on one address; ``await start()``, ``await close()``."""

    resolver: Resolver
    host: str = "127.0.0.1"
    port: int = 80
    ssl_context: ssl.SSLContext | None = None
    #: Called with (file name, client, True) once a whole file has been sent.
    on_served: OnServed | None = None
    #: Seconds a client has to send its request head (see the module's doc).
    header_timeout: float = HEADER_TIMEOUT
    #: Connections closed because their request head did not come in time.
    cut_off: int = 0
    #: Responses by status code (text: "200", "404" ...).
    responses: Counter[str] = field(default_factory=Counter)
    #: (path prefix, source) of the files served with validators (phone profiles).
    versioned: tuple[str, VersionedSource] | None = None
    _runner: web.AppRunner | None = None
    _server: asyncio.Server | None = field(default=None, repr=False)

    async def start(self) -> None:
        if not self.header_timeout > 0:
            raise ValueError(f"header_timeout must be positive, not {self.header_timeout!r}")
        self._runner = web.AppRunner(make_app(self.resolver, self.on_served, self.responses, self.versioned), access_log=None,
                                     keepalive_timeout=self.header_timeout)
        await self._runner.setup()
        self._server = await listen(self._runner, self.host, self.port, self.header_timeout, ssl_context=self.ssl_context,
                                    on_cut=self._count_cut)

    def _count_cut(self) -> None:
        self.cut_off += 1

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "server not started"
        for sock in self._server.sockets:
            host, port = sock.getsockname()[:2]
            return host, port
        raise RuntimeError("not listening")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()  # closes the open connections
            self._runner = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
