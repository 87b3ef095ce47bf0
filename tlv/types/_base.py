"""Shared pieces of the value codecs: strict decoding and token helpers."""

from __future__ import annotations

import re

from tlv.model import ValueType

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on the compile path (tlv/record.py)
if TYPE_CHECKING:
    from typing import Any

DECIMAL = re.compile(r"[0-9]+")

HEX_TEXT = re.compile(r"0[xX]((?:[0-9A-Fa-f]{2})*)")

def unquote(text: str) -> str:
    """Address-like values may be quoted: the reference hands the string
    contents to the same address parser, so ``"10.0.0.1"`` works there too."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def number(text: str, what: str, limit: int) -> int:
    """A decimal integer in 0..limit.

    The reference reads integers with atoi and stores them unsigned; negative
    or oversized numbers wrap silently there, so we refuse them.
    """
    text = text.strip()
    if text.startswith("0x") or text.startswith("0X"):
        raise ValueError(f"{what}: expected a decimal integer, not hex {text}")
    if not DECIMAL.fullmatch(text):
        raise ValueError(f"{what}: expected a decimal integer, not {text!r}")
    value = int(text)
    if value > limit:
        raise ValueError(f"{what}: {value} does not fit (max {limit})")
    return value


def split_list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in unquote(text).split(",")]
    if not items or any(not item for item in items):
        raise ValueError(f"{what}: expected a comma-separated list, not {text!r}")
    return items


class Strict(ValueType):
    """Shared decode discipline: accept bytes only if they re-encode identically."""

    def _decode(self, data: bytes) -> Any:
        raise ValueError(f"{self.name}: no decoder")  # every subclass overrides this

    def decode(self, data: bytes) -> Any:
        value = self._decode(bytes(data))
        if self.encode(value) != data:
            raise ValueError(f"{self.name}: non-canonical encoding")
        return value
