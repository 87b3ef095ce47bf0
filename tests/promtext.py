"""Reading /metrics in tests the way Prometheus does: parsed, never by string match."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (sample name, its labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly these labels, or None when absent."""
    return samples(text).get((name, frozenset(labels.items())))


def families(text: str) -> dict[str, str]:
    """Family name (as the parser gives it: a counter without ``_total``) -> its type."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}
