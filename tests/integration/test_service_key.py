"""The key between the services: the preprocessor and LightRAG refuse a request without it (but their /health),
and the preprocessor's own client of LightRAG sends it. Real services on real ports; LightRAG's model is the
deterministic LLM double, its storage the test PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from sparkctl.local.process import free_port
from support.asgi import serving
from support.fake_llm import FakeLLM

pytestmark = pytest.mark.integration

KEY = "spk-service-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def keyed_services(database_url: str, fake_llm: FakeLLM, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """LightRAG and the preprocessor, both with the key; the preprocessor sends it to LightRAG."""
    from sparkctl.services.lightrag.app import create_app as lightrag_app
    from sparkctl.services.lightrag.settings import LightragSettings
    from sparkctl.services.preprocessor.app import create_app as preprocessor_app
    from sparkctl.services.preprocessor.settings import PreprocessorSettings

    lightrag_port, preprocessor_port = free_port(), free_port()
    lightrag = lightrag_app(
        LightragSettings(
            database_url=database_url,
            llm_url=fake_llm.url,
            embedder="hash",
            graph_storage="networkx",
            vector_index="exact",
            data_dir=tmp_path / "lightrag",
            service_key=SecretStr(KEY),
        )
    )
    preprocessor = preprocessor_app(
        PreprocessorSettings(lightrag_url=f"http://127.0.0.1:{lightrag_port}", workers=1, service_key=SecretStr(KEY))
    )
    with serving(lightrag, lightrag_port) as lightrag_url, serving(preprocessor, preprocessor_port) as url:
        yield url, lightrag_url


def test_without_the_key_every_route_but_health_is_refused(keyed_services: tuple[str, str]) -> None:
    for url in keyed_services:
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        refused = httpx.post(f"{url}/documents/text", json={"text": "x"}, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_service_key"
        wrong = httpx.post(f"{url}/documents/text", json={}, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401


def test_the_preprocessor_reaches_lightrag_with_the_key(keyed_services: tuple[str, str]) -> None:
    preprocessor, lightrag = keyed_services
    files = [{"path": "app/core.py", "content": "class Core:\n    def run(self) -> int:\n        return 1\n"}]

    response = httpx.post(
        f"{preprocessor}/ingest", json={"files": files}, headers={**AUTH, "LIGHTRAG-WORKSPACE": "keyed"}, timeout=60
    )

    assert response.status_code == 200, response.text
    graph = httpx.get(f"{lightrag}/graph/label/list", headers={**AUTH, "LIGHTRAG-WORKSPACE": "keyed"}, timeout=10)
    assert graph.status_code == 200, graph.text
    assert "Core" in " ".join(graph.json())
