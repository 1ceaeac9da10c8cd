"""An attempt on a lead, from its start (a dial placed, a text or email handed to its gateway) to
its result, and what the result makes of the lead: a retry after the rule's delay, a callback
for its owner, a final state, do-not-call.

Every channel's attempt takes this path (the dialer, the preview desk, SMS and email sends), so
the retry rules, the attempt caps and the do-not-call disposition behave the same everywhere.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns import events
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.core.actors import Actor, require_actor
from apps.interactions.models import AgentProfile, Disposition, DispositionCategory, Interaction

# The delay before a retry when the campaign has no rule for the outcome's category.
DEFAULT_RETRY_MINUTES: dict[str, int] = {
    DispositionCategory.BUSY: 15,
    DispositionCategory.NO_ANSWER: 120,
    DispositionCategory.VOICEMAIL: 24 * 60,
}
OTHER_RETRY_MINUTES = 60
# An answered call no agent took in time is not dialled again within this (FTC abandoned-call rule).
ABANDON_QUIET = dt.timedelta(hours=72)

# Attempt statuses that end an attempt.
ENDED_STATUSES = frozenset(
    {
        AttemptStatus.ENDED,
        AttemptStatus.FAILED,
        AttemptStatus.BOUNCED,
        AttemptStatus.ABANDONED,
        AttemptStatus.SKIPPED,
        AttemptStatus.DELIVERED,
        AttemptStatus.SENT,
    }
)


def attempt_start(
    *,
    lead: Lead,
    channel: str,
    interaction: Interaction | None = None,
    agent: AgentProfile | None = None,
    status: str = AttemptStatus.DIALING,
    now: dt.datetime | None = None,
) -> LeadAttempt:
    """Record an attempt on `lead` (which the caller claimed from the hopper): the lead counts
    one more attempt, is in progress and no longer claimed. Runs in the caller's transaction when
    there is one (the dial and its attempt commit together)."""
    now = now or timezone.now()
    with transaction.atomic():
        attempt = LeadAttempt.objects.create(
            lead=lead,
            campaign_id=lead.campaign_id,
            interaction=interaction,
            channel=channel,
            contact=lead.contact,
            status=status,
            agent=agent,
            started_at=now,
        )
        Lead.objects.filter(pk=lead.pk).update(
            attempts=F("attempts") + 1,
            status=LeadStatus.IN_PROGRESS,
            last_attempt_at=now,
            claimed_until=None,
            updated_at=now,
        )
        events.campaign_activity(lead.campaign_id)
    return attempt


def retry_delay(campaign: Campaign, disposition: Disposition | None) -> dt.timedelta:
    """The campaign's rule for this disposition, else for its category, else the defaults."""
    rules = list(campaign.retry_rules.all())
    by_disposition = {rule.disposition_id: rule for rule in rules if rule.disposition_id is not None}
    by_category = {rule.category: rule for rule in rules if rule.disposition_id is None}
    category = disposition.category if disposition is not None else DispositionCategory.OTHER
    rule = by_disposition.get(disposition.pk) if disposition is not None else None
    rule = rule or by_category.get(category)
    if rule is not None:
        return dt.timedelta(minutes=rule.delay_minutes)
    return dt.timedelta(minutes=DEFAULT_RETRY_MINUTES.get(category, OTHER_RETRY_MINUTES))


def _rule_cap_reached(campaign: Campaign, lead: Lead, disposition: Disposition | None) -> bool:
    """A rule's own max_attempts: this many attempts ended this way and the lead stops."""
    if disposition is None:
        return False
    for rule in campaign.retry_rules.all():
        matches = rule.disposition_id == disposition.pk or (
            rule.disposition_id is None and rule.category == disposition.category
        )
        if matches and rule.max_attempts is not None:
            ended_this_way = LeadAttempt.objects.filter(
                lead=lead, disposition__category=disposition.category
            ).count()
            return ended_this_way >= rule.max_attempts
    return False


def attempt_finish(
    *,
    actor: Actor,
    attempt_id: int,
    status: str,
    outcome: str = "",
    disposition: Disposition | None = None,
    callback_at: dt.datetime | None = None,
    callback_owner: User | None = None,
    skip_reason: str = "",
    now: dt.datetime | None = None,
) -> LeadAttempt:
    """The attempt's result, and the lead's next state:
    - a do-not-call disposition: the lead is DNC and its number goes on the internal list;
    - a callback disposition (or a callback time): due at callback_at for callback_owner
      (None: any agent of the campaign);
    - a final disposition: done; a wrong number: invalid;
    - an abandoned call: retried no sooner than 72 hours later;
    - otherwise a retry after the rule's delay, unless the lead's attempts (or the rule's own
      cap) are used up: exhausted.
    Idempotent: an attempt already ended is returned unchanged. Locks: the lead, then the attempt."""
    require_actor(actor)
    now = now or timezone.now()
    with transaction.atomic():
        lead_id = LeadAttempt.objects.values_list("lead_id", flat=True).get(pk=attempt_id)
        lead = Lead.objects.select_for_update().select_related("campaign").get(pk=lead_id)
        attempt = LeadAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.ended_at is not None:
            return attempt
        attempt.status = status
        attempt.outcome = outcome[:16] or attempt.outcome
        attempt.disposition = disposition
        attempt.skip_reason = skip_reason[:200]
        attempt.ended_at = now
        attempt.save(update_fields=["status", "outcome", "disposition", "skip_reason", "ended_at"])
        campaign = lead.campaign
        lead.last_disposition = disposition or lead.last_disposition
        lead.callback_at = None
        lead.callback_owner = None
        lead.claimed_until = None
        if disposition is not None and (
            disposition.marks_dnc or disposition.category == DispositionCategory.DO_NOT_CALL
        ):
            from apps.campaigns.services.dnc import dnc_add

            lead.status = LeadStatus.DNC
            lead.next_attempt_at = None
            dnc_add(
                actor=actor,
                number=lead.contact,
                reason=f"disposition {disposition.code}",
                customer=lead.customer,
            )
        elif callback_at is not None or (
            disposition is not None and disposition.category == DispositionCategory.CALLBACK
        ):
            lead.status = LeadStatus.CALLBACK
            lead.callback_at = callback_at or now + retry_delay(campaign, disposition)
            lead.callback_owner = callback_owner
            lead.next_attempt_at = lead.callback_at
        elif disposition is not None and disposition.category == DispositionCategory.WRONG_NUMBER:
            lead.status = LeadStatus.INVALID
            lead.next_attempt_at = None
        elif disposition is not None and disposition.is_final:
            lead.status = LeadStatus.DONE
            lead.next_attempt_at = None
        elif lead.attempts >= campaign.max_attempts_per_lead or _rule_cap_reached(
            campaign, lead, disposition
        ):
            lead.status = LeadStatus.EXHAUSTED
            lead.next_attempt_at = None
        else:
            lead.status = LeadStatus.RETRY
            delay = retry_delay(campaign, disposition)
            if status == AttemptStatus.ABANDONED:
                delay = max(delay, ABANDON_QUIET)
            lead.next_attempt_at = now + delay
        lead.save(
            update_fields=[
                "status",
                "last_disposition",
                "callback_at",
                "callback_owner",
                "claimed_until",
                "next_attempt_at",
                "updated_at",
            ]
        )
        events.campaign_activity(lead.campaign_id)
    return attempt
