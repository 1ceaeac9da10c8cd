"""GDPR: export everything held about one customer, and erase a customer's personal data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.core.services import audit_record
from apps.customers.models import ContactPoint, Customer, MergeRecord, Note
from apps.customers.signals import customer_erased

CUSTOMER_OBJECT_TYPE = "customers.customer"
EXPORT_FORMAT_VERSION = 1

# Keys of audit entry data that can hold a customer's personal data (contact values, names, texts).
_PERSONAL_AUDIT_KEYS = frozenset(
    {"value", "values", "email", "phone", "name", "first_name", "last_name", "body", "external_id"}
)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _user_label(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.get_full_name()}


@transaction.atomic
def customer_export_personal_data(*, actor: User | None, customer: Customer) -> dict[str, Any]:
    """Everything held about `customer` as a JSON-serializable dict (a GDPR access request):
    profile, organization, contact points with consent times and sources, tags, custom fields,
    notes with authors and times, merge records (with the merged records' snapshots) and the
    audit history. Needs customers.export_customer (NotAllowed otherwise; actor None = system).
    Audited as "customer.gdpr_export"."""
    if actor is not None and not actor.has_perm("customers.export_customer"):
        raise NotAllowed("You are not allowed to export customer data.")
    customer = Customer.objects.select_related("organization", "owner").get(pk=customer.pk)
    organization = customer.organization
    contact_points = [
        {
            "kind": point.kind,
            "network": point.network,
            "value": point.value,
            "label": point.label,
            "is_primary": point.is_primary,
            "created_at": _iso(point.created_at),
            "consent": {
                "do_not_call": {
                    "value": point.do_not_call,
                    "at": _iso(point.do_not_call_at),
                    "source": point.do_not_call_source,
                },
                "email_opt_out": {
                    "value": point.email_opt_out,
                    "at": _iso(point.email_opt_out_at),
                    "source": point.email_opt_out_source,
                },
                "sms_opt_in": {
                    "value": point.sms_opt_in,
                    "at": _iso(point.sms_opt_in_at),
                    "source": point.sms_opt_in_source,
                },
            },
        }
        for point in ContactPoint.objects.filter(customer_id=customer.pk).order_by("kind", "id")
    ]
    notes = [
        {
            "id": note.pk,
            "body": note.body,
            "author": _user_label(note.author),
            "created_at": _iso(note.created_at),
        }
        for note in Note.objects.filter(customer_id=customer.pk)
        .select_related("author")
        .order_by("created_at", "id")
    ]
    merges = [
        {
            "merged_customer_id": record.merged_customer_id,
            "merged_at": _iso(record.merged_at),
            "merged_by": _user_label(record.merged_by),
            "merged_record": record.merged_snapshot,
        }
        for record in MergeRecord.objects.filter(survivor_id=customer.pk)
        .select_related("merged_by")
        .order_by("merged_at")
    ]
    history = [
        {"at": _iso(entry.at), "action": entry.action, "actor": _user_label(entry.actor), "data": entry.data}
        for entry in AuditEntry.objects.filter(object_type=CUSTOMER_OBJECT_TYPE, object_id=str(customer.pk))
        .select_related("actor")
        .order_by("at", "id")
    ]
    data: dict[str, Any] = {
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": _iso(timezone.now()),
        "profile": {
            "id": customer.pk,
            "external_id": customer.external_id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "job_title": customer.job_title,
            "lifecycle_stage": customer.lifecycle_stage,
            "time_zone": customer.time_zone,
            "owner": _user_label(customer.owner),
            "is_erased": customer.is_erased,
            "erased_at": _iso(customer.erased_at),
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
        },
        "organization": (
            {"id": organization.pk, "name": organization.name, "domain": organization.domain}
            if organization
            else None
        ),
        "contact_points": contact_points,
        "tags": sorted(customer.tags.values_list("name", flat=True)),
        "custom_fields": customer.custom_fields,
        "notes": notes,
        "merge_records": merges,
        "audit_history": history,
    }
    audit_record(actor=actor, action="customer.gdpr_export", obj=customer)
    return data


@transaction.atomic
def customer_erase(*, actor: User | None, customer: Customer) -> Customer:
    """Remove `customer`'s personal data and keep the row, so interactions pointing to it keep
    counting in statistics anonymously. Needs customers.erase_customer (NotAllowed otherwise;
    actor None = system).

    Removed: names, job title, external id, custom fields, organization link, every contact point
    (with its consent), every note, tags, the search text, the snapshots of customers merged into
    it and personal values inside its audit history. Kept: time zone, lifecycle stage, owner,
    creation time (not personal; statistics group by them). Sets is_erased and erased_at.

    Locks the customer row (SELECT ... FOR UPDATE). Idempotent: erasing an erased customer
    changes nothing. Sends `customer_erased` (customer_id, actor) inside the transaction so
    later apps scrub their own personal data in it; audited as "customer.erase" with counts
    only, never personal data.
    """
    if actor is not None and not actor.has_perm("customers.erase_customer"):
        raise NotAllowed("You are not allowed to erase customers.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.is_erased:
        return locked
    contact_points_deleted, _ = ContactPoint.objects.filter(customer_id=locked.pk).delete()
    notes_deleted, _ = Note.objects.filter(customer_id=locked.pk).delete()
    locked.tags.clear()
    MergeRecord.objects.filter(survivor_id=locked.pk).update(merged_snapshot={"erased": True})
    for entry in AuditEntry.objects.filter(object_type=CUSTOMER_OBJECT_TYPE, object_id=str(locked.pk)):
        if isinstance(entry.data, dict) and _PERSONAL_AUDIT_KEYS & entry.data.keys():
            entry.data = {k: v for k, v in entry.data.items() if k not in _PERSONAL_AUDIT_KEYS}
            entry.save(update_fields=["data"])
    locked.first_name = ""
    locked.last_name = ""
    locked.job_title = ""
    locked.external_id = None
    locked.custom_fields = {}
    locked.organization = None
    locked.search_text = ""
    locked.is_erased = True
    locked.erased_at = timezone.now()
    locked.save(
        update_fields=[
            "first_name",
            "last_name",
            "job_title",
            "external_id",
            "custom_fields",
            "organization",
            "search_text",
            "is_erased",
            "erased_at",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="customer.erase",
        obj=locked,
        data={"contact_points_deleted": contact_points_deleted, "notes_deleted": notes_deleted},
    )
    customer_erased.send(sender=Customer, customer_id=locked.pk, actor=actor)
    return locked
