"""The fields a column can be mapped to, and the header synonyms that pre-fill the mapping."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Every field a column can feed, in the order export writes them. More than one phone or email
# column is allowed; the first non-empty one of each kind becomes the primary contact point.
PHONE_FIELDS = ("phone", "phone_2", "phone_3")
EMAIL_FIELDS = ("email", "email_2", "email_3")
CONSENT_FIELDS = ("do_not_call", "email_opt_out", "sms_opt_in")
PLAIN_FIELDS = (
    "external_id",
    "first_name",
    "last_name",
    *EMAIL_FIELDS,
    *PHONE_FIELDS,
    "organization",
    "job_title",
    "lifecycle_stage",
    "time_zone",
    "tags",
    "owner",
    *CONSENT_FIELDS,
)
CUSTOM_PREFIX = "custom:"

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": (
        "external id",
        "externalid",
        "id",
        "customer id",
        "crm id",
        "record id",
        "ref",
        "reference",
    ),
    "first_name": ("first name", "firstname", "given name", "forename", "first"),
    "last_name": ("last name", "lastname", "surname", "family name", "last"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "email 1", "work email"),
    "email_2": ("email 2", "e-mail 2", "email2", "other email", "secondary email", "personal email"),
    "email_3": ("email 3", "e-mail 3", "email3"),
    "phone": (
        "phone",
        "phone number",
        "telephone",
        "tel",
        "mobile",
        "mobile phone",
        "cell",
        "cell phone",
        "phone 1",
        "work phone",
    ),
    "phone_2": ("phone 2", "phone2", "other phone", "secondary phone", "home phone", "telephone 2"),
    "phone_3": ("phone 3", "phone3", "telephone 3"),
    "organization": ("organization", "organisation", "company", "company name", "account", "employer"),
    "job_title": ("job title", "title", "position", "role", "jobtitle"),
    "lifecycle_stage": ("lifecycle stage", "lifecycle", "stage", "status"),
    "time_zone": ("time zone", "timezone", "tz"),
    "tags": ("tags", "tag", "labels", "segments"),
    "owner": ("owner", "account owner", "assigned to", "owner username"),
    "do_not_call": ("do not call", "dnc", "donotcall"),
    "email_opt_out": ("email opt out", "unsubscribed", "emailoptout", "email unsubscribed"),
    "sms_opt_in": ("sms opt in", "smsoptin", "sms consent"),
}

_SQUASH = re.compile(r"[\s_\-.:/]+")


def squash(header: str) -> str:
    """Header text compared without case, spaces, underscores, dashes or dots."""
    return _SQUASH.sub("", header.strip().lower())


def _synonym_index(custom_keys: Iterable[str]) -> dict[str, str]:
    index: dict[str, str] = {}
    for field in PLAIN_FIELDS:
        index.setdefault(squash(field), field)
        for synonym in _SYNONYMS.get(field, ()):
            index.setdefault(squash(synonym), field)
    for key in custom_keys:
        field = f"{CUSTOM_PREFIX}{key}"
        index.setdefault(squash(field), field)
        index.setdefault(squash(key), field)
    return index


def suggest_mapping(headers: Iterable[str], custom_keys: Iterable[str]) -> dict[str, str]:
    """field -> header for every header that names a field or one of its synonyms; the first
    header wins when two name the same field."""
    index = _synonym_index(custom_keys)
    mapping: dict[str, str] = {}
    for header in headers:
        field = index.get(squash(header))
        if field is not None and field not in mapping:
            mapping[field] = header
    return mapping


def known_fields(custom_keys: Iterable[str]) -> list[str]:
    return [*PLAIN_FIELDS, *(f"{CUSTOM_PREFIX}{key}" for key in custom_keys)]
