"""The catalog of the snapshots topic keeps chunk values only where a recovery will load them."""

from __future__ import annotations

from coordinator.kafka.records import Record
from coordinator.worker.snapshots import KEEP_CHUNKS_OF, SnapshotCatalog, snapshot_key


def records(seq: int, first_offset: int, chunks: int = 2) -> list[Record]:
    parts = [
        ("0-header", b'{"kind":"header","seq":%d}' % seq),
        *[(f"1-chunk-{n:06d}", b'{"kind":"pipelines","items":[]}') for n in range(chunks)],
        ("2-footer", b'{"kind":"footer","chunks":%d}' % chunks),
    ]
    return [
        Record(first_offset + n, snapshot_key(seq, part).encode(), value, [])
        for n, (part, value) in enumerate(parts)
    ]


def catalog_of(seqs: list[int], *, keep_chunks: bool) -> SnapshotCatalog:
    catalog = SnapshotCatalog(keep_chunks=keep_chunks)
    offset = 0
    for seq in seqs:
        for record in records(seq, offset):
            catalog.add(record)
        offset += 10
    return catalog


def test_a_recovery_scan_keeps_the_chunks_of_the_newest_snapshots_only() -> None:
    seqs = [50, 100, 150, 200]
    catalog = catalog_of(seqs, keep_chunks=True)
    kept = {seq for seq, entry in catalog.entries.items() if entry.chunks}
    assert kept == set(seqs[-KEEP_CHUNKS_OF:])
    newest = catalog.entries[200]
    assert newest.chunks is not None
    assert sorted(newest.chunks) == [snapshot_key(200, f"1-chunk-{n:06d}") for n in range(2)]


def test_a_background_scan_keeps_no_chunk_values() -> None:
    catalog = catalog_of([50, 100, 150], keep_chunks=False)
    assert [entry.seq for entry in catalog.complete()] == [150, 100, 50]
    assert all(entry.chunks is None for entry in catalog.entries.values())
