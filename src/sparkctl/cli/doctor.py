"""sparkctl doctor: can this host run the stack, and what to fix."""

from __future__ import annotations

import typer

from sparkctl.errors import NotAvailableYet


def doctor(ctx: typer.Context) -> None:
    """Check whether the host can run the platform and say what to fix."""
    raise NotAvailableYet("sparkctl doctor")
