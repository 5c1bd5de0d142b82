"""Hypothesis strategies for hostile input: raw bytes, JSON documents, valid commands and their
mutations, each mutation labelled with the decode outcome it must have.

A command document is the JSON object a producer sends (camelCase keys). ``FIELDS`` says which
fields each command type has and what kind of value each takes, so that a mutation knows whether
it broke the command (a required field dropped, an unknown field added, a value of a wrong type)
or merely changed its spelling (``type`` or an enum value in another case).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from coordinator.domain.codec import KNOWN_COMMAND_TYPES
from coordinator.domain.model import MAX_LONG, PipelineStatus
from coordinator.domain.replies import ErrorCode

REPLY_PREFIX = "coordinator.replies"
FULLWIDTH_RUNNING = "".join(chr(ord(letter) + 0xFEE0) for letter in "running")
"""``running`` in full-width letters: no case mapping makes it ``running``."""


class Kind(Enum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    STATUS = "status"
    GROUP_STATE = "group-state"
    BOOLEAN = "boolean"
    LABELS = "labels"
    TEXT_LIST = "text-list"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = True


ENVELOPE = (
    Field("commandId", Kind.TEXT, required=False),
    Field("replyTo", Kind.TEXT, required=False),
    Field("correlationId", Kind.TEXT, required=False),
)

FIELDS: dict[str, tuple[Field, ...]] = {
    "RegisterPipeline": (
        Field("pipelineId", Kind.TEXT),
        Field("name", Kind.TEXT),
        Field("group", Kind.TEXT, required=False),
        Field("requestedCpuPercent", Kind.NUMBER, required=False),
        Field("requestedMemoryMB", Kind.INTEGER, required=False),
        Field("priority", Kind.INTEGER, required=False),
        Field("preemptible", Kind.BOOLEAN, required=False),
        Field("reservationId", Kind.TEXT, required=False),
    ),
    "UnregisterPipeline": (Field("pipelineId", Kind.TEXT),),
    "UpdatePipelineStatus": (
        Field("pipelineId", Kind.TEXT),
        Field("status", Kind.STATUS),
        Field("totalRecords", Kind.INTEGER),
        Field("failedRecords", Kind.INTEGER),
    ),
    "ReportResourceUsage": (
        Field("pipelineId", Kind.TEXT),
        Field("cpuPercent", Kind.NUMBER),
        Field("memoryMB", Kind.INTEGER),
    ),
    "CheckResourceAvailability": (
        Field("estimatedCpuPercent", Kind.NUMBER),
        Field("estimatedMemoryMB", Kind.INTEGER),
        Field("group", Kind.TEXT, required=False),
        Field("detail", Kind.BOOLEAN, required=False),
        Field("priority", Kind.INTEGER, required=False),
    ),
    "GetSystemStatus": (),
    "GetPipelineInfo": (Field("pipelineId", Kind.TEXT),),
    "ListPipelines": (
        Field("status", Kind.STATUS, required=False),
        Field("group", Kind.TEXT, required=False),
        Field("labelSelector", Kind.TEXT, required=False),
        Field("namePrefix", Kind.TEXT, required=False),
        Field("limit", Kind.INTEGER, required=False),
        Field("after", Kind.TEXT, required=False),
    ),
    "SetResourceLimits": (
        Field("maxCpuPercent", Kind.NUMBER, required=False),
        Field("maxMemoryMB", Kind.INTEGER, required=False),
        Field("expectedRevision", Kind.INTEGER, required=False),
        Field("reason", Kind.TEXT, required=False),
    ),
    "ResetResourceLimits": (
        Field("expectedRevision", Kind.INTEGER, required=False),
        Field("reason", Kind.TEXT, required=False),
    ),
    "CreateGroup": (Field("groupId", Kind.TEXT), Field("labels", Kind.LABELS, required=False)),
    "SetPipelineLabels": (Field("pipelineId", Kind.TEXT), Field("labels", Kind.LABELS)),
    "SetGroupQuota": (
        Field("groupId", Kind.TEXT),
        Field("maxCpuPercent", Kind.NUMBER, required=False),
        Field("maxMemoryMB", Kind.INTEGER, required=False),
        Field("maxPipelines", Kind.INTEGER, required=False),
        Field("expectedRevision", Kind.INTEGER, required=False),
        Field("reason", Kind.TEXT, required=False),
    ),
    "SetGroupState": (
        Field("groupId", Kind.TEXT),
        Field("state", Kind.GROUP_STATE),
        Field("expectedRevision", Kind.INTEGER, required=False),
    ),
    "DeleteGroup": (Field("groupId", Kind.TEXT),),
    "MovePipeline": (Field("pipelineId", Kind.TEXT), Field("groupId", Kind.TEXT)),
    "GetGroup": (Field("groupId", Kind.TEXT),),
    "ListGroups": (
        Field("limit", Kind.INTEGER, required=False),
        Field("after", Kind.TEXT, required=False),
    ),
    "ReserveResources": (
        Field("group", Kind.TEXT, required=False),
        Field("cpuPercent", Kind.NUMBER),
        Field("memoryMB", Kind.INTEGER),
        Field("ttlSeconds", Kind.NUMBER),
        Field("priority", Kind.INTEGER, required=False),
    ),
    "ReleaseReservation": (Field("reservationId", Kind.TEXT),),
    "ListReservations": (Field("group", Kind.TEXT, required=False),),
    "Tick": (),
    "RequestPreemption": (
        Field("pipelineIds", Kind.TEXT_LIST),
        Field("forPipelineId", Kind.TEXT, required=False),
        Field("reason", Kind.TEXT),
    ),
}
assert set(FIELDS) == set(KNOWN_COMMAND_TYPES), "a command type is missing from FIELDS"

# -- values ------------------------------------------------------------------------------------

awkward_text = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "\u00a0",
        "\u200b",
        "\u200f",
        "\u202e",
        "\u200d",
        "\ufeff",
        "a\x00b",
        "\x1b[31m",
        "\u0085",
        "e\u0301",
        "\u00e9",
        "🚀",
        "👩\u200d💻",
        "\U000e0041",
        "\uffff",
        "x" * 257,
        "y" * 5000,
    ]
)
texts = st.one_of(st.text(max_size=40), awkward_text)
integers = st.one_of(
    st.integers(min_value=-5, max_value=1000),
    st.sampled_from([-1, 0, MAX_LONG, MAX_LONG + 1, -(2**63), 2**64, 10**40]),
    st.integers(),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.0, max_value=100.0),
    st.sampled_from([-0.0, 5e-324, 100.0, 100.00000000000001, 1e308]),
    # Integers are numbers too (beyond the float range they are not: see the corpus).
    st.integers(min_value=-(2**70), max_value=2**70),
)
statuses = st.one_of(
    st.sampled_from([status.value for status in PipelineStatus]),
    st.sampled_from([status.value.upper() for status in PipelineStatus]),
    st.sampled_from(["Running", "rUnNiNg", "FAILED", "Paused"]),
)
reply_topics = st.one_of(
    st.just(REPLY_PREFIX),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", max_size=20).map(
        lambda tail: f"{REPLY_PREFIX}.{tail}"
    ),
    st.sampled_from(["coordinator.events", "", "coordinator.replies/../x", REPLY_PREFIX + "\n"]),
    texts,
)

VALUES: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.TEXT: texts,
    Kind.INTEGER: integers,
    Kind.NUMBER: numbers,
    Kind.STATUS: statuses,
    Kind.GROUP_STATE: st.sampled_from(["open", "closed", "OPEN", "Closed"]),
    Kind.BOOLEAN: st.booleans(),
    Kind.LABELS: st.dictionaries(texts, texts, max_size=4),
    Kind.TEXT_LIST: st.lists(texts, max_size=4),
}

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_documents = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=5),
    ),
    max_leaves=25,
)
"""Any JSON value (NaN and Infinity included: the codec reads them, as Python's json does)."""

wrong_values: dict[Kind, st.SearchStrategy[Any]] = {
    # Values no field of that kind accepts, null excepted (null is fine for optional fields).
    Kind.TEXT: st.one_of(st.booleans(), st.integers(), st.floats(), st.lists(texts, max_size=2)),
    Kind.INTEGER: st.one_of(
        st.booleans(),
        texts,
        # Strict: a float is refused even when it is whole (10.0, 1e3).
        st.floats(allow_nan=True, allow_infinity=True),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
    Kind.NUMBER: st.one_of(st.booleans(), texts, st.lists(st.floats(), max_size=2)),
    Kind.STATUS: st.one_of(
        st.booleans(),
        st.integers(),
        st.sampled_from(["runnin", "running ", " paused", FULLWIDTH_RUNNING, "", "healthy"]),
    ),
    Kind.GROUP_STATE: st.one_of(
        st.booleans(), st.integers(), st.sampled_from(["opened", " open", "", "running"])
    ),
    # Strict: 1 and "true" are not booleans.
    Kind.BOOLEAN: st.one_of(st.integers(), texts, st.floats()),
    Kind.LABELS: st.one_of(
        st.booleans(),
        texts,
        st.lists(texts, max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
    ),
    Kind.TEXT_LIST: st.one_of(
        st.booleans(),
        texts,
        st.lists(st.integers(), min_size=1, max_size=2),
        st.dictionaries(st.text(max_size=3), texts, max_size=2),
    ),
}


# -- commands ----------------------------------------------------------------------------------


@st.composite
def command_documents(draw: st.DrawFn, type_name: str | None = None) -> dict[str, Any]:
    """A command document of the right shape; its values may still break the rules."""
    chosen = type_name if type_name is not None else draw(st.sampled_from(sorted(FIELDS)))
    document: dict[str, Any] = {"type": chosen}
    for spec in FIELDS[chosen]:
        if spec.required or draw(st.booleans()):
            document[spec.name] = draw(VALUES[spec.kind])
    if draw(st.booleans()):
        document["commandId"] = draw(texts)
    if draw(st.booleans()):
        document["replyTo"] = draw(reply_topics)
        document["correlationId"] = draw(texts)
    return document


POOL_IDS = ["a", "b", "c", "\u00e9", "e\u0301", "\U0001f680", "\u200b", "p" * 256]
"""Pipeline ids the sane commands share, so that they meet each other."""
POOL_COMMAND_IDS = [f"k{n}" for n in range(8)]
POOL_GROUPS = ["default", "team-a", "team-b", "\u00e9quipe"]
"""Group ids the sane commands share (the default group among them)."""


@st.composite
def sane_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A command that follows every rule (it may still meet a missing or registered pipeline)."""
    type_name = draw(st.sampled_from(sorted(FIELDS)))
    document: dict[str, Any] = {"type": type_name}
    for spec in FIELDS[type_name]:
        if spec.required or draw(st.booleans()):
            document[spec.name] = draw(_SANE_VALUES[spec.name])
    if "failedRecords" in document:
        document["failedRecords"] = min(document["failedRecords"], document["totalRecords"])
    if type_name == "SetResourceLimits" and not {"maxCpuPercent", "maxMemoryMB"} & set(document):
        document["maxCpuPercent"] = draw(_SANE_VALUES["maxCpuPercent"])
    if draw(st.booleans()):
        document["commandId"] = draw(st.sampled_from(POOL_COMMAND_IDS))
    return document


_SANE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "pipelineId": st.sampled_from(POOL_IDS),
    "name": st.sampled_from(["Pipeline", "\u00c9v\u00e9nements", "\U0001f680 x"]),
    "status": statuses,
    "totalRecords": st.integers(min_value=0, max_value=10**6),
    "failedRecords": st.integers(min_value=0, max_value=10**6),
    "cpuPercent": st.floats(min_value=0.0, max_value=100.0),
    "memoryMB": st.integers(min_value=0, max_value=MAX_LONG),
    "estimatedCpuPercent": st.floats(min_value=0.0, max_value=100.0),
    "estimatedMemoryMB": st.integers(min_value=0, max_value=10**6),
    "limit": st.integers(min_value=1, max_value=2000),
    "after": st.sampled_from(POOL_IDS),
    "maxCpuPercent": st.floats(min_value=0.0, max_value=1000.0),
    "maxMemoryMB": st.integers(min_value=0, max_value=MAX_LONG),
    "expectedRevision": st.integers(min_value=0, max_value=5),
    "reason": st.sampled_from(["night shift", "été", "incident 42"]),
    "group": st.sampled_from(POOL_GROUPS),
    "groupId": st.sampled_from(POOL_GROUPS),
    "requestedCpuPercent": st.floats(min_value=0.0, max_value=100.0),
    "requestedMemoryMB": st.integers(min_value=0, max_value=10**6),
    "priority": st.integers(min_value=-5, max_value=5),
    "preemptible": st.booleans(),
    "detail": st.booleans(),
    "labels": st.dictionaries(
        st.sampled_from(["team", "tier", "example.com/env"]),
        st.sampled_from(["payments", "batch", "prod", ""]),
        max_size=3,
    ),
    "maxPipelines": st.integers(min_value=0, max_value=10),
    "state": st.sampled_from(["open", "closed", "CLOSED"]),
    "labelSelector": st.sampled_from(["team=payments", "tier!=batch,!legacy", "env in (prod,x)"]),
    "namePrefix": st.sampled_from(["Pipe", "", "\u00c9"]),
    "reservationId": st.sampled_from(["res-1", "res-2", "res-3", "res-9"]),
    "ttlSeconds": st.floats(min_value=0.001, max_value=120.0),
    "pipelineIds": st.lists(st.sampled_from(POOL_IDS), min_size=1, max_size=3, unique=True),
    "forPipelineId": st.sampled_from(POOL_IDS),
}


def encode_document(document: Any) -> bytes:
    """As a producer would write it (NaN and Infinity as the bare words Python's json uses)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Mutation:
    """A changed command document, and the decode outcome the change must have."""

    document: dict[str, Any]
    description: str
    expected: ErrorCode | None
    """The ``DecodeError`` code the change must cause; None when it must still decode."""


_ENUMS = (Kind.STATUS, Kind.GROUP_STATE)
"""Kinds whose values read in any case."""


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    original = draw(command_documents())
    type_name = original["type"]
    specs = FIELDS[type_name]
    present = [spec for spec in specs + ENVELOPE if spec.name in original]
    required = [spec for spec in specs if spec.required]
    choices = ["add", "retype", "type-case", "unknown-type", "drop-type"]
    if required:
        choices += ["drop", "swap"]
    if any(spec.kind in _ENUMS for spec in present):
        choices.append("status-case")
    choice = draw(st.sampled_from(choices))
    document = dict(original)

    if choice == "drop":
        spec = draw(st.sampled_from(required))
        del document[spec.name]
        return Mutation(document, f"dropped {spec.name}", ErrorCode.INVALID_COMMAND)
    if choice == "swap":
        spec = draw(st.sampled_from(required))
        document[spec.name] = draw(wrong_values[spec.kind])
        return Mutation(document, f"{spec.name} of a wrong type", ErrorCode.INVALID_COMMAND)
    if choice == "add":
        known = {spec.name for spec in specs + ENVELOPE} | {"type"}
        name = draw(st.text(max_size=12).filter(lambda key: key not in known))
        document[name] = draw(json_documents)
        return Mutation(document, f"unknown field {name!r}", ErrorCode.INVALID_COMMAND)
    if choice == "retype":
        document["type"] = draw(st.one_of(st.none(), st.integers(), st.lists(texts, max_size=2)))
        return Mutation(document, "type not a string", ErrorCode.INVALID_COMMAND)
    if choice == "drop-type":
        del document["type"]
        return Mutation(document, "type missing", ErrorCode.INVALID_COMMAND)
    if choice == "unknown-type":
        known_lower = {name.lower() for name in KNOWN_COMMAND_TYPES}
        document["type"] = draw(texts.filter(lambda text: text.lower() not in known_lower))
        return Mutation(document, "unknown type", ErrorCode.UNKNOWN_COMMAND_TYPE)
    if choice == "type-case":
        document["type"] = draw(st.sampled_from([type_name.upper(), type_name.lower()]))
        return Mutation(document, "type in another case", None)
    # status-case: an enum value in another case reads as the same value.
    for spec in present:
        if spec.kind in _ENUMS and isinstance(document[spec.name], str):
            document[spec.name] = draw(st.sampled_from([str.upper, str.title, str.swapcase]))(
                document[spec.name]
            )
    return Mutation(document, "status in another case", None)


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    """A serialized command, then cut, spliced or with bytes flipped."""
    raw = bytearray(encode_document(draw(command_documents())))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        at = draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))
        if action == "cut":
            del raw[at:]
        elif action == "flip" and raw:
            raw[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif action == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif raw:
            del raw[at]
    return bytes(raw)


raw_inputs = st.one_of(
    st.binary(max_size=200),
    json_documents.map(encode_document),
    command_documents().map(encode_document),
    mutations().map(lambda mutation: encode_document(mutation.document)),
    byte_mutations(),
    st.sampled_from(
        [b"", b"null", b"[]", b"{}", b'"GetSystemStatus"', b"[" * 5000, b"\xef\xbb\xbf{}"]
    ),
)
"""Anything a producer might put on the commands topic."""
