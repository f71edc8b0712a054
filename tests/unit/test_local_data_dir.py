"""Where the local stack keeps its data by default: as root, a folder PostgreSQL's own user can reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkctl.local import state


def test_as_root_the_default_is_under_var_lib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state.os, "geteuid", lambda: 0)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)

    assert state.default_data_dir() == Path("/var/lib/sparkctl/local")


def test_otherwise_it_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(state.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))

    assert state.default_data_dir() == tmp_path / "sparkctl" / "local"
