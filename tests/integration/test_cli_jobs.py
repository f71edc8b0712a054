"""`sparkctl jobs` against a real orchestrator (with real PostgreSQL, Redis and NATS behind it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from sparkctl.cli.app import app
from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.orchestrator.app import create_app
from sparkctl.services.orchestrator.settings import OrchestratorSettings
from support.asgi import serving
from support.fake_llm import FakeLLM
from support.local_cli import Cli

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def orchestrator(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, fake_llm_server: FakeLLM
) -> Iterator[str]:
    """With the model double as its model server: an ingest whose models are unreachable is refused."""
    settings = OrchestratorSettings(
        database_url=database_url,
        redis_url=redis_server.url,
        nats_url=nats_url,
        llm_url=fake_llm_server.url,
        embedder="hash",
        api_keys="secret:team",  # type: ignore[arg-type]
    )
    with serving(create_app(settings), free_port()) as url:
        yield url


def queue_document(url: str, name: str) -> str:
    response = httpx.post(
        f"{url}/v1/documents/ingest",
        files=[("files", (name, b"# title"))],
        headers={"Authorization": "Bearer secret", "X-Workspace": "team"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["jobs"][0]["id"])


def test_jobs_list_and_show_in_json_and_text(orchestrator: str) -> None:
    job_id = queue_document(orchestrator, "notes.md")
    env = {"SPARKCTL_ENDPOINT": orchestrator, "SPARKCTL_API_KEY": "secret", "COLUMNS": "200"}

    listed = runner.invoke(app, ["-o", "json", "jobs", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [(j["id"], j["source"], j["status"]) for j in json.loads(listed.stdout)] == [(job_id, "notes.md", "queued")]

    shown = runner.invoke(app, ["jobs", "show", job_id], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"{job_id}  document 'notes.md' in workspace 'team'" in shown.stdout
    assert "queued (attempt 0)" in shown.stdout

    table = runner.invoke(app, ["jobs", "list", "--workspace", "team"], env=env)
    assert job_id[:8] in table.stdout and "notes.md" in table.stdout


def test_a_wrong_key_is_one_clear_line_with_what_to_do(orchestrator: str) -> None:
    result = runner.invoke(app, ["jobs", "list", "--endpoint", orchestrator, "--api-key", "wrong"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: 401: invalid API key",
        "  Pass a valid key with --api-key or $SPARKCTL_API_KEY.",
    ]


def test_an_unreachable_orchestrator_says_where_the_endpoint_came_from() -> None:
    result = runner.invoke(app, ["jobs", "list"], env={"SPARKCTL_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    assert result.exit_code == 1
    first, hint = result.stderr.splitlines()
    assert first.startswith("Error: cannot reach the orchestrator at http://127.0.0.1:")
    assert "came from $SPARKCTL_ENDPOINT" in hint
    assert "Traceback" not in result.output


def test_jobs_show_takes_the_short_id_jobs_list_prints(orchestrator: str) -> None:
    job_id = queue_document(orchestrator, "notes.md")
    env = {"SPARKCTL_ENDPOINT": orchestrator, "SPARKCTL_API_KEY": "secret", "COLUMNS": "200"}

    shown = runner.invoke(app, ["jobs", "show", job_id[:8]], env=env)
    unknown = runner.invoke(app, ["jobs", "show", "ffffffff"], env=env)

    assert shown.exit_code == 0, shown.output
    assert f"{job_id}  document 'notes.md'" in shown.stdout
    assert unknown.exit_code == 1
    assert "no job's id starts with 'ffffffff'" in unknown.stderr
    assert "valid UUID" not in unknown.stderr


def test_with_no_local_stack_and_no_cluster_it_says_so_and_how_to_start_one(cli: Cli) -> None:
    result = cli.run("chat", "-m", "hello", env={"SPARKCTL_ENDPOINT": ""})

    assert result.returncode == 1
    first, hint = result.stderr.strip().splitlines()
    assert first.startswith("Error: no local stack is running, and no cluster answers at http://127.0.0.1:31800")
    assert "sparkctl local up" in hint
