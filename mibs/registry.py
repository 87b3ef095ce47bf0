"""OID registry: SNMP object names <-> OIDs, with type, enum and index facts.

Pure module: no file, socket, clock or logging access.  The default data comes
from the generated ``mibs._data`` tables, loaded only when first needed (their
text read by the caller, see ``default_registry``, or the modules imported);
user definitions arrive as ready-made ``MibObject`` records.

The packed data is decoded lazily and piecemeal because a config compile
resolves a handful of names, and building full indexes for ~27k objects
would cost more than the whole interpreter start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import SimpleNamespace

from mibs.objects import _MAX_ARC, _MODULE_RE, _NAME_RE, MibError, MibObject
from mibs.packed import _Packed

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any

# --------------------------------------------------------------------------
# Parsing of textual OIDs


def _parse_suffix(text: str, pos: int, original: str) -> list[int]:
    """Parse ``.1.2.'abc'."def"`` starting at ``pos`` into arcs."""
    arcs: list[int] = []
    end = len(text)
    while pos < end:
        if text[pos] != ".":
            raise MibError(f"cannot parse {original!r}: expected '.' at position {pos + 1}")
        pos += 1
        if pos >= end:
            raise MibError(f"cannot parse {original!r}: trailing '.'")
        char = text[pos]
        if char in "'\"":
            close = text.find(char, pos + 1)
            if close < 0:
                raise MibError(f"cannot parse {original!r}: unterminated {char} quote")
            data = text[pos + 1:close].encode("utf-8")
            if char == '"':
                arcs.append(len(data))  # double quotes: length-prefixed string
            arcs.extend(data)
            pos = close + 1
            continue
        stop = pos
        while stop < end and text[stop].isdigit():
            stop += 1
        if stop == pos:
            raise MibError(
                f"cannot parse {original!r}: expected a number or a quoted string "
                f"at position {pos + 1}"
            )
        arc = int(text[pos:stop])
        if arc > _MAX_ARC:
            raise MibError(f"cannot parse {original!r}: sub-identifier {arc} exceeds 2^32-1")
        arcs.append(arc)
        pos = stop
    return arcs


# --------------------------------------------------------------------------
# Registry


LOOKUP_MEMO = 10_000  # OIDs whose lookup() is kept


class Registry:
    """Name <-> OID lookups over the default data plus optional user records."""

    def __init__(self, packed: _Packed | None, records: Iterable[MibObject] = ()) -> None:
        self._packed = packed
        # User records: first definition of a name wins among them, and they
        # all win over the packed defaults.
        self._user: list[MibObject] = list(records)
        self._user_names: dict[str, MibObject] = {}
        self._user_qualified: dict[tuple[str, str], MibObject] = {}
        self._user_oids: dict[tuple[int, ...], MibObject] = {}
        # lookup() by OID: a batch of config files sets the same instances in
        # every file, and the packed tree walk is the dear part of a lookup.
        self._looked_up: dict[tuple[int, ...], MibObject | None] = {}
        for obj in self._user:
            self._user_names.setdefault(obj.name, obj)
            self._user_qualified.setdefault((obj.module, obj.name), obj)
            self._user_oids.setdefault(obj.oid, obj)

    def with_records(self, records: Iterable[MibObject]) -> Registry:
        """A new registry with ``records`` layered over this one's definitions."""
        return Registry(self._packed, [*records, *self._user])

    # Lookups -------------------------------------------------------------

    def object(self, name: str) -> MibObject | None:
        """The object called ``name`` or ``MODULE::name``, or None."""
        module, sep, bare = name.rpartition("::")
        if sep:
            return self._qualified(module, bare)
        obj = self._user_names.get(name)
        if obj is not None or self._packed is None:
            return obj
        index = self._packed.find(name)
        return None if index is None else self._packed.obj(index)

    def _qualified(self, module: str, name: str) -> MibObject | None:
        obj = self._user_qualified.get((module, name))
        if obj is not None or self._packed is None:
            return obj
        index = self._packed.find_in_module(module, name)
        return None if index is None else self._packed.obj(index)

    def _oid_of(self, name: str) -> tuple[int, ...] | None:
        # Cheaper than object(): decodes only the OID of a packed record.
        obj = self._user_names.get(name)
        if obj is not None:
            return obj.oid
        if self._packed is None:
            return None
        index = self._packed.find(name)
        return None if index is None else self._packed.oid(index)

    def lookup(self, oid: Sequence[int]) -> MibObject | None:
        """The object whose OID is the longest prefix of ``oid``."""
        key = tuple(oid)
        try:
            return self._looked_up[key]
        except KeyError:
            pass
        found = self._lookup(key)
        if len(self._looked_up) >= LOOKUP_MEMO:
            self._looked_up.clear()
        self._looked_up[key] = found
        return found

    def _lookup(self, key: tuple[int, ...]) -> MibObject | None:
        packed: MibObject | None = None
        if self._packed is not None:
            index = self._packed.longest_prefix(key)
            if index is not None:
                packed = self._packed.obj(index)
        if self._user_oids:
            floor = len(packed.oid) if packed is not None else 0
            # User records win ties: they are layered on top.
            for length in range(len(key), max(floor, 1) - 1, -1):
                obj = self._user_oids.get(key[:length])
                if obj is not None:
                    return obj
        return packed

    def names(self) -> list[str]:
        """All known names (user names first; may contain duplicates)."""
        packed = self._packed.names() if self._packed is not None else []
        return [obj.name for obj in self._user] + packed

    # Text -> OID ---------------------------------------------------------

    def resolve(self, text: str) -> tuple[int, ...]:
        """OID of ``name[.index]``, ``MODULE::name[.index]`` or a dotted OID."""
        original = text
        text = text.strip()
        if not text:
            raise MibError("empty object name")
        if text[0] == "." or text[0].isdigit():
            arcs = _parse_suffix(text if text[0] == "." else "." + text, 0, original)
            if not arcs:
                raise MibError(f"cannot parse {original!r}: empty OID")
            return tuple(arcs)
        module = ""
        qualifier = _MODULE_RE.match(text)
        if qualifier is not None:
            module = qualifier.group(1)
            text = text[qualifier.end():]
        match = _NAME_RE.match(text)
        if match is None:
            raise MibError(f"cannot parse {original!r}: expected an object name")
        name = match.group()
        if module:
            obj = self._qualified(module, name)
            if obj is None:
                raise MibError(self._unknown_qualified(module, name))
            base = obj.oid
        else:
            found = self._oid_of(name)
            if found is None:
                raise MibError(self._unknown(name))
            base = found
        return base + tuple(_parse_suffix(text, match.end(), original))

    def _unknown(self, name: str) -> str:
        message = f"unknown object name {name!r} (not in the loaded MIB modules)"
        from mibs.textual import close_match  # deferred: only error messages need it

        hint = close_match(name, self.names())
        return message + (f"; did you mean {hint!r}?" if hint else "")

    def _unknown_qualified(self, module: str, name: str) -> str:
        known = module in self._modules()
        if not known:
            return f"unknown MIB module {module!r} in '{module}::{name}' (not loaded)"
        message = f"unknown object name {name!r} in module {module} (not in that module)"
        if self.object(name) is not None:
            other = self.object(name)
            assert other is not None
            message += f"; {name!r} is defined in {other.module}"
        return message

    def _modules(self) -> set[str]:
        modules = {obj.module for obj in self._user}
        if self._packed is not None:
            modules.update(self._packed.modules)
        return modules

    # OID -> text ---------------------------------------------------------

    def format(self, oid: Sequence[int], numeric: bool = False) -> str:
        """Text for ``oid`` that ``resolve`` maps back to the same OID."""
        key = tuple(oid)
        if not key:
            raise MibError("cannot format an empty OID")
        for arc in key:
            if not 0 <= arc <= _MAX_ARC:
                raise MibError(f"sub-identifier {arc} is out of range 0..2^32-1")
        dotted = "." + ".".join(map(str, key))
        if numeric:
            return dotted
        obj = self.lookup(key)
        if obj is None:
            return dotted
        name = obj.name
        if self._oid_of(name) != obj.oid:
            name = f"{obj.module}::{name}"
        from mibs.textual import format_suffix  # deferred: a compile resolves names, never formats them

        text = name + format_suffix(obj, key[len(obj.oid):])
        # Belt and braces: a user module shadowing a default one could make a
        # qualified name ambiguous; never hand out text that reads back wrong.
        try:
            if self.resolve(text) == key:
                return text
        except MibError:
            pass
        return dotted


_DEFAULT: Registry | None = None

#: The generated modules' tables, by the module file that holds them, in its order.
DATA_TABLES = {"_data.py": ("MODULES", "OIDS", "TYPES", "ENUMS", "INDEXES", "RANGES"), "_data_names.py": ("NAMES",)}


def default_registry(read: Callable[[str], bytes] | None = None) -> Registry:
    """The registry of the bundled MIB modules (built once, on first use).

    ``read`` returns the bytes of a generated data module given its file
    name (``"_data.py"``): the caller owns file access, this module only
    cuts the tables out of the text (:func:`tables_from_text`). Without it,
    or when the text is not what the generator writes, the data modules are
    imported: the same tables, but where no byte code is cached Python
    compiles 1.2 MB of string literals first, which costs more than the rest
    of a cold compile. The first call builds the registry; later calls
    return it whatever ``read`` they pass.
    """
    global _DEFAULT
    if _DEFAULT is None:
        tables: Any = None
        if read is not None:
            try:
                tables = tables_from_text({file: read(file) for file in DATA_TABLES})
            except (OSError, ValueError):
                tables = None
        if tables is None:
            from mibs import _data  # deferred: importing the data is the main cost

            tables = _data
        _DEFAULT = Registry(_Packed(tables))
    return _DEFAULT


def tables_from_text(sources: Mapping[str, bytes]) -> SimpleNamespace:
    """The generated tables cut out of the data modules' text, by file name.

    The generator writes each table as a triple-quoted literal opening with
    a line continuation and refuses text holding a quote or a backslash, so
    the characters between the quotes are the table itself. ValueError when
    a file is not laid out that way (the caller then imports the modules).
    """
    tables: dict[str, str] = {}
    for file, names in DATA_TABLES.items():
        try:
            text = sources[file].decode("ascii")
        except (KeyError, UnicodeDecodeError):
            raise ValueError(f"{file}: missing or not ASCII") from None
        for name in names:
            opener = f'\n{name} = """\\\n'
            start = text.find(opener)
            if start < 0:
                raise ValueError(f"{file}: no table {name}")
            start += len(opener)
            end = text.find('"""', start)
            # Searched in place: no copy of the table.
            if end < 0 or text.find("\\", start, end) >= 0:
                raise ValueError(f"{file}: table {name} is not a plain literal")
            tables[name] = text[start:end]
    return SimpleNamespace(**tables)
