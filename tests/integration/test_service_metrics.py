"""GET /metrics of the orchestrator, LightRAG and the preprocessor, on real ports with real PostgreSQL, Redis and
NATS; the model servers are the LLM TEST DOUBLE (support.fake_llm). Expositions are read with prometheus_client's
own parser (support.metrics)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from pydantic import SecretStr

from sparkctl.catalog import load_catalog
from sparkctl.local.process import free_port
from sparkctl.local.servers import EmbeddedServer
from sparkctl.services.common.metrics import PROBE_TIMEOUT
from support.asgi import serving
from support.fake_llm import FakeLLM
from support.metrics import by_label, samples, value
from support.orchestrator import Start, client, wait_for

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-key"}
SERVICE_KEY = "spk-metrics-key"
CATALOG = load_catalog(None)
CHAT_BACKEND = CATALOG.resolve("qwen").pull_ref
EXTRACT_BACKEND = CATALOG.by_role("extract")[0].pull_ref


def with_metrics_port(start: Start) -> tuple[str, str]:
    """An orchestrator, and the base URL of its metrics port, which Prometheus scrapes without a key."""
    port = free_port()
    return start(metrics_port=port), f"http://127.0.0.1:{port}"


def scrape(url: str) -> str:
    """The exposition, fetched without a key as Prometheus does (from a metrics port)."""
    response = httpx.get(f"{url}/metrics", timeout=15)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def scrape_once_counted(url: str, route: str, requests: float) -> str:
    """The exposition once `requests` requests to `route` are counted: a request is counted after its last byte
    is sent, which a client may see first."""
    found: list[str] = []

    def counted() -> bool:
        found[:] = [scrape(url)]
        return value(found[0], "sparkctl_http_requests_total", route=route) >= requests

    wait_for(counted, timeout=5)
    return found[0]


def test_two_chats_are_counted_by_route_backend_and_memory_tier(start_orchestrator: Start) -> None:
    url, metrics = with_metrics_port(start_orchestrator)
    chat = client(url, **{"X-Session-Id": "metrics-1"})
    chat.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "first question"}])
    streamed = chat.chat.completions.create(
        model="qwen", messages=[{"role": "user", "content": "second question"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "echo: second question"

    text = scrape_once_counted(metrics, "/v1/chat/completions", 2)

    route = {"service": "orchestrator", "method": "POST", "route": "/v1/chat/completions"}
    assert by_label(text, "sparkctl_http_requests_total", "status", **route) == {"200": 2.0}
    assert value(text, "sparkctl_http_request_duration_seconds_count", **route, status="200") == 2.0
    assert by_label(text, "sparkctl_model_requests_total", "kind", backend=CHAT_BACKEND, outcome="ok") == {
        "chat": 1.0,
        "stream": 1.0,
    }
    assert by_label(text, "sparkctl_model_tokens_total", "direction", backend=CHAT_BACKEND) == {
        "prompt": 14.0,
        "completion": 6.0,
    }
    assert by_label(text, "sparkctl_memory_lookups_total", "status", tier="working") == {"miss": 1.0, "hit": 1.0}
    assert by_label(text, "sparkctl_memory_lookups_total", "status", tier="recall") == {"miss": 2.0}
    archival = by_label(text, "sparkctl_memory_lookups_total", "status", tier="archival")
    assert sum(archival.values()) == 2.0 and set(archival) <= {"down", "timeout"}, "LightRAG is not running"
    assert samples(text, "sparkctl_memory_outbox_turns")
    assert samples(text, "sparkctl_memory_promotions_queued")
    assert "admin-key" not in text and "metrics-1" not in text
    assert httpx.get(f"{url}/metrics", timeout=15).status_code == 401, "the API port's metrics want a key"
    assert httpx.get(f"{url}/metrics", headers=ADMIN, timeout=15).text.startswith("# HELP")


def test_a_backend_that_is_down_is_counted_as_unreachable(start_orchestrator: Start) -> None:
    port = free_port()
    url = start_orchestrator(llm_url=f"http://127.0.0.1:{free_port()}", metrics_port=port)
    metrics = f"http://127.0.0.1:{port}"
    refused = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "qwen", "messages": [{"role": "user", "content": "anyone there?"}]},
        headers=ADMIN,
        timeout=30,
    )
    assert refused.status_code == 503

    text = scrape_once_counted(metrics, "/v1/chat/completions", 1)

    assert value(text, "sparkctl_model_requests_total", backend=CHAT_BACKEND, outcome="unreachable") == 1.0
    assert value(text, "sparkctl_http_requests_total", route="/v1/chat/completions", status="503") == 1.0


def test_ingest_jobs_are_shown_by_state_with_the_queue_behind_them(start_orchestrator: Start) -> None:
    url, metrics = with_metrics_port(start_orchestrator)
    before = scrape(metrics)
    files = [("files", ("a.md", b"# A", "text/markdown")), ("files", ("b.txt", b"B", "text/plain"))]
    response = httpx.post(f"{url}/v1/documents/ingest", files=files, headers=ADMIN, timeout=30)
    assert response.status_code == 202, response.text

    text = scrape_once_counted(metrics, "/v1/documents/ingest", 1)

    assert by_label(before, "sparkctl_ingest_jobs", "state") == dict.fromkeys(
        ("queued", "started", "indexing", "completed", "failed"), 0.0
    )
    assert by_label(text, "sparkctl_ingest_jobs", "state") == {
        "queued": 2.0,
        "started": 0.0,
        "indexing": 0.0,
        "completed": 0.0,
        "failed": 0.0,
    }
    assert value(text, "sparkctl_ingest_queue_pending") == 2.0
    assert value(text, "sparkctl_http_requests_total", route="/v1/documents/ingest", status="202") == 1.0
    assert value(text, "sparkctl_scrape_errors_total") == 0.0


@pytest.mark.usefixtures("running")
def test_with_postgresql_down_metrics_still_answer_and_count_the_scrape_error(
    start_orchestrator: Start, postgres_server: EmbeddedServer
) -> None:
    _, metrics = with_metrics_port(start_orchestrator)
    assert samples(scrape(metrics), "sparkctl_ingest_jobs")

    postgres_server.process.stop()
    try:
        response = httpx.get(f"{metrics}/metrics", timeout=PROBE_TIMEOUT + 10)
        again = httpx.get(f"{metrics}/metrics", timeout=PROBE_TIMEOUT + 10)
    finally:
        postgres_server.process.start()

    assert response.status_code == 200
    assert samples(response.text, "sparkctl_ingest_jobs") == []
    assert value(response.text, "sparkctl_scrape_errors_total", source="postgres") == 1.0
    assert value(again.text, "sparkctl_scrape_errors_total", source="postgres") == 2.0
    assert value(again.text, "sparkctl_scrape_errors_total", source="redis") == 0.0
    assert samples(again.text, "sparkctl_ingest_queue_pending"), "NATS is up: its gauge is still there"


class Keyed(NamedTuple):
    lightrag: str
    preprocessor: str
    lightrag_metrics: str
    preprocessor_metrics: str


@pytest.fixture
def keyed_services(database_url: str, fake_llm: FakeLLM, tmp_path: Path) -> Iterator[Keyed]:
    """LightRAG and the preprocessor on real ports, both wanting the key between the services; the base URLs
    of their metrics ports."""
    from sparkctl.services.lightrag.app import create_app as lightrag_app
    from sparkctl.services.lightrag.settings import LightragSettings
    from sparkctl.services.preprocessor.app import create_app as preprocessor_app
    from sparkctl.services.preprocessor.settings import PreprocessorSettings

    ports = (free_port(), free_port())
    lightrag = lightrag_app(
        LightragSettings(
            database_url=database_url,
            llm_url=fake_llm.url,
            embedder="hash",
            graph_storage="networkx",
            vector_index="exact",
            data_dir=tmp_path / "lightrag",
            service_key=SecretStr(SERVICE_KEY),
            metrics_port=ports[0],
        )
    )
    preprocessor = preprocessor_app(
        PreprocessorSettings(workers=1, service_key=SecretStr(SERVICE_KEY), metrics_port=ports[1])
    )
    with serving(lightrag, free_port()) as lightrag_url, serving(preprocessor, free_port()) as preprocessor_url:
        assert httpx.get(f"{lightrag_url}/metrics", timeout=15).status_code == 401
        assert httpx.get(f"{preprocessor_url}/metrics", timeout=15).status_code == 401
        yield Keyed(lightrag_url, preprocessor_url, *(f"http://127.0.0.1:{port}" for port in ports))


def test_lightrag_counts_its_routes_and_the_extraction_model_calls(keyed_services: Keyed) -> None:
    lightrag = keyed_services.lightrag
    headers = {"Authorization": f"Bearer {SERVICE_KEY}", "LIGHTRAG-WORKSPACE": "metrics"}
    text = {"text": "Marie Curie worked with Pierre Curie in Paris.", "file_source": "docs/curie.md"}
    assert httpx.post(f"{lightrag}/documents/text", json=text, headers=headers, timeout=60).status_code == 200
    assert httpx.post(f"{lightrag}/documents/text", json=text, timeout=10).status_code == 401

    exposition = scrape_once_counted(keyed_services.lightrag_metrics, "other", 1)

    counted = by_label(exposition, "sparkctl_http_requests_total", "route", service="lightrag", method="POST")
    assert counted == {"/documents/text": 1.0, "other": 1.0}
    assert value(exposition, "sparkctl_model_requests_total", backend=EXTRACT_BACKEND, outcome="ok") >= 1.0
    assert value(exposition, "sparkctl_model_requests_total", outcome="failed") == 0.0
    assert SERVICE_KEY not in exposition


def test_the_preprocessor_counts_its_routes(keyed_services: Keyed) -> None:
    preprocessor = keyed_services.preprocessor
    headers = {"Authorization": f"Bearer {SERVICE_KEY}"}
    source = {"path": "pkg/core.py", "content": "class Core:\n    pass\n"}
    for _ in range(2):
        assert httpx.post(f"{preprocessor}/parse", json=source, headers=headers, timeout=30).status_code == 200

    exposition = scrape_once_counted(keyed_services.preprocessor_metrics, "/parse", 2)

    assert value(exposition, "sparkctl_http_requests_total", service="preprocessor", route="/parse", status="200") == 2
    assert samples(exposition, "sparkctl_model_requests_total") == []
