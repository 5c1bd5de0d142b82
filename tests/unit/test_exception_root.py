"""Every exception the coordinator defines descends from its one root, ``CoordinatorError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import coordinator
from coordinator.errors import CoordinatorError


def defined_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for module_info in pkgutil.walk_packages(coordinator.__path__, "coordinator."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_exception_is_under_the_root() -> None:
    exceptions = defined_exceptions()

    assert len(exceptions) >= 10  # the walk found the package's modules
    outside = [
        f"{exception.__module__}.{exception.__qualname__}"
        for exception in exceptions
        if not issubclass(exception, CoordinatorError)
    ]
    assert outside == []
