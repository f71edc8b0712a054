"""Requests JSON allows but nothing downstream can take, answered as OpenAI answers: a 400 in its error shape,
never a plain-text 500. A real orchestrator with PostgreSQL, Redis and NATS; the model is the LLM double.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from psycopg import AsyncConnection

from sparkctl.services.common import jobs
from sparkctl.services.common.schema import migrate
from support.fake_llm import FakeLLM
from support.orchestrator import Start

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-key"}
CHAT = {"model": "coding", "messages": [{"role": "user", "content": "hello"}]}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"}
    return error


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_session_id_with_a_nul_byte_is_a_400(start_orchestrator: Start, method: str) -> None:
    url = start_orchestrator()

    response = httpx.request(method, f"{url}/v1/sessions/%00", headers=ADMIN, timeout=10)

    assert _error(response, 400)["code"] == "invalid_session_id"


def test_a_lone_surrogate_in_a_body_is_a_400(start_orchestrator: Start) -> None:
    url = start_orchestrator()
    body = '{"model": "coding", "messages": [{"role": "user", "content": "\\ud800"}]}'

    response = httpx.post(f"{url}/v1/chat/completions", content=body, headers=ADMIN, timeout=10)

    assert _error(response, 400)["code"] == "invalid_unicode"


def test_json_nested_a_thousand_levels_is_a_400(start_orchestrator: Start) -> None:
    url = start_orchestrator()
    body = json.dumps(CHAT)[:-1] + ', "metadata": ' + "[" * 1000 + "]" * 1000 + "}"

    response = httpx.post(f"{url}/v1/chat/completions", content=body, headers=ADMIN, timeout=10)

    assert _error(response, 400)["message"] == "the request body nests deeper than 64 levels"


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", "hot"), ("temperature", 3), ("max_tokens", "10"), ("max_tokens", 0), ("stream", "yes")],
)
def test_wrongly_typed_sampling_fields_are_refused_not_forwarded(
    start_orchestrator: Start, fake_llm: FakeLLM, field: str, value: Any
) -> None:
    url = start_orchestrator()

    response = httpx.post(f"{url}/v1/chat/completions", json=CHAT | {field: value}, headers=ADMIN, timeout=10)

    assert _error(response, 400)["message"].startswith(f"{field}:")
    assert fake_llm.chat_requests() == []


def test_an_empty_user_is_a_new_session_not_an_error(start_orchestrator: Start) -> None:
    url = start_orchestrator()

    response = httpx.post(f"{url}/v1/chat/completions", json=CHAT | {"user": ""}, headers=ADMIN, timeout=30)

    assert response.status_code == 200, response.text
    assert len(response.headers["x-session-id"]) == 32


def test_jobs_follow_the_workspace_header(start_orchestrator: Start, database_url: str) -> None:
    async def make() -> None:
        async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
            await migrate(conn)
            for workspace in ("alpha", "beta"):
                document = await jobs.store_document(
                    conn, workspace=workspace, name="notes.md", content_type="text/markdown", data=b"x"
                )
                await jobs.create_job(conn, document=document, kind="document", source="notes.md")

    asyncio.run(make())
    url = start_orchestrator()

    listed = httpx.get(f"{url}/v1/jobs", headers=ADMIN | {"X-Workspace": "alpha"}, timeout=10)

    assert listed.status_code == 200, listed.text
    assert {job["workspace"] for job in listed.json()["data"]} == {"alpha"}
