#!/usr/bin/env bash
# Quick start, part 2: the whole test suite (static checks, unit and integration tests).
#
# Installs what is missing, like ./ops/run.sh. The integration tests start their own Kafka broker
# (a separate one, on a free port, under .data/kafka/test-<pid>) and stop it at the end; set
# COORDINATOR_TEST_BROKER=host:port to use a running broker instead, or
# COORDINATOR_TEST_BROKER=testcontainers where a Docker engine exists. Extra arguments go to
# pytest (e.g. ./ops/test.sh tests/unit -k codec).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$OPS_DIR/setup.sh"
cd "$ROOT"
export PATH="$VENV/bin:$PATH"

started=$SECONDS
say "static checks: ruff, mypy --strict"
ruff check coordinator topics tests bench
ruff format --check coordinator topics tests bench
mypy coordinator topics bench

say "tests: pytest"
status=0
pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  die "pytest collected no tests"
fi
say "finished in $((SECONDS - started))s (pytest exit $status)"
exit "$status"
