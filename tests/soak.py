"""Soak test (not part of the default suite): mixed load with periodic kills, for a while.

    ./ops/soak.sh --minutes 30 --kill-every 45 --rate 200

Starts a private broker, an active worker and a hot standby, streams the mixed command load of
the fault tests at ``--rate`` commands/s, and every ``--kill-every`` seconds SIGKILLs the active
worker (the standby takes over; the killed one restarts as the new standby). At the end it checks
what the kill test checks (the journal is exactly one crash-free pass over the commands, the
state is the fold of the journal, every request was answered) and prints what it did.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.fixtures.broker import Broker, LocalBroker
from tests.fixtures.workers import Worker, make_deployment
from tests.integration.load import Stream, assert_exactly_once, mixed_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run the load")
    parser.add_argument("--kill-every", type=float, default=45.0, help="seconds between kills")
    parser.add_argument("--rate", type=float, default=200.0, help="commands per second")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    options = parser.parse_args(argv)

    started = time.monotonic()
    broker = LocalBroker("soak").start()
    workdir = Path(tempfile.mkdtemp(prefix="coordinator-soak-"))
    deployment = make_deployment(Broker(broker.bootstrap, "local", 0.0, broker.port), workdir)
    kills: list[float] = []
    takeovers: list[float] = []
    try:
        active: Worker = deployment.worker("a").start().wait_serving()
        standby: Worker = deployment.worker("b").start()
        standby.wait_recovered()
        with (
            deployment.client(timeout=60, retries=0) as client,
            deployment.client(timeout=60, retries=0) as probe,
        ):
            count = int(options.rate * options.minutes * 60)
            commands = mixed_commands(count, client.reply_topic, options.seed, tag="soak")
            chunk = max(1, int(options.rate / 10))
            stream = Stream(deployment.settings, commands, chunk=chunk, pause=0.1).start()
            rng = random.Random(options.seed)
            deadline = started + options.minutes * 60
            while not stream.done.is_set() and time.monotonic() < deadline + 600:
                time.sleep(options.kill_every * rng.uniform(0.5, 1.5))
                if stream.done.is_set():
                    break
                killed_at = time.monotonic()
                active.kill()
                kills.append(killed_at - started)
                probe.request({"type": "GetSystemStatus"})
                takeovers.append(time.monotonic() - killed_at)
                active.start()
                active.wait_recovered(120)
                active, standby = standby, active
                print(
                    f"[soak] t={killed_at - started:7.1f}s kill #{len(kills)}: "
                    f"answered again after {takeovers[-1]:.2f} s",
                    flush=True,
                )
            stream.wait(900)
            verdict = assert_exactly_once(deployment.settings, client, client.reply_topic, commands)
    finally:
        for worker in deployment.workers:
            worker.stop()
        broker.remove()
    print(
        f"[soak] OK after {time.monotonic() - started:.0f} s: {verdict.commands} commands, "
        f"{verdict.events} events exactly once (journal = one crash-free pass), "
        f"state = fold of the journal, {verdict.requests} requests all answered; "
        f"{len(kills)} kills, takeover-to-answer max {max(takeovers, default=0):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
