"""Calling the operators' API in tests: a client that sends a token and checks
every answer against the OpenAPI document's schema for its path, method and status."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from openapi_schema_validator import OAS31Validator

from pktcable.delivery.http import listen
from pktcable.serve import api
from pktcable.serve.apiauth import Access, allowed_hosts
from pktcable.serve.apiviews import openapi_document
from pktcable.serve.office import Office
from pktcable.store.admin import AdminStore

PREFIX = "/api/v1"


@cache
def document() -> dict[str, Any]:
    return json.loads(openapi_document())  # type: ignore[no-any-return]


def operation(method: str, path: str) -> dict[str, Any] | None:
    """The document's operation for a request path (without its query), or None: not an API path."""
    if not path.startswith(PREFIX):
        return None
    rest = path[len(PREFIX):]
    for template, item in document()["paths"].items():
        pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, rest):
            found = item.get(method.lower())
            assert found is not None, f"{method} {path}: not in the OpenAPI document"
            return found  # type: ignore[no-any-return]
    raise AssertionError(f"{path}: no path of the OpenAPI document matches")


def check_response(method: str, path: str, status: int, content_type: str, body: Any) -> None:
    """The response is one the document declares, and its body fits the declared schema."""
    if content_type == "application/problem+json":
        assert set(body) >= {"type", "title", "status", "detail", "code"} and body["status"] == status, body
    op = operation(method, path.split("?")[0])
    if op is None:
        return
    declared = op["responses"].get(str(status))
    assert declared is not None, f"{method} {path}: status {status} is not in the OpenAPI document ({body!r})"
    if "$ref" in declared:
        declared = document()["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    if "content" not in declared:
        assert body in ("", None), body
        return
    assert content_type in declared["content"], f"{method} {path} {status}: {content_type} not declared"
    schema = {**declared["content"][content_type]["schema"], "components": document()["components"]}
    OAS31Validator(schema).validate(body)


class Client:
    """call(method, path, token=..., **aiohttp kwargs) -> (status, body); JSON bodies decoded."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None) -> None:
        self.http, self.base, self.token = http, base, token
        self.last_headers: Any = None

    async def __call__(self, method: str, path: str, *, token: str | None | bool = True,
                      headers: dict[str, str] | None = None, **kw: Any) -> tuple[int, Any]:
        sent = dict(headers or {})
        chosen = self.token if token is True else token if isinstance(token, str) else None
        if chosen is not None:
            sent.setdefault("Authorization", f"Bearer {chosen}")
        async with self.http.request(method, self.base + path, headers=sent, **kw) as r:
            self.last_headers = r.headers
            raw = await r.read()
            if r.content_type in ("application/json", "application/problem+json"):
                body: Any = json.loads(raw)
            else:
                body = raw.decode("utf-8", "replace")
            check_response(method, path, r.status, r.content_type, body if raw or r.content_type != "" else "")
            return r.status, body


@asynccontextmanager
async def serving(office: Office, admin: AdminStore | None = None, *, hosts: tuple[str, ...] = (),
                  metrics_open: bool = False, ssl_context: Any = None) -> AsyncIterator[tuple[Client, AdminStore]]:
    """make_api(office) on a loopback port; the client holds an operator token."""
    admin = admin or AdminStore(":memory:")
    token = admin.create("alice", "operator")
    access = Access(admin, allowed_hosts("127.0.0.1", hosts), metrics_open)
    runner = web.AppRunner(api.make_api(office, access), access_log=None)
    await runner.setup()
    server = await listen(runner, "127.0.0.1", 0, 30.0, ssl_context=ssl_context)
    scheme = "https" if ssl_context is not None else "http"
    base = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with aiohttp.ClientSession() as http:
            yield Client(http, base, token), admin
    finally:
        server.close()
        await runner.cleanup()


def data_dir_token(data_dir: str | Path, role: str = "operator", name: str = "tests") -> str:
    """A token in a serve data folder's admin.db, made as `pktcable token create` makes it."""
    from pktcable.serve import datadir
    from pktcable.store.admin import ADMIN_FILE

    folder = datadir.prepare(data_dir)
    admin = AdminStore(str(datadir.private_file(folder / ADMIN_FILE)))
    try:
        return admin.create(name, role)
    finally:
        admin.close()


def demo_token(line: str) -> str | None:
    """The token in serve's ``dashboard <url>#token=<token>`` line (--memory, --demo), else None."""
    if not line.startswith("dashboard ") or "#token=" not in line:
        return None
    return line.split("#token=", 1)[1].strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
