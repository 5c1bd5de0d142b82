"""The worker keeps glibc's allocator from holding on to freed memory."""

from __future__ import annotations

import platform

from coordinator.worker.memory import limit_arenas, release_memory, trim_heap

GLIBC = platform.libc_ver()[0] == "glibc"


def test_the_c_heap_is_trimmed_where_the_c_library_can() -> None:
    garbage = [bytearray(1024) for _ in range(10_000)]
    del garbage
    assert release_memory() is GLIBC
    assert trim_heap() is GLIBC


def test_the_arena_limit_is_taken_where_the_c_library_can() -> None:
    assert limit_arenas(16) is GLIBC
