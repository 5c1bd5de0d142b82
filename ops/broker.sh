#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, one node, 127.0.0.1) from the jars of ops/kafka/pom.xml.
#
#   ./ops/broker.sh start     format storage if needed, start, wait until it serves
#   ./ops/broker.sh stop      stop the broker this directory started (by its PID file)
#   ./ops/broker.sh status    say whether it runs
#   ./ops/broker.sh logs      follow its log
#
# Environment: BROKER_NAME (default "broker": several can run side by side), BROKER_PORT (9092),
# CONTROLLER_PORT (BROKER_PORT + 1), COORDINATOR_DATA_DIR (default .data at the repository root).
# Data, configuration and logs live in $COORDINATOR_DATA_DIR/kafka/$BROKER_NAME.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

NAME="${BROKER_NAME:-broker}"
PORT="${BROKER_PORT:-9092}"
CONTROLLER="${CONTROLLER_PORT:-$((PORT + 1))}"
HOME_DIR="$DATA_DIR/kafka/$NAME"
PID_FILE="$HOME_DIR/broker.pid"
LOG_FILE="$HOME_DIR/broker.log"
START_TIMEOUT="${BROKER_START_TIMEOUT:-90}"

running_pid() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_config() {
  cat >"$HOME_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$HOME_DIR/data
num.partitions=1
# One node: internal topics (group offsets, transaction state) have one replica, so that
# transactions work at all.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
# Consumers join at once instead of waiting 3 s for others.
group.initial.rebalance.delay.ms=0
# A reply topic that does not exist must stay missing (the coordinator dead-letters), not be
# created by whoever names it.
auto.create.topics.enable=false
log.cleaner.backoff.ms=5000
PROPS
}

start() {
  "$OPS_DIR/setup.sh" kafka
  mkdir -p "$HOME_DIR"
  if pid="$(running_pid)"; then
    say "broker $NAME already running (pid $pid) on 127.0.0.1:$PORT"
    return 0
  fi
  if port_open "$PORT"; then
    die "port $PORT is taken by another process; set BROKER_PORT, or COORDINATOR_BROKER to use that broker"
  fi
  write_config
  if [ ! -f "$HOME_DIR/data/meta.properties" ]; then
    local cluster
    cluster="$(kafka_java kafka.tools.StorageTool random-uuid)"
    say "formatting storage in $HOME_DIR/data (cluster $cluster)"
    kafka_java kafka.tools.StorageTool format -t "$cluster" -c "$HOME_DIR/server.properties" \
      >"$HOME_DIR/format.log" 2>&1 || { cat "$HOME_DIR/format.log" >&2; die "format failed"; }
  fi
  : >"$LOG_FILE"
  local started=$SECONDS
  # setsid: a Ctrl-C meant for the coordinator in the foreground must not reach the broker.
  setsid java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$HOME_DIR" -Dlog4j.configuration="file:$OPS_DIR/kafka/broker-log4j.properties" \
    -cp "$KAFKA_CP" kafka.Kafka "$HOME_DIR/server.properties" \
    >"$HOME_DIR/stdout.log" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local pid=$!
  while ! grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null || ! port_open "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG_FILE" "$HOME_DIR/stdout.log" >&2 || true
      rm -f "$PID_FILE"
      die "broker exited during start (see $LOG_FILE)"
    fi
    if [ $((SECONDS - started)) -ge "$START_TIMEOUT" ]; then
      tail -n 30 "$LOG_FILE" >&2 || true
      stop
      die "broker did not start within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  say "broker $NAME started (pid $pid) on 127.0.0.1:$PORT in $((SECONDS - started))s; log: $LOG_FILE"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "broker $NAME is not running"
    rm -f "$PID_FILE"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "broker $NAME did not stop in 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  say "broker $NAME stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if pid="$(running_pid)"; then echo "running pid=$pid port=$PORT dir=$HOME_DIR"; else echo "stopped"; exit 3; fi
    ;;
  logs) exec tail -F "$LOG_FILE" ;;
  *) die "usage: $0 start|stop|status|logs" ;;
esac
