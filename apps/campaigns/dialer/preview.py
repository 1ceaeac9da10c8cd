"""Preview dialing's share of the tick: the campaign's due leads become outbound previews that
the ACD offers to the campaign's agents like any other work; the agent who accepts one sees the
lead (screen pop, the lead's fields, the customer's history) and dials or skips it
(apps.interactions.services.preview). Nothing is dialled here.

One fill of a preview campaign:
1. counts the agents routing would offer a voice call now and the campaign's previews already
   waiting in the queue for one; as many leads as agents left without a waiting preview are
   claimed from the hopper (SKIP LOCKED) and asked about by the compliance gate, which logs it;
2. gives back the refused ones as the dialer's tick does (do-not-call, exhausted, due later);
3. enqueues each allowed lead as an outbound voice interaction in a transaction of its own that
   re-reads the campaign's status under its lock, and records a queued attempt: it counts as no
   attempt (and as no contact for the gate) until the agent dials, when the gate decides again
   (apps.campaigns.desk.preview_dial_check);
4. a personal callback due now whose owner is free is the exception: its call is placed at once
   for its owner, as a progressive call is, so it comes back to the agent who promised it.

The lead is "in progress" while its preview waits, so no tick claims it twice; a skip ends the
queued attempt (apps.campaigns.outcomes) and the lead is due again after the rule's delay.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction

from apps.campaigns.events import campaign_activity
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignChannel,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.interactions.acd import eligible_agents
from apps.interactions.models import Channel, Direction, Interaction, InteractionStatus
from apps.interactions.services import interaction_enqueue

if TYPE_CHECKING:
    from apps.campaigns.dialer.tick import TickResult


def previews_waiting(campaign: Campaign) -> int:
    """The campaign's previews in the queue that no agent has accepted yet."""
    return LeadAttempt.objects.filter(
        campaign_id=campaign.pk,
        status=AttemptStatus.QUEUED,
        interaction__status__in=(InteractionStatus.QUEUED, InteractionStatus.OFFERED),
    ).count()


def _preview(campaign: Campaign, lead: Lead, now: dt.datetime) -> Interaction | None:
    """Enqueue one lead's preview and record its queued attempt, in one transaction. None: the
    claim is no longer this fill's. Raises CampaignStopped, and the enqueue's refusals."""
    from apps.campaigns.dialer.tick import DIALER, still_claimed

    assert campaign.queue is not None
    with transaction.atomic():
        if not still_claimed(campaign, lead):
            return None
        interaction = interaction_enqueue(
            actor=DIALER,
            queue=campaign.queue,
            channel=Channel.VOICE,
            customer=lead.customer,
            contact=lead.contact,
            direction=Direction.OUTBOUND,
            priority=1 if lead.status == LeadStatus.CALLBACK else 0,
            subject=f"Campaign: {campaign.name}",
        )
        if campaign.caller_id:
            Interaction.objects.filter(pk=interaction.pk).update(caller_id=campaign.caller_id)
        LeadAttempt.objects.create(
            lead=lead,
            campaign_id=campaign.pk,
            interaction=interaction,
            channel=CampaignChannel.VOICE,
            contact=lead.contact,
            status=AttemptStatus.QUEUED,
            started_at=now,
        )
        Lead.objects.filter(pk=lead.pk).update(
            status=LeadStatus.IN_PROGRESS, claimed_until=None, updated_at=now
        )
        campaign_activity(campaign.pk)
    return interaction


def preview_fill(campaign: Campaign, now: dt.datetime, result: TickResult) -> None:
    """One fill of an active preview campaign (see the module), into `result`."""
    from apps.campaigns.dialer.tick import claim_and_decide, dial_lead, place_each

    queue = campaign.queue
    assert queue is not None
    free = eligible_agents(Interaction(channel=Channel.VOICE), queue).values_list("pk", "user_id")
    agent_of_user = {int(user_id): int(pk) for pk, user_id in free}
    result.lines = max(0, len(agent_of_user) - previews_waiting(campaign))
    if result.lines <= 0:
        return
    allowed, release = claim_and_decide(
        campaign, limit=result.lines, now=now, callback_owners=list(agent_of_user), result=result
    )

    def place(lead: Lead) -> Interaction | None:
        owner_agent = agent_of_user.get(lead.callback_owner_id) if lead.callback_owner_id else None
        if lead.status == LeadStatus.CALLBACK and owner_agent is not None:
            return dial_lead(campaign, lead, owner_agent, now)
        return _preview(campaign, lead, now)

    placed = place_each(campaign, allowed, place, now=now, release=release, result=result)
    result.dialled = sum(1 for interaction in placed if interaction.status == InteractionStatus.DIALING)
    result.previewed = len(placed) - result.dialled
    result.released = result.claimed - len(placed)


def previews_withdraw(*, campaign_id: int, reason: str) -> int:
    """Take back the campaign's previews still waiting in the queue for an agent (its campaign
    was paused or completed): no agent is offered a lead it may not dial. Previews already
    offered or accepted stay; the gate refuses their dial. Returns how many were withdrawn."""
    from apps.campaigns.dialer.tick import DIALER
    from apps.interactions.services import interaction_preview_withdraw

    waiting = list(
        LeadAttempt.objects.filter(
            campaign_id=campaign_id, status=AttemptStatus.QUEUED, interaction__status=InteractionStatus.QUEUED
        ).values_list("interaction_id", flat=True)
    )
    withdrawn = 0
    for interaction_id in waiting:
        if interaction_id is not None:
            withdrawn += interaction_preview_withdraw(
                actor=DIALER, interaction_id=interaction_id, reason=reason
            )
    return withdrawn
