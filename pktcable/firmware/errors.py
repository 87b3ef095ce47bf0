"""The firmware package's refusal of a value: which field, and why."""

from __future__ import annotations


class FieldError(ValueError):
    """``field``: ``reason``, both kept for the API's and the CLI's messages."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
