"""Coordinator: the event-sourced registry of a streaming platform's data pipelines, on Kafka."""

__version__ = "0.1.0"
