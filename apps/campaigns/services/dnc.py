"""Do-not-call lists: the internal list (the company's own), per-campaign lists and national
registries loaded in bulk. A number on any list that applies is refused by the compliance gate
at the moment of each contact."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.campaigns.models import DncEntry, DncList, DncListKind
from apps.core.actors import Actor, require_actor
from apps.customers.models import ContactPoint, ContactPointKind, Customer
from apps.customers.normalize import normalize_phone
from apps.customers.services import contact_point_set_consent

INTERNAL_LIST_NAME = "Internal do-not-call list"


def internal_list() -> DncList:
    dnc_list, _ = DncList.objects.get_or_create(
        kind=DncListKind.INTERNAL, name=INTERNAL_LIST_NAME, defaults={"source": "dispositions and requests"}
    )
    return dnc_list


def dnc_add(
    *,
    actor: Actor,
    number: str,
    reason: str,
    dnc_list: DncList | None = None,
    customer: Customer | None = None,
) -> DncEntry:
    """Put `number` (normalized to E.164; InvalidContact otherwise) on `dnc_list` (default: the
    internal list). On the internal list the customer's contact point for that number is marked
    do-not-call too, so the CRM shows it. Adding a number twice keeps the first entry."""
    require_actor(actor)
    value = normalize_phone(number)  # InvalidContact for anything but a phone number
    target = dnc_list or internal_list()
    with transaction.atomic():
        entry, created = DncEntry.objects.get_or_create(
            dnc_list=target, number=value, defaults={"reason": reason[:200]}
        )
        if created:
            DncList.objects.filter(pk=target.pk).update(
                entry_count=F("entry_count") + 1, loaded_at=timezone.now()
            )
        if target.kind == DncListKind.INTERNAL:
            points = ContactPoint.objects.filter(kind=ContactPointKind.PHONE, value=value, do_not_call=False)
            if customer is not None:
                points = points.filter(customer=customer)
            for point in points:
                contact_point_set_consent(
                    actor=actor,
                    contact_point=point,
                    consent="do_not_call",
                    value=True,
                    source=reason or "do-not-call list",
                )
    return entry
