"""Enum values are read in any case, and a value that is none of them is refused with the enum's
own message (the exact spelling is read by pydantic-core alone, any other lowered first)."""

from __future__ import annotations

import pytest

from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.commands import SetGroupState, UpdatePipelineStatus
from coordinator.domain.model import GroupState, PipelineStatus

STATUS = (
    '{"type":"UpdatePipelineStatus","pipelineId":"p","status":%s,"totalRecords":1,'
    '"failedRecords":0}'
)


@pytest.mark.parametrize("written", ['"running"', '"RUNNING"', '"Running"'])
def test_a_status_is_read_in_any_case(written: str) -> None:
    command = decode_command((STATUS % written).encode())

    assert isinstance(command, UpdatePipelineStatus)
    assert command.status is PipelineStatus.RUNNING


@pytest.mark.parametrize("written", ['"bogus"', "5", "null", '""'])
def test_a_status_that_is_none_of_them_is_refused_with_the_values_it_may_take(
    written: str,
) -> None:
    refused = decode_command((STATUS % written).encode())

    assert isinstance(refused, DecodeError)
    assert refused.error.message == (
        "status: Input should be 'configured', 'running', 'paused', 'stopped' or 'failed'"
    )


def test_a_group_state_is_read_in_any_case_and_refused_with_its_values() -> None:
    command = decode_command(b'{"type":"SetGroupState","groupId":"g","state":"CLOSED"}')
    refused = decode_command(b'{"type":"SetGroupState","groupId":"g","state":"shut"}')

    assert isinstance(command, SetGroupState) and command.state is GroupState.CLOSED
    assert isinstance(refused, DecodeError)
    assert refused.error.message == "state: Input should be 'open' or 'closed'"
