"""The compiler's view of the MIBs: names <-> OIDs and enum labels.

Loads the OID registry only when a config actually names an object, so a
config with numeric OIDs never pays for it.
"""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from mibs import Registry


def _numeric(text: str) -> tuple[int, ...] | None:
    digits = text[1:] if text.startswith(".") else text
    if not digits or not (digits[0].isdigit()):
        return None
    try:
        return tuple(int(a) for a in digits.split("."))
    except ValueError:
        return None


class MibContext:
    """Implements tlv.model.OidContext on top of a mibs.Registry."""

    def __init__(self, numeric: bool = False, mib_dirs: Sequence[str] = (), registry: Registry | None = None) -> None:
        self.numeric = numeric
        self._mib_dirs = list(mib_dirs)
        self._registry = registry
        # A batch names the same objects in every file: resolve each once.
        self._resolved: dict[str, tuple[int, ...]] = {}

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from pktcable.mibdata import default_registry

            reg = default_registry()
            if self._mib_dirs:
                from .mibcache import load_user_mibs

                reg = reg.with_records(load_user_mibs(self._mib_dirs))
            self._registry = reg
        return self._registry

    def resolve_oid(self, text: str) -> tuple[int, ...]:
        arcs = self._resolved.get(text)
        if arcs is None:
            arcs = _numeric(text)
            if arcs is None or len(arcs) < 2:
                arcs = self.registry.resolve(text)
            self._resolved[text] = arcs
        return arcs

    def format_oid(self, oid: tuple[int, ...]) -> str:
        if self.numeric:
            return "." + ".".join(map(str, oid))
        return self.registry.format(oid)

    def _object(self, oid: tuple[int, ...]):  # type: ignore[no-untyped-def]
        obj = self.registry.lookup(oid)
        # Only a scalar/column instance carries the object's enums.
        return obj if obj is not None and obj.oid == oid[: len(obj.oid)] else None

    def enum_value(self, oid: tuple[int, ...], label: str) -> int | None:
        obj = self._object(oid)
        return obj.enum_value(label) if obj is not None else None

    def check_varbind(self, oid: tuple[int, ...], tag: int, type_name: str, value: object) -> list[tuple[str, str]]:
        """Problems of a SET of ``value`` to ``oid`` under the object's MIB
        constraints, each as (what it concerns: "oid", "type" or "value",
        message).  Nothing for an OID no loaded MIB defines."""
        from mibs.constraints import index_problems, value_problem

        obj = self._object(oid)
        if obj is None or obj.syntax is None:
            return []
        found = [("oid", text) for text in index_problems(obj, oid[len(obj.oid):])]
        problem = value_problem(obj, tag, type_name, value)
        if problem is not None:
            found.append(("type" if problem.endswith(f"not {type_name}") else "value", problem))
        return found

    def enum_label(self, oid: tuple[int, ...], value: int) -> str | None:
        if self.numeric:
            return None
        obj = self._object(oid)
        return obj.enum_label(value) if obj is not None else None
