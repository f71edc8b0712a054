"""`python -m sparkctl.services.lightrag`: serve the LightRAG service with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from sparkctl.services.lightrag.app import create_app
from sparkctl.services.lightrag.settings import LightragSettings


def main() -> None:
    settings = LightragSettings()  # type: ignore[call-arg]
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
