"""Logging in the design document's form: ``INFO  - msg=Register pipeline pipelineId=p-1 ...``."""

from __future__ import annotations

import logging
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


class RepeatFilter(logging.Filter):
    """Drops a line repeated more than ``burst`` times in ``window`` seconds, then says how many.

    During a broker outage aiokafka logs the same connection error thousands of times a second;
    an operator needs to see it a few times and then a count, not a flooded disk.
    """

    LIBRARIES = ("aiokafka", "faust", "mode", "coordinator.kafka")
    """Only these loggers are limited: our own lines are one per event, always."""

    def __init__(self, burst: int = 5, window: float = 30.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LIBRARIES):
            return True
        key = (record.name, str(record.msg))
        started, count = self._seen.get(key, (record.created, 0))
        if record.created - started > self.window:
            suppressed = count - self.burst
            self._seen[key] = (record.created, 1)
            if suppressed > 0:
                record.msg = f"{record.msg} (and {suppressed} more like it in {self.window:.0f} s)"
            return True
        self._seen[key] = (started, count + 1)
        if len(self._seen) > 10_000:
            self._seen.clear()
        return count < self.burst


def quote(value: object) -> str:
    """A value for ``key=value``, on one line: every character that does not print (line and
    paragraph separators, bidi overrides, controls) is escaped, so input cannot forge lines."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
