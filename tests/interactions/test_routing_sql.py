"""The looks' SQL on PostgreSQL (acd.eligible_agent_lock/_exists, acd.waiting_lock/_exists) picks
what the querysets that define them (acd.eligible_agents, acd.waiting_for) pick, in the same
order, for every strategy: skills and minimum levels, capacity per channel, real-time blocking,
presence, queue membership and activity, refusals. On other databases the looks run the
querysets themselves, so the comparison is trivially true there (it runs all the same)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from apps.interactions import acd
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


def test_one_insert_writes_what_save_and_bulk_create_write() -> None:
    """acd.insert_with_events (one statement on PostgreSQL) against save() + bulk_create()."""
    queue = make_queue()
    agent = make_agent(queue)
    now = timezone.now()

    def build() -> tuple[Interaction, list[InteractionEvent]]:
        interaction = Interaction(
            queue=queue,
            channel="chat",
            contact="+15550001",
            subject="Refund",
            priority=2,
            version=2,
            status=InteractionStatus.QUEUED,
            queued_at=now,
        )
        opening = acd.event_build(
            interaction, kind="queued", from_status="", at=now, data={"after_hours_of": 7}
        )
        interaction.status, interaction.agent, interaction.offered_at = InteractionStatus.OFFERED, agent, now
        offered = acd.event_build(interaction, kind="offered", from_status="queued", at=now)
        return interaction, [opening, offered]

    one, one_events = build()
    acd.insert_with_events(one, one_events)
    other, other_events = build()
    other.save(force_insert=True)
    InteractionEvent.objects.bulk_create(other_events)

    def row(interaction: Interaction) -> dict[str, object]:
        values = Interaction.objects.filter(pk=interaction.pk).values().get()
        return {k: v for k, v in values.items() if k not in {"id", "created_at"}}

    def event_rows(interaction: Interaction) -> list[dict[str, object]]:
        return [
            {k: v for k, v in e.items() if k not in {"id", "interaction_id"}}
            for e in InteractionEvent.objects.filter(interaction=interaction).order_by("id").values()
        ]

    assert one.pk is not None and not one._state.adding
    assert row(one) == row(other)
    assert event_rows(one) == event_rows(other) and len(event_rows(one)) == 2
    assert Interaction.objects.get(pk=one.pk).created_at is not None
