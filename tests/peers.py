"""Real third-party peers for interop tests.

``require("snmpget")`` returns the tool's path. When a tool (or root, for
network namespaces) is missing the test is skipped on a developer's machine,
but under CI=true it fails: CI installs every peer (.ci/run), so a missing one
is a broken CI, not a reason to pass.
"""

from __future__ import annotations

import os
import shutil

import pytest

CI = os.environ.get("CI", "").lower() == "true"


def require(*tools: str, root: bool = False) -> str:
    """Skip (fail under CI) unless every tool is on PATH; returns the first's path."""
    missing = [t for t in tools if shutil.which(t) is None]
    if root and os.geteuid() != 0:
        missing.append("root (network namespaces)")
    if missing:
        message = f"missing: {', '.join(missing)} (Debian packages: see .ci/run)"
        if CI:
            pytest.fail(message + "; CI=true: the CI script must install it")
        pytest.skip(message)
    return (shutil.which(tools[0]) or "") if tools else ""
