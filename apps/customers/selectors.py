"""Reads shared by pages, the API, tasks and (later) inbound routing."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector, TrigramWordSimilarity
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet

from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind, Customer
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
    point = (
        ContactPoint.objects.select_related("customer")
        .filter(kind=kind, network="", value=value)
        .first()
    )
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
    return list(ContactPoint.objects.filter(kind=kind, network="", value=value).values_list("customer_id", flat=True))


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
