"""Settings of the preprocessor."""

from __future__ import annotations

import os

from pydantic import Field

from sparkctl.services.common.settings import ServiceSettings, Url


def default_workers() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class PreprocessorSettings(ServiceSettings):
    port: int = 8090
    lightrag_url: Url = "http://127.0.0.1:9621"
    max_file_bytes: int = 1024 * 1024
    max_batch_files: int = Field(default=2000, description="files accepted in one /parse/batch request")
    max_body_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="largest request body accepted; files travel base64-encoded (4 bytes for 3), and the default "
        "holds a worker's batch or one document of the orchestrator's largest upload",
    )
    request_timeout: float = 300.0
    workers: int = Field(
        default_factory=default_workers, ge=1, description="processes parsing a batch at once (default: one per CPU)"
    )
