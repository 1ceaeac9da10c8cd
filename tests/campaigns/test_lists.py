"""Contact lists from uploaded files, through the customers import: good rows become customers
and leads of the attached campaigns (with the row's extra columns and time zones), bad rows are
in the import's error report, a re-upload upserts, erased contacts never come back, appointment
lists schedule reminders, and the lead writes stay a fixed number of queries per batch."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Callable

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.models import (
    CampaignChannel,
    CampaignList,
    CampaignStatus,
    ContactList,
    ContactListMember,
    Lead,
    LeadStatus,
    ListSource,
)
from apps.campaigns.services import lists
from apps.campaigns.services.lists import (
    InvalidContactList,
    contact_list_attach,
    contact_list_create_from_upload,
    on_import_batch_written,
)
from apps.core.actors import SYSTEM
from apps.core.exceptions import Conflict, NotAllowed
from apps.customers.erasure import erased_contacts_record
from apps.customers.importing import batches
from apps.customers.models import ContactPoint, Customer, ImportJob, ImportRowError, ImportStatus
from apps.customers.services import imports
from apps.customers.signals import ImportedRow
from tests.campaigns.factories import CampaignFactory, make_voice_campaign
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db

HEADER = "First Name,Last Name,Phone,Email,Plan,Appointment\n"
GOOD_AND_BAD = (
    HEADER
    + "Ada,Lovelace,(415) 555-0101,ada@example.com,gold,\n"
    + "Bad,Phone,12,bad@example.com,silver,\n"
    + "Alan,Turing,(212) 555-0102,alan@example.com,silver,\n"
    + ",,,,bronze,\n"
)


@pytest.fixture(autouse=True)
def receivers_connected() -> None:
    # CampaignsConfig.ready() connects it; connect() is idempotent.
    lists.connect()


@pytest.fixture(params=["orm", pytest.param("copy", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each upload test runs through the ORM store and, on PostgreSQL, the COPY store."""
    if request.param == "copy":
        require_postgres()
        monkeypatch.setattr(imports, "store_for_connection", batches.PostgresStore)
    else:
        monkeypatch.setattr(imports, "store_for_connection", batches.OrmStore)
    return str(request.param)


Upload = Callable[..., ContactList]


@pytest.fixture
def upload(store: str, marketer: User) -> Upload:
    """Create the list and run its import job as the imports worker would."""

    def run(
        content: str | bytes, *, name: str = "contacts.csv", actor: User | None = None, **kwargs: object
    ) -> ContactList:
        data = content.encode() if isinstance(content, str) else content
        contact_list = contact_list_create_from_upload(
            actor=actor or marketer,
            name=kwargs.pop("list_name", "Spring renewals"),  # type: ignore[arg-type]
            uploaded_file=ContentFile(data, name=name),
            **kwargs,  # type: ignore[arg-type]
        )
        assert contact_list.import_job_id is not None
        job = imports.import_job_run(job_id=contact_list.import_job_id)
        assert job.status == ImportStatus.DONE, job.error_message
        contact_list.refresh_from_db()
        return contact_list

    return run


def leads_of(campaign_id: int) -> dict[str, tuple[str, str, list[str], dict[str, str]]]:
    return {
        lead.contact: (
            lead.customer.first_name if lead.customer else "",
            lead.status,
            lead.time_zones,
            lead.fields,
        )
        for lead in Lead.objects.filter(campaign_id=campaign_id).select_related("customer")
    }


def errors_of(job_id: int | None) -> list[tuple[int, str]]:
    return list(
        ImportRowError.objects.filter(job_id=job_id)
        .order_by("line_number")
        .values_list("line_number", "reason")
    )


def test_good_rows_become_customers_and_leads_and_bad_rows_are_reported(upload: Upload) -> None:
    campaign = make_voice_campaign()

    contact_list = upload(GOOD_AND_BAD, campaign=campaign, priority=3)

    assert set(Customer.objects.values_list("first_name", flat=True)) == {"Ada", "Alan"}
    assert leads_of(campaign.pk) == {
        "+14155550101": (
            "Ada",
            LeadStatus.NEW,
            ["America/Los_Angeles"],
            {"Plan": "gold", "Appointment": ""},
        ),
        "+12125550102": ("Alan", LeadStatus.NEW, ["America/New_York"], {"Plan": "silver", "Appointment": ""}),
    }
    assert set(Lead.objects.values_list("priority", "contact_list_id")) == {(3, contact_list.pk)}
    assert [line for line, _ in errors_of(contact_list.import_job_id)] == [3, 5]
    assert contact_list.lead_count == 2
    assert contact_list.source == ListSource.UPLOAD
    job = ImportJob.objects.get(pk=contact_list.import_job_id)
    assert (job.source, job.created_count, job.rejected_count) == ("campaign", 2, 2)


def test_an_email_campaign_gets_the_rows_emails(upload: Upload) -> None:
    campaign = CampaignFactory(channel=CampaignChannel.EMAIL)

    contact_list = upload(GOOD_AND_BAD, campaign=campaign)

    assert sorted(Lead.objects.filter(campaign=campaign).values_list("contact", "time_zones")) == [
        ("ada@example.com", ["America/Los_Angeles"]),
        ("alan@example.com", ["America/New_York"]),
    ]
    assert contact_list.lead_count == 2


def test_a_row_with_two_phones_gives_two_leads(upload: Upload) -> None:
    campaign = make_voice_campaign()
    content = "Name,Phone,Mobile\nGrace,(415) 555-0111,(617) 555-0112\n"

    contact_list = upload(
        content, campaign=campaign, mapping={"first_name": "Name", "phone": "Phone", "phone_2": "Mobile"}
    )

    assert sorted(Lead.objects.values_list("contact", flat=True)) == ["+14155550111", "+16175550112"]
    assert contact_list.lead_count == 2


def test_a_reupload_upserts_leads_without_duplicates(upload: Upload) -> None:
    campaign = make_voice_campaign()
    first = upload(GOOD_AND_BAD, campaign=campaign)
    lead = Lead.objects.get(contact="+14155550101")
    Lead.objects.filter(pk=lead.pk).update(attempts=2, status=LeadStatus.RETRY)
    changed = HEADER + "Ada,Lovelace,(415) 555-0101,ada@example.com,platinum,\n"

    second = upload(changed, campaign=campaign, list_name="Spring renewals (corrected)")

    assert Lead.objects.filter(campaign=campaign).count() == 2
    lead.refresh_from_db()
    assert (lead.fields, lead.attempts, lead.status, lead.contact_list_id) == (
        {"Plan": "platinum", "Appointment": ""},
        2,
        LeadStatus.RETRY,
        second.pk,
    )
    first.refresh_from_db()
    assert (first.lead_count, second.lead_count) == (1, 1)
    assert Customer.objects.count() == 2


def test_uploading_the_same_list_again_changes_no_lead(upload: Upload) -> None:
    campaign = make_voice_campaign()
    upload(GOOD_AND_BAD, campaign=campaign)
    before = leads_of(campaign.pk)

    again = upload(GOOD_AND_BAD, campaign=campaign, list_name="Again")

    assert leads_of(campaign.pk) == before
    assert again.lead_count == 2


def test_an_xlsx_upload_gives_the_same_leads(upload: Upload) -> None:
    campaign = make_voice_campaign(time_zone="America/Chicago")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["First Name", "Last Name", "Phone", "Email", "Plan", "Appointment"])
    # A spreadsheet cell holds no time zone: the appointment is naive, read in the campaign's zone.
    appointment = dt.datetime(2030, 5, 6, 15, 30)  # noqa: DTZ001
    sheet.append(["Ada", "Lovelace", "(415) 555-0101", "ada@example.com", "gold", appointment])
    sheet.append(["Bad", "Phone", "12", "", "silver", None])
    out = io.BytesIO()
    book.save(out)

    contact_list = upload(
        out.getvalue(),
        name="contacts.xlsx",
        campaign=campaign,
        appointment_field="Appointment",
        remind_hours_before=24,
    )

    lead = Lead.objects.get()
    assert (lead.contact, lead.fields["Plan"]) == ("+14155550101", "gold")
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    assert lead.appointment_at == dt.datetime(2030, 5, 6, 15, 30, tzinfo=chicago)
    assert lead.next_attempt_at == dt.datetime(2030, 5, 5, 15, 30, tzinfo=chicago)
    assert [line for line, _ in errors_of(contact_list.import_job_id)] == [3]


def test_appointment_lists_schedule_reminders_and_note_unreadable_dates(upload: Upload) -> None:
    campaign = make_voice_campaign(time_zone="America/Chicago")
    content = (
        HEADER
        + "Ada,Lovelace,(415) 555-0101,,gold,2030-05-06 15:30\n"
        + "Alan,Turing,(212) 555-0102,,gold,next tuesday\n"
        + "Grace,Hopper,(617) 555-0103,,gold,2030-05-06T09:00:00+00:00\n"
        + "Linus,Torvalds,(312) 555-0104,,gold,2001-01-01 10:00\n"
        + "Edsger,Dijkstra,(305) 555-0105,,gold,2030-05-06\n"
    )

    contact_list = upload(content, campaign=campaign, appointment_field="Appointment", remind_hours_before=2)

    leads = {lead.contact: lead for lead in Lead.objects.all()}
    assert sorted(leads) == ["+12125550102", "+13055550105", "+14155550101", "+16175550103"]
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    assert leads["+14155550101"].appointment_at == dt.datetime(2030, 5, 6, 15, 30, tzinfo=chicago)
    assert leads["+14155550101"].next_attempt_at == dt.datetime(2030, 5, 6, 13, 30, tzinfo=chicago)
    assert leads["+16175550103"].next_attempt_at == dt.datetime(2030, 5, 6, 7, 0, tzinfo=dt.UTC)
    # Unreadable: a lead without a reminder time, due now, and a note in the error report.
    assert (leads["+12125550102"].appointment_at, leads["+12125550102"].next_attempt_at) == (None, None)
    assert errors_of(contact_list.import_job_id) == [
        (
            3,
            "Appointment: 'next tuesday' is not a date and time (e.g. 2026-12-24 15:30); the contact was "
            "imported and its lead has no reminder time",
        ),
        (5, "Appointment: the appointment 2001-01-01 10:00 has passed; no reminder lead"),
        (
            6,
            "Appointment: '2030-05-06' has no time of day (e.g. 2030-05-06 15:30); the contact was imported "
            "and its lead has no reminder time",
        ),
    ]
    job = ImportJob.objects.get(pk=contact_list.import_job_id)
    assert (job.created_count, job.rejected_count) == (5, 0)
    assert contact_list.lead_count == 4


def test_an_erased_contact_is_not_recreated_as_a_lead(upload: Upload) -> None:
    campaign = make_voice_campaign()
    erased_contacts_record(values=[("phone", "+14155550101", "")])

    contact_list = upload(GOOD_AND_BAD, campaign=campaign)

    assert list(Lead.objects.values_list("contact", flat=True)) == ["+12125550102"]
    assert not ContactPoint.objects.filter(value="+14155550101").exists()
    assert [line for line, _ in errors_of(contact_list.import_job_id)] == [2, 3, 5]
    assert contact_list.lead_count == 1


def test_the_receiver_skips_erased_values_it_is_handed(marketer: User) -> None:
    # Given a list whose job hands over a phone erased after the row was validated
    campaign = make_voice_campaign()
    job = ImportJob.objects.create(file_name="x.csv", source="campaign")
    contact_list = ContactList.objects.create(name="L", import_job=job)
    CampaignList.objects.create(campaign=campaign, contact_list=contact_list)
    customer = Customer.objects.create(first_name="Ada")
    erased_contacts_record(values=[("phone", "+14155550101", "")])
    rows = [ImportedRow(2, customer.pk, ("+14155550101", "+14155550199"), (), "", ["x"], [])]

    notes = on_import_batch_written(ImportJob, job_id=job.pk, rows=rows)

    assert notes == []
    assert list(Lead.objects.values_list("contact", flat=True)) == ["+14155550199"]


def _batch(customers: list[Customer]) -> list[ImportedRow]:
    return [
        ImportedRow(
            line + 2,
            c.pk,
            (f"+1415555{line:04d}",),
            (f"p{line}@example.com",),
            "",
            [str(line)],
            [("Plan", 0)],
        )
        for line, c in enumerate(customers)
    ]


@pytest.mark.parametrize("campaigns", [1, 2])
def test_lead_writes_take_a_fixed_number_of_queries_per_batch(campaigns: int) -> None:
    job = ImportJob.objects.create(file_name="x.csv", source="campaign")
    contact_list = ContactList.objects.create(name="L", import_job=job)
    for _ in range(campaigns):
        CampaignList.objects.create(campaign=make_voice_campaign(), contact_list=contact_list)
    customers = Customer.objects.bulk_create([Customer(first_name=f"C{n}") for n in range(410)])
    counts = []
    for batch in (_batch(customers)[:10], _batch(customers)[10:]):
        with CaptureQueriesContext(connection) as queries:
            on_import_batch_written(ImportJob, job_id=job.pk, rows=batch)
        counts.append(len(queries))

    # 40 times the rows: on PostgreSQL the same statements; SQLite caps an INSERT at 999
    # parameters, so a few more INSERTs (about one per 49 leads), never one per row.
    extra = 0 if connection.vendor == "postgresql" else 8 * campaigns
    assert counts[1] <= counts[0] + extra
    contact_list.refresh_from_db()
    assert contact_list.lead_count == 410 * campaigns
    assert Lead.objects.count() == 410 * campaigns


def test_a_plain_customer_import_makes_no_leads(store: str) -> None:
    make_voice_campaign()
    job = imports.import_job_create(
        actor=SYSTEM,
        uploaded_file=ContentFile(GOOD_AND_BAD.encode(), name="c.csv"),
        file_name="c.csv",
        source="test",
    )

    job = imports.import_job_run(job_id=job.pk)

    assert (job.status, job.created_count, job.rejected_count) == (ImportStatus.DONE, 2, 2)
    assert Lead.objects.count() == 0


def test_agents_and_supervisors_may_not_upload_lists_and_nothing_is_saved(
    agent: User, supervisor: User
) -> None:
    campaign = make_voice_campaign()
    for actor in (agent, supervisor):
        with pytest.raises(NotAllowed):
            contact_list_create_from_upload(
                actor=actor,
                name="L",
                uploaded_file=ContentFile(GOOD_AND_BAD.encode(), name="c.csv"),
                campaign=campaign,
            )

    assert (ImportJob.objects.count(), ContactList.objects.count(), CampaignList.objects.count()) == (0, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " "}, "name: a contact list needs a name."),
        (
            {"appointment_field": "When", "remind_hours_before": 2},
            "appointment_field: the file has no column 'When'",
        ),
        ({"appointment_field": "Appointment"}, "remind_hours_before: an appointment list needs"),
        ({"remind_hours_before": 2}, "appointment_field: name the column"),
        (
            {
                "appointment_field": "Plan",
                "remind_hours_before": 2,
                "mapping": {"first_name": "First Name", "custom:plan": "Plan"},
            },
            None,
        ),
        ({"weight": 0}, "weight: a whole number from 1"),
    ],
)
def test_bad_list_settings_name_the_setting_and_save_nothing(
    marketer: User, kwargs: dict[str, object], message: str | None
) -> None:
    arguments: dict[str, object] = {"name": "L", **kwargs}
    with pytest.raises((InvalidContactList, ValidationError)) as caught:
        contact_list_create_from_upload(
            actor=marketer,
            uploaded_file=ContentFile(GOOD_AND_BAD.encode(), name="c.csv"),
            **arguments,  # type: ignore[arg-type]
        )

    if message is not None:
        assert str(caught.value).startswith(message)
    assert (ImportJob.objects.count(), ContactList.objects.count()) == (0, 0)


def test_an_appointment_column_mapped_to_a_customer_field_is_refused(marketer: User) -> None:
    with pytest.raises(InvalidContactList) as caught:
        contact_list_create_from_upload(
            actor=marketer,
            name="L",
            uploaded_file=ContentFile(GOOD_AND_BAD.encode(), name="c.csv"),
            mapping={"first_name": "First Name", "job_title": "Appointment"},
            appointment_field="Appointment",
            remind_hours_before=2,
        )

    assert str(caught.value).startswith(
        "appointment_field: column 'Appointment' is mapped to a customer field"
    )
    assert ImportJob.objects.count() == 0


def test_a_completed_campaign_takes_no_list(marketer: User) -> None:
    campaign = make_voice_campaign(status=CampaignStatus.COMPLETED)

    with pytest.raises(InvalidContactList, match="campaign: .* is completed"):
        contact_list_create_from_upload(
            actor=marketer,
            name="L",
            uploaded_file=ContentFile(GOOD_AND_BAD.encode(), name="c.csv"),
            campaign=campaign,
        )

    assert ContactList.objects.count() == 0


def test_attaching_an_uploaded_list_gives_the_new_campaign_its_customers(
    upload: Upload, marketer: User
) -> None:
    voice = make_voice_campaign()
    contact_list = upload(GOOD_AND_BAD, campaign=voice)
    email = CampaignFactory(channel=CampaignChannel.EMAIL)

    link = contact_list_attach(
        actor=marketer, contact_list=contact_list, campaign=email, priority=5, weight=2
    )

    assert (link.priority, link.weight) == (5, 2)
    assert sorted(Lead.objects.filter(campaign=email).values_list("contact", "priority", "fields")) == [
        ("ada@example.com", 5, {"Plan": "gold", "Appointment": ""}),
        ("alan@example.com", 5, {"Plan": "silver", "Appointment": ""}),
    ]
    assert contact_list.lead_count == 4
    with pytest.raises(Conflict):
        contact_list_attach(actor=marketer, contact_list=contact_list, campaign=email)
    assert Lead.objects.count() == 4


def test_attaching_is_for_marketers_and_admins(upload: Upload, agent: User) -> None:
    contact_list = upload(GOOD_AND_BAD, campaign=make_voice_campaign())
    other = make_voice_campaign()

    with pytest.raises(NotAllowed):
        contact_list_attach(actor=agent, contact_list=contact_list, campaign=other)

    assert not CampaignList.objects.filter(campaign=other).exists()
    assert not Lead.objects.filter(campaign=other).exists()


def test_a_list_uploaded_without_a_campaign_has_no_leads_until_uploaded_with_one(upload: Upload) -> None:
    contact_list = upload(GOOD_AND_BAD)

    assert (contact_list.lead_count, Lead.objects.count(), Customer.objects.count()) == (0, 0, 2)
    assert timezone.is_aware(contact_list.created_at)


def test_a_list_uploaded_on_its_own_gives_its_rows_to_a_campaign_it_is_attached_to_later(
    upload: Upload, marketer: User
) -> None:
    contact_list = upload(GOOD_AND_BAD)
    assert not Lead.objects.exists()
    assert sorted(ContactListMember.objects.values_list("customer__first_name", "fields__Plan")) == [
        ("Ada", "gold"),
        ("Alan", "silver"),
    ]
    campaign = make_voice_campaign()

    contact_list_attach(actor=marketer, contact_list=contact_list, campaign=campaign, priority=2)

    assert leads_of(campaign.pk) == {
        "+14155550101": ("Ada", LeadStatus.NEW, ["America/Los_Angeles"], {"Plan": "gold", "Appointment": ""}),
        "+12125550102": ("Alan", LeadStatus.NEW, ["America/New_York"], {"Plan": "silver", "Appointment": ""}),
    }
    assert set(Lead.objects.values_list("priority", flat=True)) == {2}
