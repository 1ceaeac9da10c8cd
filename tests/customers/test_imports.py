"""Import service: upsert, re-import, conflicts, in-file duplicates, every rejection reason with
its line number, XLSX, custom fields and consent columns. Each test runs through the ORM path
and, on PostgreSQL, through the COPY path too; both must give the same results."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from apps.accounts.models import User
from apps.core.actors import SYSTEM, SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.importing import batches
from apps.customers.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    ImportJob,
    ImportRowError,
    ImportStatus,
    Organization,
)
from apps.customers.services import imports
from apps.customers.services.customers import build_search_text, customer_refresh_search_text
from tests.conftest import require_postgres
from tests.customers.factories import CustomerFactory, EmailFactory, PhoneFactory

HEADER = "External ID,First Name,Last Name,E-mail,Phone Number,Company,Tags,Do not call\n"


@pytest.fixture(params=["orm", pytest.param("copy", marks=pytest.mark.postgres)])
def run_import(
    request: pytest.FixtureRequest, db: None, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ImportJob]:
    """Create and run a job synchronously through the store under test."""
    if request.param == "copy":
        require_postgres()
        monkeypatch.setattr(imports, "store_for_connection", batches.PostgresStore)
    else:
        monkeypatch.setattr(imports, "store_for_connection", batches.OrmStore)

    def run(
        content: str | bytes,
        *,
        name: str = "customers.csv",
        mapping: dict[str, str] | None = None,
        region: str = "US",
        actor: User | SystemActor = SYSTEM,
    ) -> ImportJob:
        data = content.encode() if isinstance(content, str) else content
        job = imports.import_job_create(
            actor=actor,
            uploaded_file=ContentFile(data, name=name),
            file_name=name,
            mapping=mapping,
            default_region=region,
            source="test",
        )
        return imports.import_job_run(job_id=job.pk)

    return run


def errors_of(job: ImportJob) -> list[tuple[int, str]]:
    return list(
        ImportRowError.objects.filter(job=job).order_by("line_number").values_list("line_number", "reason")
    )


def counts(job: ImportJob) -> dict[str, int]:
    return {
        "total": job.total_rows,
        "processed": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "rejected": job.rejected_count,
    }


def snapshot() -> list[tuple[Any, ...]]:
    customers = list(
        Customer.objects.order_by("id").values_list(
            "id",
            "external_id",
            "first_name",
            "last_name",
            "organization__name",
            "time_zone",
            "search_text",
            "updated_at",
            "custom_fields",
            "lifecycle_stage",
        )
    )
    points = list(
        ContactPoint.objects.order_by("id").values_list(
            "id",
            "customer_id",
            "kind",
            "value",
            "is_primary",
            "do_not_call",
            "do_not_call_at",
            "email_opt_out",
            "sms_opt_in",
        )
    )
    tags = sorted(Customer.tags.through.objects.values_list("customer_id", "tag__name"))
    return [customers, points, tags]


GOOD = (
    HEADER
    + "A1,Ada,Lovelace,ada@example.com,(415) 555-0101,Analytical Engines,vip;beta,no\n"
    + "A2,Alan,Turing,alan@example.org,+44 20 7946 0018,,,yes\n"
    + ",Grace,Hopper,,+1 212 555 0199,Navy,,\n"
)


def test_import_creates_customers_with_contact_points_tags_and_derived_time_zone(
    run_import: Callable[..., ImportJob],
) -> None:
    job = run_import(GOOD)

    assert job.status == ImportStatus.DONE, job.error_message
    assert counts(job) == {
        "total": 3,
        "processed": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    ada = Customer.objects.get(external_id="A1")
    assert (ada.first_name, ada.last_name, ada.organization.name, ada.time_zone) == (  # type: ignore[union-attr]
        "Ada",
        "Lovelace",
        "Analytical Engines",
        "America/Los_Angeles",
    )
    assert sorted(ada.tags.values_list("name", flat=True)) == ["beta", "vip"]
    assert list(ada.contact_points.values_list("kind", "value", "is_primary", "do_not_call")) == [
        ("email", "ada@example.com", True, False),
        ("phone", "+14155550101", True, False),
    ]
    alan = Customer.objects.get(external_id="A2")
    assert alan.time_zone == "Europe/London"
    dnc = alan.contact_points.get(kind="phone")
    assert (dnc.do_not_call, dnc.do_not_call_source) == (True, f"import #{job.pk}")
    assert dnc.do_not_call_at is not None
    grace = Customer.objects.get(first_name="Grace")
    assert grace.external_id is None
    assert grace.lifecycle_stage == "lead"


def test_import_search_text_is_what_the_customer_services_build(run_import: Callable[..., ImportJob]) -> None:
    content = "First name,Last name,Email,Email 2,Phone,Phone 2,Company\nÉmile,Zola,b@x.org,a@x.org,+33 1 42 68 53 00,(415) 555-0102,Le Figaro\n"

    run_import(content)

    customer = Customer.objects.get()
    stored = customer.search_text
    customer_refresh_search_text(customer=customer)
    assert stored == customer.search_text
    assert stored == build_search_text(
        first_name="Émile",
        last_name="Zola",
        organization_name="Le Figaro",
        contact_values=[
            ("email", "b@x.org"),
            ("phone", "+33142685300"),
            ("email", "a@x.org"),
            ("phone", "+14155550102"),
        ],
    )


def test_reimport_of_the_same_file_changes_nothing(run_import: Callable[..., ImportJob]) -> None:
    run_import(GOOD)
    before = snapshot()

    again = run_import(GOOD)

    assert counts(again) == {
        "total": 3,
        "processed": 3,
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 0,
    }
    assert snapshot() == before


def test_import_updates_by_external_id_then_by_contact_point(run_import: Callable[..., ImportJob]) -> None:
    by_external_id = CustomerFactory(external_id="A1", first_name="Old", last_name="Name")
    by_phone = PhoneFactory(value="+12125550199").customer
    by_phone_updated_at = by_phone.updated_at

    job = run_import(GOOD)

    assert counts(job)["created"] == 1
    assert counts(job)["updated"] == 2
    by_external_id.refresh_from_db()
    assert (by_external_id.first_name, by_external_id.last_name) == ("Ada", "Lovelace")
    assert sorted(by_external_id.contact_points.values_list("value", "is_primary")) == [
        ("+14155550101", True),
        ("ada@example.com", True),
    ]
    by_phone.refresh_from_db()
    assert (by_phone.first_name, by_phone.organization.name) == ("Grace", "Navy")  # type: ignore[union-attr]
    assert by_phone.updated_at > by_phone_updated_at
    assert "navy" in by_phone.search_text


def test_empty_cells_never_clear_what_a_customer_has(run_import: Callable[..., ImportJob]) -> None:
    customer = CustomerFactory(external_id="X9", first_name="Keep", last_name="Me", job_title="CTO")

    job = run_import("external_id,first_name,last_name,job_title\nX9,,,\n")

    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name, customer.job_title) == ("Keep", "Me", "CTO")
    assert counts(job)["unchanged"] == 1


def test_row_naming_two_existing_customers_is_a_conflict_naming_both(
    run_import: Callable[..., ImportJob],
) -> None:
    first = CustomerFactory(external_id="A1")
    second = PhoneFactory(value="+14155550101").customer
    before = snapshot()

    job = run_import(HEADER + "A1,Ada,Lovelace,,(415) 555-0101,,,\n")

    assert errors_of(job) == [
        (
            2,
            f"conflict: external id A1 belongs to customer #{first.pk}, phone +14155550101 belongs to customer #{second.pk}",
        )
    ]
    assert snapshot() == before


def test_contact_point_of_a_customer_with_another_external_id_is_a_conflict(
    run_import: Callable[..., ImportJob],
) -> None:
    owner = PhoneFactory(value="+14155550101", customer=CustomerFactory(external_id="OTHER")).customer

    job = run_import(HEADER + "A1,Ada,Lovelace,,(415) 555-0101,,,\n")

    assert errors_of(job) == [
        (
            2,
            f"conflict: customer #{owner.pk} (found by its contact points) already has external id OTHER, not A1",
        )
    ]
    assert Customer.objects.count() == 1


def test_duplicates_inside_the_file_are_rejected_naming_the_earlier_line(
    run_import: Callable[..., ImportJob],
) -> None:
    content = (
        HEADER
        + "A1,Ada,Lovelace,ada@example.com,,,,\n"
        + "A2,Bob,One,,(415) 555-0102,,,\n"
        + "A1,Ada,Again,,,,,\n"
        + "A3,Bob,Two,,415.555.0102,,,\n"
        + "A4,Ada,Three,ADA@example.com,,,,\n"
    )

    job = run_import(content)

    assert errors_of(job) == [
        (4, "duplicate of line 2 in this file (same external id A1)"),
        (5, "duplicate of line 3 in this file (same phone +14155550102)"),
        (6, "duplicate of line 2 in this file (same email ada@example.com)"),
    ]
    assert counts(job)["created"] == 2
    assert Customer.objects.get(external_id="A1").last_name == "Lovelace"


def test_two_rows_reaching_one_customer_by_different_identifiers_are_not_both_applied(
    run_import: Callable[..., ImportJob],
) -> None:
    customer = EmailFactory(value="ada@example.com", customer=CustomerFactory(external_id="A1")).customer

    job = run_import(HEADER + "A1,Ada,Lovelace,,,,,\n,Ada,King,ada@example.com,,,,\n")

    assert errors_of(job) == [(3, f"names customer #{customer.pk} like line 2 in this file")]
    customer.refresh_from_db()
    assert customer.last_name == "Lovelace"


def test_every_rejection_reason_is_reported_with_its_line(
    run_import: Callable[..., ImportJob], make_user: Any
) -> None:
    make_user("Marketer", username="mia")
    content = (
        "external_id,first_name,last_name,email,phone,lifecycle_stage,time_zone,owner,do_not_call,tags\n"
        "E1,Ok,Row,ok@example.com,(415) 555-0101,customer,America/New_York,mia,no,a\n"
        "E2,Bad,Email,not-an-email,,,,,,\n"
        "E3,Bad,Phone,,12345,,,,,\n"
        "E4,,,,,,,,,\n"
        "E5,Bad,Stage,,,martian,,,,\n"
        "E6,Bad,Zone,,,,Mars/Base,,,\n"
        "E7,Bad,Owner,,,,,nobody,,\n"
        "E8,Bad,Consent,,,,,,maybe,\n"
        f"E9,{'x' * 101},Long,,,,,,,\n"
        f"E10,Long,Tag,,,,,,,{'t' * 65}\n"
        "E11,Too,Many,,,,,,,,surplus\n"
    )

    job = run_import(content)

    assert errors_of(job) == [
        (3, "email: 'not-an-email' is not a valid email address."),
        (4, "phone: '12345' is not a valid phone number."),
        (5, "needs at least a name, a phone or an email"),
        (6, "lifecycle_stage 'martian' is not one of lead, prospect, customer, churned, other"),
        (7, "time_zone 'Mars/Base' is not a known IANA time zone (e.g. Europe/Paris)"),
        (8, "owner 'nobody' is not a user"),
        (9, "do_not_call: 'maybe' is not yes or no"),
        (10, "first_name is longer than 100 characters"),
        (11, f"tag {'t' * 20!r}... is longer than 64 characters"),
        (12, "The row has 11 cells but the header names 10 columns."),
    ]
    assert counts(job) == {
        "total": 11,
        "processed": 11,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 10,
    }
    ok = Customer.objects.get(external_id="E1")
    assert (ok.lifecycle_stage, ok.time_zone, ok.owner.username) == ("customer", "America/New_York", "mia")  # type: ignore[union-attr]
    raw = ImportRowError.objects.get(job=job, line_number=3).raw
    assert raw["email"] == "not-an-email"


def test_custom_fields_are_coerced_and_required_ones_enforced_for_new_customers(
    run_import: Callable[..., ImportJob],
) -> None:
    CustomFieldDefinition.objects.create(key="contract", label="Contract", required=True)
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type=CustomFieldType.INTEGER)
    existing = CustomerFactory(external_id="OLD", custom_fields={"contract": "C-0"})
    content = (
        "external_id,last_name,Contract,custom:seats\n"
        "N1,New,C-1,12\n"
        "N2,Missing,,3\n"
        "N3,Bad,C-3,three\n"
        "OLD,,,7\n"
    )

    job = run_import(content)

    assert errors_of(job) == [
        (3, "custom field contract is required for a new customer"),
        (4, "custom field seats must be a whole number"),
    ]
    assert Customer.objects.get(external_id="N1").custom_fields == {"contract": "C-1", "seats": 12}
    existing.refresh_from_db()
    assert existing.custom_fields == {"contract": "C-0", "seats": 7}


def test_consent_columns_apply_to_their_channel_and_only_when_they_change(
    run_import: Callable[..., ImportJob],
) -> None:
    content = "first_name,phone,phone_2,email,do_not_call,sms_opt_in,email_opt_out\nAda,(415) 555-0101,(415) 555-0102,ada@example.com,yes,yes,yes\n"
    job = run_import(content)
    flags = list(
        ContactPoint.objects.order_by("id").values_list("value", "do_not_call", "sms_opt_in", "email_opt_out")
    )
    assert flags == [
        ("+14155550101", True, True, False),
        ("+14155550102", True, True, False),
        ("ada@example.com", False, False, True),
    ]
    first_at = ContactPoint.objects.get(value="+14155550101").do_not_call_at

    again = run_import(content)

    assert counts(again)["unchanged"] == 1
    assert ContactPoint.objects.get(value="+14155550101").do_not_call_at == first_at
    off = run_import(content.replace("yes,yes,yes", "no,,"))
    assert counts(off)["updated"] == 1
    assert list(ContactPoint.objects.order_by("id").values_list("do_not_call", "sms_opt_in")) == [
        (False, True),
        (False, True),
        (False, False),
    ]
    assert job.status == ImportStatus.DONE


def test_xlsx_with_numeric_phones_imports_like_csv(run_import: Callable[..., ImportJob]) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["First Name", "Last Name", "Mobile", "Company"])
    sheet.append(["Ada", "Lovelace", 4155550101, "Engines"])
    sheet.append(["Bad", "Phone", 12, None])
    buffer = io.BytesIO()
    workbook.save(buffer)

    job = run_import(buffer.getvalue(), name="list.xlsx")

    assert errors_of(job) == [(3, "phone: '12' is not a valid phone number.")]
    assert ContactPoint.objects.get().value == "+14155550101"
    assert Organization.objects.get().name == "Engines"


def test_phones_are_read_in_the_jobs_default_region(run_import: Callable[..., ImportJob]) -> None:
    run_import(
        "name,phone\nBen,020 7946 0018\n", mapping={"last_name": "name", "phone": "phone"}, region="GB"
    )

    assert ContactPoint.objects.get().value == "+442079460018"
    assert Customer.objects.get().time_zone == "Europe/London"


def test_organization_is_matched_without_case(run_import: Callable[..., ImportJob]) -> None:
    org = Organization.objects.create(name="Acme Inc")

    run_import("first_name,company\nAda,ACME INC\n")

    customer = Customer.objects.get()
    assert customer.organization_id == org.pk
    assert customer.search_text == "ada acme inc"


def test_latin1_file_with_semicolons_is_read(run_import: Callable[..., ImportJob]) -> None:
    job = run_import(
        "Prénom;Nom;Téléphone\nJosé;Núñez;+34 912 34 56 78\n".encode("cp1252"),
        mapping={"first_name": "Prénom", "last_name": "Nom", "phone": "Téléphone"},
    )

    assert job.status == ImportStatus.DONE
    assert Customer.objects.get().first_name == "José"


def test_one_audit_entry_per_job(run_import: Callable[..., ImportJob], marketer: User) -> None:
    job = run_import(GOOD, actor=marketer)

    entries = AuditEntry.objects.filter(object_type="customers.importjob", object_id=str(job.pk))
    assert sorted(entries.values_list("action", flat=True)) == ["customer.import", "customer.import_start"]
    assert entries.get(action="customer.import").data["created"] == 3


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "The file is empty."),
        (b"\n\n", "blank.csv", "The file is empty."),
        (b",,\nAda,x,y\n", "headless.csv", "The file has no header row"),
        (b"first_name\x00,x\n", "binary.csv", "not readable text"),
        (b"first_name\nAda\n", "list.txt", "is not a .csv or .xlsx file"),
        (b"PK\x03\x04garbage", "broken.xlsx", "not a readable .xlsx workbook"),
        (b"colour,size\nred,2\n", "nothing.csv", "Map at least one column"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_message(
    db: None, content: bytes, name: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        imports.import_job_create(
            actor=SYSTEM, uploaded_file=ContentFile(content, name=name), file_name=name, source="test"
        )

    assert message in " ".join(caught.value.messages)
    assert ImportJob.objects.count() == 0


def test_mapping_must_name_known_fields_and_existing_columns(db: None) -> None:
    with pytest.raises(ValidationError) as caught:
        imports.import_job_create(
            actor=SYSTEM,
            uploaded_file=ContentFile(b"Name,Tel\nAda,1\n", name="a.csv"),
            file_name="a.csv",
            mapping={"last_name": "Name", "phone": "Mobile", "shoe_size": "Tel", "custom:nope": "Tel"},
            source="test",
        )

    assert caught.value.messages == [
        "Mapping: column 'Mobile' (for phone) is not in the file's header; 'shoe_size' is not a field "
        "that can be imported; 'nope' is not an active custom field."
    ]


def test_an_import_that_says_nothing_about_whom_it_acts_for_is_refused(db: None) -> None:
    with pytest.raises(NotAllowed):
        imports.import_job_create(
            actor=None,  # type: ignore[arg-type]
            uploaded_file=ContentFile(GOOD.encode(), name="a.csv"),
            file_name="a.csv",
            source="test",
        )

    assert imports.import_allowed(None) is False
    assert ImportJob.objects.count() == 0


def test_agents_may_not_import(agent: User) -> None:
    with pytest.raises(NotAllowed):
        imports.import_job_create(
            actor=agent,
            uploaded_file=ContentFile(GOOD.encode(), name="a.csv"),
            file_name="a.csv",
            source="test",
        )

    assert ImportJob.objects.count() == 0


def test_only_a_pending_job_runs(run_import: Callable[..., ImportJob]) -> None:
    job = run_import(GOOD)

    again = imports.import_job_run(job_id=job.pk)

    assert counts(again) == counts(job)
    assert Customer.objects.count() == 3


def test_suggest_mapping_understands_usual_headers(db: None) -> None:
    CustomFieldDefinition.objects.create(key="contract_number", label="Contract")
    headers = ["E-mail", "Phone Number", "Company", "FIRST_NAME", "surname", "Mobile", "Contract Number", "?"]

    assert imports.import_suggest_mapping(headers) == {
        "email": "E-mail",
        "phone": "Phone Number",
        "organization": "Company",
        "first_name": "FIRST_NAME",
        "last_name": "surname",
        "custom:contract_number": "Contract Number",
    }


def test_error_report_lists_line_reason_and_raw_columns(run_import: Callable[..., ImportJob]) -> None:
    job = run_import('first_name,email\nAda,bad\n,""\nBob,bob@example.com\n,x@\n')
    out = io.StringIO()

    written = imports.import_errors_csv(job=job, stream=out)

    assert written == 2
    assert out.getvalue().splitlines() == [
        "line_number,reason,first_name,email",
        "2,email: 'bad' is not a valid email address.,Ada,bad",
        "5,email: 'x@' is not a valid email address.,,x@",
    ]


def test_an_update_derives_the_time_zone_from_the_held_phones_first(
    run_import: Callable[..., ImportJob],
) -> None:
    # Given a customer without a time zone who holds a London phone
    customer = CustomerFactory(external_id="C1", time_zone="")
    PhoneFactory(customer=customer, value="+442079460018", is_primary=True)

    # When an import adds a US phone to it
    job = run_import("external_id,phone\nC1,+14155550101\n")

    # Then the zone comes from the phone it held (primary first), as time_zone_from_phones says
    assert (job.updated_count, job.rejected_count) == (1, 0)
    customer.refresh_from_db()
    assert customer.time_zone == "Europe/London"
    assert list(customer.contact_points.order_by("id").values_list("value", flat=True)) == [
        "+442079460018",
        "+14155550101",
    ]


def test_rows_naming_an_erased_persons_phone_or_email_are_rejected_and_the_rest_imported(
    run_import: Callable[..., ImportJob],
) -> None:
    from apps.core.actors import SYSTEM
    from apps.customers.services.gdpr import customer_erase

    erased = CustomerFactory(first_name="Gone", last_name="Person")
    PhoneFactory(customer=erased, value="+14155550199")
    EmailFactory(customer=erased, value="gone@example.com")
    customer_erase(actor=SYSTEM, customer=erased)

    job = run_import(
        "first_name,last_name,phone,email\n"
        "Gone,Person,(415) 555-0199,\n"
        "Gone,Again,,Gone@Example.com\n"
        "Still,Here,(415) 555-0100,still@example.com\n"
    )

    assert job.status == ImportStatus.DONE, job.error_message
    assert (job.created_count, job.rejected_count) == (1, 2)
    reasons = errors_of(job)
    assert [line for line, _ in reasons] == [2, 3]
    assert reasons[0][1].startswith("phone: +14155550199: this contact point belongs to a person whose data")
    assert reasons[1][1].startswith(
        "email: gone@example.com: this contact point belongs to a person whose data"
    )
    assert list(Customer.objects.exclude(pk=erased.pk).values_list("first_name", flat=True)) == ["Still"]
