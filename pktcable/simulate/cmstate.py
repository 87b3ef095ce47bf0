"""What each simulated eCM keeps across runs of ``pktcable simulate``: its flash.

A real modem that installed an image runs it after every later reboot; a staged
rollout is many reboots apart (an operator widens the stage, the modems come back
at their next reboot). One run of the simulator is one boot of its devices, so the
software each eCM runs is kept between runs in a JSON file (``--cm-state``): the
version, the image's file name and the Secure Software Download store's access times
(codeAccessStart and cvcAccessStart of the manufacturer and, once one signed, of the
co-signer: a modem refuses a code file signed before the one it runs, so a rollback
must be signed no earlier), by CM MAC::

    {"format": "pktcable-cm-state/1",
     "devices": {"020000000005": {"version": "2.0.0", "image": "fw-2.0.0.p7",
                                  "access": {"code": "2026-12-03T13:00:00+00:00", "cvc": "..."},
                                  "cosigner": null}}}

A device not in the file starts from ``--cm-version``/``--cm-image`` and the factory's
times. Parsing is strict: the file is the simulator's own, and a hand-edited one that
says something else is refused with where, never half-read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pktcable.firmware.codefile import AccessStart, AccessState
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
    #: The code store's times (None: the modem trusts no CVC root, it has no store).
    access: AccessState | None = None


def _times(where: str, value: object) -> AccessStart | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"code", "cvc"}:
        raise StateError(where, "not null or an object of exactly 'code' and 'cvc'")
    out = []
    for key in ("code", "cvc"):
        text = value[key]
        try:
            when = dt.datetime.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise StateError(f"{where}.{key}", f"{text!r} is not an ISO 8601 time with its UTC offset")
        out.append(when.astimezone(dt.UTC))
    return AccessStart(out[0], out[1])


def _json(times: AccessStart | None) -> dict[str, str] | None:
    return None if times is None else {"code": times.code.isoformat(), "cvc": times.cvc.isoformat()}


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
        if not isinstance(entry, dict) or set(entry) != {"version", "image", "access", "cosigner"}:
            raise StateError(where, "not an object of exactly 'version', 'image', 'access' and 'cosigner'")
        version, image = entry["version"], entry["image"]
        if not isinstance(version, str):
            raise StateError(f"{where}.version", "not a string")
        try:
            make_image(version)  # what an image header may say is what a device may run
        except ImageError as exc:
            raise StateError(f"{where}.version", exc.why) from None
        if not isinstance(image, str) or len(image) > MAX_IMAGE or not image.isprintable():
            raise StateError(f"{where}.image", f"not a file name of at most {MAX_IMAGE} printable characters")
        manufacturer = _times(f"{where}.access", entry["access"])
        cosigner = _times(f"{where}.cosigner", entry["cosigner"])
        if manufacturer is None and cosigner is not None:
            raise StateError(f"{where}.cosigner", "co-signer times without the manufacturer's")
        out[mac] = Saved(version, image, None if manufacturer is None else AccessState(manufacturer, cosigner))
    return out


def dump(state: Mapping[str, Saved]) -> bytes:
    devices = {mac: {"version": s.version, "image": s.image,
                     "access": None if s.access is None else _json(s.access.manufacturer),
                     "cosigner": None if s.access is None else _json(s.access.cosigner)}
               for mac, s in sorted(state.items())}
    return json.dumps({"format": FORMAT, "devices": devices}, indent=0).encode() + b"\n"


def access_row(access: AccessState | None) -> list[str]:
    """A store's times as a report row carries them (a worker's rows are JSON): the
    manufacturer's code and CVC times, then the co-signer's, "" for none."""
    if access is None:
        return []
    co = access.cosigner
    return [access.manufacturer.code.isoformat(), access.manufacturer.cvc.isoformat(),
            co.code.isoformat() if co else "", co.cvc.isoformat() if co else ""]


def access_of(row: list[str]) -> AccessState | None:
    if not row:
        return None
    mfg = AccessStart(dt.datetime.fromisoformat(row[0]), dt.datetime.fromisoformat(row[1]))
    co = AccessStart(dt.datetime.fromisoformat(row[2]), dt.datetime.fromisoformat(row[3])) if row[2] else None
    return AccessState(mfg, co)


def updated(state: Mapping[str, Saved], devices: Iterable[tuple[str, str, str, list[str]]]) -> dict[str, Saved]:
    """``state`` with each (CM MAC, version, image, access row) of this run's devices: what they run now."""
    out = dict(state)
    for mac, version, image, access in devices:
        if mac and version:
            out[mac] = Saved(version, image, access_of(access))
    return out


def load(path: str) -> dict[str, Saved]:
    """The state file at ``path``, read once however many devices look in it (again once it
    changed: a process may run the simulation twice); a file that does not exist yet is an
    empty state (the first run)."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        return {}
    return _load(path, st.st_mtime_ns, st.st_size)


@cache
def _load(path: str, mtime_ns: int, size: int) -> dict[str, Saved]:
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    return parse(data)
