"""``/api/v1/firmware``: the catalogue over the operators' API, every answer checked against
the OpenAPI document (tests/apiclient.py)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from pktcable.firmware.codefile import CvcTrust
from pktcable.store.firmware import FirmwareStore, MemoryFirmwareStore

from .apiclient import serving
from .test_api import FakeOffice

IMAGE = bytes(range(256)) * 300 + b"image 1.0"
QUERY = "filename=ex-1.0.bin&vendor=Example%20Vendor&model=EX-100&hw_version=2&version=1.0"
BINARY = {"Content-Type": "application/octet-stream"}


class CatalogueOffice(FakeOffice):
    __slots__ = ("catalogue", "limit")

    def __init__(self, limit: int = 1 << 20) -> None:
        super().__init__()
        self.catalogue = MemoryFirmwareStore()
        self.limit = limit

    def firmware(self) -> FirmwareStore:
        return self.catalogue

    def firmware_trust(self) -> CvcTrust | None:
        return None

    def firmware_limit(self) -> int:
        return self.limit


def test_upload_list_get_delete_and_audit() -> None:
    office = CatalogueOffice()

    async def main() -> None:
        async with serving(office) as (call, admin):
            status, added = await call("POST", f"/api/v1/firmware?{QUERY}", data=IMAGE, headers=BINARY)
            assert status == 201, added
            assert added["size"] == len(IMAGE) and added["sha256"] == hashlib.sha256(IMAGE).hexdigest()
            assert added["signature"] == "unsigned"
            assert office.catalogue.data("ex-1.0.bin") == IMAGE
            status, listed = await call("GET", "/api/v1/firmware")
            assert status == 200 and [i["filename"] for i in listed["items"]] == ["ex-1.0.bin"]
            status, one = await call("GET", "/api/v1/firmware/ex-1.0.bin")
            assert status == 200 and one == added
            status, again = await call("POST", f"/api/v1/firmware?{QUERY}", data=IMAGE, headers=BINARY)
            assert status == 409 and again["code"] == "conflict"
            status, _ = await call("DELETE", "/api/v1/firmware/ex-1.0.bin")
            assert status == 204 and office.catalogue.list() == []
            status, gone = await call("GET", "/api/v1/firmware/ex-1.0.bin")
            assert status == 404
            status, _ = await call("DELETE", "/api/v1/firmware/ex-1.0.bin")
            assert status == 404
            status, log = await call("GET", "/api/v1/audit")
            actions = [(e["action"], e["target"]) for e in log["items"]]
            assert actions[:2] == [("firmware.delete", "ex-1.0.bin"), ("firmware.add", "ex-1.0.bin")]

    asyncio.run(main())


def test_bad_uploads_refused_with_reasons() -> None:
    office = CatalogueOffice(limit=1000)

    async def post(call: Any, query: str, data: bytes, headers: dict[str, str] = BINARY) -> tuple[int, Any]:
        result: tuple[int, Any] = await call("POST", f"/api/v1/firmware?{query}", data=data, headers=headers)
        return result

    async def main() -> None:
        async with serving(office) as (call, admin):
            status, why = await post(call, QUERY, b"x" * 1001)
            assert status == 413 and "1001" in why["detail"]
            status, why = await post(call, QUERY, b"x", {"Content-Type": "application/json"})
            assert status == 415
            status, why = await post(call, QUERY, b"x", {"Content-Type": "text/plain"})
            assert status == 415
            status, why = await post(call, QUERY.replace("ex-1.0.bin", "..%2Fx"), b"x")
            assert status == 400 and "filename" in why["detail"]
            status, why = await post(call, QUERY.replace("&version=1.0", ""), b"x")
            assert status == 400 and "version is required" in why["detail"]
            status, why = await post(call, QUERY + "&extra=1", b"x")
            assert status == 400 and "extra" in why["detail"]
            status, why = await post(call, QUERY, b"")
            assert status == 400 and "empty" in why["detail"]
            reader = admin.create("bob", "read")
            status, why = await call("POST", f"/api/v1/firmware?{QUERY}", data=b"x", headers=BINARY, token=reader)
            assert status == 403
            status, listed = await call("GET", "/api/v1/firmware", token=reader)
            assert status == 200 and listed == {"items": []}
            # Bytes go to the firmware upload only: another route still wants JSON.
            status, why = await call("PUT", "/api/v1/devices/001122334455", data=b"{}", headers=BINARY)
            assert status == 415
        assert office.catalogue.list() == []

    asyncio.run(main())


def test_chunked_upload_over_the_limit_refused() -> None:
    office = CatalogueOffice(limit=1000)

    async def chunks() -> Any:
        for _ in range(5):
            yield b"y" * 400

    async def main() -> None:
        async with serving(office) as (call, _):
            status, why = await call("POST", f"/api/v1/firmware?{QUERY}", data=chunks(), headers=BINARY)
            assert status == 413, why
        assert office.catalogue.list() == []

    asyncio.run(main())
