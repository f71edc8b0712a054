"""sparkctl cluster: single-node Kubernetes on the Spark with kubeadm."""

from __future__ import annotations

from typing import Annotated

import typer

from sparkctl.cli.options import DryRun, Yes, sub_app
from sparkctl.errors import NotAvailableYet

app = sub_app("Bootstrap and inspect the Kubernetes cluster on the Spark.")


@app.command()
def up(ctx: typer.Context, dry_run: DryRun = False, yes: Yes = False) -> None:
    """Install Kubernetes (kubeadm, containerd with the NVIDIA runtime, Flannel, Helm,
    GPU Operator with time-slicing, Longhorn) and check that the GPU is shared."""
    raise NotAvailableYet("sparkctl cluster up")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show the cluster's nodes, GPU slices, storage and system pods."""
    raise NotAvailableYet("sparkctl cluster status")


@app.command()
def down(
    ctx: typer.Context,
    dry_run: DryRun = False,
    yes: Yes = False,
    purge: Annotated[bool, typer.Option("--purge", help="Also remove Longhorn data.")] = False,
) -> None:
    """Remove the Kubernetes cluster; containerd and the NVIDIA runtime stay."""
    raise NotAvailableYet("sparkctl cluster down")


@app.command()
def join(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="[user@]HOST[:PORT] of the machine to join as a worker.")],
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """Join another machine to the cluster as a worker node."""
    raise NotAvailableYet("sparkctl cluster join")
