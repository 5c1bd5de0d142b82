#!/usr/bin/env bash
# kafka-console-consumer from the project's own Kafka jars, e.g.
#   ./ops/kafka-console-consumer.sh --bootstrap-server 127.0.0.1:9092 --topic coordinator.replies \
#     --from-beginning --isolation-level read_committed
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$OPS_DIR/setup.sh" kafka
kafka_java org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
