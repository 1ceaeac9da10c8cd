"""Per-row validation: one file row (strings) -> a CleanRow ready to write, or the reason it is
rejected. Pure Python with no database access, so a process pool can run it (the owners,
custom field definitions and mapping are loaded once and travel with the validator)."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from apps.customers.custom_fields import coerce_value
from apps.customers.erasure import erased_contact_digest
from apps.customers.exceptions import ContactErased, InvalidContact
from apps.customers.importing.fields import CONSENT_FIELDS, CUSTOM_PREFIX, EMAIL_FIELDS, PHONE_FIELDS
from apps.customers.importing.phones import fast_normalize_phone
from apps.customers.models import ContactPointKind, CustomFieldDefinition, LifecycleStage
from apps.customers.normalize import (
    normalize_email,
    normalize_phone,
    time_zone_for_phone,
    time_zone_from_phones,
)
from apps.customers.services.customers import build_search_text

_YES = frozenset({"yes", "y", "true", "1", "on", "x"})
_NO = frozenset({"no", "n", "false", "0", "off"})
_TAG_SPLIT = re.compile(r"[;,]")
# A strict subset of what Django's validate_email accepts; anything else goes through
# normalize_email itself, so both paths give the same answer.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_%+\-]+(?:\.[a-z0-9_%+\-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_MAX = {"external_id": 100, "first_name": 100, "last_name": 100, "organization": 200, "job_title": 100}
_CONTACT_MAX = 254
NEEDS_NAME_OR_CONTACT = "needs at least a name, a phone or an email"
# C0 and C1 control characters (tab, newline and carriage return included): none belongs in a
# name, an organization, a job title or an external id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class CleanRow:
    """A validated row. Empty cells are absent values: they never clear what a customer has."""

    __slots__ = (
        "cells",
        "consent",
        "custom",
        "emails",
        "external_id",
        "first_name",
        "job_title",
        "last_name",
        "line",
        "lifecycle_stage",
        "organization",
        "owner_id",
        "phone_zone",
        "phones",
        "search_text",
        "tags",
        "time_zone",
    )

    def __init__(self, line: int, cells: list[str]) -> None:
        self.line = line
        self.cells = cells
        self.external_id = ""
        self.first_name = ""
        self.last_name = ""
        self.organization = ""
        self.job_title = ""
        self.owner_id: int | None = None
        self.lifecycle_stage = ""
        self.time_zone = ""
        self.tags: tuple[str, ...] = ()
        self.phones: tuple[str, ...] = ()
        self.emails: tuple[str, ...] = ()
        self.phone_zone = ""
        self.consent: dict[str, bool] = {}
        self.custom: dict[str, Any] = {}
        self.search_text = ""

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)

    def has_name_or_contact(self) -> bool:
        return bool(self.first_name or self.last_name or self.phones or self.emails)

    def identifiers(self) -> list[tuple[str, str]]:
        """(kind, value) of everything that identifies the customer: external id, phones, emails."""
        keys = [(ContactPointKind.PHONE.value, p) for p in self.phones]
        keys += [(ContactPointKind.EMAIL.value, e) for e in self.emails]
        if self.external_id:
            keys.insert(0, ("external_id", self.external_id))
        return keys

    def contact_values(self) -> list[tuple[str, str]]:
        """Contact points in the order the customer's contact_points relation lists them once
        created (primary first, then by kind, then by creation), as search_text needs them."""
        ordered: list[tuple[str, str]] = []
        if self.emails:
            ordered.append((ContactPointKind.EMAIL.value, self.emails[0]))
        if self.phones:
            ordered.append((ContactPointKind.PHONE.value, self.phones[0]))
        ordered += [(ContactPointKind.EMAIL.value, e) for e in self.emails[1:]]
        ordered += [(ContactPointKind.PHONE.value, p) for p in self.phones[1:]]
        return ordered

    def new_search_text(self, organization_name: str) -> str:
        return build_search_text(
            first_name=self.first_name,
            last_name=self.last_name,
            organization_name=organization_name,
            contact_values=self.contact_values(),
        )


@dataclass
class RowError:
    line: int
    reason: str
    cells: list[str] = field(default_factory=list)


def _yes_no(text: str) -> bool | None:
    value = text.strip().lower()
    if not value:
        return None
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValueError(f"{text!r} is not yes or no")


class RowValidator:
    """Validates rows of one file: `columns` maps each field to its column index."""

    def __init__(
        self,
        *,
        columns: dict[str, int],
        header_size: int,
        region: str,
        definitions: list[CustomFieldDefinition],
        owners: dict[str, int],
        erased: frozenset[str] = frozenset(),
    ) -> None:
        self.region = region.upper()
        # The register of erased contact points (apps.customers.erasure.erased_digests): a row
        # that names an erased person's phone or email is rejected, never imported silently.
        self.erased = erased
        self.header_size = header_size
        self.owners = {name.lower(): pk for name, pk in owners.items()}
        self.plain = [(name, columns[name]) for name in _MAX if name in columns]
        self.phone_columns = [columns[f] for f in PHONE_FIELDS if f in columns]
        self.email_columns = [columns[f] for f in EMAIL_FIELDS if f in columns]
        self.consent_columns = [(f, columns[f]) for f in CONSENT_FIELDS if f in columns]
        self.stage_column = columns.get("lifecycle_stage")
        self.zone_column = columns.get("time_zone")
        self.tags_column = columns.get("tags")
        self.owner_column = columns.get("owner")
        by_key = {d.key: d for d in definitions}
        self.custom_columns = [
            (by_key[name[len(CUSTOM_PREFIX) :]], index)
            for name, index in columns.items()
            if name.startswith(CUSTOM_PREFIX) and name[len(CUSTOM_PREFIX) :] in by_key
        ]
        self.stages = {v: v for v in LifecycleStage.values}
        self.stages.update({str(label).lower(): v for v, label in LifecycleStage.choices})
        self.zones = frozenset(zoneinfo.available_timezones())

    def phone(self, text: str) -> tuple[str, str]:
        fast = fast_normalize_phone(text, self.region)
        if fast is not None:
            return fast
        e164 = normalize_phone(text, self.region)
        return e164, time_zone_for_phone(e164)

    @staticmethod
    def email(text: str) -> str:
        value = text.strip().lower()
        if len(value) > _CONTACT_MAX:
            raise InvalidContact(f"{text[:40]!r}... is longer than {_CONTACT_MAX} characters.")
        if _PLAIN_EMAIL.fullmatch(value):
            return value
        return normalize_email(text)

    def contact_points(
        self, cells: list[str], problems: list[str]
    ) -> tuple[list[str], dict[str, str], list[str]]:
        """The row's phones (E.164, without repeats, in column order), the time zone each one
        tells, and its emails (normalized, without repeats). The one place a row's contact
        points are validated: each unusable one adds its reason to `problems` (the row is then
        rejected with it)."""
        phones: list[str] = []
        zones: dict[str, str] = {}
        for index in self.phone_columns:
            text = cells[index]
            if text.strip():
                try:
                    e164, zone = self.phone(text)
                except InvalidContact as exc:
                    problems.append(f"phone: {exc}")
                    continue
                if self.is_erased(ContactPointKind.PHONE, e164):
                    problems.append(f"phone: {ContactErased(e164)}")
                    continue
                if e164 not in zones:
                    zones[e164] = zone
                    phones.append(e164)
        emails: list[str] = []
        for index in self.email_columns:
            text = cells[index]
            if text.strip():
                try:
                    value = self.email(text)
                except InvalidContact as exc:
                    problems.append(f"email: {exc}")
                    continue
                if self.is_erased(ContactPointKind.EMAIL, value):
                    problems.append(f"email: {ContactErased(value)}")
                    continue
                if value not in emails:
                    emails.append(value)
        return phones, zones, emails

    def is_erased(self, kind: str, value: str) -> bool:
        """Whether a normalized phone or email is in the register (no hashing when it is empty)."""
        return bool(self.erased) and erased_contact_digest(kind, value, normalized=True) in self.erased

    def validate(self, line: int, cells: list[str], problem: str = "") -> CleanRow | RowError:
        if problem:
            return RowError(line, problem, cells)
        if len(cells) > self.header_size and any(c.strip() for c in cells[self.header_size :]):
            return RowError(
                line,
                f"The row has {len(cells)} cells but the header names {self.header_size} columns.",
                cells,
            )
        if len(cells) < self.header_size:
            cells = cells + [""] * (self.header_size - len(cells))
        row = CleanRow(line, cells)
        problems: list[str] = []
        for name, index in self.plain:
            value = cells[index].strip()
            if len(value) > _MAX[name]:
                problems.append(f"{name} is longer than {_MAX[name]} characters")
            elif (control := _CONTROL.search(value)) is not None:
                # Never in a name; most often a sign the file was read in the wrong encoding.
                problems.append(
                    f"{name} holds the control character U+{ord(control.group()):04X}; remove it "
                    "(or save the file as CSV UTF-8 if the names look garbled)"
                )
            setattr(row, name, value)
        phones, zones, emails = self.contact_points(cells, problems)
        row.phones = tuple(phones)
        # The zones the phone lookup already found, so the shared rule does no second lookup.
        row.phone_zone = time_zone_from_phones(phones, zone_of=zones.__getitem__)
        row.emails = tuple(emails)
        if self.stage_column is not None and (stage := cells[self.stage_column].strip()):
            known = self.stages.get(stage.lower())
            if known is None:
                problems.append(f"lifecycle_stage {stage!r} is not one of {', '.join(LifecycleStage.values)}")
            else:
                row.lifecycle_stage = known
        if self.zone_column is not None and (zone := cells[self.zone_column].strip()):
            if zone in self.zones:
                row.time_zone = zone
            else:
                problems.append(f"time_zone {zone!r} is not a known IANA time zone (e.g. Europe/Paris)")
        if self.tags_column is not None and (text := cells[self.tags_column].strip()):
            tags = sorted({t.strip() for t in _TAG_SPLIT.split(text) if t.strip()})
            long = [t for t in tags if len(t) > 64]
            if long:
                problems.append(f"tag {long[0][:20]!r}... is longer than 64 characters")
            row.tags = tuple(tags)
        if self.owner_column is not None and (username := cells[self.owner_column].strip()):
            owner_id = self.owners.get(username.lower())
            if owner_id is None:
                problems.append(f"owner {username!r} is not a user")
            row.owner_id = owner_id
        for name, index in self.consent_columns:
            try:
                flag = _yes_no(cells[index])
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
                continue
            if flag is not None:
                row.consent[name] = flag
        for definition, index in self.custom_columns:
            text = cells[index]
            if text.strip():
                try:
                    row.custom[definition.key] = coerce_value(definition, text)
                except ValueError as exc:
                    problems.append(f"custom field {definition.key} {exc}")
        # An external id alone may update a customer; BatchWriter rejects it if it is new.
        if not (row.external_id or row.has_name_or_contact()) and not problems:
            problems.append(NEEDS_NAME_OR_CONTACT)
        if problems:
            return RowError(line, "; ".join(problems), cells)
        row.search_text = row.new_search_text(row.organization)
        return row

    def validate_many(self, rows: list[tuple[int, list[str], str]]) -> list[CleanRow | RowError]:
        return [self.validate(line, cells, problem) for line, cells, problem in rows]
