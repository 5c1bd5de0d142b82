"""Commands compressed with any Kafka codec are applied; hostile record batches do not stop it.

Part 1 (one deployment for the module: an active worker and a standby from the start, a worker
with an empty data directory at the end): for each codec (none, gzip, snappy, lz4, zstd), a
batch of RegisterPipeline commands is produced by a confluent-kafka Producer, by ``kcat -P -z``
and by the project's ``kafka-console-producer.sh --compression-codec``. Each command is applied,
answered and journaled exactly once, the batch is stored with that codec (read back from the
broker's segment file), and the active worker never exits. The three workers end with the same
``/status``, equal to the fold of the journal.

Part 2 (a deployment per test): records that no well-behaved producer writes. The broker refuses
a batch that does not decompress or whose CRC is wrong (see ``rawbatch.py``), so these are put
in front of the worker by rewriting a stored batch in the broker's segment file, as a disk fault
would; and records that the broker accepts but that are larger than a consumer's limits once
decompressed. The worker must keep serving (same PID), answer the next command, apply none of
the bad records, and dead-letter each with ``error-code`` and ``source-offset`` headers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer

from coordinator.client import CoordinatorClient
from coordinator.config import Settings
from tests.fixtures.broker import Broker
from tests.fixtures.workers import SERVING, Deployment, Worker, make_deployment
from tests.integration import rawbatch
from tests.integration.support import Message, assert_worker_matches_journal, journal, read_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PRODUCERS = ["confluent", "kcat", "console"]
KEY = "global-coordinator"
PER_BATCH = 8
# Names are at most 256 characters: a longer one is refused (INVALID_ARGUMENT), not applied.
NAME = ("compressible pipeline name " * 10)[:250]


# --- helpers ------------------------------------------------------------------------------------


def kcat() -> str:
    """The kcat binary: missing is a failure (``./ops/setup.sh`` installs it), never a skip."""
    found = shutil.which("kcat")
    if found is None:
        pytest.fail(
            "kcat is not installed: run ./ops/setup.sh (as root it installs the Debian package "
            "kcat), or install kcat by hand",
            pytrace=False,
        )
    return found


def partition_dir(broker: Broker, topic: str) -> Path:
    """The broker's directory of partition 0 of ``topic`` (the session's local broker only)."""
    assert broker.kind == "local", (
        "these tests read and rewrite the broker's segment files: they need the local test broker "
        f"(COORDINATOR_TEST_BROKER unset), not a {broker.kind} one"
    )
    found = ROOT / ".data" / "kafka" / f"test-{os.getpid()}" / "data" / f"{topic}-0"
    assert found.is_dir(), f"no partition directory {found}"
    return found


def command(pipeline_id: str, reply_to: str, name: str = NAME) -> str:
    return json.dumps(
        {
            "type": "RegisterPipeline",
            "pipelineId": pipeline_id,
            "name": name,
            "replyTo": reply_to,
            "correlationId": pipeline_id,
        },
        separators=(",", ":"),
    )


def wait_replies(
    settings: Settings, topic: str, wanted: set[str], timeout: float = 30.0
) -> dict[str, list[dict[str, object]]]:
    """The replies on ``topic`` by correlation id, once every id in ``wanted`` has one."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[dict[str, object]]] = {}
        for message in read_topic(settings, topic):
            reply = json.loads(message.value or b"null")
            found.setdefault(str(reply.get("correlationId")), []).append(reply)
        if wanted <= found.keys() or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def assert_alive(worker: Worker, pid: int) -> None:
    """The worker still runs as the same process, and became the active worker only once."""
    assert worker.running, f"worker {worker.name} exited:\n{worker.log()[-4000:]}"
    assert worker.pid == pid
    assert worker.log().count(SERVING) == 1, worker.log()[-4000:]


def http_json(worker: Worker, path: str) -> object:
    url = f"http://127.0.0.1:{worker.env['COORDINATOR_HTTP_PORT']}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def produce_confluent(settings: Settings, codec: str, lines: list[str]) -> None:
    producer = Producer(
        {
            **settings.kafka_base(),
            "compression.type": codec,
            "linger.ms": 5,
            "enable.idempotence": True,
        }
    )
    errors: list[str] = []
    for line in lines:
        producer.produce(
            settings.topics.commands,
            line.encode(),
            KEY.encode(),
            on_delivery=lambda error, _m: errors.append(error.str()) if error else None,
        )
    assert producer.flush(30) == 0
    assert errors == []


def produce_kcat(settings: Settings, codec: str, lines: list[str]) -> None:
    subprocess.run(
        [
            kcat(),
            "-P",
            "-b",
            settings.broker,
            "-t",
            settings.topics.commands,
            "-K",
            "\t",
            "-z",
            codec,
            "-X",
            "linger.ms=5",
        ],
        input="".join(f"{KEY}\t{line}\n" for line in lines),
        text=True,
        check=True,
        timeout=60,
    )


def produce_console(settings: Settings, codec: str, lines: list[str]) -> None:
    subprocess.run(
        [
            str(ROOT / "ops" / "kafka-console-producer.sh"),
            "--bootstrap-server",
            settings.broker,
            "--topic",
            settings.topics.commands,
            "--compression-codec",
            codec,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=|",
        ],
        input="".join(f"{KEY}|{line}\n" for line in lines),
        text=True,
        check=True,
        timeout=120,
    )


SENDERS = {"confluent": produce_confluent, "kcat": produce_kcat, "console": produce_console}


def commands_by_id(settings: Settings) -> dict[str, int]:
    """The commands-topic offset of each RegisterPipeline, by pipeline id."""
    found = {}
    for message in read_topic(settings, settings.topics.commands):
        try:
            document = json.loads(message.value or b"")
        except ValueError:
            continue
        if isinstance(document, dict) and "pipelineId" in document:
            found[str(document["pipelineId"])] = message.offset
    return found


# --- part 1: every codec, three producers -------------------------------------------------------


@dataclass
class Module:
    deployment: Deployment
    active: Worker
    active_pid: int
    standby: Worker
    client: CoordinatorClient


@pytest.fixture(scope="module")
def module(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Module]:
    deployment = make_deployment(broker, tmp_path_factory.mktemp("compression"))
    try:
        active = deployment.worker("active").start().wait_serving()
        standby = deployment.worker("standby").start()
        standby.wait_recovered()
        with deployment.client() as client:
            assert client.reply_topic
            yield Module(deployment, active, active.pid, standby, client)
    finally:
        for worker in deployment.workers:
            worker.stop()


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_commands_are_applied_once(module: Module, codec: str) -> None:
    """A batch of commands with ``codec`` from each producer: applied, answered and journaled
    once each, stored with that codec, and the active worker never exits."""
    settings = module.deployment.settings
    ids = {p: [f"{p}-{codec}-{n}" for n in range(PER_BATCH)] for p in PRODUCERS}
    for producer, batch in ids.items():
        SENDERS[producer](settings, codec, [command(i, module.client.reply_topic) for i in batch])
    every = {i for batch in ids.values() for i in batch}

    replies = wait_replies(settings, module.client.reply_topic, every)
    assert_alive(module.active, module.active_pid)
    registered = [e.pipeline_id for e in journal(settings) if e.pipeline_id in every]
    offsets = commands_by_id(settings)
    directory = partition_dir(module.deployment.broker, settings.topics.commands)
    for producer, batch in ids.items():
        counts = [len(replies.get(i, [])) for i in batch]
        assert counts == [1] * PER_BATCH, f"{producer}: replies per command {counts}"
        for i in batch:
            answer = replies[i][0]
            assert answer["ok"] is True and answer["commandType"] == "RegisterPipeline", answer
        assert sorted(i for i in registered if i in batch) == batch, f"{producer}: journal"
        # The records really were compressed with that codec: the stored batches say so.
        stored = {
            rawbatch.codec_of(rawbatch.stored_batch(directory, offsets[i]).data) for i in batch
        }
        assert stored == {codec}, f"{producer}: stored with {stored}"


@pytest.mark.parametrize("codec", CODECS)
def test_the_client_sends_with_the_configured_compression(module: Module, codec: str) -> None:
    """``COORDINATOR_COMPRESSION`` chooses the codec of what the client sends."""
    settings = module.deployment.settings.model_copy(update={"compression": codec})
    pipeline_id = f"client-{codec}"
    with CoordinatorClient(settings, timeout=15.0, retries=1) as client:
        summary = client.register(pipeline_id, NAME)
    assert summary.total_pipelines >= 1
    offset = commands_by_id(settings)[pipeline_id]
    directory = partition_dir(module.deployment.broker, settings.topics.commands)
    assert rawbatch.codec_of(rawbatch.stored_batch(directory, offset).data) == codec
    assert_alive(module.active, module.active_pid)


def test_standby_and_a_fresh_worker_end_with_the_same_state(module: Module) -> None:
    deployment = module.deployment
    expected = assert_worker_matches_journal(deployment.settings, module.client)
    # Each codec's three producers' batches, and one registration per codec by the client.
    assert len(expected.pipelines) == len(CODECS) * (len(PRODUCERS) * PER_BATCH + 1), (
        "run with the codec tests before it"
    )
    fresh = deployment.worker("fresh")
    assert not deployment.data_dir("fresh").exists()
    fresh.start()
    source = fresh.wait_recovered().group(1)
    print(f"\n[compression] the fresh worker recovered from {source}")
    deadline = time.monotonic() + 30
    while True:
        views = [http_json(w, "/status") for w in (module.active, module.standby, fresh)]
        if views[0] == views[1] == views[2] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert views[1] == views[0], "the standby differs from the active worker"
    assert views[2] == views[0], "the fresh worker differs from the active worker"
    assert isinstance(views[0], dict) and views[0]["seq"] == expected.summary.seq
    assert_alive(module.active, module.active_pid)


# --- part 2: hostile record batches -------------------------------------------------------------


def dead_letters(settings: Settings) -> list[Message]:
    return read_topic(settings, settings.topics.deadletter)


def assert_serves_after(deployment: Deployment, worker: Worker, pid: int) -> None:
    """A good command after the bad records is answered, by the same worker process."""
    with deployment.client(timeout=10.0, retries=0) as client:
        summary = client.register(f"good-{uuid.uuid4().hex[:6]}", "after the bad records")
    assert summary.pipeline is not None
    assert_alive(worker, pid)


def assert_dead_lettered(settings: Settings, first: int, last: int) -> list[Message]:
    """Every offset of ``first``..``last`` is covered by a dead letter naming it."""
    deadline = time.monotonic() + 15
    while True:
        letters = [
            letter
            for letter in dead_letters(settings)
            if first <= int(letter.headers.get("source-offset", b"-1")) <= last
        ]
        covered = {int(letter.headers["source-offset"]) for letter in letters}
        if covered == set(range(first, last + 1)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(
        f"\n[hostile] dead letters for offsets {first}..{last}: "
        + "; ".join(
            f"{letter.headers['source-offset'].decode()} "
            f"{letter.headers.get('error-code', b'?').decode()} "
            f"{letter.headers.get('error-message', b'').decode()[:120]}"
            for letter in letters
        )
    )
    assert covered == set(range(first, last + 1)), f"dead-lettered offsets: {sorted(covered)}"
    for letter in letters:
        assert letter.headers.get("error-code"), letter.headers
        assert letter.headers.get("source-topic") == settings.topics.commands.encode()
        assert letter.headers.get("source-partition") == b"0"
    return letters


def stage_batch(deployment: Deployment, ids: list[str], reply_to: str) -> rawbatch.StoredBatch:
    """Produce one uncompressed batch of RegisterPipeline commands and find it on disk."""
    batch = rawbatch.build_batch([(KEY.encode(), command(i, reply_to).encode()) for i in ids])
    result = rawbatch.produce_raw(
        deployment.broker.bootstrap, deployment.settings.topics.commands, batch
    )
    assert result.error_code == 0, result
    directory = partition_dir(deployment.broker, deployment.settings.topics.commands)
    stored = rawbatch.stored_batch(directory, result.base_offset)
    assert stored.base_offset == result.base_offset
    assert stored.last_offset == result.base_offset + len(ids) - 1
    return stored


def assert_none_applied(settings: Settings, ids: list[str]) -> None:
    applied = {event.pipeline_id for event in journal(settings)}
    assert not applied & set(ids), f"bad records applied: {sorted(applied & set(ids))}"


def test_the_broker_refuses_bad_batches_from_a_producer(deployment: Deployment) -> None:
    """What a producer of such bytes gets: nothing reaches the topic."""
    topic = deployment.settings.topics.commands
    good = rawbatch.build_batch([(KEY.encode(), b'{"type":"GetSystemStatus"}')])
    bootstrap = deployment.broker.bootstrap
    assert rawbatch.produce_raw(bootstrap, topic, rawbatch.wrong_crc(good)).error_code == (
        rawbatch.CORRUPT_MESSAGE
    )
    for codec in CODECS[1:]:
        refused = rawbatch.produce_raw(bootstrap, topic, rawbatch.mis_compressed(good, codec))
        assert refused.error_code == rawbatch.UNKNOWN_SERVER_ERROR, (codec, refused)
    assert read_topic(deployment.settings, topic) == []


def test_batches_that_do_not_decompress_are_dead_lettered(deployment: Deployment) -> None:
    """One stored batch of 3 commands per codec, its Attributes claiming the codec (CRC valid).

    librdkafka reports ``_BAD_COMPRESSION`` at the batch's base offset and fetches the same
    batch again every ``fetch.error.backoff.ms`` until the reader seeks past its last offset.
    """
    settings = deployment.settings
    reply_to = settings.topics.replies
    staged = []
    for codec in CODECS[1:]:
        ids = [f"mis-{codec}-{n}" for n in range(3)]
        stored = stage_batch(deployment, ids, reply_to)
        rawbatch.rewrite_on_disk(stored, rawbatch.mis_compressed(stored.data, codec))
        staged.append((stored, ids))
    worker = deployment.worker().start().wait_serving()
    pid = worker.pid

    assert_serves_after(deployment, worker, pid)
    for stored, _ids in staged:
        assert_dead_lettered(settings, stored.base_offset, stored.last_offset)
    assert_none_applied(settings, [i for _stored, ids in staged for i in ids])
    assert_alive(worker, pid)


def test_a_batch_with_a_wrong_crc_is_dead_lettered(deployment: Deployment) -> None:
    """A stored batch whose bytes changed after its CRC was computed (``crc-a`` became
    ``crc-c``): with librdkafka's default ``check.crcs=false`` it would be applied as it reads."""
    settings = deployment.settings
    reply_to = settings.topics.replies
    ids = ["crc-a", "crc-b"]
    stored = stage_batch(deployment, ids, reply_to)
    corrupted = bytearray(stored.data)
    position = corrupted.index(b'"pipelineId":"crc-a"') + len(b'"pipelineId":"crc-')
    corrupted[position] ^= ord("a") ^ ord("c")  # one bit
    assert not rawbatch.crc_is_valid(corrupted)
    rawbatch.rewrite_on_disk(stored, corrupted)
    worker = deployment.worker().start().wait_serving()
    pid = worker.pid

    assert_serves_after(deployment, worker, pid)
    assert_none_applied(settings, [*ids, "crc-c"])
    assert_dead_lettered(settings, stored.base_offset, stored.last_offset)
    assert_alive(worker, pid)


def big_producer(settings: Settings, codec: str) -> Producer:
    return Producer(
        {
            **settings.kafka_base(),
            "compression.type": codec,
            "message.max.bytes": 1_000_000_000,
            "linger.ms": 0,
        }
    )


def produce_one(producer: Producer, topic: str, value: bytes) -> int:
    delivered: list[tuple[str | None, int | None]] = []
    producer.produce(
        topic,
        value,
        KEY.encode(),
        on_delivery=lambda e, m: delivered.append((e.str() if e else None, m.offset())),
    )
    assert producer.flush(60) == 0
    assert delivered and delivered[0][0] is None and delivered[0][1] is not None, delivered
    return delivered[0][1]


@pytest.mark.parametrize(
    ("codec", "size", "why"),
    [
        ("none", 4_000_000, "a plain record near the topic's 4 MiB limit"),
        ("gzip", 20 * 1024 * 1024, "20 MiB once decompressed: over the topic's limit and 16 MiB"),
        ("zstd", 110_000_000, "110 MB once decompressed: over receive.message.max.bytes"),
    ],
)
def test_records_over_the_size_limits_are_dead_lettered(
    deployment: Deployment, codec: str, size: int, why: str
) -> None:
    """The broker takes these (it limits the compressed batch); a consumer sees the record whole
    (none, gzip: librdkafka does not limit gzip or lz4 output) or, for zstd output over
    ``receive.message.max.bytes`` (100 MB), ``_BAD_COMPRESSION`` again and again."""
    settings = deployment.settings
    worker = deployment.worker().start().wait_serving()
    pid = worker.pid
    filler = "x" * (size - 200)
    value = command("too-big", settings.topics.replies, name=filler).encode()
    offset = produce_one(big_producer(settings, codec), settings.topics.commands, value)
    del value, filler

    assert_serves_after(deployment, worker, pid)
    letters = assert_dead_lettered(settings, offset, offset)
    codes = {letter.headers["error-code"].decode() for letter in letters}
    print(f"[hostile] {why}: {sorted(codes)}")
    assert_none_applied(settings, ["too-big"])
    assert_alive(worker, pid)
