"""Logging in the design document's form: ``INFO  - msg=Register pipeline pipelineId=p-1 ...``."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

_LEVEL_NAMES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class DesignDocumentFormatter(logging.Formatter):
    """``2026-11-27T03:58:31.955Z INFO  - msg=... key=value`` (UTC, one line per record)."""

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_NAMES.get(record.levelname, record.levelname)
        created = datetime.fromtimestamp(record.created, UTC)
        moment = created.strftime("%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        message = record.getMessage()
        if not message.startswith("msg="):
            message = f"msg={message} logger={record.name}"
        line = f"{moment} {level:<5} - {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line.replace("\n", "\n    ")


def configure(level: str = "INFO") -> None:
    """Route every logger (ours, faust's, aiokafka's) through one stderr handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DesignDocumentFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The libraries are chatty at INFO (every rebalance step); keep their warnings.
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def quote(value: object) -> str:
    """A value for ``key=value``; kept readable, with line breaks escaped."""
    return str(value).replace("\n", "\\n")
