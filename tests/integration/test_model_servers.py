"""The model servers, seen from the orchestrator: /ready reports each one (reachable, its models, the context it
runs them with), and an ingest whose models are unreachable is refused in seconds, naming the server and how to
start one, instead of a job that retries for minutes. Real PostgreSQL, Redis and NATS; a running model server is
the LLM double, a missing one a free port."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sparkctl.catalog import load_catalog
from sparkctl.cli.app import app
from sparkctl.local.process import free_port
from support.fake_llm import FakeLLM
from support.orchestrator import Start

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer admin-key"}


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CODE = tarball({"app/main.py": b"def main():\n    return 1\n"})


def upload(url: str, *, prose: bool) -> httpx.Response:
    form = {"name": "app", "prose": "true" if prose else "false"}
    files = {"file": ("app.tar.gz", CODE, "application/gzip")}
    return httpx.post(f"{url}/v1/codebase/ingest", data=form, files=files, headers=ADMIN, timeout=30)


def test_with_no_model_server_an_ingest_of_documents_is_refused_in_seconds_and_code_alone_goes_through(
    start_orchestrator: Start,
) -> None:
    missing = f"http://127.0.0.1:{free_port()}"
    url = start_orchestrator(llm_url=missing, embedder="hash")

    refused = upload(url, prose=True)
    documents = httpx.post(
        f"{url}/v1/documents/ingest", files=[("files", ("notes.md", b"# notes\n"))], headers=ADMIN, timeout=30
    )

    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "model_server_unavailable"
    assert "extract model" in error["message"] and missing.removeprefix("http://") in error["message"]
    assert "ollama serve" in error["message"]
    assert error["param"] == "prose"
    assert documents.status_code == 503
    assert "param" not in documents.json()["error"], "documents have no field to leave them out with"
    assert upload(url, prose=False).status_code == 202
    assert httpx.get(f"{url}/v1/jobs", headers=ADMIN).json()["data"][0]["source"] == "app"


def test_with_the_llm_embedder_every_ingest_needs_the_embed_models_server(start_orchestrator: Start) -> None:
    url = start_orchestrator(llm_url=f"http://127.0.0.1:{free_port()}", embedder="llm")

    refused = upload(url, prose=False)

    assert refused.status_code == 503
    assert "embed model" in refused.json()["error"]["message"]
    assert "param" not in refused.json()["error"], "leaving the documents out would not help"


def test_the_cli_offers_the_code_alone_when_only_the_documents_need_the_missing_server(
    start_orchestrator: Start, tmp_path: Path
) -> None:
    url = start_orchestrator(llm_url=f"http://127.0.0.1:{free_port()}", embedder="hash")
    repo = tmp_path / "shop"
    (repo / "docs").mkdir(parents=True)
    (repo / "shop.py").write_text("class Cart:\n    def total(self):\n        return 0\n")
    (repo / "README.md").write_text("# Shop\n")
    (repo / "docs" / "guide.rst").write_text("Guide\n=====\n")
    cli = CliRunner()
    env = {"SPARKCTL_ENDPOINT": url, "SPARKCTL_API_KEY": "admin-key", "COLUMNS": "200"}

    refused = cli.invoke(app, ["ingest", str(repo), "--no-wait"], env=env)
    code_only = cli.invoke(app, ["--verbose", "ingest", str(repo), "--code-only", "--no-wait"], env=env)

    assert refused.exit_code == 1
    assert "the extract model" in refused.stderr and "ollama serve" in refused.stderr
    assert "Or index shop's code now and its 2 document(s) later: add --code-only." in refused.stderr
    assert code_only.exit_code == 0, code_only.stderr
    assert "shop: 1 files" in code_only.stderr
    assert "left out: 2 document" in code_only.stderr
    assert "README.md  document" in code_only.stderr and "docs/guide.rst  document" in code_only.stderr
    [job] = httpx.get(f"{url}/v1/jobs", headers=ADMIN, timeout=30).json()["data"]
    assert (job["id"], job["source"]) == (code_only.stdout.strip(), "shop")


def test_ready_reports_each_model_server_with_its_models_and_context(
    start_orchestrator: Start, fake_llm: FakeLLM
) -> None:
    missing = f"http://127.0.0.1:{free_port()}"
    fake_llm.served_context = 16384
    url = start_orchestrator(llm_url=fake_llm.url, embed_url=missing, embedder="llm")

    body = httpx.get(f"{url}/ready", headers=ADMIN, timeout=30).json()
    servers = {server["url"]: server for server in body["models"]}

    running = servers[fake_llm.url.removeprefix("http://")]
    assert running["reachable"] is True and running["models"] == ["fake:latest"]
    catalog = {model.name: model for model in load_catalog().models}
    assert (
        running["context"] == {name: min(catalog[name].context or 16384, 16384) for name in running["context"]}
        and running["context"]
    )
    down = servers[missing.removeprefix("http://")]
    assert down["reachable"] is False and down["error"]
    assert "models" not in httpx.get(f"{url}/ready?serving=true", headers=ADMIN, timeout=30).json()
