"""Outbound calls through the voice gateway: placing a call with or without a reserved agent,
what the provider reports (ringing, answered, busy, no answer, machine, failed), the dial timer,
the consent check of every outbound contact, business hours never turning an outbound call away,
and the queue's figures keeping inbound and outbound apart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.actors import SYSTEM, SystemActor
from apps.core.exceptions import NotAllowed
from apps.interactions import selectors, services, voice
from apps.interactions.exceptions import AgentUnavailable, ContactRefused, InvalidTarget, VoiceGatewayError
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentState,
    CallOutcome,
    Direction,
    DispositionCategory,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Presence,
)
from tests.customers.factories import EmailFactory, PhoneFactory
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTOR = SystemActor("voice connector")
NUMBER = "+14155550123"


def _voice_load(agent: AgentProfile) -> int:
    return AgentCapacity.objects.get(agent=agent, channel="voice").load


def _state(agent: AgentProfile) -> str:
    return AgentProfile.objects.get(pk=agent.pk).state


def _progress(call: Interaction, outcome: str) -> Interaction:
    return services.interaction_call_progress(actor=CONNECTOR, interaction_id=call.pk, outcome=outcome)


def _kinds(call: Interaction) -> list[str]:
    return list(call.events.exclude(kind="voice_gateway").order_by("id").values_list("kind", flat=True))


def test_a_call_placed_for_an_agent_reserves_them_and_asks_the_gateway() -> None:
    queue = make_queue()
    agent = make_agent(queue)

    call = services.interaction_originate(
        actor=SYSTEM, queue=queue, to_number="(415) 555-0123", agent_id=agent.pk, caller_id="+14155550100"
    )

    call.refresh_from_db()
    assert (call.status, call.direction, call.agent_id, call.contact, call.caller_id) == (
        InteractionStatus.DIALING,
        Direction.OUTBOUND,
        agent.pk,
        NUMBER,
        "+14155550100",
    )
    assert (_state(agent), _voice_load(agent)) == (AgentState.RESERVED, 1)
    originate = call.events.get(kind="voice_gateway")
    assert originate.data == {
        "gateway": "simulator",
        "command": "originate",
        "to_number": NUMBER,
        "caller_id": "+14155550100",
    }
    # Routing offers the reserved agent nothing else meanwhile.
    chat = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    assert Interaction.objects.get(pk=chat.pk).status == InteractionStatus.QUEUED


def test_an_answered_call_connects_to_its_reserved_agent_and_late_reports_change_nothing() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    call = services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER, agent_id=agent.pk)

    assert _progress(call, "ringing").status == InteractionStatus.RINGING
    answered = _progress(call, "answered")
    version = answered.version
    _progress(call, "answered")
    _progress(call, "ringing")
    _progress(call, "busy")  # a late failure after the call connected

    call.refresh_from_db()
    assert (call.status, call.call_outcome, call.version) == (InteractionStatus.ACTIVE, "answered", version)
    assert call.accepted_at is not None
    assert (_state(agent), _voice_load(agent)) == (AgentState.BUSY, 1)
    assert _kinds(call) == ["dialing", "ringing", "call_answered"]


def test_an_answered_call_without_an_agent_waits_in_its_queue_and_is_routed_like_an_inbound_one() -> None:
    queue = make_queue()
    call = services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER)
    agent = make_agent(queue)  # free only now: nobody was reserved
    assert Interaction.objects.get(pk=call.pk).status == InteractionStatus.DIALING

    _progress(call, "answered")

    call.refresh_from_db()
    assert (call.status, call.agent_id, call.direction) == (InteractionStatus.OFFERED, agent.pk, "outbound")
    assert call.queued_at is not None
    assert _kinds(call) == ["dialing", "call_answered", "offered"]


@pytest.mark.parametrize(
    ("outcome", "category"),
    [
        ("busy", DispositionCategory.BUSY),
        ("no_answer", DispositionCategory.NO_ANSWER),
        ("machine", DispositionCategory.VOICEMAIL),
        ("failed", DispositionCategory.OTHER),
    ],
)
def test_a_call_not_taken_ends_with_its_outcome_and_frees_the_agent_for_waiting_work(
    outcome: str, category: str
) -> None:
    queue = make_queue()
    agent = make_agent(queue)
    call = services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER, agent_id=agent.pk)
    waiting = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    _progress(call, outcome)

    call.refresh_from_db()
    assert (call.status, call.call_outcome) == (InteractionStatus.CLOSED, outcome)
    assert call.disposition is not None and call.disposition.category == category
    assert not call.disposition.is_final  # the campaigns' retry rules decide
    assert call.closed_at is not None and call.accepted_at is None
    assert _voice_load(agent) == 0
    # The freed agent took the chat that waited.
    assert Interaction.objects.get(pk=waiting.pk).agent_id == agent.pk


def test_an_answered_call_still_waiting_for_an_agent_can_turn_out_to_be_a_machine() -> None:
    queue = make_queue()
    call = services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER)
    _progress(call, "answered")

    _progress(call, "machine")

    call.refresh_from_db()
    assert (call.status, call.call_outcome) == (InteractionStatus.CLOSED, CallOutcome.MACHINE)


def test_the_dial_timer_ends_a_call_nobody_reported_on_and_frees_the_agent() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    call = services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER, agent_id=agent.pk)

    assert services.dials_expire_due(now=timezone.now() + dt.timedelta(seconds=30)) == 0
    assert services.dials_expire_due(now=timezone.now() + dt.timedelta(minutes=5)) == 1

    call.refresh_from_db()
    assert (call.status, call.call_outcome) == (InteractionStatus.CLOSED, CallOutcome.NO_ANSWER)
    assert call.events.get(kind="call_no_answer").data == {
        "outcome": "no_answer",
        "detail": "no report from the provider",
    }
    assert (_state(agent), _voice_load(agent)) == (AgentState.AVAILABLE, 0)


def test_a_do_not_call_number_is_refused_and_nothing_is_written() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    PhoneFactory(
        value=NUMBER, do_not_call=True, do_not_call_at=timezone.now(), do_not_call_source="customer asked"
    )

    with pytest.raises(ContactRefused, match=r"\+14155550123 is on the do-not-call list"):
        services.interaction_originate(actor=SYSTEM, queue=queue, to_number="415-555-0123", agent_id=agent.pk)
    with pytest.raises(ContactRefused):
        services.interaction_enqueue(
            actor=SYSTEM, queue=queue, channel="voice", contact=NUMBER, direction=Direction.OUTBOUND
        )

    assert (Interaction.objects.count(), InteractionEvent.objects.count()) == (0, 0)
    assert (_state(agent), _voice_load(agent)) == (AgentState.AVAILABLE, 0)


def test_an_erased_persons_number_and_address_are_refused_because_their_consent_went_with_them() -> None:
    from apps.customers.services.gdpr import customer_erase

    queue = make_queue(channels=["voice", "email"])
    agent = make_agent(queue)
    phone = PhoneFactory(value=NUMBER, do_not_call=True, do_not_call_at=timezone.now())
    EmailFactory(customer=phone.customer, value="gone@example.com")
    customer_erase(actor=SYSTEM, customer=phone.customer)

    with pytest.raises(ContactRefused, match=r"\+14155550123 belongs to a person whose data was erased"):
        services.interaction_originate(
            actor=SYSTEM, queue=queue, to_number="(415) 555-0123", agent_id=agent.pk
        )
    with pytest.raises(ContactRefused, match="gone@example.com belongs to a person whose data was erased"):
        services.interaction_enqueue(
            actor=SYSTEM,
            queue=queue,
            channel="email",
            contact="Gone@Example.com",
            direction=Direction.OUTBOUND,
        )

    assert (Interaction.objects.count(), InteractionEvent.objects.count()) == (0, 0)
    assert (_state(agent), _voice_load(agent)) == (AgentState.AVAILABLE, 0)


def test_outbound_texts_and_emails_respect_consent_but_inbound_contacts_are_always_taken() -> None:
    queue = make_queue(channels=["sms", "email", "voice"])
    PhoneFactory(value=NUMBER, do_not_call=True)
    EmailFactory(value="gone@example.com", email_opt_out=True)

    with pytest.raises(ContactRefused):
        services.interaction_enqueue(
            actor=SYSTEM, queue=queue, channel="sms", contact=NUMBER, direction=Direction.OUTBOUND
        )
    with pytest.raises(ContactRefused, match="opted out of email"):
        services.interaction_enqueue(
            actor=SYSTEM,
            queue=queue,
            channel="email",
            contact="Gone@Example.com",
            direction=Direction.OUTBOUND,
        )
    assert Interaction.objects.count() == 0

    inbound = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice", contact=NUMBER)
    assert inbound.status == InteractionStatus.QUEUED


def test_an_outbound_interaction_is_never_missed_for_closed_hours() -> None:
    queue = make_queue(business_hours={"mon": [["09:00", "17:00"]]}, time_zone="UTC")
    sunday = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)

    with mock.patch("django.utils.timezone.now", return_value=sunday):
        outbound = services.interaction_enqueue(
            actor=SYSTEM, queue=queue, channel="voice", contact=NUMBER, direction=Direction.OUTBOUND
        )
        inbound = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice", contact=NUMBER)

    assert (outbound.status, inbound.status) == (InteractionStatus.QUEUED, InteractionStatus.MISSED)


def test_agents_place_calls_only_for_themselves() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    colleague = make_agent(queue)

    with pytest.raises(NotAllowed):
        services.interaction_originate(actor=colleague.user, queue=queue, to_number=NUMBER, agent_id=agent.pk)
    with pytest.raises(NotAllowed):
        services.interaction_originate(actor=colleague.user, queue=queue, to_number=NUMBER)
    assert Interaction.objects.count() == 0

    own = services.interaction_originate(actor=agent.user, queue=queue, to_number=NUMBER, agent_id=agent.pk)
    assert own.agent_id == agent.pk


def test_a_reserved_agent_must_be_free_and_the_number_valid() -> None:
    queue = make_queue()
    agent = make_agent(queue)
    services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER, agent_id=agent.pk)
    away = make_agent(queue, available=False)

    with pytest.raises(AgentUnavailable):
        services.interaction_originate(actor=SYSTEM, queue=queue, to_number="+14155550124", agent_id=agent.pk)
    with pytest.raises(AgentUnavailable):
        services.interaction_originate(actor=SYSTEM, queue=queue, to_number="+14155550124", agent_id=away.pk)
    with pytest.raises(InvalidTarget):
        services.interaction_originate(actor=SYSTEM, queue=queue, to_number="not a number")

    assert Interaction.objects.count() == 1


class _Refusing:
    name = "refusing"

    def __getattr__(self, command: str) -> Callable[..., None]:
        def refuse(*args: object, **kwargs: object) -> None:
            raise VoiceGatewayError(f"provider refused {command}")

        return refuse


@pytest.fixture
def refusing_gateway() -> Iterator[None]:
    previous = voice.register(_Refusing())  # type: ignore[arg-type]
    try:
        yield
    finally:
        voice.register(previous)


def test_a_call_the_provider_refuses_to_place_writes_nothing(refusing_gateway: None) -> None:
    queue = make_queue()
    agent = make_agent(queue)

    with pytest.raises(VoiceGatewayError):
        services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER, agent_id=agent.pk)

    assert Interaction.objects.count() == 0
    assert (_state(agent), _voice_load(agent)) == (AgentState.AVAILABLE, 0)


def test_queue_figures_keep_outbound_calls_out_of_the_inbound_ones(
    django_assert_max_num_queries: Any,
) -> None:
    queue = make_queue()
    agent = make_agent(queue)
    inbound = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    services.interaction_accept(actor=agent.user, interaction_id=inbound.pk)
    services.interaction_end(actor=agent.user, interaction_id=inbound.pk)
    services.agent_set_presence(
        actor=SYSTEM, agent_id=agent.pk, presence=Presence.NOT_READY, reason=_reason()
    )
    for outcome in ("answered", "busy", "no_answer", "failed"):
        _progress(services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER), outcome)
    services.interaction_originate(actor=SYSTEM, queue=queue, to_number=NUMBER)  # still dialing

    with django_assert_max_num_queries(5):
        [stats] = selectors.queue_stats()

    assert (stats.offered_today, stats.answered_today, stats.waiting) == (1, 1, 0)
    assert (
        stats.outbound_placed_today,
        stats.outbound_connected_today,
        stats.outbound_unanswered_today,
        stats.outbound_failed_today,
        stats.outbound_in_progress,
    ) == (5, 1, 2, 1, 1)


def _reason() -> Any:
    from apps.interactions.models import NotReadyReason

    return NotReadyReason.objects.create(code="break", label="Break")


def test_the_api_places_a_call_and_refuses_a_do_not_call_number_with_a_message(make_user: Any) -> None:
    queue = make_queue()
    agent = make_agent(queue)
    PhoneFactory(value="+14155550999", do_not_call=True)
    client = APIClient()
    client.force_authenticate(make_user("Supervisor"))

    placed = client.post(
        "/api/v1/interactions/originate/",
        {"queue": queue.pk, "to_number": NUMBER, "agent": agent.pk},
        format="json",
    )
    refused = client.post(
        "/api/v1/interactions/originate/", {"queue": queue.pk, "to_number": "+14155550999"}, format="json"
    )
    invalid = client.post(
        "/api/v1/interactions/originate/", {"queue": queue.pk, "to_number": "x"}, format="json"
    )

    assert placed.status_code == 201, placed.content
    assert (placed.json()["status"], placed.json()["agent"], placed.json()["direction"]) == (
        "dialing",
        agent.pk,
        "outbound",
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "contact_refused"
    assert "do-not-call" in refused.json()["detail"]
    assert invalid.status_code == 400
    assert Interaction.objects.count() == 1


def test_the_api_refuses_an_outbound_interaction_to_a_do_not_call_number(make_user: Any) -> None:
    queue = make_queue()
    PhoneFactory(value=NUMBER, do_not_call=True)
    client = APIClient()
    client.force_authenticate(make_user("Supervisor"))

    response = client.post(
        "/api/v1/interactions/",
        {"queue": queue.pk, "channel": "voice", "contact": NUMBER, "direction": "outbound"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "contact_refused"
    assert Interaction.objects.count() == 0
