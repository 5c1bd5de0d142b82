"""The base of every command: its envelope fields and its declaration (see ``commands``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from pydantic import ConfigDict

from coordinator.domain.events import EventModel
from coordinator.domain.wire import WireModel


class SuccessReply(Enum):
    """What an accepted command replies with, when it names a ``replyTo``."""

    SUMMARY = "summary"
    """The state summary right after the change (a retry gets the same one again)."""
    RESULT = "result"
    """What the change made (the runtime limits after it); a retry gets the same one again."""
    ACCEPTED = "accepted"
    """Null, once applied (a retry gets the same)."""
    VALUE = "value"
    """The answer of a query, read from the state it met."""
    NOTHING = "nothing"
    """No reply (fire-and-forget); a refusal is still answered."""


@dataclass(frozen=True, slots=True)
class Declaration:
    """What a command type is: the one place the rest of the coordinator learns it from."""

    purpose: str
    """One sentence: what the command asks."""
    replies: SuccessReply
    emits: tuple[type[EventModel], ...] = ()
    """The events an accepted one may append, in order; none for a query."""
    answer: str = ""
    """For a query: what the value of its reply is."""
    refused_when: str = ""
    """Besides invalid values: when it is refused."""

    @property
    def changes_state(self) -> bool:
        return bool(self.emits)

    @property
    def description(self) -> str:
        """The sentence of the command's JSON Schema."""
        refused = f"; refused if {self.refused_when}" if self.refused_when else ""
        match self.replies:
            case SuccessReply.SUMMARY:
                return f"{self.purpose} Replies with the state summary{refused}."
            case SuccessReply.VALUE | SuccessReply.RESULT:
                return f"{self.purpose} Replies with {self.answer}{refused}."
            case SuccessReply.ACCEPTED:
                return f"{self.purpose} Replies with null once applied{refused}."
            case SuccessReply.NOTHING:
                return (
                    f"{self.purpose} Fire-and-forget: a reply only for an error, and only if "
                    "replyTo is given."
                )


class CommandModel(WireModel):
    """Fields every command may carry; strict types so ``"15"`` is not silently a number."""

    # NaN and infinities go out as NaN/Infinity (which the coordinator reads and refuses with
    # INVALID_ARGUMENT), not as null (which would be refused as the wrong type).
    model_config = ConfigDict(strict=True, ser_json_inf_nan="constants")

    explicit_nulls: ClassVar[frozenset[str]] = frozenset()
    """Fields where ``null`` means something (remove a cap) that leaving the field out does not
    (keep it): written as null when set to None, where other None fields are left out."""

    declared: ClassVar[Declaration]
    """Set by every command type (``tests/unit/domain/test_declarations.py`` checks it)."""

    type: str
    command_id: str | None = None
    reply_to: str | None = None
    correlation_id: str | None = None

    @property
    def effective_correlation_id(self) -> str | None:
        """``correlationId`` as given, else the ``commandId``."""
        return self.correlation_id if self.correlation_id is not None else self.command_id
