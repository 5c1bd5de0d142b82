"""Benchmarks of the coordinator against a real local Kafka broker (``./ops/bench.sh``).

Benchmarks are not tests: they print figures, each beside a baseline measured in the same run
on the same broker (a plain confluent-kafka loop, a bare echo service, a raw read of the journal,
the idle worker), and never assert on absolute times. ``python -m bench --help`` lists the
measurements; ``BENCHMARKS.md`` records a run and how to reproduce it.
"""
