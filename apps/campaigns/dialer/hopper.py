"""The hopper: due leads of a campaign, claimed for one tick.

A lead is due when its status is diallable (new, retry, callback), its next attempt time has
come (or is unset: a new lead is due since it was loaded), it has attempts left and no other
tick holds it (claimed_until unset or past). Order: callbacks that are due first (oldest
callback time first), then the list's priority, then the oldest due time (a lead never tried
before one due for a retry), then the oldest lead.

Claims are taken with SELECT ... FOR UPDATE SKIP LOCKED and written in the same transaction
(claimed_until = now + hold), so two ticks in two processes never take one lead: the second
skips the rows the first has locked, and once the first commits their claim keeps them out. On
PostgreSQL each step is one statement (UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING), the shape of a bare claim loop; the weighted list mix and SQLite use the ORM.
A claim that is never turned into an attempt (a worker that died) lapses after `hold`.
SQLite has no row locks; embedded mode runs one beat, so one tick at a time claims there.

The claim reads in two steps, each an index range in the index's own order: the due callbacks
(few; lead_callback_due_pg_idx on PostgreSQL), then the other due leads (lead_hopper_due_pg_idx
on PostgreSQL, lead_hopper_idx on SQLite). One query ordering by "callback first" would be an
expression no index has, so PostgreSQL would read and sort every diallable lead of the campaign
on every tick.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When, prefetch_related_objects

from apps.campaigns.models import DIALLABLE_STATUSES, Campaign, CampaignList, Lead, LeadStatus

HOLD = dt.timedelta(seconds=60)

# The order within each step; NULLS FIRST: a lead without a next attempt time was never tried
# and is due since it was loaded.
_DUE_ORDER = (F("next_attempt_at").asc(nulls_first=True), "id")


def _due(campaign: Campaign, now: dt.datetime, callback_owners: Collection[int] | None) -> QuerySet[Lead]:
    leads = (
        Lead.objects.filter(campaign=campaign, status__in=DIALLABLE_STATUSES)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(attempts__lt=campaign.max_attempts_per_lead)
    )
    if callback_owners is not None:
        # A personal callback waits for its owner: only the owners given (free now) take theirs.
        leads = leads.filter(Q(callback_owner__isnull=True) | Q(callback_owner_id__in=list(callback_owners)))
    return leads


def due_leads(
    campaign: Campaign, now: dt.datetime, *, callback_owners: Collection[int] | None = None
) -> QuerySet[Lead]:
    """The campaign's leads a tick may claim now, in hopper order (unlocked; for pages and
    reports: the claim itself reads in two steps, see the module). callback_owners: the users
    whose personal callbacks may be taken (None: every callback)."""
    return (
        _due(campaign, now, callback_owners)
        .annotate(
            callback_first=Case(
                When(status=LeadStatus.CALLBACK, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by("callback_first", "-priority", *_DUE_ORDER)
    )


def _lock(leads: QuerySet[Lead], limit: int) -> list[Lead]:
    if limit <= 0:
        return []
    return list(leads.select_related("customer").select_for_update(skip_locked=True, of=("self",))[:limit])


def _claim_statement(
    *,
    campaign: Campaign,
    now: dt.datetime,
    until: dt.datetime,
    limit: int,
    callbacks: bool,
    callback_owners: Collection[int] | None,
    inactive: Sequence[int],
) -> list[Lead]:
    """PostgreSQL: claim up to `limit` due leads in one statement, an UPDATE of the rows a
    SELECT ... ORDER BY ... LIMIT ... FOR UPDATE SKIP LOCKED picks, RETURNING them (the due
    callbacks when `callbacks`, else the new and retry leads). The same filters and order as
    the ORM path, in the order of lead_callback_due_pg_idx / lead_hopper_due_pg_idx."""
    if limit <= 0:
        return []
    table = connection.ops.quote_name(Lead._meta.db_table)
    fields = Lead._meta.concrete_fields
    returning = ", ".join(f"l.{connection.ops.quote_name(str(field.column))}" for field in fields)
    where = [
        "campaign_id = %s",
        "(next_attempt_at IS NULL OR next_attempt_at <= %s)",
        "(claimed_until IS NULL OR claimed_until < %s)",
        "attempts < %s",
    ]
    params: list[Any] = [campaign.pk, now, now, campaign.max_attempts_per_lead]
    if callbacks:
        where.append("status = %s")
        params.append(LeadStatus.CALLBACK.value)
        order = "next_attempt_at ASC NULLS FIRST, id"
    else:
        where.append("status IN (%s, %s)")
        params += [LeadStatus.NEW.value, LeadStatus.RETRY.value]
        order = "priority DESC, next_attempt_at ASC NULLS FIRST, id"
    if callback_owners is not None:
        where.append("(callback_owner_id IS NULL OR callback_owner_id = ANY(%s))")
        params.append(list(callback_owners))
    if inactive:
        where.append("(contact_list_id IS NULL OR NOT contact_list_id = ANY(%s))")
        params.append(list(inactive))
    # Every name and clause here is this module's or the model's own; the values are parameters.
    sql = (
        f"UPDATE {table} AS l SET claimed_until = %s FROM (SELECT id FROM {table} "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s FOR UPDATE SKIP LOCKED) AS picked "
        f"WHERE l.id = picked.id RETURNING {returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [until, *params, limit])
        rows = cursor.fetchall()
    names = [field.attname for field in fields]
    # A raw cursor's values are as the driver gives them: fields that convert what they read
    # (the JSON ones) convert them here, as a queryset would.
    converting = [(index, field) for index, field in enumerate(fields) if hasattr(field, "from_db_value")]
    leads = []
    for row in rows:
        values = list(row)
        for index, field in converting:
            values[index] = field.from_db_value(values[index], None, connection)
        leads.append(Lead.from_db(connection.alias, names, values))
    # RETURNING keeps no order: put the claim back in the hopper's.
    leads.sort(
        key=lambda lead: (
            0 if callbacks else -lead.priority,
            lead.next_attempt_at is not None,
            lead.next_attempt_at or now,
            lead.pk,
        )
    )
    return leads


def _list_links(campaign: Campaign) -> tuple[list[int], dict[int, list[tuple[int, int]]]]:
    """The campaign's switched-off lists, and its active lists by priority: (list id, weight)."""
    inactive: list[int] = []
    by_priority: dict[int, list[tuple[int, int]]] = {}
    for list_id, priority, weight, active in CampaignList.objects.filter(campaign=campaign).values_list(
        "contact_list_id", "priority", "weight", "is_active"
    ):
        if not active:
            inactive.append(list_id)
        else:
            by_priority.setdefault(priority, []).append((list_id, max(1, weight)))
    return inactive, by_priority


def _weighted(links: Sequence[tuple[int, int]]) -> bool:
    """Several lists at one priority with different weights: the claim is shared between them."""
    return len(links) > 1 and len({weight for _, weight in links}) > 1


def weighted_shares(limit: int, weights: Sequence[tuple[int, int]]) -> dict[int, int]:
    """`limit` leads shared between lists in proportion to their weights, by largest remainder
    (ties to the earlier list), so the shares add up to `limit`."""
    total = sum(weight for _, weight in weights)
    exact = [(list_id, limit * weight / total) for list_id, weight in weights]
    shares = {list_id: int(share) for list_id, share in exact}
    left = limit - sum(shares.values())
    by_remainder = sorted(exact, key=lambda item: -(item[1] - int(item[1])))
    for list_id, _ in by_remainder[:left]:
        shares[list_id] += 1
    return shares


def hopper_claim(
    *,
    campaign: Campaign,
    limit: int,
    now: dt.datetime,
    hold: dt.timedelta = HOLD,
    callback_owners: Collection[int] | None = None,
) -> list[Lead]:
    """Claim up to `limit` due leads for this tick and return them in hopper order, with their
    customer. callback_owners: the users whose personal callbacks may be taken now (the agents
    free to take them); None: every due callback. Leads of a list switched off on the campaign
    are left alone. Among the lists of one priority with different weights, the claim is shared
    in proportion to the weights (a list that runs short leaves its share to the others). Locks:
    the claimed lead rows (SKIP LOCKED), until the claim is written; nothing else."""
    if limit <= 0:
        return []
    inactive, by_priority = _list_links(campaign)
    weighted = any(_weighted(links) for links in by_priority.values())
    if connection.vendor == "postgresql" and not weighted:
        # One statement per step: the claim and its write together, as a bare SKIP LOCKED loop.
        until = now + hold
        with transaction.atomic():
            leads = _claim_statement(
                campaign=campaign,
                now=now,
                until=until,
                limit=limit,
                callbacks=True,
                callback_owners=callback_owners,
                inactive=inactive,
            )
            if len(leads) < limit:
                leads += _claim_statement(
                    campaign=campaign,
                    now=now,
                    until=until,
                    limit=limit - len(leads),
                    callbacks=False,
                    callback_owners=callback_owners,
                    inactive=inactive,
                )
        prefetch_related_objects(leads, "customer")
        return leads
    with transaction.atomic():
        due = _due(campaign, now, callback_owners)
        if inactive:
            due = due.exclude(contact_list_id__in=inactive)
        leads = _lock(due.filter(status=LeadStatus.CALLBACK).order_by(*_DUE_ORDER), limit)
        others = due.filter(status__in=(LeadStatus.NEW, LeadStatus.RETRY))
        levels = sorted(by_priority, reverse=True)
        if weighted:
            # Level by level, highest priority first; a weighted level shares its part by weight.
            for priority in levels:
                if len(leads) >= limit:
                    break
                level = others.filter(priority=priority).exclude(pk__in=[lead.pk for lead in leads])
                if _weighted(by_priority[priority]):
                    for list_id, share in weighted_shares(limit - len(leads), by_priority[priority]).items():
                        if share:
                            leads += _lock(level.filter(contact_list_id=list_id).order_by(*_DUE_ORDER), share)
                    level = level.exclude(pk__in=[lead.pk for lead in leads])
                leads += _lock(level.order_by(*_DUE_ORDER), limit - len(leads))
        if len(leads) < limit:
            rest = others.exclude(pk__in=[lead.pk for lead in leads]) if leads else others
            leads += _lock(rest.order_by("-priority", *_DUE_ORDER), limit - len(leads))
        if not leads:
            return []
        until = now + hold
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(claimed_until=until)
    for lead in leads:
        lead.claimed_until = until
    return leads


def hopper_release(*, lead_ids: Collection[int]) -> int:
    """Give back claimed leads this tick did not dial (the gate refused them, no line free)."""
    if not lead_ids:
        return 0
    return Lead.objects.filter(pk__in=list(lead_ids)).update(claimed_until=None)
