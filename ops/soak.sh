#!/usr/bin/env bash
# Soak test: mixed load with periodic SIGKILLs of the active worker, then the exactly-once checks.
# Not part of ./ops/test.sh. Options: --minutes M (10), --kill-every S (45), --rate R (200/s).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$OPS_DIR/setup.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m tests.soak "$@"
