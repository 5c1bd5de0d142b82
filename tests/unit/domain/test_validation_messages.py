"""A refusal's message does not grow with the value it refuses."""

from __future__ import annotations

from coordinator.domain.model import MAX_LONG
from coordinator.domain.validation import count_problem


def test_a_count_of_thousands_of_digits_is_shown_short() -> None:
    message = count_problem("totalRecords", 10**4000)

    assert message is not None
    assert message.endswith("got 10000000000000000000... (4001 digits)")
    assert len(message) < 120


def test_a_count_just_out_of_range_is_shown_whole() -> None:
    assert count_problem("memoryMB", MAX_LONG + 1) == (
        f"memoryMB must be between 0 and {MAX_LONG}, got {MAX_LONG + 1}"
    )
    assert count_problem("memoryMB", -1) == f"memoryMB must be between 0 and {MAX_LONG}, got -1"
