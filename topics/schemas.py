"""JSON Schemas of what the coordinator's topics carry, generated from the domain models.

One file per command, per event, the reply envelope and the values replies carry, plus the
combined ``Command.json`` and ``Event.json``, all under ``topics/schemas/``. Commands are
described as producers may send them (pydantic's validation mode), events and replies as the
coordinator writes them (serialization mode); field names are the camelCase wire names.

The schemas give the canonical spelling. The coordinator is more lenient with people typing into
``kafka-console-producer``: it also accepts the command ``type`` and enum values in any case.

    python -m topics.schemas          # rewrite topics/schemas/*.json from the models
    python -m topics.schemas --check  # exit 1, listing the files that differ from the models

The files are checked in so that consumers in other languages can use them without Python; a unit
test fails when they drift from the models.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from coordinator.domain.commands import COMMAND_TYPES, Command
from coordinator.domain.events import EVENT_TYPES, Event
from coordinator.domain.model import MAX_LONG, PipelineInfo
from coordinator.domain.replies import (
    ADMISSION_FIELDS,
    Availability,
    ErrorInfo,
    GroupInfo,
    GroupPage,
    PipelinePage,
    Reply,
    RuntimeLimits,
    StateSummary,
    SystemStatus,
)
from coordinator.domain.validation import (
    MAX_COMMAND_ID_LENGTH,
    MAX_CORRELATION_ID_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_REASON_LENGTH,
)
from coordinator.domain.wire import format_timestamp

SCHEMA_DIRECTORY = Path(__file__).resolve().parent / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

Mode = Literal["validation", "serialization"]

if TYPE_CHECKING:
    # pydantic's own alias for this lives in a private module, for type checkers only.
    SchemaOrField: TypeAlias = (
        core_schema.CoreSchema
        | core_schema.ModelField
        | core_schema.DataclassField
        | core_schema.TypedDictField
        | core_schema.ComputedField
    )

_LENIENCY = (
    "Canonical spelling. The coordinator also accepts the command type and enum values in any "
    "case (RUNNING, Running)."
)

_PERCENT = {"minimum": 0, "maximum": 100}
_COUNT = {"minimum": 0, "maximum": MAX_LONG}
_VALUE_RULES: Mapping[str, Mapping[str, int]] = {
    "commandId": {"minLength": 1, "maxLength": MAX_COMMAND_ID_LENGTH},
    "correlationId": {"maxLength": MAX_CORRELATION_ID_LENGTH},
    "pipelineId": {"minLength": 1, "maxLength": MAX_ID_LENGTH},
    "name": {"minLength": 1, "maxLength": MAX_NAME_LENGTH},
    "after": {"maxLength": MAX_ID_LENGTH},
    "limit": {"minimum": 1},
    "cpuPercent": _PERCENT,
    "estimatedCpuPercent": _PERCENT,
    "memoryMB": _COUNT,
    "estimatedMemoryMB": _COUNT,
    "totalRecords": _COUNT,
    "failedRecords": _COUNT,
    "maxCpuPercent": {"minimum": 0},
    "maxMemoryMB": _COUNT,
    "expectedRevision": {"minimum": 0},
    "reason": {"minLength": 1, "maxLength": MAX_REASON_LENGTH},
}
"""The value rules that JSON Schema can say, from the domain's own limits.

The models check only shape (the decider applies these rules and names the one broken), so the
schemas add them for producers. What a schema cannot say (a name that is blank after trimming,
control characters, ``failedRecords`` above ``totalRecords``, the reply-topic prefix, which is
configurable) the coordinator still refuses with ``INVALID_ARGUMENT`` or
``FORBIDDEN_REPLY_TOPIC``.
"""

_DESCRIPTIONS: Mapping[str, str] = {
    command.__name__: command.declared.description for command in COMMAND_TYPES
}
"""Commands are described by their declaration (events by their docstrings)."""


class WireJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, adjusted to say what the wire carries."""

    def field_title_should_be_set(self, schema: SchemaOrField) -> bool:
        # Titles derived from field names ("Pipelineid") add nothing to the camelCase name.
        return False

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        # Every field is written, defaults included, so a reader can rely on all of them.
        if self.mode == "serialization":
            return True
        return super().field_is_required(field, total)

    def ser_schema(
        self,
        schema: core_schema.SerSchema
        | core_schema.IncExSeqSerSchema
        | core_schema.IncExDictSerSchema,
    ) -> JsonSchemaValue | None:
        match schema:
            case {"type": "function-plain", "function": function} if function is format_timestamp:
                return {"type": "string", "format": "date-time"}
            case _:
                return super().ser_schema(schema)


def _object_schemas(schema: JsonSchemaValue) -> list[dict[str, Any]]:
    """The document itself and each of its ``$defs``."""
    return [schema, *schema.get("$defs", {}).values()]


def _require_type(schema: JsonSchemaValue) -> None:
    """``type`` names the command or event; it has a default in Python but is required on the
    wire (the coordinator dispatches on it)."""
    for part in _object_schemas(schema):
        tag = part.get("properties", {}).get("type")
        if tag is None or "const" not in tag:
            continue
        tag.pop("default", None)
        required = part.setdefault("required", [])
        if "type" not in required:
            required.insert(0, "type")


def _add_value_rules(schema: JsonSchemaValue) -> None:
    # Length and range keywords apply only to strings and numbers, so they sit beside an
    # ``anyOf`` with null without constraining the null.
    for part in _object_schemas(schema):
        for name, field in part.get("properties", {}).items():
            field.update(_VALUE_RULES.get(name, {}))


def _describe(schema: JsonSchemaValue) -> None:
    for part in _object_schemas(schema):
        text = _DESCRIPTIONS.get(part.get("title", ""))
        if text is not None and "description" not in part:
            part["description"] = text


def _optional_error_fields(schema: JsonSchemaValue) -> None:
    """A refusal's admission fields are written only when they apply (``ErrorInfo.absent``):
    optional, and never null."""
    names = {ErrorInfo.model_fields[name].alias for name in ADMISSION_FIELDS}
    for part in _object_schemas(schema):
        if part.get("title") != "ErrorInfo":
            continue
        part["required"] = [name for name in part["required"] if name not in names]
        for name in names:
            field = part["properties"][name]
            field.pop("default", None)
            options = [option for option in field.pop("anyOf") if option != {"type": "null"}]
            field.update(options[0] if len(options) == 1 else {"anyOf": options})


def _reply_envelope(schema: JsonSchemaValue) -> None:
    """An accepted reply carries ``value`` and no ``error``; a refused one the other way round
    (see ``Reply.to_json``)."""
    schema["required"] = [name for name in schema["required"] if name not in {"value", "error"}]
    schema["if"] = {"properties": {"ok": {"const": True}}}
    schema["then"] = {"required": ["value"], "not": {"required": ["error"]}}
    schema["else"] = {"required": ["error"], "not": {"required": ["value"]}}


def _schema_of(target: type[BaseModel] | TypeAdapter[Any], mode: Mode) -> JsonSchemaValue:
    if isinstance(target, TypeAdapter):
        schema = target.json_schema(by_alias=True, mode=mode, schema_generator=WireJsonSchema)
    else:
        schema = target.model_json_schema(by_alias=True, mode=mode, schema_generator=WireJsonSchema)
    _require_type(schema)
    _describe(schema)
    if mode == "validation":
        _add_value_rules(schema)
        schema["$comment"] = _LENIENCY
    return {"$schema": DIALECT, **schema}


def _render(schema: JsonSchemaValue) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schemas() -> dict[str, JsonSchemaValue]:
    """Every schema by file name, as JSON-ready dictionaries."""
    found: dict[str, JsonSchemaValue] = {}
    for command in COMMAND_TYPES:
        found[f"{command.__name__}.json"] = _schema_of(command, "validation")
    found["Command.json"] = _schema_of(TypeAdapter(Command), "validation")
    for event in EVENT_TYPES:
        found[f"{event.__name__}.json"] = _schema_of(event, "serialization")
    found["Event.json"] = _schema_of(TypeAdapter(Event), "serialization")
    for value in (
        Reply,
        PipelineInfo,
        SystemStatus,
        StateSummary,
        PipelinePage,
        RuntimeLimits,
        GroupInfo,
        GroupPage,
        Availability,
    ):
        found[f"{value.__name__}.json"] = _schema_of(value, "serialization")
    _reply_envelope(found["Reply.json"])
    _optional_error_fields(found["Reply.json"])
    return found


def generate() -> dict[str, str]:
    """Every schema file's text by file name: sorted keys, two-space indent, final newline."""
    return {name: _render(schema) for name, schema in sorted(schemas().items())}


def drifted(expected: Mapping[str, str], directory: Path = SCHEMA_DIRECTORY) -> list[str]:
    """File names in ``directory`` that are missing, differ from ``expected``, or are stale."""
    present = {path.name for path in directory.glob("*.json")} if directory.is_dir() else set()
    differing = {
        name
        for name, text in expected.items()
        if name not in present or (directory / name).read_text(encoding="utf-8") != text
    }
    return sorted(differing | (present - expected.keys()))


def write(expected: Mapping[str, str], directory: Path = SCHEMA_DIRECTORY) -> list[str]:
    """Bring ``directory`` in line with ``expected``; returns the names written or removed."""
    changed = drifted(expected, directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in changed:
        path = directory / name
        if name in expected:
            path.write_text(expected[name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m topics.schemas",
        description="Generate the JSON Schemas of the coordinator's messages from the models.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 and list the files that differ from the models",
    )
    parser.add_argument(
        "--directory",
        type=Path,
        default=SCHEMA_DIRECTORY,
        help="where the schema files live (default: %(default)s)",
    )
    arguments = parser.parse_args(argv)
    directory: Path = arguments.directory
    expected = generate()

    if arguments.check:
        stale = drifted(expected, directory)
        if stale:
            sys.stderr.write(
                f"{len(stale)} schema file(s) in {directory} differ from the models:\n"
                + "".join(f"  {name}\n" for name in stale)
                + "run `python -m topics.schemas` to regenerate them\n"
            )
            return 1
        sys.stdout.write(f"{len(expected)} schema files in {directory} match the models\n")
        return 0

    changed = write(expected, directory)
    sys.stdout.write(
        "".join(f"updated {directory / name}\n" for name in changed)
        or f"{len(expected)} schema files in {directory} already match the models\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
