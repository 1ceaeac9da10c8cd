"""Merge fields in SMS and email texts: `{first_name}`, `{custom.plan}`, `{lead.order_number}`,
`{campaign.name}`, with `{{` and `}}` for literal braces.

A marketer writes these texts, and a customer's data fills them in, so neither the Django
template engine nor str.format is used: both reach attributes (`{customer.__class__}`,
`{{ customer.owner.password }}`). Here a field is looked up by name in a fixed table of values
we computed, never by attribute access; anything in braces that is not a field name (a leading
underscore, spaces, punctuation) stays in the text as written. A well-formed name we do not know
renders as a visible "[unknown: name]", so a typo shows in the test send instead of silently
becoming an empty string; `template_fields_check` lists them before a campaign starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from apps.customers.models import ContactPointKind, CustomFieldDefinition

if TYPE_CHECKING:
    from apps.campaigns.models import Campaign, Lead
    from apps.customers.models import ContactPoint, Customer

# The customer's own fields, by name.
CUSTOMER_FIELDS = ("first_name", "last_name", "full_name", "email", "phone", "company")
# Dotted fields: {custom.<key>} (the customer's custom fields), {lead.<key>} (the lead's row),
# {campaign.<name>} (only the name: the rest of a campaign is no business of its recipients).
NAMESPACES = ("custom", "lead", "campaign")
CAMPAIGN_FIELDS = ("name",)

# `{{`, `}}`, or one field: a name, optionally `.key`. Neither part may start with an underscore,
# so dunder names never even parse as a field.
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z][A-Za-z0-9_]*)(?:\.([A-Za-z0-9][A-Za-z0-9_-]*))?\}")


def unknown_placeholder(name: str) -> str:
    return f"[unknown: {name}]"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _lookup(mapping: object, key: str) -> tuple[bool, object]:
    """(found, value) for `key` in a JSON object, exact key first, then ignoring case (column
    headers and custom field keys are typed by people)."""
    if not isinstance(mapping, dict):
        return False, None
    if key in mapping:
        return True, mapping[key]
    folded = key.casefold()
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and candidate.casefold() == folded:
            return True, value
    return False, None


def _primary_contact(customer: Customer | None, kind: str) -> str:
    """The customer's primary contact point of `kind` (else its first). Reads
    customer.contact_points.all(), so a caller rendering many leads prefetches it."""
    if customer is None:
        return ""
    points: list[ContactPoint] = [p for p in customer.contact_points.all() if p.kind == kind]
    if not points:
        return ""
    points.sort(key=lambda p: (not p.is_primary, p.pk or 0))
    return points[0].value


def custom_field_keys() -> frozenset[str]:
    """Every custom field key an admin defined (active or not: old data still renders)."""
    return frozenset(CustomFieldDefinition.objects.values_list("key", flat=True))


def _walk(template: str, field: Callable[[str, str | None], str]) -> str:
    def replace(match: re.Match[str]) -> str:
        piece = match.group(0)
        if piece == "{{":
            return "{"
        if piece == "}}":
            return "}"
        return field(match.group(1), match.group(2))

    return _TOKEN.sub(replace, template)


def render_message(
    template: str,
    *,
    customer: Customer | None,
    lead: Lead | None,
    campaign: Campaign | None,
    custom_keys: frozenset[str] | None = None,
) -> str:
    """The text with every merge field filled in for this customer and lead.

    A known field with no value (no company, a custom field this customer has not filled in, a
    column this lead's row lacks) is empty; an unknown one is "[unknown: name]". An erased
    customer's personal fields are empty. `custom_keys` are the defined custom field keys (one
    query when not given: pass them when rendering many)."""
    if custom_keys is None:
        custom_keys = custom_field_keys()
    person = customer if customer is not None and not customer.is_erased else None
    own_contact = lead.contact if lead is not None else ""

    def personal(name: str) -> str:
        if name == "first_name":
            return person.first_name if person else ""
        if name == "last_name":
            return person.last_name if person else ""
        if name == "full_name":
            return f"{person.first_name} {person.last_name}".strip() if person else ""
        if name == "company":
            organization = person.organization if person else None
            return organization.name if organization is not None else ""
        kind = ContactPointKind.EMAIL if name == "email" else ContactPointKind.PHONE
        # The lead's own contact is the address or number this campaign reaches them on.
        if own_contact and ("@" in own_contact) == (kind == ContactPointKind.EMAIL):
            return own_contact
        return _primary_contact(person, kind)

    def field(name: str, key: str | None) -> str:
        lowered = name.lower()
        if key is None:
            if lowered in CUSTOMER_FIELDS:
                return personal(lowered)
            return unknown_placeholder(name)
        dotted = f"{name}.{key}"
        if lowered == "custom":
            found, value = _lookup(person.custom_fields if person else {}, key)
            if found:
                return _text(value)
            known = key in custom_keys or key.casefold() in {k.casefold() for k in custom_keys}
            return "" if known else unknown_placeholder(dotted)
        if lowered == "lead":
            found, value = _lookup(lead.fields if lead is not None else {}, key)
            return _text(value) if found else ""
        if lowered == "campaign" and key.lower() in CAMPAIGN_FIELDS:
            return campaign.name if campaign is not None else ""
        return unknown_placeholder(dotted)

    return _walk(template, field)


def template_fields_check(
    template: str,
    *,
    custom_keys: Iterable[str] | None = None,
    lead_keys: Iterable[str] | None = None,
) -> list[str]:
    """The merge field names in `template` that would render as "[unknown: ...]", in order of
    first appearance, each once. Custom fields are checked against the defined keys
    (`custom_keys`, default: the database's); `{lead.<key>}` against `lead_keys` when given (the
    columns of the campaign's lists), else any key is accepted."""
    customs = {k.casefold() for k in (custom_keys if custom_keys is not None else custom_field_keys())}
    leads = {k.casefold() for k in lead_keys} if lead_keys is not None else None
    unknown: list[str] = []

    def field(name: str, key: str | None) -> str:
        lowered = name.lower()
        if key is None:
            bad = lowered not in CUSTOMER_FIELDS
            label = name
        else:
            label = f"{name}.{key}"
            if lowered == "custom":
                bad = key.casefold() not in customs
            elif lowered == "lead":
                bad = leads is not None and key.casefold() not in leads
            elif lowered == "campaign":
                bad = key.lower() not in CAMPAIGN_FIELDS
            else:
                bad = True
        if bad and label not in unknown:
            unknown.append(label)
        return ""

    _walk(template, field)
    return unknown
