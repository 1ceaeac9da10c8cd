"""The lock order every service on an offered or held interaction takes: its agent (or agents,
in primary-key order) before the interaction, never waiting for an agent while holding the
interaction (see apps.interactions.acd)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from apps.interactions.models import (
    REAL_TIME_CHANNELS,
    AgentProfile,
    Interaction,
    InteractionParticipant,
    InteractionStatus,
    ParticipantRole,
)


def locked(interaction_id: int) -> Interaction:
    return Interaction.objects.select_for_update().get(pk=interaction_id)


class Reassigned(Exception):
    """The interaction changed agent between reading its agent and locking it."""


def lock_agent_then_interaction(interaction_id: int) -> tuple[AgentProfile | None, Interaction]:
    """Lock the interaction's agent before the interaction, the order acd's agent look uses,
    so the two never wait on each other in opposite orders. When the interaction moved to
    another agent in between, the attempt's savepoint is rolled back, which releases its row
    locks, and the order is taken again: never waiting for an agent while holding the
    interaction."""
    while True:
        agent_id = Interaction.objects.filter(pk=interaction_id).values_list("agent_id", flat=True).get()
        try:
            with transaction.atomic():
                agent = AgentProfile.objects.select_for_update().get(pk=agent_id) if agent_id else None
                interaction = locked(interaction_id)
                if interaction.agent_id != agent_id:
                    raise Reassigned
                return agent, interaction
        except Reassigned:
            continue


@dataclass
class Held:
    """What lock_agents_then_interaction locked: the interaction, its agent, and every agent
    row it locked (its agent, the agents asked for, the agents conferenced into the call)."""

    interaction: Interaction
    agent: AgentProfile | None
    agents: dict[int, AgentProfile]


def conference_agent_ids(interaction_id: int) -> set[int]:
    return set(
        InteractionParticipant.objects.filter(
            interaction_id=interaction_id, left_at__isnull=True, role=ParticipantRole.CONFERENCE
        )
        .exclude(agent=None)
        .values_list("agent_id", flat=True)
    )


def lock_agents_then_interaction(interaction_id: int, *, also: Iterable[int] = ()) -> Held:
    """The lock order of lock_agent_then_interaction for actions that change more than one
    agent (a transfer to an agent, a conference, the end of a conferenced call): every agent
    row first, in primary-key order, then the interaction. Only these actions wait for a second
    agent while holding one, and all of them take agents in the same order, so they cannot
    wait on each other in a circle; everything else waits for at most one agent before the
    interaction, or skips locked rows. For a voice or video call the agents conferenced into it
    are locked too (their slot is freed when the call ends or moves). When the interaction's
    agent or its conferenced agents changed between the read and the locks, the savepoint is
    rolled back (releasing its locks) and the order taken again. Agents named in `also` that
    do not exist are missing from `agents`."""
    extra = {pk for pk in also if pk is not None}
    while True:
        agent_id, channel, status = (
            Interaction.objects.filter(pk=interaction_id).values_list("agent_id", "channel", "status").get()
        )
        # Participants are on active calls only (ending or moving a call closes them).
        on_call = channel in REAL_TIME_CHANNELS and status == InteractionStatus.ACTIVE
        conferenced = conference_agent_ids(interaction_id) if on_call else set()
        wanted = extra | conferenced | ({agent_id} if agent_id is not None else set())
        try:
            with transaction.atomic():
                agents: dict[int, AgentProfile] = {}
                for pk in sorted(wanted):
                    row = AgentProfile.objects.select_for_update().filter(pk=pk).first()
                    if row is not None:
                        agents[pk] = row
                interaction = locked(interaction_id)
                if interaction.agent_id != agent_id:
                    raise Reassigned
                if (
                    channel in REAL_TIME_CHANNELS
                    and interaction.status == InteractionStatus.ACTIVE
                    and not conference_agent_ids(interaction_id) <= set(agents)
                ):
                    raise Reassigned
                return Held(interaction, agents.get(agent_id) if agent_id is not None else None, agents)
        except Reassigned:
            continue
