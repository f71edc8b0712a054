"""How `sparkctl local` shows the stack: the table of processes (state, restarts, last exit, health) under the
endpoint, and the JSON documents of `up` and `status`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

    from sparkctl.local.daemon import DetachedStack
    from sparkctl.local.stack import LocalStack
    from sparkctl.local.state import StackState
    from sparkctl.local.status import ServiceView, StackStatus
    from sparkctl.services.orchestrator.model_servers import ServerState

    Stack = LocalStack | DetachedStack


def overview(stack: Stack) -> RenderableType:
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


def recorded_overview(report: StackStatus) -> RenderableType:
    from sparkctl.local.state import embedder_label

    state = report.state
    assert state is not None
    return _framed(
        report.services,
        endpoint=state.endpoint,
        api_key=state.api_key,
        embedder=embedder_label(state.embedder, state.llm_url),
        data_dir=state.data_dir,
        footer=f"{'detached' if state.detached else 'foreground'}, started {state.started_at}, {_supervisor(state)}",
    )


def _supervisor(state: StackState) -> str:
    if state.supervisor is None:
        return "no supervisor"
    return f"supervisor pid {state.supervisor.pid}" + ("" if state.supervised else " (exited)")


def _framed(
    views: list[ServiceView], *, endpoint: str, api_key: bool, embedder: str, data_dir: Path, footer: str
) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title_justify="left")
    for column in ("service", "state", "restarts", "last exit", "port", "pid", "health", "log"):
        table.add_column(column)
    for view in views:
        table.add_row(
            view.name,
            Text(view.state, style=_STATE_STYLES.get(view.state.split(" ")[0], "red")),
            str(view.restarts) if view.restarts else "-",
            view.last_exit or "-",
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
    "restarting": "yellow",
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


def up_json(stack: Stack, warnings: list[str]) -> dict[str, Any]:
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


def model_server_lines(servers: list[ServerState]) -> list[str]:
    """One line per model server: reachable with its models and their context, or why not."""
    from sparkctl.services.orchestrator.resources import where

    lines = []
    for server in servers:
        if not server.reachable:
            lines.append(
                f"model server {where(server.url)}: unreachable ({server.error}); ingest of documents and chat "
                "need one (Ollama: `ollama serve`)"
            )
            continue
        context = ", ".join(f"{name} {size or '?'}" for name, size in server.context.items())
        lines.append(f"model server {where(server.url)}: {len(server.models)} model(s) listed; context: {context}")
    return lines


def status_json(report: StackStatus, servers: list[ServerState] | None = None) -> dict[str, Any]:
    from sparkctl.local.state import embedder_label

    state = report.state
    trouble = report.trouble()
    body: dict[str, Any] = {
        "state_file": str(report.state_file),
        "running": report.running,
        "stale": report.stale,
        "healthy": trouble is None,
        "down": report.down,
        "problem": trouble.message if trouble is not None else None,
        "hint": trouble.hint if trouble is not None else None,
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
            "supervisor": (
                {"pid": state.supervisor.pid, "running": state.supervised} if state.supervisor is not None else None
            ),
            "model_servers": [server.to_json() for server in servers or []],
        }
    return body
