"""The docs that are generated from code are up to date."""

from __future__ import annotations

from pktcable import docgen


def test_keyword_table_is_current() -> None:
    doc = docgen.DOC.read_text()
    assert docgen.render(doc) == doc, "run: python -m pktcable.docgen"
