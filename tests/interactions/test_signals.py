"""The interaction signals (apps.interactions.signals): each sent exactly once per state change,
only after commit, with the documented kwargs, a failing receiver harmless; on SQLite and on
PostgreSQL, whose new arrivals take the one-statement offer (acd.fast_path)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from apps.core.actors import SYSTEM, SystemActor
from apps.interactions import acd, services, signals
from apps.interactions.models import (
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
    Presence,
)
from tests.conftest import require_postgres
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {
    signals.interaction_created: "created",
    signals.interaction_offered: "offered",
    signals.interaction_accepted: "accepted",
    signals.interaction_ended: "ended",
    signals.interaction_wrapped_up: "wrapped_up",
    signals.interaction_abandoned: "abandoned",
}
CONNECTOR = SystemActor("voice connector")


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.receivers: list[tuple[Signal, Any]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def kwargs(self, name: str) -> dict[str, Any]:
        [found] = [kwargs for sent, kwargs in self.sent if sent == name]
        return found

    def clear(self) -> None:
        self.sent.clear()


@pytest.fixture
def sent() -> Iterator[Recorder]:
    recorder = Recorder()
    for signal, name in NAMES.items():

        def receive(sender: Any, name: str = name, **kwargs: Any) -> None:
            assert sender is Interaction
            kwargs.pop("signal")
            recorder.sent.append((name, kwargs))

        signal.connect(receive, sender=Interaction, weak=False)
        recorder.receivers.append((signal, receive))
    yield recorder
    for signal, receive in recorder.receivers:
        signal.disconnect(receive, sender=Interaction)


def _expected(
    interaction: Interaction, status: str, version: int, agent_id: int | None, actor: Any
) -> dict[str, Any]:
    return {
        "interaction_id": interaction.pk,
        "status": status,
        "version": version,
        "agent_id": agent_id,
        "queue_id": interaction.queue_id,
        "actor": actor,
    }


def test_an_interactions_life_sends_each_signal_once_with_its_kwargs(sent: Recorder) -> None:
    # Given a queue with a disposition and a free agent
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    sale = Disposition.objects.create(code="sale", label="Sale", category=DispositionCategory.SALE)

    # When a chat arrives, is accepted, ended and wrapped up by the agent
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
    services.interaction_end(actor=agent.user, interaction_id=interaction.pk)
    services.interaction_wrap_up(actor=agent.user, interaction_id=interaction.pk, disposition=sale)

    # Then each step sent its signal exactly once, in order, with the documented kwargs
    assert sent.names() == ["created", "offered", "accepted", "ended", "wrapped_up"]
    assert sent.kwargs("created") == _expected(interaction, "queued", 1, None, SYSTEM)
    assert sent.kwargs("offered") == _expected(interaction, "offered", 2, agent.pk, signals.ROUTING)
    assert sent.kwargs("accepted") == _expected(interaction, "active", 3, agent.pk, agent.user)
    assert sent.kwargs("ended") == _expected(interaction, "wrap_up", 4, agent.pk, agent.user)
    assert sent.kwargs("wrapped_up") == {
        **_expected(interaction, "closed", 5, agent.pk, agent.user),
        "disposition_id": sale.pk,
    }
    interaction.refresh_from_db()
    assert interaction.version == 5


def test_an_arrival_nobody_takes_is_created_queued_and_offered_when_an_agent_frees_up(sent: Recorder) -> None:
    # Given a queue whose only agent is not ready
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue, available=False)

    # When a call arrives
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")

    # Then it is created queued, and offered once the agent is available
    assert sent.names() == ["created"]
    assert sent.kwargs("created") == _expected(interaction, "queued", 1, None, SYSTEM)
    services.agent_set_presence(actor=SYSTEM, agent_id=agent.pk, presence=Presence.AVAILABLE)
    assert sent.names() == ["created", "offered"]
    assert sent.kwargs("offered") == _expected(interaction, "offered", 2, agent.pk, signals.ROUTING)


def test_an_auto_accept_queue_sends_offered_then_accepted(sent: Recorder) -> None:
    queue = make_queue(channels=["chat"], auto_accept=True)
    agent = make_agent(queue)

    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    assert sent.names() == ["created", "offered", "accepted"]
    assert sent.kwargs("offered") == _expected(interaction, "offered", 2, agent.pk, signals.ROUTING)
    assert sent.kwargs("accepted") == _expected(interaction, "active", 3, agent.pk, signals.ROUTING)


def test_a_rejected_offer_sends_nothing_until_it_is_offered_again(sent: Recorder) -> None:
    queue = make_queue(channels=["chat"])
    first = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    second = make_agent(queue)
    sent.clear()

    services.interaction_reject(actor=first.user, interaction_id=interaction.pk)

    assert sent.names() == ["offered"]  # back to the queue sends nothing; the offer to the other does
    assert sent.kwargs("offered") == _expected(interaction, "offered", 4, second.pk, signals.ROUTING)


def test_a_direct_transfer_sends_offered_to_the_chosen_agent(sent: Recorder, supervisor: Any) -> None:
    queue = make_queue(channels=["chat"])
    first = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    services.interaction_accept(actor=first.user, interaction_id=interaction.pk)
    chosen = make_agent()
    sent.clear()

    services.interaction_transfer(actor=supervisor, interaction_id=interaction.pk, to_agent_id=chosen.pk)

    assert sent.names() == ["offered"]
    interaction.refresh_from_db()
    assert sent.kwargs("offered") == _expected(
        interaction, "offered", interaction.version, chosen.pk, signals.ROUTING
    )


def test_an_abandoned_offer_sends_abandoned_with_the_agent_it_was_offered_to(
    sent: Recorder, supervisor: Any
) -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    sent.clear()

    services.interaction_abandon(actor=supervisor, interaction_id=interaction.pk)

    assert sent.names() == ["abandoned"]
    assert sent.kwargs("abandoned") == _expected(interaction, "abandoned", 3, agent.pk, supervisor)


def test_the_wrap_up_timer_sends_wrapped_up_without_a_disposition(sent: Recorder) -> None:
    queue = make_queue(channels=["chat"], disposition_required=False, wrap_up_seconds=0)
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
    services.interaction_end(actor=agent.user, interaction_id=interaction.pk)
    sent.clear()

    assert services.interaction_wrap_up_expire(interaction_id=interaction.pk, now=timezone.now()) is True

    assert sent.names() == ["wrapped_up"]
    assert sent.kwargs("wrapped_up") == {
        **_expected(interaction, "closed", 5, agent.pk, SYSTEM),
        "disposition_id": None,
    }


def test_an_outbound_call_is_created_dialing_accepted_when_answered(sent: Recorder) -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)

    call = services.interaction_originate(
        actor=SYSTEM, queue=queue, to_number="+14155550123", agent_id=agent.pk
    )
    services.interaction_call_progress(actor=CONNECTOR, interaction_id=call.pk, outcome="ringing")
    services.interaction_call_progress(actor=CONNECTOR, interaction_id=call.pk, outcome="answered")
    services.interaction_call_progress(actor=CONNECTOR, interaction_id=call.pk, outcome="answered")

    assert sent.names() == ["created", "accepted"]
    assert sent.kwargs("created") == _expected(call, "dialing", 1, agent.pk, SYSTEM)
    assert sent.kwargs("accepted") == _expected(call, "active", 3, agent.pk, SYSTEM)


def test_an_unanswered_call_sends_wrapped_up_with_the_outcomes_disposition(sent: Recorder) -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    call = services.interaction_originate(
        actor=SYSTEM, queue=queue, to_number="+14155550123", agent_id=agent.pk
    )
    sent.clear()

    busy = services.interaction_call_progress(actor=CONNECTOR, interaction_id=call.pk, outcome="busy")

    assert busy.disposition_id is not None
    assert sent.names() == ["wrapped_up"]
    assert sent.kwargs("wrapped_up") == {
        **_expected(call, "closed", 2, agent.pk, SYSTEM),
        "disposition_id": busy.disposition_id,
    }


def test_signals_wait_for_the_commit_and_a_rollback_sends_nothing(sent: Recorder) -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    sent.clear()

    # Inside a transaction that commits: nothing until the commit, then once
    with transaction.atomic():
        services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
        assert sent.names() == []
    assert sent.names() == ["accepted"]

    # Inside one that rolls back: nothing at all
    sent.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.interaction_end(actor=agent.user, interaction_id=interaction.pk)
        raise RuntimeError("the caller fails after the service")
    assert sent.names() == []
    interaction.refresh_from_db()
    assert interaction.status == InteractionStatus.ACTIVE


def test_a_receiver_that_raises_breaks_neither_the_service_nor_the_other_receivers(
    sent: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    sent.clear()

    later: list[int] = []

    def broken(sender: Any, **kwargs: Any) -> None:
        raise ValueError("a listener's bug")

    def after_the_broken_one(sender: Any, interaction_id: int, **kwargs: Any) -> None:
        later.append(interaction_id)

    # Receivers run in the order connected: the broken one before the last.
    signals.interaction_accepted.connect(broken, sender=Interaction, weak=False)
    signals.interaction_accepted.connect(after_the_broken_one, sender=Interaction, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="apps.interactions.signals"):
            accepted = services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
    finally:
        signals.interaction_accepted.disconnect(broken, sender=Interaction)
        signals.interaction_accepted.disconnect(after_the_broken_one, sender=Interaction)

    assert accepted.status == InteractionStatus.ACTIVE
    assert Interaction.objects.get(pk=interaction.pk).status == InteractionStatus.ACTIVE
    assert sent.names() == ["accepted"]
    assert later == [interaction.pk]
    failures = [r for r in caplog.records if r.name == "apps.interactions.signals"]
    assert len(failures) == 1
    assert f"interaction #{interaction.pk}" in failures[0].getMessage()
    assert isinstance(failures[0].exc_info[1], ValueError)  # type: ignore[index]


@pytest.mark.postgres
def test_postgres_one_statement_offer_sends_created_offered_accepted_once(sent: Recorder) -> None:
    """The arrival's offer is one statement outside any transaction (acd.fast_path): its signals
    go at once, each once, with the versions of its rows."""
    require_postgres()
    queue = make_queue(channels=["chat"], auto_accept=True)
    agent = make_agent(queue)
    assert acd.offers_in_one_statement()
    assert connection.in_atomic_block is False

    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    assert sent.names() == ["created", "offered", "accepted"]
    assert sent.kwargs("created") == _expected(interaction, "queued", 1, None, SYSTEM)
    assert sent.kwargs("offered") == _expected(interaction, "offered", 2, agent.pk, signals.ROUTING)
    assert sent.kwargs("accepted") == _expected(interaction, "active", 3, agent.pk, signals.ROUTING)

    # The same statement in a caller's transaction that rolls back sends nothing
    sent.clear()
    other = make_agent(queue)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
        assert sent.names() == []
        raise RuntimeError("the caller fails after the offer")
    assert sent.names() == []
    assert Interaction.objects.filter(agent=other).count() == 0
