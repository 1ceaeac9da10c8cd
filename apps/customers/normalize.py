"""Normalization of contact values: the one definition of "the same phone/email/handle" used by
forms, the API, imports and inbound routing alike."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from phonenumbers import timezone as phone_timezone

from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPointKind

_HANDLE_RE = re.compile(r"^[a-z0-9_.+\-]{1,100}$")


# What phonenumbers' parse error types mean, said to a person (its exception's own message is
# a private attribute, and reads like a developer's).
_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no known country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it does not look like a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Any written form of a phone number -> E.164 (`+14155550123`); raise InvalidContact if the
    number is not a valid number (in `region` when it carries no country code)."""
    text = (raw or "").strip()
    if not text:
        raise InvalidContact("Phone number is empty.")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, (region or settings.DEFAULT_PHONE_REGION).upper())
    except phonenumbers.NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a phone number")
        raise InvalidContact(f"{raw!r} is not a phone number ({reason}).") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidContact(f"{raw!r} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    value = (raw or "").strip().lower()
    try:
        validate_email(value)
    except ValidationError as exc:
        raise InvalidContact(f"{raw!r} is not a valid email address.") from exc
    return value


def normalize_handle(raw: str) -> str:
    value = (raw or "").strip().lower().lstrip("@")
    if not _HANDLE_RE.match(value):
        raise InvalidContact(f"{raw!r} is not a valid handle.")
    return value


def normalize_contact(kind: str, raw: str, *, region: str | None = None) -> str:
    if kind == ContactPointKind.PHONE:
        return normalize_phone(raw, region)
    if kind == ContactPointKind.EMAIL:
        return normalize_email(raw)
    if kind == ContactPointKind.SOCIAL:
        return normalize_handle(raw)
    raise InvalidContact(f"Unknown contact kind {kind!r}.")


def guess_kind(raw: str) -> str:
    """What a bare value typed in a search box or sent by a provider most likely is."""
    return ContactPointKind.EMAIL if "@" in raw else ContactPointKind.PHONE


@lru_cache(maxsize=4096)
def time_zone_for_phone(e164: str) -> str:
    """The IANA zone of a phone number's region ('' when the region spans zones it can't tell)."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return ""
    zones = [z for z in phone_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    return zones[0] if zones else ""


def time_zone_from_phones(
    phones: Iterable[str], *, zone_of: Callable[[str], str] = time_zone_for_phone
) -> str:
    """The time zone of a customer who has none set, derived from its phones (E.164, primary
    first, then oldest): the zone of the first phone that tells one (time_zone_for_phone), ''
    when none does. The one rule the services, merge, the admin and imports apply; the importer
    passes `zone_of` to reuse the zones its fast path already looked up."""
    for phone in phones:
        zone = zone_of(phone)
        if zone:
            return zone
    return ""


def phone_digits(e164: str) -> str:
    return e164.lstrip("+")
