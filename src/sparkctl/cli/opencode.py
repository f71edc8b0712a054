"""sparkctl opencode: point the OpenCode IDE at the platform's models."""

from __future__ import annotations

import typer

from sparkctl.cli.options import DryRun, ModelsFile, Yes, sub_app
from sparkctl.errors import NotAvailableYet

app = sub_app("Configure the OpenCode IDE for the local models.")


@app.command()
def setup(ctx: typer.Context, models_file: ModelsFile = None, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Write OpenCode's configuration for the served models and the orchestrator."""
    raise NotAvailableYet("sparkctl opencode setup")
