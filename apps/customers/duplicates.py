"""Duplicate detection: customers that are probably the same person, each with plain-word reasons.

A contact point belongs to one customer (unique index), so two customers never share a phone or
an email. Duplicates show up instead as:
- the same name (case- and accent-insensitive) or a similar one (trigram similarity >= 0.6, the
  measure pg_trgm uses), stronger with the same organization;
- the same phone number typed with another country code (+33 612345678 and +34 612345678);
- the same email user at another domain (jane.doe@gmail.com and jane.doe@work.example).

Every query is bounded: candidates for one customer come from indexed lookups (the trigram GIN
index on search_text via the `%>` operator on PostgreSQL, the unique contact point index for
phones), and the list of pairs groups rows by key in one pass per kind with a LIMIT, never
comparing every customer with every other. Erased customers are never candidates.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import CharField, Count, Expression, F, Func, Q, QuerySet, Value
from django.db.models.functions import Concat, Lower, Right, StrIndex, Substr

from apps.customers.models import ContactPoint, ContactPointKind, Customer

SIMILAR_NAME_THRESHOLD = 0.6
# How many rows one lookup may bring back; keeps a page fast even for "John Smith".
_CANDIDATE_CAP = 200
_PAIRS_PER_GROUP = 10
# Shared mailbox names say nothing about the person behind them.
GENERIC_EMAIL_USERS = frozenset(
    {"info", "contact", "admin", "office", "sales", "support", "hello", "mail", "team", "billing", "noreply"}
)

_SCORE_SAME_NAME = 0.5
_SCORE_SAME_ORGANIZATION = 0.2
_SCORE_SAME_PHONE = 0.35
_SCORE_SAME_EMAIL_USER = 0.3


@dataclass
class DuplicateCandidate:
    customer: Customer
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0


@dataclass
class DuplicatePair:
    first: Customer
    second: Customer
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0


def normalize_name(first_name: str, last_name: str) -> str:
    """'  José  GARCÍA ' -> 'jose garcia': the one definition of "the same name"."""
    text = unicodedata.normalize("NFKD", f"{first_name} {last_name}")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().split())


def _trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams: each alphanumeric word padded with two spaces before, one after."""
    words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
    grams: set[str] = set()
    for word in words:
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def name_similarity(a: str, b: str) -> float:
    """pg_trgm similarity() computed in Python, so both databases explain a match the same way."""
    left, right = _trigrams(a), _trigrams(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def _accent_map() -> tuple[str, str]:
    accented, plain = [], []
    for code in range(0xC0, 0x250):
        ch = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if len(base) == 1 and base != ch and base.isascii():
            accented.append(ch.lower())
            plain.append(base.lower())
    pairs = dict(zip(accented, plain, strict=True))
    return "".join(pairs), "".join(pairs.values())


_ACCENTED, _PLAIN = _accent_map()


def _normalized_name_expression() -> Expression:
    """SQL twin of normalize_name (PostgreSQL strips accents with translate(); SQLite lower-cases)."""
    full = Lower(Concat(F("first_name"), Value(" "), F("last_name"), output_field=CharField()))
    if connection.vendor == "postgresql":
        return Func(full, Value(_ACCENTED), Value(_PLAIN), function="translate", output_field=CharField())
    return full


def _phone_key(e164: str) -> tuple[int, str] | None:
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    return int(parsed.country_code or 0), phonenumbers.national_significant_number(parsed)


def _email_user(value: str) -> tuple[str, str]:
    user, _, domain = value.partition("@")
    return user, domain


def compare_customers(
    a: Customer, a_points: Iterable[ContactPoint], b: Customer, b_points: Iterable[ContactPoint]
) -> tuple[list[str], float]:
    """Plain-word reasons why `a` and `b` may be the same person, and a score in [0, 1]."""
    reasons: list[str] = []
    score = 0.0
    name_a = normalize_name(a.first_name, a.last_name)
    name_b = normalize_name(b.first_name, b.last_name)
    names_match = False
    if name_a and name_b:
        if name_a == name_b:
            reasons.append("same name")
            score += _SCORE_SAME_NAME
            names_match = True
        else:
            similarity = name_similarity(name_a, name_b)
            if similarity >= SIMILAR_NAME_THRESHOLD:
                reasons.append(f"similar name ({similarity:.2f})")
                score += _SCORE_SAME_NAME * similarity
                names_match = True
    if names_match and a.organization_id and a.organization_id == b.organization_id:
        reasons.append(f"same organization ({a.organization})")
        score += _SCORE_SAME_ORGANIZATION

    phones_a = {
        key: p.value for p in a_points if p.kind == ContactPointKind.PHONE and (key := _phone_key(p.value))
    }
    phones_b = {
        key: p.value for p in b_points if p.kind == ContactPointKind.PHONE and (key := _phone_key(p.value))
    }
    by_national_b = {national: value for (_, national), value in phones_b.items()}
    for (_, national), value in phones_a.items():
        other = by_national_b.get(national)
        if other is not None and other != value:
            reasons.append(f"same phone number with another country code ({value} / {other})")
            score += _SCORE_SAME_PHONE
            break

    emails_b: dict[str, str] = {}
    for p in b_points:
        if p.kind == ContactPointKind.EMAIL:
            user, domain = _email_user(p.value)
            emails_b.setdefault(user, domain)
    for p in a_points:
        if p.kind != ContactPointKind.EMAIL:
            continue
        user, domain = _email_user(p.value)
        other_domain = emails_b.get(user)
        if user not in GENERIC_EMAIL_USERS and other_domain is not None and other_domain != domain:
            reasons.append(f"same email user '{user}' at another domain ({domain} / {other_domain})")
            score += _SCORE_SAME_EMAIL_USER
            break
    return reasons, round(min(score, 1.0), 2)


def _live_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(is_erased=False)


def _ids_with_similar_name(customer: Customer) -> set[int]:
    name = " ".join(f"{customer.first_name} {customer.last_name}".lower().split())
    plain = normalize_name(customer.first_name, customer.last_name)
    if not plain:
        return set()
    qs = _live_customers().exclude(pk=customer.pk)
    if connection.vendor == "postgresql":
        # `search_text %> name` is answered by the trigram GIN index on search_text (word
        # similarity >= 0.6); searching the accent-free spelling too finds "Jose" for "José".
        condition = Q(search_text__trigram_word_similar=name) | Q(search_text__trigram_word_similar=plain)
    else:
        condition = Q(
            first_name__iexact=customer.first_name.strip(), last_name__iexact=customer.last_name.strip()
        )
    return set(qs.filter(condition).values_list("pk", flat=True)[:_CANDIDATE_CAP])


def _ids_with_phone_in_other_country(points: list[ContactPoint], customer: Customer) -> set[int]:
    values: set[str] = set()
    for point in points:
        key = _phone_key(point.value) if point.kind == ContactPointKind.PHONE else None
        if key is None:
            continue
        own_code, national = key
        # Exact E.164 values on the unique index: about 215 country codes, one index probe each.
        values.update(
            f"+{code}{national}" for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if code != own_code
        )
    if not values:
        return set()
    return set(
        ContactPoint.objects.filter(kind=ContactPointKind.PHONE, network="", value__in=values)
        .exclude(customer_id=customer.pk)
        .values_list("customer_id", flat=True)[:_CANDIDATE_CAP]
    )


def _ids_with_email_user(points: list[ContactPoint], customer: Customer) -> set[int]:
    users = {
        _email_user(p.value)[0]
        for p in points
        if p.kind == ContactPointKind.EMAIL and _email_user(p.value)[0] not in GENERIC_EMAIL_USERS
    }
    if not users:
        return set()
    ids: set[int] = set()
    for user in users:
        if connection.vendor == "postgresql":
            # search_text holds the emails; the trigram index answers the substring match.
            found = _live_customers().filter(search_text__contains=f"{user}@").exclude(pk=customer.pk)
            ids.update(found.values_list("pk", flat=True)[:_CANDIDATE_CAP])
        else:
            found_points = ContactPoint.objects.filter(
                kind=ContactPointKind.EMAIL, value__startswith=f"{user}@"
            ).exclude(customer_id=customer.pk)
            ids.update(found_points.values_list("customer_id", flat=True)[:_CANDIDATE_CAP])
    return ids


def _load(ids: Iterable[int]) -> dict[int, Customer]:
    customers = (
        _live_customers()
        .filter(pk__in=list(ids))
        .select_related("organization", "owner")
        .prefetch_related("contact_points")
    )
    return {c.pk: c for c in customers}


def duplicate_candidates_for(customer: Customer, *, limit: int = 10) -> list[DuplicateCandidate]:
    """Customers that may be the same person as `customer`, best first, each with its reasons."""
    if customer.is_erased or customer.pk is None:
        return []
    points = list(ContactPoint.objects.filter(customer_id=customer.pk))
    ids = (
        _ids_with_similar_name(customer)
        | _ids_with_phone_in_other_country(points, customer)
        | _ids_with_email_user(points, customer)
    )
    ids.discard(customer.pk)
    if not ids:
        return []
    candidates = []
    for other in _load(ids).values():
        reasons, score = compare_customers(customer, points, other, other.contact_points.all())
        if reasons:
            candidates.append(DuplicateCandidate(customer=other, reasons=reasons, score=score))
    candidates.sort(key=lambda c: (-c.score, c.customer.pk))
    return candidates[:limit]


def _grouped_ids(
    qs: QuerySet[ContactPoint] | QuerySet[Customer],
    key: Expression,
    id_field: str,
    limit: int,
    ignored_keys: Iterable[str] = (),
) -> list[list[int]]:
    """Ids sharing the same `key`, for at most `limit` keys held by more than one id: one
    aggregate pass over the table (O(n)), never a comparison of every row with every other."""
    grouped = (
        qs.annotate(dup_key=key)
        .exclude(dup_key="")
        .exclude(dup_key__in=list(ignored_keys))
        .values("dup_key")
        .annotate(n=Count(id_field, distinct=True))
        .filter(n__gt=1)
        .order_by("-n", "dup_key")
    )
    if connection.vendor == "postgresql":
        rows = grouped.annotate(ids=ArrayAgg(id_field, distinct=True, order_by=id_field))[:limit]
        return [list(row["ids"]) for row in rows]
    keys = [row["dup_key"] for row in grouped[:limit]]
    by_key: dict[str, set[int]] = {}
    for dup_key, row_id in qs.annotate(dup_key=key).filter(dup_key__in=keys).values_list("dup_key", id_field):
        by_key.setdefault(dup_key, set()).add(row_id)
    return [sorted(by_key[k]) for k in keys if k in by_key]


_SIMILAR_RECENT_SQL = """
SELECT a.id, b.id
FROM (
    SELECT id, lower(first_name || ' ' || last_name) AS name
    FROM customers_customer
    WHERE NOT is_erased AND (first_name <> '' OR last_name <> '')
    ORDER BY updated_at DESC
    LIMIT %(recent)s
) AS a
CROSS JOIN LATERAL (
    SELECT c.id
    FROM customers_customer AS c
    WHERE c.search_text %%> a.name
      AND c.id <> a.id
      AND NOT c.is_erased
      AND similarity(lower(c.first_name || ' ' || c.last_name), a.name) >= %(threshold)s
    LIMIT %(per_customer)s
) AS b
LIMIT %(limit)s
"""


def _similar_name_pairs_of_recent(limit: int) -> list[list[int]]:
    """Similar (not equal) names among the most recently changed customers, where new duplicates
    appear: one index probe of the trigram GIN index per recent customer, so the cost is bounded
    by the number of recent customers examined, not by the table size."""
    with connection.cursor() as cursor:
        cursor.execute(
            _SIMILAR_RECENT_SQL,
            {
                "recent": _CANDIDATE_CAP * 2,
                "threshold": SIMILAR_NAME_THRESHOLD,
                "per_customer": 5,
                "limit": limit * 2,
            },
        )
        return [sorted(row) for row in cursor.fetchall()]


def duplicate_pairs(*, limit: int = 50) -> list[DuplicatePair]:
    """Pairs of live customers that may be the same person, best first (at most `limit`).

    Three grouping passes, each one aggregate query with a LIMIT: by normalized name, by email
    user (the part before @, shared mailbox names left out) and by the last 8 digits of phone
    numbers; on PostgreSQL also similar names of the 400 most recently changed customers
    (trigram index probes). Each group yields pairs of its oldest customer with the others, which are then
    explained by compare_customers (pairs without a reason are dropped)."""
    groups: list[list[int]] = []
    groups += _grouped_ids(
        _live_customers().exclude(first_name="", last_name=""), _normalized_name_expression(), "id", limit
    )
    emails = ContactPoint.objects.filter(kind=ContactPointKind.EMAIL, customer__is_erased=False)
    email_user = Substr("value", 1, StrIndex("value", Value("@")) - 1, output_field=CharField())
    groups += _grouped_ids(emails, email_user, "customer_id", limit, ignored_keys=GENERIC_EMAIL_USERS)
    phones = ContactPoint.objects.filter(kind=ContactPointKind.PHONE, customer__is_erased=False)
    groups += _grouped_ids(phones, Right("value", 8), "customer_id", limit)
    if connection.vendor == "postgresql":
        groups += _similar_name_pairs_of_recent(limit)

    pair_ids: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for ids in groups:
        ordered = sorted(ids)
        for other in ordered[1 : _PAIRS_PER_GROUP + 1]:
            pair = (ordered[0], other)
            if pair not in seen:
                seen.add(pair)
                pair_ids.append(pair)
    if not pair_ids:
        return []
    customers = _load({i for pair in pair_ids for i in pair})
    pairs: list[DuplicatePair] = []
    for first_id, second_id in pair_ids:
        first, second = customers.get(first_id), customers.get(second_id)
        if first is None or second is None:
            continue
        reasons, score = compare_customers(
            first, first.contact_points.all(), second, second.contact_points.all()
        )
        if reasons:
            pairs.append(DuplicatePair(first=first, second=second, reasons=reasons, score=score))
    pairs.sort(key=lambda p: (-p.score, p.first.pk, p.second.pk))
    return pairs[:limit]
