"""The orchestrator's ingest and jobs API, keys and readiness, on real PostgreSQL, Redis and NATS."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from sparkctl.local.services import service_process
from sparkctl.services.common import jobs, messaging
from sparkctl.services.orchestrator.app import create_app
from sparkctl.services.orchestrator.settings import OrchestratorSettings
from support.fake_llm import FakeLLM

pytestmark = pytest.mark.integration

KEYS = "admin-key,team-a-key:team-a,ab-key:team-a|team-b"


def settings(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, llm: FakeLLM, **extra: object
) -> OrchestratorSettings:
    """With the model double as every model's server (ingest refuses when the models it needs are unreachable)."""
    values: dict[str, object] = {
        "llm_url": llm.url,
        "embedder": "hash",
        "database_url": database_url,
        "redis_url": redis_server.url,
        "nats_url": nats_url,
        "lightrag_url": f"http://127.0.0.1:{free_port()}",
        "readiness_timeout": 0.5,
    }
    return OrchestratorSettings(**(values | extra))  # type: ignore[arg-type]


@pytest.fixture
def client(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, fake_llm_server: FakeLLM
) -> Iterator[TestClient]:
    limits = {"api_keys": KEYS, "max_upload_bytes": 64 * 1024}
    app = create_app(settings(database_url, redis_server, nats_url, fake_llm_server, **limits))
    with TestClient(app) as test_client:
        yield test_client


def auth(key: str, workspace: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if workspace:
        headers["X-Workspace"] = workspace
    return headers


def small_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"def hello():\n    return 'hi'\n"
        info = tarfile.TarInfo("pkg/hello.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def queued_messages(nats_url: str) -> list[uuid.UUID]:
    async def read() -> list[uuid.UUID]:
        import nats

        client = await nats.connect(nats_url)
        stream = client.jetstream()
        info = await stream.stream_info(messaging.STREAM)
        ids = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await stream.get_msg(messaging.STREAM, sequence)
            ids.append(messaging.job_id_of(message.data))
        await client.close()
        return ids

    return asyncio.run(read())


def test_codebase_upload_is_stored_queued_and_answered_with_202(client: TestClient, nats_url: str) -> None:
    response = client.post(
        "/v1/codebase/ingest",
        files={"file": ("myrepo.tar.gz", small_tarball(), "application/gzip")},
        headers=auth("admin-key", "team-a"),
    )
    assert response.status_code == 202, response.text
    (job,) = response.json()["jobs"]
    assert (job["status"], job["workspace"], job["kind"], job["source"]) == ("queued", "team-a", "codebase", "myrepo")
    assert queued_messages(nats_url) == [uuid.UUID(job["id"])]

    shown = client.get(f"/v1/jobs/{job['id']}", headers=auth("admin-key")).json()
    assert (shown["status"], shown["files_total"], shown["attempts"]) == ("queued", 0, 0)


def test_several_documents_make_one_job_each(client: TestClient) -> None:
    files = [("files", ("a.md", b"# A", "text/markdown")), ("files", ("b.txt", b"B", "text/plain"))]
    response = client.post("/v1/documents/ingest", files=files, headers=auth("admin-key"))
    assert response.status_code == 202
    assert [(j["source"], j["workspace"], j["kind"]) for j in response.json()["jobs"]] == [
        ("a.md", "default", "document"),
        ("b.txt", "default", "document"),
    ]


def test_an_upload_over_the_limit_is_413_in_openai_shape(client: TestClient) -> None:
    response = client.post(
        "/v1/codebase/ingest", files={"file": ("big.tar", b"x" * (65 * 1024))}, headers=auth("admin-key")
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "message": "big.tar is larger than the limit of 65536 bytes (the orchestrator's SPARKCTL_MAX_UPLOAD_BYTES)",
            "type": "invalid_request_error",
            "code": "too_large",
        }
    }


def stored_rows(database_url: str) -> tuple[int, int, int]:
    """How many documents, document chunks and jobs the database holds."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM document_chunks),"
            " (SELECT count(*) FROM ingest_jobs)"
        ).fetchone()
    assert row is not None
    return row


@pytest.mark.parametrize(
    ("second", "status", "message"),
    [
        (
            ("big.md", b"x" * (65 * 1024)),
            413,
            "big.md is larger than the limit of 65536 bytes (the orchestrator's SPARKCTL_MAX_UPLOAD_BYTES)",
        ),
        (("empty.md", b""), 400, "empty.md is empty"),
    ],
)
def test_a_refused_upload_leaves_no_document_chunk_or_job_behind(
    client: TestClient, database_url: str, second: tuple[str, bytes], status: int, message: str
) -> None:
    files = [("files", ("fine.md", b"# fine" * 1000, "text/markdown")), ("files", second)]
    response = client.post("/v1/documents/ingest", files=files, headers=auth("admin-key"))
    assert response.status_code == status
    assert response.json()["error"]["message"] == message
    assert stored_rows(database_url) == (0, 0, 0)


def test_an_upload_is_stored_in_pieces_with_its_size_and_sha256(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, fake_llm_server: FakeLLM
) -> None:
    data = os.urandom(3 * jobs.PIECE_BYTES + 1000)
    with TestClient(create_app(settings(database_url, redis_server, nats_url, fake_llm_server))) as open_client:
        response = open_client.post("/v1/codebase/ingest", files={"file": ("repo.tar.gz", data)})
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["id"]
    with psycopg.connect(database_url) as conn:
        document = conn.execute(
            "SELECT d.size, d.sha256, d.blob IS NULL, count(c.seq) FROM ingest_jobs j JOIN documents d"
            " ON d.id = j.document_id JOIN document_chunks c ON c.document_id = d.id WHERE j.id = %s"
            " GROUP BY d.id",
            (job_id,),
        ).fetchone()
    assert document == (len(data), hashlib.sha256(data).hexdigest(), True, 4)


def test_a_100_mb_upload_leaves_the_orchestrator_s_peak_rss_within_50_mb_of_its_rest(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, fake_llm_server: FakeLLM, tmp_path: Path
) -> None:
    upload = tmp_path / "big.tar.gz"
    with upload.open("wb") as out:
        for _ in range(100):
            out.write(os.urandom(1024 * 1024))
    port = free_port()
    env = {
        "SPARKCTL_DATABASE_URL": database_url,
        "SPARKCTL_REDIS_URL": redis_server.url,
        "SPARKCTL_NATS_URL": nats_url,
        "SPARKCTL_LIGHTRAG_URL": f"http://127.0.0.1:{free_port()}",
        "SPARKCTL_LOG_LEVEL": "warning",
        "SPARKCTL_EMBEDDER": "hash",
        "SPARKCTL_LLM_URL": fake_llm_server.url,
    }
    orchestrator = service_process("orchestrator", port=port, env=env, log_dir=tmp_path)
    orchestrator.start()
    try:
        assert orchestrator.pid is not None
        at_rest = memory_kb(orchestrator.pid, "VmRSS")
        with upload.open("rb") as handle:
            response = httpx.post(
                f"http://127.0.0.1:{port}/v1/codebase/ingest", files={"file": (upload.name, handle)}, timeout=300
            )
        assert response.status_code == 202, response.text
        peak = memory_kb(orchestrator.pid, "VmHWM")
    finally:
        orchestrator.stop()
    assert (peak - at_rest) / 1024 < 50, f"RSS {at_rest / 1024:.0f} MB at rest, peak {peak / 1024:.0f} MB"


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_api_key"),
        ({"Authorization": "Bearer nope"}, 401, "invalid_api_key"),
        ({"Authorization": "Basic YWRtaW4="}, 401, "missing_api_key"),
        (auth("team-a-key", "team-b"), 403, "workspace_not_allowed"),
        (auth("team-a-key"), 403, "workspace_not_allowed"),
        (auth("admin-key", "../etc"), 400, "invalid_workspace"),
        (auth("admin-key", "x" * 65), 400, "invalid_workspace"),
    ],
)
def test_keys_and_workspaces_are_enforced_on_ingest(
    client: TestClient, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.post("/v1/codebase/ingest", files={"file": ("r.tar.gz", small_tarball())}, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_a_bound_key_sees_only_its_workspaces_jobs(client: TestClient) -> None:
    for workspace in ("team-a", "team-b", "other"):
        client.post(
            "/v1/documents/ingest", files=[("files", (f"{workspace}.md", b"#"))], headers=auth("admin-key", workspace)
        )
    sources = lambda key, query="": sorted(  # noqa: E731
        job["source"] for job in client.get(f"/v1/jobs{query}", headers=auth(key)).json()["data"]
    )
    assert sources("admin-key") == ["other.md", "team-a.md", "team-b.md"]
    assert sources("ab-key") == ["team-a.md", "team-b.md"]
    assert sources("team-a-key") == ["team-a.md"]
    assert sources("ab-key", "?workspace=team-b") == ["team-b.md"]
    assert client.get("/v1/jobs?workspace=other", headers=auth("team-a-key")).status_code == 403
    other_job = client.get("/v1/jobs?workspace=other", headers=auth("admin-key")).json()["data"][0]["id"]
    assert client.get(f"/v1/jobs/{other_job}", headers=auth("team-a-key")).status_code == 403
    missing = client.get(f"/v1/jobs/{uuid.uuid4()}", headers=auth("admin-key"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"


def test_job_events_stream_progress_until_the_job_ends(client: TestClient, database_url: str) -> None:
    job_id = client.post("/v1/documents/ingest", files=[("files", ("a.md", b"#"))], headers=auth("admin-key")).json()[
        "jobs"
    ][0]["id"]

    async def work() -> None:
        from psycopg import AsyncConnection

        async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
            await asyncio.sleep(0.3)
            await jobs.start_attempt(conn, uuid.UUID(job_id))
            await jobs.update_progress(conn, uuid.UUID(job_id), status="indexing", files_total=1, files_done=1)
            await asyncio.sleep(0.3)
            await jobs.finish_job(conn, uuid.UUID(job_id))

    import threading

    worker = threading.Thread(target=asyncio.run, args=(work(),))
    worker.start()
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=auth("admin-key")) as response:
        events = [line for line in response.iter_lines() if line.startswith(("event:", "data:"))]
    worker.join()
    names = [line.split(": ", 1)[1] for line in events if line.startswith("event:")]
    payloads = [json.loads(line.split(": ", 1)[1]) for line in events if line.startswith("data:")]
    assert names[0] == "job" and names[-1] == "end"
    assert payloads[0]["status"] == "queued"
    assert "indexing" in [p.get("status") for p in payloads]
    assert payloads[-1] == {"id": job_id, "status": "completed", "error": None}


def test_health_is_open_and_ready_names_what_is_down(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 401
    response = client.get("/ready", headers=auth("admin-key"))
    assert response.status_code == 503
    body = response.json()
    assert body["services"] == {"postgres": "up", "redis": "up", "nats": "up", "lightrag": "down", "worker": "down"}
    assert body["error"]["message"].startswith("unavailable: lightrag at 127.0.0.1:")


def test_nats_down_fails_the_upload_with_503_and_keeps_the_reason(
    client: TestClient, nats_server: EmbeddedServer, running: None
) -> None:
    nats_server.process.stop()
    response = client.post(
        "/v1/codebase/ingest", files={"file": ("r.tar.gz", small_tarball())}, headers=auth("admin-key")
    )
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith("NATS at 127.0.0.1:")
    failed = client.get("/v1/jobs?status=failed", headers=auth("admin-key")).json()["data"]
    assert len(failed) == 1 and failed[0]["error"].startswith("could not queue the job: NATS at")

    nats_server.process.start()
    again = client.post("/v1/codebase/ingest", files={"file": ("r.tar.gz", small_tarball())}, headers=auth("admin-key"))
    assert again.status_code == 202


def test_postgres_down_is_503_naming_it_and_recovers(
    client: TestClient, postgres_server: EmbeddedServer, running: None
) -> None:
    postgres_server.process.stop()
    response = client.get("/v1/jobs", headers=auth("admin-key"))
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith("PostgreSQL at 127.0.0.1:")
    postgres_server.process.start()
    assert client.get("/v1/jobs", headers=auth("admin-key")).status_code == 200


def test_without_keys_everything_is_open(
    database_url: str, redis_server: EmbeddedServer, nats_url: str, fake_llm_server: FakeLLM
) -> None:
    with TestClient(create_app(settings(database_url, redis_server, nats_url, fake_llm_server))) as open_client:
        assert open_client.get("/v1/jobs").status_code == 200
