"""sparkctl teardown: remove stacks from the top down, keeping data unless asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import DryRun, ModelsFile, Yes
from sparkctl.cli.plans import PlanRun, RunLog, plan_and_apply
from sparkctl.cli.render import escape, print_json, stdout
from sparkctl.errors import ConfigError, KubeError

if TYPE_CHECKING:
    from sparkctl.cluster.plan import Plan

STACKS = ("serve", "graphrag", "cluster", "all")


def teardown(
    ctx: typer.Context,
    stacks: Annotated[
        list[str] | None,
        typer.Argument(help="What to remove: serve, graphrag, cluster or all (default: graphrag and serve)."),
    ] = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete data volumes and model weights.")] = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    models_file: ModelsFile = None,
) -> None:
    """Remove stacks top down; data stays unless --purge.

    Order: GraphRAG, serving (llm-serving, KServe, cert-manager), then with `cluster` or `all` the cluster
    itself (`cluster down`); volumes go only with --purge, after everything that used them.
    """
    from sparkctl.deploy.session import DeploySession
    from sparkctl.deploy.teardown import stacks as stacks_of
    from sparkctl.deploy.teardown import teardown_plan_steps

    chosen = stacks or ["graphrag", "serve"]
    unknown = [name for name in chosen if name not in (*STACKS, "models")]
    if unknown:
        raise ConfigError(f"cannot tear down {', '.join(unknown)}", hint=f"Choose from {', '.join(STACKS)}.")
    whole = bool({"cluster", "all"} & set(chosen))
    names = ["graphrag", "serve"] if whole else ["serve" if name == "models" else name for name in chosen]
    state = app_context(ctx)
    removed = stacks_of(state.catalog(models_file), names)
    log = RunLog("teardown")
    report: list[dict[str, Any]] | None = [] if whole and state.json else None
    try:
        session = DeploySession(state.host_spec or state.config.host, state.kubeconfig, on_output=log.write)
    except (ConfigError, KubeError) as error:
        if not whole:
            raise
        if not state.json:
            stdout().print(f"[dim]{escape(error.message)}: the stacks go with the cluster.[/]")
    else:
        with session:

            def confirm(plan: Plan) -> None:
                volumes = next(planned for planned in plan.steps if planned.step.name == "volumes")
                typer.confirm(f"Remove {', '.join(names)} from the cluster?", abort=True, err=True)
                if purge and volumes.to_do:
                    typer.confirm(
                        f"--purge deletes these volumes and their data for good: {volumes.check.reason}. Go on?",
                        abort=True,
                        err=True,
                    )

            steps = teardown_plan_steps(removed, purge=purge)
            plan_and_apply(
                state,
                PlanRun("teardown", session.server, steps, session.facts, session.target, log),
                dry_run=dry_run,
                confirm=None if yes else confirm,
                finished=f"[green]Removed: {', '.join(names)}.[/]" + ("" if purge else " Their data volumes stay."),
                report=report,
            )
    if whole:
        from sparkctl.cli.cluster import cluster_down

        cluster_down(state, purge=purge, dry_run=dry_run, yes=yes, models_file=models_file, report=report)
    if report is not None:
        print_json({"plans": report})
