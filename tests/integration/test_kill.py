"""Kill test: SIGKILL the worker at random moments under a stream of mixed commands.

Afterwards the journal must hold each accepted change exactly once (see ``load.py`` for the
oracle), the worker's state must equal the fold of the journal, and every request must have been
answered.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.fixtures.workers import Deployment
from tests.integration.load import Stream, assert_exactly_once, fault_seed, mixed_commands

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMMANDS = 5000
KILLS = 6


def test_sigkill_at_random_moments_loses_and_repeats_nothing(deployment: Deployment) -> None:
    settings = deployment.settings
    worker = deployment.worker(snapshot_every=50).start()
    worker.wait_serving()
    seed = fault_seed()
    with deployment.client(timeout=30, retries=0) as client:
        reply_topic = client.reply_topic
        commands = mixed_commands(COMMANDS, reply_topic, seed=seed)
        stream = Stream(settings, commands, chunk=50, pause=0.6).start()
        rng = random.Random(f"timing-{seed}")
        kills_while_serving = 0
        for round_ in range(KILLS):
            if round_ > 0:
                # Most kills land while the worker applies commands, one during its recovery.
                if round_ == KILLS - 1:
                    worker.wait_for("msg=Recovering", 60)
                else:
                    worker.wait_serving(90)
                    kills_while_serving += 1
            time.sleep(rng.uniform(0.05, 2.5))  # where the kill lands, not a wait for anything
            worker.kill()
            worker.start()
        stream.wait()
        worker.wait_serving(120)
        verdict = assert_exactly_once(settings, client, reply_topic, commands, seed=seed)
    # The commands, and assert_exactly_once's status request.
    assert verdict.commands == COMMANDS + 1, f"{verdict.commands} commands [seed {seed}]"
    print(
        f"\n[kill] seed={seed} commands={verdict.commands} events={verdict.events} kills={KILLS} "
        f"whileServing={kills_while_serving} starts={worker.starts} "
        f"requests={verdict.requests} replies={verdict.replies}"
    )
