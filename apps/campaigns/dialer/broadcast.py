"""Agentless broadcasts' share of the tick: as many calls as the campaign's broadcast_lines less
its calls still being placed, each lead claimed from the hopper and asked about by the gate, each
call placed with no agent (dial_lead). What the call plays and what its keys do is
apps.campaigns.services.broadcast; a "press 1" answer waits in the campaign's queue for an agent.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from apps.campaigns.models import Campaign, LeadAttempt
from apps.interactions.models import PLACING_STATUSES

if TYPE_CHECKING:
    from apps.campaigns.dialer.tick import TickResult


def broadcast_calls_placing(campaign: Campaign) -> int:
    """The campaign's calls being placed or playing their message (not yet ended or queued)."""
    return LeadAttempt.objects.filter(
        campaign_id=campaign.pk, ended_at__isnull=True, interaction__status__in=PLACING_STATUSES
    ).count()


def broadcast_fill(campaign: Campaign, now: dt.datetime, result: TickResult) -> None:
    """One tick of an active broadcast campaign (see the module), into `result`."""
    from apps.campaigns.dialer.tick import claim_and_decide, dial_lead, place_each

    result.lines = max(0, campaign.broadcast_lines - broadcast_calls_placing(campaign))
    if result.lines <= 0:
        return
    # Broadcast callbacks have no owner to wait for: every due one is taken.
    allowed, release = claim_and_decide(
        campaign, limit=result.lines, now=now, callback_owners=None, result=result
    )
    placed = place_each(
        campaign,
        allowed,
        lambda lead: dial_lead(campaign, lead, None, now),
        now=now,
        release=release,
        result=result,
    )
    result.dialled = len(placed)
    result.released = result.claimed - result.dialled
