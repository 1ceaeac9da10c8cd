"""What the campaigns app does when the CRM merges or erases a customer. Both run inside the
customers service's transaction: a failure here undoes the merge or the erasure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest

from apps.campaigns.models import (
    ContactListMember,
    ContactLog,
    DncEntry,
    DncList,
    DncListKind,
    Lead,
    LeadAttempt,
    LeadStatus,
)


def on_customer_merged(
    sender: type[models.Model], *, survivor_id: int, duplicate_id: int, **kwargs: Any
) -> None:
    """The duplicate's leads (in every campaign), its contact log and its list memberships become
    the survivor's, so the survivor's attempts, callbacks and compliance history are whole."""
    Lead.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    ContactLog.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    # List memberships: the survivor's own row in a list both were in wins.
    shared = ContactListMember.objects.filter(customer_id=survivor_id).values("contact_list_id")
    ContactListMember.objects.filter(customer_id=duplicate_id, contact_list_id__in=shared).delete()
    ContactListMember.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)


def erased_lead_contact(lead_id: int) -> str:
    """What an erased lead's contact becomes: unique per campaign, never a reachable address."""
    return f"erased-{lead_id}"


def on_customer_erased(
    sender: type[models.Model], *, customer_id: int, contact_values: Iterable[str] = (), **kwargs: Any
) -> None:
    """Scrub the erased person out of the outbound data and keep the rows anonymously, so a
    campaign's counts, attempts and dispositions still add up: each of their leads loses its
    number, its zones and the row's own fields and is never dialled again (status do-not-call);
    the attempts and the contact log lose the number, the local time and the free text. Their
    numbers leave the internal do-not-call list: the register of erased contacts refuses them
    from now on, by hash. National and campaign lists are third-party registries and stay."""
    values = [value for value in contact_values if value]
    linked = Q(customer_id=customer_id)
    if values:
        linked |= Q(customer__isnull=True, contact__in=values)
    leads = list(Lead.objects.filter(linked).only("pk"))
    for lead in leads:
        lead.contact = erased_lead_contact(lead.pk)
        lead.time_zones = []
        lead.fields = {}
        lead.status = LeadStatus.DNC
        lead.claimed_until = None
        lead.callback_at = None
    Lead.objects.bulk_update(
        leads, ["contact", "time_zones", "fields", "status", "claimed_until", "callback_at"], batch_size=500
    )
    lead_ids = [lead.pk for lead in leads]
    attempts = Q(lead_id__in=lead_ids)
    log = Q(customer_id=customer_id) | Q(lead_id__in=lead_ids)
    if values:
        attempts |= Q(contact__in=values)
        log |= Q(contact__in=values)
    # The row's own fields a list kept for the person go; the membership stays for the counts.
    ContactListMember.objects.filter(customer_id=customer_id).update(fields={})
    LeadAttempt.objects.filter(attempts).update(contact="", provider_id="", skip_reason="")
    ContactLog.objects.filter(log).update(contact="", local_time="", detail="")
    if values:
        entries = DncEntry.objects.filter(dnc_list__kind=DncListKind.INTERNAL, number__in=values)
        for list_id in set(entries.values_list("dnc_list_id", flat=True)):
            removed, _ = entries.filter(dnc_list_id=list_id).delete()
            DncList.objects.filter(pk=list_id).update(entry_count=Greatest(F("entry_count") - removed, 0))


def connect() -> None:
    from apps.customers.signals import customer_erased, customer_merged

    customer_merged.connect(on_customer_merged, dispatch_uid="campaigns.on_customer_merged")
    customer_erased.connect(on_customer_erased, dispatch_uid="campaigns.on_customer_erased")
