"""The firmware catalogue's images as a :class:`~pktcable.delivery.resolvers.Resolver`:
TFTP and HTTP serve each catalogued image by its filename, read-only, to any client the
server's per-source limits let in (firmware is no secret: it is signed, not private)."""

from __future__ import annotations

from pktcable.store.firmware import FirmwareStore

from .resolvers import Address, NotFound


class CatalogueResolver:
    def __init__(self, store: FirmwareStore) -> None:
        self.store = store

    def resolve(self, name: str, client: Address) -> bytes:
        data = self.store.data(name.lstrip("/"))  # TFTP clients often ask for "/name"
        if data is None:
            raise NotFound(name, "not in the firmware catalogue")
        return data
