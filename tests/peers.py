"""Real third-party peers for interop tests.

``require("snmpget")`` returns the tool's path. When the tool is missing the
test is skipped on a developer's machine, but under CI=true it fails: CI
installs every peer (.ci/run), so a missing one is a broken CI, not a reason
to pass.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (Debian package: see .ci/run)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
