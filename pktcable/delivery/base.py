"""What every resolver shares: the client address, the errors a name can get, the
:class:`Resolver` protocol, and :func:`peek` (HTTP HEAD). Apart from
:mod:`pktcable.delivery.resolvers` so that the one-time names
(:mod:`pktcable.delivery.onetime`) and the other resolvers can both build on it;
``resolvers`` re-exports every name here.
"""

from __future__ import annotations

from typing import Protocol

Address = tuple[str, int]


class ResolveError(Exception):
    """Root of the resolvers' errors; ``name`` is the requested file name."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name!r}: {reason}")


class NotFound(ResolveError):
    """No such file for this client (TFTP error 1, HTTP 404)."""


class AccessDenied(ResolveError):
    """The name is refused: traversal, absolute path, wrong client (TFTP error 2, HTTP 403)."""


class BuildFailed(ResolveError):
    """The file exists in principle but could not be built (TFTP error 0, HTTP 500)."""


class Resolver(Protocol):
    def resolve(self, name: str, client: Address) -> bytes:
        """The content of ``name`` for ``client``; raises a :class:`ResolveError` subclass."""
        ...


def peek(resolver: Resolver, name: str, client: Address) -> bytes:
    """What ``resolve`` would give, without spending anything (HTTP HEAD).

    A resolver whose answers have side effects (one-time names) has a ``peek``
    method; for every other one resolving is already side-effect free.
    """
    look = getattr(resolver, "peek", None)
    return look(name, client) if look is not None else resolver.resolve(name, client)

