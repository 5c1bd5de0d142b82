"""The hostile-command corpus (``hostile_commands.jsonl``): loading it, the script of a run, and
checking what a worker wrote against what each entry documents.

One JSON object per line:

- ``name`` (unique) and ``why`` (what the entry tries, and why the outcome is right);
- the record's value, one of: ``json`` (a JSON value, written compactly as UTF-8, NaN and
  Infinity as bare words), ``text`` (exact text, written as UTF-8), ``base64`` (exact bytes),
  or ``"tombstone": true`` (a null value);
- ``key``: the record key as text, or null for none (default ``global-coordinator``);
- ``expect``: ``accepted`` (events appended), ``answered`` (a query answered), ``refused`` (a
  business refusal: error reply, no dead letter), ``dead-letter``, ``duplicate`` (a
  ``commandId`` already applied: nothing applied, the original reply sent again), or
  ``broker-refused`` (the broker rejects the record; the producer gets the error in ``code``);
- ``code``: the error code of the refusal or dead letter (its ``error-code`` header);
- ``reply``: ``ok``, ``error`` (with ``code``) or ``none`` (default), under ``correlation``;
  an entry with ``correlation`` and ``reply: none`` must get no reply at all;
- ``events`` (event types, default none) and ``pipeline`` (the pipeline they concern);
- ``duplicate_of``: for a duplicate, the entry whose reply value is sent again;
- ``layer``: who decides: ``domain`` (``decode_command`` + ``decide``, the default), ``worker``
  (the command-size limit and reply-topic existence, checked by the worker's batch builder),
  or ``broker``.

Strings may hold placeholders, expanded when the corpus is loaded for a deployment:
``${PREFIX}`` (topic prefix), ``${REPLY}`` (an existing reply topic), ``${REPLY_MISSING}`` (a
legal reply topic that does not exist), ``${FILL:n}`` (n times ``x``), ``${REPEAT:n:text}`` (n
times ``text``, which holds no ``}``), ``${FIELDS:n}`` (n unknown fields ``,"f0":0,...``).
``pad_to`` pads the value with trailing spaces (JSON whitespace) to exactly that many bytes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.domain.model import PipelineInfo
from coordinator.domain.replies import ErrorCode, Reply
from topics.definitions import AGGREGATE_ID

CORPUS = Path(__file__).with_name("hostile_commands.jsonl")
EXPECTS = {"accepted", "answered", "refused", "dead-letter", "duplicate", "broker-refused"}
LAYERS = {"domain", "worker", "broker"}
STEADY = "steady-1"
"""The pipeline the valid commands between the corpus entries keep updating."""


@dataclass(frozen=True)
class Topics:
    """The names placeholders expand to."""

    prefix: str
    reply: str
    reply_missing: str

    @classmethod
    def for_prefix(cls, prefix: str) -> Topics:
        return cls(prefix, f"{prefix}.replies.hostile", f"{prefix}.replies.missing-hostile")


@dataclass(frozen=True)
class Entry:
    """One record to produce, and the outcome it must have."""

    name: str
    why: str
    value: bytes | None
    key: bytes | None
    expect: str
    code: str | None = None
    reply: str = "none"
    correlation: str | None = None
    events: tuple[str, ...] = ()
    pipeline: str | None = None
    duplicate_of: str | None = None
    layer: str = "domain"

    @property
    def error_code(self) -> ErrorCode:
        assert self.code is not None, self.name
        return ErrorCode(self.code)


_PLACEHOLDER = re.compile(r"\$\{(PREFIX|REPLY_MISSING|REPLY|FILL|REPEAT|FIELDS)(?::([^}]*))?\}")


def expand(text: str, topics: Topics) -> str:
    def replace(found: re.Match[str]) -> str:
        kind, argument = found.group(1), found.group(2)
        if kind == "PREFIX":
            return topics.prefix
        if kind == "REPLY":
            return topics.reply
        if kind == "REPLY_MISSING":
            return topics.reply_missing
        assert argument is not None, found.group(0)
        if kind == "FILL":
            return "x" * int(argument)
        if kind == "FIELDS":
            return "".join(f',"f{n}":0' for n in range(int(argument)))
        count, _, repeated = argument.partition(":")
        return repeated * int(count)

    return _PLACEHOLDER.sub(replace, text)


def _value(line: Mapping[str, Any], topics: Topics) -> bytes | None:
    kinds = [kind for kind in ("json", "text", "base64", "tombstone") if kind in line]
    assert len(kinds) == 1, f"{line['name']}: exactly one of json/text/base64/tombstone"
    (kind,) = kinds
    if kind == "tombstone":
        return None
    if kind == "base64":
        return base64.b64decode(line["base64"])
    if kind == "json":
        text = json.dumps(line["json"], ensure_ascii=False, separators=(",", ":"))
    else:
        text = line["text"]
    raw = expand(text, topics).encode()
    if "pad_to" in line:
        assert len(raw) <= line["pad_to"], line["name"]
        raw = raw.ljust(line["pad_to"])
    return raw


def _entry(line: Mapping[str, Any], topics: Topics) -> Entry:
    known = {
        "name", "why", "json", "text", "base64", "tombstone", "pad_to", "key", "expect",
        "code", "reply", "correlation", "events", "pipeline", "duplicate_of", "layer",
    }  # fmt: skip
    assert set(line) <= known, f"{line.get('name')}: unknown fields {set(line) - known}"
    key = line.get("key", AGGREGATE_ID)
    correlation = line.get("correlation")
    entry = Entry(
        name=line["name"],
        why=line["why"],
        value=_value(line, topics),
        key=key.encode() if key is not None else None,
        expect=line["expect"],
        code=line.get("code"),
        reply=line.get("reply", "none"),
        correlation=expand(correlation, topics) if correlation is not None else None,
        events=tuple(line.get("events", ())),
        pipeline=line.get("pipeline"),
        duplicate_of=line.get("duplicate_of"),
        layer=line.get("layer", "domain"),
    )
    _check_entry(entry)
    return entry


ANSWERED_CODES = {
    "PIPELINE_NOT_FOUND",
    "PIPELINE_ALREADY_REGISTERED",
    "REVISION_CONFLICT",
    "QUOTA_EXCEEDED",
    "GROUP_NOT_FOUND",
    "GROUP_ALREADY_EXISTS",
    "GROUP_CLOSED",
    "GROUP_NOT_EMPTY",
    "TOO_MANY_GROUPS",
    "RESERVATION_NOT_FOUND",
    "RESERVATION_EXPIRED",
    "TOO_MANY_RESERVATIONS",
    "PIPELINE_NOT_PREEMPTIBLE",
}
"""Refusals that are answered but not dead-lettered (the input was well-formed)."""


def _check_entry(entry: Entry) -> None:
    """The entry says one consistent thing."""
    name = entry.name
    assert entry.why, name
    assert entry.expect in EXPECTS, name
    assert entry.layer in LAYERS, name
    assert entry.reply in {"ok", "error", "none"}, name
    assert (entry.layer == "broker") is (entry.expect == "broker-refused"), name
    if entry.expect in {"refused", "dead-letter"}:
        ErrorCode(entry.code)  # a known code
    if entry.expect in {"refused", "dead-letter", "broker-refused"}:
        assert entry.code, name
    else:
        assert entry.code is None, name
    if entry.reply != "none":
        assert entry.correlation is not None, name
    if entry.reply == "error":
        assert entry.expect in {"refused", "dead-letter"}, name
    if entry.reply == "ok":
        assert entry.expect in {"accepted", "answered", "duplicate"}, name
    if entry.expect == "refused":
        assert entry.code in ANSWERED_CODES, name
    assert bool(entry.events) is (entry.expect == "accepted"), name
    assert (entry.pipeline is not None) is bool(entry.events), name
    assert (entry.duplicate_of is not None) is (entry.expect == "duplicate" and entry.reply == "ok")


def load(topics: Topics, path: Path = CORPUS) -> list[Entry]:
    entries = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            try:
                entries.append(_entry(json.loads(text), topics))
            except (AssertionError, KeyError, ValueError) as exc:
                raise AssertionError(f"{path.name} line {number}: {exc!r}") from exc
    names = [entry.name for entry in entries]
    assert len(names) == len(set(names)), "entry names must be unique"
    for entry in entries:
        if entry.duplicate_of is not None:
            assert entry.duplicate_of in names[: names.index(entry.name)], entry.name
    return entries


# -- a run: the corpus interleaved with valid commands ------------------------------------------


def _valid(name: str, document: dict[str, Any], **expectations: Any) -> Entry:
    return Entry(
        name=name,
        why="a valid command between hostile ones: the stream keeps flowing",
        value=json.dumps(document, separators=(",", ":")).encode(),
        key=AGGREGATE_ID.encode(),
        **expectations,
    )


def steady_command(index: int, topics: Topics) -> Entry:
    """The valid command sent after corpus entry ``index``: a status update, a resource report
    or a resource check with a reply, in turn."""
    name = f"valid-{index}"
    if index % 3 == 0:
        document = {
            "type": "UpdatePipelineStatus",
            "pipelineId": STEADY,
            "status": "running",
            "totalRecords": index * 10,
            "failedRecords": index,
        }
        return _valid(
            name, document, expect="accepted", events=("PipelineStatusUpdated",), pipeline=STEADY
        )
    if index % 3 == 1:
        document = {
            "type": "ReportResourceUsage",
            "pipelineId": STEADY,
            "cpuPercent": index % 40 + 0.25,
            "memoryMB": index * 64,
        }
        return _valid(
            name, document, expect="accepted", events=("ResourceUsageReported",), pipeline=STEADY
        )
    document = {
        "type": "CheckResourceAvailability",
        "estimatedCpuPercent": 1.0,
        "estimatedMemoryMB": 1,
        "replyTo": topics.reply,
        "correlationId": name,
    }
    return _valid(name, document, expect="answered", reply="ok", correlation=name)


def script(entries: Iterable[Entry], topics: Topics) -> list[Entry]:
    """What a run sends: a registration, then each corpus entry followed by a valid command."""
    register = {
        "type": "RegisterPipeline",
        "pipelineId": STEADY,
        "name": "Steady",
        "replyTo": topics.reply,
        "correlationId": "valid-register",
    }
    sent = [
        _valid(
            "valid-register",
            register,
            expect="accepted",
            events=("PipelineRegistered",),
            pipeline=STEADY,
            reply="ok",
            correlation="valid-register",
        )
    ]
    for index, entry in enumerate(entries):
        sent += [entry, steady_command(index, topics)]
    return sent


# -- expectations over a whole run --------------------------------------------------------------


@dataclass(frozen=True)
class Steady:
    """What the valid commands leave in ``steady-1``."""

    total_records: int
    failed_records: int
    cpu_percent: float
    memory_mb: int


def expected_steady(corpus_size: int) -> Steady:
    """After ``corpus_size`` entries, each followed by ``steady_command(index)``."""
    last_status = max(index for index in range(corpus_size) if index % 3 == 0)
    last_report = max(index for index in range(corpus_size) if index % 3 == 1)
    return Steady(last_status * 10, last_status, last_report % 40 + 0.25, last_report * 64)


def check_steady(info: PipelineInfo | None, corpus_size: int) -> None:
    """``steady-1`` holds the last status update and resource report of the valid commands."""
    steady = expected_steady(corpus_size)
    assert info is not None
    assert (info.total_records, info.failed_records) == (
        steady.total_records,
        steady.failed_records,
    )
    assert (info.cpu_percent, info.memory_mb) == (steady.cpu_percent, steady.memory_mb)
    assert info.status == "running"


def expected_pipelines(sent: Iterable[Entry]) -> set[str]:
    pipelines: set[str] = set()
    for entry in sent:
        for event in entry.events:
            assert entry.pipeline is not None
            if event == "PipelineRegistered":
                pipelines.add(entry.pipeline)
            elif event == "PipelineUnregistered":
                pipelines.discard(entry.pipeline)
    return pipelines


@dataclass
class Observed:
    """What a run wrote, as read back (or as built, for the unit-level run)."""

    dead_letters: list[tuple[int, bytes | None, bytes | None, dict[str, bytes]]] = field(
        default_factory=list
    )
    """(source offset, key, value, headers) of each dead letter."""
    replies: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    """(key, value) of each reply on the reply topic."""
    events: list[tuple[str, str, int]] = field(default_factory=list)
    """(type, pipelineId, command offset) of each event, in journal order."""


MAX_ERROR_REPLY_BYTES = 4096
"""No error reply grows with the command it refuses."""


def parsed_replies(observed: Observed) -> dict[str | None, list[Reply]]:
    by_correlation: dict[str | None, list[Reply]] = {}
    for key, value in observed.replies:
        reply = Reply.model_validate_json(value)
        assert key == (reply.correlation_id.encode() if reply.correlation_id else None)
        if not reply.ok:
            assert len(value) <= MAX_ERROR_REPLY_BYTES, reply
        by_correlation.setdefault(reply.correlation_id, []).append(reply)
    return by_correlation


def check_run(sent: list[Entry], offsets: Mapping[str, int], observed: Observed) -> None:
    """Each entry's documented outcome, and nothing else, is in what the run wrote.

    ``offsets`` maps the name of every entry the broker accepted to its commands-topic offset.
    """
    produced = [entry for entry in sent if entry.layer != "broker"]
    assert set(offsets) == {entry.name for entry in produced}
    by_offset = {offsets[entry.name]: entry for entry in produced}

    # Dead letters: exactly the expected ones, each with its reason and the bytes as received.
    letters = {
        offset: (key, value, headers) for offset, key, value, headers in observed.dead_letters
    }
    assert len(letters) == len(observed.dead_letters), "a command was dead-lettered twice"
    wanted = {offsets[e.name]: e for e in produced if e.expect == "dead-letter"}
    unexpected = {by_offset[o].name: h["error-code"] for o, (_k, _v, h) in letters.items()
                  if o not in wanted}  # fmt: skip
    missing = [entry.name for offset, entry in wanted.items() if offset not in letters]
    assert not unexpected and not missing, f"unexpected {unexpected}, missing {missing}"
    for offset, entry in wanted.items():
        key, value, headers = letters[offset]
        assert headers["error-code"] == entry.error_code.value.encode(), (entry.name, headers)
        assert headers["error-message"], entry.name
        assert (key, value) == (entry.key, entry.value), entry.name

    # Replies: exactly one per entry that documents one, none for the others.
    replies = parsed_replies(observed)
    expected_correlations = {e.correlation for e in produced if e.reply != "none"}
    assert set(replies) == expected_correlations, (
        f"unexpected {set(replies) - expected_correlations}, "
        f"missing {expected_correlations - set(replies)}"
    )
    for entry in produced:
        if entry.reply == "none":
            continue
        assert len(replies[entry.correlation]) == 1, entry.name
        (reply,) = replies[entry.correlation]
        assert reply.ok is (entry.reply == "ok"), (entry.name, reply)
        if entry.reply == "error":
            assert reply.error is not None and reply.error.code is entry.error_code, entry.name
        if entry.duplicate_of is not None:
            (original,) = replies[_correlation_of(sent, entry.duplicate_of)]
            assert reply.value == original.value, entry.name

    # The journal: exactly the documented events, in order, each caused by its command.
    expected_events = [
        (event, entry.pipeline, offsets[entry.name])
        for entry in produced
        for event in entry.events
        if entry.pipeline is not None
    ]
    assert observed.events == expected_events


def _correlation_of(sent: list[Entry], name: str) -> str | None:
    (entry,) = [entry for entry in sent if entry.name == name]
    return entry.correlation


def outcome_counts(entries: Iterable[Entry]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        label = entry.expect if entry.code is None else f"{entry.expect} {entry.code}"
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))
