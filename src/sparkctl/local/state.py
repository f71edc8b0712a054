"""The state file a detached local stack leaves behind: pids, ports and the orchestrator's endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from sparkctl.paths import state_dir


def state_file() -> Path:
    return state_dir() / "local-stack.json"


def running_endpoint(path: Path | None = None) -> str | None:
    """The orchestrator URL of the local stack if its state file says one is running, else None."""
    try:
        state = json.loads((path or state_file()).read_text())
    except (FileNotFoundError, ValueError):
        return None
    endpoint = state.get("endpoint") if isinstance(state, dict) else None
    return endpoint if isinstance(endpoint, str) else None
