"""python -m sparkctl.services.worker: consume ingest jobs with settings from SPARKCTL_*."""

import asyncio
import logging

from sparkctl.services.worker.service import run_worker
from sparkctl.services.worker.settings import WorkerSettings

settings = WorkerSettings()  # type: ignore[call-arg]
logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
asyncio.run(run_worker(settings))
