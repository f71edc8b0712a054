"""sparkctl ingest: send a codebase or documents to the GraphRAG stack and follow the job.

Progress goes to stderr; stdout holds only the result: the summary table, the job ids with --no-wait, or the jobs
as JSON with --output json.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sparkctl.cli.context import app_context
from sparkctl.cli.options import ApiKey, Endpoint, Workspace
from sparkctl.cli.render import escape, print_json, stderr, stdout
from sparkctl.errors import ConfigError, SparkctlError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from sparkctl.client import ApiRequestError, OrchestratorClient
    from sparkctl.pack import Document, PackProgress, PackResult

_RECONNECTS = 3
"""How often following a job is resumed when its event stream ends before the job does."""


@dataclass
class _Codebase:
    folder: Path
    name: str
    packed: PackResult


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Directories (codebases) or files (PDF, Markdown, text, code).")
    ],
    workspace: Workspace = "default",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job until it ends.")] = True,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", metavar="GLOB", help="Only files matching this gitignore-style glob."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="GLOB", help="Skip files matching this gitignore-style glob."),
    ] = None,
    code_only: Annotated[
        bool,
        typer.Option(
            "--code-only",
            help="Leave a folder's documents (Markdown, reST, text, PDF) out: only code, which needs no extract model.",
        ),
    ] = False,
    reindex: Annotated[
        bool,
        typer.Option(
            "--reindex",
            help="Clear the workspace and index this source anew, with the stack's embedder (after changing it).",
        ),
    ] = False,
    endpoint: Endpoint = None,
    api_key: ApiKey = None,
) -> None:
    """Add a codebase or documents to a workspace's graph.

    A folder is packed honouring .gitignore and sent as a codebase; ingesting it again only indexes what changed.
    Files are sent as documents. With --output json, stdout holds the jobs' final records.
    """
    from sparkctl.pack import read_document, split_sources

    state = app_context(ctx)
    console = stderr()
    folders, files = split_sources(paths)
    if reindex and len(folders) + min(len(files), 1) > 1:
        raise ConfigError(
            "--reindex clears the workspace before indexing, so it takes one folder or one set of files",
            hint="Run `sparkctl ingest --reindex` with the first source, then ingest the others without it.",
        )
    if (include or exclude or code_only) and not folders:
        raise ConfigError(
            "--include, --exclude and --code-only choose files inside folders, and no folder was given",
            hint="Name the files to send, or give the folder with the options.",
        )
    choice = _Choice(include or [], exclude or [], documents=not code_only)
    codebases = [_pack(folder, choice, console, state.json, state.verbose) for folder in folders]
    try:
        documents = [read_document(path) for path in files]
        with state.client(endpoint, api_key) as client:
            queued = _upload(client, codebases, documents, workspace, console, state.json, reindex=reindex)
            if not wait:
                _print_queued(queued, state.json)
                return
            finals = _follow_all(client, queued, console, state.json)
    finally:
        for codebase in codebases:
            codebase.packed.close()
    if state.json:
        print_json(finals)
    else:
        _print_summary(finals)
    _raise_for_failures(finals)


@dataclass(frozen=True)
class _Choice:
    """Which files of a folder are packed."""

    include: list[str]
    exclude: list[str]
    documents: bool


def _pack(folder: Path, choice: _Choice, console: Console, quiet: bool, verbose: bool) -> _Codebase:
    from sparkctl.pack import codebase_name, pack_directory

    name = codebase_name(folder)
    with _progress(console, quiet, "") as progress:
        task = progress.add_task(f"packing {name}", total=None)

        def show(event: PackProgress) -> None:
            if event.stage == "scanning":
                progress.update(task, description=f"scanning {name}: {event.files_seen} files")
            else:
                progress.update(
                    task, description=f"packing {name}", total=event.files_total, completed=event.files_done
                )

        packed = pack_directory(
            folder, include=choice.include, exclude=choice.exclude, documents=choice.documents, on_progress=show
        )
    if not quiet:
        _print_packed(console, name, packed, verbose)
    return _Codebase(folder, name, packed)


def _print_packed(console: Console, name: str, packed: PackResult, verbose: bool) -> None:
    console.print(
        f"[bold]{escape(name)}[/]: {len(packed.files)} files, {_size(packed.raw_bytes)} "
        f"({_size(packed.compressed_bytes)} compressed)",
        highlight=False,
    )
    if packed.skipped:
        console.print(f"  left out: {_reasons(packed.skipped_by_reason)}", style="dim", highlight=False)
        if verbose:
            for path, reason in packed.skipped:
                console.print(f"    {escape(path)}  {reason}", style="dim", highlight=False)
        else:
            console.print("  --verbose lists them", style="dim", highlight=False)


def _upload(
    client: OrchestratorClient,
    codebases: list[_Codebase],
    documents: list[Document],
    workspace: str,
    console: Console,
    quiet: bool,
    *,
    reindex: bool,
) -> list[dict[str, Any]]:
    """Send every codebase, then the documents in one request; the jobs the orchestrator queued."""
    from sparkctl.client import ApiRequestError
    from sparkctl.services.preprocessor.languages import document_kind_of

    queued: list[dict[str, Any]] = []
    with _progress(console, quiet, "{task.percentage:>3.0f}%", transfer=True) as progress:
        for codebase in codebases:
            task = progress.add_task(f"uploading {codebase.name}", total=codebase.packed.compressed_bytes)
            archive = codebase.packed.read_bytes()
            sent = _advance(progress, task)
            held = sum(1 for path in codebase.packed.files if document_kind_of(path))
            try:
                queued.append(
                    client.upload_codebase(
                        archive,
                        name=codebase.name,
                        workspace=workspace,
                        on_sent=sent,
                        reindex=reindex,
                        prose=held > 0,
                    )
                )
            except ApiRequestError as exc:
                raise _without_documents_hint(exc, codebase.name, held) from exc
        if documents:
            total = sum(len(document.data) for document in documents)
            task = progress.add_task(f"uploading {len(documents)} document(s)", total=total)
            files = [(document.name, document.data, document.content_type) for document in documents]
            sent = _advance(progress, task)
            queued.extend(client.upload_documents(files, workspace=workspace, on_sent=sent, reindex=reindex))
    return queued


def _without_documents_hint(refused: ApiRequestError, name: str, documents: int) -> ApiRequestError:
    """A refusal for want of the extract model says how to index the code alone meanwhile."""
    from sparkctl.client import ApiRequestError

    if refused.param != "prose":
        return refused
    return ApiRequestError(
        refused.message,
        f"Or index {name}'s code now and its {documents} document(s) later: add --code-only.",
        status=refused.status,
        param=refused.param,
    )


def _advance(progress: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda size: progress.advance(task, size)


def _print_queued(queued: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(queued)
        return
    for job in queued:
        typer.echo(job["id"])
    stderr().print(f"Follow with: sparkctl jobs show {queued[0]['id']}", style="dim", highlight=False)


def _follow_all(
    client: OrchestratorClient, queued: list[dict[str, Any]], console: Console, quiet: bool
) -> list[dict[str, Any]]:
    finals: list[dict[str, Any]] = []
    with _progress(console, quiet, "{task.fields[status]}") as progress:
        for job in queued:
            task = progress.add_task(escape(job["source"]), total=None, status=job["status"])
            try:
                finals.append(_follow(client, job["id"], lambda state, task=task: _show_job(progress, task, state)))
            except KeyboardInterrupt:
                progress.stop()
                console.print(
                    f"Stopped following; the job goes on: sparkctl jobs show {job['id']}", style="dim", highlight=False
                )
                raise typer.Exit(130) from None
    return finals


def _follow(client: OrchestratorClient, job_id: str, show: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The job's final record, showing each state on the way."""
    for _ in range(_RECONNECTS):
        for state in client.follow_job(job_id):
            show(state)
        final = client.job(job_id)
        if final["status"] in ("completed", "failed"):
            show(final)
            return final
    raise SparkctlError(
        f"lost track of job {job_id}: its progress stream kept ending early",
        hint=f"Follow it with: sparkctl jobs show {job_id}",
    )


def _show_job(progress: Progress, task: TaskID, job: dict[str, Any]) -> None:
    total = job["files_total"] or None
    settled = job["files_done"] + job["files_unchanged"] + job["files_skipped"]
    if job["status"] == "completed" and total:
        settled = total
    progress.update(task, total=total, completed=min(settled, total or settled), status=job["status"])


def _print_summary(finals: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title_justify="left")
    for column in ("source", "status", "indexed", "unchanged", "skipped", "deleted", "entities", "relations"):
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    table.add_column("chunks", justify="right")
    table.add_column("time", justify="right")
    for job in finals:
        table.add_row(
            escape(job["source"]),
            _status(job),
            str(job["files_done"]),
            str(job["files_unchanged"]),
            str(job["files_skipped"]),
            str(job["files_deleted"]),
            str(job["entities"]),
            str(job["relations"]),
            str(job["chunks"]),
            _duration(job),
        )
    console = stdout()
    console.print(table)
    for job in finals:
        if job["skipped"]:
            console.print(f"{escape(job['source'])} skipped: {_reasons(job['skipped'])}", highlight=False)


def _raise_for_failures(finals: list[dict[str, Any]]) -> None:
    failed = [job for job in finals if job["status"] == "failed"]
    if not failed:
        return
    first = failed[0]
    more = f" (and {len(failed) - 1} more failed jobs)" if len(failed) > 1 else ""
    raise SparkctlError(
        f"ingest of {first['source']!r} failed: {first['error'] or 'no reason given'}{more}",
        hint=f"See sparkctl jobs show {first['id']}",
    )


@contextmanager
def _progress(console: Console, quiet: bool, counter: str, *, transfer: bool = False) -> Iterator[Progress]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns += [DownloadColumn(), TransferSpeedColumn()] if transfer else [_files_column(), TextColumn(counter)]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console, disable=quiet) as progress:
        yield progress


def files_count(completed: float, total: float | None) -> str:
    """Files done against the total ("3/10 files"), or alone while the total is not known ("3 files")."""
    done = int(completed)
    return f"{done}/{int(total)} files" if total is not None else f"{done} files"


def _files_column() -> Any:
    """A rich progress column: the files counted so far, against the total once there is one."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class FilesColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(files_count(task.completed, task.total))

    return FilesColumn()


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))


def _status(job: dict[str, Any]) -> str:
    colour = {"completed": "green", "failed": "red"}.get(job["status"], "yellow")
    return f"[{colour}]{job['status']}[/]"


def _duration(job: dict[str, Any]) -> str:
    if not job.get("finished_at"):
        return "-"
    seconds = (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
