"""MIB modules an operator gives with ``--mib-dir``, compiled at run time
(pktcable.mibcompile) and kept per file in a JSON cache keyed by the file's
path, size and mtime, so a second run does not compile them again."""

from __future__ import annotations

import hashlib
import json
import os

from mibs import objects as reg
from mibs.objects import MibObject

from .mibcompile import (
    BUNDLED_SOURCES,
    CACHE_FORMAT,
    CompileResult,
    ModuleSource,
    _Converter,
    _module_files,
    compile_modules,
    modules_in_file,
    record_from_json,
    record_to_json,
    scan_modules,
)


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pktcable", "mibs")


def _cache_file(cache_dir: str, path: str) -> str:
    stat = os.stat(path)
    key = f"{CACHE_FORMAT}|{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"
    return os.path.join(cache_dir, hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def load_user_mibs(dirs: list[str], cache_dir: str | None = None) -> list[MibObject]:
    """Records of the modules in ``dirs`` (compiled, or from the cache).

    Imports resolve against ``dirs`` first, then the bundled standard modules.
    Raises reg.MibError when a module cannot be compiled.
    """
    cache_dir = cache_dir or default_cache_dir()
    records: list[MibObject] = []
    todo: dict[str, list[ModuleSource]] = {}
    for directory in dirs:
        if not os.path.isdir(directory):
            raise reg.MibError(f"MIB directory {directory!r} does not exist")
        for path in _module_files(directory):
            cached = _read_cache(_cache_file(cache_dir, path))
            if cached is not None:
                records.extend(cached)
            else:
                todo[path] = modules_in_file(path)
    if not todo:
        return records
    # User dirs first so a user's copy of a module wins over a bundled one.
    sources = scan_modules([*dirs, str(BUNDLED_SOURCES)])
    def wins(module: ModuleSource) -> bool:  # not shadowed by an earlier copy
        found = sources.get(module.name)
        return found is not None and found.path == module.path

    wanted = [m.name for mods in todo.values() for m in mods if wins(m)]
    result = compile_modules(sources, wanted) if wanted else CompileResult()
    failures = [f"{name}: {result.failed[name]}" for name in wanted if name in result.failed]
    if failures:
        raise reg.MibError("cannot compile MIB module(s): " + "; ".join(failures))
    converter = _Converter(result.docs)
    for path, modules in todo.items():
        file_records = []
        for module in modules:
            if wins(module):
                file_records.extend(converter.records(module.name))
        _write_cache(_cache_file(cache_dir, path), file_records)
        records.extend(file_records)
    return records


def _read_cache(path: str) -> list[MibObject] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return [record_from_json(item) for item in data["records"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: recompile


def _write_cache(path: str, records: list[MibObject]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"format": CACHE_FORMAT, "records": [record_to_json(r) for r in records]}, handle)
        os.replace(tmp, path)  # atomic: concurrent runs never see half a file
    except OSError:
        pass  # a cache that cannot be written only costs speed
