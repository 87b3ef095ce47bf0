"""Logging of the long-running commands (``serve``, ``dhcp serve``, ``deliver``), set up in one place.

Three choices, as flags (and, for ``serve``, as settings):

- the level: debug, info, warning (the default) or error;
- the format: ``text``, one line per record for a person, or ``json``, one
  object per line for a log collector: ``time`` (ISO 8601, UTC), ``level``,
  ``logger``, ``message``, ``mac`` when the record is about one device (its
  12 lower-case hex digits), and ``exception`` with the traceback when there
  is one;
- devices to follow (``--mac``, repeatable): every record about them, at debug
  level too, while the rest stays at the chosen level. Code that logs about a
  device says which with ``extra={"mac": mac}``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

import click

#: Level names, as the flags and the settings spell them, least severe first.
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
DEFAULT_LEVEL = "warning"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: The handler :func:`setup` installs is tagged, so a second setup replaces it (tests, reloads).
_TAG = "_pktcable_handler"

F = TypeVar("F", bound=Callable[..., Any])


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a message's own newlines are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        mac = getattr(record, "mac", None)
        if mac:
            entry["mac"] = str(mac)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class DeviceFilter(logging.Filter):
    """Records at ``level`` or above pass; below it, only those about one of ``macs``."""

    def __init__(self, level: int, macs: Iterable[str]) -> None:
        super().__init__()
        self.level = level
        self.macs = frozenset(macs)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or getattr(record, "mac", None) in self.macs


def level_number(name: str) -> int:
    if name not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {name!r}")
    return int(getattr(logging, name.upper()))


def setup(level: str = DEFAULT_LEVEL, fmt: str = "text", macs: Iterable[str] = (),
          stream: IO[str] | None = None) -> logging.Handler:
    """Send the process's log records to ``stream`` (stderr) as chosen; returns the handler.
    ``macs`` are normalised device MACs (any separators are taken off by the caller)."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    threshold = level_number(level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    setattr(handler, _TAG, True)
    followed = frozenset(macs)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _TAG, False)]:
        root.removeHandler(old)
    if followed:
        # Debug records must be made for the followed devices; the filter drops the others'.
        # It costs a record per debug call, so it is for looking into a few devices.
        handler.addFilter(DeviceFilter(threshold, followed))
        root.setLevel(logging.DEBUG)
    else:
        root.setLevel(threshold)
    root.addHandler(handler)
    return handler


def followed_macs() -> tuple[str, ...]:
    """The MACs :func:`setup` was given (a worker process sets its logging up the same way)."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters if getattr(handler, _TAG, False) else ():
            if isinstance(found, DeviceFilter):
                return tuple(sorted(found.macs))
    return ()


def _normalized(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from pktcable.store.devices import normalize_mac

    try:
        return tuple(normalize_mac(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def log_options(default_level: str | None = DEFAULT_LEVEL) -> Callable[[F], F]:
    """``--log-level``, ``--log-format`` and ``--mac`` for a long-running command.
    ``default_level`` None leaves the level unset when the flag is not given (a
    settings file or another flag decides)."""

    def decorate(command: F) -> F:
        command = click.option("--mac", "log_macs", multiple=True, callback=_normalized, metavar="MAC",
                               help="Log everything about this device, debug included (repeatable); "
                               "the rest at the log level.")(command)
        command = click.option("--log-format", type=click.Choice(LOG_FORMATS), default=None,
                               help="text (default), or json: one object per line.")(command)
        return click.option("--log-level", type=click.Choice(LOG_LEVELS), default=default_level,
                            show_default=default_level is not None,
                            help="Least severe records logged" + ("" if default_level else
                                                                  " (default: warning, -v: info)") + ".")(command)

    return decorate
