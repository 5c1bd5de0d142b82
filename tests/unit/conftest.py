"""Shared set-up for the unit tests: pure, fast, no broker, no clock."""

import sys
from pathlib import Path

# The package is not installed into the development virtualenv, and pytest puts only `tests/` on
# the import path (the unit tests are a package); make the checkout itself importable so that
# `pytest tests/unit` works from the repository root without an install step.
_REPOSITORY_ROOT = str(Path(__file__).resolve().parents[2])
if _REPOSITORY_ROOT not in sys.path:
    sys.path.insert(0, _REPOSITORY_ROOT)
