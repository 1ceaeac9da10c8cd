"""Reads shared by pages, the API, tasks and (later) inbound routing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector, TrigramWordSimilarity
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind, Customer, LifecycleStage
from apps.customers.normalize import guess_kind, normalize_email, normalize_phone

# The full-text expression: migration 0002 builds its GIN index from this very expression, so
# PostgreSQL matches query and index exactly.
SEARCH_VECTOR = SearchVector("search_text", config="simple")


def find_customer(contact: str, *, region: str | None = None) -> Customer | None:
    """The customer a phone (any format) or email belongs to, in one query on the unique
    (kind, network, value) index; None when nobody has it or the value is not a phone/email."""
    try:
        if guess_kind(contact) == ContactPointKind.EMAIL:
            kind, value = ContactPointKind.EMAIL, normalize_email(contact)
        else:
            kind, value = ContactPointKind.PHONE, normalize_phone(contact, region)
    except InvalidContact:
        return None
    point = ContactPoint.objects.select_related("customer").filter(kind=kind, network="", value=value).first()
    return point.customer if point else None


def customer_base_queryset() -> QuerySet[Customer]:
    return Customer.objects.select_related("organization", "owner")


def _exact_contact_ids(term: str) -> list[int]:
    """A search term that is a whole phone number or email matches its contact point exactly."""
    try:
        if "@" in term:
            value, kind = normalize_email(term), ContactPointKind.EMAIL
        elif sum(ch.isdigit() for ch in term) >= 6:
            value, kind = normalize_phone(term, settings.DEFAULT_PHONE_REGION), ContactPointKind.PHONE
        else:
            return []
    except InvalidContact:
        return []
    return list(
        ContactPoint.objects.filter(kind=kind, network="", value=value).values_list("customer_id", flat=True)
    )


def _digits_only(term: str) -> str:
    return "".join(ch for ch in term if ch.isdigit())


def customer_search(query: str, queryset: QuerySet[Customer] | None = None) -> QuerySet[Customer]:
    """Customers matching `query` by name, organization, email or phone (any format).

    PostgreSQL: full-text on search_text (simple config, GIN) OR substring/trigram on the same text
    (gin_trgm_ops), ranked by trigram word similarity. SQLite: case-insensitive substring per word.
    A query that is a whole phone number or email also matches the contact point exactly.
    """
    qs = queryset if queryset is not None else customer_base_queryset()
    term = " ".join((query or "").split())
    if not term:
        return qs
    exact_ids = _exact_contact_ids(term)
    words = term.lower().split()
    digits = _digits_only(term)
    if digits and len(digits) >= 4 and not any(ch.isalpha() for ch in term):
        # A partial phone number typed with separators: compare digits only.
        words = [digits]
    if connection.vendor == "postgresql":
        text_match = Q()
        for word in words:
            text_match &= Q(search_text__contains=word)
        fts = Q(fts=SearchQuery(term, config="simple", search_type="websearch"))
        qs = qs.annotate(fts=SEARCH_VECTOR, similarity=TrigramWordSimilarity(term.lower(), "search_text"))
        condition = fts | text_match
        if exact_ids:
            condition |= Q(pk__in=exact_ids)
        return qs.filter(condition).order_by("-similarity", "-updated_at", "-id")
    condition = Q()
    for word in words:
        condition &= Q(search_text__contains=word)
    if exact_ids:
        condition |= Q(pk__in=exact_ids)
    return qs.filter(condition)


def customer_detail(pk: int) -> Customer:
    """One customer with everything the detail page shows, in a fixed number of queries."""
    return (
        customer_base_queryset()
        .prefetch_related(
            Prefetch("contact_points", queryset=ContactPoint.objects.order_by("kind", "-is_primary", "id")),
            "tags",
        )
        .get(pk=pk)
    )


CUSTOMER_FILTERS = (
    "q",
    "tag",
    "owner",
    "organization",
    "lifecycle_stage",
    "time_zone",
    "dnc",
    "updated_since",
)


def customer_filter(
    params: Mapping[str, str], queryset: QuerySet[Customer] | None = None
) -> QuerySet[Customer]:
    """The filters the list page, the CSV export and the API share. Unknown or empty parameters
    are ignored; a malformed value raises ValidationError (shown next to the filter, 400 in the API).

    q: search text; tag: tag name; owner: user id or "me" is resolved by the caller; organization:
    organization id; lifecycle_stage; time_zone; dnc: "yes"/"no" (has a do-not-call phone);
    updated_since: ISO date.
    """
    qs = queryset if queryset is not None else customer_base_queryset()
    qs = qs.filter(is_erased=False)
    if tag := (params.get("tag") or "").strip():
        qs = qs.filter(tags__name=tag)
    if owner := (params.get("owner") or "").strip():
        if owner == "none":
            qs = qs.filter(owner__isnull=True)
        elif owner.isdigit():
            qs = qs.filter(owner_id=int(owner))
        else:
            raise ValidationError({"owner": "Owner must be a user id or 'none'."})
    if organization := (params.get("organization") or "").strip():
        if not organization.isdigit():
            raise ValidationError({"organization": "Organization must be an id."})
        qs = qs.filter(organization_id=int(organization))
    if stage := (params.get("lifecycle_stage") or "").strip():
        if stage not in LifecycleStage.values:
            raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage {stage!r}."})
        qs = qs.filter(lifecycle_stage=stage)
    if zone := (params.get("time_zone") or "").strip():
        qs = qs.filter(time_zone=zone)
    if dnc := (params.get("dnc") or "").strip().lower():
        has_dnc = ContactPoint.objects.filter(customer=OuterRef("pk"), do_not_call=True)
        if dnc in {"yes", "true", "1"}:
            qs = qs.filter(Exists(has_dnc))
        elif dnc in {"no", "false", "0"}:
            qs = qs.exclude(Exists(has_dnc))
        else:
            raise ValidationError({"dnc": "Use yes or no."})
    if since := (params.get("updated_since") or "").strip():
        try:
            day = dt.date.fromisoformat(since)
        except ValueError as exc:
            raise ValidationError({"updated_since": "Use a date as YYYY-MM-DD."}) from exc
        qs = qs.filter(updated_at__date__gte=day)
    if q := (params.get("q") or "").strip():
        qs = customer_search(q, qs)
    return qs
