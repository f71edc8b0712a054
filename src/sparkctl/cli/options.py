"""What several commands share, declared once: options, and how a sub-app is made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sparkctl.cli.help import SparkTyper

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ModelsFile = Annotated[
    Path | None,
    typer.Option(
        "--models",
        metavar="FILE",
        help="models.toml to use (default: $SPARKCTL_MODELS, ./models.toml, then the built-in one).",
        dir_okay=False,
    ),
]
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        metavar="URL",
        help="Orchestrator URL (default: $SPARKCTL_ENDPOINT, the local stack, else the cluster's NodePort 31800).",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", metavar="KEY", envvar="SPARKCTL_API_KEY", help="API key for the orchestrator."),
]
Workspace = Annotated[str, typer.Option("--workspace", "-w", metavar="NAME", help="Workspace (tenant) to use.")]


def sub_app(help: str) -> SparkTyper:
    """A Typer sub-app with sparkctl's conventions (plain, fast help; help when called bare)."""
    return SparkTyper(help=help, no_args_is_help=True, rich_markup_mode=None, add_completion=False)
