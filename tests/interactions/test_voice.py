"""Call control through the voice gateway: hold/resume with hold time, mute, conference with a
colleague or a number (the colleague is busy on voice meanwhile), supervisor listen/whisper/
barge, participants leaving, and the end of the call ending everyone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest

from apps.core.actors import SYSTEM
from apps.core.exceptions import NotAllowed
from apps.interactions import services, voice
from apps.interactions.exceptions import (
    AgentUnavailable,
    InvalidTarget,
    InvalidTransition,
    NotAVoiceInteraction,
    UnknownAction,
    VoiceGatewayError,
)
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentState,
    Interaction,
    InteractionParticipant,
    InteractionStatus,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)


def _call(agent: AgentProfile, queue: Any, channel: str = "voice") -> Interaction:
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel=channel)
    interaction.refresh_from_db()
    assert interaction.agent_id == agent.pk
    return services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)


def _commands(interaction: Interaction) -> list[str]:
    return [
        str(data["command"])
        for data in interaction.events.filter(kind="voice_gateway")
        .order_by("id")
        .values_list("data", flat=True)
    ]


def _voice_load(agent: AgentProfile) -> int:
    return AgentCapacity.objects.get(agent=agent, channel="voice").load


class Refusing:
    """A provider that refuses everything."""

    name = "refusing"

    def __getattr__(self, command: str) -> Callable[..., None]:
        def refuse(*args: object, **kwargs: object) -> None:
            raise VoiceGatewayError(f"provider refused {command}")

        return refuse


@pytest.fixture
def refusing_gateway() -> Iterator[None]:
    previous = voice.register(Refusing())  # type: ignore[arg-type]
    try:
        yield
    finally:
        voice.register(previous)


def test_the_simulator_is_the_default_gateway_until_a_connector_registers_one() -> None:
    assert isinstance(voice.gateway(), voice.SimulatorGateway)
    assert isinstance(voice.gateway(), voice.VoiceGateway)
    custom = voice.SimulatorGateway()
    previous = voice.register(custom)
    try:
        assert voice.gateway() is custom
    finally:
        voice.register(previous)
    assert isinstance(voice.gateway(), voice.SimulatorGateway)


def test_hold_and_resume_count_hold_time_and_mute_is_separate() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    call = _call(agent, queue)

    with mock.patch("django.utils.timezone.now", return_value=T0):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="hold")
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="mute")
    call.refresh_from_db()
    assert (call.on_hold, call.muted, call.hold_started_at, call.hold_count) == (True, True, T0, 1)
    with mock.patch("django.utils.timezone.now", return_value=T0 + dt.timedelta(seconds=42)):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="resume")
    with mock.patch("django.utils.timezone.now", return_value=T0 + dt.timedelta(seconds=60)):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="hold")
    with mock.patch("django.utils.timezone.now", return_value=T0 + dt.timedelta(seconds=70)):
        services.interaction_end(actor=agent.user, interaction_id=call.pk)  # a hold still running ends

    call.refresh_from_db()
    assert (call.on_hold, call.muted, call.hold_started_at, call.hold_seconds, call.hold_count) == (
        False,
        False,
        None,
        52,
        2,
    )
    assert _commands(call) == ["hold", "mute", "resume", "hold", "hang_up"]
    resume = call.events.get(kind="resume")
    assert (resume.from_status, resume.to_status, resume.data) == ("active", "active", {"held_seconds": 42})


def test_second_clicks_and_wrong_calls_are_refused_and_change_nothing(make_user: Callable[..., Any]) -> None:
    queue = make_queue()
    agent = make_agent(queue)
    colleague = make_agent(queue, available=False)
    chat = _call(agent, queue, channel="chat")
    call = _call(agent, queue)
    call.refresh_from_db()
    before = (call.version, call.on_hold, call.muted, call.events.count())

    with pytest.raises(InvalidTransition, match="not on hold"):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="resume")
    with pytest.raises(InvalidTransition, match="not muted"):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="unmute")
    with pytest.raises(UnknownAction):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="record")
    with pytest.raises(NotAllowed):
        services.interaction_voice_control(actor=colleague.user, interaction_id=call.pk, action="hold")
    with pytest.raises(NotAllowed):  # supervisors listen, whisper or barge instead
        services.interaction_voice_control(
            actor=make_user("Supervisor"), interaction_id=call.pk, action="hold"
        )
    with pytest.raises(NotAVoiceInteraction):
        services.interaction_voice_control(actor=agent.user, interaction_id=chat.pk, action="hold")

    call.refresh_from_db()
    assert (call.version, call.on_hold, call.muted, call.events.count()) == before
    services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="hold")
    with pytest.raises(InvalidTransition, match="already on hold"):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="hold")
    services.interaction_end(actor=agent.user, interaction_id=call.pk)
    with pytest.raises(InvalidTransition, match="wrap_up, not active"):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="resume")


def test_a_refused_command_records_nothing(refusing_gateway: None) -> None:
    queue = make_queue()
    agent = make_agent(queue)
    call = _call(agent, queue)
    call.refresh_from_db()
    before = (call.version, call.on_hold, call.events.count())

    with pytest.raises(VoiceGatewayError, match="provider refused hold"):
        services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="hold")
    with pytest.raises(VoiceGatewayError):
        services.interaction_end(actor=agent.user, interaction_id=call.pk)

    call.refresh_from_db()
    assert (call.version, call.on_hold, call.events.count()) == before
    assert call.status == InteractionStatus.ACTIVE


def test_a_conferenced_colleague_is_busy_on_voice_until_they_leave_then_takes_a_waiting_call() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    colleague = make_agent()  # in no queue yet, available
    call = _call(agent, queue)

    participant = services.interaction_conference_add(
        actor=agent.user, interaction_id=call.pk, to_agent_id=colleague.pk
    )

    colleague.refresh_from_db()
    assert (participant.role, participant.agent_id, participant.user_id, participant.left_at) == (
        "conference",
        colleague.pk,
        colleague.user_id,
        None,
    )
    assert (_voice_load(colleague), colleague.real_time_load, colleague.state) == (1, 1, AgentState.BUSY)
    # Routing offers a conferenced agent nothing: a new call waits.
    colleague.queues.set([queue])
    waiting = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    assert waiting.status == InteractionStatus.QUEUED
    with pytest.raises(InvalidTransition, match="already on the call"):
        services.interaction_conference_add(
            actor=agent.user, interaction_id=call.pk, to_agent_id=colleague.pk
        )

    services.interaction_participant_leave(actor=colleague.user, participant_id=participant.pk)

    participant.refresh_from_db()
    waiting.refresh_from_db()
    colleague.refresh_from_db()
    assert participant.left_at is not None
    assert (waiting.status, waiting.agent_id) == (InteractionStatus.OFFERED, colleague.pk)
    assert colleague.state == AgentState.OFFERED
    assert _commands(call) == ["conference_add", "participant_remove"]
    assert list(call.events.order_by("id").values_list("kind", flat=True))[-3:] == [
        "conference_added",
        "voice_gateway",
        "participant_left",
    ]


def test_a_number_is_normalized_and_an_unavailable_colleague_is_refused() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    away = make_agent(available=False)
    call = _call(agent, queue)
    chat = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    call.refresh_from_db()
    version = call.version

    with pytest.raises(AgentUnavailable, match="offline"):
        services.interaction_conference_add(actor=agent.user, interaction_id=call.pk, to_agent_id=away.pk)
    with pytest.raises(InvalidTarget, match="not a phone number"):
        services.interaction_conference_add(actor=agent.user, interaction_id=call.pk, to_number="call me")
    with pytest.raises(InvalidTarget, match="exactly one"):
        services.interaction_conference_add(actor=agent.user, interaction_id=call.pk)
    with pytest.raises(NotAVoiceInteraction):
        services.interaction_conference_add(actor=SYSTEM, interaction_id=chat.pk, to_number="+14155550134")
    call.refresh_from_db()
    assert (call.version, InteractionParticipant.objects.count(), _voice_load(away)) == (version, 0, 0)

    outside = services.interaction_conference_add(
        actor=agent.user, interaction_id=call.pk, to_number="(415) 555-0134"
    )

    assert (outside.number, outside.agent_id, outside.user_id) == ("+14155550134", None, None)
    with pytest.raises(InvalidTransition, match="already on the call"):
        services.interaction_conference_add(
            actor=agent.user, interaction_id=call.pk, to_number="+14155550134"
        )


def test_ending_the_call_ends_every_participant_and_frees_the_conferenced_colleague(
    make_user: Callable[..., Any],
) -> None:
    queue = make_queue()
    agent = make_agent(queue)
    colleague = make_agent()
    supervisor = make_user("Supervisor")
    call = _call(agent, queue)
    services.interaction_conference_add(actor=agent.user, interaction_id=call.pk, to_agent_id=colleague.pk)
    services.interaction_conference_add(actor=agent.user, interaction_id=call.pk, to_number="+14155550134")
    services.interaction_monitor(actor=supervisor, interaction_id=call.pk, mode="listen")

    services.interaction_end(actor=agent.user, interaction_id=call.pk)

    colleague.refresh_from_db()
    assert not InteractionParticipant.objects.filter(left_at__isnull=True).exists()
    assert InteractionParticipant.objects.filter(interaction=call).count() == 3
    assert (_voice_load(colleague), colleague.real_time_load, colleague.state) == (0, 0, AgentState.AVAILABLE)
    assert _commands(call)[-1] == "hang_up"
    assert call.events.filter(kind="participant_left").count() == 3


def test_supervisors_listen_then_switch_to_whisper_and_barge_and_agents_may_not(
    make_user: Callable[..., Any],
) -> None:
    queue = make_queue()
    agent = make_agent(queue)
    colleague = make_agent(queue, available=False)
    supervisor = make_user("Supervisor")
    call = _call(agent, queue)
    chat = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    listening = services.interaction_monitor(actor=supervisor, interaction_id=call.pk, mode="listen")
    with pytest.raises(InvalidTransition, match="already on the call"):
        services.interaction_monitor(actor=supervisor, interaction_id=call.pk, mode="listen")
    barging = services.interaction_monitor(actor=supervisor, interaction_id=call.pk, mode="barge")

    listening.refresh_from_db()
    assert listening.left_at is not None
    assert (barging.role, barging.user_id, barging.agent_id, barging.left_at) == (
        "barge",
        supervisor.pk,
        None,
        None,
    )
    assert call.events.filter(kind="monitor").order_by("id").last().data == {  # type: ignore[union-attr]
        "participant": barging.pk,
        "mode": "barge",
        "previous_mode": "listen",
    }
    assert _voice_load(agent) == 1  # monitoring takes nobody's slot
    with pytest.raises(NotAllowed):
        services.interaction_monitor(actor=colleague.user, interaction_id=call.pk, mode="listen")
    with pytest.raises(NotAllowed):
        services.interaction_monitor(actor=SYSTEM, interaction_id=call.pk, mode="listen")
    with pytest.raises(UnknownAction):
        services.interaction_monitor(actor=supervisor, interaction_id=call.pk, mode="record")
    with pytest.raises(NotAVoiceInteraction):
        services.interaction_monitor(actor=supervisor, interaction_id=chat.pk, mode="listen")
    # Another agent cannot drop the supervisor; the call's agent can.
    with pytest.raises(NotAllowed):
        services.interaction_participant_leave(actor=colleague.user, participant_id=barging.pk)
    services.interaction_participant_leave(actor=agent.user, participant_id=barging.pk)
    with pytest.raises(InvalidTransition, match="already left"):
        services.interaction_participant_leave(actor=supervisor, participant_id=barging.pk)


def test_a_voice_transfer_drops_participants_ends_the_hold_and_tells_the_gateway() -> None:
    queue, billing = make_queue(), make_queue()
    agent = make_agent(queue)
    call = _call(agent, queue)
    services.interaction_conference_add(actor=agent.user, interaction_id=call.pk, to_number="+14155550134")
    services.interaction_voice_control(actor=agent.user, interaction_id=call.pk, action="hold")

    services.interaction_transfer(actor=agent.user, interaction_id=call.pk, to_queue_id=billing.pk)

    call.refresh_from_db()
    assert (call.status, call.queue_id, call.on_hold, call.hold_count) == ("queued", billing.pk, False, 1)
    assert not InteractionParticipant.objects.filter(left_at__isnull=True).exists()
    assert _commands(call)[-2:] == ["participant_remove", "transfer"]
    assert call.events.filter(kind="voice_gateway").last().data["to_queue"] == billing.pk  # type: ignore[union-attr]
    assert _voice_load(agent) == 0


def test_notes_are_set_by_the_agent_while_active_or_in_wrap_up(make_user: Callable[..., Any]) -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    colleague = make_agent(queue, available=False)
    chat = _call(agent, queue, channel="chat")

    services.interaction_note_set(actor=agent.user, interaction_id=chat.pk, notes="Wants a refund")
    services.interaction_end(actor=agent.user, interaction_id=chat.pk)
    after = services.interaction_note_set(
        actor=make_user("Supervisor"), interaction_id=chat.pk, notes="Refund approved"
    )

    assert after.notes == "Refund approved"
    with pytest.raises(NotAllowed):
        services.interaction_note_set(actor=colleague.user, interaction_id=chat.pk, notes="x")
    queued = services.interaction_enqueue(actor=SYSTEM, queue=make_queue(channels=["chat"]), channel="chat")
    with pytest.raises(InvalidTransition):
        services.interaction_note_set(actor=SYSTEM, interaction_id=queued.pk, notes="x")
    chat.refresh_from_db()
    assert chat.notes == "Refund approved"
