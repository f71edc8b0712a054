"""sparkctl digest: collect a window of git commits, have the stack summarise them, show the daily digests."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import AppContext, OutputFormat, app_context
from sparkctl.cli.options import ApiKey, Endpoint, Workspace, sub_app
from sparkctl.cli.render import escape, print_json, stderr, stdout
from sparkctl.errors import ConfigError, SparkctlError

if TYPE_CHECKING:
    from rich.console import Console

    from sparkctl.client import OrchestratorClient
    from sparkctl.digest.collect import Collected, Selection, Window

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
