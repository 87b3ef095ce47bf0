"""The operators' dashboard: a static page (HTML, CSS, JavaScript modules
shipped in pktcable/serve/static/) that works through the API.

The files hold no data: the page asks the operator for an API token, keeps
it in the tab's sessionStorage and sends it as a Bearer header to
``/api/v1/...``. So serving them needs no token, and nothing the devices or
the store say ever reaches the HTML: the page writes API values with
``textContent`` only, and the Content-Security-Policy allows no inline
script or style, nothing from another origin, no frames and no forms posting
elsewhere, so an injected value could not run even if it reached the markup.

    GET /                  the page (client-side views: ``#/`` the devices,
                           ``#/device/<mac>`` one device's timeline)
    GET /static/{name}     its CSS and JavaScript (a fixed list: no file-system paths)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

#: What the page may do: its own scripts, styles and API, nothing else.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: Served under /static/, with their content types; any other name is a 404.
STATIC = {
    "app.css": "text/css",
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "devices.js": "text/javascript",
    "device.js": "text/javascript",
    "events.js": "text/javascript",
    "dom.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
INDEX = "index.html"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _load(name: str, content_type: str) -> Asset:
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def load_assets() -> dict[str, Asset]:
    """Every file of the page, read once from the package."""
    assets = {name: _load(name, kind) for name, kind in STATIC.items()}
    assets[INDEX] = _load(INDEX, "text/html")
    return assets


def _headers(asset: Asset) -> dict[str, str]:
    charset = "" if asset.content_type.startswith("image/") else "; charset=utf-8"
    return {
        "Content-Type": asset.content_type + charset,
        # Revalidated on every load (a 304 costs a round trip, not the file), so an
        # upgrade of the package reaches every operator's next page load.
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def _respond(request: web.Request, asset: Asset) -> web.Response:
    headers = _headers(asset)
    if asset.etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers=headers)


def add_dashboard(app: web.Application) -> None:
    """Register the page's routes on the operators' aiohttp app."""
    assets = load_assets()

    async def index(request: web.Request) -> web.Response:
        return _respond(request, assets[INDEX])

    async def static(request: web.Request) -> web.Response:
        asset = assets.get(request.match_info["name"]) if request.match_info["name"] != INDEX else None
        if asset is None:
            raise web.HTTPNotFound(text="no such file", headers={"X-Content-Type-Options": "nosniff"})
        return _respond(request, asset)

    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
