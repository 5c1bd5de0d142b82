"""Kill test: SIGKILL the worker at random moments under a stream of mixed commands.

Afterwards the journal must hold each accepted change exactly once (see ``load.py`` for the
oracle), the worker's state must equal the fold of the journal, and every request must have been
answered.

It runs twice: with uncompressed commands, and with a shorter stream whose chunks are compressed
with each Kafka codec in turn (lz4, zstd, snappy, gzip), so that the worker is killed and recovers
in the middle of compressed batches.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fixtures.workers import Deployment
from tests.integration import rawbatch
from tests.integration.load import Stream, assert_exactly_once, fault_seed, mixed_commands

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMMANDS = 5000
COMPRESSED_COMMANDS = 2000
CODECS = ("lz4", "zstd", "snappy", "gzip")
KILLS = 6
ROOT = Path(__file__).resolve().parents[2]


def stored_codecs(deployment: Deployment) -> Counter[str] | None:
    """Batches of the commands topic by codec, as the broker stored them (read from its segment
    files: only the session's local broker's are on this machine; None for another broker)."""
    if deployment.broker.kind != "local":
        return None
    topic = deployment.settings.topics.commands
    directory = ROOT / ".data" / "kafka" / f"test-{os.getpid()}" / "data" / f"{topic}-0"
    assert directory.is_dir(), f"no partition directory {directory}"
    return Counter(rawbatch.codec_of(batch.data) for batch in rawbatch.stored_batches(directory))


@pytest.mark.parametrize(
    ("count", "codecs"),
    [(COMMANDS, ("none",)), (COMPRESSED_COMMANDS, CODECS)],
    ids=["uncompressed", "rotating-codecs"],
)
def test_sigkill_at_random_moments_loses_and_repeats_nothing(
    deployment: Deployment, count: int, codecs: tuple[str, ...]
) -> None:
    settings = deployment.settings
    worker = deployment.worker(snapshot_every=50).start()
    worker.wait_serving()
    seed = fault_seed()
    with deployment.client(timeout=30, retries=0) as client:
        reply_topic = client.reply_topic
        commands = mixed_commands(count, reply_topic, seed=seed)
        stream = Stream(settings, commands, chunk=50, pause=0.6, codecs=codecs).start()
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
    assert verdict.commands == count + 1, f"{verdict.commands} commands [seed {seed}]"
    batches = stored_codecs(deployment)
    if batches is not None:
        # The stream's batches were stored as sent (the status request is uncompressed).
        assert set(codecs) <= set(batches), f"stored batches by codec: {dict(batches)}"
    print(
        f"\n[kill] seed={seed} codecs={','.join(codecs)} commands={verdict.commands} "
        f"events={verdict.events} kills={KILLS} whileServing={kills_while_serving} "
        f"starts={worker.starts} requests={verdict.requests} replies={verdict.replies} "
        f"batches={dict(batches) if batches is not None else 'not on this machine'}"
    )
