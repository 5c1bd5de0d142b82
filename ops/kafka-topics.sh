#!/usr/bin/env bash
# kafka-topics from the project's own Kafka jars, e.g.
#   ./ops/kafka-topics.sh --bootstrap-server 127.0.0.1:9092 --list
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$OPS_DIR/setup.sh" kafka
kafka_java org.apache.kafka.tools.TopicCommand "$@"
