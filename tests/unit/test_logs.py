"""The log format of the design document, and the guard against repeated-line floods."""

from __future__ import annotations

import logging

from coordinator.logs import DesignDocumentFormatter, RepeatFilter


def record(
    msg: str, created: float, level: int = logging.ERROR, name: str = "aiokafka"
) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    made.created = created
    made.msecs = 0
    return made


def test_design_document_form() -> None:
    line = DesignDocumentFormatter().format(
        record("msg=Register pipeline pipelineId=p-1 name=x", 0.0, logging.INFO, "coordinator")
    )
    assert line == "1970-01-01T00:00:00.000Z INFO  - msg=Register pipeline pipelineId=p-1 name=x"
    warn = DesignDocumentFormatter().format(
        record("msg=Resources unavailable", 0.0, logging.WARNING)
    )
    assert " WARN  - msg=Resources unavailable" in warn
    foreign = DesignDocumentFormatter().format(record("Unable to connect", 0.0))
    assert foreign.endswith("ERROR - msg=Unable to connect logger=aiokafka")


def test_a_flood_is_cut_to_a_burst_and_then_counted() -> None:
    guard = RepeatFilter(burst=3, window=10.0)
    passed = [guard.filter(record("Unable connect to node %s", t / 100)) for t in range(500)]
    assert sum(passed) == 3
    other = record("another message", 1.0)
    assert guard.filter(other)
    after = record("Unable connect to node %s", 20.0)
    assert guard.filter(after)
    assert "(and 497 more like it in 10 s)" in str(after.msg)


def test_our_own_lines_are_never_limited() -> None:
    guard = RepeatFilter(burst=1, window=10.0)
    lines = [
        record("msg=Register pipeline pipelineId=%s", t, logging.INFO, "coordinator")
        for t in range(50)
    ]
    assert all(guard.filter(line) for line in lines)


def test_values_cannot_forge_log_lines() -> None:
    from coordinator.logs import quote

    assert quote("plain id") == "plain id"
    assert quote("a\nINFO  - msg=forged") == "a\\nINFO  - msg=forged"
    assert quote("x\u2028y\u202e") == "x\\u2028y\\u202e"
