"""What becomes of a lead once its call is placed: the interactions signals (after commit) move
its attempt and the lead as attempt_finish says (retry delays, a callback for its owner,
do-not-call onto the internal list, 72 hours after an abandoned call); receivers are idempotent;
the 2-second rule abandons an answered call no agent took, with its recorded message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from apps.campaigns import outcomes
from apps.campaigns.models import AttemptStatus, DialMode, DncEntry, Lead, LeadAttempt, LeadStatus
from apps.campaigns.services.attempts import ABANDON_QUIET, attempt_start
from apps.campaigns.services.dnc import internal_list
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.interactions import services, signals
from apps.interactions.models import (
    AgentProfile,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
    Queue,
)
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTOR = SystemActor("voice connector")
DIALER = SystemActor("dialer")


@pytest.fixture(autouse=True)
def receivers() -> Iterator[None]:
    outcomes.connect()
    outcomes.connect()  # idempotent: dispatch_uid
    yield


def _place(
    queue: Queue, *, agent: AgentProfile | None = None, mode: str = DialMode.PROGRESSIVE
) -> LeadAttempt:
    campaign = make_voice_campaign(dial_mode=mode, queue=queue, caller_id="+14155550100")
    lead = LeadFactory(campaign=campaign)
    call = services.interaction_originate(
        actor=DIALER,
        queue=queue,
        to_number=lead.contact,
        customer=lead.customer,
        agent_id=agent.pk if agent else None,
        caller_id=campaign.caller_id,
    )
    return attempt_start(lead=lead, channel="voice", interaction=call, agent=call.agent)


def _progress(attempt: LeadAttempt, outcome: str) -> Interaction:
    assert attempt.interaction_id is not None
    return services.interaction_call_progress(
        actor=CONNECTOR, interaction_id=attempt.interaction_id, outcome=outcome
    )


def _reload(attempt: LeadAttempt) -> tuple[LeadAttempt, Lead, Interaction]:
    fresh = LeadAttempt.objects.get(pk=attempt.pk)
    assert fresh.interaction_id is not None
    return fresh, Lead.objects.get(pk=fresh.lead_id), Interaction.objects.get(pk=fresh.interaction_id)


def _answered_event_at(interaction: Interaction) -> dt.datetime:
    return interaction.events.get(kind="call_answered").at


def _snapshot(attempt: LeadAttempt) -> tuple[Any, ...]:
    fresh, lead, _ = _reload(attempt)
    return (
        fresh.status,
        fresh.outcome,
        fresh.disposition_id,
        fresh.answered_at,
        fresh.connected_at,
        fresh.ended_at,
        fresh.agent_id,
        lead.status,
        lead.next_attempt_at,
        lead.callback_at,
        lead.callback_owner_id,
        lead.last_disposition_id,
        lead.attempts,
    )


def _wrap_up(attempt: LeadAttempt, agent: AgentProfile, disposition: Disposition, **kwargs: Any) -> None:
    assert attempt.interaction_id is not None
    services.interaction_end(actor=agent.user, interaction_id=attempt.interaction_id)
    services.interaction_wrap_up(
        actor=agent.user, interaction_id=attempt.interaction_id, disposition=disposition, **kwargs
    )


def test_an_answered_progressive_call_connects_the_attempt_to_its_agent() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt = _place(queue, agent=agent)

    _progress(attempt, "answered")

    fresh, lead, call = _reload(attempt)
    assert call.status == InteractionStatus.ACTIVE
    assert (fresh.status, fresh.agent_id, fresh.ended_at) == (AttemptStatus.ANSWERED, agent.pk, None)
    assert fresh.connected_at == call.accepted_at
    assert fresh.answered_at == _answered_event_at(call)
    assert lead.status == LeadStatus.IN_PROGRESS


def test_a_final_disposition_ends_the_attempt_and_the_lead_is_done() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt = _place(queue, agent=agent)
    sale = Disposition.objects.create(code="sale", label="Sale", category=DispositionCategory.SALE)
    _progress(attempt, "answered")

    _wrap_up(attempt, agent, sale)

    fresh, lead, call = _reload(attempt)
    assert (fresh.status, fresh.outcome, fresh.disposition_id) == (AttemptStatus.ENDED, "answered", sale.pk)
    assert fresh.ended_at == call.closed_at
    assert (lead.status, lead.next_attempt_at, lead.last_disposition_id) == (LeadStatus.DONE, None, sale.pk)


@pytest.mark.parametrize(
    ("outcome", "status", "delay"),
    [
        ("busy", AttemptStatus.ENDED, dt.timedelta(minutes=15)),
        ("no_answer", AttemptStatus.ENDED, dt.timedelta(hours=2)),
        ("machine", AttemptStatus.ENDED, dt.timedelta(days=1)),
        ("failed", AttemptStatus.FAILED, dt.timedelta(hours=1)),
    ],
)
def test_an_unanswered_call_retries_the_lead_after_its_outcome_delay(
    outcome: str, status: str, delay: dt.timedelta
) -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt = _place(queue, agent=agent)

    _progress(attempt, "ringing")
    _progress(attempt, outcome)

    fresh, lead, call = _reload(attempt)
    assert call.status == InteractionStatus.CLOSED
    assert (fresh.status, fresh.outcome, fresh.disposition_id) == (status, outcome, call.disposition_id)
    assert (fresh.answered_at, fresh.connected_at) == (None, None)
    assert fresh.ended_at == call.closed_at
    assert call.closed_at is not None
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.RETRY, call.closed_at + delay)


def test_a_callback_the_agent_keeps_personal_is_due_for_that_agent() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt = _place(queue, agent=agent)
    callback = Disposition.objects.create(
        code="callback",
        label="Callback",
        category=DispositionCategory.CALLBACK,
        is_final=False,
        needs_callback_time=True,
    )
    when = (timezone.now() + dt.timedelta(days=1)).replace(microsecond=0)
    _progress(attempt, "answered")

    # The desk's wrap-up form keeps the callback for its agent (Interaction.callback_personal).
    _wrap_up(attempt, agent, callback, callback_at=when, callback_personal=True)

    _, lead, _ = _reload(attempt)
    assert (lead.status, lead.callback_at, lead.next_attempt_at, lead.callback_owner_id) == (
        LeadStatus.CALLBACK,
        when,
        when,
        agent.user_id,
    )


def test_a_callback_not_kept_personal_is_for_any_agent_of_the_campaign() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt = _place(queue, agent=agent)
    callback = Disposition.objects.create(
        code="callback", label="Callback", category=DispositionCategory.CALLBACK, is_final=False
    )
    when = (timezone.now() + dt.timedelta(hours=3)).replace(microsecond=0)
    _progress(attempt, "answered")

    _wrap_up(attempt, agent, callback, callback_at=when)

    _, lead, _ = _reload(attempt)
    assert (lead.status, lead.callback_at, lead.callback_owner_id) == (LeadStatus.CALLBACK, when, None)


def test_a_do_not_call_disposition_puts_the_number_on_the_internal_list() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt = _place(queue, agent=agent)
    dnc = Disposition.objects.create(
        code="do-not-call", label="Do not call", category=DispositionCategory.DO_NOT_CALL, marks_dnc=True
    )
    _progress(attempt, "answered")

    _wrap_up(attempt, agent, dnc)

    fresh, lead, _ = _reload(attempt)
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.DNC, None)
    assert list(DncEntry.objects.filter(dnc_list=internal_list()).values_list("number", flat=True)) == [
        lead.contact
    ]
    assert fresh.disposition_id == dnc.pk


def test_receiving_each_signal_twice_changes_nothing() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt = _place(queue, agent=agent)
    busy_retry = Disposition.objects.create(
        code="not-now", label="Not now", category=DispositionCategory.OTHER, is_final=False
    )
    _progress(attempt, "answered")
    connected = _snapshot(attempt)
    kwargs = {"sender": Interaction, "interaction_id": attempt.interaction_id, "actor": CONNECTOR}

    outcomes.on_interaction_accepted(agent_id=agent.pk, **kwargs)
    assert _snapshot(attempt) == connected

    _wrap_up(attempt, agent, busy_retry)
    finished = _snapshot(attempt)
    outcomes.on_interaction_wrapped_up(disposition_id=busy_retry.pk, **kwargs)
    outcomes.on_interaction_abandoned(**kwargs)
    outcomes.on_interaction_accepted(agent_id=agent.pk, **kwargs)

    assert _snapshot(attempt) == finished
    assert finished[7] == LeadStatus.RETRY
    assert Lead.objects.get(pk=attempt.lead_id).attempts == 1


def test_an_interaction_of_no_campaign_is_left_alone() -> None:
    queue = make_queue(channels=["voice", "chat"])
    call = services.interaction_originate(actor=DIALER, queue=queue, to_number="+14155550199")

    assert outcomes.attempt_connect(actor=CONNECTOR, interaction_id=call.pk) is None
    assert outcomes.attempt_wrap_up(actor=CONNECTOR, interaction_id=call.pk) is None
    assert outcomes.attempt_abandon(actor=CONNECTOR, interaction_id=call.pk) is None
    assert LeadAttempt.objects.count() == 0


def test_the_receivers_are_connected_once_under_their_dispatch_uids() -> None:
    pairs = [
        (signals.interaction_accepted, "campaigns.outcome_accepted"),
        (signals.interaction_wrapped_up, "campaigns.outcome_wrapped_up"),
        (signals.interaction_abandoned, "campaigns.outcome_abandoned"),
    ]

    first = [signal.disconnect(sender=Interaction, dispatch_uid=uid) for signal, uid in pairs]
    second = [signal.disconnect(sender=Interaction, dispatch_uid=uid) for signal, uid in pairs]
    outcomes.connect()

    assert (first, second) == ([True, True, True], [False, False, False])


def _answered_waiting(queue: Queue) -> tuple[LeadAttempt, Interaction]:
    attempt = _place(queue, mode=DialMode.PREDICTIVE)
    call = _progress(attempt, "answered")
    call.refresh_from_db()
    assert call.queued_at is not None
    return attempt, call


def test_an_answered_call_no_agent_takes_within_two_seconds_is_abandoned_with_a_message() -> None:
    queue = make_queue(channels=["voice"])  # nobody to take it
    attempt, call = _answered_waiting(queue)
    assert call.queued_at is not None

    early = outcomes.calls_abandon_unconnected(
        actor=outcomes.ABANDON_TIMER, now=call.queued_at + dt.timedelta(seconds=1.9)
    )
    assert early == []
    assert Interaction.objects.get(pk=call.pk).status == InteractionStatus.QUEUED

    abandoned = outcomes.calls_abandon_unconnected(
        actor=outcomes.ABANDON_TIMER, now=call.queued_at + dt.timedelta(seconds=2)
    )

    fresh, lead, after = _reload(attempt)
    assert abandoned == [call.pk]
    assert after.status == InteractionStatus.ABANDONED
    commands = [
        row.data
        for row in after.events.filter(kind="voice_gateway").order_by("id")
        if row.data["command"] != "originate"
    ]
    assert commands == [
        {
            "gateway": "simulator",
            "command": "play_message",
            "text": outcomes.abandon_message(campaign_name=lead.campaign.name, caller_id="+14155550100"),
        },
        {"gateway": "simulator", "command": "hang_up"},
    ]
    assert (fresh.status, fresh.outcome) == (AttemptStatus.ABANDONED, "answered")
    assert fresh.answered_at == _answered_event_at(after)
    assert fresh.ended_at == after.abandoned_at
    assert after.abandoned_at is not None
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.RETRY, after.abandoned_at + ABANDON_QUIET)
    # A second run finds nothing left to abandon.
    assert outcomes.calls_abandon_unconnected(actor=outcomes.ABANDON_TIMER, now=timezone.now()) == []


def test_an_answered_call_offered_but_not_accepted_in_time_is_abandoned_and_the_agent_freed() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt, call = _answered_waiting(queue)
    call.refresh_from_db()
    assert (call.status, call.agent_id) == (InteractionStatus.OFFERED, agent.pk)
    assert call.queued_at is not None

    abandoned = outcomes.calls_abandon_unconnected(
        actor=outcomes.ABANDON_TIMER, now=call.queued_at + dt.timedelta(seconds=3)
    )

    fresh, _, after = _reload(attempt)
    assert abandoned == [call.pk]
    assert after.status == InteractionStatus.ABANDONED
    assert fresh.status == AttemptStatus.ABANDONED
    assert not Interaction.objects.filter(agent=agent, status=InteractionStatus.OFFERED).exists()


def test_an_answered_call_an_agent_took_is_not_abandoned() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    attempt, call = _answered_waiting(queue)
    services.interaction_accept(actor=agent.user, interaction_id=call.pk)
    assert call.queued_at is not None

    abandoned = outcomes.calls_abandon_unconnected(
        actor=outcomes.ABANDON_TIMER, now=call.queued_at + dt.timedelta(seconds=5)
    )

    fresh, _, after = _reload(attempt)
    assert abandoned == []
    assert (after.status, fresh.status, fresh.agent_id) == (
        InteractionStatus.ACTIVE,
        AttemptStatus.ANSWERED,
        agent.pk,
    )
    assert fresh.answered_at == _answered_event_at(after)


def test_an_agent_cannot_abandon_waiting_calls(agent: Any) -> None:
    queue = make_queue(channels=["voice"])
    attempt, call = _answered_waiting(queue)
    assert call.queued_at is not None

    with pytest.raises(NotAllowed):
        outcomes.calls_abandon_unconnected(actor=agent, now=call.queued_at + dt.timedelta(seconds=5))

    fresh, lead, after = _reload(attempt)
    assert (after.status, fresh.status, fresh.ended_at, lead.status) == (
        InteractionStatus.QUEUED,
        AttemptStatus.DIALING,
        None,
        LeadStatus.IN_PROGRESS,
    )
