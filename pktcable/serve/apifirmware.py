"""``/api/v1/firmware``: the firmware catalogue (pktcable/store/firmware.py) listed, looked
at, added to and pruned.

An upload is the image itself as the body, ``Content-Type: application/octet-stream``,
with its catalogue fields in the query (``filename``, ``vendor``, ``model``,
``hw_version``, ``version``): the bytes go to the store as they came, with no multipart
parser between a 50 MB image and the disk, and a browser page on another site still
cannot send that type without a CORS preflight (which this API never grants). The body is
read up to the ``firmware_max_bytes`` setting and no further (413 beyond). The store's
writes (an fsync of the whole image) run in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from pktcable.store.firmware import Duplicate, FirmwareError, make_image, signature_status

from .api import audit, office_of
from .apidevices import known_params, query_text
from .problems import Problem, bad_request, not_found

#: The upload's catalogue fields, all required, in the query string.
FIELDS = ("filename", "vendor", "model", "hw_version", "version")
BINARY = "application/octet-stream"
_CHUNK = 256 * 1024


async def list_firmware(request: web.Request) -> web.Response:
    known_params(request, ())
    images = await asyncio.to_thread(office_of(request).firmware().list)
    return web.json_response({"items": [i.to_json() for i in images]})


async def get_firmware(request: web.Request) -> web.Response:
    name = request.match_info["filename"]
    image = await asyncio.to_thread(office_of(request).firmware().get, name)
    if image is None:
        raise not_found(f"no firmware image {name!r}")
    return web.json_response(image.to_json())


async def _body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, "too-large", f"the image is {request.content_length} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:  # a chunked body has no Content-Length to refuse it by
            raise Problem(413, "too-large", f"the image is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def add_firmware(request: web.Request) -> web.Response:
    known_params(request, FIELDS)
    if request.content_type != BINARY:
        raise Problem(415, "unsupported-media-type", f"the image must be sent as {BINARY}")
    fields: dict[str, Any] = {}
    for name in FIELDS:
        fields[name] = query_text(request, name)
        if fields[name] is None:
            raise bad_request(f"{name} is required (in the query string)")
    office = office_of(request)
    limit = office.firmware_limit()
    data = await _body(request, limit)
    status = await asyncio.to_thread(signature_status, data, office.firmware_trust(), None)
    try:
        image = make_image(fields["filename"], fields["vendor"], fields["model"], fields["hw_version"],
                           fields["version"], data, status, time.time(), max_bytes=limit)
        await asyncio.to_thread(office.firmware().add, image, data)
    except Duplicate as exc:
        raise Problem(409, "conflict", str(exc)) from None
    except FirmwareError as exc:
        raise bad_request(str(exc)) from None
    audit(request, "firmware.add", image.filename, None, image.to_json())
    return web.json_response(image.to_json(), status=201)


async def delete_firmware(request: web.Request) -> web.Response:
    name = request.match_info["filename"]
    store = office_of(request).firmware()
    before = await asyncio.to_thread(store.get, name)
    if before is None:
        raise not_found(f"no firmware image {name!r}")
    # A rule's target, or the image its rollback returns to: devices would be sent for a
    # file that is gone. Change or remove the rule first.
    users = [r.name for r in await asyncio.to_thread(store.rules) if name in (r.target, r.previous)]
    if users:
        raise Problem(409, "conflict", f"{name!r} is the target or rollback image of firmware rule "
                      f"{', '.join(users)}; change or remove the rule first")
    if not await asyncio.to_thread(store.delete, name):
        raise not_found(f"no firmware image {name!r}")
    audit(request, "firmware.delete", name, before.to_json(), None)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    router.add_get(f"{prefix}/firmware", list_firmware)
    router.add_post(f"{prefix}/firmware", add_firmware)
    router.add_get(f"{prefix}/firmware/{{filename}}", get_firmware)
    router.add_delete(f"{prefix}/firmware/{{filename}}", delete_firmware)
