"""HTTP/1.1 delivery of config files and firmware from the same resolver as TFTP.

PacketCable lets the provisioning server point an MTA at an HTTP URL
(``pktcMtaDevConfigFile``), and firmware downloads resume with Range requests
(RFC 9110 §14). One range per request is served; a request for several ranges
gets the whole file with 200, which RFC 9110 §14.2 allows.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .resolvers import AccessDenied, BuildFailed, NotFound, Resolver

log = logging.getLogger("pktcable.delivery.http")

_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")
_RESOLVER = web.AppKey("resolver", Resolver)  # type: ignore[type-abstract]
OnServed = Callable[[str, tuple[str, int]], None] | Callable[[str, tuple[str, int], bool], None]
_ON_SERVED: web.AppKey[Callable[..., None]] = web.AppKey("on_served")


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
        content = resolver.resolve(name, client)
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


def make_app(resolver: Resolver, on_served: OnServed | None = None) -> web.Application:
    app = web.Application()
    app[_RESOLVER] = resolver
    if on_served is not None:
        app[_ON_SERVED] = on_served
    # GET serves HEAD too (aiohttp sends the headers only), with the same Content-Length.
    app.router.add_get("/{name:.+}", _serve)
    return app


def make_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class HttpServer:
    """The aiohttp app on one address; ``await start()``, ``await close()``."""

    resolver: Resolver
    host: str = "127.0.0.1"
    port: int = 80
    ssl_context: ssl.SSLContext | None = None
    #: Called with (file name, client, True) once a whole file has been sent.
    on_served: OnServed | None = None
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(make_app(self.resolver, self.on_served), access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await self._site.start()

    @property
    def address(self) -> tuple[str, int]:
        assert self._runner is not None, "server not started"
        for sock in self._runner.addresses:
            return sock[0], sock[1]
        raise RuntimeError("not listening")

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

