"""`sparkctl ingest` against the whole GraphRAG stack (graphrag_stack: orchestrator, NATS, worker, preprocessor and
LightRAG on real PostgreSQL, Redis and NATS). The LLM behind it is the test double; code needs no LLM call."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sparkctl.cli.app import app
from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.local.servers import EmbeddedServer
from support.fake_llm import FakeLLM
from support.stack import Stack, WorkerThread, services

pytestmark = pytest.mark.integration
runner = CliRunner()

REPOSITORY: dict[str, bytes] = {
    ".gitignore": b"*.log\n/generated/\nsecrets.py\n",
    "shop/__init__.py": b"",
    "shop/cart.py": b"from shop.prices import price\n\n\nclass Cart:\n    def total(self):\n        return price(1)\n",
    "shop/prices.py": b"def price(item):\n    return item * 2\n",
    "README.md": b"# Shop\n\nA Cart that knows prices.\n",
    "debug.log": b"noise\n",
    "secrets.py": b"TOKEN = 'not for the graph'\n",
    "generated/big.py": b"x = 1\n",
    "node_modules/left/index.js": b"module.exports = 1\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
}
PACKED = [".gitignore", "README.md", "shop/__init__.py", "shop/cart.py", "shop/prices.py"]


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def sparkctl(stack: Stack, *args: str) -> Result:
    env = {"SPARKCTL_ENDPOINT": stack.orchestrator, "SPARKCTL_API_KEY": stack.api_key, "COLUMNS": "200"}
    return runner.invoke(app, list(args), env=env)


def summary_row(output: str, source: str) -> list[str]:
    """The cells of the summary table's row for `source`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)]
        if source in cells:
            return cells[cells.index(source) :]
    raise AssertionError(f"no summary row for {source!r} in:\n{output}")


def job_record(stack: Stack, job_id: str) -> dict[str, Any]:
    with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as client:
        return client.job(job_id)


def test_a_folder_is_packed_honouring_gitignore_and_followed_to_completion(
    graphrag_stack: Stack, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "shop", REPOSITORY)

    result = sparkctl(graphrag_stack, "--output", "json", "ingest", str(repo), "--workspace", "cli-shop")

    assert result.exit_code == 0, result.output
    [job] = json.loads(result.stdout)
    assert (job["source"], job["workspace"], job["kind"], job["status"]) == (
        "shop",
        "cli-shop",
        "codebase",
        "completed",
    )
    assert job["files_total"] == len(PACKED)
    assert job["files_done"] + job["files_skipped"] == len(PACKED)
    assert job["entities"] > 0 and job["relations"] > 0 and job["chunks"] > 0
    named = {path for path, _ in job["skipped_files"]}
    assert named <= set(PACKED), "only packed files can reach the worker"


def test_text_output_shows_what_was_left_out_and_a_summary(graphrag_stack: Stack, tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop", REPOSITORY)

    result = sparkctl(graphrag_stack, "--verbose", "ingest", str(repo), "-w", "cli-text")

    assert result.exit_code == 0, result.output
    assert "shop: 5 files" in result.stderr
    assert "left out: 1 binary, 3 gitignored, 1 vcs-or-dependency-dir" in result.stderr
    for path in ("debug.log", "generated/", "secrets.py", "node_modules/", "logo.png"):
        assert re.search(rf"^\s+{re.escape(path)}\s+\S+$", result.stderr, re.M), path
    row = summary_row(result.stdout, "shop")
    assert row[1] == "completed"
    assert int(row[2]) + int(row[4]) == len(PACKED), row


def test_a_second_ingest_of_the_unchanged_folder_reports_everything_unchanged(
    graphrag_stack: Stack, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "shop", REPOSITORY)
    first = sparkctl(graphrag_stack, "ingest", str(repo), "-w", "cli-again")
    assert first.exit_code == 0, first.output

    again = sparkctl(graphrag_stack, "ingest", str(repo), "-w", "cli-again")

    assert again.exit_code == 0, again.output
    status, indexed, unchanged, skipped, deleted = summary_row(again.stdout, "shop")[1:6]
    assert (status, indexed, unchanged, skipped, deleted) == ("completed", "0", str(len(PACKED)), "0", "0")


def test_no_wait_prints_only_the_job_id(graphrag_stack: Stack, tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop", REPOSITORY)

    result = sparkctl(graphrag_stack, "ingest", str(repo), "--no-wait", "-w", "cli-nowait")

    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert str(uuid.UUID(job_id)) == job_id
    record = job_record(graphrag_stack, job_id)
    assert (record["source"], record["workspace"]) == ("shop", "cli-nowait")


def test_include_and_exclude_narrow_what_is_sent(graphrag_stack: Stack, tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "shop", REPOSITORY)

    result = sparkctl(
        graphrag_stack,
        "-o",
        "json",
        "ingest",
        str(repo),
        "--include",
        "*.py",
        "--exclude",
        "__init__.py",
        "-w",
        "cli-n",
    )

    assert result.exit_code == 0, result.output
    [job] = json.loads(result.stdout)
    assert (job["status"], job["files_total"], job["files_done"]) == ("completed", 2, 2)


def test_files_are_sent_as_documents_one_job_each(graphrag_stack: Stack, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Release notes\n\nThe Cart now rounds Prices.\n")
    script = tmp_path / "tool.py"
    script.write_text("def tool():\n    return 1\n")

    result = sparkctl(graphrag_stack, "-o", "json", "ingest", str(notes), str(script), "-w", "cli-docs")

    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)
    assert [(job["kind"], job["source"], job["status"]) for job in jobs] == [
        ("document", "notes.md", "completed"),
        ("document", "tool.py", "completed"),
    ]
    assert all(job["chunks"] > 0 for job in jobs)


def test_a_job_the_worker_refuses_exits_1_with_the_jobs_reason(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """A worker set to accept at most 2 000 files per archive: one more fails the job, not the upload, and the
    reason names the setting to raise."""
    repo = write_tree(tmp_path / "huge", {f"pkg/m{index:04}.py": b"x = 1\n" for index in range(2001)})

    with (
        services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path, worker=False) as stack,
        WorkerThread(stack.worker_settings(max_files=2000)),
    ):
        result = sparkctl(stack, "-o", "json", "ingest", str(repo), "-w", "cli-fail")

    assert result.exit_code == 1
    [job] = json.loads(result.stdout)
    assert job["status"] == "failed"
    assert result.stderr.splitlines()[0] == f"Error: ingest of 'huge' failed: {job['error']}"
    assert "more than 2000 files (the worker's SPARKCTL_MAX_FILES)" in job["error"]
    assert result.stderr.splitlines()[1].strip() == f"See sparkctl jobs show {job['id']}"


def test_a_missing_path_is_one_clear_error_before_anything_is_sent(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope")], env={"SPARKCTL_ENDPOINT": "http://127.0.0.1:9"})

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"Error: {tmp_path / 'nope'} does not exist"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("option", [["--include", "*.md"], ["--exclude", "*.md"], ["--code-only"]])
def test_choosing_files_without_a_folder_is_an_error(tmp_path: Path, option: list[str]) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# n\n")

    result = runner.invoke(app, ["ingest", str(notes), *option], env={"SPARKCTL_ENDPOINT": "http://127.0.0.1:9"})

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "Error: --include, --exclude and --code-only choose files inside folders, and no folder was given"
    )


def test_reindex_of_two_sources_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "x.py").write_text("x = 1\n")

    result = runner.invoke(
        app, ["ingest", str(first), str(second), "--reindex"], env={"SPARKCTL_ENDPOINT": "http://127.0.0.1:9"}
    )

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "Error: --reindex clears the workspace before indexing, so it takes one folder or one set of files"
    )
