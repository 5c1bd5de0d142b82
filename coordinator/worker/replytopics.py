"""Which reply topics exist: a reply to a missing topic must not stall the stream.

A topic not yet known is looked for, with one cluster metadata request at a time, for at most
``reply_topic_wait_ms`` (a client may create its topic just before it sends); a topic found
missing is then not waited for again for a while, so a flood of commands naming one does not
stall the stream once per command.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Set

MISSING_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.1


class ReplyTopics:
    def __init__(self, list_topics: Callable[[], set[str]], wait_seconds: float) -> None:
        self._list_topics = list_topics
        self._wait = wait_seconds
        self._known: set[str] = set()
        self._missing_until: dict[str, float] = {}

    def forget(self) -> None:
        """Drop what is known (a topic may have been deleted since)."""
        self._known.clear()

    async def resolve(self, wanted: Set[str]) -> set[str]:
        """Those of ``wanted`` that exist."""
        unknown = set(wanted) - self._known
        if not unknown:
            return set(wanted)
        deadline = time.monotonic() + self._wait
        while True:
            self._known = await asyncio.to_thread(self._list_topics)
            unknown -= self._known
            now = time.monotonic()
            recently_missing = all(self._missing_until.get(topic, 0.0) > now for topic in unknown)
            if not unknown or recently_missing or now >= deadline:
                break
            # The last look is at the deadline, not up to one poll interval after it.
            await asyncio.sleep(min(POLL_SECONDS, deadline - now))
        now = time.monotonic()
        # Forget what no longer needs remembering: topics found since, and graces that ran out
        # (else every name a command ever gave, however hostile, would be kept for good).
        self._missing_until = {
            topic: until
            for topic, until in self._missing_until.items()
            if until > now and topic not in self._known
        }
        for topic in unknown:
            self._missing_until[topic] = now + MISSING_GRACE_SECONDS
        return set(wanted) - unknown
