# Shared by the ops scripts: paths, defaults, and small helpers. Source it; do not run it.
# shellcheck shell=bash

OPS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$OPS_DIR/.." && pwd)"
DATA_DIR="${COORDINATOR_DATA_DIR:-$ROOT/.data}"
VENV="${COORDINATOR_VENV:-$ROOT/.venv}"
KAFKA_LIBS="$OPS_DIR/kafka/libs"
KAFKA_CP="$KAFKA_LIBS/*"

say() { printf '%s %s\n' "[$(basename "$0")]" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

find_python() {
  local candidate
  for candidate in "${COORDINATOR_PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

file_hash() { sha256sum "$@" | sha256sum | cut -c1-16; }

# Java class runner for the Kafka jars, with a quiet log4j setup for the tools.
kafka_java() {
  [ -d "$KAFKA_LIBS" ] || die "Kafka jars missing; run ./ops/setup.sh"
  java -Xmx512m -Dlog4j.configuration="file:$OPS_DIR/kafka/tools-log4j.properties" \
    -cp "$KAFKA_CP" "$@"
}
