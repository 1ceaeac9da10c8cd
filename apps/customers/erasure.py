"""The register of erased contact points: a person whose data was erased must not come back
by accident (an agent typing their number again, an import of an old list, their next call).

Each erased contact point is kept as an HMAC-SHA256 of its normalized form (E.164 phone,
lower-cased email, network and lower-cased handle), keyed with a key derived from SECRET_KEY
(django.utils.crypto.salted_hmac). The register can answer "was this value erased?" for a value
someone already holds, and nothing else: without the key a digest cannot be tested against a
list of numbers, and nobody can read a value back out of it.

Rotating SECRET_KEY changes every digest: the register then recognizes nothing erased before
the rotation (SECRET_KEY_FALLBACKS are not consulted, so a rotation is a deliberate reset).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPointKind, ErasedContact
from apps.customers.normalize import normalize_contact

# Changing the salt is changing the key: every digest stored before would stop matching.
_KEY_SALT = "apps.customers.erasure.ErasedContact"
# Digests per IN (...) query: well under SQLite's and PostgreSQL's parameter limits.
_QUERY_CHUNK = 500

ContactValue = tuple[str, str, str]
"""(kind, value, network): network is "" except for social handles."""


def _normalized_key(kind: str, value: str, network: str, *, normalized: bool) -> str:
    """The text that is hashed: kind, network and the normalized value. Raises InvalidContact."""
    if kind not in ContactPointKind.values:
        raise InvalidContact(f"Unknown contact kind {kind!r}.")
    network = (network or "").strip().lower() if kind == ContactPointKind.SOCIAL else ""
    if not normalized:
        value = normalize_contact(kind, value)
    return f"{kind}\x1f{network}\x1f{value}"


def erased_contact_digest(kind: str, value: str, network: str = "", *, normalized: bool = False) -> str:
    """The register's digest of a contact point (hex, 64 characters). `value` is normalized
    first (any written form of a phone gives the digest of its E.164 form) unless `normalized`
    says it already is, as stored in ContactPoint.value. Raises InvalidContact for a value that
    is not a phone, email or handle."""
    text = _normalized_key(kind, value, network, normalized=normalized)
    return salted_hmac(_KEY_SALT, text, algorithm="sha256").hexdigest()


def is_erased_contact(kind: str, value: str, network: str = "", *, normalized: bool = False) -> bool:
    """Whether the contact point belongs to a person whose data was erased (one indexed query).
    A value that does not normalize was never a stored contact point: False."""
    try:
        digest = erased_contact_digest(kind, value, network, normalized=normalized)
    except InvalidContact:
        return False
    return ErasedContact.objects.filter(digest=digest).exists()


def erased_among(values: Iterable[ContactValue], *, normalized: bool = False) -> set[ContactValue]:
    """The (kind, value, network) tuples of `values` that are erased contact points, as given.
    One query per 500 distinct values, so an import checks a batch of rows at once; values that
    do not normalize are never erased (the importer rejects them for their own reason).
    `normalized=True` skips normalizing (the importer's values are already E.164 / lower-case)."""
    by_digest: dict[str, list[ContactValue]] = {}
    for item in values:
        kind, value, network = item
        try:
            digest = erased_contact_digest(kind, value, network, normalized=normalized)
        except InvalidContact:
            continue
        by_digest.setdefault(digest, []).append(item)
    digests = list(by_digest)
    found: set[ContactValue] = set()
    for start in range(0, len(digests), _QUERY_CHUNK):
        chunk = digests[start : start + _QUERY_CHUNK]
        for digest in ErasedContact.objects.filter(digest__in=chunk).values_list("digest", flat=True):
            found.update(by_digest[digest])
    return found


def erased_digests() -> frozenset[str]:
    """Every digest in the register, read once. For work that checks very many values in one go
    (an import of a million rows computes each row's digests locally and tests them against
    this set instead of sending a query per row); an empty register, the usual case, costs one
    query and no hashing. See `erased_contact_digest` for what a digest is made of."""
    return frozenset(ErasedContact.objects.values_list("digest", flat=True))


def erased_contacts_record(*, values: Iterable[ContactValue], at: dt.datetime | None = None) -> int:
    """Add normalized contact points (as stored in ContactPoint.value) to the register; one that
    is there already keeps its first erasure time. Returns how many were new. Call inside the
    erasure's transaction, so the register and the erasure commit together."""
    digests = {
        erased_contact_digest(kind, value, network, normalized=True) for kind, value, network in values
    }
    if not digests:
        return 0
    present = set(ErasedContact.objects.filter(digest__in=digests).values_list("digest", flat=True))
    when = at or timezone.now()
    new = [ErasedContact(digest=digest, erased_at=when) for digest in sorted(digests - present)]
    # ignore_conflicts: two erasures of two records of one person may race for the same digest.
    ErasedContact.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
