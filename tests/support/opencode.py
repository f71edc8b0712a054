"""The real OpenCode CLI for the tests: npm's `opencode-ai`, installed once under ~/.cache/sparkctl-tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

OPENCODE_VERSION = "1.18.33"


@pytest.fixture(scope="session")
def opencode_binary() -> Path:
    """opencode from the npm registry (skipped where npm is missing or the install fails)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the OpenCode test needs it to install opencode-ai")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sparkctl-tests"
    prefix = cache / f"opencode-{OPENCODE_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "opencode"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), f"opencode-ai@{OPENCODE_VERSION}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if install.returncode != 0 or not binary.exists():
            pytest.skip(f"npm could not install opencode-ai@{OPENCODE_VERSION}: {install.stderr[-500:]}")
    return binary
