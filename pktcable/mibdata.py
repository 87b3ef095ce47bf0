"""The bundled OID registry, its generated tables read as package data.

mibs stays free of file access (it is a pure data structure); this module
does the reading for it. The tables are the text of ``mibs/_data.py`` and
``mibs/_data_names.py``, read through the import system's loader (so also
from a zip) instead of importing them: where no byte code is cached (a
fresh checkout, PYTHONDONTWRITEBYTECODE, an install without .pyc files)
importing would compile 1.2 MB of string literals, about as much CPU as
the rest of a cold compile, while the text is read in a millisecond.
"""

from __future__ import annotations

import os

import mibs
from mibs import Registry


def read_generated(name: str) -> bytes:
    """The bytes of the generated data module ``name`` (``"_data.py"``) in the mibs package."""
    here = os.path.dirname(mibs.__file__ or "")
    loader = mibs.__spec__.loader if mibs.__spec__ is not None else None
    get_data = getattr(loader, "get_data", None)
    if get_data is None:  # a loader without package data: mibs imports the modules
        raise OSError(f"no package data loader for {name}")
    data: bytes = get_data(os.path.join(here, name))
    return data


def default_registry() -> Registry:
    """The registry of the bundled MIB modules (built once per process)."""
    return mibs.default_registry(read_generated)
