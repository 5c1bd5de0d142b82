"""A long fold of the journal in a child process, so that the worker's heap never holds its peak.

Folding a long journal (a full replay, or a local table far behind) keeps every pipeline it has
seen in memory as a read cache: about 2.5 KB each as pydantic models, 250 MB at 100,000
pipelines. CPython's allocator hands an arena back to the system only once every object in it is
freed, and a few hundred objects that outlive the fold (allocated meanwhile, here and in the
libraries) keep most of those arenas resident for the life of the worker: the memory benchmark
measured 186 MB per 100,000 pipelines after a replay in-process, against 15 MB after a restart.

So a fold of more than ``recovery.CHILD_FOLD_EVENTS`` offsets runs in ``python -m
coordinator.worker.replay``: the worker closes its RocksDB table, the child opens the same
directory, folds, writes and exits, and the worker opens the table again. The settings go to the
child on its stdin (secrets included, never on its command line); its log lines go to the
worker's stderr; its answer is one JSON line on stdout.
"""

from __future__ import annotations

import json
import logging.config
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from coordinator.config import Settings
from coordinator.errors import RecoveryError
from coordinator.kafka.reader import OffsetOutOfRangeError, committed_consumer
from coordinator.store.table import StateTable
from coordinator.worker.memory import collect_less_often
from coordinator.worker.recovery import catch_up

log = logging.getLogger(__name__)

EXIT_REFUSED = 3
"""The child's exit code when the journal cannot be folded onto the table (RecoveryError)."""


def settings_document(settings: Settings) -> str:
    """``settings`` as JSON, secrets in clear (for a child process's stdin only)."""
    document = settings.model_dump(mode="json")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            document[name] = value.get_secret_value()
    return json.dumps(document)


def fold_in_child(settings: Settings, table: StateTable) -> int:
    """``catch_up`` of ``table`` by a child process; the events it folded."""
    log.info("msg=Folding in a child process table=%s seq=%d", table.path, table.summary.seq)
    table.close()
    try:
        child = subprocess.run(  # noqa: S603 - this interpreter, this module, our own path
            [sys.executable, "-m", "coordinator.worker.replay", str(table.path)],
            input=settings_document(settings).encode(),
            stdout=subprocess.PIPE,
            check=False,
        )
    finally:
        table.reopen()
    lines = child.stdout.decode("utf-8", "replace").strip().splitlines()
    answer: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if child.returncode != 0 or "replayed" not in answer:
        reason = answer.get("error", f"the replay process exited with {child.returncode}")
        raise RecoveryError(str(reason))
    return int(answer["replayed"])


def main(path: Path) -> int:
    settings = Settings.model_validate(json.loads(sys.stdin.read()))
    from coordinator.worker.run import logging_config  # the worker's own log format

    logging.config.dictConfig(logging_config(settings.log_level))
    collect_less_often()
    table = StateTable(path)
    consumer = committed_consumer(settings, "replay")
    try:
        replayed = catch_up(settings, table, consumer, may_fork=False)
    except (RecoveryError, OffsetOutOfRangeError) as exc:
        _answer({"error": str(exc)})
        return EXIT_REFUSED
    finally:
        consumer.close()
        table.close()
    _answer({"replayed": replayed})
    return 0


def _answer(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
