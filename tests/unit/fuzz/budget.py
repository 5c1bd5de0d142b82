"""How hard the fuzz tests try: a few hundred inputs each by default, far more on request.

``HYPOTHESIS_PROFILE=fuzz`` multiplies every fuzz test's example count (by 100, or by
``FUZZ_SCALE`` when set), for a long run before a release or after touching the codec, the decider
or the batch builder. The default keeps the whole of ``tests/unit`` well under a minute.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
SCALE = int(os.environ.get("FUZZ_SCALE", "100")) if PROFILE == "fuzz" else 1


def fuzz(examples: int, **overrides: object) -> settings:
    """Settings for one fuzz test: ``examples`` inputs by default, scaled up by the profile."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        # Random byte strings and JSON documents are large and mostly rejected on purpose.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **overrides,  # type: ignore[arg-type]
    )
