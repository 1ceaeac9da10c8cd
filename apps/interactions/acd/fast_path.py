"""The PostgreSQL fast path of a new arrival: offer_new as one statement that claims an agent,
takes the slot, moves the agent's state and inserts the interaction and its events, so a routed
arrival needs no BEGIN/COMMIT round trips."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, models

from apps.interactions import signals
from apps.interactions.acd.candidates import claim_parts, claimed_agent, eligible_agents_sql
from apps.interactions.acd.offers import load_counters, offer_transition
from apps.interactions.acd.sql import columns, default_db, hot_cursor, table
from apps.interactions.models import (
    AgentProfile,
    AgentState,
    AgentStateChange,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Queue,
)


def _offered_state_sql(auto_accept: bool) -> str:
    """agent_refresh_state's state for an agent just offered an interaction, as SQL over
    c.agent_id: OFFERED; on an auto-accept queue (the new interaction active) OFFERED while
    another of the agent's interactions waits for an answer, else BUSY. Literals from the
    enums, no parameters."""
    if not auto_accept:
        return f"'{AgentState.OFFERED.value}'"
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {table(Interaction)} x WHERE x.agent_id = c.agent_id "  # noqa: S608
        f"AND x.status = '{InteractionStatus.OFFERED.value}') THEN '{AgentState.OFFERED.value}' "
        f"ELSE '{AgentState.BUSY.value}' END"
    )


def _state_history_parts() -> str:
    """WITH parts recording u's new state in the history when it differs from a's (the state
    before): the open row closed, a new one opened (agent_refresh_state's two writes), at u's
    time of the offer. No parameters."""
    history = table(AgentStateChange)
    return (
        f"h AS (UPDATE {history} h SET ended_at = u.at FROM u, a "  # noqa: S608 - names from the models
        "WHERE h.agent_id = u.id AND h.ended_at IS NULL AND a.state <> u.state RETURNING 1), "
        f"n AS (INSERT INTO {history} (agent_id, state, reason_id, started_at, ended_at) "
        "SELECT u.id, u.state, NULL, u.at, NULL FROM u, a WHERE a.state <> u.state RETURNING 1)"
    )


# Statements of claim_and_insert by strategy, counters, auto-accept and which values are NULL.
_CLAIM_INSERT_SQL: dict[tuple[Any, ...], str] = {}


def claim_and_insert(
    interaction: Interaction, queue: Queue, opening: InteractionEvent, now: dt.datetime
) -> tuple[Interaction, AgentProfile, bool] | None:
    """offer_new on PostgreSQL as one statement: eligible_agent_claim's lock, slot and
    counters, the agent's new state and its history (agent_refresh_state's writes), then the
    INSERTs of the interaction (as the offer leaves it, its agent the one claimed) and of its
    event rows; each data-modifying part reads the rows the one before it returned, so nothing
    is written unless an agent was claimed. The statement is the whole offer, so it may run
    outside a transaction (services.interaction_enqueue). Returns the inserted interaction (a
    model instance built by Model.from_db, as a query would return it, its agent attached), the
    agent and whether its state changed; None, with nothing written and the interaction as it
    was, when none was claimed."""
    before = {name: getattr(interaction, name) for name in _TRANSITION_FIELDS}
    rows = offer_transition(interaction, None, queue, now, opening)
    names, select = columns(AgentProfile, "a")
    counters = load_counters(interaction.channel)
    eligible, params = eligible_agents_sql(interaction, queue, select)
    fields, event_fields = _insert_fields()
    db = default_db()
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
    with hot_cursor() as cursor:
        cursor.execute(statement, params)
        result = cursor.fetchone()
    agent, claimed = (None, False) if result is None else claimed_agent(result, names, counters, now)
    if agent is None or not claimed:
        for name, value in before.items():
            setattr(interaction, name, value)
        return None
    state, version, pk = result[-3:]
    state_changed = state != agent.state
    if state_changed:
        agent.state, agent.state_since, agent.version = state, now, version
    interaction.pk = pk
    interaction.agent_id = agent.pk
    attnames = _interaction_attnames()
    saved = Interaction.from_db(db.alias, attnames, [getattr(interaction, name) for name in attnames])
    saved.agent = agent
    for row in rows:
        row.interaction_id = pk
        if row is not opening:
            row.agent_id = agent.pk
    # Committed already when it ran in no transaction: then these are sent at once.
    signals.events_announce(rows, interaction=saved, actor=signals.ROUTING)
    return saved, agent, state_changed


_ATTNAMES: list[list[str]] = []


def _interaction_attnames() -> list[str]:
    """Interaction's concrete attnames in field order, as Model.from_db takes them (built once)."""
    if not _ATTNAMES:
        _ATTNAMES.append([f.attname for f in Interaction._meta.concrete_fields])
    return _ATTNAMES[0]


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
    """The columns claim_and_insert writes: the interaction's but its id and agent (u's id),
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
    """claim_and_insert's statement; nulls: which of the interaction's and of each event row's
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
        f"{claim_parts(eligible, counters, state=_offered_state_sql(auto_accept))}, "  # noqa: S608
        f"i AS (INSERT INTO {table(Interaction)} ({columns}, agent_id) "
        f"SELECT {inserted}, u.id FROM u RETURNING id), "
        f"e AS (INSERT INTO {table(InteractionEvent)} (interaction_id, {', '.join(event_columns)}, agent_id) "
        f"SELECT i.id, {', '.join(f'v.{c}' for c in event_columns)}, CASE WHEN v.mine THEN u.id END "
        f"FROM i, u, (VALUES {values}) AS v ({', '.join(event_columns)}, mine) RETURNING 1), "
        f"{_state_history_parts()} "
        f"SELECT a.*, {', '.join(f'u.{name}' for name in counters)}, u.state, u.version, i.id FROM a "
        "LEFT JOIN u ON true LEFT JOIN i ON true"
    )
