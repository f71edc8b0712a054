"""python -m sparkctl.services.preprocessor: serve the preprocessor with settings from SPARKCTL_*."""

import logging

import uvicorn

from sparkctl.services.preprocessor.app import create_app
from sparkctl.services.preprocessor.settings import PreprocessorSettings

settings = PreprocessorSettings()
logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)
