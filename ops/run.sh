#!/usr/bin/env bash
# Quick start, part 1: run the coordinator in the foreground until Ctrl-C.
#
# Installs what is missing (virtualenv, Python dependencies, Kafka jars), starts the local Kafka
# broker on 127.0.0.1:9092 unless COORDINATOR_BROKER names one, creates the topics, and runs one
# worker. On exit it stops the broker it started (and only that one).
#
# COORDINATOR_SKIP_SETUP=1 skips ./ops/setup.sh (everything is installed already);
# COORDINATOR_VENV (default .venv) is the virtualenv whose bin/coordinator is run. Together they
# let tests/ops/test_run_supervisor.py run this script's supervisor loop with a stub coordinator.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${COORDINATOR_SKIP_SETUP:-}" != 1 ]; then
  "$OPS_DIR/setup.sh"
fi

started_broker=""
cleanup() {
  local status=$?
  if [ -n "$started_broker" ]; then
    "$OPS_DIR/broker.sh" stop || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${COORDINATOR_BROKER:-}" ]; then
  if ! BROKER_NAME=broker "$OPS_DIR/broker.sh" status >/dev/null 2>&1; then
    started_broker=yes
  fi
  "$OPS_DIR/broker.sh" start
  export COORDINATOR_BROKER="127.0.0.1:${BROKER_PORT:-9092}"
fi
export COORDINATOR_DATA_DIR="$DATA_DIR"

"$VENV/bin/coordinator" topics create
say "coordinator running against $COORDINATOR_BROKER (Ctrl-C to stop)"
# Not exec: the trap above must run after the worker exits, to stop the broker. A worker that
# exits with 75 asks to be restarted (its consumer stalled); anything else ends the run.
while true; do
  "$VENV/bin/coordinator" worker &
  worker=$!
  trap 'kill -INT "$worker" 2>/dev/null; wait "$worker"; exit 130' INT
  trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker"; exit 143' TERM
  status=0
  wait "$worker" || status=$?
  [ "$status" -eq 75 ] || exit "$status"
  say "worker asked to be restarted (exit 75); restarting"
done
