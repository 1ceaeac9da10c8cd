"""Automatic call distribution: matching waiting interactions with free agents.

Exact under concurrency, with no sweep. The rules, and why they are enough:

1. **Locks.** An offer changes one interaction (queued -> offered) and one agent (load + 1)
   together, in one transaction that holds both rows FOR UPDATE. The interaction is locked
   first when an interaction looks for an agent, the agent first when an agent looks for work;
   the second lock of either path is taken with SKIP LOCKED, so no path ever waits for a row
   while holding the other kind: no deadlock, and a row somebody else is deciding about is
   skipped instead of offered twice. Loads only change with the agent row locked; the slot is
   taken by a conditional UPDATE (load = load + 1 WHERE load < capacity, _slot_take), which
   rechecks what the candidate query read before it took the lock, and a check constraint
   (load <= capacity) backs the arithmetic. Services acting on an offered or held
   interaction (accept, reject, end, wrap-up, abandon, timeouts) wait for the agent's lock, then
   the interaction's; if the interaction moved to another agent in between, the attempt's
   savepoint is rolled back (releasing its row locks) and the order taken again, so nothing
   waits for an agent while holding an interaction (the 4-process test found that deadlock).
2. **Publish, then look.** Everything that can create a match (an interaction becoming queued;
   an agent becoming available or getting a slot back) commits first and then looks for its
   match in a new transaction. For a waiting interaction I and a free agent A, whichever of the
   two looks last started its look after the other's publish committed, so it sees the other.
   One shortcut, which keeps the rule: a new interaction (services.interaction_enqueue) first
   tries an offer before its row exists (offer_new: nobody else can see or lock it, so only the
   agent is locked, with SKIP LOCKED, never waited for, and the row is inserted already
   offered; on PostgreSQL one statement, its own transaction); only when that takes no agent
   is it inserted queued and the look scheduled after commit. A look that is not needed is one that found nothing to match,
   and the fallback look is exactly the one rule 2 runs.
3. **Contention means retry.** A look that finds its match but cannot lock it (SKIP LOCKED
   skipped a row that a plain read shows eligible) reports CONTENDED and is run again after its
   transaction ends, with a short random back-off. The lock holder is a transaction that is
   about to finish; once it has, the retry sees the row as it is now. Two looks that skip each
   other (I locked by its own look, A by its own) both retry; the jitter breaks the tie.

So an interaction is never offered to two agents (rule 1), an agent never exceeds capacity
(rule 1 and the constraint), and no interaction stays queued beside an idle eligible agent
(rules 2 and 3). tests/interactions/test_routing_concurrency.py checks all three from the event
rows with several processes routing at once on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models import Case, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.interactions import events
from apps.interactions.models import (
    HOLDING_STATUSES,
    REAL_TIME_CHANNELS,
    AgentCapacity,
    AgentProfile,
    AgentSkill,
    AgentState,
    AgentStateChange,
    Interaction,
    InteractionEvent,
    InteractionParticipant,
    InteractionStatus,
    Presence,
    Queue,
    QueueSkill,
    RoutingStrategy,
)

logger = logging.getLogger(__name__)

# A look that keeps meeting locked rows gives up after this many tries (a lock is held for
# milliseconds, so reaching it means something is badly wrong); the pause grows to MAX_PAUSE.
MAX_TRIES = 200
MAX_PAUSE = 0.05


class Outcome(enum.Enum):
    MATCHED = "matched"  # something was offered
    NOTHING = "nothing"  # no match exists right now
    CONTENDED = "contended"  # a match exists but is locked by another transaction: look again


@dataclass
class LookResult:
    outcome: Outcome
    offered: list[int] = field(default_factory=list)


# -- what an offer changes ----------------------------------------------------------------------


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
    with _hot_cursor() as cursor:
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


def _load_counters(channel: str) -> dict[str, int]:
    """The agent row's counters one more interaction of the channel adds to."""
    return {"total_load": 1, "real_time_load": 1} if channel in REAL_TIME_CHANNELS else {"total_load": 1}


def _slot_take(agent: AgentProfile, channel: str, now: dt.datetime) -> bool:
    """Take one slot of the agent's capacity on the channel, if one is free, and count it on
    the agent row (total and real-time load, last_offer_at). The capacity check and the load's
    increment are one conditional UPDATE. The agent row must be locked (loads only change
    under it), so a free slot read earlier in the same transaction is still free; a candidate
    query's subquery read before the lock is not, and this is its recheck."""
    with _hot_cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(AgentCapacity)} SET load = load + 1 "  # noqa: S608 - names from the model
            "WHERE agent_id = %s AND channel = %s AND load < capacity",
            [agent.pk, channel],
        )
        if cursor.rowcount != 1:
            return False
    _agent_update(agent, add=_load_counters(channel), assign={"last_offer_at": now})
    return True


def _offer_transition(
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


def _offer_announce(
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


def _offer(
    interaction: Interaction,
    agent: AgentProfile,
    queue: Queue,
    now: dt.datetime,
    *,
    opening: InteractionEvent | None = None,
) -> None:
    """Offer the interaction to the agent (and accept it at once on an auto-accept queue). Both
    rows are locked by the caller, the agent was checked eligible and the slot taken and
    counted (_slot_take, eligible_agent_claim). opening: the queued event of an interaction not
    saved yet (offer_new off PostgreSQL); it is then inserted as it ends up, with its events."""
    rows = _offer_transition(interaction, agent, queue, now, opening)
    if opening is None:
        interaction.save(
            update_fields=["status", "agent", "offered_at", "offer_expires_at", "accepted_at", "version"]
        )
    else:
        interaction.save(force_insert=True)
    InteractionEvent.objects.bulk_create(rows)
    _offer_announce(interaction, agent, queue, now)


# -- eligibility ----------------------------------------------------------------------------------


def eligible_agents(interaction: Interaction, queue: Queue) -> QuerySet[AgentProfile]:
    """Agents who may be offered the interaction now, in the queue's strategy order."""
    agents = AgentProfile.objects.filter(
        presence=Presence.AVAILABLE,
        queues=queue,
        real_time_load=0,
    ).filter(
        Exists(
            AgentCapacity.objects.filter(
                agent=OuterRef("pk"), channel=interaction.channel, load__lt=F("capacity")
            )
        )
    )
    # The queue's skill requirements are part of the one statement (no requirement the agent
    # misses), not read first: the look runs this query twice per offer.
    unmet = QueueSkill.objects.filter(queue=queue).exclude(
        Exists(
            AgentSkill.objects.filter(
                agent=OuterRef(OuterRef("pk")), skill=OuterRef("skill"), level__gte=OuterRef("min_level")
            )
        )
    )
    agents = agents.exclude(Exists(unmet))
    if interaction.pk is not None:  # a new interaction (offer_new) has been refused by nobody
        refused = InteractionEvent.objects.filter(
            interaction_id=interaction.pk, kind__in=("rejected", "offer_timeout"), agent=OuterRef("pk")
        )
        agents = agents.exclude(Exists(refused))
    return _ordered(agents, queue)


def _ordered(agents: QuerySet[AgentProfile], queue: Queue) -> QuerySet[AgentProfile]:
    idle = F("idle_since").asc(nulls_first=True)
    if queue.strategy == RoutingStrategy.ROUND_ROBIN:
        return agents.order_by(F("last_offer_at").asc(nulls_first=True), idle, "pk")
    if queue.strategy == RoutingStrategy.LEAST_OCCUPIED:
        return agents.order_by("total_load", idle, "pk")
    if queue.strategy == RoutingStrategy.MOST_SKILLED:
        # A scalar subquery, not a join with GROUP BY: FOR UPDATE refuses GROUP BY.
        required = QueueSkill.objects.filter(queue=queue).values("skill_id")
        score = (
            AgentSkill.objects.filter(agent=OuterRef("pk"), skill_id__in=required)
            .order_by()
            .values("agent")
            .annotate(total=Sum("level"))
            .values("total")
        )
        agents = agents.annotate(skill_score=Coalesce(Subquery(score, output_field=IntegerField()), 0))
        return agents.order_by("-skill_score", idle, "pk")
    # Longest idle: an agent holding no work at all before one who holds some, however long ago
    # the busy one last freed a slot (idle_since moves only on release); then the longest idle.
    holding = Case(When(total_load=0, then=Value(0)), default=Value(1), output_field=IntegerField())
    return agents.order_by(holding, idle, "pk")


def waiting_for(agent: AgentProfile) -> QuerySet[Interaction]:
    """Queued interactions the agent may take now, best first (queue priority plus the
    interaction's, then the oldest)."""
    if agent.presence != Presence.AVAILABLE or agent.real_time_load:
        return Interaction.objects.none()
    # One statement (free channels, active queues, skills as subqueries): the look runs it
    # after every offer it makes.
    channels = AgentCapacity.objects.filter(agent=agent, load__lt=F("capacity")).values("channel")
    queues = Queue.objects.filter(agents=agent, is_active=True).values("pk")
    unmet = QueueSkill.objects.filter(queue=OuterRef("queue_id")).exclude(
        Exists(
            AgentSkill.objects.filter(agent=agent, skill=OuterRef("skill"), level__gte=OuterRef("min_level"))
        )
    )
    refused = InteractionEvent.objects.filter(
        interaction=OuterRef("pk"), kind__in=("rejected", "offer_timeout"), agent=agent
    )
    return (
        Interaction.objects.filter(status=InteractionStatus.QUEUED, queue__in=queues, channel__in=channels)
        .exclude(Exists(unmet))
        .exclude(Exists(refused))
        .annotate(rank=F("priority") + F("queue__priority"))
        .order_by("-rank", "queued_at", "pk")
    )


# -- the hot path's candidate queries as SQL (PostgreSQL) ------------------------------------------
#
# eligible_agents() and waiting_for() are the definition. Compiling them costs Django ~3 ms a time
# (subqueries, FOR UPDATE) against well under a millisecond for PostgreSQL to run them, and a
# routed interaction runs two. On PostgreSQL the looks run the same statements written out once
# below (same filters, same order, FOR UPDATE OF the one table SKIP LOCKED); other databases (the
# SQLite test runs) compile the querysets. tests/interactions check both against each other.


def _db() -> Any:
    """The default connection's wrapper itself: `connection` is a proxy that looks the wrapper
    up (a context-local read) on every attribute, which the hot path would pay dozens of times."""
    return connections[DEFAULT_DB_ALIAS]


def _hot_cursor() -> Any:
    """A cursor for routing's own SQL. On PostgreSQL it binds parameters on the server, so
    psycopg prepares each statement once it has run prepare_threshold times (settings: the
    connection's OPTIONS) and PostgreSQL stops planning it on every offer (the candidate query
    spends longer in the planner than running). Django's own cursors bind on the client and
    never prepare, so nothing else changes. While Django logs queries (DEBUG, a test counting
    them) it is Django's own cursor: the log needs each statement's text, which psycopg does
    not keep for a prepared one."""
    db = _db()
    if db.vendor != "postgresql" or db.queries_logged:
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.ensure_connection()
    return db._prepare_cursor(ServerBindingCursor(db.connection))  # type: ignore[call-arg]


def _raw_sql_enabled() -> bool:
    return connection.vendor == "postgresql"


def _table(model: type[Any]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_COLUMNS: dict[tuple[type[Any], str], tuple[list[str], str]] = {}


def _columns(model: type[Any], alias: str) -> tuple[list[str], str]:
    """The model's concrete attnames and a select list of its columns under alias (built once)."""
    found = _COLUMNS.get((model, alias))
    if found is None:
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        found = _COLUMNS[(model, alias)] = (
            [f.attname for f in fields],
            ", ".join(f"{alias}.{quote(f.column)}" for f in fields),
        )
    return found


def _converters(model: type[Any]) -> list[tuple[int, list[Any], Any]]:
    found = []
    for index, f in enumerate(model._meta.concrete_fields):
        col = f.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
        if converters:
            found.append((index, converters, col))
    return found


_CONVERTERS: dict[tuple[str, type[Any]], list[tuple[int, list[Any], Any]]] = {}


def _instance(model: type[Any], names: list[str], values: tuple[Any, ...] | list[Any]) -> Any:
    """A model instance from a row of all its concrete columns, as the ORM would build it."""
    db = _db()
    key = (db.vendor, model)
    converters = _CONVERTERS.get(key)
    if converters is None:
        converters = _CONVERTERS[key] = _converters(model)
    if converters:
        values = list(values)
        for index, functions, col in converters:
            for function in functions:
                values[index] = function(values[index], col, db)
    return model.from_db(db.alias, names, values)


_REFUSED_KINDS = ("rejected", "offer_timeout")


def _agent_order(queue: Queue) -> tuple[str, list[Any]]:
    """_ordered() as SQL over agent alias a."""
    idle = "a.idle_since ASC NULLS FIRST"
    if queue.strategy == RoutingStrategy.ROUND_ROBIN:
        return f"a.last_offer_at ASC NULLS FIRST, {idle}, a.id ASC", []
    if queue.strategy == RoutingStrategy.LEAST_OCCUPIED:
        return f"a.total_load ASC, {idle}, a.id ASC", []
    if queue.strategy == RoutingStrategy.MOST_SKILLED:
        score = (
            f"COALESCE((SELECT SUM(s.level) FROM {_table(AgentSkill)} s WHERE s.agent_id = a.id "  # noqa: S608
            f"AND s.skill_id IN (SELECT r.skill_id FROM {_table(QueueSkill)} r WHERE r.queue_id = %s)), 0)"
        )
        return f"{score} DESC, {idle}, a.id ASC", [queue.pk]
    return f"CASE WHEN a.total_load = 0 THEN 0 ELSE 1 END ASC, {idle}, a.id ASC", []


_ELIGIBLE_SQL: dict[tuple[str, str, bool], str] = {}


def _eligible_agents_sql(interaction: Interaction, queue: Queue, select: str) -> tuple[str, list[Any]]:
    """eligible_agents() as SQL: `select` over agent alias a, in the strategy's order. The text
    depends only on the strategy, select and whether the interaction is new: built once."""
    new = interaction.pk is None  # a new interaction (offer_new) has been refused by nobody
    key = (str(queue.strategy), select, new)
    sql = _ELIGIBLE_SQL.get(key)
    if sql is None:
        sql = _ELIGIBLE_SQL[key] = _eligible_agents_text(queue, select, new)
    params: list[Any] = [Presence.AVAILABLE.value, queue.pk, interaction.channel, queue.pk, queue.pk]
    if not new:
        params += [interaction.pk, *_REFUSED_KINDS]
    return sql, params + _agent_order(queue)[1]


def _eligible_agents_text(queue: Queue, select: str, new: bool) -> str:
    order, _ = _agent_order(queue)
    sql = (
        f"SELECT {select} FROM {_table(AgentProfile)} a "  # noqa: S608 - names from the models
        f"INNER JOIN {_table(AgentProfile.queues.through)} aq ON aq.agentprofile_id = a.id "
        "WHERE a.presence = %s AND aq.queue_id = %s AND a.real_time_load = 0 "
        f"AND EXISTS (SELECT 1 FROM {_table(AgentCapacity)} c WHERE c.agent_id = a.id "
        "AND c.channel = %s AND c.load < c.capacity) "
        # A queue without required skills (the usual case) is answered once, by the first
        # subquery (it does not depend on the agent, so PostgreSQL runs it once, as an
        # InitPlan), instead of by an index probe of the queue's skills for every candidate.
        f"AND (NOT EXISTS (SELECT 1 FROM {_table(QueueSkill)} r0 WHERE r0.queue_id = %s) "
        f"OR NOT EXISTS (SELECT 1 FROM {_table(QueueSkill)} r WHERE r.queue_id = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {_table(AgentSkill)} s WHERE s.agent_id = a.id "
        "AND s.skill_id = r.skill_id AND s.level >= r.min_level))) "
    )
    if not new:
        sql += (
            f"AND NOT EXISTS (SELECT 1 FROM {_table(InteractionEvent)} e WHERE e.interaction_id = %s "  # noqa: S608
            "AND e.kind IN (%s, %s) AND e.agent_id = a.id) "
        )
    return f"{sql}ORDER BY {order} LIMIT 1"


def eligible_agent_lock(interaction: Interaction, queue: Queue) -> AgentProfile | None:
    """The best eligible agent, locked (SKIP LOCKED): eligible_agents()...first()."""
    if not _raw_sql_enabled():
        return eligible_agents(interaction, queue).select_for_update(skip_locked=True, of=("self",)).first()
    names, select = _columns(AgentProfile, "a")
    sql, params = _eligible_agents_sql(interaction, queue, select)
    with _hot_cursor() as cursor:
        cursor.execute(f"{sql} FOR UPDATE OF a SKIP LOCKED", params)
        row = cursor.fetchone()
    return None if row is None else _instance(AgentProfile, names, row)


_CLAIM_SQL: dict[tuple[str, bool, int], str] = {}


def _claim_parts(eligible: str, counters: dict[str, int], *, state: str = "") -> str:
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
        f"c AS (UPDATE {_table(AgentCapacity)} c SET load = c.load + 1 FROM a "
        "WHERE c.agent_id = a.id AND c.channel = %s AND c.load < c.capacity RETURNING c.agent_id), "
    )
    if not state:
        return (
            f"{parts}u AS (UPDATE {_table(AgentProfile)} p SET {counted}, last_offer_at = %s FROM c "  # noqa: S608
            f"WHERE p.id = c.agent_id RETURNING p.id, {returned})"
        )
    return (
        f"{parts}s AS (SELECT c.agent_id AS id, {state} AS state, "  # noqa: S608 - names, enums
        "CAST(%s AS timestamptz) AS at FROM c), "
        f"u AS (UPDATE {_table(AgentProfile)} p SET {counted}, last_offer_at = s.at, state = s.state, "
        "state_since = CASE WHEN p.state = s.state THEN p.state_since ELSE s.at END, "
        "version = p.version + CASE WHEN p.state = s.state THEN 0 ELSE 1 END FROM s "
        f"WHERE p.id = s.id RETURNING p.id, {returned}, p.state, p.version, p.last_offer_at AS at)"
    )


def _offered_state_sql(auto_accept: bool) -> str:
    """agent_refresh_state's state for an agent just offered an interaction, as SQL over
    c.agent_id: OFFERED; on an auto-accept queue (the new interaction active) OFFERED while
    another of the agent's interactions waits for an answer, else BUSY. Literals from the
    enums, no parameters."""
    if not auto_accept:
        return f"'{AgentState.OFFERED.value}'"
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {_table(Interaction)} x WHERE x.agent_id = c.agent_id "  # noqa: S608
        f"AND x.status = '{InteractionStatus.OFFERED.value}') THEN '{AgentState.OFFERED.value}' "
        f"ELSE '{AgentState.BUSY.value}' END"
    )


def _state_history_parts() -> str:
    """WITH parts recording u's new state in the history when it differs from a's (the state
    before): the open row closed, a new one opened (agent_refresh_state's two writes), at u's
    time of the offer. No parameters."""
    history = _table(AgentStateChange)
    return (
        f"h AS (UPDATE {history} h SET ended_at = u.at FROM u, a "  # noqa: S608 - names from the models
        "WHERE h.agent_id = u.id AND h.ended_at IS NULL AND a.state <> u.state RETURNING 1), "
        f"n AS (INSERT INTO {history} (agent_id, state, reason_id, started_at, ended_at) "
        "SELECT u.id, u.state, NULL, u.at, NULL FROM u, a WHERE a.state <> u.state RETURNING 1)"
    )


def eligible_agent_claim(
    interaction: Interaction, queue: Queue, now: dt.datetime
) -> tuple[AgentProfile | None, bool]:
    """The best eligible agent, locked (SKIP LOCKED), with a slot of the channel taken and
    counted (_slot_take): (agent, True). (agent, False) when the agent locked has no free slot
    left after all (the candidate query's capacity subquery read before the lock), nothing
    written; (None, False) when no eligible agent could be locked. On PostgreSQL one statement:
    the lock, the conditional capacity UPDATE and the agent's counters, as data-modifying WITH
    parts that each run once (a routed interaction's hottest path)."""
    if not _raw_sql_enabled():
        agent = eligible_agent_lock(interaction, queue)
        if agent is None:
            return None, False
        return agent, _slot_take(agent, interaction.channel, now)
    names, select = _columns(AgentProfile, "a")
    counters = _load_counters(interaction.channel)
    key = (queue.strategy, interaction.pk is None, len(counters))
    cached = _CLAIM_SQL.get(key)
    sql, params = _eligible_agents_sql(interaction, queue, select)
    if cached is None:
        cached = _CLAIM_SQL[key] = (
            f"{_claim_parts(sql, counters)} "  # noqa: S608 - names from the models
            f"SELECT a.*, {', '.join(f'u.{name}' for name in counters)} FROM a LEFT JOIN u ON true"
        )
    with _hot_cursor() as cursor:
        cursor.execute(cached, [*params, interaction.channel, now])
        row = cursor.fetchone()
    if row is None:
        return None, False
    return _claimed(row, names, counters, now)


def _claimed(
    row: tuple[Any, ...], names: list[str], counters: dict[str, int], now: dt.datetime
) -> tuple[AgentProfile, bool]:
    """The agent of a claim's result row (the agent's columns, then u's counters), with the
    counters the claim moved, and whether it took the slot (u's columns are NULL when not)."""
    agent: AgentProfile = _instance(AgentProfile, names, row[: len(names)])
    loads = row[len(names) : len(names) + len(counters)]
    if loads[0] is None:
        return agent, False
    for name, value in zip(counters, loads, strict=True):
        setattr(agent, name, value)
    agent.last_offer_at = now
    return agent, True


def eligible_agent_exists(interaction: Interaction, queue: Queue) -> bool:
    if not _raw_sql_enabled():
        return eligible_agents(interaction, queue).exists()
    sql, params = _eligible_agents_sql(interaction, queue, "1")
    with _hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _waiting_for_sql(agent: AgentProfile, select: str) -> tuple[str, list[Any]]:
    """waiting_for() as SQL: `select` over interaction alias i and its queue q, best first."""
    sql = (
        f"SELECT {select} FROM {_table(Interaction)} i "  # noqa: S608 - names from the models
        f"INNER JOIN {_table(Queue)} q ON q.id = i.queue_id "
        "WHERE i.status = %s AND q.is_active "
        f"AND EXISTS (SELECT 1 FROM {_table(AgentProfile.queues.through)} aq "
        "WHERE aq.queue_id = i.queue_id AND aq.agentprofile_id = %s) "
        f"AND i.channel IN (SELECT c.channel FROM {_table(AgentCapacity)} c "
        "WHERE c.agent_id = %s AND c.load < c.capacity) "
        f"AND NOT EXISTS (SELECT 1 FROM {_table(QueueSkill)} r WHERE r.queue_id = i.queue_id "
        f"AND NOT EXISTS (SELECT 1 FROM {_table(AgentSkill)} s WHERE s.agent_id = %s "
        "AND s.skill_id = r.skill_id AND s.level >= r.min_level)) "
        f"AND NOT EXISTS (SELECT 1 FROM {_table(InteractionEvent)} e WHERE e.interaction_id = i.id "
        "AND e.kind IN (%s, %s) AND e.agent_id = %s) "
        "ORDER BY (i.priority + q.priority) DESC, i.queued_at ASC, i.id ASC LIMIT 1"
    )
    return sql, [InteractionStatus.QUEUED.value, agent.pk, agent.pk, agent.pk, *_REFUSED_KINDS, agent.pk]


def waiting_lock(agent: AgentProfile) -> Interaction | None:
    """The best waiting interaction for the agent, locked (SKIP LOCKED), its queue loaded:
    waiting_for()...first()."""
    if not _raw_sql_enabled():
        return (
            waiting_for(agent)
            .select_related("queue")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
    if agent.presence != Presence.AVAILABLE or agent.real_time_load:
        return None
    interaction_names, interaction_select = _columns(Interaction, "i")
    queue_names, queue_select = _columns(Queue, "q")
    sql, params = _waiting_for_sql(agent, f"{interaction_select}, {queue_select}")
    with _hot_cursor() as cursor:
        cursor.execute(f"{sql} FOR UPDATE OF i SKIP LOCKED", params)
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(interaction_names)
    interaction: Interaction = _instance(Interaction, interaction_names, row[:split])
    interaction.queue = _instance(Queue, queue_names, row[split:])
    return interaction


def waiting_exists(agent: AgentProfile) -> bool:
    if not _raw_sql_enabled():
        return waiting_for(agent).exists()
    if agent.presence != Presence.AVAILABLE or agent.real_time_load:
        return False
    sql, params = _waiting_for_sql(agent, "1")
    with _hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


# -- the two looks -------------------------------------------------------------------------------


def interaction_look(interaction_id: int) -> LookResult:
    """One attempt to offer a queued interaction to the best eligible agent."""
    with transaction.atomic():
        # The queue comes in the same read; only the interaction's row is locked.
        interaction = (
            Interaction.objects.select_related("queue")
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk=interaction_id)
            .first()
        )
        if interaction is None:
            still_queued = Interaction.objects.filter(
                pk=interaction_id, status=InteractionStatus.QUEUED
            ).exists()
            return LookResult(Outcome.CONTENDED if still_queued else Outcome.NOTHING)
        if interaction.status != InteractionStatus.QUEUED or interaction.queue_id is None:
            return LookResult(Outcome.NOTHING)
        queue = interaction.queue
        assert queue is not None
        if not queue.is_active:
            return LookResult(Outcome.NOTHING)
        now = timezone.now()
        agent, claimed = eligible_agent_claim(interaction, queue, now)
        if agent is None:
            return LookResult(
                Outcome.CONTENDED if eligible_agent_exists(interaction, queue) else Outcome.NOTHING
            )
        # The candidate query read its snapshot before the lock. PostgreSQL rechecks the agent
        # row's own columns (presence, real-time load) against its newest version when it locks
        # it, but not the subqueries: the load of the channel may have changed in between, and
        # loads only change under this lock, so a fresh read of that one row is the truth.
        # (Refusals of this interaction need its lock, which this look holds.)
        if not claimed:
            return LookResult(Outcome.CONTENDED)
        _offer(interaction, agent, queue, now)
        return LookResult(Outcome.MATCHED, [interaction.pk])


def agent_look(agent_id: int) -> LookResult:
    """One attempt to fill the agent's free capacity with the best waiting interactions."""
    offered: list[int] = []
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().filter(pk=agent_id).first()
        if agent is None:
            return LookResult(Outcome.NOTHING)
        while True:
            interaction = waiting_lock(agent)
            if interaction is None:
                if waiting_exists(agent):
                    return LookResult(Outcome.CONTENDED, offered)
                return LookResult(Outcome.MATCHED if offered else Outcome.NOTHING, offered)
            queue = interaction.queue
            assert queue is not None  # waiting_for only returns queued interactions of queues
            now = timezone.now()
            if not _slot_take(agent, interaction.channel, now):
                # Cannot happen: the agent's row is locked, so the free slot waiting_for read is
                # still free. Were it to, the look runs again rather than offer without a slot.
                return LookResult(Outcome.CONTENDED, offered)
            _offer(interaction, agent, queue, now)
            offered.append(interaction.pk)


def offers_in_one_statement() -> bool:
    """Whether offer_new writes a whole offer in one statement (PostgreSQL), so that it needs
    no transaction around it."""
    return _raw_sql_enabled()


def offer_new(interaction: Interaction, queue: Queue, opening: InteractionEvent) -> bool:
    """Offer an interaction that is not saved yet (status queued; in the caller's transaction,
    or in none when offers_in_one_statement()) to the best eligible agent now, if one is free and not locked (rule 2's shortcut). When it
    is, the interaction is inserted already offered (or active on an auto-accept queue) with
    `opening`, its queued event, and True returned. When not, nothing is written, and the
    caller must insert it queued and schedule the look after commit
    (after_commit(interaction_look, pk))."""
    if not queue.is_active or interaction.status != InteractionStatus.QUEUED:
        return False
    now = timezone.now()
    if _raw_sql_enabled():
        offered = _claim_and_insert(interaction, queue, opening, now)
        if offered is None:
            return False
        claimed_agent, state_changed = offered
        _offer_announce(interaction, claimed_agent, queue, now, state_changed=state_changed)
        return True
    agent, claimed = eligible_agent_claim(interaction, queue, now)
    if agent is None or not claimed:
        return False
    _offer(interaction, agent, queue, now, opening=opening)
    return True


# Statements of _claim_and_insert by strategy, counters, auto-accept and which values are NULL.
_CLAIM_INSERT_SQL: dict[tuple[Any, ...], str] = {}


def _claim_and_insert(
    interaction: Interaction, queue: Queue, opening: InteractionEvent, now: dt.datetime
) -> tuple[AgentProfile, bool] | None:
    """offer_new on PostgreSQL as one statement: eligible_agent_claim's lock, slot and
    counters, the agent's new state and its history (agent_refresh_state's writes), then the
    INSERTs of the interaction (as the offer leaves it, its agent the one claimed) and of its
    event rows; each data-modifying part reads the rows the one before it returned, so nothing
    is written unless an agent was claimed. The statement is the whole offer, so it may run
    outside a transaction (services.interaction_enqueue). Returns the agent and whether its
    state changed; None, with nothing written and the interaction as it was, when none was
    claimed."""
    before = {name: getattr(interaction, name) for name in _TRANSITION_FIELDS}
    rows = _offer_transition(interaction, None, queue, now, opening)
    names, select = _columns(AgentProfile, "a")
    counters = _load_counters(interaction.channel)
    eligible, params = _eligible_agents_sql(interaction, queue, select)
    fields, event_fields = _insert_fields()
    db = _db()
    values = _db_values(interaction, fields, db)
    event_values = [_db_values(row, event_fields, db) for row in rows]
    # NULLs are written into the statement, not sent: fewer parameters keep it within psycopg's
    # cache of parsed statements (50 parameters, 4 kB), and each shape is prepared once.
    nulls = (tuple(v is None for v in values), tuple(tuple(v is None for v in r) for r in event_values))
    key = (queue.strategy, len(counters), queue.auto_accept, nulls)
    statement = _CLAIM_INSERT_SQL.get(key)
    if statement is None:
        statement = _CLAIM_INSERT_SQL[key] = _claim_and_insert_sql(
            eligible, counters, nulls, auto_accept=queue.auto_accept
        )
    params += [interaction.channel, now]
    params += [v for v in values if v is not None]
    for row_values in event_values:
        params += [v for v in row_values if v is not None]
    with _hot_cursor() as cursor:
        cursor.execute(statement, params)
        result = cursor.fetchone()
    agent, claimed = (None, False) if result is None else _claimed(result, names, counters, now)
    if agent is None or not claimed:
        for name, value in before.items():
            setattr(interaction, name, value)
        return None
    state, version, pk = result[-3:]
    state_changed = state != agent.state
    if state_changed:
        agent.state, agent.state_since, agent.version = state, now, version
    interaction.pk = pk
    interaction.agent = agent
    interaction._state.adding = False
    interaction._state.db = db.alias
    for row in rows:
        row.interaction_id = pk
        if row is not opening:
            row.agent_id = agent.pk
    return agent, state_changed


_TRANSITION_FIELDS = ("status", "offered_at", "offer_expires_at", "accepted_at", "version")


_INSERT_FIELDS: list[tuple[list[Any], list[Any]]] = []

# Field classes whose get_db_prep_save returns a value of this exact type (or None) unchanged
# on PostgreSQL (the one-statement path's database): _db_values passes such values through.
_PLAIN: dict[type[Any], type[Any]] = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
}
_DB_VALUE_PLANS: dict[tuple[type[Any], int], list[tuple[Any, str, type[Any] | None, Any]]] = {}


def _int_plan(field: Any, db: Any) -> tuple[type[Any] | None, Any]:
    """For an integer column (an integer field, or a foreign key to an integer key): what the
    field makes of a Python int, asked of the field itself once: the int as it is (a foreign
    key), or the int in psycopg's Int2/Int4/Int8 for its column (an integer field on psycopg
    3). (None, None) when it is anything else: every value then takes the field's own path."""
    target = getattr(field, "target_field", field) if field.is_relation else field
    if not isinstance(target, models.IntegerField):
        return None, None
    made = field.get_db_prep_save(1, db)
    if type(made) is int:
        return int, None
    if isinstance(made, int) and made == 1:  # psycopg's Int2/Int4/Int8 are ints
        return int, type(made)
    return None, None


def _db_value_plan(field: Any, db: Any) -> tuple[Any, str, type[Any] | None, Any]:
    """(field, attname, the type passed through as it is or wrapped, the wrapper or None)."""
    if type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        return field, field.attname, dt.datetime, None
    if type(field) in _PLAIN:
        return field, field.attname, _PLAIN[type(field)], None
    return (field, field.attname, *_int_plan(field, db))


def _db_values(instance: Any, fields: list[Any], db: Any) -> list[Any]:
    """[f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields], without the
    conversions for values already of their column's plain type (str, bool, an aware datetime,
    an int, None), which are passed as they are or wrapped as the field would wrap them:
    routing's hottest path writes some forty values per arrival."""
    key = (type(instance), id(fields))  # fields: one of _insert_fields()'s lists, kept for good
    plan = _DB_VALUE_PLANS.get(key)
    if plan is None:
        plan = _DB_VALUE_PLANS[key] = [_db_value_plan(f, db) for f in fields]
    values: list[Any] = []
    for model_field, attname, kind, wrap in plan:
        if kind is not None:
            value = getattr(instance, attname)
            if value is None:
                values.append(None)
                continue
            if type(value) is kind and (kind is not dt.datetime or value.tzinfo is not None):
                values.append(value if wrap is None else wrap(value))
                continue
        values.append(model_field.get_db_prep_save(model_field.pre_save(instance, True), db))
    return values


def _insert_fields() -> tuple[list[Any], list[Any]]:
    """The columns _claim_and_insert writes: the interaction's but its id and agent (u's id),
    its events' but their id, interaction (i's id) and agent."""
    if not _INSERT_FIELDS:
        _INSERT_FIELDS.append(
            (
                [f for f in Interaction._meta.concrete_fields if not f.primary_key and f.name != "agent"],
                [
                    f
                    for f in InteractionEvent._meta.concrete_fields
                    if not f.primary_key and f.name not in ("interaction", "agent")
                ],
            )
        )
    return _INSERT_FIELDS[0]


def _claim_and_insert_sql(
    eligible: str,
    counters: dict[str, int],
    nulls: tuple[tuple[bool, ...], tuple[tuple[bool, ...], ...]],
    *,
    auto_accept: bool,
) -> str:
    """_claim_and_insert's statement; nulls: which of the interaction's and of each event row's
    values (_insert_fields) are NULL, written as such; the others are parameters. The first
    event row is the opening (no agent), the others the claimed agent's."""
    quote = connection.ops.quote_name
    fields, event_fields = _insert_fields()
    interaction_nulls, event_nulls = nulls

    def typed(field: Any, null: bool) -> str:
        kind = str(field.db_type(connection)).replace("timestamp with time zone", "timestamptz")
        return f"{'NULL' if null else '%s'}::{kind}"

    columns = ", ".join(quote(str(f.column)) for f in fields)
    event_columns = [quote(str(f.column)) for f in event_fields]
    values = ", ".join(
        f"({', '.join(typed(f, null) for f, null in zip(event_fields, row, strict=True))}, {'true' if n else 'false'})"
        for n, row in enumerate(event_nulls)
    )
    inserted = ", ".join(typed(f, null) for f, null in zip(fields, interaction_nulls, strict=True))
    return (
        f"{_claim_parts(eligible, counters, state=_offered_state_sql(auto_accept))}, "  # noqa: S608
        f"i AS (INSERT INTO {_table(Interaction)} ({columns}, agent_id) "
        f"SELECT {inserted}, u.id FROM u RETURNING id), "
        f"e AS (INSERT INTO {_table(InteractionEvent)} (interaction_id, {', '.join(event_columns)}, agent_id) "
        f"SELECT i.id, {', '.join(f'v.{c}' for c in event_columns)}, CASE WHEN v.mine THEN u.id END "
        f"FROM i, u, (VALUES {values}) AS v ({', '.join(event_columns)}, mine) RETURNING 1), "
        f"{_state_history_parts()} "
        f"SELECT a.*, {', '.join(f'u.{name}' for name in counters)}, u.state, u.version, i.id FROM a "
        "LEFT JOIN u ON true LEFT JOIN i ON true"
    )


def offer_to(interaction: Interaction, agent: AgentProfile, queue: Queue, now: dt.datetime) -> bool:
    """Offer a queued interaction to an agent a person chose (a direct transfer), both rows
    locked by the caller and the agent checked available. False, with nothing written, when
    the agent has no free slot for the channel."""
    if not _slot_take(agent, interaction.channel, now):
        return False
    _offer(interaction, agent, queue, now)
    return True


Look = Callable[[int], LookResult]


def settle(look: Look, pk: int) -> LookResult:
    """Run a look until it is not CONTENDED (rule 3). Must run outside any transaction: a retry
    inside one would keep reading the same locks."""
    pause = 0.001
    result = look(pk)
    tries = 1
    while result.outcome is Outcome.CONTENDED and tries < MAX_TRIES:
        time.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not security
        pause = min(pause * 2, MAX_PAUSE)
        result = look(pk)
        tries += 1
    if result.outcome is Outcome.CONTENDED:
        logger.error("%s(%s) still contended after %s tries", look.__name__, pk, tries)
    return result


def after_commit(look: Look, pk: int) -> None:
    """Schedule a settled look once the current transaction commits (rule 2); at once when
    there is none."""
    transaction.on_commit(lambda: settle(look, pk))
