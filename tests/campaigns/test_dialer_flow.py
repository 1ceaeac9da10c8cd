"""End to end on PostgreSQL: the dialer's tick places a campaign call through the voice gateway,
the built-in voice simulator answers it, the ACD gives it to an agent (reserved in progressive
mode, offered and accepted in power mode), the agent's wrap-up disposition moves the lead as
its retry rule says; an answered call no agent takes within 2 seconds is abandoned with its
recorded message and the number is left alone for 72 hours."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone

from apps.campaigns import outcomes, simulator
from apps.campaigns.dialer import tick
from apps.campaigns.models import AttemptStatus, Campaign, DialMode, Lead, LeadAttempt, LeadStatus, RetryRule
from apps.campaigns.services.attempts import ABANDON_QUIET
from apps.interactions import services
from apps.interactions.models import (
    AgentProfile,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
    Presence,
)
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.conftest import require_postgres
from tests.interactions.factories import make_agent, make_queue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ALWAYS_ANSWERED = simulator.SimulatedOdds(answer=1.0, busy=0.0, no_answer=0.0, machine=0.0, invalid=0.0)
# Past the longest simulated answer ring (12 s).
AFTER_THE_RING = dt.timedelta(seconds=13)


@pytest.fixture(autouse=True)
def receivers() -> Iterator[None]:
    require_postgres()
    outcomes.connect()
    yield


def _zone_at_noon() -> str:
    """A fixed-offset zone where it is about noon now (inside the campaign's window)."""
    offset = (12 - timezone.now().hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _campaign(mode: str, *, agents: int = 1) -> tuple[Campaign, list[AgentProfile], Lead]:
    queue = make_queue(channels=["voice"])
    team = [make_agent(queue) for _ in range(agents)]
    campaign = make_voice_campaign(dial_mode=mode, queue=queue, caller_id="+14155550100")
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.VOICEMAIL, delay_minutes=24 * 60)
    lead = LeadFactory(campaign=campaign, time_zones=[_zone_at_noon()])
    return campaign, team, lead


def _answer(call_id: int) -> Interaction:
    report = simulator.simulator_report_due(
        now=timezone.now() + AFTER_THE_RING, odds=ALWAYS_ANSWERED, hang_up=False
    )
    assert report.outcomes == {"answered": 1}
    return Interaction.objects.get(pk=call_id)


def _left_a_message() -> Disposition:
    return Disposition.objects.create(
        code="left-message", label="Left a message", category=DispositionCategory.VOICEMAIL, is_final=False
    )


def test_a_progressive_call_answered_and_wrapped_up_is_retried_as_its_rule_says() -> None:
    campaign, (agent,), lead = _campaign(DialMode.PROGRESSIVE)

    result = tick.campaign_tick(campaign_id=campaign.pk)
    assert (result.lines, result.dialled) == (1, 1)
    (call_id,) = result.interaction_ids
    assert Interaction.objects.get(pk=call_id).agent_id == agent.pk  # reserved while it rings

    call = _answer(call_id)
    assert (call.status, call.agent_id) == (InteractionStatus.ACTIVE, agent.pk)
    attempt = LeadAttempt.objects.get(interaction_id=call_id)
    assert (attempt.status, attempt.agent_id) == (AttemptStatus.ANSWERED, agent.pk)
    assert attempt.connected_at == call.accepted_at

    services.interaction_end(actor=agent.user, interaction_id=call_id)
    services.interaction_wrap_up(actor=agent.user, interaction_id=call_id, disposition=_left_a_message())

    call.refresh_from_db()
    attempt.refresh_from_db()
    lead.refresh_from_db()
    assert call.status == InteractionStatus.CLOSED
    assert (attempt.status, attempt.disposition.code, attempt.ended_at) == (
        AttemptStatus.ENDED,
        "left-message",
        call.closed_at,
    )
    assert (lead.status, lead.attempts) == (LeadStatus.RETRY, 1)
    assert lead.next_attempt_at == call.closed_at + dt.timedelta(days=1)
    # Not due yet: the next tick has the agent free again and nothing to dial.
    assert tick.campaign_tick(campaign_id=campaign.pk).dialled == 0


def test_a_power_call_answered_is_offered_by_the_acd_and_accepted_by_the_agent() -> None:
    campaign, (agent,), lead = _campaign(DialMode.POWER)
    Campaign.objects.filter(pk=campaign.pk).update(lines_per_agent=1)

    (call_id,) = tick.campaign_tick(campaign_id=campaign.pk).interaction_ids
    assert Interaction.objects.get(pk=call_id).agent_id is None

    call = _answer(call_id)
    assert (call.status, call.agent_id) == (InteractionStatus.OFFERED, agent.pk)
    services.interaction_accept(actor=agent.user, interaction_id=call_id)
    attempt = LeadAttempt.objects.get(interaction_id=call_id)
    assert (attempt.status, attempt.agent_id) == (AttemptStatus.ANSWERED, agent.pk)

    services.interaction_end(actor=agent.user, interaction_id=call_id)
    services.interaction_wrap_up(actor=agent.user, interaction_id=call_id, disposition=_left_a_message())

    lead.refresh_from_db()
    call.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.RETRY, call.closed_at + dt.timedelta(days=1))


def test_an_answered_call_no_agent_takes_in_two_seconds_is_abandoned_and_left_alone_72_hours() -> None:
    campaign, (agent,), lead = _campaign(DialMode.POWER)
    Campaign.objects.filter(pk=campaign.pk).update(lines_per_agent=1)
    (call_id,) = tick.campaign_tick(campaign_id=campaign.pk).interaction_ids
    # The only agent signs out while the call rings: nobody is free at the answer.
    services.agent_set_presence(actor=agent.user, agent_id=agent.pk, presence=Presence.OFFLINE)

    call = _answer(call_id)
    assert call.status == InteractionStatus.QUEUED
    assert call.queued_at is not None
    assert outcomes.calls_abandon_unconnected(actor=outcomes.ABANDON_TIMER, now=call.queued_at) == []

    abandoned = outcomes.calls_abandon_unconnected(
        actor=outcomes.ABANDON_TIMER, now=call.queued_at + outcomes.ABANDON_AFTER
    )

    assert abandoned == [call_id]
    call.refresh_from_db()
    attempt = LeadAttempt.objects.get(interaction_id=call_id)
    lead.refresh_from_db()
    assert call.status == InteractionStatus.ABANDONED
    message = call.events.get(kind="voice_gateway", data__command="play_message")
    assert campaign.name in message.data["text"]
    assert attempt.status == AttemptStatus.ABANDONED
    assert attempt.answered_at is not None
    assert lead.status == LeadStatus.RETRY
    assert lead.next_attempt_at is not None and attempt.ended_at is not None
    assert lead.next_attempt_at >= attempt.ended_at + ABANDON_QUIET
    # The agent is back: the tick finds the lead not due and dials nothing.
    services.agent_set_presence(actor=agent.user, agent_id=agent.pk, presence=Presence.AVAILABLE)
    assert tick.campaign_tick(campaign_id=campaign.pk).dialled == 0
