"""Running one worker process in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

from typing import Any

import faust

from coordinator.config import Settings
from coordinator.logs import DesignDocumentFormatter, RepeatFilter
from coordinator.worker.app import create_app
from coordinator.worker.memory import limit_arenas
from coordinator.worker.service import CoordinatorService


def logging_config(level: str) -> dict[str, Any]:
    """dictConfig for the worker: our one-line format for every logger."""
    quiet = "WARNING" if level in ("INFO", "DEBUG") else level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"coordinator": {"()": DesignDocumentFormatter}},
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "coordinator",
                "filters": ["repeats"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        # faust, mode and aiokafka narrate every rebalance step at INFO.
        "loggers": {name: {"level": quiet} for name in ("faust", "mode", "aiokafka")},
    }


def run_worker(settings: Settings) -> None:
    limit_arenas()
    service = CoordinatorService(settings)
    app = create_app(settings, service)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        logging_config=logging_config(settings.log_level),
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
