"""Create and change customers, their contact points, consent, tags and notes."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.services import audit_record
from apps.customers.custom_fields import validate_custom_fields
from apps.customers.exceptions import ContactPointTaken, InvalidContact
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    LifecycleStage,
    Note,
    Organization,
    Tag,
)
from apps.customers.normalize import normalize_contact, phone_digits, time_zone_for_phone


@dataclass(frozen=True)
class ContactInput:
    kind: str
    value: str
    network: str = ""
    label: str = ""
    is_primary: bool = False


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_time_zone(value: str) -> str:
    value = (value or "").strip()
    if value and value not in _time_zones():
        raise ValidationError({"time_zone": f"{value!r} is not a known IANA time zone (e.g. Europe/Paris)."})
    return value


def _organization_for(name: str | None) -> Organization | None:
    name = (name or "").strip()
    if not name:
        return None
    org = Organization.objects.filter(name__iexact=name).first()
    if org is None:
        org, _ = Organization.objects.get_or_create(name=name)
    return org


def build_search_text(
    *, first_name: str, last_name: str, organization_name: str, contact_values: Iterable[tuple[str, str]]
) -> str:
    """The lower-cased text search matches against: names, organization, emails, handles, phone
    digits. One definition shared by the services and the bulk import's SQL."""
    parts = [first_name, last_name, organization_name]
    for kind, value in contact_values:
        parts.append(phone_digits(value) if kind == ContactPointKind.PHONE else value)
    return " ".join(p.strip().lower() for p in parts if p and p.strip())


def customer_refresh_search_text(*, customer: Customer) -> None:
    text = build_search_text(
        first_name=customer.first_name,
        last_name=customer.last_name,
        organization_name=customer.organization.name if customer.organization_id else "",  # type: ignore[union-attr]
        contact_values=customer.contact_points.values_list("kind", "value"),
    )
    if text != customer.search_text:
        customer.search_text = text
        Customer.objects.filter(pk=customer.pk).update(search_text=text)


def _derive_time_zone(customer: Customer) -> None:
    if customer.time_zone:
        return
    phone = customer.contact_points.filter(kind=ContactPointKind.PHONE).order_by("-is_primary", "id").first()
    if phone is not None:
        zone = time_zone_for_phone(phone.value)
        if zone:
            customer.time_zone = zone
            Customer.objects.filter(pk=customer.pk).update(time_zone=zone)


def _add_contact(customer: Customer, contact: ContactInput, region: str | None) -> ContactPoint:
    kind = contact.kind
    if kind not in ContactPointKind.values:
        raise InvalidContact(f"Unknown contact kind {kind!r}.")
    network = contact.network if kind == ContactPointKind.SOCIAL else ""
    if kind == ContactPointKind.SOCIAL and not network:
        raise InvalidContact("A social handle needs its network (whatsapp, facebook, ...).")
    value = normalize_contact(kind, contact.value, region=region)
    existing = ContactPoint.objects.filter(kind=kind, network=network, value=value).first()
    if existing is not None:
        if existing.customer_id == customer.pk:
            return existing
        raise ContactPointTaken(existing)
    try:
        with transaction.atomic():
            if contact.is_primary:
                customer.contact_points.filter(kind=kind, is_primary=True).update(is_primary=False)
            is_primary = contact.is_primary or not customer.contact_points.filter(kind=kind).exists()
            return ContactPoint.objects.create(
                customer=customer,
                kind=kind,
                network=network,
                value=value,
                label=contact.label,
                is_primary=is_primary,
            )
    except IntegrityError:
        # Another transaction took the same value between our check and insert.
        raise ContactPointTaken(ContactPoint.objects.get(kind=kind, network=network, value=value)) from None


@transaction.atomic
def customer_create(
    *,
    actor: User | None,
    first_name: str = "",
    last_name: str = "",
    organization_name: str = "",
    job_title: str = "",
    owner: User | None = None,
    lifecycle_stage: str = LifecycleStage.LEAD,
    time_zone: str = "",
    external_id: str | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    contacts: Sequence[ContactInput] = (),
    tags: Iterable[str] = (),
    region: str | None = None,
) -> Customer:
    """Create a customer with its contact points. Raises InvalidContact, ContactPointTaken (the
    value belongs to someone else: a duplicate), InvalidCustomFields or ValidationError; on any
    error nothing is written."""
    if not (first_name.strip() or last_name.strip() or contacts):
        raise ValidationError({"last_name": "Give at least a name or one contact point."})
    if lifecycle_stage not in LifecycleStage.values:
        raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage {lifecycle_stage!r}."})
    customer = Customer.objects.create(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        organization=_organization_for(organization_name),
        job_title=job_title.strip(),
        owner=owner,
        lifecycle_stage=lifecycle_stage,
        time_zone=_check_time_zone(time_zone),
        external_id=(external_id or "").strip() or None,
        custom_fields=validate_custom_fields(custom_fields),
    )
    for contact in contacts:
        _add_contact(customer, contact, region)
    if tags:
        customer_set_tags(customer=customer, names=tags)
    _derive_time_zone(customer)
    customer_refresh_search_text(customer=customer)
    audit_record(actor=actor, action="customer.create", obj=customer)
    return customer


_UPDATABLE = {"first_name", "last_name", "job_title", "owner", "lifecycle_stage", "time_zone", "external_id"}


@transaction.atomic
def customer_update(
    *,
    actor: User | None,
    customer: Customer,
    organization_name: str | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    **changes: Any,
) -> Customer:
    """Change plain fields (first_name, last_name, job_title, owner, lifecycle_stage, time_zone,
    external_id), the organization by name and custom fields (merged key by key; a key set to
    None or "" is removed). Saves only what changed and audits the changed field names."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.is_erased:
        # Personal data was erased on request; writing new data would undo that.
        raise ValidationError("This customer's personal data was erased; it cannot be edited.")
    changed: list[str] = []
    if "time_zone" in changes:
        changes["time_zone"] = _check_time_zone(changes["time_zone"])
    if "lifecycle_stage" in changes and changes["lifecycle_stage"] not in LifecycleStage.values:
        raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage {changes['lifecycle_stage']!r}."})
    if "external_id" in changes:
        changes["external_id"] = (changes["external_id"] or "").strip() or None
    for field, value in changes.items():
        if isinstance(value, str) and field != "external_id":
            value = value.strip()
        if getattr(locked, field) != value:
            setattr(locked, field, value)
            changed.append(field)
    if organization_name is not None:
        org = _organization_for(organization_name)
        if locked.organization_id != (org.pk if org else None):
            locked.organization = org
            changed.append("organization")
    if custom_fields is not None:
        merged = {**locked.custom_fields}
        for key, value in custom_fields.items():
            if value is None or value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        cleaned = validate_custom_fields(merged)
        if cleaned != locked.custom_fields:
            locked.custom_fields = cleaned
            changed.append("custom_fields")
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        customer_refresh_search_text(customer=locked)
        if "time_zone" in changed and not locked.time_zone:
            _derive_time_zone(locked)
        audit_record(actor=actor, action="customer.update", obj=locked, data={"fields": sorted(changed)})
    return locked


@transaction.atomic
def contact_point_add(
    *, actor: User | None, customer: Customer, contact: ContactInput, region: str | None = None
) -> ContactPoint:
    """Add a contact point (normalized). Adding one the customer already has returns it; one that
    belongs to another customer raises ContactPointTaken."""
    point = _add_contact(customer, contact, region)
    _derive_time_zone(customer)
    customer_refresh_search_text(customer=customer)
    Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
    audit_record(actor=actor, action="contact_point.add", obj=customer, data={"value": point.value})
    return point


@transaction.atomic
def contact_point_remove(*, actor: User | None, contact_point: ContactPoint) -> None:
    customer = contact_point.customer
    was_primary, kind = contact_point.is_primary, contact_point.kind
    contact_point.delete()
    if was_primary:
        successor = customer.contact_points.filter(kind=kind).order_by("id").first()
        if successor is not None:
            successor.is_primary = True
            successor.save(update_fields=["is_primary"])
    customer_refresh_search_text(customer=customer)
    audit_record(actor=actor, action="contact_point.remove", obj=customer, data={"kind": kind})


_CONSENTS = {"do_not_call", "email_opt_out", "sms_opt_in"}


@transaction.atomic
def contact_point_set_consent(
    *, actor: User | None, contact_point: ContactPoint, consent: str, value: bool, source: str
) -> ContactPoint:
    """Set one consent flag (do_not_call, email_opt_out, sms_opt_in) with its time and source.
    Setting the value it already has changes nothing (the original time and source stay)."""
    if consent not in _CONSENTS:
        raise ValidationError(f"Unknown consent {consent!r}.")
    if not source.strip():
        raise ValidationError({"source": "Say where the consent came from (e.g. 'agent call', 'web form')."})
    point = ContactPoint.objects.select_for_update().get(pk=contact_point.pk)
    if getattr(point, consent) == value:
        return point
    setattr(point, consent, value)
    setattr(point, f"{consent}_at", timezone.now())
    setattr(point, f"{consent}_source", source.strip()[:100])
    point.save(update_fields=[consent, f"{consent}_at", f"{consent}_source"])
    audit_record(
        actor=actor,
        action=f"consent.{consent}",
        obj=point.customer,
        data={"contact_point": point.pk, "value": value, "source": source.strip()[:100]},
    )
    return point


@transaction.atomic
def customer_set_tags(*, customer: Customer, names: Iterable[str], replace: bool = False) -> list[Tag]:
    """Add the named tags (created when missing); with replace=True the customer has exactly them."""
    wanted = sorted({n.strip() for n in names if n and n.strip()})
    for name in wanted:
        if len(name) > 64:
            raise ValidationError({"tags": f"Tag {name[:20]!r}... is longer than 64 characters."})
    existing = {t.name.lower(): t for t in Tag.objects.filter(name__in=wanted)}
    tags = []
    for name in wanted:
        tag = existing.get(name.lower())
        if tag is None:
            tag, _ = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    if replace:
        customer.tags.set(tags)
    else:
        customer.tags.add(*tags)
    return tags


@transaction.atomic
def note_add(*, actor: User | None, customer: Customer, body: str) -> Note:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "A note cannot be empty."})
    if len(body) > 20000:
        raise ValidationError({"body": "A note is limited to 20,000 characters."})
    note = Note.objects.create(customer=customer, author=actor, body=body)
    Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
    return note
