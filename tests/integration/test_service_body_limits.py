"""LightRAG and the preprocessor hold no unbounded request body: one over SPARKCTL_MAX_BODY_BYTES is refused
with 413 in the service's own error shape, whether its length is declared or it comes chunked. Real services on
real ports; LightRAG's storage is the test PostgreSQL, its model the deterministic LLM double.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sparkctl.local.process import free_port
from support.asgi import serving
from support.fake_llm import FakeLLM

pytestmark = pytest.mark.integration

LIMIT = 4096
MESSAGE = f"the request body is larger than the limit of {LIMIT} bytes (set by SPARKCTL_MAX_BODY_BYTES)"


@pytest.fixture
def lightrag_url(database_url: str, fake_llm: FakeLLM, tmp_path: Path) -> Iterator[str]:
    from sparkctl.services.lightrag.app import create_app
    from sparkctl.services.lightrag.settings import LightragSettings

    settings = LightragSettings(
        database_url=database_url,
        llm_url=fake_llm.url,
        embedder="hash",
        graph_storage="networkx",
        data_dir=tmp_path / "lightrag",
        max_body_bytes=LIMIT,
    )
    with serving(create_app(settings), free_port()) as url:
        yield url


@pytest.fixture
def preprocessor_url() -> Iterator[str]:
    from sparkctl.services.preprocessor.app import create_app
    from sparkctl.services.preprocessor.settings import PreprocessorSettings

    with serving(create_app(PreprocessorSettings(workers=1, max_body_bytes=LIMIT)), free_port()) as url:
        yield url


def chunked(data: bytes) -> Iterator[bytes]:
    """The body in pieces without a Content-Length, as a streaming client sends it."""
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


def batch(text: str) -> dict[str, list[dict[str, str]]]:
    return {"files": [{"path": "a.py", "content_base64": base64.b64encode(text.encode()).decode()}]}


def test_lightrag_refuses_a_body_over_its_limit_with_413_in_its_error_shape(lightrag_url: str) -> None:
    headers = {"LIGHTRAG-WORKSPACE": "limits"}
    declared = httpx.post(f"{lightrag_url}/documents/text", json={"text": "x" * 8000}, headers=headers, timeout=30)
    streamed = httpx.post(
        f"{lightrag_url}/documents/text",
        content=chunked(b'{"text": "' + b"x" * 8000 + b'"}'),
        headers=headers | {"Content-Type": "application/json"},
        timeout=30,
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"error": {"message": MESSAGE, "type": "invalid_request_error", "code": "http_413"}}


def test_the_preprocessor_refuses_a_body_over_its_limit_with_413_in_its_error_shape(preprocessor_url: str) -> None:
    declared = httpx.post(f"{preprocessor_url}/parse/batch", json=batch("x = 1\n" * 1000), timeout=30)
    streamed = httpx.post(
        f"{preprocessor_url}/parse/batch",
        content=chunked(httpx.Request("POST", "/", json=batch("x = 1\n" * 1000)).content),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"detail": MESSAGE}

    within = httpx.post(f"{preprocessor_url}/parse/batch", json=batch("def f():\n    return 1\n"), timeout=30)
    assert within.status_code == 200, within.text
    assert [parsed["path"] for parsed in within.json()["files"]] == ["a.py"]
