"""Routing in one process: who gets an offer (availability, skills, capacity, strategies), what
an agent freeing up takes, and how offers end (accept, reject, timeout, abandon, wrap-up).
transactional_db: routing looks run after commit, as in production."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.customers.models import ContactPoint
from apps.interactions import services
from apps.interactions.exceptions import ChannelNotServed, DispositionRequired, InvalidTransition, QueueFull
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentState,
    AgentStateChange,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
    NotReadyReason,
    Presence,
    RoutingStrategy,
    Skill,
)
from apps.interactions.services.agents import interaction_offer_seen
from tests.customers.factories import CustomerFactory, PhoneFactory
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _status(interaction: Interaction) -> tuple[str, int | None]:
    interaction.refresh_from_db()
    return interaction.status, interaction.agent_id


def _events(interaction: Interaction) -> list[tuple[str, str, str]]:
    return list(interaction.events.order_by("id").values_list("kind", "from_status", "to_status"))


def test_enqueue_offers_at_once_to_the_longest_idle_available_agent() -> None:
    queue = make_queue()
    first = make_agent(queue)
    make_agent(queue)
    make_agent(queue, available=False)

    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    assert _status(interaction) == (InteractionStatus.OFFERED, first.pk)
    assert _events(interaction) == [("queued", "", "queued"), ("offered", "queued", "offered")]
    first.refresh_from_db()
    assert first.state == AgentState.OFFERED
    assert AgentCapacity.objects.get(agent=first, channel="chat").load == 1


def test_nobody_free_leaves_it_queued_and_the_agent_who_frees_up_takes_the_best_waiting() -> None:
    queue = make_queue()
    agent = make_agent(queue, available=False)
    old = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    urgent = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice", priority=5)
    assert _status(old) == (InteractionStatus.QUEUED, None)

    services.agent_set_presence(actor=SYSTEM, agent_id=agent.pk, presence=Presence.AVAILABLE)

    assert _status(urgent) == (InteractionStatus.OFFERED, agent.pk)
    assert _status(old) == (InteractionStatus.QUEUED, None)  # one voice slot


def test_skills_with_minimum_levels_decide_eligibility() -> None:
    spanish = Skill.objects.create(name="spanish")
    queue = make_queue()
    queue.required_skills.create(skill=spanish, min_level=2)
    make_agent(queue, skills={spanish: 1})
    fluent = make_agent(queue, skills={spanish: 3})

    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    assert _status(interaction) == (InteractionStatus.OFFERED, fluent.pk)


def test_capacity_per_channel_and_a_call_blocks_new_chats() -> None:
    queue = make_queue(auto_accept=True)
    agent = make_agent(queue, capacity={"chat": 2, "voice": 1})

    chats = [services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat") for _ in range(3)]
    assert [_status(c)[0] for c in chats] == ["active", "active", "queued"]

    call = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    assert _status(call) == (InteractionStatus.ACTIVE, agent.pk)  # chats do not block a call
    services.interaction_end(actor=SYSTEM, interaction_id=chats[0].pk)
    services.interaction_wrap_up(
        actor=SYSTEM,
        interaction_id=chats[0].pk,
        disposition=Disposition.objects.create(code="ok", label="OK", category="resolved"),
    )
    assert _status(chats[2])[0] == InteractionStatus.QUEUED  # the call blocks new chats

    services.interaction_end(actor=SYSTEM, interaction_id=call.pk)
    services.interaction_wrap_up(
        actor=SYSTEM, interaction_id=call.pk, disposition=Disposition.objects.get(code="ok")
    )
    assert _status(chats[2]) == (InteractionStatus.ACTIVE, agent.pk)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (RoutingStrategy.LONGEST_IDLE, "idle_longest"),
        (RoutingStrategy.ROUND_ROBIN, "offered_least_recently"),
        (RoutingStrategy.MOST_SKILLED, "most_skilled"),
        (RoutingStrategy.LEAST_OCCUPIED, "least_loaded"),
    ],
)
def test_each_strategy_picks_its_agent(strategy: str, expected: str) -> None:
    skill = Skill.objects.create(name="billing")
    queue = make_queue(strategy=strategy, auto_accept=True)
    queue.required_skills.create(skill=skill, min_level=1)
    now = timezone.now()
    agents = {
        "idle_longest": make_agent(queue, skills={skill: 1}, capacity={"chat": 5}),
        "offered_least_recently": make_agent(queue, skills={skill: 1}, capacity={"chat": 5}),
        "most_skilled": make_agent(queue, skills={skill: 5}, capacity={"chat": 5}),
        "least_loaded": make_agent(queue, skills={skill: 1}, capacity={"chat": 5}),
    }
    AgentProfile.objects.filter(pk=agents["idle_longest"].pk).update(
        idle_since=now - dt.timedelta(hours=1), last_offer_at=now, total_load=3
    )
    AgentProfile.objects.filter(pk=agents["offered_least_recently"].pk).update(
        idle_since=now, last_offer_at=now - dt.timedelta(hours=2), total_load=3
    )
    AgentProfile.objects.filter(pk=agents["most_skilled"].pk).update(
        idle_since=now, last_offer_at=now, total_load=3
    )
    AgentProfile.objects.filter(pk=agents["least_loaded"].pk).update(
        idle_since=now, last_offer_at=now - dt.timedelta(hours=1), total_load=1
    )

    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    assert _status(interaction)[1] == agents[expected].pk


def test_longest_idle_prefers_an_agent_holding_no_work_over_one_freed_long_ago_but_busy() -> None:
    queue = make_queue(channels=["chat"])
    busy = make_agent(queue, capacity={"chat": 3})
    free = make_agent(queue, capacity={"chat": 3})
    first = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    assert _status(first)[1] == busy.pk  # both free: the one idle longest
    AgentProfile.objects.filter(pk=busy.pk).update(idle_since=timezone.now() - dt.timedelta(hours=1))

    second = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    assert _status(second)[1] == free.pk


def test_reject_offers_to_the_next_agent_and_never_back_to_the_one_who_refused() -> None:
    queue = make_queue()
    first = make_agent(queue)
    second = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    assert _status(interaction)[1] == first.pk

    services.interaction_reject(actor=first.user, interaction_id=interaction.pk)
    assert _status(interaction) == (InteractionStatus.OFFERED, second.pk)

    services.interaction_reject(actor=second.user, interaction_id=interaction.pk)
    assert _status(interaction) == (InteractionStatus.QUEUED, None)
    first.refresh_from_db()
    assert first.state == AgentState.AVAILABLE
    assert AgentCapacity.objects.get(agent=first, channel="chat").load == 0


def test_an_agent_may_not_answer_another_agents_offer() -> None:
    queue = make_queue()
    first = make_agent(queue)
    other = make_agent(queue, available=False)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    from apps.core.exceptions import NotAllowed

    with pytest.raises(NotAllowed):
        services.interaction_accept(actor=other.user, interaction_id=interaction.pk)
    assert _status(interaction) == (InteractionStatus.OFFERED, first.pk)


def test_offer_timeout_redirects_and_turns_the_agent_not_ready() -> None:
    queue = make_queue(offer_timeout_seconds=20)
    first = make_agent(queue)
    second = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    version = Interaction.objects.get(pk=interaction.pk).version

    assert not services.interaction_offer_expire(interaction_id=interaction.pk, version=version)  # not due
    # The agent's desk showed the offer: its timeout is the agent's no-answer.
    assert interaction_offer_seen(actor=first.user, interaction_id=interaction.pk, version=version)
    Interaction.objects.filter(pk=interaction.pk).update(
        offer_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert services.interaction_offer_expire(interaction_id=interaction.pk, version=version)
    assert not services.interaction_offer_expire(interaction_id=interaction.pk, version=version)  # idempotent

    assert _status(interaction) == (InteractionStatus.OFFERED, second.pk)
    first.refresh_from_db()
    assert (first.presence, first.state, first.not_ready_reason.code) == (  # type: ignore[union-attr]
        Presence.NOT_READY,
        AgentState.NOT_READY,
        "no_answer",
    )
    assert [k for k, _, _ in _events(interaction)] == ["queued", "offered", "offer_timeout", "offered"]


def test_accept_end_and_wrap_up_with_a_dnc_disposition_marks_the_phone() -> None:
    customer = CustomerFactory()
    phone = PhoneFactory(customer=customer, value="+14155550134")
    other_phone = PhoneFactory(customer=customer, value="+14155550135")
    dnc = Disposition.objects.create(
        code="dnc", label="Do not call", category=DispositionCategory.DO_NOT_CALL, marks_dnc=True
    )
    queue = make_queue(wrap_up_seconds=30)
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(
        actor=SYSTEM, queue=queue, channel="voice", contact="(415) 555-0134"
    )
    assert interaction.customer == customer

    services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
    services.interaction_end(actor=agent.user, interaction_id=interaction.pk)
    agent.refresh_from_db()
    assert agent.state == AgentState.WRAP_UP
    with pytest.raises(DispositionRequired):
        services.interaction_wrap_up(actor=agent.user, interaction_id=interaction.pk, disposition=None)
    services.interaction_wrap_up(
        actor=agent.user, interaction_id=interaction.pk, disposition=dnc, notes="Asked"
    )

    interaction.refresh_from_db()
    assert (interaction.status, interaction.disposition, interaction.notes) == ("closed", dnc, "Asked")
    # voice_gateway: the built-in simulator gateway recording the hang-up (apps.interactions.voice).
    assert [k for k, _, _ in _events(interaction)] == [
        "queued",
        "offered",
        "accepted",
        "voice_gateway",
        "ended",
        "closed",
    ]
    phone.refresh_from_db()
    other_phone.refresh_from_db()
    assert phone.do_not_call and not other_phone.do_not_call
    assert phone.do_not_call_source == f"disposition on interaction #{interaction.pk}"
    agent.refresh_from_db()
    assert agent.state == AgentState.AVAILABLE
    assert list(
        AgentStateChange.objects.filter(agent=agent).order_by("id").values_list("state", flat=True)
    ) == [
        "available",
        "offered",
        "busy",
        "wrap_up",
        "available",
    ]


def test_abandon_while_offered_frees_the_agent() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    services.interaction_abandon(actor=SYSTEM, interaction_id=interaction.pk)

    interaction.refresh_from_db()
    assert interaction.status == InteractionStatus.ABANDONED and interaction.abandoned_at is not None
    assert AgentCapacity.objects.get(agent=agent, channel="chat").load == 0
    with pytest.raises(InvalidTransition):
        services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)


def test_queue_limits_and_channels_are_enforced_before_anything_is_written() -> None:
    queue = make_queue(channels=["chat"], max_size=1)
    services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    with pytest.raises(QueueFull):
        services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    with pytest.raises(ChannelNotServed):
        services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    assert Interaction.objects.count() == 1


def test_not_ready_needs_a_reason_and_agents_change_only_their_own_state() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    other = make_agent(queue)
    lunch = NotReadyReason.objects.create(code="lunch", label="Lunch")
    from apps.core.exceptions import NotAllowed

    with pytest.raises(InvalidTransition):
        services.agent_set_presence(actor=agent.user, agent_id=agent.pk, presence=Presence.NOT_READY)
    with pytest.raises(NotAllowed):
        services.agent_set_presence(actor=agent.user, agent_id=other.pk, presence=Presence.OFFLINE)
    services.agent_set_presence(
        actor=agent.user, agent_id=agent.pk, presence=Presence.NOT_READY, reason=lunch
    )

    agent.refresh_from_db()
    other.refresh_from_db()
    assert (agent.state, agent.not_ready_reason) == (AgentState.NOT_READY, lunch)
    assert other.state == AgentState.AVAILABLE
    assert ContactPoint.objects.count() == 0


def test_an_expired_wrap_up_closes_in_every_queue_a_required_disposition_recorded_as_timed_out() -> None:
    free = make_queue(name="Free", disposition_required=False, wrap_up_seconds=10, auto_accept=True)
    strict = make_queue(name="Strict", disposition_required=True, wrap_up_seconds=10, auto_accept=True)
    agent = make_agent(free, strict, capacity={"chat": 2})
    loose_chat = services.interaction_enqueue(actor=SYSTEM, queue=free, channel="chat")
    strict_chat = services.interaction_enqueue(actor=SYSTEM, queue=strict, channel="chat")
    for chat in (loose_chat, strict_chat):
        services.interaction_end(actor=agent.user, interaction_id=chat.pk)
    waiting = services.interaction_enqueue(actor=SYSTEM, queue=free, channel="chat")
    assert _status(waiting) == (InteractionStatus.QUEUED, None)  # both slots held by wrap-ups

    assert services.wrap_ups_expire_due() == 0  # not yet due
    later = timezone.now() + dt.timedelta(seconds=11)
    assert services.wrap_ups_expire_due(now=later) == 2

    assert _status(loose_chat)[0] == InteractionStatus.CLOSED
    assert [k for k, _, _ in _events(loose_chat)][-1] == "wrap_up_timeout"
    assert _status(strict_chat)[0] == InteractionStatus.CLOSED
    assert (loose_chat.disposition_id, strict_chat.disposition.code) == (None, "wrap-up-timeout")  # type: ignore[union-attr]
    assert _status(waiting) == (InteractionStatus.ACTIVE, agent.pk)  # the freed slot is taken at once


def test_past_max_wait_an_interaction_overflows_and_is_offered_in_the_new_queue() -> None:
    backup = make_queue(name="Backup", channels=["chat"])
    main = make_queue(name="Main", channels=["chat"], max_wait_seconds=60, overflow_queue=backup)
    helper = make_agent(backup)
    early = services.interaction_enqueue(actor=SYSTEM, queue=main, channel="chat")
    Interaction.objects.filter(pk=early.pk).update(queued_at=timezone.now() - dt.timedelta(seconds=61))
    fresh = services.interaction_enqueue(actor=SYSTEM, queue=main, channel="chat")

    assert services.queues_overflow_due() == 1

    early.refresh_from_db()
    assert (early.queue_id, early.status, early.agent_id) == (backup.pk, InteractionStatus.OFFERED, helper.pk)
    assert [k for k, _, _ in _events(early)] == ["queued", "overflowed", "offered"]
    assert _status(fresh) == (InteractionStatus.QUEUED, None)
    assert services.queues_overflow_due() == 0


def test_a_call_does_not_overflow_into_a_closed_queue_but_an_email_does() -> None:
    another_day = (timezone.now() + dt.timedelta(days=2)).strftime("%a").lower()  # in UTC, the queue's zone
    closed = make_queue(
        name="Night", channels=["voice", "email"], business_hours={another_day: [["09:00", "17:00"]]}
    )
    main = make_queue(name="Day", channels=["voice", "email"], max_wait_seconds=60, overflow_queue=closed)
    call = services.interaction_enqueue(actor=SYSTEM, queue=main, channel="voice")
    email = services.interaction_enqueue(actor=SYSTEM, queue=main, channel="email")
    Interaction.objects.filter(pk__in=[call.pk, email.pk]).update(
        queued_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert not closed.is_open(timezone.now())

    assert services.queues_overflow_due() == 1

    call.refresh_from_db()
    email.refresh_from_db()
    assert (call.queue_id, call.status) == (main.pk, InteractionStatus.QUEUED)
    assert (email.queue_id, email.status) == (closed.pk, InteractionStatus.QUEUED)
