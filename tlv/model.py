"""The shapes every schema table is made of.

A schema is a tree of :class:`SubTable` objects. Each row (:class:`TlvDef`)
is one TLV type: its code, its keyword in the config language, how its value
is encoded (a :class:`ValueType`) or, for an aggregate, the named sub-table of
its children, its limits and the spec section it comes from. Sub-tables are
named and shared: the classifier encodings hang under TLV 22, 23 and 60 as
the very same object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from .record import FrozenRecord, Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # the checker's structural type; at run time a plain base (nothing isinstance-checks it)


class OidContext(Protocol):
    """What a value type may ask of its surroundings: OID names both ways.

    The compiler passes one in (backed by the MIB registry); codecs never load
    MIBs themselves.
    """

    numeric: bool

    def resolve_oid(self, text: str) -> tuple[int, ...]:
        """``sysName.0``, ``.1.3.6.1...``, ``MODULE::name.'idx'`` -> arcs.

        Raises ValueError with a user-facing reason when it cannot.
        """
        ...

    def format_oid(self, oid: tuple[int, ...]) -> str:
        """Arcs -> the shortest unambiguous name (or dotted form when numeric)."""
        ...


class ValueType:
    """Codec of one kind of TLV value, in both directions and both forms.

    - ``parse(text, ctx)``: the value as written in a config (everything
      between the keyword and ``;``, stripped) -> a Python value. Raises
      ValueError with a reason a user can act on.
    - ``encode(value)`` -> bytes; ``decode(data)`` -> value, raising
      ValueError when the bytes do not fit this type (the caller then keeps
      them raw, so nothing is lost).
    - ``format(value, ctx)`` -> text that ``parse`` reads back to an equal value.
    - ``measure(value)`` -> the number the row's low/high limits apply to
      (the integer itself for numbers, the length for strings and bytes), or
      None when limits do not apply.

    Invariant, checked by the property tests: for every ``b`` that
    ``decode`` accepts, ``encode(decode(b)) == b``.
    """

    name: str = "value"

    def parse(self, text: str, ctx: OidContext | None = None) -> Any:
        raise ValueError(f"{self.name}: cannot be written in text")

    def encode(self, value: Any) -> bytes:
        raise ValueError(f"{self.name}: cannot be encoded")

    def decode(self, data: bytes) -> Any:
        raise ValueError(f"{self.name}: cannot be decoded")

    def format(self, value: Any, ctx: OidContext | None = None) -> str:
        return str(value)

    def measure(self, value: Any) -> int | None:
        return None

    def problems(self, value: Any, ctx: OidContext | None) -> list[tuple[str, str]]:
        """What is wrong with a parsed value that still encodes, judged by
        what ``ctx`` knows (MIB constraints of an SNMP object): (part of
        the statement it concerns, message) pairs; usually none."""
        return []

    def minimal_ber(self, value: Any) -> Any:
        """``value`` set to encode its BER lengths minimally (compile
        ``--minimal-ber``); only SNMP objects have another form."""
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class TlvDef(FrozenRecord):
    """One row of a schema table.

    ``vtype`` is None for an aggregate, whose children are ``children``.
    ``low``/``high`` bound ``vtype.measure(value)`` (None = unchecked).
    ``spec`` is the section that defines the TLV, e.g. "MULPIv3.0 C.2.2.5.7".
    """

    __slots__ = ("code", "name", "vtype", "children", "low", "high", "spec")
    code: int
    name: str
    vtype: ValueType | None
    children: SubTable | None
    low: int | None
    high: int | None
    spec: str

    def __init__(self, code: int, name: str, vtype: ValueType | None = None, children: SubTable | None = None,
                 low: int | None = None, high: int | None = None, spec: str = "") -> None:
        setattr_ = object.__setattr__
        setattr_(self, "code", code)
        setattr_(self, "name", name)
        setattr_(self, "vtype", vtype)
        setattr_(self, "children", children)
        setattr_(self, "low", low)
        setattr_(self, "high", high)
        setattr_(self, "spec", spec)

    @property
    def is_aggregate(self) -> bool:
        return self.children is not None

    def check_range(self, value: Any) -> str | None:
        """None when ``value`` is within limits, else the reason it is not."""
        if self.vtype is None or (self.low is None and self.high is None):
            return None
        n = self.vtype.measure(value)
        if n is None:
            return None
        if self.low is not None and n < self.low or self.high is not None and n > self.high:
            what = "value" if isinstance(value, int) and not isinstance(value, bool) else "length"
            return f"{self.name}: {what} {n} outside {self.low}..{self.high}"
        return None


class SubTable(Record):
    """A named table of TLV rows: the children of one or more aggregates.

    ``rows`` may be filled after creation (``extend``) so that tables can
    refer to each other; lookups are by code and by keyword.

    A table can also stand for one that a module defines (``deferred``):
    its rows are read by importing that module the first time they are
    needed, which fills this very object. A compile imports only the
    schema modules of the blocks its file uses (Python compiles each
    module's source on a start without cached byte code).
    """

    __slots__ = ("name", "_rows", "_vendor_scope", "_by_code", "_by_name", "_module")
    name: str
    _rows: list[TlvDef]
    _vendor_scope: int | None
    _by_code: dict[int, TlvDef]
    _by_name: dict[str, TlvDef]
    _module: str | None  # the module that defines the rows, until they are read

    def __init__(self, name: str, rows: Iterable[TlvDef] = (), vendor_scope: int | None = None) -> None:
        self.name = name
        self._rows = []
        self._vendor_scope = vendor_scope
        self._by_code = {}
        self._by_name = {}
        self._module = None
        self.extend(rows)

    @classmethod
    def deferred(cls, name: str, module: str) -> SubTable:
        """The table ``name`` defined by ``module``, not read yet."""
        table = cls(name)
        table._module = module
        return table

    @property
    def pending(self) -> bool:
        """Its rows are still to be read from its module."""
        return self._module is not None

    def fill(self, rows: Iterable[TlvDef], vendor_scope: int | None) -> None:
        """Give a deferred table its rows (what its module does)."""
        if self._module is None:
            raise ValueError(f"two different sub-tables are named {self.name}")
        self._vendor_scope = vendor_scope
        self.extend(rows)
        # Last: another thread that sees the table filled finds every row.
        self._module = None

    def _load(self) -> None:
        module = self._module
        assert module is not None
        import importlib

        importlib.import_module(module)
        if self._module is not None:
            raise LookupError(f"{module} does not define the sub-table {self.name}")

    @property
    def rows(self) -> list[TlvDef]:
        if self._module is not None:
            self._load()
        return self._rows

    @property
    def vendor_scope(self) -> int | None:
        """Code of a vendor-ID child (43.8). When present with a vendor other than
        DOCSIS's 0xFFFFFF, the other children are that vendor's and are kept
        raw instead of being read with the DOCSIS meanings of their codes."""
        if self._module is not None:
            self._load()
        return self._vendor_scope

    def _compared(self) -> tuple[Any, ...]:
        return self.name, self.rows, self.vendor_scope

    def __repr__(self) -> str:
        return f"SubTable(name={self.name!r}, rows={self.rows!r}, vendor_scope={self.vendor_scope!r})"

    def replace(self, **changes: Any) -> SubTable:
        values = {"name": self.name, "rows": self.rows, "vendor_scope": self.vendor_scope, **changes}
        return SubTable(**values)

    def extend(self, rows: Iterable[TlvDef]) -> SubTable:
        for row in rows:
            self._rows.append(row)
            # The first row wins for a code; duplicate keywords are a table bug.
            self._by_code.setdefault(row.code, row)
            key = row.name.lower()
            if key in self._by_name:
                raise ValueError(f"{self.name}: keyword {row.name} twice")
            self._by_name[key] = row
        return self

    def by_code(self, code: int) -> TlvDef | None:
        if self._module is not None:
            self._load()
        return self._by_code.get(code)

    def by_name(self, name: str) -> TlvDef | None:
        """Keywords are case-insensitive, as in the reference language."""
        if self._module is not None:
            self._load()
        return self._by_name.get(name.lower())

    def __iter__(self) -> Iterator[TlvDef]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def sub(name: str, rows: Sequence[TlvDef], *, vendor_scope: int | None = None) -> SubTable:
    """Build a named sub-table from rows (the schema modules' shorthand)."""
    return SubTable(name, list(rows), vendor_scope)


_PLACES: dict[int, dict[str, list[str]]] = {}


def keyword_places(root: SubTable) -> dict[str, list[str]]:
    """Lower-case keyword -> the blocks it is valid in, for error hints."""
    places = _PLACES.get(id(root))
    if places is None:
        places = {}
        seen: set[int] = set()

        def walk(table: SubTable, block: str) -> None:
            for row in table.rows:
                where = places.setdefault(row.name.lower(), [])
                if block not in where:
                    where.append(block)
                if row.children is not None and id(row.children) not in seen | {id(table)}:
                    seen.add(id(row.children))
                    walk(row.children, row.name)
                elif row.children is not None:
                    # A shared table: note this parent too without walking again.
                    for child in row.children.rows:
                        where2 = places.setdefault(child.name.lower(), [])
                        if row.name not in where2:
                            where2.append(row.name)

        walk(root, "Main")
        _PLACES[id(root)] = places
    return places
