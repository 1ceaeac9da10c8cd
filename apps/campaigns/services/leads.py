"""Bulk work on a campaign's leads: reset, recycle by disposition, move to another campaign,
mark do-not-call, and a list's priority carried to its leads.

Marketers and admins (or the system) do this, from the admin's bulk actions or a page; each
call is one transaction with the selected leads locked, writes with bulk UPDATEs, and leaves one
audit entry per campaign it touched (apps.core AuditEntry: the admin's audit log, and the
campaign's change page, list them by action and campaign). The campaign dashboards refresh after
commit (events.campaign_activity).

A lead whose call is in progress is left alone by reset, recycle and move: the attempt's result
would overwrite what the bulk action wrote a moment later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.campaigns import events
from apps.campaigns.exceptions import InvalidStatusChange
from apps.campaigns.models import Campaign, CampaignStatus, ContactList, Lead, LeadStatus
from apps.campaigns.services.campaigns import campaign_may_manage
from apps.campaigns.services.dnc import dnc_add
from apps.core.actors import Actor
from apps.core.exceptions import Conflict, DomainError, NotAllowed
from apps.core.services import audit_record
from apps.customers.models import Customer
from apps.interactions.models import Disposition, DispositionCategory

# Statuses a reset or a recycle never touches: compliance outcomes stay, calls in progress finish.
NEVER_RESET = (LeadStatus.DNC, LeadStatus.INVALID, LeadStatus.IN_PROGRESS)
# Statuses a recycle makes due again (a scheduled callback keeps its time and its owner).
RECYCLABLE = (LeadStatus.RETRY, LeadStatus.DONE, LeadStatus.EXHAUSTED)
# The audit keeps this many lead ids per entry (the count is always exact).
AUDIT_IDS = 1000
_CHUNK = 500

T = TypeVar("T")


class InvalidLeadSelection(DomainError):
    """A bulk action on leads was asked for something it cannot do (no disposition chosen, an
    unknown disposition code). Nothing changed."""

    code = "invalid_lead_selection"


class LeadsMoved(NamedTuple):
    moved: int
    skipped: int  # already in the target campaign (same contact), or in a call right now


def _check_manager(actor: Actor) -> None:
    if not campaign_may_manage(actor):
        raise NotAllowed("Only marketers and admins work on a campaign's leads in bulk.")


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _locked(leads: QuerySet[Lead]) -> list[tuple[int, int, str, str]]:
    """(pk, campaign_id, contact, status) of the selected leads, locked in pk order (no deadlock
    between two bulk actions on overlapping selections)."""
    ids = list(leads.order_by().values_list("pk", flat=True))
    rows: list[tuple[int, int, str, str]] = []
    for chunk in _chunks(sorted(set(ids))):
        rows.extend(
            Lead.objects.select_for_update()
            .filter(pk__in=chunk)
            .order_by("pk")
            .values_list("pk", "campaign_id", "contact", "status")
        )
    return rows


def _audit(actor: Actor, action: str, by_campaign: dict[int, list[int]], **data: object) -> None:
    for campaign_id, ids in sorted(by_campaign.items()):
        audit_record(
            actor=actor,
            action=action,
            object_type="campaigns.campaign",
            object_id=campaign_id,
            data={"leads": len(ids), "lead_ids": ids[:AUDIT_IDS], **data},
        )
        events.campaign_activity(campaign_id)


def _group(rows: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    by_campaign: dict[int, list[int]] = {}
    for pk, campaign_id in rows:
        by_campaign.setdefault(campaign_id, []).append(pk)
    return by_campaign


def _update(ids: Sequence[int], **values: object) -> int:
    return sum(Lead.objects.filter(pk__in=chunk).update(**values) for chunk in _chunks(ids))


def leads_reset(*, actor: Actor, leads: QuerySet[Lead]) -> int:
    """Start the selected leads afresh: no attempts, new, due now, no callback. Leads that are
    do-not-call, invalid or in a call right now are left as they are. Returns the leads reset.
    Locks: the selected leads."""
    _check_manager(actor)
    now = timezone.now()
    with transaction.atomic():
        rows = [
            (pk, campaign_id) for pk, campaign_id, _, status in _locked(leads) if status not in NEVER_RESET
        ]
        ids = [pk for pk, _ in rows]
        _update(
            ids,
            attempts=0,
            status=LeadStatus.NEW,
            next_attempt_at=None,
            callback_at=None,
            callback_owner=None,
            claimed_until=None,
            updated_at=now,
        )
        _audit(actor, "leads.reset", _group(rows))
    return len(ids)


def leads_recycle(
    *,
    actor: Actor,
    campaign: Campaign,
    disposition_codes: Sequence[str] = (),
    categories: Sequence[str] = (),
) -> int:
    """Make the campaign's leads whose last disposition is one of `disposition_codes` (or falls
    in one of `categories`) due again: waiting to retry, due now, their attempts kept. Leads that
    used up the campaign's attempts per lead stay as they are (the hopper would not dial them),
    as do callbacks, do-not-call, invalid and in-progress leads. Returns the leads recycled.
    Locks: the leads recycled."""
    _check_manager(actor)
    codes = sorted({code.strip() for code in disposition_codes if code.strip()})
    wanted_categories = sorted(set(categories))
    if not codes and not wanted_categories:
        raise InvalidLeadSelection("disposition_codes: choose at least one disposition or category.")
    unknown_categories = set(wanted_categories) - set(DispositionCategory.values)
    if unknown_categories:
        raise InvalidLeadSelection(f"categories: {', '.join(sorted(unknown_categories))} is not a category.")
    known = set(Disposition.objects.filter(code__in=codes).values_list("code", flat=True))
    if set(codes) - known:
        raise InvalidLeadSelection(
            f"disposition_codes: no disposition {', '.join(sorted(set(codes) - known))}."
        )
    now = timezone.now()
    with transaction.atomic():
        matching = (
            Lead.objects.filter(campaign=campaign, status__in=RECYCLABLE)
            .filter(Q(last_disposition__code__in=codes) | Q(last_disposition__category__in=wanted_categories))
            .filter(attempts__lt=campaign.max_attempts_per_lead)
        )
        rows = [(pk, campaign_id) for pk, campaign_id, _, status in _locked(matching) if status in RECYCLABLE]
        ids = [pk for pk, _ in rows]
        _update(ids, status=LeadStatus.RETRY, next_attempt_at=now, claimed_until=None, updated_at=now)
        _audit(
            actor,
            "leads.recycle",
            _group(rows) or {campaign.pk: []},
            disposition_codes=codes,
            categories=wanted_categories,
        )
    return len(ids)


def leads_move(*, actor: Actor, leads: QuerySet[Lead], to_campaign: Campaign) -> LeadsMoved:
    """Move the selected leads to `to_campaign`, with their status, attempts and list. A lead
    whose contact the target campaign has already (or another selected lead takes first) is
    skipped, as is one in a call right now. A completed campaign takes no leads.
    Locks: the target campaign (two moves into it run one after the other), the selected leads."""
    _check_manager(actor)
    now = timezone.now()
    try:
        with transaction.atomic():
            target = Campaign.objects.select_for_update().get(pk=to_campaign.pk)
            if target.status == CampaignStatus.COMPLETED:
                raise InvalidStatusChange(
                    f"to_campaign: campaign {target.name} is completed and takes no leads."
                )
            rows = _locked(leads)
            contacts = sorted({contact for _, _, contact, _ in rows})
            taken: set[str] = set()
            for chunk in _chunks(contacts):
                taken.update(
                    Lead.objects.filter(campaign=target, contact__in=chunk).values_list("contact", flat=True)
                )
            moving: list[tuple[int, int]] = []
            skipped = 0
            for pk, campaign_id, contact, status in rows:
                if contact in taken or status == LeadStatus.IN_PROGRESS:
                    skipped += 1
                    continue
                taken.add(contact)
                moving.append((pk, campaign_id))
            ids = [pk for pk, _ in moving]
            _update(ids, campaign=target, claimed_until=None, updated_at=now)
            by_source = _group(moving)
            _audit(actor, "leads.move_out", by_source, to_campaign=target.pk)
            if ids:
                _audit(
                    actor,
                    "leads.move_in",
                    {target.pk: ids},
                    from_campaigns=sorted(by_source),
                    skipped=skipped,
                )
    except IntegrityError as exc:  # a list import added one of these contacts at the same moment
        raise Conflict(
            f"to_campaign: campaign {to_campaign.name} received some of these contacts meanwhile; try again."
        ) from exc
    return LeadsMoved(moved=len(ids), skipped=skipped)


def leads_mark_dnc(*, actor: Actor, leads: QuerySet[Lead], reason: str) -> int:
    """Mark the selected leads do-not-call: they are never dialled again, and each phone number
    goes on the internal do-not-call list (dnc_add, which marks the customer's contact point too),
    so the compliance gate refuses it in every campaign. Email leads are only marked. Returns the
    leads newly marked (the numbers of leads already do-not-call are put on the list as well).
    Locks: the selected leads."""
    _check_manager(actor)
    reason = reason.strip()
    if not reason:
        raise InvalidLeadSelection("reason: say why these contacts must not be called.")
    now = timezone.now()
    with transaction.atomic():
        rows = _locked(leads)
        newly = [(pk, campaign_id) for pk, campaign_id, _, status in rows if status != LeadStatus.DNC]
        ids = [pk for pk, _ in newly]
        _update(
            ids,
            status=LeadStatus.DNC,
            next_attempt_at=None,
            callback_at=None,
            callback_owner=None,
            claimed_until=None,
            updated_at=now,
        )
        numbers: dict[str, int | None] = {}
        for chunk in _chunks([pk for pk, _, _, _ in rows]):
            for contact, lead_customer in Lead.objects.filter(pk__in=chunk).values_list(
                "contact", "customer_id"
            ):
                if "@" not in contact:
                    numbers.setdefault(contact, lead_customer)
        customers = _customers(sorted({cid for cid in numbers.values() if cid is not None}))
        for number, owner_id in sorted(numbers.items()):
            dnc_add(
                actor=actor,
                number=number,
                reason=reason,
                customer=customers.get(owner_id) if owner_id is not None else None,
            )
        _audit(actor, "leads.mark_dnc", _group(newly), reason=reason[:200], numbers=len(numbers))
    return len(ids)


def _customers(ids: Sequence[int]) -> dict[int, Customer]:
    found: dict[int, Customer] = {}
    for chunk in _chunks(ids):
        found.update(Customer.objects.in_bulk(list(chunk)))
    return found


def leads_set_priority(*, actor: Actor, campaign: Campaign, contact_list: ContactList, priority: int) -> int:
    """The list's leads in this campaign take its new priority (the hopper dials higher first).
    Returns the leads changed."""
    _check_manager(actor)
    with transaction.atomic():
        changed = (
            Lead.objects.filter(campaign=campaign, contact_list=contact_list)
            .exclude(priority=priority)
            .update(priority=priority, updated_at=timezone.now())
        )
        if changed:
            audit_record(
                actor=actor,
                action="leads.set_priority",
                object_type="campaigns.campaign",
                object_id=campaign.pk,
                data={"leads": changed, "contact_list": contact_list.pk, "priority": priority},
            )
            events.campaign_activity(campaign.pk)
    return changed
