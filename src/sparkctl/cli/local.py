"""sparkctl local: the GraphRAG stack as local processes with embedded servers."""

from __future__ import annotations

import contextlib
import enum
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sparkctl.cli import local_views
from sparkctl.cli.context import app_context
from sparkctl.cli.options import Yes, sub_app
from sparkctl.cli.render import escape, print_json, stderr, stdout
from sparkctl.local.signals import signals_ignored, signals_interrupt

if TYPE_CHECKING:
    from sparkctl.local.daemon import DetachedStack
    from sparkctl.local.stack import LocalStack
    from sparkctl.local.supervisor import SupervisionEvent

app = sub_app("Run the GraphRAG stack on this machine, no cluster needed.")

SUPERVISE_INTERVAL = 0.25
"""Seconds between two rounds of supervision in the foreground."""

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Where data lives (default ~/.local/share/sparkctl/local; as root, /var/lib/sparkctl/local).",
        file_okay=False,
    ),
]


class Embedder(enum.StrEnum):
    llm = "llm"
    hash = "hash"


@app.command()
def up(
    ctx: typer.Context,
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option("--port", metavar="PORT", min=1, max=65535, help="Orchestrator port.")] = 8100,
    llm_url: Annotated[
        str, typer.Option("--llm-url", metavar="URL", help="Ollama, or an OpenAI-compatible /v1 base URL.")
    ] = "http://127.0.0.1:11434",
    embedder: Annotated[
        Embedder,
        typer.Option("--embedder", metavar="llm|hash", help="llm (the embed model) or hash (offline, lower quality)."),
    ] = Embedder.llm,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            envvar="SPARKCTL_API_KEYS",
            help="Require this API key (or the orchestrator's key entries).",
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return once ready; a supervisor keeps it running in the background.")
    ] = False,
) -> None:
    """Start the stack and restart what crashes.

    PostgreSQL, Redis, NATS and the GraphRAG services. On a stack that is partly down, start what is missing;
    on a healthy one, say that it runs.
    """
    from sparkctl.local.plan import StackOptions
    from sparkctl.local.stack import LocalStack
    from sparkctl.local.state import default_data_dir

    json_output = app_context(ctx).json
    options = StackOptions(data_dir or default_data_dir(), port, llm_url, embedder.value, api_key, detach)
    with signals_interrupt():
        if detach:
            from sparkctl.local.daemon import DetachedStack

            _up_detached(DetachedStack(options), json_output)
            return
        stack = LocalStack(options)
        claim = stack.claim()
        for notice in claim.notices:
            _warn(notice)
        if claim.retried:
            stack.await_recovery(claim)
            _recovered(json_output)
        elif json_output:
            _up_quietly(stack)
        else:
            _up_foreground(stack)


def _up_quietly(stack: LocalStack) -> None:
    """--output json in the foreground: one JSON document once every service is ready, then supervise."""

    def ready(warnings: list[str]) -> None:
        for warning in warnings:
            _warn(warning)
        print_json(local_views.up_json(stack, warnings))

    _supervise(stack, ready, lambda event: stderr().print(escape(event.message), highlight=False))


def _up_detached(stack: DetachedStack, json_output: bool) -> None:
    """Start the stack under a supervisor process of its own; show its progress until it is ready."""
    from rich.live import Live

    err = stderr()
    live = Live(console=err, transient=True, refresh_per_second=4, get_renderable=lambda: local_views.overview(stack))
    try:
        if json_output:
            warnings = stack.start(_warn)
        else:
            with live:
                warnings = stack.start(lambda notice: live.console.print(_warning(notice), highlight=False))
    except KeyboardInterrupt:
        with signals_ignored():
            stack.cancel()
        raise
    for warning in warnings:
        _warn(warning)
    if json_output:
        print_json(local_views.up_json(stack, warnings))
        return
    console = stdout()
    console.print(local_views.overview(stack))
    console.print(
        "A supervisor restarts what crashes. Stop it with `sparkctl local down`; see its logs with "
        "`sparkctl local logs`.",
        highlight=False,
    )


def _up_foreground(stack: LocalStack) -> None:
    """A live table while the stack starts and runs."""
    from rich.live import Live

    with Live(console=stdout(), refresh_per_second=2, get_renderable=lambda: local_views.overview(stack)) as live:

        def ready(warnings: list[str]) -> None:
            for warning in warnings:
                live.console.print(_warning(warning), highlight=False)

        def event(happened: SupervisionEvent) -> None:
            style = "green" if happened.kind == "restarted" else "red" if happened.kind == "failed" else "yellow"
            live.console.print(f"[{style}]{escape(happened.message)}[/]", highlight=False)

        _supervise(stack, ready, event)


def _recovered(json_output: bool) -> None:
    """What `up` shows after the stack's own supervisor brought back what was down."""
    from sparkctl.local.status import stack_status

    report = stack_status()
    if json_output:
        print_json(local_views.status_json(report))
        return
    if report.state is not None:
        stdout().print(local_views.recorded_overview(report))


def _supervise(
    stack: LocalStack, on_ready: Callable[[list[str]], None], on_event: Callable[[SupervisionEvent], None]
) -> None:
    """Start the stack, then restart what crashes until Ctrl-C (or SIGTERM from `down`); then stop it in order.

    Interrupted before every service is ready, the command fails (exit 130); afterwards, that is how it ends.
    SIGUSR1 (from another `sparkctl local up`) restarts failed processes at once.
    """
    finished = False
    retry = signal.signal(signal.SIGUSR1, lambda signum, frame: stack.request_retry())
    try:
        try:
            on_ready(stack.start())
            while not stack.finished:
                for event in stack.supervise():
                    on_event(event)
                time.sleep(SUPERVISE_INTERVAL)
            finished = True
        except KeyboardInterrupt:
            if not stack.ready:
                raise
    finally:
        with signals_ignored():
            stack.stop()
        signal.signal(signal.SIGUSR1, retry)
    if finished:
        from sparkctl.errors import ProcessError

        raise ProcessError(
            "every process of the local stack failed and was left down", hint="See why with `sparkctl local logs`."
        )


@app.command()
def down(
    ctx: typer.Context,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the data directory.")] = False,
    data_dir: DataDir = None,
    yes: Yes = False,
) -> None:
    """Stop the local stack; data stays unless --purge."""
    from sparkctl.local.state import purge_data, purge_target, stop_stack

    json_output = app_context(ctx).json
    target = purge_target(data_dir) if purge else None
    if target is not None and not yes:
        typer.confirm(f"Delete {target} and everything in it (databases, graphs, logs, secrets)?", abort=True, err=True)
    err = stderr()
    stopped = stop_stack(on_stop=lambda name: err.print(f"stopping {name}", style="dim", highlight=False))
    purged = purge_data(target) if target is not None else False
    kept = stopped.state.data_dir if stopped.state is not None and target is None else None
    if json_output:
        print_json({"found": stopped.found, "deleted": str(target) if purged else None, "kept": kept})
        return
    messages = {
        "none": "No local stack is running.",
        "stale": "No local stack was running; removed its stale state file.",
        "unreadable": "Removed an unreadable state file; no stack could be found through it.",
        "running": "Stopped the local stack.",
    }
    console = stdout()
    console.print(messages[stopped.found], highlight=False)
    if target is not None:
        console.print(f"Deleted {target}." if purged else f"There was no data in {target}.", highlight=False)
    elif kept is not None and stopped.found == "running":
        console.print(f"Data kept in {kept}.", highlight=False)


@app.command()
def status(ctx: typer.Context) -> None:
    """Show each process (state, restarts, last exit, health) and the model server; exit 1 while a process is down."""
    from sparkctl.local.model_servers import model_servers
    from sparkctl.local.status import stack_status

    report = stack_status()
    trouble = report.trouble()
    servers = model_servers(report.state.llm_url, report.state.embedder) if report.running and report.state else []
    if app_context(ctx).json:
        print_json(local_views.status_json(report, servers))
    elif report.state is None and report.problem is None:
        stdout().print("No local stack is running.")
    elif report.state is not None:
        console = stdout()
        console.print(local_views.recorded_overview(report))
        for line in local_views.model_server_lines(servers):
            console.print(escape(line), highlight=False, soft_wrap=True)
        for view in report.services:
            if view.log_tail and view.name in report.down:
                console.print(f"last lines of {view.name} ({view.log}):", style="bold", highlight=False)
                for line in view.log_tail:
                    console.print(f"  {escape(line)}", style="dim", highlight=False)
    if trouble is not None:
        raise trouble


@app.command()
def logs(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="One service (default: all).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    lines: Annotated[
        int, typer.Option("--lines", "-n", metavar="N", min=0, help="Lines from the end of each log.")
    ] = 20,
    data_dir: DataDir = None,
) -> None:
    """Print the local services' logs."""
    from sparkctl.local.process import follow_lines, tail_lines
    from sparkctl.local.state import log_files

    json_output = app_context(ctx).json
    files = log_files(data_dir=data_dir, service=service)
    tails = {name: tail_lines(path, lines) for name, path in files.items()}
    if json_output and not follow:
        print_json(tails)
        return
    for name, tail in tails.items():
        if len(files) > 1 and not json_output:
            _write(f"==> {name} ({files[name]}) <==")
        for line in tail:
            _write(_json_line(name, line) if json_output else line)
    if not follow:
        return
    width = max(len(name) for name in files)
    with contextlib.suppress(KeyboardInterrupt):
        for name, line in follow_lines(files):
            if json_output:
                _write(_json_line(name, line))
            else:
                _write(f"{name:>{width}} | {line}" if len(files) > 1 else line)


def _warning(message: str) -> str:
    return f"[yellow]Warning:[/] {escape(message)}"


def _warn(message: str) -> None:
    stderr().print(_warning(message), highlight=False)


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _json_line(name: str, line: str) -> str:
    import json

    return json.dumps({"service": name, "line": line})
