"""Rules about values, each returning a message or None when satisfied."""

from __future__ import annotations

import math
import re

from coordinator.domain.model import MAX_LONG

MAX_ID_LENGTH = 256
MAX_NAME_LENGTH = 256
MAX_COMMAND_ID_LENGTH = 128
MAX_CORRELATION_ID_LENGTH = 256
MAX_TOPIC_NAME_LENGTH = 249
MAX_REASON_LENGTH = 1024
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]+")


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Unicode category Cc, which is exactly U+0000-U+001F and U+007F-U+009F (a unit test checks
this against ``unicodedata`` for every code point)."""


def _has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def text_problem(field: str, value: str, max_length: int) -> str | None:
    """Non-empty after trimming, bounded in length, and free of control characters."""
    if not value.strip():
        return f"{field} must not be empty or blank"
    if len(value) > max_length:
        return f"{field} must be at most {max_length} characters, got {len(value)}"
    if _has_control_characters(value):
        return f"{field} must not contain control characters"
    return None


def percent_problem(field: str, value: float) -> str | None:
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        return f"{field} must be a finite number between 0 and 100, got {value!r}"
    return None


def ceiling_problem(field: str, value: float) -> str | None:
    """A limit on a sum of percentages: many pipelines together may use more than 100."""
    if not math.isfinite(value) or value < 0.0:
        return f"{field} must be a finite number of at least 0, got {value!r}"
    return None


def count_problem(field: str, value: int) -> str | None:
    if not 0 <= value <= MAX_LONG:
        return f"{field} must be between 0 and {MAX_LONG}, got {_shown(value)}"
    return None


def _shown(value: int) -> str:
    """An integer for a message, at most about 40 characters (one may have 4,300 digits)."""
    digits = str(value)
    if len(digits) <= 40:
        return digits
    return f"{digits[:20]}... ({len(digits.lstrip('-'))} digits)"


def reply_topic_problem(topic: str, prefix: str) -> str | None:
    """A reply may only go to a legal Kafka topic whose name starts with the reply prefix."""
    if not topic.startswith(prefix):
        return f"replyTo {topic[:300]!r} is not under the reply prefix {prefix!r}"
    if len(topic) > MAX_TOPIC_NAME_LENGTH or not _TOPIC_NAME.fullmatch(topic):
        return f"replyTo {topic[:300]!r} is not a legal Kafka topic name"
    return None
