"""RegisterPipeline: given a registry, when a pipeline is registered, then ..."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coordinator.domain.commands import RegisterPipeline, UnregisterPipeline
from coordinator.domain.decider import Accepted
from coordinator.domain.events import PipelineRegistered
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import ErrorCode, StateSummary
from coordinator.domain.state import change_for

from .support import T0, assert_refused, context, given, register, registered, when


def test_registering_a_new_pipeline_emits_pipeline_registered() -> None:
    state = given()

    outcome = when(register("p1", "Pipeline 1", command_id="c1"), state)

    assert outcome.decision == Accepted(
        (
            PipelineRegistered(
                seq=1, command_id="c1", pipeline_id="p1", name="Pipeline 1", timestamp=T0
            ),
        )
    )


def test_a_registered_pipeline_starts_configured_with_nothing_counted() -> None:
    state = given()

    outcome = when(register("p1", "Pipeline 1"), state)

    assert outcome.after.pipeline("p1") == PipelineInfo(
        pipeline_id="p1",
        name="Pipeline 1",
        status=PipelineStatus.CONFIGURED,
        total_records=0,
        failed_records=0,
        cpu_percent=0.0,
        memory_mb=0,
        registered_at=T0,
        last_heartbeat=T0,
        status_since=T0,
    )
    assert outcome.after.summary.count(PipelineStatus.CONFIGURED) == 1
    assert outcome.after.summary.seq == 1


def test_the_reply_to_a_registration_is_the_state_summary_after_it() -> None:
    state = registered("p0")
    outcome = when(register("p1"), state)
    assert isinstance(outcome.decision, Accepted)

    reply = change_for(state, outcome.decision.events[0]).reply

    assert isinstance(reply, StateSummary)
    assert reply.seq == 2
    assert reply.pipeline_id == "p1"
    assert reply.pipeline == outcome.after.pipeline("p1")
    assert reply.total_pipelines == 2
    assert reply.count_by_status[PipelineStatus.CONFIGURED] == 2
    assert reply.last_updated == T0


def test_registering_a_registered_id_is_refused_as_a_business_error() -> None:
    state = registered("p1")

    outcome = when(register("p1", "Another name"), state)

    refusal = assert_refused(outcome, ErrorCode.PIPELINE_ALREADY_REGISTERED, dead_letter=False)
    assert "p1" in refusal.error.message


def test_a_pipeline_can_be_registered_again_after_unregistration_with_a_new_registered_at() -> None:
    later = T0 + timedelta(minutes=5)
    state = given(register("p1"), UnregisterPipeline(pipeline_id="p1"))

    outcome = when(register("p1", "Reborn"), state, context(later))

    info = outcome.after.pipeline("p1")
    assert info is not None
    assert info.name == "Reborn"
    assert info.registered_at == later


def test_ids_and_names_of_the_maximum_length_are_accepted() -> None:
    state = given()

    outcome = when(register("p" * 256, "n" * 256), state)

    assert isinstance(outcome.decision, Accepted)


@pytest.mark.parametrize(
    ("pipeline_id", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\t \n", "empty"),
        ("p" * 257, "at most 256"),
        ("p\x00", "control"),
        ("p\n1", "control"),
        ("p\x7f", "control"),
        ("p\x85", "control"),
    ],
)
def test_an_invalid_pipeline_id_is_refused_and_dead_lettered(
    pipeline_id: str, problem: str
) -> None:
    state = registered("p0")

    outcome = when(RegisterPipeline(pipeline_id=pipeline_id, name="Pipeline"), state)

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "pipelineId" in refusal.error.message
    assert problem in refusal.error.message


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("    ", "empty"),
        ("n" * 257, "at most 256"),
        ("User\x1bEvents", "control"),
        ("User\rEvents", "control"),
    ],
)
def test_an_invalid_name_is_refused_and_dead_lettered(name: str, problem: str) -> None:
    state = given()

    outcome = when(RegisterPipeline(pipeline_id="p1", name=name), state)

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "name" in refusal.error.message
    assert problem in refusal.error.message


def test_a_name_with_unicode_letters_and_inner_spaces_is_accepted() -> None:
    state = given()

    outcome = when(RegisterPipeline(pipeline_id="p-ü", name="Événements utilisateur 🚀"), state)

    assert isinstance(outcome.decision, Accepted)
    info = outcome.after.pipeline("p-ü")
    assert info is not None
    assert info.name == "Événements utilisateur 🚀"


def test_an_invalid_registration_of_a_registered_id_is_invalid_rather_than_a_duplicate() -> None:
    # Validation comes first: a bad name is the sender's bug whatever the registry holds.
    state = registered("p1")

    outcome = when(RegisterPipeline(pipeline_id="p1", name=" "), state)

    assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
