"""Where sparkctl keeps its files on the machine it runs on (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def config_dir() -> Path:
    """sparkctl's configuration: config.toml, known_hosts."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "sparkctl"


def data_dir() -> Path:
    """sparkctl's data, such as the local stack's databases."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "sparkctl"


def state_dir() -> Path:
    """sparkctl's state: REPL history, the local stack's state file."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "sparkctl"


def cache_dir() -> Path:
    """What sparkctl can fetch again: mirrors of the remote repositories a digest reads."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "sparkctl"
