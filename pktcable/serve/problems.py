"""Errors of the operators' API as RFC 9457 problem details.

Every error the API answers, its own and aiohttp's (an unknown path, a method a
path does not take, a body past the size limit), is ``application/problem+json``:

    {"type": "urn:pktcable:problem:not-found", "title": "Not Found", "status": 404,
     "detail": "no device 001122334455", "code": "not-found"}

``code`` is a stable machine word a client may branch on; ``detail`` is for people.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus

from aiohttp import web

log = logging.getLogger("pktcable.serve.api")
PROBLEM_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:pktcable:problem:"
#: The code of an aiohttp error that carries none of ours, by status.
CODES = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
         406: "not-acceptable", 409: "conflict", 413: "too-large", 415: "unsupported-media-type",
         421: "bad-host", 431: "too-large", 500: "internal-error", 503: "unavailable", 504: "no-answer"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Problem(Exception):
    """Raised anywhere below a handler: the request ends with this problem."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return problem_response(self.status, self.code, self.detail, self.headers)


def problem_response(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"type": TYPE_PREFIX + code, "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
            "code": code}
    return web.Response(status=status, text=json.dumps(body), content_type=PROBLEM_TYPE, headers=headers)


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", detail)


def bad_request(detail: str) -> Problem:
    return Problem(400, "bad-request", detail)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Our problems, aiohttp's HTTP errors and any bug as problem details."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # a redirect or a success raised as an exception is no error
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 405:
            detail = f"{request.method} is not allowed here (allowed: {exc.headers.get('Allow', '')})"
        elif exc.status == 404:
            detail = f"nothing at {request.path}"
        return problem_response(exc.status, CODES.get(exc.status, "error"), detail, headers)
    except Exception:
        log.exception("API bug answering %s %s", request.method, request.path)
        return problem_response(500, "internal-error", "the server failed to answer; the error is logged")
