"""Transfers of an interaction to another queue or agent (an agent's own, a supervisor's reassign)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.core.actors import Actor
from apps.interactions import acd, events, voice
from apps.interactions.exceptions import (
    AgentUnavailable,
    ChannelNotServed,
    InvalidTarget,
    QueueClosed,
    QueueFull,
)
from apps.interactions.models import (
    QUEUED_AFTER_HOURS,
    REAL_TIME_CHANNELS,
    AgentProfile,
    Interaction,
    InteractionStatus,
    Queue,
)
from apps.interactions.services.agents import check_available
from apps.interactions.services.calls import CALL_STATE_FIELDS, call_over
from apps.interactions.services.locking import lock_agents_then_interaction
from apps.interactions.services.policy import actor_id, check_own, is_supervision
from apps.interactions.services.transitions import agent_freed, expect, transition


def interaction_transfer(
    *,
    actor: Actor,
    interaction_id: int,
    to_queue_id: int | None = None,
    to_agent_id: int | None = None,
    note: str = "",
) -> Interaction:
    """Move an interaction to another queue or agent (exactly one target).

    Who: the interaction's agent while it is active (they transfer their call or chat);
    supervisors and admins (or the system, actor None) while it is queued, offered or active
    (a reassign from the wallboard).

    To a queue: it must be active, serve the channel, have room and be open (email queues after
    hours; a call or chat to a closed queue is refused with QueueClosed). The interaction leaves
    its agent, whose slot is free at once with no wrap-up (the agent takes waiting work after
    commit), and waits in the target queue with its first arrival (queued_at) kept, so its age
    and place in line count the customer's whole wait; it is routed at once after commit.

    To an agent: the agent must be available, off calls and have a free slot for the channel
    (else AgentUnavailable and nothing changed); queues and skills are not asked, a person
    chose. It is offered to them directly in its current queue, with that queue's offer timeout
    and auto-accept; a reject or timeout sends it back to that queue, as any offer.

    A voice or video call is moved through the voice gateway; its participants leave and a
    running hold ends. `note` is appended to the interaction's notes, for the next agent.

    What reports see: the status is never "transferred" for these internal moves (the row goes
    on, queued or offered again; the status value is left for a call transferred out of the
    contact center). Each move is an event "transferred" (from the status it left to queued)
    whose data holds from/to queue and agent and the note; a transfer to an agent is followed
    by its "offered" event. queued_at is the first arrival and accepted_at the first answer, so
    waits, speed of answer and service level count the customer once; the interaction counts
    in its current queue, the event rows say where it was before.

    Locks: the agents (its own, the target, the conferenced ones) in primary-key order, then the
    interaction, then the target queue when it has a maximum size."""
    if (to_queue_id is None) == (to_agent_id is None):
        raise InvalidTarget("Transfer to a queue or to an agent: give exactly one.")
    now = timezone.now()
    with transaction.atomic():
        held = lock_agents_then_interaction(interaction_id, also=[to_agent_id] if to_agent_id else [])
        interaction, agent = held.interaction, held.agent
        if is_supervision(actor):
            allowed: tuple[str, ...] = (
                InteractionStatus.QUEUED,
                InteractionStatus.OFFERED,
                InteractionStatus.ACTIVE,
            )
        else:
            check_own(actor, agent)
            allowed = (InteractionStatus.ACTIVE,)
        expect(interaction, allowed)
        from_queue_id = interaction.queue_id
        target_agent: AgentProfile | None = None
        if to_agent_id is not None:
            target_agent = held.agents.get(to_agent_id)
            if target_agent is None:
                raise InvalidTarget(f"Agent #{to_agent_id} does not exist.")
            if target_agent.pk == interaction.agent_id:
                raise InvalidTarget(f"Interaction #{interaction.pk} is already with this agent.")
            check_available(target_agent, interaction.channel)
            queue = Queue.objects.filter(pk=interaction.queue_id).first() if interaction.queue_id else None
            if queue is None:
                raise InvalidTarget(f"Interaction #{interaction.pk} has no queue to return to.")
        else:
            assert to_queue_id is not None
            queue = _transfer_queue(interaction, to_queue_id, now)
        if interaction.status == InteractionStatus.ACTIVE and interaction.channel in REAL_TIME_CHANNELS:
            call_over(held, now, actor, hang_up=False)
            voice.gateway().transfer(interaction, to_queue_id=to_queue_id, to_agent_id=to_agent_id)
        before = transition(interaction, allowed, InteractionStatus.QUEUED)
        interaction.queue = queue
        interaction.agent = None
        interaction.offered_at = None
        interaction.offer_expires_at = None
        if note.strip():
            interaction.notes = (
                f"{interaction.notes}\n\n{note.strip()}" if interaction.notes else note.strip()
            )
        interaction.save(
            update_fields=[
                "status",
                "version",
                "queue",
                "agent",
                "offered_at",
                "offer_expires_at",
                "notes",
                *CALL_STATE_FIELDS,
            ]
        )
        acd.event_add(
            interaction,
            kind="transferred",
            from_status=before,
            at=now,
            agent_id=agent.pk if agent is not None else None,
            actor_id=actor_id(actor),
            data={
                "from_queue": from_queue_id,
                "to_queue": queue.pk if to_queue_id is not None else None,
                "from_agent": agent.pk if agent is not None else None,
                "to_agent": to_agent_id,
                "note": note.strip(),
            },
        )
        events.interaction_changed(interaction)
        if agent is not None:
            # Its desktop drops the interaction (interaction_changed reaches the new agent only).
            events.publish(
                [events.agent_group(agent.user_id)],
                {"kind": "interaction", "id": interaction.pk, "version": interaction.version},
            )
        if target_agent is not None and not acd.offer_to(interaction, target_agent, queue, now):
            # check_available saw the slot free, under the agent's lock: cannot happen.
            raise AgentUnavailable(f"Agent #{target_agent.pk} has no free slot for {interaction.channel}.")
        if target_agent is None:
            # Registered before the freed agent's look: the interaction finds its agent first.
            acd.after_commit(acd.interaction_look, interaction.pk)
        if agent is not None:
            agent_freed(agent, interaction, now)
    return interaction


def _transfer_queue(interaction: Interaction, queue_id: int, now: dt.datetime) -> Queue:
    """The target queue of a transfer, checked: exists, active, serves the channel, open (or the
    channel waits after hours), has room (locked for the count when it has a maximum)."""
    queue = Queue.objects.filter(pk=queue_id).first()
    if queue is None:
        raise InvalidTarget(f"Queue #{queue_id} does not exist.")
    if not queue.is_active:
        raise QueueClosed(f"Queue {queue.name} is switched off.")
    if interaction.channel not in (queue.channels or []):
        raise ChannelNotServed(f"Queue {queue.name} does not serve {interaction.channel}.")
    if interaction.status == InteractionStatus.QUEUED and interaction.queue_id == queue.pk:
        raise InvalidTarget(f"Interaction #{interaction.pk} already waits in {queue.name}.")
    if interaction.channel not in QUEUED_AFTER_HOURS and not queue.is_open(now):
        opens = queue.next_open_at(now)
        when = f" (opens {opens:%a %d %b %H:%M} {queue.time_zone})" if opens else ""
        raise QueueClosed(f"Queue {queue.name} is closed{when}.")
    if queue.max_size is not None:
        queue = Queue.objects.select_for_update().get(pk=queue.pk)
        waiting = Interaction.objects.filter(queue=queue, status=InteractionStatus.QUEUED).count()
        if queue.max_size is not None and waiting >= queue.max_size:
            raise QueueFull(f"Queue {queue.name} is full ({queue.max_size} waiting).")
    return queue
