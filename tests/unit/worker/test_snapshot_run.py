"""A snapshot run's transactions: parts in order (header, chunks, footer), as many as fit in the
budget, so that a small registry's snapshot is one transaction."""

from __future__ import annotations

from coordinator.store.table import PIPELINE, StateTable
from coordinator.worker import snapshots
from tests.unit.worker.test_snapshot_format import table

__all__ = ["table"]  # the fixture


def parts(records: list[list[bytes]]) -> list[str]:
    return [key.decode().rsplit("/", 1)[1] for transaction in records for key in transaction]


def transactions(table: StateTable, budget: int) -> tuple[list[list[bytes]], list[int]]:
    run = snapshots.SnapshotRun(table, "snapshots", "2026-03-01T00:00:00.000Z")
    keys: list[list[bytes]] = []
    sizes: list[int] = []
    while not run.done:
        records = run.next_records(budget=budget)
        assert records, "a run that is not done always has a next record"
        keys.append([record.key or b"" for record in records])
        sizes.append(sum(len(record.value or b"") for record in records))
    assert run.next_records(budget=budget) == []
    return keys, sizes


def test_a_small_snapshot_is_one_transaction(table: StateTable) -> None:
    keys, _sizes = transactions(table, snapshots.CHUNK_BYTES)

    assert len(keys) == 1
    names = parts(keys)
    assert names[0] == "0-header" and names[-1] == "2-footer"
    assert all(name.startswith("1-chunk-") for name in names[1:-1])


def test_a_large_snapshot_fills_each_transaction_up_to_the_budget_in_order(
    table: StateTable,
) -> None:
    budget = 500
    largest_item = max(len(raw) for _key, raw in table.raw_items(PIPELINE)) + 1
    keys, sizes = transactions(table, budget)

    assert len(keys) > 2
    names = parts(keys)
    chunks = [name for name in names if name.startswith("1-chunk-")]
    assert names == ["0-header", *chunks, "2-footer"]
    assert chunks == [f"1-chunk-{n:06d}" for n in range(len(chunks))]
    # Each transaction stops at the budget, overshooting by at most one item and the envelope
    # (the header and the footer also carry the summary, with its groups).
    summary = len(table.summary.to_json())
    assert all(size <= budget + largest_item + 64 + summary for size in sizes)
    # Every transaction but the last is full.
    assert all(size >= budget for size in sizes[:-1])
