"""The hopper: due leads of a campaign, claimed for one tick.

A lead is due when its status is diallable (new, retry, callback), its next attempt time has
come (or is unset) and no other tick holds it (claimed_until unset or past). Order: callbacks
that are due first, then the list's priority, then the oldest due time, then the oldest lead.

Claims are taken with SELECT ... FOR UPDATE SKIP LOCKED and written in the same transaction
(claimed_until = now + hold), so two ticks in two processes never take one lead: the second
skips the rows the first has locked, and once the first commits their claim keeps them out.
A claim that is never turned into an attempt (a worker that died) lapses after `hold`.
SQLite has no row locks; embedded mode runs one beat, so one tick at a time claims there.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Case, IntegerField, Q, Value, When

from apps.campaigns.models import DIALLABLE_STATUSES, Campaign, Lead, LeadStatus

HOLD = dt.timedelta(seconds=60)


def due_leads(campaign: Campaign, now: dt.datetime):  # type: ignore[no-untyped-def]
    """The campaign's leads a tick may claim now, in hopper order (unlocked)."""
    return (
        Lead.objects.filter(campaign=campaign, status__in=DIALLABLE_STATUSES)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(attempts__lt=campaign.max_attempts_per_lead)
        .annotate(
            callback_first=Case(
                When(status=LeadStatus.CALLBACK, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by("callback_first", "-priority", "next_attempt_at", "id")
    )


def hopper_claim(
    *, campaign: Campaign, limit: int, now: dt.datetime, hold: dt.timedelta = HOLD
) -> list[Lead]:
    """Claim up to `limit` due leads for this tick and return them (with their customer).
    Locks: the claimed lead rows (SKIP LOCKED), until the claim is written."""
    if limit <= 0:
        return []
    with transaction.atomic():
        ids = list(
            due_leads(campaign, now)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Lead.objects.filter(pk__in=ids).update(claimed_until=now + hold)
    order = {pk: index for index, pk in enumerate(ids)}
    leads = list(Lead.objects.select_related("customer").filter(pk__in=ids))
    leads.sort(key=lambda lead: order[lead.pk])
    return leads


def hopper_release(*, lead_ids: list[int]) -> int:
    """Give back claimed leads this tick did not dial (the gate refused them, no line free)."""
    return Lead.objects.filter(pk__in=lead_ids).update(claimed_until=None)
