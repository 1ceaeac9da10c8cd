"""Merge two customers who are the same person into one."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models, transaction

from apps.accounts.models import User
from apps.core.actors import Actor, is_system, require_actor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.core.services import audit_record
from apps.customers.exceptions import MergeNotAllowed
from apps.customers.models import ContactPoint, Customer, MergeRecord, Note
from apps.customers.services.customers import customer_refresh_search_text, derived_time_zone
from apps.customers.signals import customer_merged

CUSTOMER_OBJECT_TYPE = "customers.customer"

# Survivor's value kept when set; the duplicate's fills it when empty.
_FILLABLE = ("first_name", "last_name", "job_title", "time_zone")
_FILLABLE_FK = ("organization_id", "owner_id")


def customer_snapshot(customer: Customer) -> dict[str, Any]:
    """A JSON copy of a customer as it was: fields, contact points with consent, tags, note ids."""
    points = [
        {
            "kind": point.kind,
            "network": point.network,
            "value": point.value,
            "label": point.label,
            "is_primary": point.is_primary,
            "do_not_call": point.do_not_call,
            "do_not_call_at": point.do_not_call_at.isoformat() if point.do_not_call_at else None,
            "do_not_call_source": point.do_not_call_source,
            "email_opt_out": point.email_opt_out,
            "email_opt_out_at": point.email_opt_out_at.isoformat() if point.email_opt_out_at else None,
            "email_opt_out_source": point.email_opt_out_source,
            "sms_opt_in": point.sms_opt_in,
            "sms_opt_in_at": point.sms_opt_in_at.isoformat() if point.sms_opt_in_at else None,
            "sms_opt_in_source": point.sms_opt_in_source,
        }
        for point in ContactPoint.objects.filter(customer_id=customer.pk).order_by("id")
    ]
    organization = customer.organization if customer.organization_id else None
    return {
        "id": customer.pk,
        "external_id": customer.external_id,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "organization": {"id": organization.pk, "name": organization.name} if organization else None,
        "job_title": customer.job_title,
        "owner_id": customer.owner_id,
        "lifecycle_stage": customer.lifecycle_stage,
        "time_zone": customer.time_zone,
        "custom_fields": customer.custom_fields,
        "created_at": customer.created_at.isoformat(),
        "updated_at": customer.updated_at.isoformat(),
        "contact_points": points,
        "tags": sorted(customer.tags.values_list("name", flat=True)),
        "note_ids": sorted(Note.objects.filter(customer_id=customer.pk).values_list("id", flat=True)),
    }


def _fix_primary_flags(survivor: Customer, survivor_point_ids: set[int]) -> None:
    """One primary per kind: the survivor's own primary wins, then the duplicate's, then the oldest."""
    by_kind: dict[str, list[ContactPoint]] = {}
    for point in ContactPoint.objects.filter(customer_id=survivor.pk).order_by("id"):
        by_kind.setdefault(point.kind, []).append(point)
    changed: list[ContactPoint] = []
    for points in by_kind.values():
        primaries = [p for p in points if p.is_primary]
        own = [p for p in primaries if p.pk in survivor_point_ids]
        keep = (own or primaries or points)[0]
        for point in points:
            wanted = point.pk == keep.pk
            if point.is_primary != wanted:
                point.is_primary = wanted
                changed.append(point)
    if changed:
        ContactPoint.objects.bulk_update(changed, ["is_primary"])


def _rows_still_pointing_at(customer_id: int) -> list[str]:
    """Every model's foreign keys to Customer (apps.get_models(), so a later app's too) that
    still have rows pointing at `customer_id`, as "app_label.model.field" names. Many-to-many
    through tables (tags) are not rows of a model of ours: the merge copies the tags itself."""
    found = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if (
                isinstance(field, models.ForeignKey)
                and field.related_model is Customer
                and model._default_manager.filter(**{field.name: customer_id}).exists()
            ):
                found.append(f"{model._meta.label_lower}.{field.name}")
    return found


@transaction.atomic
def customer_merge(*, actor: Actor, survivor: Customer, duplicate: Customer) -> MergeRecord:
    """Merge `duplicate` into `survivor` and delete the duplicate; return the MergeRecord.

    Authorization: `actor` needs customers.merge_customer (NotAllowed otherwise); a SystemActor
    may merge (recorded by name in the audit entry); None is refused. Raises MergeNotAllowed
    for the same customer twice, an erased customer or a customer that no longer exists.

    Locks: both rows with SELECT ... FOR UPDATE in id order, so two merges touching the same pair
    in opposite directions queue up instead of deadlocking.

    Nothing is lost: every contact point, note and tag of the duplicate moves to the survivor
    (one primary contact point per kind remains, the survivor's own first); the survivor's empty
    fields (names, organization, owner, job title, time zone, external id) and missing custom
    field keys are filled from the duplicate, the survivor winning where both have a value;
    merge records that pointed to the duplicate and its audit history move to the survivor, so
    its timeline still shows what happened to either. A MergeRecord keeps a JSON snapshot of the
    duplicate as it was, and an audit entry "customer.merge" records who merged what.

    The `customer_merged` signal (survivor_id, duplicate_id, actor) is sent inside this
    transaction, before the duplicate row is deleted: later apps (interactions, campaigns,
    surveys) move their own rows to the survivor in the same transaction, and a receiver that
    fails rolls the whole merge back. The duplicate is deleted only when nothing points to it
    any more: a foreign key of any app to Customer that no receiver moved (a new app that forgot
    its receiver) raises MergeNotAllowed and rolls the merge back, instead of its rows being
    cascaded away or set to NULL and lost from the survivor's timeline.
    """
    require_actor(actor)
    allowed = isinstance(actor, User) and actor.has_perm("customers.merge_customer")
    if not (is_system(actor) or allowed):
        raise NotAllowed("You are not allowed to merge customers.")
    if survivor.pk == duplicate.pk:
        raise MergeNotAllowed("A customer cannot be merged into itself.")
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[survivor.pk, duplicate.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise MergeNotAllowed("One of the two customers no longer exists (merged or deleted meanwhile).")
    keep, gone = locked[survivor.pk], locked[duplicate.pk]
    if keep.is_erased or gone.is_erased:
        raise MergeNotAllowed("An erased customer cannot be merged.")

    snapshot = customer_snapshot(gone)
    survivor_point_ids = set(ContactPoint.objects.filter(customer_id=keep.pk).values_list("id", flat=True))

    ContactPoint.objects.filter(customer_id=gone.pk).update(customer_id=keep.pk)
    _fix_primary_flags(keep, survivor_point_ids)
    Note.objects.filter(customer_id=gone.pk).update(customer_id=keep.pk)
    keep.tags.add(*gone.tags.all())
    MergeRecord.objects.filter(survivor_id=gone.pk).update(survivor_id=keep.pk)

    changed: list[str] = []
    for field in _FILLABLE:
        if not getattr(keep, field) and getattr(gone, field):
            setattr(keep, field, getattr(gone, field))
            changed.append(field)
    for field in _FILLABLE_FK:
        if getattr(keep, field) is None and getattr(gone, field) is not None:
            setattr(keep, field, getattr(gone, field))
            changed.append(field.removesuffix("_id"))
    custom_fields = {**gone.custom_fields, **keep.custom_fields}
    if custom_fields != keep.custom_fields:
        keep.custom_fields = custom_fields
        changed.append("custom_fields")
    if not keep.external_id and gone.external_id:
        # external_id is unique: release it on the duplicate before the survivor takes it.
        Customer.objects.filter(pk=gone.pk).update(external_id=None)
        keep.external_id = gone.external_id
        changed.append("external_id")
    if not keep.time_zone:
        keep.time_zone = derived_time_zone(customer=keep)
        if keep.time_zone:
            changed.append("time_zone")
    keep.save(update_fields=[*dict.fromkeys(changed), "updated_at"])

    AuditEntry.objects.filter(object_type=CUSTOMER_OBJECT_TYPE, object_id=str(gone.pk)).update(
        object_id=str(keep.pk)
    )
    record = MergeRecord.objects.create(
        survivor=keep,
        merged_customer_id=gone.pk,
        merged_snapshot=snapshot,
        merged_by=actor if isinstance(actor, User) and actor.is_authenticated else None,
    )
    customer_refresh_search_text(customer=keep)
    audit_record(
        actor=actor,
        action="customer.merge",
        obj=keep,
        data={"merged_customer_id": gone.pk, "filled_fields": sorted(set(changed))},
    )
    customer_merged.send(sender=Customer, survivor_id=keep.pk, duplicate_id=gone.pk, actor=actor)
    left_behind = _rows_still_pointing_at(gone.pk)
    if left_behind:
        raise MergeNotAllowed(
            "The merge was undone: some records still belong to the duplicate and would be lost "
            f"({', '.join(left_behind)})."
        )
    gone.delete()
    survivor.refresh_from_db()
    return record
