"""`sparkctl console` as a user runs it (a subprocess with a private HOME): it checks that the orchestrator
answers, prints the console's URL and opens it in the browser ($BROWSER, here a script that records what it was
asked to open), never with the API key in it; with no orchestrator it says what to start."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sparkctl.local.process import free_port
from support.local_cli import Cli
from support.orchestrator import Start

pytestmark = pytest.mark.integration


def recording_browser(folder: Path) -> tuple[Path, Path]:
    """A $BROWSER program that writes the URL it is given into a file; (program, file)."""
    opened = folder / "opened.txt"
    program = folder / "browser.sh"
    program.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program, opened


def test_console_opens_the_ui_url_of_the_orchestrator_without_the_key(
    cli: Cli, start_orchestrator: Start, tmp_path: Path
) -> None:
    url = start_orchestrator()
    program, opened = recording_browser(tmp_path)

    result = cli.run("console", "--endpoint", url, env={"BROWSER": str(program), "SPARKCTL_API_KEY": "admin-key"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{url}/ui/"
    assert opened.read_text() == f"{url}/ui/"


def test_console_without_a_browser_prints_the_url_as_json(cli: Cli, start_orchestrator: Start) -> None:
    url = start_orchestrator()
    result = cli.run("-o", "json", "console", "--no-browser", env={"SPARKCTL_ENDPOINT": url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"url": f"{url}/ui/", "opened": False}


def test_console_with_no_orchestrator_says_what_to_start(cli: Cli, tmp_path: Path) -> None:
    program, opened = recording_browser(tmp_path)
    result = cli.run("console", "--endpoint", f"http://127.0.0.1:{free_port()}", env={"BROWSER": str(program)})
    assert result.returncode == 1
    assert "cannot reach the orchestrator" in result.stderr and "sparkctl local up" in result.stderr
    assert "Traceback" not in result.stderr
    assert not opened.exists()
