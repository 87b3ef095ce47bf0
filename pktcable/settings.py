"""Checking settings tables (TOML) against the dataclasses they fill.

A settings file is typed by the dataclass it becomes: each field's annotation
says what the TOML value must be, so a mistake is reported once, naming the
key (``subnet[0].pool[1].start``) and what is wrong with it, before anything
starts. Booleans are not numbers here, although Python lets ``True`` be 1.
"""

from __future__ import annotations

import difflib
import tomllib
import types
import typing
from collections.abc import Collection, Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any


class SettingError(ValueError):
    """A setting that cannot work; the message starts with the setting's name
    (``key``, when known) and goes on with the ``problem``."""

    key: str = ""
    problem: str = ""


def named(key: str, problem: str) -> SettingError:
    error = SettingError(f"{key}: {problem}" if key else problem)
    error.key, error.problem = key, problem
    return error


def join(where: str, key: str | int) -> str:
    """``where`` and ``key`` as one setting name: ``a.b``, ``a[0]``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def read_toml(path: str | Path) -> dict[str, Any]:
    """The file as a table; a syntax error names its line and column."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise named(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise named(str(path), f"not UTF-8 text at byte {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:  # its text ends "(at line L, column C)"
        raise named(str(path), f"TOML syntax: {exc}") from None


def known_keys(table: Mapping[str, Any], allowed: Collection[str], where: str = "") -> None:
    """Every key of ``table`` is one of ``allowed``; else the first unknown one is named,
    with the closest allowed key when one is near enough to be a typing slip."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise named(join(where, key), f"unknown setting{hint}")


def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def describe(hint: Any) -> str:
    """A type annotation as the words a settings file's reader knows."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(describe(a) for a in args if a is not type(None))
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} {describe(args[0])}s"
        return f"a list of {describe(args[0])}s" if args and args[0] is not Any else "a list"
    if origin is dict or hint is dict:
        return "a table"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
            IPv4Address: "an IPv4 address", IPv4Network: "an IPv4 network (a.b.c.d/len)"}.get(hint, str(hint))


def coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` (as TOML gives it) in the form of ``hint``, or a :class:`SettingError` naming ``key``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        choices = [a for a in args if a is not type(None)]
        for choice in choices:
            try:
                return coerce(value, choice, key)
            except SettingError:
                if len(choices) == 1:
                    raise
        raise named(key, f"must be {describe(hint)}, not {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise named(key, f"must be {describe(hint)}, not {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise named(key, f"must be {describe(hint)}, not {value!r}")
            return tuple(coerce(v, a, join(key, i)) for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        out = [coerce(v, item, join(key, i)) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise named(key, f"must be a table, not {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise named(key, f"must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise named(key, f"must be a whole number, not {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise named(key, f"must be a number, not {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise named(key, f"must be a string, not {value!r}")
        return value
    if hint in (IPv4Address, IPv4Network):
        if isinstance(value, hint):
            return value
        if not isinstance(value, str):
            raise named(key, f"must be {describe(hint)} in quotes, not {value!r}")
        try:
            return hint(value)
        except ValueError as exc:
            raise named(key, f"{value!r} is not {describe(hint)}: {exc}") from None
    return value


def typed(table: Mapping[str, Any], cls: type, where: str = "", skip: Collection[str] = ()) -> dict[str, Any]:
    """``table``'s keys checked against ``cls``'s fields and its values against their types
    (``skip``: keys the caller checks itself)."""
    fields = hints(cls)
    known_keys(table, fields, where)
    return {k: v if k in skip else coerce(v, fields[k], join(where, k)) for k, v in table.items()}


def in_range(value: float, low: float, high: float, key: str) -> None:
    if not low <= value <= high:
        raise named(key, f"must be from {low} to {high}, not {value!r}")
