"""Contact lists from uploaded files, and the leads they give each campaign they are attached to.

An uploaded CSV/XLSX goes through the customers import, not a second importer: the same column
mapping, per-row error report (the job's rejected rows) and customer upsert. The import sends
`apps.customers.signals.import_batch_written` inside each batch's transaction;
`on_import_batch_written` turns the batch's good rows into leads of every campaign the list is
attached to, in bulk, in that same transaction (a batch and its leads commit together).

One lead per contact point per campaign: each of the row's phones for a voice or SMS campaign,
each of its emails for an email campaign. Leads are upserted on (campaign, contact): a contact
already in the campaign keeps its dialling state (status, attempts, callback) and takes the new
row's customer, fields, time zones and priority, and moves to the newer list (lead_count moves
with it). Values in the register of erased contacts never become leads.

Appointment lists name the column holding each row's appointment (naive times are in the
campaign's time zone) and how many hours before it the lead is due: next_attempt_at =
appointment_at - remind_hours_before. A value that is not a date and time leaves the lead
without an appointment (due now) and is noted in the import's error report; a past appointment
gives no lead and is noted too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.files import File
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.models import (
    Campaign,
    CampaignChannel,
    CampaignList,
    CampaignStatus,
    ContactList,
    ContactListMember,
    Lead,
    ListSource,
)
from apps.campaigns.services.campaigns import campaign_may_manage
from apps.campaigns.timezones import contact_time_zones
from apps.core.actors import Actor, require_actor
from apps.core.exceptions import Conflict, DomainError, NotAllowed
from apps.core.services import audit_record
from apps.customers.erasure import erased_contact_digest, erased_digests
from apps.customers.models import ContactPoint, ContactPointKind
from apps.customers.services.imports import import_job_create, import_read_headers, import_suggest_mapping
from apps.customers.signals import ImportedRow

logger = logging.getLogger(__name__)

# ImportJob.source of the jobs a contact list starts.
IMPORT_SOURCE = "campaign"
# Contacts per IN (...) query and per INSERT: under SQLite's parameter limit.
CHUNK = 500
MAX_SMALL = 32767  # CampaignList.priority/weight are PositiveSmallIntegerField
# The written forms an appointment cell may take besides ISO 8601 (2026-12-24 15:30, with or
# without seconds and offset; XLSX date-time cells arrive in that form).
APPOINTMENT_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M%p")
_LEAD_FIELDS = ["customer", "contact_list", "time_zones", "priority", "fields", "updated_at"]
_APPOINTMENT_FIELDS = ["appointment_at", "next_attempt_at"]


class InvalidContactList(DomainError):
    """A list's settings or file do not hold together (no name, an appointment column the file
    lacks, a completed campaign). Nothing was saved."""

    code = "invalid_contact_list"
    http_status = 400


@dataclass
class Contactable:
    """A customer as a list brings it to a campaign: its contact points, zone and fields."""

    customer_id: int
    phones: Sequence[str]
    emails: Sequence[str]
    time_zone: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    # The appointment as the source holds it: a cell's text, a custom field's value, or a
    # datetime already parsed (a lead of another campaign of the list).
    appointment: str | dt.datetime | None = None
    # The file line (uploads), for the error report's notes.
    line: int | None = None


@dataclass
class LeadsWritten:
    added: int = 0
    notes: dict[int, str] = field(default_factory=dict)


def check_manager(actor: Actor) -> None:
    require_actor(actor)
    if not campaign_may_manage(actor):
        raise NotAllowed("Only marketers and admins manage contact lists.")


def check_list_settings(
    *, name: str, priority: int, weight: int, remind_hours_before: int | None, appointment_field: str
) -> str:
    """The cleaned name, or InvalidContactList naming the setting at fault."""
    name = (name or "").strip()
    if not name:
        raise InvalidContactList("name: a contact list needs a name.")
    if len(name) > ContactList._meta.get_field("name").max_length:  # type: ignore[operator]
        raise InvalidContactList("name: at most 100 characters.")
    check_link_settings(priority=priority, weight=weight)
    if appointment_field and remind_hours_before is None:
        raise InvalidContactList(
            "remind_hours_before: an appointment list needs how many hours before the appointment to call."
        )
    if remind_hours_before is not None:
        if not appointment_field:
            raise InvalidContactList("appointment_field: name the column that holds each appointment.")
        if not 0 <= remind_hours_before <= MAX_SMALL:
            raise InvalidContactList(f"remind_hours_before: a number of hours from 0 to {MAX_SMALL}.")
    return name


def check_link_settings(*, priority: int, weight: int) -> None:
    if not 0 <= priority <= MAX_SMALL:
        raise InvalidContactList(f"priority: a whole number from 0 to {MAX_SMALL}.")
    if not 1 <= weight <= MAX_SMALL:
        raise InvalidContactList(f"weight: a whole number from 1 to {MAX_SMALL}.")


def check_campaign_open(campaign: Campaign) -> None:
    if campaign.status == CampaignStatus.COMPLETED:
        raise InvalidContactList(f"campaign: {campaign.name} is completed; it takes no new contacts.")


# -- appointments --------------------------------------------------------------------------------


def _read_date_time(text: str) -> dt.datetime | None:
    with contextlib.suppress(ValueError):  # not ISO 8601: try the spreadsheet formats
        return dt.datetime.fromisoformat(text)
    for pattern in APPOINTMENT_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern)  # noqa: DTZ007 (made aware by the caller)
        except ValueError:
            continue
    return None


def parse_appointment(value: str | dt.datetime | None, zone: str) -> tuple[dt.datetime | None, str]:
    """(aware datetime, '') or (None, why not). Empty: (None, ''). Naive times are in `zone`."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value or "").strip()
        if not text:
            return None, ""
        found = _read_date_time(text)
        if found is None:
            return None, f"{text[:40]!r} is not a date and time (e.g. 2026-12-24 15:30)"
        if len(text) <= 10:  # a date alone: fromisoformat reads it as midnight
            return None, f"{text!r} has no time of day (e.g. {text} 15:30)"
        parsed = found
    if timezone.is_naive(parsed):
        try:
            parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed, ""


# -- writing leads -------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def leads_write(
    *,
    contact_list: ContactList,
    links: Sequence[CampaignList],
    people: Sequence[Contactable],
    erased: frozenset[str],
    update_existing: bool = True,
    now: dt.datetime | None = None,
) -> LeadsWritten:
    """Create (and with update_existing, upsert) the leads `people` give each linked campaign.
    Call inside a transaction holding the list's row lock (select_for_update), so two writers
    of one list never count a lead twice. Queries: per campaign, one lock read, one insert and
    one lead_count update per 500 contacts and one per list a lead moves from; none per row.
    Returns the leads added to this list and notes per line (appointment problems)."""
    now = now or timezone.now()
    written = LeadsWritten()
    for link in links:
        campaign = link.campaign
        kind = ContactPointKind.EMAIL if campaign.channel == CampaignChannel.EMAIL else ContactPointKind.PHONE
        reminder = bool(contact_list.appointment_field) and contact_list.remind_hours_before is not None
        before = dt.timedelta(hours=contact_list.remind_hours_before or 0)
        candidates: dict[str, Lead] = {}
        with_appointment: set[str] = set()
        for person in people:
            values = person.emails if kind == ContactPointKind.EMAIL else person.phones
            if not values:
                continue
            appointment_at: dt.datetime | None = None
            if reminder:
                appointment_at, problem = parse_appointment(person.appointment, campaign.time_zone)
                if problem and person.line is not None:
                    written.notes.setdefault(
                        person.line,
                        f"{contact_list.appointment_field}: {problem}; the contact was imported and its "
                        "lead has no reminder time",
                    )
                if appointment_at is not None and appointment_at <= now:
                    if person.line is not None:
                        written.notes.setdefault(
                            person.line,
                            f"{contact_list.appointment_field}: the appointment "
                            f"{appointment_at:%Y-%m-%d %H:%M} has passed; no reminder lead",
                        )
                    continue
            for value in values:
                if value in candidates:
                    continue
                if erased and erased_contact_digest(kind, value, normalized=True) in erased:
                    continue
                candidates[value] = Lead(
                    campaign=campaign,
                    contact_list=contact_list,
                    customer_id=person.customer_id,
                    contact=value,
                    time_zones=contact_time_zones(
                        contact=value, customer_time_zone=person.time_zone, fallback=campaign.time_zone
                    ),
                    priority=link.priority,
                    fields=person.fields,
                    appointment_at=appointment_at,
                    next_attempt_at=appointment_at - before if appointment_at is not None else None,
                    created_at=now,
                    updated_at=now,
                )
                if appointment_at is not None:
                    with_appointment.add(value)
        if not candidates:
            continue
        contacts = list(candidates)
        held: dict[str, int | None] = {}
        for chunk in _chunks(contacts):
            # Locked: the list they move from loses them in the same transaction.
            held.update(
                Lead.objects.select_for_update()
                .filter(campaign=campaign, contact__in=chunk)
                .values_list("contact", "contact_list_id")
            )
        fresh = [candidates[c] for c in contacts if c not in held]
        Lead.objects.bulk_create(fresh, batch_size=CHUNK, ignore_conflicts=True)
        added = len(fresh)
        if update_existing and held:
            moved = Counter(list_id for list_id in held.values() if list_id != contact_list.pk)
            for appointment_group in (True, False):
                existing = [candidates[c] for c in held if (c in with_appointment) is appointment_group]
                if existing:
                    Lead.objects.bulk_create(
                        existing,
                        batch_size=CHUNK,
                        update_conflicts=True,
                        unique_fields=["campaign", "contact"],
                        update_fields=_LEAD_FIELDS + (_APPOINTMENT_FIELDS if appointment_group else []),
                    )
            added += sum(moved.values())
            for list_id, count in moved.items():
                if list_id is not None:
                    ContactList.objects.filter(pk=list_id).update(lead_count=F("lead_count") - count)
        written.added += added
    if written.added:
        ContactList.objects.filter(pk=contact_list.pk).update(lead_count=F("lead_count") + written.added)
    return written


# -- uploads -------------------------------------------------------------------------------------


def contact_list_create_from_upload(
    *,
    actor: Actor,
    name: str,
    uploaded_file: File,
    mapping: dict[str, str] | None = None,
    default_region: str = "US",
    campaign: Campaign | None = None,
    priority: int = 0,
    weight: int = 1,
    appointment_field: str = "",
    remind_hours_before: int | None = None,
) -> ContactList:
    """A contact list from a .csv/.xlsx: starts a customers import of it (source "campaign",
    same checks, mapping and error report; the job runs in the imports worker after commit) and
    attaches the list to `campaign` when given. Its leads appear as the import's batches commit.
    `appointment_field` names a column of the file left unmapped. Marketers and admins only
    (NotAllowed); bad settings: InvalidContactList; an unreadable file or a bad mapping:
    ValidationError (from the import). Nothing is saved when a check fails."""
    check_manager(actor)
    name = check_list_settings(
        name=name,
        priority=priority,
        weight=weight,
        remind_hours_before=remind_hours_before,
        appointment_field=appointment_field,
    )
    if campaign is not None:
        check_campaign_open(campaign)
    headers = import_read_headers(uploaded_file=uploaded_file)
    chosen = dict(mapping) if mapping is not None else import_suggest_mapping(headers)
    if appointment_field:
        if appointment_field not in headers:
            raise InvalidContactList(
                f"appointment_field: the file has no column {appointment_field!r} "
                f"(its columns: {', '.join(headers)})."
            )
        if appointment_field in chosen.values():
            raise InvalidContactList(
                f"appointment_field: column {appointment_field!r} is mapped to a customer field; "
                "leave it unmapped so each lead keeps it."
            )
    file_name = uploaded_file.name or "contacts.csv"
    with transaction.atomic():
        job = import_job_create(
            actor=actor,
            uploaded_file=uploaded_file,
            file_name=file_name,
            mapping=chosen,
            default_region=default_region,
            source=IMPORT_SOURCE,
        )
        contact_list = ContactList.objects.create(
            name=name,
            source=ListSource.UPLOAD,
            import_job=job,
            appointment_field=appointment_field,
            remind_hours_before=remind_hours_before,
            created_by=actor if isinstance(actor, User) else None,
        )
        if campaign is not None:
            CampaignList.objects.create(
                campaign=campaign, contact_list=contact_list, priority=priority, weight=weight
            )
        audit_record(
            actor=actor,
            action="campaigns.contact_list_create",
            obj=contact_list,
            data={"source": ListSource.UPLOAD, "import_job": job.pk, "campaign": campaign and campaign.pk},
        )
    return contact_list


# The register of erased contacts, read once per job (a batch of the same job reuses it), keyed
# by the list and its creation time so a reused id never sees another job's register.
_erased_by_job: dict[tuple[int, dt.datetime], frozenset[str]] = {}


def _erased_for(contact_list: ContactList) -> frozenset[str]:
    key = (contact_list.pk, contact_list.created_at)
    found = _erased_by_job.get(key)
    if found is None:
        found = erased_digests()
        _erased_by_job.clear()
        _erased_by_job[key] = found
    return found


def on_import_batch_written(
    sender: type[models.Model], *, job_id: int, rows: Sequence[ImportedRow], **kwargs: Any
) -> list[tuple[int, str]] | None:
    """A batch of a contact list's import was written: its good rows become leads of every
    campaign the list is attached to (completed ones excepted), in the batch's transaction.
    Returns notes for the error report (appointments it could not use). A job that is no
    list's costs one query."""
    contact_list = ContactList.objects.select_for_update().filter(import_job_id=job_id).first()
    if contact_list is None or not rows:
        return None
    members_write(contact_list, rows)
    links = list(
        CampaignList.objects.filter(contact_list=contact_list)
        .exclude(campaign__status=CampaignStatus.COMPLETED)
        .select_related("campaign")
    )
    if not links:
        return None
    appointment_field = contact_list.appointment_field
    people = []
    for row in rows:
        extra = row.extra
        people.append(
            Contactable(
                customer_id=row.customer_id,
                phones=row.phones,
                emails=row.emails,
                time_zone=row.time_zone,
                fields=extra,
                appointment=extra.get(appointment_field) if appointment_field else None,
                line=row.line,
            )
        )
    written = leads_write(
        contact_list=contact_list, links=links, people=people, erased=_erased_for(contact_list)
    )
    return sorted(written.notes.items())


def members_write(contact_list: ContactList, rows: Sequence[ImportedRow]) -> None:
    """Record the batch's customers as the list's members with their row's fields (a customer
    named again takes the later row's), in one statement: what a campaign the list is attached
    to later receives."""
    by_customer = {row.customer_id: row.extra for row in rows}
    ContactListMember.objects.bulk_create(
        [
            ContactListMember(contact_list=contact_list, customer_id=customer_id, fields=fields)
            for customer_id, fields in by_customer.items()
        ],
        update_conflicts=True,
        unique_fields=["contact_list", "customer"],
        update_fields=["fields"],
        batch_size=2000,
    )


def connect() -> None:
    """Connect the import receiver (CampaignsConfig.ready() calls this)."""
    from apps.customers.signals import import_batch_written

    import_batch_written.connect(on_import_batch_written, dispatch_uid="campaigns.on_import_batch_written")


# -- attaching a list to one more campaign -------------------------------------------------------


def contactables_of_customers(
    customer_ids: Sequence[int],
    *,
    time_zones: dict[int, str],
    fields: dict[int, dict[str, Any]],
    appointments: dict[int, Any],
) -> list[Contactable]:
    """The customers' phones and emails as the CRM holds them now (primary first), one query
    per 500 customers. An erased customer has no contact points left, so gives nothing."""
    phones: dict[int, list[str]] = {}
    emails: dict[int, list[str]] = {}
    for chunk in _chunks(list(customer_ids)):
        points = (
            ContactPoint.objects.filter(
                customer_id__in=chunk,
                network="",
                kind__in=[ContactPointKind.PHONE, ContactPointKind.EMAIL],
                customer__is_erased=False,
            )
            .order_by("customer_id", "-is_primary", "id")
            .values_list("customer_id", "kind", "value")
        )
        for customer_id, kind, value in points:
            (phones if kind == ContactPointKind.PHONE else emails).setdefault(customer_id, []).append(value)
    return [
        Contactable(
            customer_id=pk,
            phones=phones.get(pk, []),
            emails=emails.get(pk, []),
            time_zone=time_zones.get(pk, ""),
            fields=fields.get(pk, {}),
            appointment=appointments.get(pk),
        )
        for pk in customer_ids
        if pk in phones or pk in emails
    ]


def _upload_list_contactables(contact_list: ContactList, campaign: Campaign) -> list[Contactable]:
    """An uploaded list's customers are its members (every customer its rows named, attached to
    a campaign or not): each comes with its row's fields and appointment and its contact points
    as the CRM holds them now, so a voice campaign gets the phones of a list that fed an email
    one. A list uploaded before members were kept falls back on the customers its leads in its
    other campaigns name."""
    fields: dict[int, dict[str, Any]] = {}
    appointments: dict[int, Any] = {}
    time_zones: dict[int, str] = {}
    appointment_field = contact_list.appointment_field
    members = (
        ContactListMember.objects.filter(contact_list=contact_list)
        .order_by("customer_id")
        .values_list("customer_id", "fields", "customer__time_zone")
    )
    for customer_id, row_fields, zone in members.iterator(chunk_size=2000):
        fields[customer_id] = row_fields if isinstance(row_fields, dict) else {}
        appointments[customer_id] = fields[customer_id].get(appointment_field) if appointment_field else None
        time_zones[customer_id] = zone
    leads = (
        Lead.objects.filter(contact_list=contact_list, customer__isnull=False)
        .exclude(campaign=campaign)
        .order_by("customer_id", "id")
        .values_list("customer_id", "fields", "appointment_at", "customer__time_zone")
    )
    for customer_id, row_fields, appointment_at, zone in [] if fields else leads.iterator(chunk_size=2000):
        if customer_id not in fields:
            fields[customer_id] = row_fields
            appointments[customer_id] = appointment_at
            time_zones[customer_id] = zone
    return contactables_of_customers(
        list(fields), time_zones=time_zones, fields=fields, appointments=appointments
    )


def contact_list_attach(
    *, actor: Actor, contact_list: ContactList, campaign: Campaign, priority: int = 0, weight: int = 1
) -> CampaignList:
    """Attach a list to one more campaign and give that campaign the list's leads at once.
    Where they come from: a segment list evaluates its segment now; an uploaded list gives its
    members (every customer its rows named, with the row's fields).
    Later batches of a running import reach the new campaign too. Marketers and admins only.
    Locks: the list. Conflict when it is attached already."""
    check_manager(actor)
    check_link_settings(priority=priority, weight=weight)
    check_campaign_open(campaign)
    with transaction.atomic():
        locked = ContactList.objects.select_for_update().get(pk=contact_list.pk)
        try:
            with transaction.atomic():
                link = CampaignList.objects.create(
                    campaign=campaign, contact_list=locked, priority=priority, weight=weight
                )
        except IntegrityError as exc:
            raise Conflict(f"List {locked.name} is attached to campaign {campaign.name} already.") from exc
        if locked.source == ListSource.SEGMENT:
            from apps.campaigns.segments import segment_contactables

            people = segment_contactables(locked)
        else:
            people = _upload_list_contactables(locked, campaign)
        written = leads_write(contact_list=locked, links=[link], people=people, erased=erased_digests())
        audit_record(
            actor=actor,
            action="campaigns.contact_list_attach",
            obj=locked,
            data={"campaign": campaign.pk, "leads_added": written.added},
        )
    contact_list.refresh_from_db(fields=["lead_count"])
    return link
