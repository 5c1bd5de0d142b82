"""Giving memory back to the operating system after a recovery.

Folding a long journal allocates and frees millions of short-lived objects; afterwards glibc's
allocator keeps most of the freed memory, so the resident set stays at its peak although the state
itself lives in RocksDB. A full collection and ``malloc_trim`` return it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache
from typing import Any


@cache
def _malloc_trim() -> Callable[[int], Any] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], Any] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


def release_memory() -> bool:
    """Collect garbage and trim the C heap; True if the heap could be trimmed."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
