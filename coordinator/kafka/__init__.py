"""Everything that talks to Kafka through confluent-kafka: admin, the journal writer and readers."""
