"""What a client call can raise, each with a message that says what to do about it.

A refusal carries the stable error code (``CommandRefusedError.code``); everything else means the
command may not have reached a coordinator at all: no broker, no topics, not delivered, or no
reply in time (is a worker running?).
"""

from __future__ import annotations

from coordinator.domain.replies import ErrorCode, Reply
from coordinator.errors import BrokerUnavailableError, CoordinatorError


class ClientError(CoordinatorError):
    """Root of the client's exceptions."""


class CommandRefusedError(ClientError):
    """The coordinator refused the command; ``code`` is the stable error code (docs/protocol.md)."""

    def __init__(self, reply: Reply) -> None:
        assert reply.error is not None
        self.reply = reply
        self.code: ErrorCode = reply.error.code
        self.detail = reply.error.message
        super().__init__(f"{self.code.value}: {self.detail}")


class ReplyTimeoutError(ClientError):
    """No reply arrived before the deadline (is a coordinator worker running?)."""


class BrokerUnreachableError(ClientError, BrokerUnavailableError):
    """No Kafka broker answered at the configured address within the connect timeout."""


class TopicNotFoundError(ClientError):
    """The broker answers, but the coordinator's commands topic does not exist on it."""


class DeliveryError(ClientError):
    """The broker did not accept a command (it is not in the commands topic)."""
