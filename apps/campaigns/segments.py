"""Audiences from saved customer segments: filters on a customer's fields, tags, lifecycle stage
and custom fields, validated before use (InvalidSegment names the key at fault), and the
contact lists made from them.

A segment is a dict (ContactList.segment_filters), every key optional, all of them combined
with AND; erased customers are never in a segment:

    {
        "fields": {"last_name": "Nakamura", "organization": ["Acme", "Globex"]},
        "tags": ["vip", "renewal"],          # has every one of these
        "tags_any": ["trade-show", "web"],   # has at least one of these
        "exclude_tags": ["do-not-market"],   # has none of these
        "lifecycle_stage": ["customer", "prospect"],
        "custom_fields": {"plan": "gold", "seats": {"gte": 10}, "renewal": {"lte": "2027-01-31"}},
    }

Text comparisons on fields ignore case; a list means any of its values. Custom field values are
read as their definition's type; ranges (gt, gte, lt, lte) work on whole numbers and dates.

Appointment reminders from a segment: appointment_field names a custom field holding the
appointment as a date and time (a text field written like 2026-12-24 15:30; naive times are in
the campaign's time zone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTransform

from apps.accounts.models import User
from apps.campaigns.models import Campaign, CampaignList, CampaignStatus, ContactList, ListSource
from apps.campaigns.services.lists import (
    Contactable,
    InvalidContactList,
    check_campaign_open,
    check_list_settings,
    check_manager,
    contactables_of_customers,
    leads_write,
)
from apps.core.actors import Actor
from apps.core.exceptions import DomainError
from apps.core.services import audit_record
from apps.customers.custom_fields import active_definitions, coerce_value
from apps.customers.erasure import erased_digests
from apps.customers.models import Customer, CustomFieldDefinition, CustomFieldType, LifecycleStage, Tag

# Customers per lead write when a segment becomes leads.
SEGMENT_CHUNK = 2000

# Segment key -> the customer lookup it compares (text ones ignore case).
FIELD_LOOKUPS = {
    "first_name": "first_name__iexact",
    "last_name": "last_name__iexact",
    "job_title": "job_title__iexact",
    "external_id": "external_id",
    "time_zone": "time_zone",
    "organization": "organization__name__iexact",
    "owner": "owner__username__iexact",
}
TOP_KEYS = ("fields", "tags", "tags_any", "exclude_tags", "lifecycle_stage", "custom_fields")
RANGES = ("gt", "gte", "lt", "lte")
RANGE_TYPES = (CustomFieldType.INTEGER, CustomFieldType.DATE)


class InvalidSegment(DomainError):
    """A segment's filters name an unknown key, field, tag, stage or custom field, or give a
    value of the wrong kind. The message names the key."""

    code = "invalid_segment"
    http_status = 400


def _texts(key: str, value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise InvalidSegment(f"{key}: a text value or a non-empty list of them.")
    return values


def _tag_names(key: str, value: Any) -> list[str]:
    names = _texts(key, value)
    known = set(Tag.objects.filter(name__in=names).values_list("name", flat=True))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidSegment(f"{key}: no tag called {', '.join(repr(n) for n in unknown)}.")
    return names


def _has_tag(names: Sequence[str]) -> Exists:
    through = Tag.customers.through
    return Exists(through.objects.filter(customer_id=OuterRef("pk"), tag__name__in=names))


def _custom_filter(
    queryset: QuerySet[Customer], position: int, definition: CustomFieldDefinition, value: Any
) -> QuerySet[Customer]:
    key = f"custom_fields.{definition.key}"
    # An alias per key: a definition's key is a slug and may hold "__", so no lookup string.
    alias = f"segment_custom_{position}"
    queryset = queryset.alias(**{alias: KeyTransform(definition.key, "custom_fields")})
    if isinstance(value, dict):
        if definition.field_type not in RANGE_TYPES:
            raise InvalidSegment(f"{key}: ranges (gt, gte, lt, lte) work on whole-number and date fields.")
        unknown = set(value) - set(RANGES)
        if not value or unknown:
            raise InvalidSegment(f'{key}: a range uses gt, gte, lt and lte, e.g. {{"gte": 10}}.')
        for op, bound in value.items():
            try:
                coerced = coerce_value(definition, bound)
            except ValueError as exc:
                raise InvalidSegment(f"{key}.{op}: {exc}.") from exc
            queryset = queryset.filter(**{f"{alias}__{op}": coerced})
        return queryset
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, dict | list) or v is None for v in values):
        raise InvalidSegment(f"{key}: a value, a list of values or a range.")
    matches = Q()
    for item in values:
        try:
            coerced = coerce_value(definition, item)
        except ValueError as exc:
            raise InvalidSegment(f"{key}: {exc}.") from exc
        matches |= Q(**{alias: coerced})
    return queryset.filter(matches)


def segment_customers(filters: dict[str, Any]) -> QuerySet[Customer]:
    """The customers the segment's filters select (never an erased one), validated first:
    InvalidSegment names the first key at fault."""
    if not isinstance(filters, dict):
        raise InvalidSegment('filters: a segment is an object of filters, e.g. {"tags": ["vip"]}.')
    unknown = [k for k in filters if k not in TOP_KEYS]
    if unknown:
        raise InvalidSegment(f"{unknown[0]}: not a segment filter (use {', '.join(TOP_KEYS)}).")
    customers = Customer.objects.filter(is_erased=False)
    fields = filters.get("fields", {})
    if not isinstance(fields, dict):
        raise InvalidSegment("fields: an object of customer field -> value.")
    for name, value in fields.items():
        lookup = FIELD_LOOKUPS.get(name)
        if lookup is None:
            raise InvalidSegment(
                f"fields.{name}: not a customer field a segment filters on "
                f"({', '.join(FIELD_LOOKUPS)}; other data is in custom_fields)."
            )
        matches = Q()
        for text in _texts(f"fields.{name}", value):
            matches |= Q(**{lookup: text.strip()})
        customers = customers.filter(matches)
    if "tags" in filters:
        for name in _tag_names("tags", filters["tags"]):
            customers = customers.filter(_has_tag([name]))
    if "tags_any" in filters:
        customers = customers.filter(_has_tag(_tag_names("tags_any", filters["tags_any"])))
    if "exclude_tags" in filters:
        customers = customers.exclude(_has_tag(_tag_names("exclude_tags", filters["exclude_tags"])))
    if "lifecycle_stage" in filters:
        stages = _texts("lifecycle_stage", filters["lifecycle_stage"])
        wrong = [s for s in stages if s not in LifecycleStage.values]
        if wrong:
            raise InvalidSegment(
                f"lifecycle_stage: {wrong[0]!r} is not one of {', '.join(LifecycleStage.values)}."
            )
        customers = customers.filter(lifecycle_stage__in=stages)
    custom = filters.get("custom_fields", {})
    if not isinstance(custom, dict):
        raise InvalidSegment("custom_fields: an object of custom field -> value.")
    if custom:
        definitions = {d.key: d for d in active_definitions()}
        for position, (name, value) in enumerate(custom.items()):
            definition = definitions.get(name)
            if definition is None:
                raise InvalidSegment(
                    f"custom_fields.{name}: not an active custom field "
                    f"({', '.join(definitions) or 'none is defined'})."
                )
            customers = _custom_filter(customers, position, definition, value)
    return customers.order_by("pk")


def segment_contactables(
    contact_list: ContactList, *, customers: QuerySet[Customer] | None = None
) -> list[Contactable]:
    """The segment's customers as leads see them: contact points, zone, custom fields (the
    lead's fields, for scripts) and the appointment custom field."""
    queryset = customers if customers is not None else segment_customers(contact_list.segment_filters)
    appointment_field = contact_list.appointment_field
    people: list[Contactable] = []
    rows = list(queryset.values_list("pk", "time_zone", "custom_fields"))
    for start in range(0, len(rows), SEGMENT_CHUNK):
        chunk = rows[start : start + SEGMENT_CHUNK]
        people += contactables_of_customers(
            [pk for pk, _, _ in chunk],
            time_zones={pk: zone for pk, zone, _ in chunk},
            fields={pk: values or {} for pk, _, values in chunk},
            appointments={
                pk: (values or {}).get(appointment_field) for pk, _, values in chunk if appointment_field
            },
        )
    return people


def _check_appointment_field(appointment_field: str) -> None:
    if appointment_field and not any(d.key == appointment_field for d in active_definitions()):
        raise InvalidContactList(
            f"appointment_field: {appointment_field!r} is not an active custom field; a segment's "
            "appointments are a custom field holding a date and time."
        )


def contact_list_create_from_segment(
    *,
    actor: Actor,
    name: str,
    filters: dict[str, Any],
    campaign: Campaign | None = None,
    priority: int = 0,
    weight: int = 1,
    appointment_field: str = "",
    remind_hours_before: int | None = None,
) -> ContactList:
    """A contact list of the customers a segment selects now, attached to `campaign` when given
    (its leads are created at once, in bulk). Marketers and admins only (NotAllowed); bad
    filters: InvalidSegment; bad settings: InvalidContactList. Nothing is saved on an error."""
    check_manager(actor)
    name = check_list_settings(
        name=name,
        priority=priority,
        weight=weight,
        remind_hours_before=remind_hours_before,
        appointment_field=appointment_field,
    )
    _check_appointment_field(appointment_field)
    if campaign is not None:
        check_campaign_open(campaign)
    customers = segment_customers(filters)
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            name=name,
            source=ListSource.SEGMENT,
            segment_filters=filters,
            appointment_field=appointment_field,
            remind_hours_before=remind_hours_before,
            created_by=actor if isinstance(actor, User) else None,
        )
        added = 0
        if campaign is not None:
            link = CampaignList.objects.create(
                campaign=campaign, contact_list=contact_list, priority=priority, weight=weight
            )
            people = segment_contactables(contact_list, customers=customers)
            added = leads_write(
                contact_list=contact_list, links=[link], people=people, erased=erased_digests()
            ).added
        audit_record(
            actor=actor,
            action="campaigns.contact_list_create",
            obj=contact_list,
            data={"source": ListSource.SEGMENT, "campaign": campaign and campaign.pk, "leads_added": added},
        )
    contact_list.refresh_from_db(fields=["lead_count"])
    return contact_list


def contact_list_refresh(*, actor: Actor, contact_list: ContactList) -> int:
    """Add leads, in every campaign the list is attached to (completed ones excepted), for the
    customers who joined the segment since it was last read; leads already there keep
    everything (a customer who left the segment keeps their lead). Returns the leads added.
    Segment lists only (InvalidContactList). Locks: the list."""
    check_manager(actor)
    if contact_list.source != ListSource.SEGMENT:
        raise InvalidContactList(
            f"List {contact_list.name} is an uploaded file: upload it again to refresh it."
        )
    with transaction.atomic():
        locked = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        links = list(
            CampaignList.objects.filter(contact_list=locked)
            .exclude(campaign__status=CampaignStatus.COMPLETED)
            .select_related("campaign")
        )
        added = 0
        if links:
            added = leads_write(
                contact_list=locked,
                links=links,
                people=segment_contactables(locked),
                erased=erased_digests(),
                update_existing=False,
            ).added
        audit_record(
            actor=actor, action="campaigns.contact_list_refresh", obj=locked, data={"leads_added": added}
        )
    contact_list.refresh_from_db(fields=["lead_count"])
    return added
