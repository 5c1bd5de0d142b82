"""The one exception root of the coordinator, and its few named kinds.

Business refusals (a pipeline not found, a duplicate registration) are replies, never exceptions;
these are for the things that stop a process or a call from doing its job.
"""

from __future__ import annotations


class CoordinatorError(Exception):
    """Root of every exception the coordinator raises on purpose."""


class ConfigurationError(CoordinatorError):
    """A setting is missing, malformed or contradicts another."""


class BrokerUnavailableError(CoordinatorError):
    """No Kafka broker answered at the configured address within the allowed time."""


class FencedError(CoordinatorError):
    """Another worker took over the commands partition; this one must not write again."""


class RecoveryError(CoordinatorError):
    """State could not be rebuilt: the journal, snapshots and local data disagree or are gone."""


class JournalError(CoordinatorError):
    """Appending to or reading the events topic failed in a way that retrying cannot fix."""


class WriterBrokenError(CoordinatorError):
    """The journal writer's producer hit a fatal error that is not fencing; a new producer must
    be created (take over again) or the process restarted."""
