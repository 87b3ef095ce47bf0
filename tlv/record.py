"""Slotted value classes without the ``dataclasses`` module.

``pktcable compile`` of one file imports the codecs in a fresh process every
time. ``import dataclasses`` (which pulls in ``inspect``, ``ast``, ``dis``
and ``tokenize``) and the methods it generates with ``exec`` for each
decorated class cost about a tenth of such a cold compile, so the value
classes on that path spell out their ``__init__`` and take repr, equality
and ``replace`` from these bases, with the semantics the dataclasses had:
equality compares the fields in order between instances of the same class,
a mutable record is unhashable, a frozen one hashes its compared fields and
refuses assignment.
"""

from __future__ import annotations

# typing is imported only by the checker: on the compile path it would cost a
# cold process as much as its own keyword tables (tests/test_coldstart.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    R = TypeVar("R", bound="Record")


class Record:
    """Fields are the subclass's ``__slots__``; those starting with ``_`` stay
    out of the repr. ``_uncompared`` names fields equality ignores."""

    __slots__: tuple[str, ...] = ()
    _uncompared: ClassVar[frozenset[str]] = frozenset()

    def _compared(self) -> tuple[Any, ...]:
        skip = self._uncompared
        return tuple(getattr(self, name) for name in self.__slots__ if name not in skip)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._compared() == other._compared()

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if not name.startswith("_"))
        return f"{type(self).__qualname__}({fields})"

    def replace(self: R, **changes: Any) -> R:
        """A copy with ``changes`` (what ``dataclasses.replace`` did)."""
        values = {name: getattr(self, name) for name in self.__slots__ if not name.startswith("_")}
        return type(self)(**{**values, **changes})


class IdentityRecord(Record):
    """A record compared and hashed by identity (a tree node)."""

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:  # type: ignore[override]
        return object.__hash__(self)


class FrozenRecord(Record):
    """An immutable record: ``__init__`` sets fields with ``object.__setattr__``."""

    __slots__: tuple[str, ...] = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._compared())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle: through __init__ (its parameters are the slots, in order).
        return type(self), tuple(getattr(self, name) for name in self.__slots__)
