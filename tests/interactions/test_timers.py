"""The contact center's timers are beat's ticks over what the rows say is due: an offer's timeout
is acted on within a second by offers_expire_due, and routing itself sends no broker message."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.core.actors import SYSTEM
from apps.core.exceptions import NotAllowed
from apps.interactions import services
from apps.interactions.models import AgentProfile, AgentState, Interaction, InteractionStatus, Presence
from apps.interactions.services import agents as services_agents
from apps.interactions.services import timers
from tests.interactions.factories import make_agent, make_queue


@pytest.mark.django_db
def test_beat_expires_due_offers_every_second_and_the_other_timers_and_the_dial_timer_every_five() -> None:
    schedule = {
        task.task: (task.interval.every, task.interval.period, task.enabled)  # type: ignore[union-attr]
        for task in PeriodicTask.objects.filter(task__startswith="apps.interactions.tasks.")
    }
    assert schedule == {
        "apps.interactions.tasks.offers_expire_due": (1, "seconds", True),
        "apps.interactions.tasks.agents_presence_timeout": (5, "seconds", True),
        "apps.interactions.tasks.wrap_ups_expire_due": (5, "seconds", True),
        "apps.interactions.tasks.queues_overflow_due": (5, "seconds", True),
        "apps.interactions.tasks.dials_expire_due": (5, "seconds", True),
    }


@pytest.mark.django_db(transaction=True)
def test_an_offer_sends_no_broker_message_and_the_tick_expires_it_once_due() -> None:
    queue = make_queue(offer_timeout_seconds=15)
    first = make_agent(queue)
    second = make_agent(queue)
    with mock.patch("celery.app.task.Task.apply_async") as apply_async:
        interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    apply_async.assert_not_called()
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, first.pk)
    assert interaction.offer_expires_at is not None
    expires = interaction.offer_expires_at

    from apps.interactions import tasks

    assert tasks.offers_expire_due() == 0  # not due yet
    with mock.patch("django.utils.timezone.now", return_value=expires + dt.timedelta(milliseconds=1)):
        assert tasks.offers_expire_due() == 1
    assert tasks.offers_expire_due() == 0  # once
    interaction = Interaction.objects.get(pk=interaction.pk)
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, second.pk)
    assert interaction.offer_expires_at is not None and interaction.offer_expires_at > timezone.now()


# -- an offer's timeout: seen or not seen by the agent's page --------------------------------------


def _offered(queue_kwargs: dict[str, object] | None = None, agents: int = 2) -> tuple[Interaction, list[Any]]:
    queue = make_queue(offer_timeout_seconds=20, **(queue_kwargs or {}))
    crew = [make_agent(queue) for _ in range(agents)]
    interaction = Interaction.objects.get(
        pk=services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice").pk
    )
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, crew[0].pk)
    return interaction, crew


def _due(interaction: Interaction) -> None:
    Interaction.objects.filter(pk=interaction.pk).update(
        offer_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


def _agent(agent: Any) -> tuple[str, str, str | None, int]:
    agent.refresh_from_db()
    reason = agent.not_ready_reason.code if agent.not_ready_reason else None
    return agent.presence, agent.state, reason, agent.unseen_offers


@pytest.mark.django_db(transaction=True)
def test_an_offer_the_page_showed_times_out_as_the_agents_no_answer() -> None:
    # Given an offer the agent's desk acknowledged
    interaction, (first, second) = _offered()
    assert services_agents.interaction_offer_seen(
        actor=first.user, interaction_id=interaction.pk, version=interaction.version
    )

    # When it times out
    _due(interaction)
    assert services.interaction_offer_expire(interaction_id=interaction.pk)

    # Then the agent missed it: not ready (no answer); the offer went to the next agent
    assert _agent(first) == (Presence.NOT_READY, AgentState.NOT_READY, "no_answer", 0)
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, second.pk)


@pytest.mark.django_db(transaction=True)
def test_an_offer_the_page_never_showed_moves_on_and_the_agent_stays_available() -> None:
    # Given an offer the agent's desk never acknowledged (its event was lost on the way)
    interaction, (first, second) = _offered()

    # When it times out
    _due(interaction)
    assert services.interaction_offer_expire(interaction_id=interaction.pk)

    # Then it goes to the next agent, and the first agent is available again, one unseen offer counted
    assert _agent(first) == (Presence.AVAILABLE, AgentState.AVAILABLE, None, 1)
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, second.pk)
    assert list(interaction.events.order_by("id").values_list("kind", "agent_id")) == [
        ("queued", None),
        ("offered", first.pk),
        ("offer_timeout", first.pk),
        ("offered", second.pk),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_agent_takes_the_next_waiting_call_after_an_unseen_offer() -> None:
    # Given one agent, an offered call they never saw and a second call waiting
    interaction, (agent,) = _offered(agents=1)
    waiting = services.interaction_enqueue(actor=SYSTEM, queue=interaction.queue, channel="voice")  # type: ignore[arg-type]

    # When the first offer times out unseen
    _due(interaction)
    assert services.interaction_offer_expire(interaction_id=interaction.pk)

    # Then the agent, still available, is offered the waiting call at once
    waiting.refresh_from_db()
    assert (waiting.status, waiting.agent_id) == (InteractionStatus.OFFERED, agent.pk)
    assert _agent(agent) == (Presence.AVAILABLE, AgentState.OFFERED, None, 1)


@pytest.mark.django_db(transaction=True)
def test_three_unseen_offers_in_a_row_turn_the_agent_not_ready_and_a_seen_one_starts_the_count_again() -> (
    None
):
    # Given an agent with two unseen timeouts behind them, whose page then shows an offer
    interaction, (first, _second) = _offered()
    AgentProfile.objects.filter(pk=first.pk).update(unseen_offers=2)
    assert services_agents.interaction_offer_seen(
        actor=first.user, interaction_id=interaction.pk, version=interaction.version
    )
    assert _agent(first)[3] == 0  # the page is alive: the count starts again

    # When the agent's count reaches the limit with an unseen offer
    services.interaction_reject(actor=first.user, interaction_id=interaction.pk)
    AgentProfile.objects.filter(pk=first.pk).update(unseen_offers=timers.UNSEEN_OFFERS_LIMIT - 1)
    other = services.interaction_enqueue(actor=SYSTEM, queue=interaction.queue, channel="voice")  # type: ignore[arg-type]
    other.refresh_from_db()
    assert other.agent_id == first.pk
    _due(other)
    assert services.interaction_offer_expire(interaction_id=other.pk)

    # Then a page that keeps its heartbeat but shows no offer stops getting them: not ready (no answer)
    assert _agent(first) == (Presence.NOT_READY, AgentState.NOT_READY, "no_answer", 0)


@pytest.mark.django_db(transaction=True)
def test_a_stale_acknowledgement_records_nothing_and_one_from_someone_else_is_refused() -> None:
    # Given an offer to the first agent
    interaction, (first, second) = _offered()

    # When the page acknowledges an older version, and another agent acknowledges the offer
    assert not services_agents.interaction_offer_seen(
        actor=first.user, interaction_id=interaction.pk, version=interaction.version - 1
    )
    with pytest.raises(NotAllowed):
        services_agents.interaction_offer_seen(
            actor=second.user, interaction_id=interaction.pk, version=interaction.version
        )
    with pytest.raises(NotAllowed):
        services_agents.interaction_offer_seen(
            actor=SYSTEM, interaction_id=interaction.pk, version=interaction.version
        )

    # Then nothing is recorded, and the timeout still leaves the agent available
    interaction.refresh_from_db()
    assert interaction.offer_seen_at is None
    _due(interaction)
    assert services.interaction_offer_expire(interaction_id=interaction.pk)
    assert _agent(first) == (Presence.AVAILABLE, AgentState.AVAILABLE, None, 1)


@pytest.mark.django_db(transaction=True)
def test_an_acknowledgement_of_an_earlier_offer_does_not_count_for_the_next_one() -> None:
    # Given an offer the page acknowledged, rejected, and offered to the same agent again later
    interaction, (first,) = _offered(agents=1)
    assert services_agents.interaction_offer_seen(
        actor=first.user, interaction_id=interaction.pk, version=interaction.version
    )
    seen_at = Interaction.objects.get(pk=interaction.pk).offer_seen_at
    assert seen_at is not None
    Interaction.objects.filter(pk=interaction.pk).update(offered_at=seen_at + dt.timedelta(seconds=1))

    # When that later offer times out
    _due(interaction)
    assert services.interaction_offer_expire(interaction_id=interaction.pk)

    # Then it counts as unseen
    assert _agent(first) == (Presence.AVAILABLE, AgentState.AVAILABLE, None, 1)


# -- wrap-up timers -------------------------------------------------------------------------------


def _in_wrap_up(**queue_kwargs: Any) -> tuple[Interaction, Any]:
    queue = make_queue(wrap_up_seconds=10, auto_accept=True, **queue_kwargs)
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    services.interaction_end(actor=agent.user, interaction_id=interaction.pk)
    interaction.refresh_from_db()
    assert interaction.status == InteractionStatus.WRAP_UP
    return interaction, agent


@pytest.mark.django_db(transaction=True)
def test_a_wrap_up_past_its_time_closes_where_a_disposition_is_required_with_the_timeout_disposition() -> (
    None
):
    # Given a wrap-up in a queue that requires a disposition, the agent choosing none
    interaction, agent = _in_wrap_up(disposition_required=True)
    assert services.wrap_ups_expire_due() == 0  # not due yet

    # When its time is over
    later = timezone.now() + dt.timedelta(seconds=11)
    assert services.wrap_ups_expire_due(now=later) == 1
    assert services.wrap_ups_expire_due(now=later) == 0  # once

    # Then it is closed with the system's disposition, which reports tell from an agent's choice
    interaction.refresh_from_db()
    assert interaction.status == InteractionStatus.CLOSED
    assert interaction.closed_at == later
    assert interaction.disposition is not None
    timed_out = interaction.disposition
    assert (timed_out.code, timed_out.label, timed_out.is_final, timed_out.is_active) == (
        "wrap-up-timeout",
        "Wrap-up timed out",
        False,
        False,  # not in the agents' list: only the timer records it
    )
    event = interaction.events.order_by("id").last()
    assert event is not None
    assert (event.kind, event.from_status, event.data) == (
        "wrap_up_timeout",
        "wrap_up",
        {"disposition": "wrap-up-timeout"},
    )
    agent.refresh_from_db()
    assert (agent.state, agent.total_load) == (AgentState.AVAILABLE, 0)


@pytest.mark.django_db(transaction=True)
def test_a_wrap_up_past_its_time_closes_without_a_disposition_where_none_is_required() -> None:
    interaction, agent = _in_wrap_up(disposition_required=False)

    assert services.wrap_ups_expire_due(now=timezone.now() + dt.timedelta(seconds=11)) == 1

    interaction.refresh_from_db()
    assert (interaction.status, interaction.disposition_id) == (InteractionStatus.CLOSED, None)
    assert interaction.events.order_by("id").values_list("kind", "data").last() == (
        "wrap_up_timeout",
        {"disposition": ""},
    )
    agent.refresh_from_db()
    assert agent.state == AgentState.AVAILABLE
