"""The domain is pure: only the standard library and pydantic, and no clock.

``coordinator/domain/`` imports no faust, Kafka, asyncio, logging, clock or uuid; time and ids
come in as arguments (docs/architecture.md, "The domain is pure"). This reads the source, so it
also catches imports that are never executed (behind ``TYPE_CHECKING`` or inside functions).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import coordinator.domain

DOMAIN = Path(coordinator.domain.__file__).parent
MODULES = sorted(DOMAIN.rglob("*.py"))
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core"}
FORBIDDEN = {
    "faust",
    "mode",
    "aiokafka",
    "confluent_kafka",
    "kafka",
    "rocksdict",
    "asyncio",
    "logging",
    "uuid",
    "time",
    "random",
    "secrets",
    "threading",
    "os",
    "socket",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "time_ns", "monotonic", "perf_counter"}


def package_of(path: Path) -> str:
    return ".".join(["coordinator", "domain", *path.relative_to(DOMAIN).parent.parts])


def imported_modules(tree: ast.AST, package: str) -> list[str]:
    """Every module the source imports, absolute, with relative imports resolved."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            found.append(".".join(part for part in (base, node.module or "") if part))
    return found


def impurities(source: str, package: str = "coordinator.domain") -> list[str]:
    tree = ast.parse(source)
    problems = []
    for module in imported_modules(tree, package):
        top = module.split(".")[0]
        if module == "coordinator.domain" or module.startswith("coordinator.domain."):
            continue
        if module == "coordinator.errors":  # the exception root: the standard library only
            continue
        if top in FORBIDDEN:
            problems.append(f"imports {module} (forbidden in the domain)")
        elif top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY:
            problems.append(f"imports {module} (neither the standard library nor pydantic)")
    problems.extend(
        f"reads a clock: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_CALLS
    )
    return problems


def test_the_domain_has_modules_to_check() -> None:
    names = {path.name for path in MODULES}

    assert {"decider.py", "state.py", "codec.py", "queries.py", "__init__.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_each_domain_module_imports_only_the_standard_library_and_pydantic_and_reads_no_clock(
    path: Path,
) -> None:
    source = path.read_text(encoding="utf-8")

    assert impurities(source, package_of(path)) == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import faust", "imports faust"),
        ("from aiokafka.producer import AIOKafkaProducer", "imports aiokafka.producer"),
        ("import confluent_kafka", "imports confluent_kafka"),
        ("import asyncio", "imports asyncio"),
        ("import logging", "imports logging"),
        ("from uuid import uuid4", "imports uuid"),
        ("from time import time", "imports time"),
        ("import random", "imports random"),
        ("from rocksdict import Rdict", "imports rocksdict"),
        ("import numpy", "neither the standard library nor pydantic"),
        ("from coordinator.kafka import producer", "imports coordinator.kafka"),
        ("from ..worker import agent", "imports coordinator.worker"),
        ("from datetime import datetime\nx = datetime.now()", "reads a clock: datetime.now()"),
        ("import datetime\nx = datetime.datetime.utcnow()", "reads a clock"),
        ("import time as t\nx = t.time()", "reads a clock: t.time()"),
        ("def f():\n    import logging", "imports logging"),
    ],
)
def test_the_scan_catches_what_it_is_meant_to_catch(source: str, problem: str) -> None:
    found = impurities(source, "coordinator.domain")

    assert any(problem in line for line in found), found


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import UTC, datetime, timedelta",
        "from pydantic import BaseModel",
        "import pydantic_core",
        "from coordinator.domain.model import PipelineInfo",
        "from .model import PipelineInfo",
        "from . import model",
    ],
)
def test_the_scan_lets_the_allowed_imports_through(source: str) -> None:
    assert impurities(source, "coordinator.domain") == []
