"""Rows of results and the table they print as: each figure beside its same-run baseline.

Pure data and formatting (no Kafka), so that the smoke test can render a table without a broker.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    """One target of the issue and whether this run met it (never asserted, only reported)."""

    text: str
    met: bool | None
    """None when the figure could not be judged (for instance, sizes smaller than the target's)."""


@dataclass(frozen=True, slots=True)
class Row:
    measurement: str
    figure: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    targets: tuple[Target, ...] = ()
    note: str = ""
    ratio_override: float | None = None
    """Set when the ratio is not simply value / baseline (e.g. a growth per 100,000 pipelines)."""

    @property
    def ratio(self) -> float | None:
        if self.ratio_override is not None:
            return self.ratio_override
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if not self.targets:
            return ""
        if any(target.met is False for target in self.targets):
            return "missed"
        if any(target.met is None for target in self.targets):
            return "n/a"
        return "met"


@dataclass(slots=True)
class Results:
    """Everything one run measured, in the order it was measured."""

    rows: list[Row] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def to_json(self) -> str:
        rows = []
        for row in self.rows:
            item = asdict(row)
            item["ratio"] = row.ratio
            item["verdict"] = row.verdict
            rows.append(item)
        return json.dumps({"info": self.info, "rows": rows}, indent=2, default=str)


def number(value: float | None, unit: str = "") -> str:
    """A figure with a sensible number of digits and its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if magnitude >= 100 or value == int(value):
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:,.1f}"
    elif magnitude >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" if ratio < 100 else f"{ratio:,.0f}x"


HEADERS = ("measurement", "figure", "value", "baseline (same run)", "ratio", "target", "verdict")


def cells(row: Row) -> tuple[str, ...]:
    baseline = number(row.baseline, row.unit) if row.baseline is not None else "-"
    if row.baseline_label:
        baseline = f"{baseline} ({row.baseline_label})"
    targets = "; ".join(target.text for target in row.targets) or "-"
    figure = f"{row.figure} [{row.note}]" if row.note else row.figure
    return (
        row.measurement,
        figure,
        number(row.value, row.unit),
        baseline,
        ratio_text(row.ratio),
        targets,
        row.verdict or "-",
    )


def render_text(rows: Sequence[Row]) -> str:
    """A plain-text table with aligned columns, for the terminal."""
    table = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(HEADERS))]

    def line(values: Iterable[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(HEADERS), rule, *(line(values) for values in table[1:])]).rstrip()


def render_markdown(rows: Sequence[Row]) -> str:
    """The same table in Markdown, for BENCHMARKS.md."""

    def line(values: Iterable[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|") for value in values) + " |"

    return "\n".join(
        [line(HEADERS), line("---" for _ in HEADERS), *(line(cells(row)) for row in rows)]
    )
