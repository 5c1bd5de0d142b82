#!/usr/bin/env bash
# kafka-console-producer from the project's own Kafka jars, e.g.
#   ./ops/kafka-console-producer.sh --bootstrap-server 127.0.0.1:9092 --topic coordinator.commands \
#     --property parse.key=true --property key.separator='|'
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$OPS_DIR/setup.sh" kafka
kafka_java kafka.tools.ConsoleProducer "$@"
