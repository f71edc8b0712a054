"""Every command's help spells its arguments as something to type: `PATH...`, `[NAME]`, never `{paths}...` or a
Python type such as `<list[Path]>`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from sparkctl.cli.app import app

PYTHON_SPELLING = re.compile(r"\{\w+\}|<[\w\[\], |.]+>")


def command_paths() -> Iterator[list[str]]:
    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(get_command(app), [])


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda path: " ".join(path) or "sparkctl")
def test_help_has_no_python_spellings(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert PYTHON_SPELLING.findall(result.output) == []


def test_arguments_read_as_usage() -> None:
    ingest = CliRunner().invoke(app, ["ingest", "--help"], env={"COLUMNS": "120"}).output
    assert "Usage: sparkctl ingest [OPTIONS] PATH..." in ingest
    pull = CliRunner().invoke(app, ["models", "pull", "--help"], env={"COLUMNS": "120"}).output
    assert "Usage: sparkctl models pull [OPTIONS] [MODEL...]" in pull
    logs = CliRunner().invoke(app, ["local", "logs", "--help"], env={"COLUMNS": "120"}).output
    assert "Usage: sparkctl local logs [OPTIONS] [SERVICE]" in logs
