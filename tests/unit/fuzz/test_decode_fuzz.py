"""``decode_command`` on anything at all: it never raises, and says precisely what is wrong.

Random bytes, random JSON documents, valid commands, and mutations of valid commands whose outcome
is known (a required field dropped or of a wrong type, an unknown field, an unknown or missing
``type`` must fail with the right code; ``type`` or an enum value in another case must not).
"""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from coordinator.domain.codec import MAX_ERROR_MESSAGE_LENGTH, DecodeError, decode_command
from coordinator.domain.commands import CommandModel
from coordinator.domain.replies import ErrorCode

from .budget import fuzz
from .strategies import (
    Mutation,
    byte_mutations,
    command_documents,
    encode_document,
    json_documents,
    mutations,
    raw_inputs,
)

DECODE_CODES = {ErrorCode.INVALID_COMMAND, ErrorCode.UNKNOWN_COMMAND_TYPE}
"""The only codes decoding can give; the others come from rules, the worker or the broker."""


def check_result(raw: bytes) -> CommandModel | DecodeError:
    result = decode_command(raw)
    if isinstance(result, DecodeError):
        assert result.error.code in DECODE_CODES, result
        assert result.error.message
        assert len(result.error.message) <= MAX_ERROR_MESSAGE_LENGTH
        for text in (result.command_id, result.correlation_id, result.reply_to):
            assert text is None or isinstance(text, str)
        if result.error.code is ErrorCode.UNKNOWN_COMMAND_TYPE:
            assert result.command_type is not None
        return result
    assert isinstance(result, CommandModel)
    # What was read is stable: its own JSON reads back as the same command. (pydantic writes
    # NaN and infinities as null, so a command carrying one reads back as INVALID_COMMAND.)
    floats = [value for value in result.model_dump().values() if isinstance(value, float)]
    if all(math.isfinite(value) for value in floats):
        assert decode_command(result.to_json()) == result
    return result


@fuzz(150)
@given(raw=st.binary(max_size=300))
@example(raw=b"")
@example(raw=b"\xff\xfe{\x00}\x00")
@example(raw=b"[" * 100_000)
def test_random_bytes_never_raise(raw: bytes) -> None:
    check_result(raw)


@fuzz(150)
@given(document=json_documents)
def test_random_json_never_raises(document: object) -> None:
    result = check_result(encode_document(document))

    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        assert isinstance(result, DecodeError)
        assert result.error.code is ErrorCode.INVALID_COMMAND


@fuzz(150)
@given(raw=raw_inputs)
def test_any_producer_input_never_raises(raw: bytes) -> None:
    check_result(raw)


@fuzz(150)
@given(raw=byte_mutations())
def test_damaged_commands_never_raise(raw: bytes) -> None:
    check_result(raw)


@fuzz(150)
@given(document=command_documents())
def test_well_shaped_commands_decode(document: dict[str, object]) -> None:
    result = check_result(encode_document(document))

    assert isinstance(result, CommandModel), result
    assert result.type == document["type"]


@fuzz(250)
@given(mutation=mutations())
def test_each_mutation_has_its_documented_outcome(mutation: Mutation) -> None:
    result = check_result(encode_document(mutation.document))

    if mutation.expected is None:
        assert isinstance(result, CommandModel), (mutation.description, result)
    else:
        assert isinstance(result, DecodeError), (mutation.description, result)
        assert result.error.code is mutation.expected, (mutation.description, result.error)
