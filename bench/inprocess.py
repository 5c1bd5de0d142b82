"""The shared half of the in-process measurements (``bench.hotpath``, ``bench.fold``): which code
to measure (the working tree, another tree, or a commit exported like ``python -m bench --ref``)
and running the measurement in a child process on that code."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH_ROOT = Path(__file__).resolve().parents[1]


def add_source_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--ref", help="measure the code of this git commit")
    source.add_argument("--code", help="measure the code in this source tree")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)


def code_for(ref: str | None, code: str | None) -> Path:
    if code is not None:
        return Path(code).resolve()
    if ref is None:
        return BENCH_ROOT
    from bench.__main__ import export

    return export(ref)[0]


def run_inner(tree: Path, command: list[str]) -> dict[str, float] | None:
    """Run ``command`` (a Python child) on the code of ``tree``; the JSON its last line prints,
    or ``None`` (its error output copied to ours) if it failed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(BENCH_ROOT)]))
    done = subprocess.run(
        [sys.executable, *command], env=env, cwd=tree, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return None
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures
