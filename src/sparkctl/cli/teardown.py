"""sparkctl teardown: remove stacks from the top down, keeping data unless asked."""

from __future__ import annotations

from typing import Annotated

import typer

from sparkctl.cli.options import DryRun, Yes
from sparkctl.errors import NotAvailableYet


def teardown(
    ctx: typer.Context,
    stacks: Annotated[
        list[str] | None, typer.Argument(help="What to remove: graphrag, models, cluster (default: graphrag models).")
    ] = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete data volumes and model weights.")] = False,
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """Remove stacks top down; data stays unless --purge.

    Order: GraphRAG, serving, then the cluster; storage always goes last.
    """
    raise NotAvailableYet("sparkctl teardown")
