"""The shape every message takes on the wire: camelCase JSON, Z timestamps, lenient enums.

Python code uses snake_case; the wire uses the design document's camelCase names. Enum values are
written lower-case and read in any case, so that a command typed by hand is accepted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, PlainSerializer
from pydantic.alias_generators import to_camel
from pydantic_core import core_schema


@lru_cache(maxsize=4096)
def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z`` suffix.

    Cached: the events of one batch share their timestamp, and serialising dates is a hot spot.
    """
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # isoformat ends "+00:00" in UTC, and is twice as fast as strftime.
    return utc.isoformat(timespec="milliseconds")[:-6] + "Z"


def _require_utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (use a Z suffix)")
    return moment.astimezone(UTC)


_WRITTEN_IN_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"
"""The shape ``format_timestamp`` writes (and any ``Z`` instant with at most microseconds)."""


class _UtcInstant:
    """How a ``Timestamp`` is read. From JSON, a text in the shape we write (``...48.480Z``) goes
    to ``datetime.fromisoformat``, which pydantic-core calls as it is (a C function: no Python
    frame) and which gives ``tzinfo`` ``UTC`` itself. Anything else, and every Python value, takes
    pydantic's datetime parsing and ``_require_utc``: another zone becomes UTC, none is refused.

    Each table row holds three timestamps: the ``AfterValidator`` alone cost about 0.45 us for
    each (pydantic's ``TzInfo(0)`` converted in Python), and keeping ``TzInfo(0)`` instead would
    cost as much later, since comparing it with a ``UTC`` instant (in ``format_timestamp``'s cache,
    for one) calls ``utcoffset`` on both.
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        written = core_schema.chain_schema(
            [
                core_schema.str_schema(strict=True, pattern=_WRITTEN_IN_UTC),
                core_schema.no_info_plain_validator_function(datetime.fromisoformat),
            ]
        )
        other = core_schema.no_info_after_validator_function(
            _require_utc, core_schema.datetime_schema()
        )
        from_json = core_schema.union_schema(
            [written, other],
            mode="left_to_right",
            custom_error_type="timestamp_parsing",
            custom_error_message=(
                "Input should be an instant with a time zone, such as 2026-11-27T03:52:48.480Z"
            ),
        )
        return core_schema.json_or_python_schema(json_schema=from_json, python_schema=other)


Timestamp = Annotated[
    datetime,
    _UtcInstant,
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
"""A UTC instant, written as ``2026-11-27T03:52:48.480Z``."""


def truncate_to_millis(moment: datetime) -> datetime:
    """The instant as the wire will carry it, so that state and its JSON never disagree."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def lower_if_text(value: Any) -> Any:
    """Before-validator that makes an enum field accept its values in any case."""
    return value.lower() if isinstance(value, str) else value


class _AnyCase:
    """An enum read as written (``running``) by pydantic-core alone, and only otherwise lowered
    in Python first (``RUNNING``): a ``BeforeValidator`` would call Python for every status read,
    every table row among them. Refused, it gives the enum's own error."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        exact = handler(source)
        values = [repr(member.value) for member in source]
        expected = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
        return core_schema.union_schema(
            [exact, core_schema.no_info_before_validator_function(lower_if_text, exact)],
            mode="left_to_right",
            custom_error_type="enum",
            custom_error_context={"expected": expected},
        )


AnyCase = _AnyCase
"""Use as ``Annotated[SomeStrEnum, AnyCase]``: ``RUNNING`` and ``Running`` read as ``running``."""


class WireModel(BaseModel):
    """Base of every wire model: immutable, camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        # Field names only in pydantic-core's string cache (16,384 strings): cached ids and
        # timestamps read during a long fold would each keep an allocator arena alive after it.
        cache_strings="keys",
    )

    def to_json(self) -> bytes:
        return encode_json(self)


def encode_json(model: BaseModel, exclude: set[str] | None = None) -> bytes:
    """The one encoder of every wire model (events, replies, table rows): compact camelCase JSON.

    The bytes ``model_dump_json(by_alias=True).encode()`` gives (the same serializer with the same
    defaults), without its decode to ``str`` and our encode back: 0.7 us against 1.1 for an event.
    """
    return model.__pydantic_serializer__.to_json(model, by_alias=True, exclude=exclude)


M = TypeVar("M", bound=WireModel)
_new_object = object.__new__
# BaseModel's slots, set through their descriptors: what ``object.__setattr__`` calls in the end,
# without looking the name up along the class's MRO first (0.15 us less per copy).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def replaced(model: M, update: dict[str, Any]) -> M:
    """A copy of ``model`` with the fields in ``update`` (snake_case names) replaced, not
    validated: only for values that come from validated models already (state and events).

    What ``model_copy(update=...)`` does without its generic copying: 0.6 us against 1.6, and a
    validating constructor takes 2.2 (``PipelineInfo``); a pipeline event makes three (the
    pipeline, its group and the summary).
    """
    copy = _new_object(type(model))
    fields = model.__dict__.copy()
    fields.update(update)
    _set_dict(copy, fields)
    _set_fields_set(copy, model.__pydantic_fields_set__)
    _set_extra(copy, None)
    _set_private(copy, None)
    return copy
