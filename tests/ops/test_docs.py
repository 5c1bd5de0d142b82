"""docs/ and the README say what the code does, and stay inside the repository.

Every list below is read from the code (the command and event unions, the reply models, the error
codes, the headers the worker writes, ``Settings``, the HTTP routes, the metrics registry, the
topic definitions, the modules on disk), so adding one without documenting it fails here, and so
does documenting one that does not exist. The JSON examples must decode as what they show.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from pydantic import BaseModel, TypeAdapter

from coordinator import config
from coordinator.config import Settings
from coordinator.domain.codec import DecodeError, decode_command, decode_event
from coordinator.domain.commands import COMMAND_TYPES, CommandModel
from coordinator.domain.events import EVENT_TYPES, EventModel, PipelineEvent
from coordinator.domain.replies import ErrorCode, Reply
from coordinator.domain.state import CoordinatorState
from coordinator.kafka import records
from coordinator.kafka.records import DEAD_LETTER_HEADERS, Record, header
from coordinator.worker.committer import incoming_of
from coordinator.worker.feed_records import Unreadable
from coordinator.worker.http import add_routes
from coordinator.worker.metrics import Metrics
from coordinator.worker.processing import BatchBuilder, context_for, decode
from topics.definitions import ALL, DEFAULT_PREFIX

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOCUMENTS = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
FORBIDDEN = {
    "../shared": re.compile(r"\.\./shared"),
    "/work/": re.compile(r"/work/"),
    "SPEC": re.compile(r"\bSPEC\b"),
    "STYLE.md": re.compile(r"STYLE\.md"),
    "seeds/": re.compile(r"seeds/"),
    "a web address": re.compile(r"\b(?:https?|ftp|file)://"),
}
"""Pointers outside the repository: the contract, the style notes, the design document, the web."""


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# -- reading Markdown ----------------------------------------------------------------------------


def prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def prose(text: str) -> str:
    return "\n".join(prose_lines(text))


HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")


def headings(text: str) -> list[tuple[int, str]]:
    return [
        (len(match.group(1)), match.group(2))
        for line in prose_lines(text)
        if (match := HEADING.match(line))
    ]


def section(text: str, title: str, level: int = 2) -> str:
    """The text under the heading ``title`` of ``level``, up to the next heading as high."""
    lines: list[str] = []
    inside = False
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match and len(match.group(1)) <= level:
            if inside:
                break
            inside = len(match.group(1)) == level and match.group(2) == title
            continue
        if inside:
            lines.append(line)
    assert inside or lines, f"no section {'#' * level} {title}"
    return "\n".join(lines)


def subsections(text: str, level: int = 3) -> dict[str, str]:
    """Each heading of ``level`` in ``text`` and the text under it."""
    titles = [title for depth, title in headings(text) if depth == level]
    return {title: section(text, title, level) for title in titles}


def named(title: str) -> str | None:
    """The name in a heading made of one code span, like ``### `RegisterPipeline```."""
    match = re.fullmatch(r"`([^`]+)`", title)
    return match.group(1) if match else None


def intro(text: str) -> str:
    """The text of a section before its first subsection."""
    return re.split(r"^### ", text, maxsplit=1, flags=re.MULTILINE)[0]


def tables(text: str) -> list[list[list[str]]]:
    """Every table in ``text``: its body rows (not the header row), as lists of cells."""
    lines = list(prose_lines(text))
    found: list[list[list[str]]] = []
    rows: list[list[str]] | None = None
    for number, line in enumerate(lines):
        if not line.startswith("|"):
            rows = None
            continue
        if SEPARATOR.fullmatch(line):
            continue
        if number + 1 < len(lines) and SEPARATOR.fullmatch(lines[number + 1]):
            rows = []  # a header row starts a table
            found.append(rows)
            continue
        assert rows is not None, f"a table row outside a table: {line}"
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return found


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every table in ``text``."""
    return [row for table in tables(text) for row in table]


def first_cells(rows: list[list[str]]) -> set[str]:
    """The names in code spans that start the rows' first cells."""
    return {name for row in rows if (name := first_code(row[0])) is not None}


SEPARATOR = re.compile(r"\|(?: *:?-+:? *\|)+")


def first_code(cell: str) -> str | None:
    match = re.match(r"`([^`]+)`", cell)
    return match.group(1) if match else None


def json_blocks(text: str) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def mentions(text: str, name: str) -> bool:
    return f"`{name}`" in text


def wire_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def own_wire_names(model: type[BaseModel], base: type[BaseModel]) -> list[str]:
    inherited = set(base.model_fields)
    return [
        field.alias or name for name, field in model.model_fields.items() if name not in inherited
    ]


def type_of(model: type[CommandModel] | type[EventModel]) -> str:
    return cast(str, model.model_fields["type"].default)


# -- the protocol: commands, events, replies -----------------------------------------------------

PROTOCOL = read("protocol.md")
COMMANDS = section(PROTOCOL, "Commands")
EVENTS = section(PROTOCOL, "Events")
REPLIES = section(PROTOCOL, "Replies")
COMMAND_MODELS = {type_of(model): model for model in COMMAND_TYPES}
EVENT_MODELS = {type_of(model): model for model in EVENT_TYPES}


def documented(text: str) -> dict[str, str]:
    """The subsections whose heading is a name in a code span, by that name."""
    found = {}
    for title, body in subsections(text).items():
        name = named(title)
        if name is not None:
            found[name] = body
    return found


def test_every_command_type_is_documented_and_only_those() -> None:
    assert set(documented(COMMANDS)) == set(COMMAND_MODELS)
    _fields, overview = tables(section(COMMANDS, "Envelope", 3))
    assert first_cells(overview) == set(COMMAND_MODELS)


def test_the_envelope_has_every_common_field() -> None:
    fields, _overview = tables(section(COMMANDS, "Envelope", 3))
    assert first_cells(fields) == set(wire_names(CommandModel))


@pytest.mark.parametrize("command_type", sorted(COMMAND_MODELS))
def test_each_command_has_its_fields_and_examples_that_decode(command_type: str) -> None:
    body = documented(COMMANDS)[command_type]
    model = COMMAND_MODELS[command_type]
    fields = first_cells(table_rows(body))
    assert fields == set(own_wire_names(model, CommandModel)), f"{command_type}: fields"
    blocks = json_blocks(body)
    commands = [block for block in blocks if '"type"' in block]
    assert commands, f"{command_type} has no JSON example"
    for block in commands:
        decoded = decode_command(block.strip().encode())
        assert not isinstance(decoded, DecodeError), (command_type, decoded.error)
        assert isinstance(decoded, model), block
    for block in blocks:
        if '"type"' not in block:
            reply = check_reply(block)
            assert reply.command_type == command_type, block


def check_reply(block: str) -> Reply:
    """A reply example as the worker writes it: a valid ``Reply``, ``value`` xor ``error``."""
    reply = Reply.model_validate_json(block)
    document = json.loads(block)
    assert ("value" in document) is reply.ok and ("error" in document) is not reply.ok, block
    return reply


COMMON_EVENT_FIELDS = {*wire_names(EventModel), "timestamp"}
"""Every kind of event adds ``timestamp`` after its key fields (the order on the wire)."""


def test_every_event_type_is_documented_and_only_those() -> None:
    assert set(documented(EVENTS)) == set(EVENT_MODELS)
    every, pipeline = tables(intro(EVENTS))
    assert first_cells(every) == COMMON_EVENT_FIELDS, "the fields every event has"
    assert first_cells(pipeline) == set(wire_names(PipelineEvent)) - COMMON_EVENT_FIELDS


@pytest.mark.parametrize("event_type", sorted(EVENT_MODELS))
def test_each_event_has_its_fields_and_an_example_that_decodes(event_type: str) -> None:
    body = documented(EVENTS)[event_type]
    model = EVENT_MODELS[event_type]
    fields = first_cells(table_rows(body))
    base = PipelineEvent if issubclass(model, PipelineEvent) else EventModel
    own = set(own_wire_names(model, base)) - COMMON_EVENT_FIELDS
    assert fields == own, f"{event_type}: fields"
    blocks = json_blocks(body)
    assert blocks, f"{event_type} has no JSON example"
    for block in blocks:
        assert isinstance(decode_event(block.strip().encode()), model), block


def models_in(annotation: Any) -> set[type[BaseModel]]:
    """The pydantic models an annotation names, and those their fields name, recursively."""
    found: set[type[BaseModel]] = set()
    pending = [annotation]
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            if current not in found:
                found.add(current)
                pending.extend(field.annotation for field in current.model_fields.values())
        else:
            pending.extend(typing.get_args(current))
    return found


REPLY_MODELS = {model.__name__: model for model in models_in(Reply)}


def test_every_reply_model_is_documented_and_only_those() -> None:
    assert set(documented(REPLIES)) == set(REPLY_MODELS)


@pytest.mark.parametrize("name", sorted(REPLY_MODELS))
def test_each_reply_model_has_its_fields(name: str) -> None:
    fields = first_cells(table_rows(documented(REPLIES)[name]))
    assert fields == set(wire_names(REPLY_MODELS[name])), f"{name}: fields"


def test_the_reply_examples_are_replies() -> None:
    blocks = json_blocks(REPLIES)
    assert blocks
    for block in blocks:
        check_reply(block)


def test_every_header_the_worker_writes_is_documented() -> None:
    names = {value for key, value in vars(records).items() if key.endswith("_HEADER") and value}
    assert names >= set(DEAD_LETTER_HEADERS)
    missing = sorted(name for name in names if not mentions(PROTOCOL, name))
    assert missing == []
    table = first_cells(table_rows(section(PROTOCOL, "Dead letters")))
    assert table == set(DEAD_LETTER_HEADERS)


def test_every_topic_is_documented_with_its_partitions_and_configs() -> None:
    rows = {first_code(row[0]): row for row in table_rows(section(PROTOCOL, "Topics"))}
    names = {spec.name(DEFAULT_PREFIX): spec for spec in ALL}
    assert set(rows) == set(names)
    for name, spec in names.items():
        _, partitions, configs, *_ = rows[name]
        assert partitions.startswith(str(spec.partitions)), name
        for key, value in spec.configs.items():
            assert f"`{key}={value}`" in configs, (name, key, value)


# -- error codes and dead letters: what the worker does with each -------------------------------

REPLY_TOPIC = "coordinator.replies"
MISSING_TOPIC = "coordinator.replies.missing"
REFUSING_TOPIC = "coordinator.replies.refusing"


def command(**fields: Any) -> bytes:
    return json.dumps({"replyTo": REPLY_TOPIC, "correlationId": "k", **fields}).encode()


SAMPLES: dict[ErrorCode, list[bytes | Unreadable]] = {
    ErrorCode.INVALID_COMMAND: [command(type="RegisterPipeline", pipelineId="p")],
    ErrorCode.UNKNOWN_COMMAND_TYPE: [command(type="LaunchRocket")],
    ErrorCode.INVALID_ARGUMENT: [command(type="RegisterPipeline", pipelineId="p", name=" ")],
    ErrorCode.PIPELINE_ALREADY_REGISTERED: [
        command(type="RegisterPipeline", pipelineId="p", name="n"),
        command(type="RegisterPipeline", pipelineId="p", name="n"),
    ],
    ErrorCode.PIPELINE_NOT_FOUND: [command(type="UnregisterPipeline", pipelineId="p")],
    ErrorCode.COMMAND_TOO_LARGE: [command(type="RegisterPipeline", pipelineId="p", name="n" * 512)],
    ErrorCode.FORBIDDEN_REPLY_TOPIC: [
        command(type="GetSystemStatus", replyTo="coordinator.events"),
    ],
    ErrorCode.REPLY_TOPIC_NOT_FOUND: [command(type="GetSystemStatus", replyTo=MISSING_TOPIC)],
    ErrorCode.REPLY_TOPIC_REJECTED: [command(type="GetSystemStatus", replyTo=REFUSING_TOPIC)],
    ErrorCode.UNREADABLE_RECORD: [Unreadable(0, "_BAD_COMPRESSION", "Local: Bad compression")],
    ErrorCode.REVISION_CONFLICT: [command(type="ResetResourceLimits", expectedRevision=3)],
    ErrorCode.QUOTA_EXCEEDED: [
        command(type="SetGroupQuota", groupId="default", maxPipelines=0),
        command(type="RegisterPipeline", pipelineId="p", name="n"),
    ],
    ErrorCode.GROUP_NOT_FOUND: [
        command(type="RegisterPipeline", pipelineId="p", name="n", group="g")
    ],
    ErrorCode.GROUP_ALREADY_EXISTS: [command(type="CreateGroup", groupId="default")],
    ErrorCode.GROUP_CLOSED: [
        command(type="SetGroupState", groupId="default", state="closed"),
        command(type="RegisterPipeline", pipelineId="p", name="n"),
    ],
    ErrorCode.GROUP_NOT_EMPTY: [
        command(type="CreateGroup", groupId="g"),
        command(type="RegisterPipeline", pipelineId="p", name="n", group="g"),
        command(type="DeleteGroup", groupId="g"),
    ],
    ErrorCode.TOO_MANY_GROUPS: [command(type="CreateGroup", groupId=f"g{n}") for n in range(1000)],
    ErrorCode.RESERVATION_NOT_FOUND: [command(type="ReleaseReservation", reservationId="res-1")],
    ErrorCode.RESERVATION_EXPIRED: [
        # Under a millisecond: expiresAt (to the millisecond) is the batch's own time.
        command(type="ReserveResources", cpuPercent=1.0, memoryMB=1, ttlSeconds=0.0001),
        command(type="RegisterPipeline", pipelineId="p", name="n", reservationId="res-1"),
    ],
    ErrorCode.TOO_MANY_RESERVATIONS: [
        command(type="ReserveResources", cpuPercent=0.0, memoryMB=0, ttlSeconds=60)
        for _ in range(1001)
    ],
    ErrorCode.PIPELINE_NOT_PREEMPTIBLE: [
        command(type="RegisterPipeline", pipelineId="p", name="n", preemptible=False),
        command(type="RequestPreemption", pipelineIds=["p"], reason="room"),
    ],
}
"""One way to meet each error code (a code added without a way to meet it fails the test)."""
SETTINGS = Settings(max_command_bytes=256, topic_prefix=DEFAULT_PREFIX)


def built(inputs: list[bytes | Unreadable], key: bytes = b"global-coordinator") -> BatchBuilder:
    """One batch of ``inputs`` through the worker's batch builder, on an empty state."""
    builder = BatchBuilder(
        SETTINGS,
        CoordinatorState.empty(),
        context_for(SETTINGS, datetime(2026, 11, 27, tzinfo=UTC)),
        lambda topic: topic != MISSING_TOPIC,
        lambda topic: "message too large" if topic == REFUSING_TOPIC else None,
    )
    for offset, item in enumerate(inputs):
        if isinstance(item, Unreadable):
            record, known = incoming_of(item)
            assert known is not None
            builder.add(record, known)
        else:
            record = Record(offset, key, item)
            builder.add(record, decode(record, SETTINGS.max_command_bytes))
    return builder


def outcome(code: ErrorCode) -> tuple[bool, bool]:
    """Whether the worker dead-letters a command refused with ``code``, and whether it answers."""
    written = built(SAMPLES[code]).result.records
    dead_lettered = any(
        record.topic == SETTINGS.topics.deadletter
        and header(record.headers, records.ERROR_CODE_HEADER) == code.value.encode()
        for record in written
    )
    answered = any(
        record.is_reply and json.loads(record.value or b"{}").get("error", {}).get("code") == code
        for record in written
    )
    return dead_lettered, answered


def test_every_error_code_is_in_the_table_and_only_those() -> None:
    rows = first_cells(table_rows(section(PROTOCOL, "Error codes")))
    assert rows == {code.value for code in ErrorCode}
    assert set(SAMPLES) == set(ErrorCode), "add a way to meet the new error code to SAMPLES"


@pytest.mark.parametrize("code", sorted(ErrorCode))
def test_the_table_says_what_the_worker_does_with_each_code(code: ErrorCode) -> None:
    rows = {first_code(row[0]): row for row in table_rows(section(PROTOCOL, "Error codes"))}
    _, _, dead_letter, reply = rows[code.value]
    dead_lettered, answered = outcome(code)
    assert dead_letter.startswith("yes" if dead_lettered else "no"), (code, dead_letter)
    assert reply.startswith("yes" if answered else "no"), (code, reply)


def test_the_dead_letter_headers_are_the_ones_the_worker_writes() -> None:
    everything: list[bytes | Unreadable] = [item for items in SAMPLES.values() for item in items]
    huge = built([b"x" * (4 * 1024 * 1024 + 1)], key=b"k" * (64 * 1024 + 1))
    written = [*built(everything).result.records, *huge.result.records]
    seen = {
        name
        for record in written
        if record.topic == SETTINGS.topics.deadletter
        for name, _value in record.headers
    }
    assert seen == set(DEAD_LETTER_HEADERS)


# -- operations: settings, endpoints, metrics ----------------------------------------------------

OPERATIONS = read("operations.md")
PREFIX = Settings.model_config.get("env_prefix", "")


def setting_rows() -> dict[str, list[str]]:
    table = table_rows(section(OPERATIONS, "Configuration"))
    return {name: row for row in table if (name := first_code(row[0])) is not None}


def test_every_setting_is_in_the_configuration_table_and_only_those() -> None:
    settings = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    documented_names = set(setting_rows())
    assert settings - documented_names == set(), "settings missing from docs/operations.md"
    assert documented_names - settings == set(), "docs/operations.md documents unknown settings"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_the_default_in_the_table_is_the_code_default(name: str) -> None:
    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    cell = setting_rows()[f"{PREFIX}{name.upper()}"][1]
    if default is None:
        assert cell == "—", (name, cell)
        return
    text = first_code(cell)
    assert text is not None and cell == f"`{text}`", (name, cell)
    value = TypeAdapter(field.annotation).validate_python(text)
    if isinstance(default, Path):
        assert Path(value).resolve() == default.resolve(), (name, text)
    else:
        assert value == default, (name, text, default)


def variables_used_outside_settings() -> set[str]:
    """``COORDINATOR_*`` variables read by the scripts and the tests, which are not settings."""
    sources = [*ROOT.glob("ops/*.sh"), *ROOT.glob("tests/**/*.py"), ROOT / ".ci" / "run"]
    found = {config.CONFIG_FILE_VARIABLE}
    for source in sources:
        if source.is_file() and source.resolve() != Path(__file__).resolve():
            found |= set(re.findall(r"COORDINATOR_[A-Z_]*[A-Z]", source.read_text()))
    return found


def test_the_documents_name_no_variable_that_does_not_exist() -> None:
    settings = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    known = settings | variables_used_outside_settings()
    for document in DOCUMENTS:
        for name in set(re.findall(r"COORDINATOR_[A-Z_]+", document.read_text())):
            if name.endswith("_"):  # a family, like COORDINATOR_SASL_*
                assert any(s.startswith(name) for s in settings), (document.name, name)
            else:
                assert name in known, f"{document.name} names {name}, which nothing reads"


class RouteRecorder:
    """Stands in for the faust app: records the paths ``add_routes`` registers."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def page(self, path: str) -> Any:
        self.paths.append(path)
        return lambda view: view


def normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def test_every_endpoint_is_documented_and_only_those() -> None:
    recorder = RouteRecorder()
    add_routes(cast(Any, recorder), cast(Any, SimpleNamespace(settings=Settings())))
    routes = {normalised(path) for path in recorder.paths}
    assert routes, "no routes recorded"
    table = table_rows(section(OPERATIONS, "HTTP endpoints"))
    endpoints = {normalised(name) for row in table if (name := first_code(row[0]))}
    assert endpoints == routes


def exported_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each metric's exported name, with its type and label names."""
    metrics = Metrics()
    found = {}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            # prometheus_client keeps a metric's type, name and labels on the wrapper only.
            kind = metric._type
            name = metric._name + ("_total" if kind == "counter" else "")
            found[name] = (kind, tuple(metric._labelnames))
    typed = set(re.findall(r"^# TYPE (\S+) ", generate_latest(metrics.registry).decode(), re.M))
    assert set(found) == typed, "the metrics registry holds metrics Metrics does not name"
    return found


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    exported = exported_metrics()
    table = {}
    for row in table_rows(section(OPERATIONS, "Metrics")):
        cell = first_code(row[0])
        if cell is None:
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{([a-z_,]+)\})?", cell)
        assert match, cell
        labels = tuple(match.group(2).split(",")) if match.group(2) else ()
        table[match.group(1)] = (row[1], labels)
    assert set(table) == set(exported)
    for name, (kind, labels) in exported.items():
        assert table[name] == (kind, labels), name


def test_the_documents_name_no_metric_that_does_not_exist() -> None:
    exported = set(exported_metrics())
    for document in DOCUMENTS:
        for name in set(re.findall(r"\bcoordinator_[a-z_]+", document.read_text())):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert base in exported, f"{document.name} names {name}, which is not exported"


# -- architecture: every module has its line ----------------------------------------------------


def test_every_module_is_in_the_module_map() -> None:
    architecture = section(read("architecture.md"), "Module map")
    modules = sorted(
        path.relative_to(ROOT).as_posix()
        for package in ("coordinator", "topics")
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )
    missing = [module for module in modules if not mentions(architecture, module)]
    assert missing == []


# -- links and paths: inside the repository, and existing ---------------------------------------


def slug(title: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for _level, title in headings(path.read_text(encoding="utf-8")):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", prose(text))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_nothing_points_outside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for what, pattern in FORBIDDEN.items():
        assert pattern.search(text) is None, f"{document.name} points outside: {what}"
    for link in links(text):
        assert not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link), f"{document.name}: {link}"
        target, _, anchor = link.partition("#")
        assert not target.startswith("/"), f"{document.name}: {link}"
        resolved = (document.parent / target).resolve() if target else document
        assert resolved.is_relative_to(ROOT), f"{document.name}: {link} leaves the repository"
        assert resolved.exists(), f"{document.name}: {link} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{document.name}: no #{anchor} in {target}"


PATH = re.compile(r"^(?:coordinator|topics|tests|ops|bench|docs)/\S*")
IGNORED = tuple(
    line.strip()
    for line in (ROOT / ".gitignore").read_text().splitlines()
    if line.strip().endswith("/") and "/" in line.strip()[:-1]
)
"""Ignored directories inside the tree (the Kafka jars): made by the set-up, not checked in."""


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_path_named_exists(document: Path) -> None:
    for span in re.findall(r"`([^`\n]+)`", prose(document.read_text(encoding="utf-8"))):
        match = PATH.match(span)
        if match is None or re.search(r"[<…{]", match.group(0)):
            continue
        path = match.group(0).rstrip(".,;:")
        if path.startswith(IGNORED):
            continue
        exists = bool(list(ROOT.glob(path))) if "*" in path else (ROOT / path).exists()
        assert exists, f"{document.name} names {path}, which does not exist"


def test_the_index_links_every_document_and_the_readme_links_the_index() -> None:
    index = read("README.md")
    for document in DOCS.glob("*.md"):
        if document.name != "README.md":
            assert f"]({document.name})" in index, document.name
    assert "](docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
