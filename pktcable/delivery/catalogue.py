"""The firmware catalogue's images as a :class:`~pktcable.delivery.resolvers.Resolver`:
TFTP and HTTP serve each catalogued image by its filename, read-only, to any client the
server's per-source limits let in (firmware is no secret: it is signed, not private).

A boot storm asks for one image thousands of times: the resolver keeps the images it
served last in memory (bounded by ``cache_bytes``), keyed by their SHA-256 in the
catalogue, so each request costs one row lookup and a changed image (deleted and added
again) is read anew. An image read from the store is checked against the catalogue's
SHA-256 before it is served: a file damaged or swapped on disk is refused, never sent.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from pktcable.store.firmware import FirmwareStore

from .resolvers import Address, BuildFailed, NotFound

#: Image bytes kept in memory at most (a few cable modem images).
CACHE_BYTES = 256 * 1024 * 1024


class CatalogueResolver:
    def __init__(self, store: FirmwareStore, cache_bytes: int = CACHE_BYTES) -> None:
        self.store = store
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._held = 0

    def resolve(self, name: str, client: Address) -> bytes:
        filename = name.lstrip("/")  # TFTP clients often ask for "/name"
        image = self.store.get(filename)
        if image is None:
            raise NotFound(name, "not in the firmware catalogue")
        cached = self._cache.get(filename)
        if cached is not None and cached[0] == image.sha256:
            self._cache.move_to_end(filename)
            return cached[1]
        data = self.store.data(filename)
        if data is None:
            raise NotFound(name, "not in the firmware catalogue")
        if hashlib.sha256(data).hexdigest() != image.sha256:
            raise BuildFailed(name, "the stored image does not match its catalogued SHA-256")
        self._remember(filename, image.sha256, data)
        return data

    def _remember(self, filename: str, sha256: str, data: bytes) -> None:
        old = self._cache.pop(filename, None)
        if old is not None:
            self._held -= len(old[1])
        if len(data) > self.cache_bytes:
            return
        self._cache[filename] = (sha256, data)
        self._held += len(data)
        while self._held > self.cache_bytes:
            _, (_, dropped) = self._cache.popitem(last=False)
            self._held -= len(dropped)
