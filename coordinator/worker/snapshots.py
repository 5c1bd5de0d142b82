"""Snapshots of the whole state on the snapshots topic: writing them, finding them, keeping 2.

A snapshot at journal position ``seq`` is a run of records keyed ``snapshot/<seq>/...``: a
header (seq, events offset, summary), chunks of pipelines and applied commands (raw JSON straight
from RocksDB, at most ``CHUNK_BYTES`` each, so 100,000 pipelines never make one oversized
message), and a footer that names the chunk count. Only a snapshot with its footer and every chunk
is valid. Records are written through the journal writer, so a fenced worker cannot write one.
Old snapshots are deleted with tombstones (the topic is compacted).

Chunks are read from a RocksDB iterator opened when the snapshot starts: a consistent view of the
state at ``seq``, however many batches are applied while the snapshot is being written.

The header names the snapshot's ``format``; a snapshot of a format this version does not read
(or of none) is refused at load, and recovery passes on to an older snapshot or the journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import Consumer
from pydantic import BaseModel, ConfigDict, TypeAdapter

from coordinator.domain.model import PipelineInfo
from coordinator.domain.view import AppliedCommand
from coordinator.kafka.reader import read_to_end
from coordinator.kafka.records import OutRecord, Record
from coordinator.store.table import APPLIED, PIPELINE, StateTable, TableMeta

FORMAT = 1
"""The format this version writes: header, chunks and footer as above."""
SUPPORTED_FORMATS: frozenset[int] = frozenset({FORMAT})
"""The formats this version loads."""
CHUNK_BYTES = 512 * 1024
_PREFIX = "snapshot/"


def snapshot_key(seq: int, part: str) -> str:
    return f"{_PREFIX}{seq:020d}/{part}"


def _parse_key(key: bytes | None) -> tuple[int, str] | None:
    if key is None:
        return None
    text = key.decode("utf-8", "replace")
    if not text.startswith(_PREFIX):
        return None
    seq_text, _, part = text[len(_PREFIX) :].partition("/")
    if not seq_text.isdigit() or not part:
        return None
    return int(seq_text), part


class SnapshotRun:
    """One snapshot being written, a chunk at a time."""

    def __init__(self, table: StateTable, topic: str, created_at: str) -> None:
        self.topic = topic
        meta = table.meta
        self.meta = meta
        self.seq = meta.summary.seq
        self._sources: list[tuple[str, Iterator[tuple[bytes, bytes]]]] = [
            ("pipelines", table.raw_items(PIPELINE)),
            ("applied", table.raw_items(APPLIED)),
        ]
        self.header: dict[str, Any] = {
            "kind": "header",
            "format": FORMAT,
            "seq": self.seq,
            "eventsOffset": meta.events_offset,
            "commandOffset": meta.command_offset,
            "summary": json.loads(meta.summary.to_json()),
            "createdAt": created_at,
        }
        self._started = False
        self.chunks = 0
        self.counts = {"pipelines": 0, "applied": 0}
        self.done = False
        self.bytes_written = 0

    def keys(self) -> list[str]:
        parts = ["0-header", *[f"1-chunk-{n:06d}" for n in range(self.chunks)], "2-footer"]
        return [snapshot_key(self.seq, part) for part in parts]

    def _record(self, part: str, value: bytes) -> OutRecord:
        self.bytes_written += len(value)
        return OutRecord(self.topic, snapshot_key(self.seq, part).encode(), value)

    def next_records(self, budget: int = CHUNK_BYTES) -> list[OutRecord]:
        """The records of the next transaction: parts in order (the header, chunks, the footer)
        up to about ``budget`` bytes, at least one.

        A small registry's snapshot is one transaction, not four: each transaction of a snapshot
        is one that a command arriving meanwhile waits for.
        """
        records: list[OutRecord] = []
        size = 0
        while not self.done and size < budget:
            record = self._next_part(budget - size)
            records.append(record)
            size += len(record.value or b"")
        return records

    def _next_part(self, budget: int) -> OutRecord:
        """The header, the next chunk of at most about ``budget`` bytes, or the footer."""
        if not self._started:
            self._started = True
            return self._record("0-header", json.dumps(self.header).encode())
        while self._sources:
            kind, source = self._sources[0]
            items: list[bytes] = []
            size = 0
            for _key, raw in source:
                items.append(raw)
                size += len(raw) + 1
                if size >= budget:
                    break
            else:
                self._sources.pop(0)
            if items:
                self.counts[kind] += len(items)
                value = b'{"kind":"' + kind.encode() + b'","items":[' + b",".join(items) + b"]}"
                record = self._record(f"1-chunk-{self.chunks:06d}", value)
                self.chunks += 1
                return record
        self.done = True
        footer = {"kind": "footer", "seq": self.seq, "chunks": self.chunks, **self.counts}
        return self._record("2-footer", json.dumps(footer).encode())


@dataclass(slots=True)
class SnapshotEntry:
    """What the snapshots topic holds for one seq."""

    seq: int
    keys: set[str] = field(default_factory=set)
    header: dict[str, Any] | None = None
    header_offset: int | None = None
    footer: dict[str, Any] | None = None
    footer_offset: int | None = None
    chunks: dict[str, bytes] | None = None
    """Chunk values kept from the scan (for the newest snapshots only), to load without
    reading the topic twice."""

    @property
    def complete(self) -> bool:
        if self.header is None or self.footer is None:
            return False
        chunks = int(self.footer.get("chunks", -1))
        expected = {snapshot_key(self.seq, f"1-chunk-{n:06d}") for n in range(chunks)}
        return expected <= self.keys

    @property
    def events_offset(self) -> int:
        return int(self.header["eventsOffset"]) if self.header is not None else -1


KEEP_CHUNKS_OF = 2
"""How many of the newest snapshots a scan keeps chunk values of."""


@dataclass(slots=True)
class SnapshotCatalog:
    """Every snapshot on the topic, complete or not, by seq."""

    entries: dict[int, SnapshotEntry] = field(default_factory=dict)
    keep_chunks: bool = True
    """Keep the chunk values of the newest snapshots (for a recovery that loads one)."""

    def _keep_chunks(self, entry: SnapshotEntry) -> None:
        if not self.keep_chunks:
            return
        newest = sorted(self.entries)[-KEEP_CHUNKS_OF:]
        if entry.seq in newest and entry.chunks is None:
            entry.chunks = {}
        for seq, other in self.entries.items():
            if seq not in newest:
                other.chunks = None

    def add(self, record: Record) -> None:
        parsed = _parse_key(record.key)
        if parsed is None:
            return
        seq, part = parsed
        key = snapshot_key(seq, part)
        entry = self.entries.setdefault(seq, SnapshotEntry(seq))
        if record.value is None:
            entry.keys.discard(key)
            if part == "0-header":
                entry.header = None
            elif part == "2-footer":
                entry.footer = None
            if not entry.keys:
                del self.entries[seq]
            return
        entry.keys.add(key)
        if part.startswith("1-chunk-"):
            self._keep_chunks(entry)
            if entry.chunks is not None:
                entry.chunks[key] = record.value
        if part == "0-header":
            entry.header = json.loads(record.value)
            entry.header_offset = record.offset
        elif part == "2-footer":
            entry.footer = json.loads(record.value)
            entry.footer_offset = record.offset

    def add_written(self, run: SnapshotRun, header_offset: int | None = None) -> None:
        entry = SnapshotEntry(run.seq, set(run.keys()))
        entry.header = dict(run.header)
        entry.header_offset = header_offset
        entry.footer = {"chunks": run.chunks}
        self.entries[run.seq] = entry

    def complete(self) -> list[SnapshotEntry]:
        """Complete snapshots, newest first."""
        return sorted(
            (entry for entry in self.entries.values() if entry.complete),
            key=lambda entry: entry.seq,
            reverse=True,
        )

    def expired(self, kept: int) -> list[SnapshotEntry]:
        """Every snapshot but the newest ``kept`` complete ones (partial ones included)."""
        keep = {entry.seq for entry in self.complete()[:kept]}
        return [entry for seq, entry in sorted(self.entries.items()) if seq not in keep]

    def forget(self, entry: SnapshotEntry) -> None:
        self.entries.pop(entry.seq, None)

    def merge(self, older: SnapshotCatalog) -> None:
        """Add what a later, complete scan found (entries already known are kept)."""
        for seq, entry in older.entries.items():
            entry.chunks = None
            self.entries.setdefault(seq, entry)


def scan(consumer: Consumer, topic: str, *, keep_chunks: bool = True) -> SnapshotCatalog:
    """Read the whole snapshots topic into a catalog (chunk values are not parsed; they are
    kept for the newest snapshots only if ``keep_chunks``)."""
    catalog = SnapshotCatalog(keep_chunks=keep_chunks)
    for record in read_to_end(consumer, topic, None):
        catalog.add(record)
    return catalog


def tombstones(topic: str, entry: SnapshotEntry) -> list[OutRecord]:
    return [OutRecord(topic, key.encode(), None) for key in sorted(entry.keys)]


@dataclass(frozen=True, slots=True)
class LoadedSnapshot:
    meta: TableMeta
    pipelines: list[PipelineInfo]
    applied: list[AppliedCommand]


def _parse_chunk(raw: bytes) -> tuple[list[PipelineInfo], list[AppliedCommand]]:
    kind = b'"kind":"pipelines"' in raw[:40]
    if kind:
        return _PIPELINES.validate_json(raw).items, []
    return [], _APPLIED.validate_json(raw).items


class _PipelinesChunk(BaseModel):
    # Only field names go to pydantic-core's string cache: see codec's _EVENT_ADAPTER.
    model_config = ConfigDict(cache_strings="keys")

    kind: Literal["pipelines"]
    items: list[PipelineInfo]


class _AppliedChunk(BaseModel):
    model_config = ConfigDict(cache_strings="keys")

    kind: Literal["applied"]
    items: list[AppliedCommand]


_PIPELINES = TypeAdapter(_PipelinesChunk)
_APPLIED = TypeAdapter(_AppliedChunk)


def check_format(seq: int, header: dict[str, Any]) -> None:
    """``ValueError`` naming the format found and those supported, unless ``header``'s is one."""
    found = header.get("format")
    # bool is an int in Python: a header saying ``"format": true`` is not format 1.
    if type(found) is int and found in SUPPORTED_FORMATS:
        return
    supported = ", ".join(str(known) for known in sorted(SUPPORTED_FORMATS))
    plural = "s" if len(SUPPORTED_FORMATS) > 1 else ""
    what = "has no format" if "format" not in header else f"has format {json.dumps(found)}"
    raise ValueError(f"snapshot {seq} {what}; this version reads format{plural} {supported}")


def load(consumer: Consumer, topic: str, entry: SnapshotEntry) -> LoadedSnapshot:
    """One complete snapshot's content: from the chunks its scan kept, or read back from the
    topic (between its header and its footer). Chunks are parsed and validated in one pass each.

    ``ValueError`` if it is not complete, of a format this version does not read, or does not
    hold what its summary says."""
    if entry.header is None or entry.header_offset is None or entry.footer_offset is None:
        raise ValueError(f"snapshot {entry.seq} is not complete")
    check_format(entry.seq, entry.header)
    prefix = snapshot_key(entry.seq, "1-chunk-")
    latest_chunks: dict[str, bytes] = {}
    if entry.chunks is not None and set(entry.chunks) >= {
        key for key in entry.keys if key.startswith(prefix)
    }:
        latest_chunks = entry.chunks
    else:
        for record in read_to_end(consumer, topic, entry.header_offset):
            if record.offset > entry.footer_offset:
                break
            key = record.key.decode("utf-8", "replace") if record.key is not None else ""
            if key.startswith(prefix) and record.value is not None:
                latest_chunks[key] = record.value
    pipelines: list[PipelineInfo] = []
    applied: list[AppliedCommand] = []
    for key in sorted(latest_chunks):
        more_pipelines, more_applied = _parse_chunk(latest_chunks[key])
        pipelines.extend(more_pipelines)
        applied.extend(more_applied)
    header = entry.header
    meta = TableMeta.model_validate(
        {
            "summary": header["summary"],
            "eventsOffset": header["eventsOffset"],
            "commandOffset": header.get("commandOffset", -1),
        }
    )
    expected = meta.summary.total_pipelines
    if len(pipelines) != expected:
        raise ValueError(
            f"snapshot {entry.seq} holds {len(pipelines)} pipelines, its summary says {expected}"
        )
    return LoadedSnapshot(meta, pipelines, applied)
