#!/usr/bin/env bash
# Install what is missing, and nothing else: the virtualenv with the Python dependencies
# (pyproject.toml) and the Kafka jars (ops/kafka/pom.xml). Safe to run again: each part is redone
# only when its inputs changed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

setup_python() {
  local python stamp want
  python="$(find_python)" || die "Python 3.11 or newer is needed (set COORDINATOR_PYTHON)"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  stamp="$VENV/.coordinator-installed"
  want="$(file_hash "$ROOT/pyproject.toml")"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python dependencies (pyproject.toml)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]"
    echo "$want" >"$stamp"
  fi
}

setup_kafka() {
  local stamp want
  command -v java >/dev/null || die "Java 17 is needed to run the Kafka broker"
  stamp="$KAFKA_LIBS/.installed"
  want="$(file_hash "$OPS_DIR/kafka/pom.xml")"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    command -v mvn >/dev/null || die "Maven is needed to fetch the Kafka jars"
    say "fetching Kafka jars with Maven (ops/kafka/pom.xml)"
    rm -rf "$KAFKA_LIBS"
    mvn -q -B -f "$OPS_DIR/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS"
    echo "$want" >"$stamp"
  fi
}

# kcat (Debian package kcat) produces compressed records for tests/integration/test_compression.py.
# Installed with apt-get when this runs as root; otherwise say what is missing (those tests fail
# without it, they never skip).
setup_kcat() {
  command -v kcat >/dev/null && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing kcat (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
    command -v kcat >/dev/null || die "apt-get did not install kcat"
  else
    say "kcat not found: tests/integration/test_compression.py needs it (install the kcat package)"
  fi
}

# promtool (in the Debian package prometheus) checks ops/monitoring/alerts.yml and runs
# tests/ops/alerts_test.yml for tests/ops/test_monitoring.py. Installed with apt-get when this
# runs as root; only promtool is wanted, so the Prometheus server the package starts under
# systemd is stopped and disabled again. Otherwise say what is missing (that test fails without
# it, it never skips).
setup_promtool() {
  command -v promtool >/dev/null && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing promtool (apt-get install prometheus)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
      >/dev/null
    command -v promtool >/dev/null || die "apt-get did not install promtool"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
  else
    say "promtool not found: tests/ops/test_monitoring.py needs it (install the prometheus package)"
  fi
}

# The Compose Specification's JSON schema, for the test that checks docker-compose.yml where no
# Docker engine runs. It ships in the compose-go module; fetch it through the Go module proxy.
COMPOSE_GO="github.com/compose-spec/compose-go/v2@v2.16.2"
setup_compose_schema() {
  local target="$ROOT/.cache/compose-spec.json" dir
  [ -f "$target" ] && return 0
  if ! command -v go >/dev/null; then
    say "go not found: the docker-compose.yml schema test will use 'docker compose config' instead"
    return 0
  fi
  mkdir -p "$ROOT/.cache/gomod"
  dir="$(cd "$ROOT/.cache" && GOMODCACHE="$ROOT/.cache/gomod" GOFLAGS=-modcacherw \
    go mod download -json "$COMPOSE_GO" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -f "$dir/schema/compose-spec.json" ] || die "compose schema not found in $COMPOSE_GO"
  cp "$dir/schema/compose-spec.json" "$target"
}

case "${1:-all}" in
  python) setup_python ;;
  kafka) setup_kafka ;;
  compose-schema) setup_compose_schema ;;
  kcat) setup_kcat ;;
  promtool) setup_promtool ;;
  all) setup_python; setup_kafka; setup_kcat; setup_promtool; setup_compose_schema ;;
  *) die "usage: $0 [all|python|kafka|kcat|promtool|compose-schema]" ;;
esac
