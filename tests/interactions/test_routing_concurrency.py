"""Issue 3, item 7: several processes routing at once on PostgreSQL. Four processes enqueue
2,000 interactions for 50 agents and act as the agents at random (accept, reject, let the offer
time out, end, wrap up, come back from not-ready, customers abandon). The invariants are then
checked from the event rows:

- an interaction's events chain (each starts where the previous ended): no lost or doubled
  transition, so never offered to two agents at once;
- replaying each agent's events in lock order, no channel's load ever exceeds its capacity, and
  the stored loads equal what the agent holds at the end;
- every interaction ends closed or abandoned;
- once the processes stop, no interaction waits beside an eligible agent with a free slot.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import time
from collections import defaultdict
from typing import Any

import pytest
from django.db import connections
from django.db.models import F

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.core.exceptions import DomainError
from apps.interactions import acd, services
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentSkill,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    NotReadyReason,
    Presence,
    Queue,
    QueueSkill,
    RoutingStrategy,
    Skill,
)
from tests.conftest import require_postgres

PROCESSES = 4
PER_PROCESS = 500
AGENTS = 50
# A safety net against a hang, not a speed goal (that is make bench's): the run ends as soon as
# everything is closed, about 150 s on 2 idle cores; a loaded shared machine needs far more.
DEADLINE_SECONDS = 600

RELEASING = {"rejected", "offer_timeout", "closed", "wrap_up_timeout"}


def _setup() -> None:
    spanish = Skill.objects.create(name="spanish")
    billing = Skill.objects.create(name="billing")
    sales = Queue.objects.create(
        name="Sales",
        channels=["voice", "chat"],
        strategy=RoutingStrategy.LONGEST_IDLE,
        offer_timeout_seconds=1,
    )
    support = Queue.objects.create(
        name="Support",
        channels=["chat", "email"],
        strategy=RoutingStrategy.LEAST_OCCUPIED,
        offer_timeout_seconds=1,
        disposition_required=False,
    )
    espanol = Queue.objects.create(
        name="Español",
        channels=["voice", "chat"],
        strategy=RoutingStrategy.MOST_SKILLED,
        offer_timeout_seconds=1,
    )
    billing_queue = Queue.objects.create(
        name="Billing",
        channels=["voice", "email"],
        strategy=RoutingStrategy.ROUND_ROBIN,
        offer_timeout_seconds=1,
    )
    QueueSkill.objects.create(queue=espanol, skill=spanish, min_level=2)
    QueueSkill.objects.create(queue=billing_queue, skill=billing, min_level=1)
    Disposition.objects.create(code="resolved", label="Resolved", category=DispositionCategory.RESOLVED)
    NotReadyReason.objects.create(code="break", label="Break")
    rnd = random.Random(3)
    for n in range(AGENTS):
        user = User.objects.create(username=f"agent{n}")
        agent = services.agent_profile_for(user=user)
        AgentCapacity.objects.filter(agent=agent, channel="chat").update(capacity=rnd.choice([1, 2, 3]))
        queues = [q for q in (sales, support, espanol, billing_queue) if rnd.random() < 0.6] or [support]
        agent.queues.set(queues)
        if rnd.random() < 0.5:
            AgentSkill.objects.create(agent=agent, skill=spanish, level=rnd.choice([1, 2, 3]))
        if rnd.random() < 0.5:
            AgentSkill.objects.create(agent=agent, skill=billing, level=1)
        services.agent_set_presence(actor=SYSTEM, agent_id=agent.pk, presence=Presence.AVAILABLE)


def _some(status: str, rnd: random.Random, limit: int = 20, share: int | None = None) -> list[int]:
    """Up to `limit` interactions in `status`: mostly from this process's share (pk modulo the
    process count), so the processes act like different agents, and sometimes from anyone's,
    so two processes also race for the same interaction (a stale second click)."""
    query = Interaction.objects.filter(status=status)
    if share is not None and rnd.random() < 0.8:
        query = query.annotate(slot=F("pk") % PROCESSES).filter(slot=share)
    ids = list(query.values_list("pk", flat=True)[:limit])
    rnd.shuffle(ids)
    return ids


def _act(rnd: random.Random, resolved: Disposition, share: int) -> None:
    """One random move of the agents and customers."""
    roll = rnd.random()
    try:
        if roll < 0.30:
            for pk in _some(InteractionStatus.OFFERED, rnd, 5, share):
                move = rnd.random()
                if move < 0.75:
                    services.interaction_accept(actor=SYSTEM, interaction_id=pk)
                elif move < 0.92:
                    services.interaction_reject(actor=SYSTEM, interaction_id=pk)
                # else: left to time out
        elif roll < 0.50:
            for pk in _some(InteractionStatus.ACTIVE, rnd, 5, share):
                services.interaction_end(actor=SYSTEM, interaction_id=pk)
        elif roll < 0.72:
            for pk in _some(InteractionStatus.WRAP_UP, rnd, 5, share):
                services.interaction_wrap_up(actor=SYSTEM, interaction_id=pk, disposition=resolved)
        elif roll < 0.80:
            services.offers_expire_due()
        elif roll < 0.92:
            for agent_id in AgentProfile.objects.filter(presence=Presence.NOT_READY).values_list(
                "pk", flat=True
            )[:3]:
                services.agent_set_presence(actor=SYSTEM, agent_id=agent_id, presence=Presence.AVAILABLE)
        else:
            for pk in _some(InteractionStatus.QUEUED, rnd, 1):
                services.interaction_abandon(actor=SYSTEM, interaction_id=pk)
    except DomainError:
        pass  # another process acted on the same interaction first: a stale click


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _worker(index: int, barrier: Any, results: Any) -> None:
    give_ups = _Count()
    logging.getLogger("apps.interactions.acd").addHandler(give_ups)
    try:
        rnd = random.Random(index)
        queues = list(Queue.objects.all())
        resolved = Disposition.objects.get(code="resolved")
        barrier.wait(timeout=60)
        deadline = time.monotonic() + DEADLINE_SECONDS
        created = 0
        while time.monotonic() < deadline:
            if created < PER_PROCESS and rnd.random() < 0.5:
                queue = rnd.choice(queues)
                services.interaction_enqueue(
                    actor=SYSTEM,
                    queue=queue,
                    channel=rnd.choice(queue.channels),
                    priority=rnd.choice([0, 0, 0, 5]),
                )
                created += 1
                continue
            _act(rnd, resolved, index)
            if (
                created >= PER_PROCESS
                and not Interaction.objects.exclude(
                    status__in=(InteractionStatus.CLOSED, InteractionStatus.ABANDONED)
                ).exists()
            ):
                break
        # A look that gave up on contention would be a routing bug: report it as one.
        results.put((index, created, f"{give_ups.count} looks gave up" if give_ups.count else None))
    except BaseException as exc:
        results.put((index, -1, repr(exc)))
    finally:
        connections.close_all()


def _check_chains() -> None:
    events: dict[int, list[InteractionEvent]] = defaultdict(list)
    for event in InteractionEvent.objects.order_by("id"):
        events[event.interaction_id].append(event)
    for interaction_id, chain in events.items():
        assert chain[0].kind == "queued" and chain[0].from_status == ""
        for before, after in zip(chain, chain[1:], strict=False):
            assert after.from_status == before.to_status, (
                interaction_id,
                [(e.kind, e.from_status) for e in chain],
            )
        holders = set()
        for event in chain:
            if event.kind == "offered":
                assert not holders, f"interaction {interaction_id} offered while held by {holders}"
                holders.add(event.agent_id)
            elif event.kind in RELEASING or (event.kind == "abandoned" and event.from_status == "offered"):
                holders.clear()


def _check_capacity() -> None:
    capacity = {(c.agent_id, c.channel): c.capacity for c in AgentCapacity.objects.all()}
    channel_of = dict(Interaction.objects.values_list("pk", "channel"))
    load: dict[tuple[int, str], int] = defaultdict(int)
    for event in InteractionEvent.objects.exclude(agent=None).order_by("id"):
        key = (event.agent_id, channel_of[event.interaction_id])
        if event.kind == "offered":
            load[key] += 1
            assert load[key] <= capacity[key], f"agent {key} over capacity"
        elif event.kind in RELEASING or (event.kind == "abandoned" and event.from_status == "offered"):
            load[key] -= 1
            assert load[key] >= 0
    stored = {(c.agent_id, c.channel): c.load for c in AgentCapacity.objects.all()}
    assert {k: v for k, v in stored.items() if v} == {k: v for k, v in load.items() if v}


def _check_nobody_waits_beside_a_free_agent() -> None:
    for interaction in Interaction.objects.filter(status=InteractionStatus.QUEUED).select_related("queue"):
        assert interaction.queue is not None
        free = list(acd.eligible_agents(interaction, interaction.queue).values_list("pk", flat=True))
        assert not free, f"interaction {interaction.pk} waits beside eligible agents {free}"
    for agent in AgentProfile.objects.filter(presence=Presence.AVAILABLE):
        assert not acd.waiting_for(agent).exists(), f"agent {agent.pk} is free beside waiting work"


def _run(target: Any, count: int) -> list[tuple[int, int, str | None]]:
    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count)
    results = context.Queue()
    children = [context.Process(target=target, args=(i, barrier, results)) for i in range(count)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=DEADLINE_SECONDS + 120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert all(error is None for _, _, error in outcomes), outcomes
    return outcomes


def _burst_worker(index: int, barrier: Any, results: Any) -> None:
    """Only moves that create matches, as fast as possible: enqueue, come back available,
    reject. Afterwards nothing may wait beside a free agent."""
    give_ups = _Count()
    logging.getLogger("apps.interactions.acd").addHandler(give_ups)
    try:
        rnd = random.Random(100 + index)
        queues = list(Queue.objects.all())
        barrier.wait(timeout=60)
        for _ in range(60):
            queue = rnd.choice(queues)
            services.interaction_enqueue(actor=SYSTEM, queue=queue, channel=rnd.choice(queue.channels))
            roll = rnd.random()
            try:
                if roll < 0.3:
                    for agent_id in AgentProfile.objects.exclude(presence=Presence.AVAILABLE).values_list(
                        "pk", flat=True
                    )[:2]:
                        services.agent_set_presence(
                            actor=SYSTEM, agent_id=agent_id, presence=Presence.AVAILABLE
                        )
                elif roll < 0.5:
                    for pk in _some(InteractionStatus.OFFERED, rnd, 1):
                        services.interaction_reject(actor=SYSTEM, interaction_id=pk)
                elif roll < 0.7:
                    for pk in _some(InteractionStatus.OFFERED, rnd, 2):
                        services.interaction_accept(actor=SYSTEM, interaction_id=pk)
                elif roll < 0.8:
                    for pk in _some(InteractionStatus.WRAP_UP, rnd, 2) + _some(
                        InteractionStatus.ACTIVE, rnd, 2
                    ):
                        if Interaction.objects.filter(pk=pk, status=InteractionStatus.ACTIVE).exists():
                            services.interaction_end(actor=SYSTEM, interaction_id=pk)
                        services.interaction_wrap_up(
                            actor=SYSTEM, interaction_id=pk, disposition=Disposition.objects.first()
                        )
            except DomainError:
                pass
        results.put((index, 60, f"{give_ups.count} looks gave up" if give_ups.count else None))
    except BaseException as exc:
        results.put((index, -1, repr(exc)))
    finally:
        connections.close_all()


@pytest.mark.postgres
def test_four_processes_route_2000_interactions_to_50_agents_exactly(transactional_db: None) -> None:
    require_postgres()
    _setup()

    outcomes = _run(_worker, PROCESSES)

    assert sum(created for _, created, _ in outcomes) == PROCESSES * PER_PROCESS
    assert Interaction.objects.count() == PROCESSES * PER_PROCESS
    assert set(Interaction.objects.values_list("status", flat=True)) <= {
        InteractionStatus.CLOSED,
        InteractionStatus.ABANDONED,
    }
    kinds = set(InteractionEvent.objects.values_list("kind", flat=True))
    assert {
        "queued",
        "offered",
        "accepted",
        "rejected",
        "offer_timeout",
        "ended",
        "closed",
        "abandoned",
    } <= kinds
    _check_chains()
    _check_capacity()

    # Then a burst of moves that create matches only, and a quiet look at the result.
    on_break = NotReadyReason.objects.get(code="break")
    for agent_id in AgentProfile.objects.values_list("pk", flat=True):
        services.agent_set_presence(
            actor=SYSTEM, agent_id=agent_id, presence=Presence.NOT_READY, reason=on_break
        )
    _run(_burst_worker, PROCESSES)
    _check_chains()
    _check_capacity()
    _check_nobody_waits_beside_a_free_agent()
    assert Interaction.objects.count() == PROCESSES * PER_PROCESS + PROCESSES * 60
