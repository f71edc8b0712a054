"""Everything the CLI writes: results on stdout (text or JSON), errors on stderr."""

from __future__ import annotations

import json
import sys
import traceback
from typing import TYPE_CHECKING, Any

from sparkctl.errors import SparkctlError

if TYPE_CHECKING:
    from rich.console import Console


def stdout() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document and nothing else on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def render_error(error: SparkctlError, *, verbose: bool) -> None:
    """One red line saying what failed, one line saying what to do."""
    console = stderr()
    if verbose:
        console.print(traceback.format_exc(), markup=False, highlight=False)
    console.print(f"[bold red]Error:[/] {escape(error.message)}", highlight=False)
    if error.hint:
        console.print(f"  {escape(error.hint)}", style="dim", highlight=False)


def render_unexpected(error: BaseException, *, verbose: bool) -> None:
    console = stderr()
    if verbose:
        console.print(traceback.format_exc(), markup=False, highlight=False)
    console.print(f"[bold red]Unexpected error:[/] {escape(type(error).__name__)}: {escape(str(error))}")
    if not verbose:
        console.print("  Run again with --verbose for the traceback, and report it.", style="dim")


def escape(text: str) -> str:
    """Text shown as it is, even when it holds rich markup such as [brackets]."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)
