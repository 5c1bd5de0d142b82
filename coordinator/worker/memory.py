"""Keeping the worker's resident set near its state's size (glibc's allocator, where present).

Folding a long journal allocates and frees millions of short-lived objects, and every snapshot
passes tens of megabytes through the producer thread; glibc keeps freed memory (and one arena
per thread), so the resident set would stay at its peak although the state lives in RocksDB.
The worker limits the arenas at start, and trims the heap after a recovery and after each
snapshot.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache

from coordinator.domain.wire import format_timestamp

M_ARENA_MAX = -8
"""mallopt parameter (glibc's malloc.h)."""


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def limit_arenas(count: int = 2) -> bool:
    """At most ``count`` malloc arenas (glibc's default is 8 per core); call before threads
    start. True if the C library took the setting."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt is not None and mallopt(M_ARENA_MAX, count) == 1)


def trim_heap() -> bool:
    """Hand the free pages of every malloc arena back to the system (no garbage collection).
    False where the C library is not glibc (musl, macOS): there is nothing to trim."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


def release_memory() -> bool:
    """Collect garbage and trim the C heap; True if the heap could be trimmed.

    The timestamp cache goes too: after a replay its 4,096 entries are scattered over the heap
    the replay used, and each would keep a whole allocator arena alive."""
    format_timestamp.cache_clear()
    gc.collect()
    return trim_heap()


GC_THRESHOLDS = (50_000, 20, 100)
"""Generation-0 collections every 50,000 allocations instead of 700: a batch allocates tens of
thousands of short-lived objects and almost none of them form cycles (bench.hotpath: 15,500 ->
17,300-20,300 updates/s)."""


def tune_collector() -> None:
    """Freeze what exists now (recovered state, modules) out of every later collection, and
    collect generation 0 less often."""
    gc.collect()
    gc.freeze()
    collect_less_often()


def collect_less_often() -> None:
    """Generation-0 collections every ``GC_THRESHOLDS[0]`` allocations (also while recovering:
    a replay allocates millions of short-lived objects)."""
    gc.set_threshold(*GC_THRESHOLDS)
