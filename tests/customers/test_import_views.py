"""Import and export pages: roles, the upload -> mapping -> start flow, progress polling, error
report download and the streamed export, with query counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.customers.models import Customer, ImportJob, ImportStatus
from apps.customers.services import imports
from tests.customers.factories import CustomerFactory

CSV = (
    b"First Name,Last Name,E-mail,Phone Number\nAda,Lovelace,ada@example.com,(415) 555-0101\nBad,Row,nope,\n"
)


@pytest.fixture
def finished_job(marketer: User) -> ImportJob:
    """A job the `marketer` started: Marketers see their own jobs only."""
    job = imports.import_job_create(
        actor=marketer, uploaded_file=ContentFile(CSV, name="list.csv"), file_name="list.csv", source="test"
    )
    return imports.import_job_run(job_id=job.pk)


@pytest.fixture
def owner_client(marketer: User) -> Client:
    client = Client()
    client.force_login(marketer)
    return client


@pytest.mark.parametrize(
    ("role", "status"), [(None, 302), ("Agent", 403), ("Marketer", 200), ("Supervisor", 200), ("Admin", 200)]
)
def test_import_pages_are_for_marketers_supervisors_and_admins(
    client_for: Callable[[str | None], Client],
    owner_client: Client,
    finished_job: ImportJob,
    role: str | None,
    status: int,
) -> None:
    client = owner_client if role == "Marketer" else client_for(role)

    pages = [
        reverse("customers:import"),
        reverse("customers:import_detail", args=[finished_job.pk]),
        reverse("customers:import_progress", args=[finished_job.pk]),
        reverse("customers:import_errors", args=[finished_job.pk]),
    ]

    assert [client.get(url).status_code for url in pages] == [status] * 4


def test_agent_cannot_upload_and_nothing_is_created(client_for: Callable[[str | None], Client]) -> None:
    client = client_for("Agent")

    response = client.post(
        reverse("customers:import"), {"file": ContentFile(CSV, name="a.csv"), "default_region": "US"}
    )

    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_upload_shows_the_mapping_step_then_start_creates_the_job(
    client_for: Callable[[str | None], Client],
) -> None:
    client = client_for("Marketer")

    mapping_step = client.post(
        reverse("customers:import"), {"file": ContentFile(CSV, name="list.csv"), "default_region": "gb"}
    )

    assert mapping_step.status_code == 200
    assert [c["field"] for c in mapping_step.context["columns"]] == [
        "first_name",
        "last_name",
        "email",
        "phone",
    ]
    assert mapping_step.context["preview"][0] == ["Ada", "Lovelace", "ada@example.com", "(415) 555-0101"]
    assert b"Start import" in mapping_step.content

    started = client.post(
        reverse("customers:import"),
        {
            "step": "start",
            "column_0": "first_name",
            "column_1": "last_name",
            "column_2": "",
            "column_3": "phone",
        },
    )

    job = ImportJob.objects.get()
    assert started.status_code == 302
    assert started["Location"] == reverse("customers:import_detail", args=[job.pk])
    assert (job.status, job.default_region, job.source) == (ImportStatus.PENDING, "GB", "page")
    assert job.mapping == {"first_name": "First Name", "last_name": "Last Name", "phone": "Phone Number"}


def test_the_same_field_for_two_columns_is_refused(client_for: Callable[[str | None], Client]) -> None:
    client = client_for("Supervisor")
    client.post(
        reverse("customers:import"), {"file": ContentFile(CSV, name="list.csv"), "default_region": "US"}
    )

    response = client.post(
        reverse("customers:import"), {"step": "start", "column_0": "last_name", "column_1": "last_name"}
    )

    assert response.status_code == 400
    assert "last_name is chosen for both" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_unreadable_upload_shows_the_reason(client_for: Callable[[str | None], Client]) -> None:
    response = client_for("Marketer").post(
        reverse("customers:import"), {"file": ContentFile(b"", name="empty.csv"), "default_region": "US"}
    )

    assert response.status_code == 200
    assert "The submitted file is empty." in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_detail_lists_errors_and_progress_stops_polling_when_done(
    owner_client: Client,
    finished_job: ImportJob,
    django_assert_max_num_queries: Callable,
) -> None:
    client = owner_client
    client.get(reverse("customers:import"))

    with django_assert_max_num_queries(8):
        detail = client.get(reverse("customers:import_detail", args=[finished_job.pk]))
    with django_assert_max_num_queries(6):
        progress = client.get(reverse("customers:import_progress", args=[finished_job.pk]))

    assert detail.context["errors"][0].line_number == 3
    assert "email: &#x27;nope&#x27; is not a valid email address." in detail.content.decode()
    assert b"hx-trigger" not in progress.content
    assert b"Download the error report" in progress.content


def test_progress_polls_while_the_job_runs(client_for: Callable[[str | None], Client], db: None) -> None:
    job = ImportJob.objects.create(
        file_name="x.csv", status=ImportStatus.RUNNING, total_rows=10, processed_rows=4
    )

    progress = client_for("Admin").get(reverse("customers:import_progress", args=[job.pk]))

    assert b'hx-trigger="every 1s"' in progress.content
    assert b'<progress class="progress" max="100" value="40">' in progress.content


def test_error_report_download(owner_client: Client, finished_job: ImportJob) -> None:
    response = owner_client.get(reverse("customers:import_errors", args=[finished_job.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "line_number,reason,First Name,Last Name,E-mail,Phone Number",
        "3,email: 'nope' is not a valid email address.,Bad,Row,nope,",
    ]


@pytest.mark.parametrize(
    ("role", "status"), [(None, 302), ("Agent", 403), ("Marketer", 200), ("Supervisor", 200), ("Admin", 200)]
)
def test_export_roles(
    client_for: Callable[[str | None], Client], db: None, role: str | None, status: int
) -> None:
    assert client_for(role).get(reverse("customers:export")).status_code == status


def test_export_streams_the_filtered_customers(
    client_for: Callable[[str | None], Client], db: None, django_assert_max_num_queries: Callable
) -> None:
    CustomerFactory.create_batch(30, lifecycle_stage="lead")
    CustomerFactory(last_name="Zed", lifecycle_stage="customer")
    client = client_for("Supervisor")

    with django_assert_max_num_queries(12):
        response = client.get(reverse("customers:export"), {"lifecycle_stage": "customer"})
        body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]

    lines = body.splitlines()
    assert lines[0].startswith("external_id,first_name,last_name,email")
    assert len(lines) == 2
    assert ",Zed," in lines[1]


def test_export_with_a_bad_filter_is_a_400(client_for: Callable[[str | None], Client], db: None) -> None:
    response = client_for("Marketer").get(reverse("customers:export"), {"updated_since": "yesterday"})

    assert response.status_code == 400


def test_command_imports_and_writes_the_error_report(
    db: None, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "people.csv"
    source.write_bytes(b"Name,Tel\nAda,020 7946 0018\nBob,12\n")
    report = tmp_path / "errors.csv"

    call_command(
        "import_customers",
        str(source),
        "--region",
        "GB",
        "--map",
        "last_name=Name",
        "--map",
        "phone=Tel",
        "--errors-out",
        str(report),
    )

    out = capsys.readouterr().out
    assert "2 rows, 1 created, 0 updated, 0 unchanged, 1 rejected." in out
    assert f"Error report written to {report}." in out
    assert report.read_text().splitlines()[1] == "3,phone: '12' is not a valid phone number.,Bob,12"
    assert Customer.objects.get().contact_points.get().value == "+442079460018"
    assert ImportJob.objects.get().source == "command"
