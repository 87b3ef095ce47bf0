"""Compile MIB modules into OID registry records.

Build time: ``python -m pktcable.mibcompile --generate mibs/_data.py DIR...``
writes the checked-in registry data.  Run time: ``pktcable.mibcache`` compiles a
user's vendor modules (``--mib-dir``) and caches the records as JSON.

This is the only module that parses MIB text (through pysmi); the registry
itself works from the generated data and never reads MIB files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mibs import objects as reg
from mibs.objects import IndexPart, MibObject

# Bump when the record layout or the conversion changes: old caches then miss.
CACHE_FORMAT = 2

# Standard modules bundled so that user MIBs can import them.
BUNDLED_SOURCES = Path(__file__).resolve().parent.parent / "mibs" / "src"

_HEADER_RE = re.compile(
    r"^[ \t]*([A-Za-z][A-Za-z0-9-]*)\s+(?:PIB-)?DEFINITIONS\s*(?:IMPLICIT\s+TAGS\s*)?::=\s*BEGIN",
    re.M,
)

# Known import omissions in shipped modules, fed to pysmi's documented hook
# for exactly this purpose.  Keep minimal: each entry fixes a real module.
_MISSING_IMPORTS: dict[str, list[tuple[str, str]]] = {
    # uses Counter32 and Gauge32 without importing them
    "DSA-MIB": [("SNMPv2-SMI", "Counter32"), ("SNMPv2-SMI", "Gauge32")],
}

# Type names that are base syntaxes whatever their SMI definition says:
# SNMPv2-SMI spells the application types as tagged INTEGER / OCTET STRING.
_BASE_TYPES: dict[str, str] = {
    "INTEGER": reg.INTEGER,
    "Integer32": reg.INTEGER,
    "OCTET STRING": reg.OCTET_STRING,
    "OBJECT IDENTIFIER": reg.OBJECT_IDENTIFIER,
    "IpAddress": reg.IP_ADDRESS,
    "NetworkAddress": reg.IP_ADDRESS,
    "Counter32": reg.COUNTER32,
    "Counter": reg.COUNTER32,
    "Gauge32": reg.GAUGE32,
    "Gauge": reg.GAUGE32,
    "Unsigned32": reg.GAUGE32,
    "TimeTicks": reg.TIMETICKS,
    "Counter64": reg.COUNTER64,
    "Opaque": reg.OPAQUE,
    "Bits": reg.BITS,
    "BITS": reg.BITS,
}
_KINDS = {"scalar": reg.SCALAR, "table": reg.TABLE, "row": reg.ROW, "column": reg.COLUMN}
_INHERENT_SIZE = {reg.IP_ADDRESS: 4}
# Syntaxes whose index encoding depends on a length (octets or arcs).
_SIZED_KINDS = frozenset({reg.OCTET_STRING, reg.OPAQUE, reg.BITS, reg.OBJECT_IDENTIFIER, reg.IP_ADDRESS})


@dataclass
class ModuleSource:
    name: str
    path: str
    text: str  # starts at the module header: stray text before it is dropped


@dataclass
class CompileResult:
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)  # module -> JSON doc
    failed: dict[str, str] = field(default_factory=dict)  # module -> reason


# --------------------------------------------------------------------------
# Sources


def _read_text(path: str) -> str:
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # old modules carry stray 8-bit bytes


def _module_files(directory: str) -> list[str]:
    """Files of one directory (not recursive), alphabetically."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    files = []
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(".") or name.lower().endswith((".md", ".json")):
            continue
        if os.path.isfile(path):
            files.append(path)
    return files


def modules_in_file(path: str) -> list[ModuleSource]:
    text = _read_text(path)
    headers = list(_HEADER_RE.finditer(text))
    found = []
    for pos, match in enumerate(headers):
        end = headers[pos + 1].start() if pos + 1 < len(headers) else len(text)
        found.append(ModuleSource(match.group(1), path, text[match.start():end]))
    return found


def scan_modules(dirs: Iterable[str]) -> dict[str, ModuleSource]:
    """Modules by name in precedence order: dirs in order, files alphabetically.

    A module present in several places is taken from its first occurrence.
    """
    modules: dict[str, ModuleSource] = {}
    for directory in dirs:
        for path in _module_files(directory):
            for source in modules_in_file(path):
                modules.setdefault(source.name, source)
    return modules


# --------------------------------------------------------------------------
# pysmi


def compile_modules(sources: dict[str, ModuleSource], wanted: Sequence[str]) -> CompileResult:
    """Compile ``wanted`` (and what they import) to pysmi JSON documents."""
    from pysmi import implicit_imports
    from pysmi.codegen.jsondoc import JsonCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser.smiv1compat import SmiStarParser
    from pysmi.reader.callback import CallbackReader
    from pysmi.writer.callback import CallbackWriter

    for module, imports in _MISSING_IMPORTS.items():
        implicit_imports.IMPLICIT_IMPORTS.setdefault(module, list(imports))

    result = CompileResult()

    def read(name: str, _ctx: object) -> str:
        source = sources.get(name)
        return source.text if source is not None else ""

    def write(name: str, data: str, _ctx: object) -> None:
        result.docs[name] = json.loads(data)

    compiler = MibCompiler(SmiStarParser(), JsonCodeGen(), CallbackWriter(write))
    compiler.add_sources(CallbackReader(read))
    statuses = compiler.compile(*wanted, genTexts=False, ignoreErrors=True)
    for name, status in statuses.items():
        if name in result.docs:
            continue
        if status == "missing":
            result.failed[name] = "module source not found"
        elif status != "compiled":
            result.failed[name] = str(getattr(status, "error", status))
    for name in wanted:
        if name not in result.docs and name not in result.failed:
            result.failed[name] = "not compiled (a module it imports failed)"
    return result


# --------------------------------------------------------------------------
# JSON documents -> records


class _Converter:
    """Turns pysmi JSON documents into MibObject records."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs
        self.unresolved: set[str] = set()

    def _find(self, module: str, name: str) -> tuple[str, dict[str, Any]] | None:
        """Definition of ``name`` as seen from ``module`` (local, then imports)."""
        doc = self.docs.get(module, {})
        entry = doc.get(name)
        if isinstance(entry, dict) and entry.get("name", name) == name:
            return module, entry
        for other, names in doc.get("imports", {}).items():
            if other != "class" and name in names:
                target = self.docs.get(other, {}).get(name)
                if isinstance(target, dict):
                    return other, target
        for other, odoc in self.docs.items():  # last resort: any module
            target = odoc.get(name)
            if isinstance(target, dict) and "class" in target:
                return other, target
        return None

    def base(self, module: str, syntax: dict[str, Any]) -> tuple[str | None, dict[str, int], int | None]:
        """(base syntax, enums, fixed size) of a syntax clause, through TCs."""
        kind, enums, size, _ranges = self.constraints(module, syntax)
        return kind, enums, size

    def constraints(
        self, module: str, syntax: dict[str, Any]
    ) -> tuple[str | None, dict[str, int], int | None, reg.Ranges]:
        """(base syntax, enums, fixed size, ranges) of a syntax clause.

        Walks the TC chain outward-in: the first clause that states a
        constraint wins, as a refinement narrows its TC's (and as net-snmp
        keeps them).  Ranges are value ranges of integer kinds and SIZE
        ranges of string kinds.
        """
        enums: dict[str, int] = {}
        size: int | None = None
        ranges: reg.Ranges = ()
        for _ in range(16):  # TC chains are short; the cap guards against loops
            constraints = syntax.get("constraints", {})
            if not enums:
                enums = dict(constraints.get("enumeration", {}) or syntax.get("bits", {}))
            found_ranges = constraints.get("size") or constraints.get("range") or []
            if size is None:
                sizes = constraints.get("size") or []
                if len(sizes) == 1 and sizes[0].get("min") == sizes[0].get("max"):
                    size = int(sizes[0]["min"])
            if not ranges and found_ranges:
                ranges = _ranges(found_ranges)
            type_name = syntax.get("type", "")
            if type_name in _BASE_TYPES:
                kind = _BASE_TYPES[type_name]
                return kind, enums, _INHERENT_SIZE.get(kind, size), ranges
            found = self._find(module, type_name)
            if found is None or not isinstance(found[1].get("type"), dict):
                self.unresolved.add(f"{module}::{type_name}")
                return None, enums, size, ranges
            module, syntax = found[0], found[1]["type"]
        return None, enums, size, ranges

    def _row_index(self, module: str, row: dict[str, Any]) -> tuple[tuple[IndexPart, ...], bool]:
        for _ in range(8):  # follow AUGMENTS to the row that has the INDEX
            augmented = row.get("augmention")
            if not augmented:
                break
            found = self._find(module, augmented["object"])
            if found is None:
                return (), False
            module, row = found
        parts = []
        implied = False
        for item in row.get("indices", []):
            found = self._find(item.get("module", module), item["object"])
            if found is None:
                return (), False
            index_module, index_obj = found
            kind, _enums, size, ranges = self.constraints(index_module, index_obj.get("syntax", {}))
            sized = kind in _SIZED_KINDS
            fixed = size if sized else None
            # A fixed size says all; an IpAddress's four octets are inherent.
            keep = () if fixed is not None or kind == reg.IP_ADDRESS else ranges
            parts.append(IndexPart(kind or reg.INTEGER, fixed, keep))
            implied = bool(item.get("implied"))
        return tuple(parts), implied

    def records(self, module: str) -> list[MibObject]:
        doc = self.docs[module]
        rows: dict[str, tuple[tuple[IndexPart, ...], bool]] = {}
        out = []
        for key, entry in doc.items():
            if not isinstance(entry, dict) or "oid" not in entry:
                continue
            name = entry.get("name", key)
            oid = tuple(int(arc) for arc in entry["oid"].split("."))
            cls = entry.get("class")
            syntax: str | None = None
            enums: dict[str, int] = {}
            ranges: reg.Ranges = ()
            index: tuple[IndexPart, ...] = ()
            implied = False
            if cls == "objecttype":
                kind = _KINDS.get(entry.get("nodetype", ""), reg.NODE)
                if "syntax" in entry and kind in (reg.SCALAR, reg.COLUMN):
                    syntax, enums, _size, ranges = self.constraints(module, entry["syntax"])
                    if syntax == reg.IP_ADDRESS or enums:
                        ranges = ()  # four octets are inherent; an enum list says more
                if kind == reg.ROW:
                    index, implied = self._row_index(module, entry)
                    rows[".".join(map(str, oid))] = (index, implied)
            elif cls == "notificationtype":
                kind = reg.NOTIFICATION
            else:
                kind = reg.NODE
            out.append(MibObject(
                name=name,
                module=module,
                oid=oid,
                kind=kind,
                syntax=syntax,
                enums=tuple(sorted(enums.items(), key=lambda item: (item[1], item[0]))),
                access=entry.get("maxaccess") if cls == "objecttype" else None,
                index=index,
                implied=implied,
                ranges=ranges,
            ))
        if module == "SNMPv2-SMI" and "iso" not in doc:
            # pysmi treats the root arc as built in; it is still a name users
            # write (``iso.3.6.1...``), so keep it.
            out.append(MibObject(name="iso", module=module, oid=(1,), kind=reg.NODE))
        # Columns carry their row's INDEX: that is what a varbind suffix encodes.
        for pos, obj in enumerate(out):
            if obj.kind == reg.COLUMN:
                row = rows.get(".".join(map(str, obj.oid[:-1])))
                if row is not None and row[0]:
                    out[pos] = _replace(obj, index=row[0], implied=row[1])
        out.sort(key=lambda obj: obj.oid)
        return out


def _ranges(items: list[dict[str, Any]]) -> reg.Ranges:
    """pysmi's [{"min": a, "max": b}, ...] as (low, high) pairs."""
    pairs = []
    for item in items:
        try:
            pairs.append((int(item["min"]), int(item["max"])))
        except (KeyError, TypeError, ValueError):
            return ()  # a bound that is not a number: claim no constraint
    return tuple(pairs)


def _replace(obj: MibObject, **changes: Any) -> MibObject:
    replaced: MibObject = obj.replace(**changes)
    return replaced


# --------------------------------------------------------------------------
# JSON form of records (cache)


def record_to_json(obj: MibObject) -> list[Any]:
    return [
        obj.name, obj.module, list(obj.oid), obj.kind, obj.syntax,
        [list(pair) for pair in obj.enums], obj.access,
        [[part.syntax, part.size, [list(r) for r in part.ranges]] for part in obj.index], obj.implied,
        [list(pair) for pair in obj.ranges],
    ]


def record_from_json(item: list[Any]) -> MibObject:
    name, module, oid, kind, syntax, enums, access, index, implied, ranges = item
    return MibObject(
        name=name, module=module, oid=tuple(oid), kind=kind, syntax=syntax,
        enums=tuple((label, value) for label, value in enums), access=access,
        index=tuple(IndexPart(s, size, tuple((lo, hi) for lo, hi in r)) for s, size, r in index),
        implied=bool(implied), ranges=tuple((lo, hi) for lo, hi in ranges),
    )


# --------------------------------------------------------------------------
# Generation of mibs/_data.py


@dataclass
class GenerateReport:
    modules: int
    records: int
    failed: dict[str, str]
    unresolved_types: set[str]
    size: int


def build_records(dirs: Sequence[str]) -> tuple[list[MibObject], dict[str, str], set[str]]:
    sources = scan_modules(dirs)
    result = compile_modules(sources, list(sources))
    converter = _Converter(result.docs)
    records: list[MibObject] = []
    for module in sources:  # precedence order
        if module in result.docs:
            records.extend(converter.records(module))
    return records, result.failed, converter.unresolved


def pack(records: Sequence[MibObject]) -> dict[str, str]:
    """The packed tables of the data modules (format in _DATA_HEADER)."""
    modules: list[list[Any]] = []
    for obj in records:
        if modules and modules[-1][0] == obj.module:
            modules[-1][1] += 1
        else:
            modules.append([obj.module, 1])
    # An OID defined by several records is named after the last one that
    # brings a new name (SNMPv2-MIB's snmpEnableAuthenTraps over RFC1158-MIB's
    # snmpEnableAuthTraps); a repeated name keeps its first record (IF-MIB's
    # ifAdminStatus, not RFC1213-MIB's).  That is what net-snmp, hence docsis,
    # prints (checked by tests/test_mib_oracle.py).
    named_by_oid: dict[tuple[int, ...], int] = {}
    for pos, obj in enumerate(records):
        known = named_by_oid.get(obj.oid)
        if known is None or records[known].name != obj.name:
            named_by_oid[obj.oid] = pos
    enum_ids: dict[str, int] = {}
    index_ids: dict[str, int] = {}
    range_ids: dict[str, int] = {}
    kind_letter = {v: k for k, v in reg.KIND_CODES.items()}
    syntax_letter = {v: k for k, v in reg.SYNTAX_CODES.items()}
    access_letter = {v: k for k, v in reg.ACCESS_CODES.items()}
    oid_lines = []
    type_lines = []
    for pos, obj in enumerate(records):
        # Each OID is (record of its longest known prefix, remaining arcs):
        # short to store, and the line doubles as a key of the OID tree.
        named = named_by_oid[obj.oid]
        if named != pos:
            # Same OID as the record naming it: "<record>" alone, no tree key.
            oid_lines.append(str(named))
        else:
            parent = None
            for length in range(len(obj.oid) - 1, 0, -1):
                parent = named_by_oid.get(obj.oid[:length])
                if parent is not None:
                    break
            if parent is None:
                oid_lines.append("- " + ".".join(map(str, obj.oid)))
            else:
                arcs = obj.oid[len(records[parent].oid):]
                oid_lines.append(f"{parent} " + ".".join(map(str, arcs)))
        enum_ref = index_ref = range_ref = ""
        if obj.ranges:
            range_ref = str(range_ids.setdefault(reg.format_ranges(obj.ranges), len(range_ids)))
        if obj.enums:
            enum_ref = str(enum_ids.setdefault(reg.format_enums(obj.enums), len(enum_ids)))
        if obj.index:
            packed = reg.format_index(obj.index, obj.implied)
            index_ref = str(index_ids.setdefault(packed, len(index_ids)))
        codes = kind_letter[obj.kind] + syntax_letter[obj.syntax] + access_letter[obj.access]
        type_lines.append(" ".join([codes, enum_ref, index_ref, range_ref]).rstrip(" "))
    names = [obj.name for obj in records]
    # Character offsets of each module's first line in NAMES, OIDS and TYPES
    # let the registry slice out one module without splitting a whole table.
    module_lines = []
    pos = 0
    offsets = [0, 0, 0]
    for name, count in modules:
        module_lines.append(f"{name} {count} " + " ".join(map(str, offsets)))
        for column, table in enumerate((names, oid_lines, type_lines)):
            offsets[column] += sum(len(line) + 1 for line in table[pos:pos + count])
        pos += count
    return {
        "MODULES": "\n".join(module_lines),
        "NAMES": "\n".join(names),
        "OIDS": "\n".join(oid_lines),
        "TYPES": "\n".join(type_lines),
        "ENUMS": "\n".join(enum_ids),
        "INDEXES": "\n".join(index_ids),
        "RANGES": "\n".join(range_ids),
    }


_DATA_HEADER = '''\
"""Generated OID registry data: do not edit.

Regenerate with:
    python -m pktcable.mibcompile --generate mibs/_data.py <dirs>

{modules} modules, {records} objects.  Facts only (names, numbers, syntax,
enums, ranges, access, index); no MIB prose.  Tables are newline-separated text,
one line per object (grouped by module, in precedence order) unless noted;
mibs.registry splits them lazily.  NAMES lives in {names_module}.py to keep
each file small.

MODULES  per module: "<module> <count> <offsets>", the character offsets of
         its first line in NAMES, OIDS and TYPES.
NAMES    the object name.
OIDS     "<parent> <arcs>": the OID is that of object number <parent> (the
         object naming its longest known prefix; "-" for none) plus <arcs>;
         "<record>" alone: the same OID as that record, which names it.
TYPES    "<codes> [<enum>] [<index>] [<ranges>]": kind, base syntax and
         access letters (see mibs.objects), then line numbers in ENUMS,
         INDEXES and RANGES (an empty field: none).
ENUMS    "label=value,..." per distinct enum set.
INDEXES  "i:1..255,s6,s:0..32*" per distinct INDEX: per component the
         syntax letter, fixed size and ":" ranges; "*" means the last
         component is IMPLIED.
RANGES   "1..64|70" per distinct range list: value ranges of an integer
         SYNTAX, SIZE ranges of a string one (a single number: lo = hi).
"""
'''

_NAMES_HEADER = '''\
"""Generated OID registry data (object names): do not edit.

Written together with {data_module}.py, which describes the format.
"""
'''


def _constant(name: str, text: str) -> str:
    # Triple quotes keep one entry per line, so regenerations diff well;
    # the packed text never holds quotes or backslashes.
    if '"""' in text or "\\" in text:
        raise ValueError(f"{name}: packed text holds a quote or backslash")
    return f'\n{name} = """\\\n{text}"""\n'


def generate(out_path: str, dirs: Sequence[str]) -> GenerateReport:
    """Write ``out_path`` and its sibling ``<stem>_names.py``."""
    records, failed, unresolved = build_records(dirs)
    tables = pack(records)
    out = Path(out_path)
    names_module = out.stem + "_names"
    modules = len(tables["MODULES"].split("\n"))
    data = [_DATA_HEADER.format(modules=modules, records=len(records), names_module=names_module)]
    data.append(f"\nfrom .{names_module} import NAMES  # noqa: F401\n")
    for name in ("MODULES", "OIDS", "TYPES", "ENUMS", "INDEXES", "RANGES"):
        data.append(_constant(name, tables[name]))
    data_text = "".join(data)
    names_text = _NAMES_HEADER.format(data_module=out.stem) + _constant("NAMES", tables["NAMES"])
    out.with_name(names_module + ".py").write_text(names_text, encoding="ascii")
    out.write_text(data_text, encoding="ascii")
    return GenerateReport(
        modules=modules, records=len(records), failed=failed,
        unresolved_types=unresolved, size=len(data_text) + len(names_text),
    )


# --------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pktcable.mibcompile",
        description="Compile MIB modules into the OID registry data.",
    )
    parser.add_argument("--generate", metavar="OUT.py", required=True,
                        help="write the registry data module (e.g. mibs/_data.py)")
    parser.add_argument("dirs", nargs="+", metavar="DIR",
                        help="MIB directories, highest precedence first")
    args = parser.parse_args(argv)
    report = generate(args.generate, args.dirs)
    print(f"wrote {args.generate} (+ names module): {report.modules} modules, "
          f"{report.records} objects, {report.size} bytes")
    if report.failed:
        print(f"{len(report.failed)} module(s) failed:")
        for name, reason in sorted(report.failed.items()):
            print(f"  {name}: {reason}")
    if report.unresolved_types:
        print(f"{len(report.unresolved_types)} type(s) left unresolved: "
              + ", ".join(sorted(report.unresolved_types)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
