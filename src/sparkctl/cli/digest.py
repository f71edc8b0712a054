"""sparkctl digest: collect a window of git commits, have the stack summarise them, show the daily digests, and
schedule the collection every day (a CronJob in the cluster, or a crontab line for the local stack)."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import AppContext, OutputFormat, app_context
from sparkctl.cli.options import ApiKey, DryRun, Endpoint, Workspace, Yes, sub_app
from sparkctl.cli.render import escape, print_json, stderr, stdout
from sparkctl.errors import ConfigError, SparkctlError

if TYPE_CHECKING:
    from rich.console import Console

    from sparkctl.client import OrchestratorClient
    from sparkctl.cluster.steps import Step
    from sparkctl.digest.collect import Collected, Selection, Window
    from sparkctl.digest.schedule import Schedule
    from sparkctl.kube import Kube

app = sub_app("The daily digest of git commits, summarised by the stack's model.")

BATCH_COMMITS = 200
"""Commits per request: a day of a busy monorepo goes in several."""

ToDir = Annotated[
    Path | None,
    typer.Option("--to-dir", metavar="DIR", file_okay=False, help="Also write each digest to DIR/REPO/DAY.md."),
]
ToWebhook = Annotated[
    bool, typer.Option("--webhook", help="Also post each digest to the config file's digest_webhook (Slack JSON).")
]


@app.command()
def run(
    ctx: typer.Context,
    repos: Annotated[list[str], typer.Argument(help="Repository folders, or URLs git can clone (cached).")],
    since: Annotated[
        str, typer.Option("--since", metavar="WHEN", help="Start of the window: a duration back (24h, 7d) or a date.")
    ] = "24h",
    until: Annotated[
        str | None, typer.Option("--until", metavar="WHEN", help="End of the window (default: now).")
    ] = None,
    branch: Annotated[
        str | None, typer.Option("--branch", metavar="NAME", help="Only this branch (default: every branch).")
    ] = None,
    merges: Annotated[bool, typer.Option("--merges/--no-merges", help="Summarise merge commits too.")] = False,
    bots: Annotated[bool, typer.Option("--bots/--no-bots", help="Summarise bots' commits too.")] = False,
    model: Annotated[
        str | None, typer.Option("--model", metavar="NAME", help="Model name or role (default: the extract model).")
    ] = None,
    workspace: Workspace = "default",
    to_dir: ToDir = None,
    webhook: ToWebhook = False,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Collect the window's commits, have the stack summarise the new ones, and print each day's digest.

    A commit already summarised is never summarised again: a second run of the same window only writes the
    digests anew. With --output json, stdout holds the digests; with --output markdown, their Markdown."""
    from sparkctl.digest.collect import Selection, Window

    state = app_context(ctx)
    window = Window.parse(since, until)
    selection = Selection(branch=branch, merges=merges, bots=bots)
    console = stderr()
    with state.client(endpoint, api_key) as client:
        queued = [
            _submit(client, _collected(repo, window, selection, console, state), window, model, workspace, state)
            for repo in repos
        ]
        finals = [_follow(client, job, console, state) for job in queued if job is not None]
        shown = [
            digest
            for collected_repo in {job["source"] for job in finals}
            for digest in client.digests(workspace=workspace, repository=collected_repo)
            if window.since.date() <= _day(digest) <= window.until.date()
        ]
    _render(state, shown)
    _publish(state, shown, to_dir, webhook)
    failed = [job for job in finals if job["status"] == "failed"]
    if failed:
        raise SparkctlError(
            f"the digest of {failed[0]['source']} failed: {failed[0]['error'] or 'no reason given'}",
            hint=f"See sparkctl jobs show {failed[0]['id']}",
        )


@app.command()
def show(
    ctx: typer.Context,
    repo: Annotated[str | None, typer.Option("--repo", metavar="NAME", help="Only this repository.")] = None,
    day: Annotated[str | None, typer.Option("--day", metavar="YYYY-MM-DD", help="Only this day.")] = None,
    workspace: Workspace = "default",
    to_dir: ToDir = None,
    webhook: ToWebhook = False,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Show the stored digests, newest first (--output json or markdown for their raw forms)."""
    state = app_context(ctx)
    with state.client(endpoint, api_key) as client:
        found = client.digests(workspace=workspace, repository=repo, day=day)
    if not found and not state.json:
        stderr().print("No digest matches; `sparkctl digest run REPO` makes them.")
        return
    _render(state, found)
    _publish(state, found, to_dir, webhook)


@app.command()
def schedule(
    ctx: typer.Context,
    repos: Annotated[
        list[str] | None,
        typer.Argument(help="Repository URLs the cluster clones (with --local: folders or URLs).", show_default=False),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", metavar="HH:MM", help="Time of day of the run, on a 24-hour clock.")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", metavar="ZONE", help="IANA time zone of --at (default: the cluster's or cron's)."),
    ] = None,
    since: Annotated[
        str, typer.Option("--since", metavar="DURATION", help="Window of each run, back from it (24h or more).")
    ] = "24h",
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="CronJob name (default: from the repositories).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", metavar="NAME", help="Model name or role (default: the extract model).")
    ] = None,
    workspace: Workspace = "default",
    local: Annotated[
        bool, typer.Option("--local", help="Print the crontab line for the local stack instead; change nothing.")
    ] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the digests scheduled in the cluster.")] = False,
    remove: Annotated[
        str | None, typer.Option("--remove", metavar="NAME", help="Remove this schedule from the cluster.")
    ] = None,
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """Run `digest run` every day: a CronJob in the cluster's GraphRAG namespace that clones the repositories and
    runs the collector from the services image; with --local, the equivalent crontab line, printed.

    The cluster is the target unless --local is given (scheduling is not guessed from a running local stack).
    --dry-run shows the plan; with --output yaml, the CronJob's manifest."""
    from sparkctl.digest.schedule import DailyAt, Schedule

    state = app_context(ctx)
    if list_ or remove:
        given = [flag for flag, used in (("REPO", repos), ("--at", at), ("--local", local)) if used]
        if given or (list_ and remove):
            what = "--list" if list_ else "--remove"
            raise ConfigError(f"{what} takes no {' or '.join(given) or '--remove'}", hint=f"Run {what} on its own.")
        if list_:
            _list_schedules(state)
        else:
            _unschedule(state, str(remove), dry_run=dry_run, yes=yes)
        return
    if at is None or not repos:
        raise ConfigError(
            "digest schedule needs --at and at least one repository",
            hint="For example: sparkctl digest schedule --at 06:00 https://github.com/acme/api.git",
        )
    planned = Schedule(DailyAt.parse(at, timezone), tuple(repos), since, name, workspace, model)
    for warning in planned.warnings():
        stderr().print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if local:
        _print_crontab(state, planned)
    else:
        _schedule_in_cluster(state, planned, dry_run=dry_run)


def _print_crontab(state: AppContext, planned: Schedule) -> None:
    from sparkctl.digest.schedule import crontab_lines, sparkctl_program
    from sparkctl.paths import state_dir

    here = planned.on_this_machine()
    log = state_dir() / "logs" / f"{here.cronjob_name}.log"
    lines = crontab_lines(here, sparkctl_program(), log)
    if state.json:
        print_json({"crontab": lines, "log": str(log)})
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    typer.echo("\n".join(lines))
    console = stderr()
    console.print(f"Add it with `crontab -e` (nothing was changed); each run appends to {escape(str(log))}.")
    if planned.at.timezone:
        console.print(
            "CRON_TZ applies to every line after it; cronie honours it, a cron that does not (see `man 5 crontab`) "
            "runs the line in the system's time zone.",
            highlight=False,
        )


def _open_cluster(state: AppContext) -> Kube:
    from sparkctl.cluster.kubeconfig import open_cluster

    try:
        return open_cluster(state.host_spec or state.config.host, state.kubeconfig)
    except ConfigError as error:
        error.hint = f"{error.hint} For the local stack, --local prints a crontab line instead.".strip()
        raise


def _schedule_in_cluster(state: AppContext, planned: Schedule, *, dry_run: bool) -> None:
    from sparkctl.digest.schedule import cronjob
    from sparkctl.digest.schedule_plan import schedule_steps

    if state.output is OutputFormat.yaml:
        from sparkctl.deploy.releases import manifests_yaml

        if not dry_run:
            raise ConfigError("--output yaml prints the manifest of a dry run", hint="Add --dry-run.")
        typer.echo(manifests_yaml([cronjob(planned)]), nl=False)
        return
    steps = schedule_steps(planned)
    when = str(planned.at)
    _run_plan(
        state,
        "digest schedule",
        steps,
        dry_run=dry_run,
        question=None,
        finished=f"[green]Scheduled:[/] {planned.cronjob_name} runs `digest run` every day at {escape(when)}. "
        f"`sparkctl digest schedule --list` shows it; its runs are the Jobs labelled "
        f"app.kubernetes.io/instance={planned.cronjob_name} in the graphrag namespace.",
    )


def _unschedule(state: AppContext, name: str, *, dry_run: bool, yes: bool) -> None:
    from sparkctl.digest.schedule_plan import unschedule_steps

    _run_plan(
        state,
        "digest schedule --remove",
        unschedule_steps(name),
        dry_run=dry_run,
        question=None if yes else f"Remove the schedule {name} (its past runs' Jobs go too)?",
        finished=f"[green]{escape(name)} is removed.[/] The digests it made stay.",
    )


def _run_plan(
    state: AppContext, command: str, steps: list[Step], *, dry_run: bool, question: str | None, finished: str
) -> None:
    """The plan as the deploy commands show it, on the cluster's API only (no helm, no host)."""
    from sparkctl.cli.plans import PlanRun, RunLog, plan_and_apply
    from sparkctl.cluster.actions import Target
    from sparkctl.cluster.facts import LiveFacts
    from sparkctl.deploy.session import ClusterOnly

    def no_helm() -> Any:
        raise SparkctlError(f"{command} uses the Kubernetes API only, never helm")

    log = RunLog(command)
    with _open_cluster(state) as kube:
        run = PlanRun(
            command,
            kube.server,
            steps,
            LiveFacts(None, lambda: kube, lambda: None),
            Target(ClusterOnly(), lambda: kube, no_helm, log.write),
            log,
        )
        confirm = None if question is None else lambda plan: typer.confirm(question, abort=True, err=True)
        plan_and_apply(state, run, dry_run=dry_run, confirm=confirm, finished=finished)


def _list_schedules(state: AppContext) -> None:
    import dataclasses

    from sparkctl.digest.schedule_plan import schedules

    with _open_cluster(state) as kube:
        found = schedules(kube)
    if state.json:
        print_json([dataclasses.asdict(item) for item in found])
        return
    if not found:
        stderr().print("No digest is scheduled in the cluster; `sparkctl digest schedule --at 06:00 URL` makes one.")
        return
    from rich.table import Table

    table = Table(title="Scheduled digests", title_justify="left")
    for column in ("name", "at", "repositories", "last run", "last success"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item.name,
            escape(item.at or item.cron),
            escape("\n".join(item.repositories)),
            item.last_run or "-",
            item.last_success or "-",
        )
    stdout().print(table)


def _publish(state: AppContext, found: list[dict[str, Any]], to_dir: Path | None, webhook: bool) -> None:
    """Deliver the digests where asked; each publisher says what it did (on stderr)."""
    from sparkctl.digest.publish import MarkdownFiles, Publisher, Webhook

    publishers: list[Publisher] = []
    if to_dir is not None:
        publishers.append(MarkdownFiles(to_dir))
    if webhook:
        url = state.config.digest_webhook
        if not url:
            raise ConfigError(
                "--webhook posts to the config file's digest_webhook, which is not set",
                hint='Add digest_webhook = "https://hooks.slack.com/services/…" to ~/.config/sparkctl/config.toml.',
            )
        publishers.append(Webhook(url))
    for publisher in publishers:
        done = publisher.publish(found)
        if not state.json:
            stderr().print(done, highlight=False)


def _collected(repo: str, window: Window, selection: Selection, console: Console, state: AppContext) -> Collected:
    from sparkctl.digest.collect import cached_clone, collect, is_remote
    from sparkctl.paths import cache_dir

    with console.status(f"collecting {escape(repo)}", spinner="dots") if not state.json else nullcontext():
        path = cached_clone(repo, cache_dir() / "repositories") if is_remote(repo) else Path(repo)
        collected = collect(path, window, selection)
    if not state.json:
        left = ", ".join(f"{count} {reason}" for reason, count in sorted(collected.left_out.items()))
        console.print(
            f"[bold]{escape(collected.repository)}[/]: {len(collected.commits)} commit(s)"
            + (f" ({left} left out)" if left else ""),
            highlight=False,
        )
    return collected


def _submit(
    client: OrchestratorClient,
    collected: Collected,
    window: Window,
    model: str | None,
    workspace: str,
    state: AppContext,
) -> dict[str, Any] | None:
    """Send the commits in batches, the last one queuing the digest job; the job."""
    commits = [commit.to_json() for commit in collected.commits]
    batches = [commits[start : start + BATCH_COMMITS] for start in range(0, len(commits), BATCH_COMMITS)] or [[]]
    answer: dict[str, Any] = {}
    for index, batch in enumerate(batches):
        payload = {
            "repository": collected.repository,
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "commits": batch,
            "model": model,
            "queue": index == len(batches) - 1,
        }
        answer = client.submit_digest(payload, workspace=workspace)
    jobs = answer.get("jobs") or []
    return jobs[0] if jobs else None


def _follow(client: OrchestratorClient, job: dict[str, Any], console: Console, state: AppContext) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("summarising {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("commits"),
        console=console, transient=True, disable=state.json,
    ) as progress:  # fmt: skip
        task = progress.add_task(escape(job["source"]), total=None)
        for current in client.follow_job(job["id"]):
            progress.update(task, total=current["files_total"] or None, completed=current["files_done"])
    return client.job(job["id"])


def _render(state: AppContext, found: list[dict[str, Any]]) -> None:
    if state.json:
        print_json(found)
    elif state.output is OutputFormat.markdown:
        typer.echo("\n".join(digest["markdown"] for digest in found), nl=False)
    else:
        from rich.markdown import Markdown

        for digest in found:
            stdout().print(Markdown(digest["markdown"]))


def _day(digest: dict[str, Any]) -> date:
    return date.fromisoformat(digest["day"])
