"""`sparkctl digest` through the stack: real git repositories made by the tests, the orchestrator, NATS, the
worker, PostgreSQL and LightRAG; the model is the deterministic LLM TEST DOUBLE, which counts its calls. Each
commit is summarised once, one more call writes each day's digest, and a re-run asks the model nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from sparkctl.cli.app import app
from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.digest.collect import Window, collect
from sparkctl.digest.compose import COMMIT_PROMPT, DAY_PROMPT
from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from support.asgi import serving
from support.fake_llm import FakeLLM, RecordedRequest
from support.git_repos import WHEN, Repo
from support.stack import Stack, WorkerThread, services

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
runner = CliRunner()
GRACE = ("Grace Hopper", "grace@example.org")
SINCE, UNTIL = "2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "parser")
    repo.commit("Start the parser", {"parser.py": "def parse(text):\n    return text\n"}, at=WHEN)
    repo.commit(
        "Parse numbers", {"parser.py": "def parse(text):\n    return int(text)\n"}, at=WHEN + timedelta(hours=1)
    )
    repo.commit(
        "Add the users table", {"migrations/0002_users.sql": "CREATE TABLE users (id int);\n"},
        at=WHEN + timedelta(hours=2), author=GRACE,
    )  # fmt: skip
    repo.commit("Pin httpx", {"requirements.txt": "httpx==0.28\n"}, at=WHEN + timedelta(hours=3), author=GRACE)
    return repo


@pytest.fixture
def stack(
    database_url: str,
    nats_url: str,
    redis_server: EmbeddedServer,
    fake_llm: FakeLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    monkeypatch.setenv("SPARKCTL_LLM_URL", fake_llm.url)
    monkeypatch.setenv("SPARKCTL_DIGEST_RETRY_DELAYS", "[0.05]")
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path / "stack") as running:
        yield running


def asked(fake: FakeLLM, prompt: str) -> list[RecordedRequest]:
    return [r for r in fake.chat_requests() if any(str(m.get("content", "")).startswith(prompt[:40]) for m in
            r.body.get("messages") or [])]  # fmt: skip


def digest_run(stack: Stack, *args: str) -> list[dict[str, object]]:
    env = {"SPARKCTL_ENDPOINT": stack.orchestrator, "SPARKCTL_API_KEY": stack.api_key}
    result = runner.invoke(app, ["-o", "json", "digest", "run", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_run_summarises_each_commit_once_writes_the_day_and_a_rerun_asks_the_model_nothing(
    stack: Stack, repo: Repo, fake_llm: FakeLLM
) -> None:
    [digest] = digest_run(stack, str(repo.path), "--since", SINCE, "--until", UNTIL)

    assert digest["repository"] == "parser" and digest["day"] == "2026-11-26" and digest["commits"] == 4
    markdown = str(digest["markdown"])
    assert markdown.startswith("# parser — 2026-11-26\n")
    assert "4 commit(s) by 2 author(s)" in markdown
    assert "migration: migrations/0002_users.sql" in markdown and "dependencies: requirements.txt" in markdown
    assert "- Grace Hopper: 2 commit(s)" in markdown and "- Ada Lovelace: 2 commit(s)" in markdown
    assert "## Commits" in markdown and "Parse numbers — echo:" in markdown
    assert len(asked(fake_llm, COMMIT_PROMPT)) == 4
    assert len(asked(fake_llm, DAY_PROMPT)) == 1
    assert all(r.body.get("max_tokens") or (r.body.get("options") or {}).get("num_predict") for r in asked(
        fake_llm, COMMIT_PROMPT))  # fmt: skip

    fake_llm.requests.clear()
    again = digest_run(stack, str(repo.path), "--since", SINCE, "--until", UNTIL)

    assert fake_llm.chat_requests() == [], "nothing new to summarise, the day's digest covers the same commits"
    assert [d["markdown"] for d in again] == [markdown]

    repo.commit("Handle negatives", {"parser.py": "def parse(text):\n    return -int(text)\n"},
                at=WHEN + timedelta(hours=4))  # fmt: skip
    fake_llm.requests.clear()
    [updated] = digest_run(stack, str(repo.path), "--since", SINCE, "--until", UNTIL)
    assert len(asked(fake_llm, COMMIT_PROMPT)) == 1 and len(asked(fake_llm, DAY_PROMPT)) == 1
    assert updated["commits"] == 5


def test_a_model_failure_mid_run_resumes_without_summarising_a_commit_twice(
    stack: Stack, repo: Repo, fake_llm: FakeLLM, database_url: str
) -> None:
    fake_llm.fail_after = 2
    window = Window.parse(SINCE, UNTIL)
    commits = [commit.to_json() for commit in collect(repo.path, window).commits]
    payload = {"repository": "parser", "since": SINCE, "until": UNTIL, "commits": commits}
    with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as client:
        job = client.submit_digest(payload, workspace="default")["jobs"][0]

        def summaries() -> int:
            with psycopg.connect(database_url) as conn:
                return int(conn.execute("SELECT count(*) FROM digest_commit_summaries").fetchone()[0])  # type: ignore[index]

        def first_attempt_failed() -> bool:
            state = client.job(job["id"])
            return state["attempts"] == 1 and state["status"] == "queued"

        deadline = time.monotonic() + 30
        while not first_attempt_failed():
            assert time.monotonic() < deadline, "the first attempt did not fail midway"
            time.sleep(0.1)
        assert summaries() == 2
        answered_first = {str(r.body["messages"][1]["content"]) for r in asked(fake_llm, COMMIT_PROMPT)[:2]}
        fake_llm.fail_after = None
        list(client.follow_job(job["id"]))
        final = client.job(job["id"])

    assert final["status"] == "completed", final["error"]
    assert final["attempts"] == 2
    assert summaries() == 4
    later = [str(r.body["messages"][1]["content"]) for r in asked(fake_llm, COMMIT_PROMPT)[4:]]
    assert not answered_first & set(later), "a commit summarised in the first attempt was not sent again"


@dataclass
class SlackDouble:
    """An incoming webhook: answers `failures` with 503 first (or 400 for ever when `refuse`), records the rest."""

    failures: int = 0
    refuse: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            if self.refuse:
                return PlainTextResponse("invalid_payload", status_code=400)
            if self.failures > 0:
                self.failures -= 1
                return PlainTextResponse("try later", status_code=503)
            self.received.append(await request.json())
            return PlainTextResponse("ok")

        return Starlette(routes=[Route("/services/T0/B0/secret", hook, methods=["POST"])])


def test_digests_go_to_markdown_files_and_a_webhook_that_fails_twice_and_a_refusal_is_reported(
    stack: Stack, repo: Repo, tmp_path: Path
) -> None:
    digest_run(stack, str(repo.path), "--since", SINCE, "--until", UNTIL)
    slack = SlackDouble(failures=2)
    with serving(slack.app(), free_port()) as url:
        config = tmp_path / "config.toml"
        config.write_text(f'digest_webhook = "{url}/services/T0/B0/secret"\n')
        env = {"SPARKCTL_ENDPOINT": stack.orchestrator, "SPARKCTL_API_KEY": stack.api_key}
        args = ["--config", str(config), "digest", "show", "--to-dir", str(tmp_path / "out"), "--webhook"]
        shown = runner.invoke(app, args, env=env)
        slack.refuse = True
        refused = runner.invoke(app, ["--config", str(config), "digest", "show", "--webhook"], env=env)

    assert shown.exit_code == 0, shown.output
    written = (tmp_path / "out" / "parser" / "2026-11-26.md").read_text()
    assert written.startswith("# parser — 2026-11-26")
    assert [post["text"].splitlines()[0] for post in slack.received] == ["*parser — 2026-11-26*"]
    assert refused.exit_code == 1
    assert "refused the digest of parser 2026-11-26: HTTP 400" in refused.output
    assert "secret" not in refused.output, "a webhook's path is its secret"
    assert "sparkctl digest show" in refused.output


def test_a_digest_job_survives_a_worker_killed_mid_run(
    database_url: str,
    nats_url: str,
    redis_server: EmbeddedServer,
    fake_llm: FakeLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARKCTL_LLM_URL", fake_llm.url)
    busy = Repo(tmp_path / "busy")
    for index in range(12):
        busy.commit(f"Change {index}", {f"module_{index}.py": f"VALUE = {index}\n"}, at=WHEN + timedelta(minutes=index))
    commits = [commit.to_json() for commit in collect(busy.path, Window.parse(SINCE, UNTIL)).commits]
    fake_llm.latency = 0.2

    def stored() -> set[str]:
        with psycopg.connect(database_url) as conn:
            return {row[0] for row in conn.execute("SELECT sha FROM digest_commit_summaries").fetchall()}

    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path / "stack", worker=False) as stack:
        settings = stack.worker_settings(ack_wait=2.0, retry_backoff=(0.5,))
        doomed = WorkerThread(settings).__enter__()
        with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as client:
            payload = {"repository": "busy", "since": SINCE, "until": UNTIL, "commits": commits}
            job = client.submit_digest(payload, workspace="default")["jobs"][0]
            deadline = time.monotonic() + 60
            while len(stored()) < 3:
                assert time.monotonic() < deadline, "no summary was stored"
                time.sleep(0.05)
            doomed.kill()
            before = stored()
            sent_before = len(asked(fake_llm, COMMIT_PROMPT))
            with WorkerThread(settings):
                deadline = time.monotonic() + 120
                while (final := client.job(job["id"]))["status"] not in ("completed", "failed"):
                    assert time.monotonic() < deadline, final
                    time.sleep(0.1)

    assert final["status"] == "completed", final["error"]
    assert final["attempts"] == 2 and final["files_done"] == 12
    assert len(stored()) == 12
    again = {str(r.body["messages"][1]["content"]) for r in asked(fake_llm, COMMIT_PROMPT)[sent_before:]}
    finished = {commit["message"] for commit in commits if commit["sha"] in before}
    assert not any(f"Message:\n{message}\n" in text for message in finished for text in again)
