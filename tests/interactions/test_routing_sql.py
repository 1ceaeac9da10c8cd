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
