"""Which reply topics exist: known ones answer at once, unknown ones are looked for a while, and
one found missing is not waited for again within the grace period.

Time is a fake clock: the module's own polling sleeps advance it, so no test waits for real
(except the one that runs the real clock with a tiny wait)."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Set

import pytest

from coordinator.worker import replytopics as replytopics_module
from coordinator.worker.replytopics import MISSING_GRACE_SECONDS, POLL_SECONDS, ReplyTopics

A = "coordinator.replies.a"
B = "coordinator.replies.b"
C = "coordinator.replies.c"


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Cluster:
    """The topics that exist, and how often they were listed."""

    def __init__(self, *topics: str) -> None:
        self.topics = set(topics)
        self.listings = 0
        self.on_listing: Callable[[int], None] | None = None

    def list_topics(self) -> set[str]:
        self.listings += 1
        if self.on_listing is not None:
            self.on_listing(self.listings)
        return set(self.topics)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(replytopics_module, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr(
        replytopics_module,
        "asyncio",
        types.SimpleNamespace(to_thread=asyncio.to_thread, sleep=fake.sleep),
    )
    return fake


def resolve(reply_topics: ReplyTopics, wanted: Set[str]) -> set[str]:
    return asyncio.run(reply_topics.resolve(wanted))


def test_nothing_wanted_lists_nothing(clock: Clock) -> None:
    cluster = Cluster(A)
    assert resolve(ReplyTopics(cluster.list_topics, 1.0), set()) == set()
    assert cluster.listings == 0


def test_known_topics_answer_without_listing(clock: Clock) -> None:
    cluster = Cluster(A, B)
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)

    assert resolve(reply_topics, {A}) == {A}
    assert cluster.listings == 1
    # B came with the first listing: known too.
    assert resolve(reply_topics, {A, B}) == {A, B}
    assert resolve(reply_topics, {B}) == {B}
    assert cluster.listings == 1
    assert clock.sleeps == []


def test_an_unknown_topic_is_looked_for_until_the_wait_then_reported_missing(
    clock: Clock,
) -> None:
    cluster = Cluster(A)
    reply_topics = ReplyTopics(cluster.list_topics, 0.25)
    start = clock.now

    assert resolve(reply_topics, {A, B}) == {A}

    # Listed at 0, 0.1, 0.2 and, last, at the deadline 0.25 (not 0.3).
    assert cluster.listings == 4
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.05])
    assert clock.now - start == pytest.approx(0.25)


def test_a_zero_wait_looks_once(clock: Clock) -> None:
    cluster = Cluster()
    assert resolve(ReplyTopics(cluster.list_topics, 0.0), {A}) == set()
    assert cluster.listings == 1
    assert clock.sleeps == []


def test_a_topic_created_while_waiting_is_found(clock: Clock) -> None:
    cluster = Cluster()

    def create_a_on_the_third_listing(listing: int) -> None:
        if listing == 3:
            cluster.topics.add(A)

    cluster.on_listing = create_a_on_the_third_listing
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)

    assert resolve(reply_topics, {A}) == {A}
    assert cluster.listings == 3
    assert clock.sleeps == pytest.approx([POLL_SECONDS, POLL_SECONDS])
    # Found, so known from now on.
    assert resolve(reply_topics, {A}) == {A}
    assert cluster.listings == 3


def test_a_topic_missing_recently_is_not_waited_for_again_within_the_grace(
    clock: Clock,
) -> None:
    cluster = Cluster()
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)

    assert resolve(reply_topics, {A}) == set()
    waited = len(clock.sleeps)
    assert waited > 0

    listings = cluster.listings
    clock.now += MISSING_GRACE_SECONDS / 2
    assert resolve(reply_topics, {A}) == set()
    # One look, no wait.
    assert cluster.listings == listings + 1
    assert len(clock.sleeps) == waited


def test_a_topic_in_its_grace_is_still_found_once_it_exists(clock: Clock) -> None:
    cluster = Cluster()
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)
    assert resolve(reply_topics, {A}) == set()

    cluster.topics.add(A)
    clock.now += 1.0
    assert resolve(reply_topics, {A}) == {A}


def test_after_the_grace_a_missing_topic_is_waited_for_again(clock: Clock) -> None:
    cluster = Cluster()
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)
    assert resolve(reply_topics, {A}) == set()
    waited = len(clock.sleeps)

    clock.now += MISSING_GRACE_SECONDS + 1.0
    start = clock.now
    assert resolve(reply_topics, {A}) == set()
    assert len(clock.sleeps) == 2 * waited
    assert clock.now - start == pytest.approx(1.0)


def test_a_new_unknown_topic_is_waited_for_even_beside_one_in_its_grace(clock: Clock) -> None:
    cluster = Cluster()
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)
    assert resolve(reply_topics, {A}) == set()

    start = clock.now
    assert resolve(reply_topics, {A, B}) == set()
    assert clock.now - start == pytest.approx(1.0)

    # Both are now in their grace.
    start = clock.now
    assert resolve(reply_topics, {A, B}) == set()
    assert clock.now == start


def test_forget_makes_it_list_again(clock: Clock) -> None:
    cluster = Cluster(A)
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)
    assert resolve(reply_topics, {A}) == {A}
    assert cluster.listings == 1

    reply_topics.forget()
    assert resolve(reply_topics, {A}) == {A}
    assert cluster.listings == 2


def test_forget_notices_a_deleted_topic(clock: Clock) -> None:
    cluster = Cluster(A)
    reply_topics = ReplyTopics(cluster.list_topics, 0.5)
    assert resolve(reply_topics, {A}) == {A}

    cluster.topics.clear()
    assert resolve(reply_topics, {A}) == {A}  # still known: nothing was listed
    reply_topics.forget()
    assert resolve(reply_topics, {A}) == set()


def test_a_topic_found_and_later_deleted_is_waited_for_again(clock: Clock) -> None:
    # Its old grace must not outlive its being found: a client that deletes and creates its topic
    # again gets the same wait as the first time.
    cluster = Cluster()
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)
    assert resolve(reply_topics, {A}) == set()
    cluster.topics.add(A)
    clock.now += 1.0
    assert resolve(reply_topics, {A}) == {A}

    cluster.topics.clear()
    reply_topics.forget()
    clock.now += 1.0
    start = clock.now
    assert resolve(reply_topics, {A}) == set()
    assert clock.now - start == pytest.approx(1.0)


def test_graces_that_ran_out_are_not_kept(clock: Clock) -> None:
    # A flood of commands naming ever new missing topics must not grow memory without bound.
    cluster = Cluster()
    reply_topics = ReplyTopics(cluster.list_topics, 0.0)

    async def flood() -> None:
        for n in range(200):
            assert await reply_topics.resolve({f"coordinator.replies.{n}"}) == set()
            clock.now += 1.0

    asyncio.run(flood())
    assert len(reply_topics._missing_until) <= MISSING_GRACE_SECONDS + 1


def test_a_listing_that_fails_raises_and_leaves_what_is_known(clock: Clock) -> None:
    cluster = Cluster(A)
    reply_topics = ReplyTopics(cluster.list_topics, 1.0)
    assert resolve(reply_topics, {A}) == {A}

    def broken(listing: int) -> None:
        raise ConnectionError("broker unreachable")

    cluster.on_listing = broken
    with pytest.raises(ConnectionError):
        resolve(reply_topics, {B})
    assert resolve(reply_topics, {A}) == {A}


def test_the_real_clock_with_a_tiny_wait() -> None:
    cluster = Cluster(A)
    reply_topics = ReplyTopics(cluster.list_topics, 0.03)

    assert resolve(reply_topics, {A, C}) == {A}
    assert cluster.listings >= 2
    listings = cluster.listings
    assert resolve(reply_topics, {C}) == set()
    assert cluster.listings == listings + 1
