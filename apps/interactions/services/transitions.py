"""Steps every state change shares: check and move the status, give the agent's slot back."""

from __future__ import annotations

import datetime as dt

from apps.core.actors import Actor
from apps.interactions import acd, events
from apps.interactions.exceptions import (
    InvalidTransition,
)
from apps.interactions.models import (
    AgentProfile,
    Interaction,
    InteractionStatus,
)
from apps.interactions.services.policy import actor_id


def expect(interaction: Interaction, expected: tuple[str, ...]) -> None:
    if interaction.status not in expected:
        raise InvalidTransition(
            f"Interaction #{interaction.pk} is {interaction.status}, not {' or '.join(expected)}."
        )


def transition(interaction: Interaction, expected: tuple[str, ...], to: str) -> str:
    """Move the (locked) interaction to `to` if it is in one of `expected`; returns the status
    it left. The caller saves it and writes the event row."""
    expect(interaction, expected)
    before = interaction.status
    interaction.status = to
    interaction.version += 1
    return before


def release(agent: AgentProfile, interaction: Interaction, now: dt.datetime) -> None:
    """The interaction stops holding a slot of its agent's capacity."""
    acd.load_change(agent, interaction.channel, -1)
    agent.idle_since = now
    agent.save(update_fields=["idle_since"])


def agent_freed(agent: AgentProfile, interaction: Interaction, now: dt.datetime) -> None:
    """The interaction ended for good: its slot is free, the agent's state follows, and the
    agent takes the next waiting interaction once this transaction commits."""
    release(agent, interaction, now)
    acd.agent_refresh_state(agent, now)
    events.agent_changed(agent)
    acd.after_commit(acd.agent_look, agent.pk)


def back_to_queue(
    interaction: Interaction, agent: AgentProfile, kind: str, now: dt.datetime, actor: Actor
) -> None:
    before = transition(interaction, (InteractionStatus.OFFERED,), InteractionStatus.QUEUED)
    interaction.agent = None
    interaction.offered_at = None
    interaction.offer_expires_at = None
    interaction.save(update_fields=["status", "version", "agent", "offered_at", "offer_expires_at"])
    acd.event_add(
        interaction, kind=kind, from_status=before, at=now, agent_id=agent.pk, actor_id=actor_id(actor)
    )
    release(agent, interaction, now)
    events.interaction_changed(interaction)
    acd.after_commit(acd.interaction_look, interaction.pk)
