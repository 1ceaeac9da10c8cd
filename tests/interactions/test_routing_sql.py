"""The looks' SQL on PostgreSQL (acd.eligible_agent_lock/_exists, acd.waiting_lock/_exists) picks
what the querysets that define them (acd.eligible_agents, acd.waiting_for) pick, in the same
order, for every strategy: skills and minimum levels, capacity per channel, real-time blocking,
presence, queue membership and activity, refusals. On other databases the looks run the
querysets themselves, so the comparison is trivially true there (it runs all the same)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.interactions import acd, events, services
from apps.interactions.acd import fast_path
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Presence,
    Queue,
    RoutingStrategy,
    Skill,
)
from tests.conftest import require_postgres
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _scene() -> tuple[list[Queue], list[AgentProfile], list[Interaction]]:
    billing = Skill.objects.create(name="billing")
    french = Skill.objects.create(name="french")
    plain = make_queue(channels=["chat", "voice", "email"], priority=1)
    skilled = make_queue(channels=["chat", "voice", "email"], priority=5)
    skilled.required_skills.create(skill=billing, min_level=2)
    skilled.required_skills.create(skill=french, min_level=1)
    closed = make_queue(channels=["chat"], priority=9)
    now = timezone.now()
    agents = [
        make_agent(plain, skilled, closed, skills={billing: 3, french: 1}, capacity={"chat": 3}),
        make_agent(plain, skilled, skills={billing: 2, french: 4}, capacity={"chat": 2}),
        make_agent(plain, skilled, skills={billing: 1, french: 5}, capacity={"chat": 3}),  # level too low
        make_agent(plain, skills={billing: 5}, capacity={"chat": 3}),
        make_agent(plain, skilled, skills={billing: 4, french: 2}, capacity={"chat": 1}),  # chat full
        make_agent(plain, skilled, skills={billing: 3, french: 3}, capacity={"chat": 3}),  # on a call
        make_agent(plain, skilled, skills={billing: 3, french: 3}, available=False),
        make_agent(skilled, skills={billing: 2, french: 1}, capacity={"chat": 3}),
        make_agent(plain, skilled, closed, skills={billing: 2, french: 2}, capacity={"chat": 3}),
    ]
    for n, agent in enumerate(agents):
        AgentProfile.objects.filter(pk=agent.pk).update(
            idle_since=None if n == 3 else now - dt.timedelta(minutes=(n * 7) % 5),
            last_offer_at=None if n in (1, 8) else now - dt.timedelta(minutes=(n * 3) % 4),
            total_load=n % 3,
        )
    AgentCapacity.objects.filter(agent=agents[4], channel="chat").update(load=1)
    AgentProfile.objects.filter(pk=agents[5].pk).update(real_time_load=1)
    closed.is_active = False
    closed.save(update_fields=["is_active"])
    interactions = []
    for n, (queue, channel, priority) in enumerate(
        [
            (plain, "chat", 0),
            (skilled, "chat", 0),
            (plain, "email", 3),
            (skilled, "chat", 1),
            (closed, "chat", 9),
            (plain, "voice", 0),
            (skilled, "chat", -5),
            (plain, "chat", 2),
        ]
    ):
        interactions.append(
            Interaction.objects.create(
                queue=queue,
                channel=channel,
                priority=priority,
                status=InteractionStatus.QUEUED,
                queued_at=now - dt.timedelta(seconds=n % 3),
                version=1,
            )
        )
    InteractionEvent.objects.create(
        interaction=interactions[1], kind="rejected", agent=agents[0], at=now, from_status="offered"
    )
    InteractionEvent.objects.create(
        interaction=interactions[0], kind="offer_timeout", agent=agents[1], at=now, from_status="offered"
    )
    InteractionEvent.objects.create(
        interaction=interactions[0], kind="accepted", agent=agents[3], at=now, from_status="offered"
    )
    return [plain, skilled, closed], [AgentProfile.objects.get(pk=a.pk) for a in agents], interactions


@pytest.mark.parametrize("strategy", list(RoutingStrategy.values))
def test_the_eligible_agent_sql_orders_as_the_queryset(strategy: str) -> None:
    queues, agents, interactions = _scene()
    Queue.objects.update(strategy=strategy)
    for interaction in interactions:
        queue = Queue.objects.get(pk=interaction.queue_id)
        taken: list[int] = []
        with transaction.atomic():
            while True:
                expected = acd.eligible_agents(interaction, queue).exclude(pk__in=taken).first()
                AgentProfile.objects.filter(pk__in=taken).update(presence=Presence.NOT_READY)
                found = acd.eligible_agent_lock(interaction, queue)
                assert acd.eligible_agent_exists(interaction, queue) is (expected is not None)
                assert (found and found.pk) == (expected and expected.pk), (strategy, interaction.pk, taken)
                if found is None:
                    break
                assert found.user_id == expected.user_id and found.total_load == expected.total_load
                taken.append(found.pk)
            transaction.set_rollback(True)
        assert len(taken) <= len(agents)


def test_the_waiting_sql_orders_as_the_queryset() -> None:
    queues, agents, interactions = _scene()
    for agent in agents:
        taken: list[int] = []
        with transaction.atomic():
            while True:
                expected = acd.waiting_for(agent).select_related("queue").first()
                found = acd.waiting_lock(agent)
                assert acd.waiting_exists(agent) is (expected is not None)
                assert (found and found.pk) == (expected and expected.pk), (agent.pk, taken)
                if found is None or expected is None:
                    break
                assert found.queue == expected.queue and found.queue.channels == expected.queue.channels
                assert found.queued_at == expected.queued_at and found.status == expected.status
                taken.append(found.pk)
                Interaction.objects.filter(pk=found.pk).update(status=InteractionStatus.OFFERED)
            transaction.set_rollback(True)


def _loads() -> dict[tuple[int, str], int]:
    return {(c.agent_id, c.channel): c.load for c in AgentCapacity.objects.all()}


def _counters() -> dict[int, tuple[int, int, dt.datetime | None]]:
    return {a.pk: (a.total_load, a.real_time_load, a.last_offer_at) for a in AgentProfile.objects.all()}


@pytest.mark.parametrize("strategy", list(RoutingStrategy.values))
def test_the_claim_takes_the_querysets_first_agent_and_counts_exactly_one_slot(strategy: str) -> None:
    """acd.eligible_agent_claim (one statement on PostgreSQL) = eligible_agents().first(), its
    slot of the channel taken and its counters moved, nothing else written; for a saved
    interaction and for a new one (offer_new: nobody has refused it)."""
    queues, agents, interactions = _scene()
    Queue.objects.update(strategy=strategy)
    new = [
        Interaction(queue=q, channel=ch, status=InteractionStatus.QUEUED)
        for q in queues[:2]
        for ch in ("chat", "voice")
    ]
    for interaction in [*interactions, *new]:
        queue = Queue.objects.get(pk=interaction.queue_id)
        now = timezone.now()
        with transaction.atomic():
            expected = acd.eligible_agents(interaction, queue).first()
            loads, counters = _loads(), _counters()
            agent, claimed = acd.eligible_agent_claim(interaction, queue, now)
            assert (agent and agent.pk) == (expected and expected.pk), (strategy, interaction.pk)
            assert claimed is (agent is not None)
            if agent is not None:
                key = (agent.pk, interaction.channel)
                loads[key] += 1
                total, real_time, _ = counters[agent.pk]
                counters[agent.pk] = (total + 1, real_time + (interaction.channel == "voice"), now)
                assert (agent.total_load, agent.real_time_load, agent.last_offer_at) == counters[agent.pk]
            assert _loads() == loads and _counters() == counters
            transaction.set_rollback(True)


@pytest.mark.parametrize("holding", ["", "offered", "active"])
@pytest.mark.parametrize("auto_accept", [False, True])
@pytest.mark.parametrize("channel", ["chat", "voice"])
def test_offer_new_in_one_statement_writes_what_the_generic_path_writes(
    holding: str, auto_accept: bool, channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """offer_new on PostgreSQL (acd.fast_path.claim_and_insert: claim, state and INSERTs in one
    statement) against the generic path every other database runs (claim, save, bulk_create,
    agent_refresh_state), on two identical scenes: the interaction, its events, the agent's
    counters, loads, state, version and state history, and the agent events published, come
    out the same, whether the agent was free or already held a chat offered or active (so the
    state changes, or stays OFFERED or BUSY); and with no agent free both write nothing."""
    now = timezone.now()
    published: list[tuple[str, int, int]] = []
    monkeypatch.setattr(
        events, "agent_changed", lambda agent: published.append((agent.state, agent.version, agent.pk))
    )

    def scene(name: str) -> tuple[Queue, AgentProfile]:
        queue = make_queue(name=name, channels=["chat", "voice"], auto_accept=auto_accept)
        agent = make_agent(queue, capacity={"chat": 3, "voice": 1})
        if holding:
            held = make_queue(name=f"{name} held", channels=["chat"], auto_accept=holding == "active")
            agent.queues.add(held)
            interaction = services.interaction_enqueue(actor=SYSTEM, queue=held, channel="chat")
            assert interaction.status == holding and interaction.agent_id == agent.pk
            agent.refresh_from_db()
        return queue, agent

    def run(queue: Queue, generic: bool) -> Interaction | None:
        published.clear()
        with monkeypatch.context() as patch, transaction.atomic():
            if generic:
                patch.setattr(acd.sql, "raw_sql_enabled", lambda: False)
            interaction = Interaction(
                queue=queue,
                channel=channel,
                contact="+15550001",
                priority=2,
                version=1,
                status=InteractionStatus.QUEUED,
                queued_at=now,
            )
            opening = acd.event_build(interaction, kind="queued", from_status="", at=now)
            return acd.offer_new(interaction, queue, opening)

    def written(
        queue: Queue, agent: AgentProfile, interaction: Interaction, agent_events: list[tuple[str, int, int]]
    ) -> dict[str, Any]:
        skip = {
            "id",
            "idle_since",
            "last_seen_at",
            "created_at",
            "queue_id",
            "agent_id",
            "interaction_id",
            "user_id",
            "offered_at",
            "ended_at",
            "offer_expires_at",
            "accepted_at",
            "at",
            "last_offer_at",
            "started_at",
            "state_since",
        }

        def clean(values: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in values.items() if k not in skip}

        agent_row = AgentProfile.objects.filter(pk=agent.pk).values().get()
        row = Interaction.objects.get(pk=interaction.pk)
        assert row.offered_at is not None
        offered_at = row.offered_at
        history = list(agent.state_changes.order_by("id"))
        # The in-memory agent the offer announced matches its row.
        announced = interaction.agent
        assert announced is not None
        assert (announced.state, announced.version, announced.total_load) == (
            agent_row["state"],
            agent_row["version"],
            agent_row["total_load"],
        )
        return {
            "timing": (
                row.offer_expires_at and row.offer_expires_at - offered_at,
                row.accepted_at == offered_at,
                agent_row["last_offer_at"] == offered_at,
                agent_row["state_since"] == offered_at,
                [e.at == offered_at for e in InteractionEvent.objects.filter(interaction=row).order_by("id")],
                [(h.started_at == offered_at, h.ended_at == offered_at) for h in history],
            ),
            "published": [(state, version, pk == agent.pk) for state, version, pk in agent_events],
            "interaction": clean(Interaction.objects.filter(pk=interaction.pk).values().get()),
            "with": (
                interaction.agent_id == agent.pk,
                Interaction.objects.get(pk=interaction.pk).agent_id == agent.pk,
            ),
            "events": [
                (clean(e), e["agent_id"] == agent.pk, e["queue_id"] == queue.pk)
                for e in InteractionEvent.objects.filter(interaction=interaction).order_by("id").values()
            ],
            "agent": clean(agent_row),
            "loads": sorted(AgentCapacity.objects.filter(agent=agent).values_list("channel", "load")),
            "history": [clean(h) for h in agent.state_changes.order_by("id").values()],
        }

    one_queue, one_agent = scene("One")
    other_queue, other_agent = scene("Other")
    one = run(one_queue, generic=False)
    one_published = list(published)
    other = run(other_queue, generic=True)
    assert one is not None and other is not None
    assert one.agent_id == one_agent.pk and not one._state.adding
    assert written(one_queue, one_agent, one, one_published) == written(
        other_queue, other_agent, other, list(published)
    )
    # The agent's state changed exactly when it was free or busy and is offered now.
    assert bool(one_published) == (not holding or (holding == "active" and not auto_accept))

    # Nobody free: nothing written on either path.
    AgentProfile.objects.filter(pk__in=[one_agent.pk, other_agent.pk]).update(presence=Presence.NOT_READY)
    before = (Interaction.objects.count(), InteractionEvent.objects.count(), _loads(), _counters())
    assert run(one_queue, generic=False) is None and run(other_queue, generic=True) is None
    assert (Interaction.objects.count(), InteractionEvent.objects.count(), _loads(), _counters()) == before


def test_db_values_match_the_fields_own_conversions(monkeypatch: pytest.MonkeyPatch) -> None:
    """acd.fast_path._db_values (the one statement's parameters) gives what get_db_prep_save gives, for
    an interaction and events with every column set (plain values, and values of other types
    that need the field's conversion), and for one left at its defaults. PostgreSQL only, as
    the one statement is (other backends adapt datetimes to text, and never take this path)."""
    from django.db import connection as db

    require_postgres()

    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    now = timezone.now()
    full = Interaction(
        queue=queue,
        agent=agent,
        channel="chat",
        contact="+15550001",
        priority="3",  # a string: converted by the field
        subject="Refund",
        status=InteractionStatus.OFFERED,
        queued_at=now,
        offered_at=now.replace(tzinfo=None),  # naive: converted (with Django's warning)
        offer_expires_at=now + dt.timedelta(seconds=30),
        on_hold=True,
        hold_seconds=12,
        notes="n",
        version=2,
    )
    event = acd.event_build(full, kind="offered", from_status="queued", at=now, data={"auto": True})
    bare = Interaction(queue=queue, channel="chat", status=InteractionStatus.QUEUED, queued_at=now)
    fields, event_fields = fast_path._insert_fields()
    monkeypatch.setattr(timezone, "now", lambda: now)  # created_at's pre_save, the same both times
    with pytest.warns(RuntimeWarning):
        expected = [f.get_db_prep_save(f.pre_save(full, True), db) for f in fields]
    with pytest.warns(RuntimeWarning):
        got = fast_path._db_values(full, fields, db)
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert [getattr(v, "obj", v) for v in got] == [getattr(v, "obj", v) for v in expected]
    for instance, columns in ((bare, fields), (event, event_fields)):
        expected = [f.get_db_prep_save(f.pre_save(instance, True), db) for f in columns]
        got = fast_path._db_values(instance, columns, db)
        assert [type(v) for v in got] == [type(v) for v in expected]
        assert [getattr(v, "obj", v) for v in got] == [getattr(v, "obj", v) for v in expected]


def test_the_routing_cursor_binds_on_the_server_and_raises_django_errors(postgres: None) -> None:
    """acd.sql.hot_cursor is built from public parts (psycopg's Cursor, the connection's
    make_cursor): its statements bind on the server (so psycopg can prepare them) and a failing
    statement raises Django's error class, which the atomic blocks around routing roll back."""
    import psycopg
    from django.db import DataError

    from apps.interactions.acd import sql

    with transaction.atomic():
        with sql.hot_cursor() as cursor:
            assert type(cursor.cursor) is psycopg.Cursor  # not Django's client-binding cursor
            cursor.execute("SELECT %s::int + 1", [41])
            assert cursor.fetchone() == (42,)
        with pytest.raises(DataError), transaction.atomic(), sql.hot_cursor() as cursor:
            cursor.execute("SELECT 1 / %s::int", [0])
