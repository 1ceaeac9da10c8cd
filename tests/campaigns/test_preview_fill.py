"""Preview dialing end to end: the tick turns a preview campaign's due leads into previews the ACD
offers to the campaign's agents (one per free agent, never more than they can take), nothing is
dialled until the agent dials, the gate decides again at the dial, a skip gives the lead back
without counting an attempt, a pause stops the fill, and a personal callback goes to its owner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.campaigns.dialer import tick
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignStatus,
    ContactLog,
    DialMode,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.campaigns.services.campaigns import campaign_set_status
from apps.campaigns.services.dnc import dnc_add
from apps.core.actors import SystemActor
from apps.interactions import services
from apps.interactions.exceptions import ContactRefused
from apps.interactions.models import AgentProfile, Direction, Interaction, InteractionStatus
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.interactions.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)

MARKETING = SystemActor("marketing test")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _zone_at_noon() -> str:
    offset = (12 - timezone.now().hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _campaign(agents: int, **fields: Any) -> tuple[Campaign, list[AgentProfile]]:
    campaign = make_voice_campaign(dial_mode=DialMode.PREVIEW, caller_id="+14155550100", **fields)
    assert campaign.queue is not None
    return campaign, [make_agent(campaign.queue) for _ in range(agents)]


def _leads(campaign: Campaign, n: int, **fields: Any) -> list[Lead]:
    return [
        LeadFactory(campaign=campaign, contact=f"+1415555{index:04d}", time_zones=[_zone_at_noon()], **fields)
        for index in range(n)
    ]


def test_the_tick_queues_one_preview_per_free_agent_and_dials_nothing() -> None:
    campaign, agents = _campaign(agents=2)
    _leads(campaign, 3)

    result = tick.campaign_tick(campaign_id=campaign.pk)

    assert (result.previewed, result.dialled, result.claimed) == (2, 0, 2)
    attempts = list(LeadAttempt.objects.filter(campaign=campaign).select_related("interaction", "lead"))
    assert {a.status for a in attempts} == {AttemptStatus.QUEUED}
    for attempt in attempts:
        interaction = attempt.interaction
        assert interaction is not None
        assert (interaction.direction, interaction.channel, interaction.caller_id) == (
            Direction.OUTBOUND,
            "voice",
            "+14155550100",
        )
        # Offered by the ACD at once to a free agent of the campaign's queue; no call exists yet.
        assert interaction.status == InteractionStatus.OFFERED
        assert interaction.agent_id in {agent.pk for agent in agents}
        assert not interaction.call_outcome
        assert (attempt.lead.status, attempt.lead.attempts) == (LeadStatus.IN_PROGRESS, 0)
    # Every agent holds an offer: the next tick queues nothing more.
    again = tick.campaign_tick(campaign_id=campaign.pk)
    assert (again.lines, again.previewed) == (0, 0)
    assert LeadAttempt.objects.filter(campaign=campaign).count() == 2


def test_no_free_agent_no_preview() -> None:
    campaign, _ = _campaign(agents=0)
    _leads(campaign, 2)

    result = tick.campaign_tick(campaign_id=campaign.pk)

    assert (result.lines, result.previewed) == (0, 0)
    assert not LeadAttempt.objects.filter(campaign=campaign).exists()


def test_the_agent_dials_the_preview_and_the_attempt_counts_from_the_dial() -> None:
    campaign, (agent,) = _campaign(agents=1)
    (lead,) = _leads(campaign, 1)
    tick.campaign_tick(campaign_id=campaign.pk)
    attempt = LeadAttempt.objects.get(lead=lead)
    assert attempt.interaction_id is not None
    services.interaction_accept(actor=agent.user, interaction_id=attempt.interaction_id)

    call = services.interaction_preview_dial(actor=agent.user, interaction_id=attempt.interaction_id)

    assert call.status == InteractionStatus.DIALING
    attempt.refresh_from_db()
    lead.refresh_from_db()
    assert attempt.status == AttemptStatus.DIALING
    assert lead.attempts == 1
    # The gate decided twice: when the preview was queued, and at the dial.
    assert list(ContactLog.objects.filter(lead=lead).values_list("allowed", flat=True)) == [True, True]


def test_a_number_put_on_do_not_call_while_previewed_is_not_dialled() -> None:
    campaign, (agent,) = _campaign(agents=1)
    (lead,) = _leads(campaign, 1)
    tick.campaign_tick(campaign_id=campaign.pk)
    attempt = LeadAttempt.objects.get(lead=lead)
    assert attempt.interaction_id is not None
    services.interaction_accept(actor=agent.user, interaction_id=attempt.interaction_id)
    dnc_add(actor=MARKETING, number=lead.contact, reason="asked on another call")

    with pytest.raises(ContactRefused):
        services.interaction_preview_dial(actor=agent.user, interaction_id=attempt.interaction_id)

    interaction = Interaction.objects.get(pk=attempt.interaction_id)
    assert interaction.status == InteractionStatus.ACTIVE and interaction.dialed_at is None
    attempt.refresh_from_db()
    lead.refresh_from_db()
    assert (attempt.status, lead.attempts) == (AttemptStatus.QUEUED, 0)
    refusal = ContactLog.objects.filter(lead=lead).order_by("id").last()
    assert refusal is not None and (refusal.allowed, refusal.rule) == (False, "dnc_internal")


def test_a_paused_campaign_queues_no_preview() -> None:
    campaign, _ = _campaign(agents=1)
    _leads(campaign, 1)
    campaign_set_status(actor=MARKETING, campaign_id=campaign.pk, to_status=CampaignStatus.PAUSED)

    result = tick.campaign_tick(campaign_id=campaign.pk)

    assert (result.skipped, result.previewed) == (CampaignStatus.PAUSED, 0)
    assert not LeadAttempt.objects.filter(campaign=campaign).exists()


def test_a_lead_the_gate_refuses_is_not_previewed() -> None:
    campaign, _ = _campaign(agents=1)
    (lead,) = _leads(campaign, 1)
    dnc_add(actor=MARKETING, number=lead.contact, reason="internal")

    result = tick.campaign_tick(campaign_id=campaign.pk)

    assert (result.refused, result.previewed) == (1, 0)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DNC
    assert not Interaction.objects.filter(contact=lead.contact).exists()


def test_a_due_personal_callback_is_dialled_for_its_owner() -> None:
    campaign, (owner, other) = _campaign(agents=2)
    (lead,) = _leads(
        campaign,
        1,
        status=LeadStatus.CALLBACK,
        callback_owner=None,
        next_attempt_at=timezone.now() - dt.timedelta(minutes=1),
    )
    Lead.objects.filter(pk=lead.pk).update(callback_owner=owner.user)

    result = tick.campaign_tick(campaign_id=campaign.pk)

    assert (result.dialled, result.previewed) == (1, 0)
    attempt = LeadAttempt.objects.select_related("interaction").get(lead=lead)
    assert attempt.interaction is not None
    assert (attempt.interaction.status, attempt.interaction.agent_id) == (InteractionStatus.DIALING, owner.pk)
    assert attempt.status == AttemptStatus.DIALING
    assert other.pk != owner.pk


def test_a_skipped_preview_ends_its_attempt_with_the_reason_and_counts_no_attempt() -> None:
    campaign, (agent,) = _campaign(agents=1)
    (lead,) = _leads(campaign, 1)
    tick.campaign_tick(campaign_id=campaign.pk)
    attempt = LeadAttempt.objects.get(lead=lead)
    assert attempt.interaction_id is not None
    services.interaction_accept(actor=agent.user, interaction_id=attempt.interaction_id)

    services.interaction_preview_skip(
        actor=agent.user, interaction_id=attempt.interaction_id, reason="Customer called in this morning"
    )

    attempt.refresh_from_db()
    lead.refresh_from_db()
    assert (attempt.status, attempt.skip_reason) == (AttemptStatus.SKIPPED, "Customer called in this morning")
    assert attempt.ended_at is not None and attempt.answered_at is None
    assert (lead.status, lead.attempts) == (LeadStatus.RETRY, 0)
    assert lead.next_attempt_at is not None and lead.next_attempt_at > timezone.now()


def test_pausing_withdraws_the_previews_no_agent_was_offered_yet() -> None:
    campaign, (agent,) = _campaign(agents=1)
    offered_lead, waiting_lead = _leads(campaign, 2)
    tick.campaign_tick(campaign_id=campaign.pk)  # one preview, offered to the one agent
    offered = LeadAttempt.objects.get(lead=offered_lead)
    assert campaign.queue is not None
    # A second preview waits in the queue: the agent already holds an offer.
    waiting_call = services.interaction_enqueue(
        actor=MARKETING,
        queue=campaign.queue,
        channel="voice",
        direction="outbound",
        contact=waiting_lead.contact,
    )
    assert waiting_call.status == InteractionStatus.QUEUED
    LeadAttempt.objects.create(
        lead=waiting_lead,
        campaign=campaign,
        interaction=waiting_call,
        channel="voice",
        contact=waiting_lead.contact,
        status=AttemptStatus.QUEUED,
        started_at=timezone.now(),
    )
    Lead.objects.filter(pk=waiting_lead.pk).update(status=LeadStatus.IN_PROGRESS)

    campaign_set_status(actor=MARKETING, campaign_id=campaign.pk, to_status=CampaignStatus.PAUSED)

    waiting_call.refresh_from_db()
    assert waiting_call.status == InteractionStatus.CLOSED
    assert waiting_call.disposition is not None and waiting_call.disposition.code == "preview-withdrawn"
    attempt = LeadAttempt.objects.get(interaction=waiting_call)
    waiting_lead.refresh_from_db()
    assert (attempt.status, attempt.skip_reason) == (AttemptStatus.SKIPPED, "campaign paused")
    assert (waiting_lead.status, waiting_lead.attempts) == (LeadStatus.RETRY, 0)
    assert waiting_lead.next_attempt_at is not None and waiting_lead.next_attempt_at <= timezone.now()
    # The offered one stays with its agent; the gate refuses its dial while the campaign is paused.
    assert offered.interaction_id is not None
    assert Interaction.objects.get(pk=offered.interaction_id).status == InteractionStatus.OFFERED
    services.interaction_accept(actor=agent.user, interaction_id=offered.interaction_id)
    with pytest.raises(ContactRefused, match="paused"):
        services.interaction_preview_dial(actor=agent.user, interaction_id=offered.interaction_id)
