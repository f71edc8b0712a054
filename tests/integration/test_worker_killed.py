"""A worker that dies in the middle of a codebase job, through the real preprocessor and LightRAG on real
PostgreSQL and NATS: the job is delivered again, completes, and stores exactly the chunks a clean run
stores, none twice. The LLM is the test double (code needs no LLM call)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sparkctl.client import Endpoint, OrchestratorClient
from sparkctl.local.servers import EmbeddedServer
from support.codebases import httpx_source_tarball, ingest
from support.fake_llm import FakeLLM
from support.stack import WorkerThread, services

pytestmark = pytest.mark.integration


def chunk_counts(database_url: str, workspace: str) -> tuple[int, int]:
    """(rows, distinct ids) of the workspace's chunks in LightRAG's PostgreSQL tables."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM lightrag_doc_chunks WHERE workspace = %s", (workspace,)
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def wait_for_job(client: OrchestratorClient, job_id: str, done: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {client.job(job_id)}")


def test_a_worker_killed_mid_job_is_replaced_and_no_chunk_is_stored_twice(
    database_url: str, nats_url: str, redis_server: EmbeddedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    archive = httpx_source_tarball()
    with services(database_url, nats_url, redis_server.url, fake_llm.url, tmp_path, worker=False) as stack:
        settings = stack.worker_settings(insert_files=5, ack_wait=2.0, retry_backoff=(0.5,))
        with WorkerThread(settings):
            clean = ingest(stack, archive, "clean-run")
        assert clean["status"] == "completed", clean["error"]

        doomed = WorkerThread(settings).__enter__()
        with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as client:
            job = client.upload_codebase(archive, name="httpx", workspace="killed-run")
            wait_for_job(client, job["id"], lambda j: j["files_done"] >= 5)
            doomed.kill()
            halfway = client.job(job["id"])
            assert halfway["status"] == "indexing" and halfway["files_done"] < clean["files_done"]
            with WorkerThread(settings):
                final = wait_for_job(client, job["id"], lambda j: j["status"] in ("completed", "failed"))
    assert final["status"] == "completed", final["error"]
    assert final["attempts"] == 2
    rows, distinct = chunk_counts(database_url, "killed-run")
    assert rows == distinct == chunk_counts(database_url, "clean-run")[0] > 0
