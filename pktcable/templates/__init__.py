"""Config templates: Jinja2 text in the config language, rendered per device.

``environment(folder)`` looks in the operator's folder first, then in the
defaults shipped here (``cm.txt``, ``mta.txt``). Undefined variables are
errors, not empty strings, and the ``q`` filter writes any value as a quoted
config string, so a device variable can never inject statements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from tlv.quoting import quote

DEFAULTS = Path(__file__).resolve().parent


def q(value: Any) -> str:
    """A value as a quoted config-language string (escapes included)."""
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return quote(data)


def environment(folder: str | Path | None = None, loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """Templates from ``loader`` or ``folder`` first, then the shipped defaults."""
    loaders: list[jinja2.BaseLoader] = []
    if loader is not None:
        loaders.append(loader)
    if folder is not None:
        loaders.append(jinja2.FileSystemLoader(str(folder)))
    loaders.append(jinja2.FileSystemLoader(str(DEFAULTS)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=True)
    env.filters["q"] = q
    return env
