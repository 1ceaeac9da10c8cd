"""The candidate queries of the hot path: the best eligible agent for an interaction and the best
waiting interaction for an agent, locked with SKIP LOCKED; on PostgreSQL as SQL written out once
(compiling the querysets of acd.policy costs Django ~3 ms a time against well under a millisecond
for PostgreSQL to run them), elsewhere the querysets themselves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.interactions.acd import sql as routing_sql
from apps.interactions.acd.offers import load_counters, slot_take
from apps.interactions.acd.policy import eligible_agents, waiting_for
from apps.interactions.acd.sql import columns, hot_cursor, instance_from_row, table
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentSkill,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Presence,
    Queue,
    QueueSkill,
    RoutingStrategy,
)

REFUSED_KINDS = ("rejected", "offer_timeout")


def agent_order_sql(queue: Queue) -> tuple[str, list[Any]]:
    """_ordered() as SQL over agent alias a."""
    idle = "a.idle_since ASC NULLS FIRST"
    if queue.strategy == RoutingStrategy.ROUND_ROBIN:
        return f"a.last_offer_at ASC NULLS FIRST, {idle}, a.id ASC", []
    if queue.strategy == RoutingStrategy.LEAST_OCCUPIED:
        return f"a.total_load ASC, {idle}, a.id ASC", []
    if queue.strategy == RoutingStrategy.MOST_SKILLED:
        score = (
            f"COALESCE((SELECT SUM(s.level) FROM {table(AgentSkill)} s WHERE s.agent_id = a.id "  # noqa: S608
            f"AND s.skill_id IN (SELECT r.skill_id FROM {table(QueueSkill)} r WHERE r.queue_id = %s)), 0)"
        )
        return f"{score} DESC, {idle}, a.id ASC", [queue.pk]
    return f"CASE WHEN a.total_load = 0 THEN 0 ELSE 1 END ASC, {idle}, a.id ASC", []


_ELIGIBLE_SQL: dict[tuple[str, str, bool], str] = {}


def eligible_agents_sql(interaction: Interaction, queue: Queue, select: str) -> tuple[str, list[Any]]:
    """eligible_agents() as SQL: `select` over agent alias a, in the strategy's order. The text
    depends only on the strategy, select and whether the interaction is new: built once."""
    new = interaction.pk is None  # a new interaction (offer_new) has been refused by nobody
    key = (str(queue.strategy), select, new)
    sql = _ELIGIBLE_SQL.get(key)
    if sql is None:
        sql = _ELIGIBLE_SQL[key] = _eligible_agents_text(queue, select, new)
    params: list[Any] = [Presence.AVAILABLE.value, queue.pk, interaction.channel, queue.pk, queue.pk]
    if not new:
        params += [interaction.pk, *REFUSED_KINDS]
    return sql, params + agent_order_sql(queue)[1]


def _eligible_agents_text(queue: Queue, select: str, new: bool) -> str:
    order, _ = agent_order_sql(queue)
    sql = (
        f"SELECT {select} FROM {table(AgentProfile)} a "  # noqa: S608 - names from the models
        f"INNER JOIN {table(AgentProfile.queues.through)} aq ON aq.agentprofile_id = a.id "
        "WHERE a.presence = %s AND aq.queue_id = %s AND a.real_time_load = 0 "
        f"AND EXISTS (SELECT 1 FROM {table(AgentCapacity)} c WHERE c.agent_id = a.id "
        "AND c.channel = %s AND c.load < c.capacity) "
        # A queue without required skills (the usual case) is answered once, by the first
        # subquery (it does not depend on the agent, so PostgreSQL runs it once, as an
        # InitPlan), instead of by an index probe of the queue's skills for every candidate.
        f"AND (NOT EXISTS (SELECT 1 FROM {table(QueueSkill)} r0 WHERE r0.queue_id = %s) "
        f"OR NOT EXISTS (SELECT 1 FROM {table(QueueSkill)} r WHERE r.queue_id = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {table(AgentSkill)} s WHERE s.agent_id = a.id "
        "AND s.skill_id = r.skill_id AND s.level >= r.min_level))) "
    )
    if not new:
        sql += (
            f"AND NOT EXISTS (SELECT 1 FROM {table(InteractionEvent)} e WHERE e.interaction_id = %s "  # noqa: S608
            "AND e.kind IN (%s, %s) AND e.agent_id = a.id) "
        )
    return f"{sql}ORDER BY {order} LIMIT 1"


def eligible_agent_lock(interaction: Interaction, queue: Queue) -> AgentProfile | None:
    """The best eligible agent, locked (SKIP LOCKED): eligible_agents()...first()."""
    if not routing_sql.raw_sql_enabled():
        return eligible_agents(interaction, queue).select_for_update(skip_locked=True, of=("self",)).first()
    names, select = columns(AgentProfile, "a")
    sql, params = eligible_agents_sql(interaction, queue, select)
    with hot_cursor() as cursor:
        cursor.execute(f"{sql} FOR UPDATE OF a SKIP LOCKED", params)
        row = cursor.fetchone()
    return None if row is None else instance_from_row(AgentProfile, names, row)


_CLAIM_SQL: dict[tuple[str, bool, int], str] = {}


def claim_parts(eligible: str, counters: dict[str, int], *, state: str = "") -> str:
    """The WITH parts of a claim, params after eligible's: the channel, then last_offer_at.
    a: the best eligible agent, locked (SKIP LOCKED); c: its slot of the channel, taken only if
    still free; u: its counters, moved only if the slot was taken (RETURNING the id and them).

    state: an SQL expression over the claimed agent's id (c.agent_id) of the state the offer
    leaves it in (_offered_state_sql); u then also sets it as agent_refresh_state would (a new
    state_since, the version moved only when it changed) and RETURNs state, version and the
    offer's time (at) after the counters. Only u's own row changes: the history
    (_state_history_parts) reads the old state from a."""
    counted = ", ".join(f"{name} = p.{name} + 1" for name in counters)
    returned = ", ".join(f"p.{name}" for name in counters)
    parts = (
        f"WITH a AS ({eligible} FOR UPDATE OF a SKIP LOCKED), "  # noqa: S608 - names from the models
        f"c AS (UPDATE {table(AgentCapacity)} c SET load = c.load + 1 FROM a "
        "WHERE c.agent_id = a.id AND c.channel = %s AND c.load < c.capacity RETURNING c.agent_id), "
    )
    if not state:
        return (
            f"{parts}u AS (UPDATE {table(AgentProfile)} p SET {counted}, last_offer_at = %s FROM c "  # noqa: S608
            f"WHERE p.id = c.agent_id RETURNING p.id, {returned})"
        )
    return (
        f"{parts}s AS (SELECT c.agent_id AS id, {state} AS state, "  # noqa: S608 - names, enums
        "CAST(%s AS timestamptz) AS at FROM c), "
        f"u AS (UPDATE {table(AgentProfile)} p SET {counted}, last_offer_at = s.at, state = s.state, "
        "state_since = CASE WHEN p.state = s.state THEN p.state_since ELSE s.at END, "
        "version = p.version + CASE WHEN p.state = s.state THEN 0 ELSE 1 END FROM s "
        f"WHERE p.id = s.id RETURNING p.id, {returned}, p.state, p.version, p.last_offer_at AS at)"
    )


def eligible_agent_claim(
    interaction: Interaction, queue: Queue, now: dt.datetime
) -> tuple[AgentProfile | None, bool]:
    """The best eligible agent, locked (SKIP LOCKED), with a slot of the channel taken and
    counted (slot_take): (agent, True). (agent, False) when the agent locked has no free slot
    left after all (the candidate query's capacity subquery read before the lock), nothing
    written; (None, False) when no eligible agent could be locked. On PostgreSQL one statement:
    the lock, the conditional capacity UPDATE and the agent's counters, as data-modifying WITH
    parts that each run once (a routed interaction's hottest path)."""
    if not routing_sql.raw_sql_enabled():
        agent = eligible_agent_lock(interaction, queue)
        if agent is None:
            return None, False
        return agent, slot_take(agent, interaction.channel, now)
    names, select = columns(AgentProfile, "a")
    counters = load_counters(interaction.channel)
    key = (queue.strategy, interaction.pk is None, len(counters))
    cached = _CLAIM_SQL.get(key)
    sql, params = eligible_agents_sql(interaction, queue, select)
    if cached is None:
        cached = _CLAIM_SQL[key] = (
            f"{claim_parts(sql, counters)} "  # noqa: S608 - names from the models
            f"SELECT a.*, {', '.join(f'u.{name}' for name in counters)} FROM a LEFT JOIN u ON true"
        )
    with hot_cursor() as cursor:
        cursor.execute(cached, [*params, interaction.channel, now])
        row = cursor.fetchone()
    if row is None:
        return None, False
    return claimed_agent(row, names, counters, now)


def claimed_agent(
    row: tuple[Any, ...], names: list[str], counters: dict[str, int], now: dt.datetime
) -> tuple[AgentProfile, bool]:
    """The agent of a claim's result row (the agent's columns, then u's counters), with the
    counters the claim moved, and whether it took the slot (u's columns are NULL when not)."""
    agent: AgentProfile = instance_from_row(AgentProfile, names, row[: len(names)])
    loads = row[len(names) : len(names) + len(counters)]
    if loads[0] is None:
        return agent, False
    for name, value in zip(counters, loads, strict=True):
        setattr(agent, name, value)
    agent.last_offer_at = now
    return agent, True


def eligible_agent_exists(interaction: Interaction, queue: Queue) -> bool:
    if not routing_sql.raw_sql_enabled():
        return eligible_agents(interaction, queue).exists()
    sql, params = eligible_agents_sql(interaction, queue, "1")
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _waiting_for_sql(agent: AgentProfile, select: str) -> tuple[str, list[Any]]:
    """waiting_for() as SQL: `select` over interaction alias i and its queue q, best first."""
    sql = (
        f"SELECT {select} FROM {table(Interaction)} i "  # noqa: S608 - names from the models
        f"INNER JOIN {table(Queue)} q ON q.id = i.queue_id "
        "WHERE i.status = %s AND q.is_active "
        f"AND EXISTS (SELECT 1 FROM {table(AgentProfile.queues.through)} aq "
        "WHERE aq.queue_id = i.queue_id AND aq.agentprofile_id = %s) "
        f"AND i.channel IN (SELECT c.channel FROM {table(AgentCapacity)} c "
        "WHERE c.agent_id = %s AND c.load < c.capacity) "
        f"AND NOT EXISTS (SELECT 1 FROM {table(QueueSkill)} r WHERE r.queue_id = i.queue_id "
        f"AND NOT EXISTS (SELECT 1 FROM {table(AgentSkill)} s WHERE s.agent_id = %s "
        "AND s.skill_id = r.skill_id AND s.level >= r.min_level)) "
        f"AND NOT EXISTS (SELECT 1 FROM {table(InteractionEvent)} e WHERE e.interaction_id = i.id "
        "AND e.kind IN (%s, %s) AND e.agent_id = %s) "
        "ORDER BY (i.priority + q.priority) DESC, i.queued_at ASC, i.id ASC LIMIT 1"
    )
    return sql, [InteractionStatus.QUEUED.value, agent.pk, agent.pk, agent.pk, *REFUSED_KINDS, agent.pk]


def waiting_lock(agent: AgentProfile) -> Interaction | None:
    """The best waiting interaction for the agent, locked (SKIP LOCKED), its queue loaded:
    waiting_for()...first()."""
    if not routing_sql.raw_sql_enabled():
        return (
            waiting_for(agent)
            .select_related("queue")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
    if agent.presence != Presence.AVAILABLE or agent.real_time_load:
        return None
    interaction_names, interaction_select = columns(Interaction, "i")
    queue_names, queue_select = columns(Queue, "q")
    sql, params = _waiting_for_sql(agent, f"{interaction_select}, {queue_select}")
    with hot_cursor() as cursor:
        cursor.execute(f"{sql} FOR UPDATE OF i SKIP LOCKED", params)
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(interaction_names)
    interaction: Interaction = instance_from_row(Interaction, interaction_names, row[:split])
    interaction.queue = instance_from_row(Queue, queue_names, row[split:])
    return interaction


def waiting_exists(agent: AgentProfile) -> bool:
    if not routing_sql.raw_sql_enabled():
        return waiting_for(agent).exists()
    if agent.presence != Presence.AVAILABLE or agent.real_time_load:
        return False
    sql, params = _waiting_for_sql(agent, "1")
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None
