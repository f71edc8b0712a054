"""A real codebase nobody here wrote, the installed httpx package, as an archive, and ingesting it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import httpx

from sparkctl.client import Endpoint, OrchestratorClient
from support.stack import Stack


def httpx_source_tarball(extra: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> bytes:
    root = Path(httpx.__file__).parent
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(root.rglob("*.py")):
            name = f"httpx/{path.relative_to(root).as_posix()}"
            if name in drop:
                continue
            data = path.read_bytes()
            add_file(archive, name, data)
        for name, data in (extra or {}).items():
            add_file(archive, name, data)
    return buffer.getvalue()


def add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def ingest(stack: Stack, archive: bytes, workspace: str) -> dict[str, Any]:
    with OrchestratorClient(Endpoint(stack.orchestrator, "test"), stack.api_key) as client:
        job = client.upload_codebase(archive, name="httpx", workspace=workspace)
        states = list(client.follow_job(job["id"]))
        final = client.job(job["id"])
    assert states, "no progress events"
    return final
