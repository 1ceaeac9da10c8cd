"""GDPR: export everything held about one customer, and erase a customer's personal data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.actors import Actor, is_system, require_actor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.core.services import audit_record
from apps.customers.erasure import erased_contacts_record
from apps.customers.models import ContactPoint, Customer, MergeRecord, Note
from apps.customers.signals import customer_erased

CUSTOMER_OBJECT_TYPE = "customers.customer"
EXPORT_FORMAT_VERSION = 1

# Texts an erased customer's audit entries keep: names of fields and kinds, and which part of
# the product acted. Any other text is dropped (see _scrubbed_audit_data).
_KEPT_AUDIT_TEXT = frozenset({"fields", "filled_fields", "kind", "system"})


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _user_label(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.get_full_name()}


@transaction.atomic
def customer_export_personal_data(*, actor: Actor, customer: Customer) -> dict[str, Any]:
    """Everything held about `customer` as a JSON-serializable dict (a GDPR access request):
    profile, organization, contact points with consent times and sources, tags, custom fields,
    notes with authors and times, merge records (with the merged records' snapshots) and the
    audit history. Needs customers.export_customer (NotAllowed otherwise; a SystemActor may
    export, None is refused). Audited as "customer.gdpr_export"."""
    require_actor(actor)
    allowed = isinstance(actor, User) and actor.has_perm("customers.export_customer")
    if not (is_system(actor) or allowed):
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


def _scrubbed_audit_data(data: dict[str, Any]) -> dict[str, Any]:
    """What an erased customer's audit entry keeps: numbers, flags, ids and the few texts that
    name fields or kinds. Every other text goes, whatever its key: contact values, names,
    consent sources, tag names, free text a future action may record."""
    return {
        key: value
        for key, value in data.items()
        if value is None or isinstance(value, bool | int | float) or key in _KEPT_AUDIT_TEXT
    }


def _merged_contact_values(customer_id: int) -> set[tuple[str, str, str]]:
    """Contact points in the snapshots of customers merged into this one (the same person's,
    including ones removed since the merge), as (kind, value, network)."""
    values: set[tuple[str, str, str]] = set()
    for snapshot in MergeRecord.objects.filter(survivor_id=customer_id).values_list(
        "merged_snapshot", flat=True
    ):
        for point in (snapshot or {}).get("contact_points", []) if isinstance(snapshot, dict) else []:
            if isinstance(point, dict) and point.get("kind") and point.get("value"):
                values.add((str(point["kind"]), str(point["value"]), str(point.get("network") or "")))
    return values


@transaction.atomic
def customer_erase(*, actor: Actor, customer: Customer) -> Customer:
    """Remove `customer`'s personal data and keep the row, so interactions pointing to it keep
    counting in statistics anonymously. Needs customers.erase_customer (NotAllowed otherwise);
    a SystemActor may erase (a retention job); None is refused.

    Removed: names, job title, external id, custom fields, organization link, every contact point
    (with its consent), every note, tags, the search text, the snapshots of customers merged into
    it and every personal text inside its audit history (entries keep numbers, flags, ids and
    field names only). Kept: time zone, lifecycle stage, owner, creation time (not personal;
    statistics group by them). Sets is_erased and erased_at.

    Every erased contact point (its own, and those in the snapshots of customers merged into it)
    goes to the register of erased contact points as a keyed hash (apps.customers.erasure), so
    creating it again is refused without the person's confirmed consent and an inbound contact
    from it stays anonymous.

    Locks the customer row (SELECT ... FOR UPDATE). Idempotent: erasing an erased customer
    changes nothing. Sends `customer_erased` (customer_id, actor, and contact_values: the erased
    contact points' normalized values) inside the transaction so later apps scrub their own
    personal data in it (a receiver that fails rolls the erasure back); audited as
    "customer.erase" with counts only, never personal data.
    """
    require_actor(actor)
    allowed = isinstance(actor, User) and actor.has_perm("customers.erase_customer")
    if not (is_system(actor) or allowed):
        raise NotAllowed("You are not allowed to erase customers.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.is_erased:
        return locked
    now = timezone.now()
    points = ContactPoint.objects.filter(customer_id=locked.pk)
    erased_values = set(points.values_list("kind", "value", "network")) | _merged_contact_values(locked.pk)
    erased_contacts_record(values=erased_values, at=now)
    contact_points_deleted, _ = points.delete()
    notes_deleted, _ = Note.objects.filter(customer_id=locked.pk).delete()
    locked.tags.clear()
    MergeRecord.objects.filter(survivor_id=locked.pk).update(merged_snapshot={"erased": True})
    for entry in AuditEntry.objects.filter(object_type=CUSTOMER_OBJECT_TYPE, object_id=str(locked.pk)):
        if not isinstance(entry.data, dict):
            entry.data = {}
            entry.save(update_fields=["data"])
            continue
        scrubbed = _scrubbed_audit_data(entry.data)
        if scrubbed != entry.data:
            entry.data = scrubbed
            entry.save(update_fields=["data"])
    locked.first_name = ""
    locked.last_name = ""
    locked.job_title = ""
    locked.external_id = None
    locked.custom_fields = {}
    locked.organization = None
    locked.search_text = ""
    locked.is_erased = True
    locked.erased_at = now
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
    # contact_values: the erased contact points, normalized, so a receiver can also scrub what it
    # holds under them without a link to the customer (an outbound call to the number, made
    # before the number was the customer's); nothing else keeps them once this commits.
    customer_erased.send(
        sender=Customer,
        customer_id=locked.pk,
        actor=actor,
        contact_values=sorted(value for _, value, _ in erased_values),
    )
    return locked
