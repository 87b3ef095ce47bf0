"""What each simulated eCM keeps across runs of ``pktcable simulate``: its flash.

A real modem that installed an image runs it after every later reboot; a staged
rollout is many reboots apart (an operator widens the stage, the modems come back
at their next reboot). One run of the simulator is one boot of its devices, so the
software each eCM runs is kept between runs in a JSON file (``--cm-state``): the
version and the image's file name, by CM MAC::

    {"format": "pktcable-cm-state/1",
     "devices": {"020000000005": {"version": "2.0.0", "image": "fw-2.0.0.p7"}}}

A device not in the file starts from ``--cm-version``/``--cm-image`` (the factory's).
The Secure Software Download store's code access start times are not kept: each run
starts them at the factory's (docs/firmware.md). Parsing is strict: the file is
the simulator's own, and a hand-edited one that says something else is refused with
where, never half-read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pktcable.firmware.labimage import ImageError, make_image

FORMAT = "pktcable-cm-state/1"
#: Bytes the file may hold (a million devices take about 70 MB): read whole, so bounded.
MAX_BYTES = 256 * 1024 * 1024
MAX_IMAGE = 255  # TLV 9 is a string of up to 255 bytes


class StateError(ValueError):
    """A state file refused; ``where`` is the JSON path of the culprit."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


@dataclass(frozen=True, slots=True)
class Saved:
    """One eCM's software: the version it reports and the file name of its image."""

    version: str
    image: str


def parse(data: bytes) -> dict[str, Saved]:
    """The devices of a state file, by CM MAC (12 lower-case hex digits)."""
    if len(data) > MAX_BYTES:
        raise StateError("$", f"{len(data)} bytes; at most {MAX_BYTES}")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeError) as exc:
        raise StateError("$", f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateError("$.format", f"not {FORMAT!r}")
    devices = doc.get("devices")
    if not isinstance(devices, dict):
        raise StateError("$.devices", "not an object")
    out = {}
    for mac, entry in devices.items():
        where = f"$.devices.{mac}"
        if len(mac) != 12 or any(c not in "0123456789abcdef" for c in mac):
            raise StateError(where, "the key is not a MAC of 12 lower-case hex digits")
        if not isinstance(entry, dict) or set(entry) != {"version", "image"}:
            raise StateError(where, "not an object of exactly 'version' and 'image'")
        version, image = entry["version"], entry["image"]
        if not isinstance(version, str):
            raise StateError(f"{where}.version", "not a string")
        try:
            make_image(version)  # what an image header may say is what a device may run
        except ImageError as exc:
            raise StateError(f"{where}.version", exc.why) from None
        if not isinstance(image, str) or len(image) > MAX_IMAGE or not image.isprintable():
            raise StateError(f"{where}.image", f"not a file name of at most {MAX_IMAGE} printable characters")
        out[mac] = Saved(version, image)
    return out


def dump(state: Mapping[str, Saved]) -> bytes:
    devices = {mac: {"version": s.version, "image": s.image} for mac, s in sorted(state.items())}
    return json.dumps({"format": FORMAT, "devices": devices}, indent=0).encode() + b"\n"


def updated(state: Mapping[str, Saved], devices: Iterable[tuple[str, str, str]]) -> dict[str, Saved]:
    """``state`` with each (CM MAC, version, image) of this run's devices: what they run now."""
    out = dict(state)
    for mac, version, image in devices:
        if mac and version:
            out[mac] = Saved(version, image)
    return out


@cache
def load(path: str) -> dict[str, Saved]:
    """The state file at ``path``, read once per process however many devices look in it;
    a file that does not exist yet is an empty state (the first run)."""
    file = Path(path)
    if not file.exists():
        return {}
    with file.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    return parse(data)
