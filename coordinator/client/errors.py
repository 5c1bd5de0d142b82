"""What a client call can raise: a refusal (with the SPEC error code) or no reply in time."""

from __future__ import annotations

from coordinator.domain.replies import ErrorCode, Reply
from coordinator.errors import CoordinatorError


class ClientError(CoordinatorError):
    """Root of the client's exceptions."""


class CommandRefusedError(ClientError):
    """The coordinator refused the command; ``code`` is the stable SPEC error code."""

    def __init__(self, reply: Reply) -> None:
        assert reply.error is not None
        self.reply = reply
        self.code: ErrorCode = reply.error.code
        self.detail = reply.error.message
        super().__init__(f"{self.code.value}: {self.detail}")


class ReplyTimeoutError(ClientError):
    """No reply arrived before the deadline (is a coordinator worker running?)."""
