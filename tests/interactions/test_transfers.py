"""Transfers: an agent moves their active interaction to a queue or a colleague; a supervisor
reassigns a queued, offered or active one. Slots, arrival time, events and refusals; and on
PostgreSQL, threads racing to transfer and act on the same interaction."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.exceptions import DomainError, NotAllowed
from apps.interactions import services
from apps.interactions.exceptions import (
    AgentUnavailable,
    ChannelNotServed,
    InvalidTarget,
    InvalidTransition,
    QueueClosed,
)
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentState,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Presence,
)
from apps.interactions.services.agents import interaction_offer_seen
from tests.conftest import require_postgres
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _load(agent: AgentProfile, channel: str) -> int:
    return AgentCapacity.objects.get(agent=agent, channel=channel).load


def _kinds(interaction: Interaction) -> list[str]:
    return list(interaction.events.order_by("id").values_list("kind", flat=True))


def _active(queue: Any, agent: AgentProfile, channel: str = "chat") -> Interaction:
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel=channel)
    interaction.refresh_from_db()
    assert interaction.agent_id == agent.pk
    return services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)


def _snapshot(interaction: Interaction, *agents: AgentProfile) -> tuple[Any, ...]:
    interaction.refresh_from_db()
    return (
        interaction.status,
        interaction.agent_id,
        interaction.queue_id,
        interaction.version,
        interaction.events.count(),
        [(a.pk, list(AgentCapacity.objects.filter(agent=a).values_list("channel", "load"))) for a in agents],
    )


def test_an_agent_transfers_to_a_queue_keeping_the_arrival_and_takes_waiting_work_at_once() -> None:
    sales, billing = make_queue(channels=["chat"]), make_queue(channels=["chat"])
    first = make_agent(sales, capacity={"chat": 1})
    interaction = _active(sales, first)
    waiting = services.interaction_enqueue(actor=SYSTEM, queue=sales, channel="chat")
    assert waiting.status == InteractionStatus.QUEUED  # the only agent's one chat slot is taken
    arrived = interaction.queued_at
    answered = interaction.accepted_at
    biller = make_agent(billing)

    services.interaction_transfer(
        actor=first.user, interaction_id=interaction.pk, to_queue_id=billing.pk, note="Wants a refund"
    )

    interaction.refresh_from_db()
    waiting.refresh_from_db()
    first.refresh_from_db()
    assert (interaction.status, interaction.agent_id, interaction.queue_id) == (
        InteractionStatus.OFFERED,
        biller.pk,
        billing.pk,
    )
    assert (interaction.queued_at, interaction.accepted_at, interaction.notes) == (
        arrived,
        answered,
        "Wants a refund",
    )
    assert (waiting.status, waiting.agent_id) == (InteractionStatus.OFFERED, first.pk)
    assert _load(first, "chat") == 1 and first.state == AgentState.OFFERED
    assert _kinds(interaction) == ["queued", "offered", "accepted", "transferred", "offered"]
    transferred = interaction.events.get(kind="transferred")
    assert (transferred.from_status, transferred.to_status, transferred.agent_id) == (
        "active",
        "queued",
        first.pk,
    )
    assert transferred.data == {
        "from_queue": sales.pk,
        "to_queue": billing.pk,
        "from_agent": first.pk,
        "to_agent": None,
        "note": "Wants a refund",
    }


def test_the_next_answer_keeps_the_first_answer_time_for_speed_of_answer() -> None:
    sales, billing = make_queue(channels=["chat"]), make_queue(channels=["chat"])
    first = make_agent(sales)
    interaction = _active(sales, first)
    answered = interaction.accepted_at
    second = make_agent(billing)
    services.interaction_transfer(actor=first.user, interaction_id=interaction.pk, to_queue_id=billing.pk)

    services.interaction_accept(actor=second.user, interaction_id=interaction.pk)

    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id, interaction.accepted_at) == (
        "active",
        second.pk,
        answered,
    )


def test_a_transfer_to_an_agent_is_offered_to_them_and_a_reject_returns_it_to_its_queue() -> None:
    sales = make_queue(channels=["chat"])
    first = make_agent(sales)
    colleague = make_agent(available=True)  # in no queue: a direct transfer needs none
    interaction = _active(sales, first)

    services.interaction_transfer(actor=first.user, interaction_id=interaction.pk, to_agent_id=colleague.pk)

    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id, interaction.queue_id) == (
        "offered",
        colleague.pk,
        sales.pk,
    )
    assert interaction.offer_expires_at is not None
    assert _load(first, "chat") == 0 and _load(colleague, "chat") == 1
    assert interaction.events.get(kind="transferred").data["to_agent"] == colleague.pk

    services.interaction_reject(actor=colleague.user, interaction_id=interaction.pk)

    interaction.refresh_from_db()
    # Back in its queue, where the first agent (available, a free slot) takes it again.
    assert (interaction.status, interaction.agent_id, interaction.queue_id) == ("offered", first.pk, sales.pk)
    assert _load(colleague, "chat") == 0
    assert _kinds(interaction)[-4:] == ["transferred", "offered", "rejected", "offered"]


def test_an_unanswered_direct_transfer_times_out_like_any_offer() -> None:
    sales = make_queue(channels=["chat"], offer_timeout_seconds=5)
    first = make_agent(sales)
    colleague = make_agent()
    interaction = _active(sales, first)
    services.interaction_transfer(actor=first.user, interaction_id=interaction.pk, to_agent_id=colleague.pk)
    services.agent_set_presence(actor=SYSTEM, agent_id=first.pk, presence=Presence.OFFLINE)
    offered = Interaction.objects.get(pk=interaction.pk)  # the colleague's desk shows the offer
    interaction_offer_seen(actor=colleague.user, interaction_id=offered.pk, version=offered.version)
    Interaction.objects.filter(pk=interaction.pk).update(
        offer_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    expired = services.offers_expire_due()

    interaction.refresh_from_db()
    colleague.refresh_from_db()
    assert expired == 1
    assert (interaction.status, interaction.agent_id) == ("queued", None)
    assert (colleague.presence, colleague.not_ready_reason.code if colleague.not_ready_reason else None) == (
        "not_ready",
        "no_answer",
    )


def test_a_transfer_to_an_unavailable_or_busy_agent_is_refused_and_nothing_changes() -> None:
    sales = make_queue(channels=["chat", "voice"])
    first = make_agent(sales)
    away = make_agent(available=False)
    on_call = make_agent(available=True)
    full = make_agent(available=True, capacity={"chat": 1})
    queue_of_on_call = make_queue(channels=["voice"])
    on_call.queues.set([queue_of_on_call])
    services.interaction_enqueue(actor=SYSTEM, queue=queue_of_on_call, channel="voice")
    full.queues.set([make_queue(channels=["chat"])])
    services.interaction_enqueue(actor=SYSTEM, queue=full.queues.get(), channel="chat")
    interaction = _active(sales, first)
    before = _snapshot(interaction, first, away, on_call, full)

    for target, message in ((away, "offline"), (on_call, "on a call"), (full, "no free slot for chat")):
        with pytest.raises(AgentUnavailable, match=message):
            services.interaction_transfer(
                actor=first.user, interaction_id=interaction.pk, to_agent_id=target.pk
            )

    assert _snapshot(interaction, first, away, on_call, full) == before


def test_who_may_transfer_what() -> None:
    sales, other = make_queue(channels=["chat"]), make_queue(channels=["chat"])
    first = make_agent(sales)
    colleague = make_agent(sales, available=False)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=sales, channel="chat")  # offered to first
    before = _snapshot(interaction, first)

    with pytest.raises(InvalidTransition, match="is offered, not active"):
        services.interaction_transfer(actor=first.user, interaction_id=interaction.pk, to_queue_id=other.pk)
    with pytest.raises(NotAllowed):
        services.interaction_transfer(
            actor=colleague.user, interaction_id=interaction.pk, to_queue_id=other.pk
        )
    with pytest.raises(InvalidTarget, match="exactly one"):
        services.interaction_transfer(actor=first.user, interaction_id=interaction.pk)
    with pytest.raises(InvalidTarget, match="exactly one"):
        services.interaction_transfer(
            actor=SYSTEM, interaction_id=interaction.pk, to_queue_id=other.pk, to_agent_id=colleague.pk
        )
    with pytest.raises(InvalidTarget, match="does not exist"):
        services.interaction_transfer(actor=SYSTEM, interaction_id=interaction.pk, to_queue_id=99999)
    with pytest.raises(InvalidTarget, match="already with this agent"):
        services.interaction_transfer(actor=SYSTEM, interaction_id=interaction.pk, to_agent_id=first.pk)
    assert _snapshot(interaction, first) == before


def test_a_supervisor_reassigns_an_offered_interaction_and_the_first_agent_may_get_it_again(
    make_user: Callable[..., Any],
) -> None:
    sales = make_queue(channels=["chat"])
    first = make_agent(sales)
    second = make_agent(available=True)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=sales, channel="chat")
    supervisor = make_user("Supervisor")

    services.interaction_transfer(actor=supervisor, interaction_id=interaction.pk, to_agent_id=second.pk)

    interaction.refresh_from_db()
    first.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == ("offered", second.pk)
    assert (_load(first, "chat"), first.state) == (0, AgentState.AVAILABLE)
    transferred = interaction.events.get(kind="transferred")
    assert (transferred.from_status, transferred.actor_id, transferred.data["from_agent"]) == (
        "offered",
        supervisor.pk,
        first.pk,
    )
    # A reassign is no refusal: back in the queue, the first agent is eligible again.
    services.interaction_reject(actor=second.user, interaction_id=interaction.pk)
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == ("offered", first.pk)


def test_a_supervisor_moves_a_waiting_interaction_to_another_queue(make_user: Callable[..., Any]) -> None:
    sales, billing = make_queue(channels=["email"]), make_queue(channels=["email"])
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=sales, channel="email")
    supervisor = make_user("Supervisor")

    services.interaction_transfer(actor=supervisor, interaction_id=interaction.pk, to_queue_id=billing.pk)

    interaction.refresh_from_db()
    assert (interaction.status, interaction.queue_id) == ("queued", billing.pk)
    with pytest.raises(InvalidTarget, match="already waits"):
        services.interaction_transfer(actor=supervisor, interaction_id=interaction.pk, to_queue_id=billing.pk)
    with pytest.raises(NotAllowed):
        services.interaction_transfer(
            actor=make_user("Agent"), interaction_id=interaction.pk, to_queue_id=sales.pk
        )


def test_a_call_cannot_go_to_a_closed_queue_but_an_email_can(make_user: Callable[..., Any]) -> None:
    sales = make_queue(channels=["voice", "email"], disposition_required=False)
    closed = make_queue(channels=["voice", "email"], business_hours={"sun": []})  # never open
    chat_only = make_queue(channels=["chat"])
    off = make_queue(channels=["voice"], is_active=False)
    first = make_agent(sales, capacity={"email": 1})
    call = _active(sales, first, channel="voice")
    before = _snapshot(call, first)

    with pytest.raises(QueueClosed, match=rf"{closed.name} is closed\."):
        services.interaction_transfer(actor=first.user, interaction_id=call.pk, to_queue_id=closed.pk)
    with pytest.raises(QueueClosed, match="switched off"):
        services.interaction_transfer(actor=first.user, interaction_id=call.pk, to_queue_id=off.pk)
    with pytest.raises(ChannelNotServed):
        services.interaction_transfer(actor=first.user, interaction_id=call.pk, to_queue_id=chat_only.pk)
    assert _snapshot(call, first) == before

    services.interaction_end(actor=first.user, interaction_id=call.pk)
    services.interaction_wrap_up(actor=first.user, interaction_id=call.pk, disposition=None)
    email = services.interaction_enqueue(actor=SYSTEM, queue=sales, channel="email")
    services.interaction_accept(actor=first.user, interaction_id=email.pk)
    services.interaction_transfer(actor=first.user, interaction_id=email.pk, to_queue_id=closed.pk)
    email.refresh_from_db()
    assert (email.status, email.queue_id) == ("queued", closed.pk)


def test_a_full_target_queue_refuses_the_transfer() -> None:
    sales = make_queue(channels=["chat"])
    small = make_queue(channels=["chat"], max_size=1)
    first = make_agent(sales)
    services.interaction_enqueue(actor=SYSTEM, queue=small, channel="chat")
    interaction = _active(sales, first)

    with pytest.raises(DomainError, match="full"):
        services.interaction_transfer(actor=first.user, interaction_id=interaction.pk, to_queue_id=small.pk)


# -- races on PostgreSQL -----------------------------------------------------------------------------


def _race(*moves: Callable[[], object]) -> list[str]:
    """Run the moves at once in threads (own connections); each result is "ok" or the domain
    error's class name."""
    barrier = threading.Barrier(len(moves))
    results: list[str] = [""] * len(moves)

    def run(index: int, move: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            move()
            results[index] = "ok"
        except DomainError as exc:
            results[index] = type(exc).__name__
        except Exception as exc:  # a deadlock or anything else fails the test below
            results[index] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, m)) for i, m in enumerate(moves)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _held_loads_match(*agents: AgentProfile) -> None:
    """Each agent's stored chat load equals what they hold."""
    for agent in agents:
        holding = Interaction.objects.filter(
            agent=agent, channel="chat", status__in=("offered", "active", "wrap_up")
        ).count()
        assert _load(agent, "chat") == holding, agent


def _chain_is_whole(interaction: Interaction) -> None:
    rows = list(InteractionEvent.objects.filter(interaction=interaction).order_by("id"))
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.from_status == before.to_status, [(e.kind, e.from_status, e.to_status) for e in rows]
    interaction.refresh_from_db()
    assert rows[-1].to_status == interaction.status


@pytest.mark.postgres
def test_racing_a_transfer_with_the_agents_hang_up_has_exactly_one_winner() -> None:
    require_postgres()
    sales = make_queue(channels=["chat"], disposition_required=False)
    billing = make_queue(channels=["chat"])
    first = make_agent(sales, capacity={"chat": 3})
    make_agent(billing)
    for _ in range(15):
        interaction = _active(sales, first)

        results = _race(
            lambda i=interaction: services.interaction_transfer(
                actor=first.user, interaction_id=i.pk, to_queue_id=billing.pk
            ),
            lambda i=interaction: services.interaction_end(actor=first.user, interaction_id=i.pk),
        )

        assert sorted(results) in (["NotAllowed", "ok"], ["InvalidTransition", "ok"]), results
        interaction.refresh_from_db()
        if results[0] == "ok":
            assert interaction.queue_id == billing.pk and interaction.agent_id != first.pk
        else:
            assert (interaction.status, interaction.agent_id) == ("wrap_up", first.pk)
            services.interaction_wrap_up(actor=first.user, interaction_id=interaction.pk, disposition=None)
        _chain_is_whole(interaction)
        _held_loads_match(first)


@pytest.mark.postgres
def test_a_double_click_transfer_to_two_agents_offers_to_exactly_one() -> None:
    require_postgres()
    sales = make_queue(channels=["chat"], disposition_required=False)
    first = make_agent(sales, capacity={"chat": 3})
    second, third = make_agent(), make_agent()
    for _ in range(15):
        interaction = _active(sales, first)

        results = _race(
            lambda i=interaction: services.interaction_transfer(
                actor=first.user, interaction_id=i.pk, to_agent_id=second.pk
            ),
            lambda i=interaction: services.interaction_transfer(
                actor=first.user, interaction_id=i.pk, to_agent_id=third.pk
            ),
        )

        assert sorted(results) == ["NotAllowed", "ok"], results
        interaction.refresh_from_db()
        winner = second if results[0] == "ok" else third
        assert (interaction.status, interaction.agent_id) == ("offered", winner.pk)
        assert interaction.events.filter(kind="transferred").count() == 1
        _chain_is_whole(interaction)
        _held_loads_match(first, second, third)
        services.interaction_reject(actor=winner.user, interaction_id=interaction.pk)
        interaction.refresh_from_db()
        services.interaction_accept(actor=first.user, interaction_id=interaction.pk)
        services.interaction_wrap_up(actor=first.user, interaction_id=interaction.pk, disposition=None)


@pytest.mark.postgres
def test_a_reassign_racing_the_accept_leaves_one_holder_and_crossing_transfers_do_not_deadlock(
    make_user: Callable[..., Any],
) -> None:
    require_postgres()
    sales = make_queue(channels=["chat"], disposition_required=False)
    first = make_agent(sales, capacity={"chat": 3})
    second = make_agent(capacity={"chat": 3})
    supervisor = make_user("Supervisor")
    for _ in range(10):
        offered = services.interaction_enqueue(actor=SYSTEM, queue=sales, channel="chat")
        offered.refresh_from_db()
        assert offered.agent_id == first.pk

        results = _race(
            lambda i=offered: services.interaction_accept(actor=first.user, interaction_id=i.pk),
            lambda i=offered: services.interaction_transfer(
                actor=supervisor, interaction_id=i.pk, to_agent_id=second.pk
            ),
        )

        # The reassign always lands (offered or active may be reassigned); the accept lands
        # only when it came first.
        assert results[1] == "ok" and results[0] in ("ok", "NotAllowed"), results
        offered.refresh_from_db()
        assert (offered.status, offered.agent_id) == ("offered", second.pk)
        _chain_is_whole(offered)
        _held_loads_match(first, second)
        services.interaction_accept(actor=second.user, interaction_id=offered.pk)
        services.interaction_wrap_up(actor=second.user, interaction_id=offered.pk, disposition=None)

    # Crossing: each agent transfers their chat to the other at the same moment. Both lock the
    # two agents in the same order, so both land.
    for _ in range(10):
        mine = _active(sales, first)
        services.interaction_transfer(actor=SYSTEM, interaction_id=mine.pk, to_agent_id=second.pk)
        services.interaction_accept(actor=second.user, interaction_id=mine.pk)
        theirs = _active(sales, first)

        results = _race(
            lambda m=mine: services.interaction_transfer(
                actor=second.user, interaction_id=m.pk, to_agent_id=first.pk
            ),
            lambda t=theirs: services.interaction_transfer(
                actor=first.user, interaction_id=t.pk, to_agent_id=second.pk
            ),
        )

        assert results == ["ok", "ok"], results
        _held_loads_match(first, second)
        for interaction, agent in ((mine, first), (theirs, second)):
            interaction.refresh_from_db()
            assert (interaction.status, interaction.agent_id) == ("offered", agent.pk)
            services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
            services.interaction_wrap_up(actor=agent.user, interaction_id=interaction.pk, disposition=None)
