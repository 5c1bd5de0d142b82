"""Small statistics helpers: percentiles without numpy."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in [0, 1]) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean of durations given in seconds, in milliseconds."""
    return {
        "n": float(len(seconds)),
        "p50": percentile(seconds, 0.50) * 1e3,
        "p90": percentile(seconds, 0.90) * 1e3,
        "p99": percentile(seconds, 0.99) * 1e3,
        "max": (max(seconds) if seconds else math.nan) * 1e3,
        "mean": (sum(seconds) / len(seconds) if seconds else math.nan) * 1e3,
    }
