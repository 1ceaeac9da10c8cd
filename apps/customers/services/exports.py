"""CSV export of customers with exactly the columns the importer reads, so exporting and
importing the file again changes nothing. Cells a spreadsheet would run as a formula are
written as text (FORMULA_STARTS); the importer reads them back unchanged."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from typing import Any

from django.db.models import Prefetch, QuerySet

from apps.accounts.models import User
from apps.core.exceptions import NotAllowed
from apps.core.services import audit_record
from apps.customers.custom_fields import active_definitions
from apps.customers.importing.fields import (
    CUSTOM_PREFIX,
    EMAIL_FIELDS,
    PHONE_FIELDS,
    PLAIN_FIELDS,
)
from apps.customers.importing.files import neutralize_formula
from apps.customers.models import ContactPoint, ContactPointKind, Customer, CustomFieldType

EXPORT_CHUNK = 2000


class _Line:
    """A write-only buffer csv.writer writes one line into."""

    def __init__(self) -> None:
        self.value = ""

    def write(self, text: str) -> None:
        self.value = text


def _consent_cell(points: list[ContactPoint], name: str) -> str:
    """yes when every point has the flag, no when none has, empty (leave as is) when mixed."""
    if not points:
        return ""
    flags = {getattr(p, name) for p in points}
    if flags == {True}:
        return "yes"
    if flags == {False}:
        return "no"
    return ""


def _custom_cell(value: Any, field_type: str) -> str:
    if value is None:
        return ""
    if field_type == CustomFieldType.BOOLEAN:
        return "yes" if value else "no"
    return str(value)


def export_columns(custom_keys: list[str]) -> list[str]:
    """The importer's own field names, so an export re-imports to no change."""
    return [*PLAIN_FIELDS, *(f"{CUSTOM_PREFIX}{key}" for key in custom_keys)]


def _check_allowed(actor: User | None) -> None:
    if actor is not None and not actor.has_perm("customers.export_customer"):
        raise NotAllowed("Exporting customers needs the export permission (Supervisor, Marketer or Admin).")


def customers_export_lines(
    *, actor: User | None, queryset: QuerySet[Customer], filters: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Check the permission (customers.export_customer; NotAllowed otherwise) and record the
    audit entry now, then return an iterator of CSV lines (header first) for a streaming
    response. Contact points and tags are prefetched per chunk of EXPORT_CHUNK customers."""
    _check_allowed(actor)
    audit_record(
        actor=actor,
        action="customer.export_csv",
        object_type="customers.customer",
        object_id="",
        data={"filters": {k: v for k, v in (filters or {}).items() if v}},
    )
    return _lines(queryset)


def _lines(queryset: QuerySet[Customer]) -> Iterator[str]:
    definitions = active_definitions()
    keys = [d.key for d in definitions]
    types = {d.key: d.field_type for d in definitions}
    line = _Line()
    writer = csv.writer(line)
    writer.writerow(export_columns(keys))
    yield line.value
    points = Prefetch(
        "contact_points",
        queryset=ContactPoint.objects.filter(network="").order_by("-is_primary", "id"),
    )
    rows = queryset.select_related("organization", "owner").prefetch_related(points, "tags")
    for customer in rows.iterator(chunk_size=EXPORT_CHUNK):
        phones = [p for p in customer.contact_points.all() if p.kind == ContactPointKind.PHONE]
        emails = [p for p in customer.contact_points.all() if p.kind == ContactPointKind.EMAIL]
        cells = [
            customer.external_id or "",
            customer.first_name,
            customer.last_name,
            *[(emails[i].value if i < len(emails) else "") for i in range(len(EMAIL_FIELDS))],
            *[(phones[i].value if i < len(phones) else "") for i in range(len(PHONE_FIELDS))],
            customer.organization.name if customer.organization else "",
            customer.job_title,
            customer.lifecycle_stage,
            customer.time_zone,
            "; ".join(sorted(t.name for t in customer.tags.all())),
            customer.owner.username if customer.owner else "",
            _consent_cell(phones, "do_not_call"),
            _consent_cell(emails, "email_opt_out"),
            _consent_cell(phones, "sms_opt_in"),
            *(_custom_cell(customer.custom_fields.get(key), types[key]) for key in keys),
        ]
        writer.writerow([neutralize_formula(cell) for cell in cells])
        yield line.value


def customers_export_csv(
    *,
    actor: User | None,
    queryset: QuerySet[Customer],
    stream: Any,
    filters: Mapping[str, str] | None = None,
) -> int:
    """Write `queryset` as CSV to `stream` (anything with write(str)); returns the number of
    customers written. Same permission and audit as customers_export_lines."""
    count = -1
    for text in customers_export_lines(actor=actor, queryset=queryset, filters=filters):
        stream.write(text)
        count += 1
    return count
