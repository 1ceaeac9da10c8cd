"""import_batch_written: each written batch announces its good rows (line, customer, normalized
contact points, time zone, unmapped columns) inside the batch's transaction; receivers' notes
join the error report; nothing is built when nobody listens. ORM and COPY stores alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile

from apps.core.actors import SYSTEM
from apps.customers.importing import batches
from apps.customers.models import Customer, ImportJob, ImportRowError, ImportStatus
from apps.customers.services import imports
from apps.customers.signals import ImportedRow, import_batch_written
from tests.conftest import require_postgres
from tests.customers.factories import CustomerFactory, PhoneFactory

pytestmark = pytest.mark.django_db

CSV = (
    "First Name,Phone,Email,Plan,Time Zone,Seat\n"
    "Ada,(415) 555-0101,ADA@example.com,gold,,12A\n"
    "Bad,12,,silver,,\n"
    "Alan,(212) 555-0102,alan@example.com,silver,Europe/London,3C\n"
)
UID = "tests.customers.import_rows_signal"


@pytest.fixture(params=["orm", pytest.param("copy", marks=pytest.mark.postgres)])
def run_import(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ImportJob]:
    if request.param == "copy":
        require_postgres()
        monkeypatch.setattr(imports, "store_for_connection", batches.PostgresStore)
    else:
        monkeypatch.setattr(imports, "store_for_connection", batches.OrmStore)

    def run(content: str) -> ImportJob:
        job = imports.import_job_create(
            actor=SYSTEM,
            uploaded_file=ContentFile(content.encode(), name="c.csv"),
            file_name="c.csv",
            source="test",
        )
        return imports.import_job_run(job_id=job.pk)

    return run


@pytest.fixture
def received() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def receiver(sender: type, *, job_id: int, rows: list[ImportedRow], **kwargs: Any) -> None:
        calls.append({"sender": sender, "job_id": job_id, "rows": rows})

    import_batch_written.connect(receiver, dispatch_uid=UID)
    yield calls
    import_batch_written.disconnect(dispatch_uid=UID)


def test_each_batch_announces_its_good_rows(
    run_import: Callable[[str], ImportJob], received: list[dict[str, Any]]
) -> None:
    job = run_import(CSV)

    ada, alan = Customer.objects.get(first_name="Ada"), Customer.objects.get(first_name="Alan")
    assert [(c["sender"], c["job_id"]) for c in received] == [(ImportJob, job.pk)]
    rows = received[0]["rows"]
    assert [(r.line, r.customer_id, r.phones, r.emails, r.time_zone, r.extra) for r in rows] == [
        (
            2,
            ada.pk,
            ("+14155550101",),
            ("ada@example.com",),
            "America/Los_Angeles",
            {"Plan": "gold", "Seat": "12A"},
        ),
        (
            4,
            alan.pk,
            ("+12125550102",),
            ("alan@example.com",),
            "Europe/London",
            {"Plan": "silver", "Seat": "3C"},
        ),
    ]


def test_updated_and_unchanged_rows_are_announced_with_the_existing_customer(
    run_import: Callable[[str], ImportJob], received: list[dict[str, Any]]
) -> None:
    known = CustomerFactory(first_name="Ada", time_zone="America/Denver")
    PhoneFactory(customer=known, value="+14155550101")

    run_import(CSV)
    run_import(CSV)

    first, second = (call["rows"] for call in received)
    assert [(r.line, r.customer_id, r.time_zone) for r in first][0] == (2, known.pk, "America/Denver")
    assert [(r.line, r.customer_id) for r in second] == [(r.line, r.customer_id) for r in first]


def test_batches_are_announced_one_by_one_in_file_order(
    run_import: Callable[[str], ImportJob], received: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "ORM_BATCH_ROWS", 2)
    monkeypatch.setattr(imports, "PG_BATCH_ROWS", 2)

    run_import(CSV)

    assert [[r.line for r in call["rows"]] for call in received] == [[2], [4]]


def test_receiver_notes_join_the_error_report_without_counting_as_rejected(
    run_import: Callable[[str], ImportJob],
) -> None:
    def note(sender: type, *, rows: list[ImportedRow], **kwargs: Any) -> list[tuple[int, str]]:
        return [(rows[0].line, "Plan: noted by a receiver")]

    import_batch_written.connect(note, dispatch_uid=UID)
    try:
        job = run_import(CSV)
    finally:
        import_batch_written.disconnect(dispatch_uid=UID)

    errors = list(
        ImportRowError.objects.filter(job=job)
        .order_by("line_number")
        .values_list("line_number", "reason", "raw")
    )
    assert [(line, reason) for line, reason, _ in errors] == [
        (2, "Plan: noted by a receiver"),
        (3, "phone: '12' is not a valid phone number."),
    ]
    assert errors[0][2]["First Name"] == "Ada"
    assert (job.created_count, job.rejected_count) == (2, 1)


def test_a_receiver_that_raises_fails_the_job_and_its_batch_is_rolled_back(
    run_import: Callable[[str], ImportJob],
) -> None:
    def refuse(sender: type, **kwargs: Any) -> None:
        raise RuntimeError("the list is gone")

    import_batch_written.connect(refuse, dispatch_uid=UID)
    try:
        job = run_import(CSV)
    finally:
        import_batch_written.disconnect(dispatch_uid=UID)

    assert (job.status, job.processed_rows, job.error_message) == (
        ImportStatus.FAILED,
        0,
        "RuntimeError: the list is gone",
    )
    assert Customer.objects.count() == 0


def test_without_receivers_the_writer_builds_nothing_for_the_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    original = batches.BatchWriter.__init__

    def spy(self: batches.BatchWriter, **kwargs: Any) -> None:
        original(self, **kwargs)
        seen.append(self.report_rows)

    monkeypatch.setattr(batches.BatchWriter, "__init__", spy)
    monkeypatch.setattr(import_batch_written, "has_listeners", lambda sender=None: False)
    job = imports.import_job_create(
        actor=SYSTEM, uploaded_file=ContentFile(CSV.encode(), name="c.csv"), file_name="c.csv", source="test"
    )

    job = imports.import_job_run(job_id=job.pk)

    assert (job.status, job.created_count, seen) == (ImportStatus.DONE, 2, [False])
