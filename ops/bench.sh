#!/usr/bin/env bash
# Benchmarks (GitHub issue 7): throughput, request/reply latency, recovery, memory, heartbeat
# capacity and snapshot stall, each printed beside a baseline measured in the same run.
#
#   ./ops/bench.sh                      the full run (the issue's sizes; tens of minutes)
#   ./ops/bench.sh --quick              small sizes, a few minutes
#   ./ops/bench.sh throughput latency   only these measurements
#   ./ops/bench.sh --profile throughput recovery   with py-spy samples of the worker
#   ./ops/bench.sh --help               every option
#
# Installs what is missing (like ./ops/test.sh), then runs `python -m bench`, which starts a
# private Kafka broker on free ports (data in .data/kafka/bench-<pid>) and worker processes, and
# stops and deletes them at the end, also on failure or Ctrl-C. Results and profiles are left in
# .data/bench/results-<run>/. Benchmarks are not tests: ./ops/test.sh does not run them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$OPS_DIR/setup.sh" python
"$OPS_DIR/setup.sh" kafka
cd "$ROOT"
exec "$VENV/bin/python" -m bench "$@"
