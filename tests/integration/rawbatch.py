"""Kafka record batches made by hand, for records no well-behaved producer writes.

A record batch (magic 2) is ``BaseOffset int64, Length int32, PartitionLeaderEpoch int32,
Magic int8, CRC uint32, Attributes int16, ...``; the CRC-32C covers everything from Attributes to
the end, and the low 3 bits of Attributes name the codec of the records after the header.

Two ways to get such a batch in front of a consumer:

- ``produce_raw`` sends a ProduceRequest (v8) over a plain socket. The broker checks every batch
  it is given: a wrong CRC is refused with ``CORRUPT_MESSAGE`` (2), and so is a batch that does
  not decompress, because the broker decompresses compressed batches to validate their records.
  So this shows what a producer of such bytes gets, and nothing reaches the topic.
- ``rewrite_on_disk`` replaces the bytes of a stored batch in the broker's segment file (a
  broker of this machine whose data directory the test knows). The broker sends segments to
  consumers as they are on disk, without checking them again: that is how a disk fault, a bad
  copy of a segment or a broker bug would hand a consumer a batch that does not decompress or
  whose CRC is wrong. The new batch must have the same length, so the segment's indexes stay
  right; ``mis_compressed`` and ``wrong_crc`` make such twins of a stored batch.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka.record.default_records import DefaultRecordBase, DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODEC_MASK = DefaultRecordBase.CODEC_MASK
CRC_OFFSET = DefaultRecordBase.CRC_OFFSET  # 17: after BaseOffset, Length, Epoch, Magic
ATTRIBUTES_OFFSET = DefaultRecordBase.ATTRIBUTES_OFFSET  # 21: the CRC covers from here
LENGTH_OFFSET = 8
BATCH_HEADER = struct.Struct(">qiib")  # BaseOffset, Length, PartitionLeaderEpoch, Magic
PRODUCE_API_KEY = 0
PRODUCE_VERSION = 8  # zstd needs v7+; v8 answers with an error message
CORRUPT_MESSAGE = 2
UNKNOWN_SERVER_ERROR = -1
NOT_READY = {3, 5, 6}  # UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER

Record = tuple[bytes | None, bytes | None]  # key, value


def build_batch(records: Sequence[Record], codec: str = "none") -> bytearray:
    """One batch of ``records`` (offset deltas 0, 1, ...), compressed with ``codec``.

    aiokafka's builder sends a batch uncompressed when compression does not make it smaller.
    """
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=CODECS[codec],
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 30,
    )
    for delta, (key, value) in enumerate(records):
        assert builder.append(delta, timestamp=None, key=key, value=value, headers=[])
    return bytearray(builder.build())


def codec_of(batch: bytes | bytearray) -> str:
    (attributes,) = struct.unpack_from(">h", batch, ATTRIBUTES_OFFSET)
    code = attributes & CODEC_MASK
    return next(name for name, value in CODECS.items() if value == code)


def with_valid_crc(batch: bytearray) -> bytearray:
    struct.pack_into(">I", batch, CRC_OFFSET, calc_crc32c(bytes(batch[ATTRIBUTES_OFFSET:])))
    return batch


def mis_compressed(batch: bytes | bytearray, codec: str) -> bytearray:
    """The same (uncompressed) records, with Attributes claiming ``codec``, and a valid CRC."""
    changed = bytearray(batch)
    assert codec_of(changed) == "none", "start from an uncompressed batch"
    (attributes,) = struct.unpack_from(">h", changed, ATTRIBUTES_OFFSET)
    struct.pack_into(">h", changed, ATTRIBUTES_OFFSET, (attributes & ~CODEC_MASK) | CODECS[codec])
    return with_valid_crc(changed)


def wrong_crc(batch: bytes | bytearray) -> bytearray:
    """The same batch with one bit of its last byte flipped and the CRC left as it was."""
    changed = bytearray(batch)
    changed[-1] ^= 0x01
    return changed


def crc_is_valid(batch: bytes | bytearray) -> bool:
    (stored,) = struct.unpack_from(">I", batch, CRC_OFFSET)
    return bool(stored == calc_crc32c(bytes(batch[ATTRIBUTES_OFFSET:])))


# --- ProduceRequest v8 over a socket ------------------------------------------------------------


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    encoded = value.encode()
    return struct.pack(">h", len(encoded)) + encoded


def _read_string(data: bytes, position: int) -> tuple[str | None, int]:
    (length,) = struct.unpack_from(">h", data, position)
    position += 2
    if length < 0:
        return None, position
    return data[position : position + length].decode("utf-8", "replace"), position + length


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        chunks.extend(chunk)
    return bytes(chunks)


@dataclass(frozen=True)
class ProduceResult:
    error_code: int  # 0: written; 2: CORRUPT_MESSAGE; 10: MESSAGE_TOO_LARGE; 87: INVALID_RECORD
    base_offset: int  # -1 when refused
    error_message: str | None = None


def produce_raw(
    bootstrap: str, topic: str, batch: bytes | bytearray, partition: int = 0, timeout: float = 30.0
) -> ProduceResult:
    """Send ``batch`` as it is to ``topic``/``partition`` (the leader must be ``bootstrap``, as
    on a one-node broker), acks=all, and return what the broker answered. A partition without a
    leader yet (a topic just created) is asked again for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = _produce_once(bootstrap, topic, batch, partition, timeout)
        if result.error_code not in NOT_READY or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def _produce_once(
    bootstrap: str, topic: str, batch: bytes | bytearray, partition: int, timeout: float
) -> ProduceResult:
    # ProduceRequest v8: transactional_id, acks, timeout_ms, [topic, [partition, records]];
    # the response: [topic, [partition, error_code, base_offset, log_append_time,
    # log_start_offset, [record_errors], error_message]], throttle_time_ms.
    host, port = bootstrap.rsplit(":", 1)
    body = (
        _string(None)  # transactional_id
        + struct.pack(">hi", -1, int(timeout * 1000))  # acks, timeout
        + struct.pack(">i", 1)
        + _string(topic)
        + struct.pack(">i", 1)
        + struct.pack(">ii", partition, len(batch))
        + bytes(batch)
    )
    correlation = 7
    header = struct.pack(">hhi", PRODUCE_API_KEY, PRODUCE_VERSION, correlation) + _string("raw")
    request = header + body
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _read_exactly(sock, 4))
        response = _read_exactly(sock, size)
    (got_correlation, topics) = struct.unpack_from(">ii", response, 0)
    assert got_correlation == correlation and topics == 1
    position = 8
    (name_length,) = struct.unpack_from(">h", response, position)
    position += 2 + name_length
    (partitions,) = struct.unpack_from(">i", response, position)
    assert partitions == 1
    position += 4
    _partition, error_code, base_offset = struct.unpack_from(">ihq", response, position)
    position += 4 + 2 + 8 + 8 + 8  # ... log_append_time, log_start_offset
    (record_errors,) = struct.unpack_from(">i", response, position)
    position += 4
    for _ in range(max(record_errors, 0)):
        _message, position = _read_string(response, position + 4)
    message, position = _read_string(response, position)
    return ProduceResult(error_code, base_offset, message)


# --- stored batches in a segment file -----------------------------------------------------------


@dataclass(frozen=True)
class StoredBatch:
    segment: Path
    position: int
    base_offset: int
    data: bytes

    @property
    def last_offset(self) -> int:
        (last_delta,) = struct.unpack_from(">i", self.data, ATTRIBUTES_OFFSET + 2)
        return self.base_offset + int(last_delta)


def stored_batches(partition_dir: Path) -> Iterator[StoredBatch]:
    """Every batch in the segment files of one partition's directory, in offset order."""
    for segment in sorted(partition_dir.glob("*.log")):
        data = segment.read_bytes()
        position = 0
        while position + BATCH_HEADER.size <= len(data):
            base_offset, length, _epoch, _magic = BATCH_HEADER.unpack_from(data, position)
            end = position + LENGTH_OFFSET + 4 + length
            if length <= 0 or end > len(data):
                break
            yield StoredBatch(segment, position, base_offset, data[position:end])
            position = end


def stored_batch(partition_dir: Path, offset: int) -> StoredBatch:
    """The stored batch that holds ``offset``."""
    for batch in stored_batches(partition_dir):
        if batch.base_offset <= offset <= batch.last_offset:
            return batch
    raise AssertionError(f"no batch holding offset {offset} in {partition_dir}")


def rewrite_on_disk(stored: StoredBatch, new_bytes: bytes | bytearray) -> None:
    """Overwrite ``stored`` in its segment file with ``new_bytes`` of the same length."""
    assert len(new_bytes) == len(stored.data), "a rewritten batch must keep its length"
    with stored.segment.open("r+b") as handle:
        handle.seek(stored.position)
        assert handle.read(len(stored.data)) == stored.data, "the segment changed under us"
        handle.seek(stored.position)
        handle.write(new_bytes)
