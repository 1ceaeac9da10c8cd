"""Agent state around offers: what the agent chooses while an offer rings is what they end in,
and the desk's acknowledgement of an offer (POST .../seen/) is the offered agent's alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.interactions import services
from apps.interactions.models import (
    AgentProfile,
    AgentState,
    Interaction,
    InteractionStatus,
    NotReadyReason,
    Presence,
)
from apps.interactions.services import agents as services_agents
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _ringing(agents: int = 2) -> tuple[Interaction, list[AgentProfile]]:
    queue = make_queue(offer_timeout_seconds=20)
    crew = [make_agent(queue) for _ in range(agents)]
    interaction = Interaction.objects.get(
        pk=services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice").pk
    )
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, crew[0].pk)
    return interaction, crew


def _state(agent: AgentProfile) -> tuple[str, str, str | None]:
    agent.refresh_from_db()
    return agent.presence, agent.state, agent.not_ready_reason.code if agent.not_ready_reason else None


def _kinds(interaction: Interaction) -> list[tuple[str, int | None]]:
    return list(interaction.events.order_by("id").values_list("kind", "agent_id"))


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_choosing_offline_while_an_offer_rings_ends_offline_and_the_offer_moves_on(
    django_assert_max_num_queries: Any,
) -> None:
    # Given an offer ringing for the first agent, whose page showed it
    interaction, (first, second) = _ringing()
    services_agents.interaction_offer_seen(
        actor=first.user, interaction_id=interaction.pk, version=interaction.version
    )
    desk = _signed_in(first.user)

    # When the agent chooses Offline on the desk
    with django_assert_max_num_queries(29):
        response = desk.post(reverse("interactions:desk-presence"), {"choice": "offline"})

    # Then the agent is offline (never "not ready: no answer") and the offer rings for the next agent
    assert response.status_code == 204
    assert _state(first) == (Presence.OFFLINE, AgentState.OFFLINE, None)
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, second.pk)
    assert _kinds(interaction) == [
        ("queued", None),
        ("offered", first.pk),
        ("offer_withdrawn", first.pk),
        ("offered", second.pk),
    ]
    first.refresh_from_db()
    assert (first.total_load, first.real_time_load) == (0, 0)

    # And the offer's timer, when it comes, leaves the offline agent as they are
    Interaction.objects.filter(pk=interaction.pk).update(
        offer_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert services.offers_expire_due() == 1
    assert _state(first) == (Presence.OFFLINE, AgentState.OFFLINE, None)


def test_going_offline_with_nobody_else_puts_the_ringing_offer_back_in_the_queue() -> None:
    interaction, (agent,) = _ringing(agents=1)

    services.agent_set_presence(actor=agent.user, agent_id=agent.pk, presence=Presence.OFFLINE)

    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id, interaction.offer_expires_at) == (
        InteractionStatus.QUEUED,
        None,
        None,
    )
    assert _state(agent) == (Presence.OFFLINE, AgentState.OFFLINE, None)

    # Back the next day: the same call, which the agent never refused, is offered to them again
    services.agent_set_presence(actor=agent.user, agent_id=agent.pk, presence=Presence.AVAILABLE)
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, agent.pk)


def test_the_presence_timeout_hands_a_ringing_offer_on_and_takes_the_agent_offline() -> None:
    # Given an offer ringing for an agent whose page went silent
    interaction, (first, second) = _ringing()
    later = timezone.now() + services.PRESENCE_TIMEOUT + dt.timedelta(seconds=1)
    AgentProfile.objects.filter(pk=second.pk).update(last_seen_at=later)

    # When the presence timeout runs
    assert services.agents_presence_timeout(now=later) == 1

    # Then the agent is offline and the offer rings for the other agent
    assert _state(first) == (Presence.OFFLINE, AgentState.OFFLINE, None)
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, second.pk)


def test_choosing_not_ready_while_an_offer_rings_keeps_the_reason_chosen_when_it_times_out() -> None:
    # Given an offer the page showed, and the agent choosing "Lunch" while it rings
    lunch = NotReadyReason.objects.create(code="lunch", label="Lunch")
    interaction, (first, second) = _ringing()
    services_agents.interaction_offer_seen(
        actor=first.user, interaction_id=interaction.pk, version=interaction.version
    )
    services.agent_set_presence(
        actor=first.user, agent_id=first.pk, presence=Presence.NOT_READY, reason=lunch
    )
    assert _state(first) == (Presence.NOT_READY, AgentState.OFFERED, "lunch")  # still ringing

    # When the offer times out
    Interaction.objects.filter(pk=interaction.pk).update(
        offer_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert services.offers_expire_due() == 1

    # Then the agent is not ready for the reason they chose, and the offer went to the other agent
    assert _state(first) == (Presence.NOT_READY, AgentState.NOT_READY, "lunch")
    interaction.refresh_from_db()
    assert interaction.agent_id == second.pk


def test_going_available_again_starts_the_count_of_unseen_offers_again() -> None:
    agent = make_agent(make_queue())
    lunch = NotReadyReason.objects.create(code="lunch", label="Lunch")
    services.agent_set_presence(
        actor=agent.user, agent_id=agent.pk, presence=Presence.NOT_READY, reason=lunch
    )
    AgentProfile.objects.filter(pk=agent.pk).update(unseen_offers=2)

    services.agent_set_presence(actor=agent.user, agent_id=agent.pk, presence=Presence.AVAILABLE)

    agent.refresh_from_db()
    assert (agent.presence, agent.unseen_offers) == (Presence.AVAILABLE, 0)


# -- the desk's acknowledgement: POST /desk/interactions/<id>/seen/ ----------------------------------


def _seen_url(interaction: Interaction) -> str:
    return reverse("interactions:desk-act", args=[interaction.pk, "seen"])


def test_the_offered_agents_desk_acknowledges_the_offer_it_shows(django_assert_max_num_queries: Any) -> None:
    interaction, (first, _second) = _ringing()
    desk = _signed_in(first.user)

    with django_assert_max_num_queries(12):
        response = desk.post(_seen_url(interaction), {"version": interaction.version})

    assert (response.status_code, response.content) == (204, b"")
    interaction.refresh_from_db()
    assert interaction.offer_seen_at is not None
    assert interaction.offered_at is not None and interaction.offer_seen_at >= interaction.offered_at
    first_seen = interaction.offer_seen_at

    # Twice is once: the second acknowledgement changes nothing
    assert desk.post(_seen_url(interaction), {"version": interaction.version}).status_code == 204
    interaction.refresh_from_db()
    assert interaction.offer_seen_at == first_seen


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (None, 302),  # to the login
        ("Marketer", 403),  # not an agent-side role
        ("Agent", 404),  # an agent of other queues does not see the interaction
        ("Supervisor", 403),  # sees it, but it is not their offer
        ("Admin", 403),
    ],
)
def test_only_the_offered_agent_may_acknowledge_an_offer(
    client_for: Callable[[str | None], Client], role: str | None, status: int
) -> None:
    # Given an offer ringing for an agent
    interaction, _ = _ringing(agents=1)

    # When someone else posts its acknowledgement
    response = client_for(role).post(_seen_url(interaction), {"version": interaction.version})

    # Then it is refused and nothing is recorded
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/login/?next=")
    interaction.refresh_from_db()
    assert interaction.offer_seen_at is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, b"version: This field is required."),
        ({"version": "soon"}, b"version: Enter a whole number."),
        ({"version": "-1"}, b"version: Ensure this value is greater than or equal to 0."),
    ],
)
def test_an_acknowledgement_without_a_valid_version_is_a_400_that_says_why(
    data: dict[str, str], message: bytes
) -> None:
    interaction, (agent,) = _ringing(agents=1)

    response = _signed_in(agent.user).post(_seen_url(interaction), data)

    assert (response.status_code, response.content) == (400, message)
    interaction.refresh_from_db()
    assert interaction.offer_seen_at is None


def test_an_acknowledgement_of_an_offer_that_moved_on_changes_nothing() -> None:
    interaction, (first, second) = _ringing()
    services.interaction_reject(actor=first.user, interaction_id=interaction.pk)
    stale = interaction.version  # what the first agent's page still shows

    response = _signed_in(first.user).post(_seen_url(interaction), {"version": stale})

    assert response.status_code == 204
    interaction.refresh_from_db()
    assert (interaction.agent_id, interaction.offer_seen_at) == (second.pk, None)


def test_an_acknowledgement_is_a_post() -> None:
    interaction, (agent,) = _ringing(agents=1)

    response = _signed_in(agent.user).get(_seen_url(interaction))

    assert response.status_code == 405
    interaction.refresh_from_db()
    assert interaction.offer_seen_at is None
