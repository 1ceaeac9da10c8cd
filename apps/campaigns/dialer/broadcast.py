"""Agentless broadcasts' share of the tick: as many calls as the campaign's broadcast_lines less
its calls still being placed, each lead claimed from the hopper and asked about by the gate, each
call placed with no agent (dial_lead). What the call plays and what its keys do is
apps.campaigns.services.broadcast; a "press 1" answer waits in the campaign's queue for an agent.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from django.db import transaction

from apps.campaigns.dialer.hopper import hopper_claim, hopper_release
from apps.campaigns.models import Campaign, CampaignChannel, Lead, LeadAttempt, LeadStatus
from apps.core.exceptions import DomainError
from apps.interactions.exceptions import ChannelNotServed, ContactRefused, InvalidTarget, QueueClosed
from apps.interactions.models import PLACING_STATUSES

if TYPE_CHECKING:
    from apps.campaigns.dialer.tick import TickResult

logger = logging.getLogger(__name__)


def broadcast_calls_placing(campaign: Campaign) -> int:
    """The campaign's calls being placed or playing their message (not yet ended or queued)."""
    return LeadAttempt.objects.filter(
        campaign_id=campaign.pk, ended_at__isnull=True, interaction__status__in=PLACING_STATUSES
    ).count()


def broadcast_fill(campaign: Campaign, now: dt.datetime, result: TickResult) -> None:
    """One tick of an active broadcast campaign (see the module), into `result`."""
    from apps.campaigns.dialer.tick import CampaignStopped, dial_lead, settle_refusals
    from apps.campaigns.services.gate import contacts_decide

    result.lines = max(0, campaign.broadcast_lines - broadcast_calls_placing(campaign))
    if result.lines <= 0:
        return
    with transaction.atomic():
        # Broadcast callbacks have no owner to wait for: every due one is taken.
        leads = hopper_claim(campaign=campaign, limit=result.lines, now=now, callback_owners=None)
        result.claimed = len(leads)
        if not leads:
            return
        decisions = contacts_decide(campaign=campaign, leads=leads, channel=CampaignChannel.VOICE, now=now)
        refused = [(lead, d) for lead, d in zip(leads, decisions, strict=True) if not d.allowed]
        release = settle_refusals([lead for lead, _ in refused], [d for _, d in refused], now)
    result.refused = len(refused)
    allowed = [lead for lead, d in zip(leads, decisions, strict=True) if d.allowed]
    for index, lead in enumerate(allowed):
        try:
            interaction = dial_lead(campaign, lead, None, now)
        except CampaignStopped:
            release += [pending.pk for pending in allowed[index:]]
            result.skipped = "stopped while dialling"
            break
        except (QueueClosed, ChannelNotServed) as exc:
            release += [pending.pk for pending in allowed[index:]]
            result.skipped = str(exc)
            break
        except ContactRefused as exc:
            _settle(lead, LeadStatus.DNC, now)
            logger.info("lead %s not called: %s", lead.pk, exc)
            continue
        except InvalidTarget as exc:
            _settle(lead, LeadStatus.INVALID, now)
            logger.info("lead %s not called: %s", lead.pk, exc)
            continue
        except DomainError as exc:
            logger.info("lead %s not called this tick: %s", lead.pk, exc)
            release.append(lead.pk)
            continue
        except Exception:
            logger.exception(
                "campaign %s: placing the broadcast call to lead %s failed", campaign.pk, lead.pk
            )
            release.append(lead.pk)
            continue
        if interaction is not None:
            result.dialled += 1
            result.interaction_ids.append(interaction.pk)
    hopper_release(lead_ids=release)
    result.released = result.claimed - result.dialled


def _settle(lead: Lead, status: str, now: dt.datetime) -> None:
    Lead.objects.filter(pk=lead.pk).update(
        status=status, next_attempt_at=None, claimed_until=None, updated_at=now
    )
