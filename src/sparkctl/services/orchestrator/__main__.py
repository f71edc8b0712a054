"""python -m sparkctl.services.orchestrator: serve the orchestrator with settings from SPARKCTL_*."""

import logging

import uvicorn

from sparkctl.services.orchestrator.app import create_app
from sparkctl.services.orchestrator.settings import OrchestratorSettings

settings = OrchestratorSettings()  # type: ignore[call-arg]
logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)
