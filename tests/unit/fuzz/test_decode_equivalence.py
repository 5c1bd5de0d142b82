"""The fast decode path answers exactly what the lenient (reference) path answers.

``decode_command`` validates the bytes with one ``TypeAdapter`` and falls back to
``decode_command_lenient`` (the path that reads a ``type`` in any case and explains errors) on
anything it does not accept. Both are run on the hostile corpus, on every fuzz strategy and on
hand-picked edge cases; their results must be the same model with the same field values (compared
by ``repr``, so that NaN equals NaN and ``-0.0`` differs from ``0.0``) or the same ``DecodeError``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.domain import codec
from coordinator.domain.codec import DecodeError, decode_command, decode_command_lenient
from coordinator.domain.commands import CommandModel, UpdatePipelineStatus
from tests.corpus.hostile import Entry, Topics, load, script

from .budget import fuzz
from .strategies import (
    Mutation,
    byte_mutations,
    command_documents,
    encode_document,
    json_documents,
    mutations,
    raw_inputs,
    sane_documents,
)

TOPICS = Topics.for_prefix("coordinator")
SENT = script(load(TOPICS), TOPICS)


def assert_same(raw: bytes | None) -> CommandModel | DecodeError:
    fast, reference = decode_command(raw), decode_command_lenient(raw)
    assert type(fast) is type(reference), (raw, fast, reference)
    if isinstance(reference, DecodeError):
        assert fast == reference, raw
    else:
        assert isinstance(fast, CommandModel)
        assert repr(fast.model_dump()) == repr(reference.model_dump()), raw
        assert fast.model_fields_set == reference.model_fields_set, raw
        assert fast.to_json() == reference.to_json(), raw
    return fast


@pytest.mark.parametrize("entry", SENT, ids=[entry.name for entry in SENT])
def test_the_hostile_corpus_decodes_the_same(entry: Entry) -> None:
    assert_same(entry.value)


CPU = '{"type":"ReportResourceUsage","pipelineId":"p","memoryMB":1,"cpuPercent":%s}'
CHECK = '{"type":"CheckResourceAvailability","estimatedMemoryMB":1,"estimatedCpuPercent":%s}'
STATUS = '{"type":"UpdatePipelineStatus","pipelineId":"p","totalRecords":1,"failedRecords":0,%s}'
EDGES = [
    # every type, valid and canonical: the fast path answers
    '{"type":"RegisterPipeline","pipelineId":"p","name":"n","commandId":"c","replyTo":"r"}',
    '{"type":"UnregisterPipeline","pipelineId":"p","correlationId":"k"}',
    STATUS % '"status":"running"',
    CPU % "15.5",
    CHECK % "10",
    '{"type":"GetSystemStatus"}',
    '{"type":"GetPipelineInfo","pipelineId":"p"}',
    '{"type":"ListPipelines","status":"failed","limit":50,"after":"p-1"}',
    '{"type":"ListPipelines","status":null,"limit":null,"after":null}',
    # odd cases: of the type (lenient path only) and of enum values (both)
    '{"type":"registerpipeline","pipelineId":"p","name":"n"}',
    '{"type":"LISTPIPELINES","status":"Paused"}',
    STATUS % '"status":"RUNNING"',
    STATUS % '"status":"rUnNiNg"',
    STATUS % '"status":"runnin"',
    STATUS % '"status":1',
    STATUS % '"status":["running"]',
    # numbers: NaN, infinities, overflow, big and negative-zero integers, floats for integers
    CPU % "NaN",
    CPU % "Infinity",
    CPU % "-Infinity",
    CPU % "1e400",
    CPU % "-1e400",
    CPU % str(10**400),
    CPU % str(-(10**400)),
    CPU % str(2**1024 - 2**970),
    CPU % str(2**1024 - 2**970 - 1),
    CPU % str(2**70 + 1),
    CPU % "-0.0",
    CPU % "-0",
    CPU % "0.1000000000000000055511151231257827",
    CPU % "5e-324",
    CPU % "true",
    CPU % '"1.5"',
    CHECK % "NaN",
    CHECK % str(10**400),
    '{"type":"ReportResourceUsage","pipelineId":"p","cpuPercent":1,"memoryMB":' + str(10**40) + "}",
    '{"type":"ReportResourceUsage","pipelineId":"p","cpuPercent":1,"memoryMB":1.0}',
    '{"type":"ReportResourceUsage","pipelineId":"p","cpuPercent":1,"memoryMB":1e3}',
    '{"type":"ReportResourceUsage","pipelineId":"p","cpuPercent":1,"memoryMB":NaN}',
    '{"type":"ListPipelines","limit":true}',
    '{"type":"ListPipelines","limit":-0}',
    # duplicate keys: the last one counts, also for the type
    '{"type":"RegisterPipeline","pipelineId":"a","pipelineId":"b","name":"n"}',
    '{"type":"RegisterPipeline","type":"registerpipeline","pipelineId":"b","name":"n"}',
    '{"type":"registerpipeline","type":"RegisterPipeline","pipelineId":"b","name":"n"}',
    '{"type":"GetPipelineInfo","pipelineId":"b","type":"RegisterPipeline","name":"n"}',
    '{"type":"RegisterPipeline","pipelineId":"b","name":"n","type":"GetPipelineInfo"}',
    '{"type":null,"pipelineId":"b","type":"GetPipelineInfo"}',
    '{"type":"GetPipelineInfo","pipelineId":"b","type":null}',
    '{"type":"GetSystemStatus","commandId":1,"commandId":"b"}',
    '{"type":"GetSystemStatus","x":1,"x":2}',
    # the envelope: correlationId defaulting, null, wrong types
    '{"type":"GetSystemStatus","commandId":"c"}',
    '{"type":"GetSystemStatus","commandId":"c","correlationId":null}',
    '{"type":"GetSystemStatus","commandId":"c","correlationId":7,"replyTo":"r"}',
    # names, unknown fields, strings
    '{"type":"RegisterPipeline","pipeline_id":"a","name":"n"}',
    '{"type":"RegisterPipeline","pipelineId":"a","name":"n","extra":{}}',
    '{"type":"RegisterPipeline","pipelineId":"a\\u0000b\\u001b[31m\\u0085","name":"\\ud83d\\ude80"}',
    '{"type":"RegisterPipeline","pipelineId":"\\ud800","name":"n"}',
    '{"type":"RegisterPipeline","pipelineId":"a","name":"n"}  \n',
    '{"type":"RegisterPipeline","pipelineId":"a","name":"n"} x',
    '{"type":"RegisterPipeline","pipelineId":"a","name":"n"',
    '{"type":"Register\\u0050ipeline","pipelineId":"a","name":"n"}',
    '["GetSystemStatus"]',
    "null",
    "",
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_decode_the_same(text: str) -> None:
    assert_same(text.encode())


@pytest.mark.parametrize(
    "raw", [None, b"", b"\xef\xbb\xbf{}", b"\xff", b'{"type":"GetSystemStatus","x":"\xff"}']
)
def test_odd_bytes_decode_the_same(raw: bytes | None) -> None:
    assert_same(raw)


def test_valid_canonical_commands_never_reach_the_lenient_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    valid = [text.encode() for text in EDGES[:9]] + [
        (STATUS % f'"status":"{spelling}"').encode() for spelling in ("PAUSED", "Stopped")
    ]
    monkeypatch.setattr(codec, "decode_command_lenient", None)
    for raw in valid:
        assert isinstance(decode_command(raw), CommandModel), raw


def test_an_update_through_the_fast_path_is_the_model_the_reference_builds() -> None:
    raw = (STATUS % '"status":"RUNNING","commandId":"c1"').encode()
    assert decode_command(raw) == decode_command_lenient(raw)
    assert isinstance(decode_command(raw), UpdatePipelineStatus)


@fuzz(300)
@given(raw=raw_inputs)
def test_any_producer_input_decodes_the_same(raw: bytes) -> None:
    assert_same(raw)


@fuzz(150)
@given(raw=st.one_of(st.binary(max_size=300), byte_mutations()))
def test_random_and_damaged_bytes_decode_the_same(raw: bytes) -> None:
    assert_same(raw)


@fuzz(150)
@given(document=st.one_of(json_documents, command_documents(), sane_documents()))
def test_documents_and_commands_decode_the_same(document: object) -> None:
    assert_same(encode_document(document))


@fuzz(250)
@given(mutation=mutations())
def test_mutations_decode_the_same(mutation: Mutation) -> None:
    assert_same(encode_document(mutation.document))
