"""Shared set-up for the unit tests: pure, fast, no broker, no clock."""

import sys
from pathlib import Path

# The package is not installed into the development virtualenv; make the checkout importable
# however pytest was started, so that `pytest tests/unit` needs no install step. (A no-op when
# pytest already put the repository root on the path.)
_REPOSITORY_ROOT = str(Path(__file__).resolve().parents[2])
if _REPOSITORY_ROOT not in sys.path:
    sys.path.insert(0, _REPOSITORY_ROOT)
