"""What an offer changes: event rows, the agent's derived state and its history, loads and
slots, and the offer itself (interaction and agent rows locked by the caller)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import F

from apps.interactions import events, signals
from apps.interactions.acd.sql import hot_cursor, table
from apps.interactions.models import (
    HOLDING_STATUSES,
    REAL_TIME_CHANNELS,
    AgentCapacity,
    AgentProfile,
    AgentState,
    AgentStateChange,
    Interaction,
    InteractionEvent,
    InteractionParticipant,
    InteractionStatus,
    Presence,
    Queue,
)


def event_build(
    interaction: Interaction,
    *,
    kind: str,
    from_status: str,
    at: dt.datetime,
    agent_id: int | None = None,
    actor_id: int | None = None,
    data: dict[str, object] | None = None,
) -> InteractionEvent:
    """The event row of a transition the interaction has just made (to its current status),
    not saved: several are saved with one bulk_create."""
    return InteractionEvent(
        interaction=interaction,
        kind=kind,
        from_status=from_status,
        to_status=interaction.status,
        agent_id=agent_id if agent_id is not None else interaction.agent_id,
        queue_id=interaction.queue_id,
        actor_id=actor_id,
        at=at,
        data=data or {},
    )


def event_add(interaction: Interaction, **fields: Any) -> None:
    """event_build's row, saved at once (fields: event_build's keywords)."""
    event_build(interaction, **fields).save(force_insert=True)


def agent_refresh_state(agent: AgentProfile, now: dt.datetime, *, offered: bool = False) -> bool:
    """Derive the agent's shown state from presence and held interactions and record a change
    in the history. The agent row must be locked. Returns whether the state changed.

    offered=True: the caller has just offered the agent an interaction, so the state is
    OFFERED (it outranks every other) and the held interactions need not be read."""
    held = (
        {InteractionStatus.OFFERED}
        if offered
        else set(
            Interaction.objects.filter(agent=agent, status__in=HOLDING_STATUSES)
            .values_list("status", flat=True)
            .distinct()
        )
    )
    if InteractionStatus.OFFERED in held:
        state = AgentState.OFFERED
    elif InteractionStatus.DIALING in held or InteractionStatus.RINGING in held:
        state = AgentState.RESERVED  # an outbound call is being placed for them
    elif InteractionStatus.ACTIVE in held or (
        # Conferenced into a colleague's call: busy on voice (the call holds a slot of theirs).
        agent.real_time_load
        and InteractionParticipant.objects.filter(agent=agent, left_at__isnull=True).exists()
    ):
        state = AgentState.BUSY
    elif InteractionStatus.WRAP_UP in held:
        state = AgentState.WRAP_UP
    elif agent.presence == Presence.AVAILABLE:
        state = AgentState.AVAILABLE
    elif agent.presence == Presence.NOT_READY:
        state = AgentState.NOT_READY
    else:
        state = AgentState.OFFLINE
    reason_id = agent.not_ready_reason_id if state == AgentState.NOT_READY else None
    unchanged = agent.state == state and (
        # Only this function sets a state other than the default, and it opens the history row
        # of that state (no reason) at the same time: nothing to record, nothing to read.
        state not in (AgentState.OFFLINE, AgentState.NOT_READY)
        or AgentStateChange.objects.filter(agent=agent, ended_at__isnull=True, reason_id=reason_id).exists()
    )
    if unchanged:
        return False
    AgentStateChange.objects.filter(agent=agent, ended_at__isnull=True).update(ended_at=now)
    AgentStateChange.objects.create(agent=agent, state=state, reason_id=reason_id, started_at=now)
    _agent_update(agent, add={"version": 1}, assign={"state": state, "state_since": now})
    return True


def _agent_update(
    agent: AgentProfile, *, add: dict[str, int], assign: dict[str, object] | None = None
) -> None:
    """One UPDATE of the (locked) agent row that adds to counters and sets fields, reading the
    counters back with RETURNING: the object then matches the row, without the second query a
    save() of F() expressions and refresh_from_db() cost (routing's hottest path runs this)."""
    meta = AgentProfile._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(str(meta.get_field(name).column))  # type: ignore[union-attr]

    parts: list[str] = []
    params: list[Any] = []
    for name, delta in add.items():
        parts.append(f"{column(name)} = {column(name)} + %s")
        params.append(delta)
    for name, value in (assign or {}).items():
        parts.append(f"{column(name)} = %s")
        params.append(meta.get_field(name).get_db_prep_save(value, connection=connection))  # type: ignore[union-attr]
    returning = f" RETURNING {', '.join(column(name) for name in add)}" if add else ""
    with hot_cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {', '.join(parts)} WHERE {column('id')} = %s"  # noqa: S608 - names from the model
            f"{returning}",
            [*params, agent.pk],
        )
        if add:
            row = cursor.fetchone()
            assert row is not None, f"agent {agent.pk} vanished"
            for name, value in zip(add, row, strict=True):
                setattr(agent, name, value)
    for name, value in (assign or {}).items():
        setattr(agent, name, value)


def load_change(
    agent: AgentProfile, channel: str, delta: int, *, assign: dict[str, object] | None = None
) -> None:
    """Add delta to the agent's load on a channel (and set the fields in assign, in the same
    statement); the agent row must be locked."""
    AgentCapacity.objects.filter(agent=agent, channel=channel).update(load=F("load") + delta)
    add = {"total_load": delta}
    if channel in REAL_TIME_CHANNELS:
        add["real_time_load"] = delta
    _agent_update(agent, add=add, assign=assign)


def load_counters(channel: str) -> dict[str, int]:
    """The agent row's counters one more interaction of the channel adds to."""
    return {"total_load": 1, "real_time_load": 1} if channel in REAL_TIME_CHANNELS else {"total_load": 1}


def slot_take(agent: AgentProfile, channel: str, now: dt.datetime) -> bool:
    """Take one slot of the agent's capacity on the channel, if one is free, and count it on
    the agent row (total and real-time load, last_offer_at). The capacity check and the load's
    increment are one conditional UPDATE. The agent row must be locked (loads only change
    under it), so a free slot read earlier in the same transaction is still free; a candidate
    query's subquery read before the lock is not, and this is its recheck."""
    with hot_cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(AgentCapacity)} SET load = load + 1 "  # noqa: S608 - names from the model
            "WHERE agent_id = %s AND channel = %s AND load < capacity",
            [agent.pk, channel],
        )
        if cursor.rowcount != 1:
            return False
    _agent_update(agent, add=load_counters(channel), assign={"last_offer_at": now})
    return True


def offer_transition(
    interaction: Interaction,
    agent: AgentProfile | None,
    queue: Queue,
    now: dt.datetime,
    opening: InteractionEvent | None,
) -> list[InteractionEvent]:
    """What an offer changes on the interaction (accepted at once on an auto-accept queue) and
    its event rows, after `opening` when given; nothing written. agent None: not known yet
    (offer_new's single statement names it, and fills it in)."""
    rows = [] if opening is None else [opening]
    interaction.status = InteractionStatus.OFFERED
    if agent is not None:
        interaction.agent = agent
    interaction.offered_at = now
    interaction.offer_expires_at = now + dt.timedelta(seconds=queue.offer_timeout_seconds)
    interaction.version += 1
    rows.append(event_build(interaction, kind="offered", from_status=InteractionStatus.QUEUED, at=now))
    if queue.auto_accept:
        interaction.status = InteractionStatus.ACTIVE
        interaction.accepted_at = interaction.accepted_at or now  # the first answer (transfers)
        interaction.offer_expires_at = None
        interaction.version += 1
        rows.append(
            event_build(
                interaction,
                kind="accepted",
                from_status=InteractionStatus.OFFERED,
                at=now,
                data={"auto": True},
            )
        )
    return rows


def offer_announce(
    interaction: Interaction,
    agent: AgentProfile,
    queue: Queue,
    now: dt.datetime,
    *,
    state_changed: bool | None = None,
) -> None:
    """An offer written: its events after commit, and the agent's state (state_changed: the
    caller already wrote it, and whether it changed; offer_new's one statement)."""
    if queue.auto_accept:
        events.interaction_changed(
            interaction, status=InteractionStatus.OFFERED, version=interaction.version - 1
        )
    events.interaction_changed(interaction)
    # The interaction is held (offered or active) when the state is derived, so the state is
    # OFFERED or BUSY whatever the agent's other load.
    if state_changed is None:
        state_changed = agent_refresh_state(agent, now, offered=not queue.auto_accept)
    if state_changed:
        # Only a new state is news: the agent's version moves with its state alone, so clients
        # drop an agent event of a version they hold, and the wallboard's grid reloads on the
        # interaction's event of this same commit (which carries the new load).
        events.agent_changed(agent)


def offer_write(
    interaction: Interaction,
    agent: AgentProfile,
    queue: Queue,
    now: dt.datetime,
    *,
    opening: InteractionEvent | None = None,
) -> None:
    """Offer the interaction to the agent (and accept it at once on an auto-accept queue). Both
    rows are locked by the caller, the agent was checked eligible and the slot taken and
    counted (slot_take, eligible_agent_claim). opening: the queued event of an interaction not
    saved yet (offer_new off PostgreSQL); it is then inserted as it ends up, with its events."""
    rows = offer_transition(interaction, agent, queue, now, opening)
    if opening is None:
        interaction.save(
            update_fields=["status", "agent", "offered_at", "offer_expires_at", "accepted_at", "version"]
        )
    else:
        interaction.save(force_insert=True)
    InteractionEvent.objects.bulk_create(rows)
    signals.events_announce(rows, interaction=interaction, actor=signals.ROUTING)
    offer_announce(interaction, agent, queue, now)


def offer_to(interaction: Interaction, agent: AgentProfile, queue: Queue, now: dt.datetime) -> bool:
    """Offer a queued interaction to an agent a person chose (a direct transfer), both rows
    locked by the caller and the agent checked available. False, with nothing written, when
    the agent has no free slot for the channel."""
    if not slot_take(agent, interaction.channel, now):
        return False
    offer_write(interaction, agent, queue, now)
    return True
