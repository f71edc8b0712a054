"""sparkctl local: the GraphRAG stack as local processes with embedded servers."""

from __future__ import annotations

import contextlib
import enum
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import Yes, sub_app
from sparkctl.cli.render import escape, print_json, stderr, stdout

if TYPE_CHECKING:
    from rich.console import RenderableType

    from sparkctl.local.stack import LocalStack
    from sparkctl.local.state import ServiceView, StackStatus

app = sub_app("Run the GraphRAG stack on this machine, no cluster needed.")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
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
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Orchestrator port.")] = 8100,
    llm_url: Annotated[
        str, typer.Option("--llm-url", help="Ollama, or an OpenAI-compatible /v1 base URL.")
    ] = "http://127.0.0.1:11434",
    embedder: Annotated[
        Embedder, typer.Option("--embedder", help="llm (the embed model) or hash (offline, lower quality).")
    ] = Embedder.llm,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="SPARKCTL_API_KEYS", help="Require this API key (or the orchestrator's key entries)."
        ),
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return once ready; run in the background.")] = False,
) -> None:
    """Start PostgreSQL, Redis, NATS and the GraphRAG services."""
    from sparkctl.local.stack import LocalStack, StackOptions
    from sparkctl.local.state import default_data_dir

    json_output = app_context(ctx).json
    options = StackOptions(data_dir or default_data_dir(), port, llm_url, embedder.value, api_key, detach)
    stack = LocalStack(options)
    with _signals_interrupt():
        for notice in stack.claim():
            _warn(notice)
        if json_output:
            _up_quietly(stack)
        elif detach:
            _up_detached(stack)
        else:
            _up_foreground(stack)


def _up_quietly(stack: LocalStack) -> None:
    """--output json: one JSON document once every service is ready (then, in the foreground, wait)."""

    def ready(warnings: list[str]) -> None:
        for warning in warnings:
            _warn(warning)
        print_json(_up_json(stack, warnings))

    if stack.options.detach:
        ready(stack.start())
    else:
        _supervise(stack, ready)


def _up_detached(stack: LocalStack) -> None:
    from rich.live import Live

    live = Live(console=stderr(), transient=True, refresh_per_second=4, get_renderable=lambda: _overview(stack))
    with live:
        warnings = stack.start()
    for warning in warnings:
        _warn(warning)
    console = stdout()
    console.print(_overview(stack))
    console.print("Stop it with `sparkctl local down`; see its logs with `sparkctl local logs`.")


def _up_foreground(stack: LocalStack) -> None:
    """A live table while the stack starts and runs."""
    from rich.live import Live

    with Live(console=stdout(), refresh_per_second=2, get_renderable=lambda: _overview(stack)) as live:

        def ready(warnings: list[str]) -> None:
            for warning in warnings:
                live.console.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False)

        _supervise(stack, ready)


def _supervise(stack: LocalStack, on_ready: Callable[[list[str]], None]) -> None:
    """Start the stack, then wait until Ctrl-C (or SIGTERM from `down`); whenever that comes, stop it in order.

    Interrupted before every service is ready, the command fails (exit 130); afterwards, that is how it ends.
    """
    crashed = False
    try:
        try:
            on_ready(stack.start())
            while not stack.all_exited:
                time.sleep(0.5)
            crashed = True
        except KeyboardInterrupt:
            if not stack.ready:
                raise
    finally:
        with _signals_ignored():
            stack.stop()
    if crashed:
        from sparkctl.errors import ProcessError

        raise ProcessError("every process of the local stack has exited", hint="See why with `sparkctl local logs`.")


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
    """Show the local services: state, port, pid, health."""
    from sparkctl.local.state import stack_status

    report = stack_status()
    if app_context(ctx).json:
        print_json(_status_json(report))
        return
    console = stdout()
    if report.problem is not None:
        console.print(f"[yellow]{escape(report.problem)}[/]")
        console.print("`sparkctl local down` removes it.", style="dim")
        return
    if report.state is None:
        console.print("No local stack is running.")
        return
    console.print(_recorded_overview(report))
    if report.stale:
        console.print(
            f"[yellow]The state file {report.state_file} is stale: none of its processes runs (the stack crashed "
            "or the machine restarted).[/] `sparkctl local down` removes it; `sparkctl local up` starts afresh.",
            highlight=False,
        )


@app.command()
def logs(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="One service (default: all).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Lines from the end of each log.")] = 20,
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


def _overview(stack: LocalStack) -> RenderableType:
    from sparkctl.local.state import embedder_label

    options = stack.options
    views = stack.views()
    running = not options.detach and any(view.state == "running" for view in views)
    footer = "Ctrl-C stops every service." if running else ""
    return _framed(
        views,
        endpoint=options.endpoint,
        api_key=options.api_key is not None,
        embedder=embedder_label(options.embedder, options.llm_url),
        data_dir=options.data_dir,
        footer=footer,
    )


def _recorded_overview(report: StackStatus) -> RenderableType:
    from sparkctl.local.state import embedder_label

    state = report.state
    assert state is not None
    return _framed(
        report.services,
        endpoint=state.endpoint,
        api_key=state.api_key,
        embedder=embedder_label(state.embedder, state.llm_url),
        data_dir=state.data_dir,
        footer=f"{'detached' if state.detached else 'foreground'}, started {state.started_at}",
    )


def _framed(
    views: list[ServiceView], *, endpoint: str, api_key: bool, embedder: str, data_dir: Path, footer: str
) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title_justify="left")
    for column in ("service", "state", "port", "pid", "health", "log"):
        table.add_column(column)
    for view in views:
        table.add_row(
            view.name,
            Text(view.state, style=_STATE_STYLES.get(view.state.split(" ")[0], "red")),
            str(view.port) if view.port else "-",
            str(view.pid) if view.pid else "-",
            _health(view.healthy),
            str(view.log) if view.log else "-",
        )
    header = Text.assemble(
        ("endpoint  ", "bold"),
        endpoint,
        " (API key required)" if api_key else "",
        ("\nembedder  ", "bold"),
        embedder,
        ("\ndata      ", "bold"),
        str(data_dir),
    )
    parts: list[RenderableType] = [header, table]
    if footer:
        parts.append(Text(footer, style="dim"))
    return Group(*parts)


_STATE_STYLES = {
    "running": "green",
    "starting": "yellow",
    "waiting": "dim",
    "stopping": "yellow",
    "stopped": "dim",
    "not": "dim",
}


def _health(healthy: bool | None) -> Any:
    from rich.text import Text

    if healthy is None:
        return Text("-", style="dim")
    return Text("ok", style="green") if healthy else Text("failing", style="red")


def _up_json(stack: LocalStack, warnings: list[str]) -> dict[str, Any]:
    from sparkctl.local.state import embedder_label

    options = stack.options
    return {
        "endpoint": options.endpoint,
        "data_dir": str(options.data_dir),
        "embedder": options.embedder,
        "embedder_label": embedder_label(options.embedder, options.llm_url),
        "llm_url": options.llm_url,
        "api_key": options.api_key is not None,
        "detached": options.detach,
        "state_file": str(stack.state_path),
        "warnings": warnings,
        "services": [view.to_json() for view in stack.views()],
    }


def _status_json(report: StackStatus) -> dict[str, Any]:
    from sparkctl.local.state import embedder_label

    state = report.state
    body: dict[str, Any] = {
        "state_file": str(report.state_file),
        "running": report.running,
        "stale": report.stale,
        "problem": report.problem,
        "services": [view.to_json() for view in report.services],
    }
    if state is not None:
        body |= {
            "endpoint": state.endpoint,
            "data_dir": str(state.data_dir),
            "embedder": state.embedder,
            "embedder_label": embedder_label(state.embedder, state.llm_url),
            "llm_url": state.llm_url,
            "api_key": state.api_key,
            "detached": state.detached,
            "ready": state.ready,
            "started_at": state.started_at,
        }
    return body


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM (from `sparkctl local down`) and SIGHUP (terminal closed) stop the stack as Ctrl-C does."""
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """An orderly stop runs to its end, whatever signal comes meanwhile."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _warn(message: str) -> None:
    stderr().print(f"[yellow]Warning:[/] {escape(message)}", highlight=False)


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _json_line(name: str, line: str) -> str:
    import json

    return json.dumps({"service": name, "line": line})
