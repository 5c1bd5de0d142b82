"""A refusal's message stays small however large the refused command is.

Regression: ``decode_command`` listed every validation problem, naming each field as the sender
spelled it, so 64 KiB of unknown fields made a ~300 KB error message, echoed in the error reply.
With ``COORDINATOR_MAX_COMMAND_BYTES`` raised to a few hundred KiB, such a reply passes the broker's
1 MB message size: its transaction fails, is retried, fails again, and the stream stops.
"""

from __future__ import annotations

from coordinator.domain.codec import MAX_ERROR_MESSAGE_LENGTH, DecodeError, decode_command
from coordinator.domain.replies import ErrorCode, error_reply


def refused(raw: bytes) -> DecodeError:
    result = decode_command(raw)
    assert isinstance(result, DecodeError), result
    return result


def test_thousands_of_unknown_fields_give_a_short_message_that_counts_them() -> None:
    fields = "".join(f',"f{n}":0' for n in range(40_000))
    raw = f'{{"type":"GetSystemStatus","replyTo":"coordinator.replies"{fields}}}'.encode()

    result = refused(raw)

    assert len(raw) > 400_000
    assert result.error.code is ErrorCode.INVALID_COMMAND
    assert len(result.error.message) <= MAX_ERROR_MESSAGE_LENGTH
    assert result.error.message.startswith("f0: Extra inputs are not permitted")
    assert result.error.message.endswith("and 39990 more problems")
    reply = error_reply(None, None, result.command_type, result.error)
    assert len(reply.to_json()) < 2 * MAX_ERROR_MESSAGE_LENGTH


def test_a_huge_field_name_is_cut_in_the_message() -> None:
    name = "n" * 200_000
    result = refused(f'{{"type":"GetSystemStatus","{name}":1}}'.encode())

    assert len(result.error.message) <= MAX_ERROR_MESSAGE_LENGTH
    assert result.error.message.startswith("n" * 99 + "\u2026: Extra inputs")


def test_a_few_problems_are_all_named() -> None:
    result = refused(b'{"type":"RegisterPipeline","pipelineId":7,"extra":true}')

    assert result.error.message == (
        "pipelineId: Input should be a valid string; name: Field required; "
        "extra: Extra inputs are not permitted"
    )
