"""After a recovery the worker hands freed memory back to the operating system."""

from __future__ import annotations

import platform

from coordinator.worker.memory import release_memory


def test_the_c_heap_is_trimmed_where_the_c_library_can() -> None:
    garbage = [bytearray(1024) for _ in range(10_000)]
    del garbage
    assert release_memory() is (platform.libc_ver()[0] == "glibc")
