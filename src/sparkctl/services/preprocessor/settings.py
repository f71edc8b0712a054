"""Settings of the preprocessor."""

from __future__ import annotations

from pydantic import Field

from sparkctl.services.common.settings import ServiceSettings, Url


class PreprocessorSettings(ServiceSettings):
    port: int = 8090
    lightrag_url: Url = "http://127.0.0.1:9621"
    max_file_bytes: int = 1024 * 1024
    max_batch_files: int = Field(default=2000, description="files accepted in one /parse/batch request")
    request_timeout: float = 300.0
