"""The docs that are generated from code are up to date, and every repository
path that code or docs cite exists."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from pktcable import docgen

ROOT = Path(__file__).resolve().parent.parent

#: Text that may cite a repository path: source, docs, settings, the CI script.
CITING_SUFFIXES = (".py", ".md", ".toml", ".cfg", ".txt")
CITING_FILES = (".ci/run",)
#: Not scanned: generated tables, this file (its examples are missing on purpose).
SKIPPED_FILES = re.compile(r"^(mibs/_data[^/]*\.py|tests/test_docs\.py)$")
#: Not walked: third-party MIB sources, test inputs, what tools leave behind
#: (a virtualenv in the checkout), hidden folders but the CI script's.
SKIPPED_DIRS = re.compile(r"^(mibs/src|tests/data|build|dist)$|(^|/)(__pycache__|[^/]+\.egg-info|\.(?!ci$)[^/]+)$")

#: A relative path with at least one directory, ending in a file name that has
#: an extension: docs/serve.md, ../examples/serve.toml, tests/data/x.txt.
#: Absolute paths, URLs and host:port/... forms are examples, not citations.
_PATH = re.compile(r"(?<![\w./:~$@-])((?:\.\./)*(?:[\w-][\w.-]*/)+[\w-][\w.-]*\.[A-Za-z][\w]*)")
#: A bare document name, as in "flows.md" or "dhcp.md §10".
_DOC = re.compile(r"(?<![\w./:~$@-])([\w-]+\.md)\b")


def _places(root: Path, cited_from: str) -> list[Path]:
    """Where a relative citation in ``cited_from`` may point: the repository
    root, the citing file's folder and the folders above it (a module may cite
    a sibling package as serve/datadir.py), and docs/ for a bare document."""
    here = (root / cited_from).parent
    return [here, *[p for p in here.parents if p == root or root in p.parents], root / "docs"]


def missing_citations(root: Path, cited_from: str, text: str) -> Iterator[tuple[int, str]]:
    """(line, citation) for every cited repository path in ``text`` that does not exist."""
    places = _places(root, cited_from)
    starts = {p.name for place in places[:-1] if place.is_dir() for p in place.iterdir() if p.is_dir()}
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in _PATH.finditer(line):
            cite = m.group(1)
            first = cite.split("/", 1)[0]
            # Only a path that starts in the repository is a citation; fw/image.bin in a test is an example name.
            if first != ".." and first not in starts:
                continue
            if not any((place / cite).exists() for place in places):
                yield lineno, cite
        for m in _DOC.finditer(line):
            cite = m.group(1)
            if not any((place / cite).exists() for place in places):
                yield lineno, cite


def _citing_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not SKIPPED_DIRS.search((here / d).relative_to(root).as_posix()))
        for name in sorted(files):
            rel = (here / name).relative_to(root).as_posix()
            if not SKIPPED_FILES.match(rel) and (Path(name).suffix in CITING_SUFFIXES or rel in CITING_FILES):
                yield here / name


def test_keyword_table_is_current() -> None:
    doc = docgen.DOC.read_text()
    assert docgen.render(doc) == doc, "run: python -m pktcable.docgen"


def test_every_path_cited_in_code_and_docs_exists() -> None:
    broken = []
    scanned = 0
    for path in _citing_files(ROOT):
        rel = path.relative_to(ROOT).as_posix()
        scanned += 1
        for lineno, cite in missing_citations(ROOT, rel, path.read_text(encoding="utf-8", errors="replace")):
            broken.append(f"{rel}:{lineno}: {cite}")
    assert scanned > 100, f"only {scanned} files scanned: the walk is broken"
    assert not broken, "cited paths that do not exist (a document outside the repository is cited " \
        "by its spec name, e.g. PKT-SP-PROV1.5 or RFC 2131, not as a path):\n" + "\n".join(broken)


def test_a_citation_of_a_missing_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "serve.md").write_text("# serve\n")
    (tmp_path / "pkg" / "serve").mkdir(parents=True)
    (tmp_path / "pkg" / "serve" / "datadir.py").write_text("")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "a.toml").write_text("")
    text = "\n".join([
        "see docs/serve.md and serve.md",  # exist
        "the data dir (serve/datadir.py)",  # relative to the package: exists
        "as in ../examples/a.toml",  # relative to docs/: exists
        "rules in dhcp.md §10",  # missing bare document
        "see docs/xyz.md",  # missing path
        "from ../shared/notes.md",  # missing, outside
        "from tests/data/missing.bin",  # missing test data
        "http://127.0.0.1:9/mta.cfg /etc/pktcable/x.toml fw/image.bin",  # examples, not citations
        "PKT-SP-PROV1.5 §7.3, RFC 2131 §4.1",  # spec names
    ])
    missing = list(missing_citations(tmp_path, "pkg/serve/config.py", text))
    assert missing == [(4, "dhcp.md"), (5, "docs/xyz.md"), (6, "../shared/notes.md"), (7, "tests/data/missing.bin")]
    doc_missing = list(missing_citations(tmp_path, "docs/serve.md", "[prod](../examples/a.toml), [x](../examples/b.toml)"))
    assert doc_missing == [(1, "../examples/b.toml")]
