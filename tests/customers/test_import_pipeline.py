"""How an import job is driven: validation inline, in a thread ahead of the writer, or in a
process pool gives the same result; an error on either side fails the job and leaves no thread
behind; and on PostgreSQL several processes importing overlapping files at once create every
customer exactly once and account for every row."""

from __future__ import annotations

import multiprocessing
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import connections

from apps.core.actors import SYSTEM
from apps.customers.importing import rows as rows_module
from apps.customers.importing.batches import BatchWriter
from apps.customers.models import ContactPoint, Customer, ImportJob, ImportRowError, ImportStatus
from apps.customers.services import imports
from tests.conftest import require_postgres

HEADER = "External ID,First Name,Last Name,E-mail,Phone Number,Company,Tags\n"


def _file(count: int) -> str:
    lines = [HEADER]
    for n in range(count):
        if n % 7 == 3:
            lines.append(f"X{n},Bad,Phone,bad{n}@example.com,12345,,\n")
        elif n % 11 == 5:
            lines.append(f"X{n},Bad,Email,not-an-email,+1 415 555 {1000 + n:04d},,\n")
        else:
            lines.append(
                f"X{n},First{n},Last{n},p{n}@example.com,+1 415 555 {1000 + n:04d},Org {n % 3},t{n % 2}\n"
            )
    # An in-file duplicate (same external id as line 2) in a later batch.
    lines.append("X0,Again,Zero,,,,\n")
    return "".join(lines)


def _run(content: str, workers: int) -> ImportJob:
    job = imports.import_job_create(
        actor=SYSTEM,
        uploaded_file=ContentFile(content.encode(), name="people.csv"),
        file_name="people.csv",
        source="test",
        schedule=False,
    )
    return imports.import_job_run(job_id=job.pk, workers=workers)


def _outcome(job: ImportJob) -> tuple[Any, ...]:
    customers = sorted(
        Customer.objects.values_list("external_id", "first_name", "organization__name", "search_text")
    )
    points = sorted(ContactPoint.objects.values_list("customer__external_id", "kind", "value", "is_primary"))
    tags = sorted(Customer.tags.through.objects.values_list("customer__external_id", "tag__name"))
    errors = list(job.row_errors.order_by("line_number").values_list("line_number", "reason"))
    counters = (job.status, job.total_rows, job.processed_rows, job.created_count, job.rejected_count)
    return counters, customers, points, tags, errors


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    monkeypatch.setattr(imports, "PG_BATCH_ROWS", 9)
    monkeypatch.setattr(imports, "ORM_BATCH_ROWS", 9)
    monkeypatch.setattr(imports, "POOL_CHUNK_ROWS", 4)


def _import_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "import-validate"]


@pytest.mark.parametrize("workers", [1, 2])
def test_validation_ahead_of_the_writer_gives_the_same_result_as_inline(
    db: None, small_batches: None, workers: int
) -> None:
    content = _file(60)
    inline = _outcome(_run(content, 0))
    Customer.objects.all().delete()
    ahead = _outcome(_run(content, workers))

    assert ahead == inline
    counters, customers, _points, _tags, errors = ahead
    assert counters == (ImportStatus.DONE, 61, 61, len(customers), len(errors))
    assert len(customers) + len(errors) == 61
    assert errors[-1] == (62, "duplicate of line 2 in this file (same external id X0)")
    assert not _import_threads()


def test_a_validation_error_in_the_thread_fails_the_job_with_its_message(
    db: None, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rows_module.RowValidator.validate_many
    calls = {"n": 0}

    def fail_on_third(self: rows_module.RowValidator, rows: list[Any]) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("validator broke")
        return real(self, rows)

    monkeypatch.setattr(rows_module.RowValidator, "validate_many", fail_on_third)
    job = _run(_file(60), 1)

    assert job.status == ImportStatus.FAILED
    assert job.error_message == "RuntimeError: validator broke"
    # The two batches validated before the error were written whole, and nothing after them.
    assert job.processed_rows == 18
    assert Customer.objects.count() + ImportRowError.objects.count() == 18
    assert not _import_threads()


def test_a_writer_error_stops_the_validating_thread(
    db: None, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: BatchWriter, rows: list[Any], now: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(BatchWriter, "write", broken)
    job = _run(_file(200), 1)

    assert (job.status, job.error_message, job.processed_rows) == (
        ImportStatus.FAILED,
        "RuntimeError: disk full",
        0,
    )
    assert not Customer.objects.exists()
    assert not _import_threads()


# -- several processes at once (PostgreSQL) ------------------------------------------------------

POOL = 600
PROCESSES = 4
ROWS_EACH = 450


def _pool_row(n: int) -> str:
    return f"P{n},Name{n},Family{n % 17},c{n}@example.net,+1 212 555 {n:04d},Firm {n % 5},vip\n"


def _child_import(path: str, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=60)
        with open(path, "rb") as handle:
            job = imports.import_job_create(
                actor=SYSTEM,
                uploaded_file=File(handle, name=Path(path).name),
                file_name=Path(path).name,
                source="test",
                schedule=False,
            )
        job = imports.import_job_run(job_id=job.pk, workers=0)
        results.put((job.pk, job.status, job.error_message))
    except BaseException as exc:  # reported to the test, which fails with it
        results.put((None, "crashed", repr(exc)))
    finally:
        connections.close_all()


@pytest.mark.postgres
def test_processes_importing_overlapping_files_at_once_create_each_customer_once(
    transactional_db: None, small_batches: None, tmp_path: Path
) -> None:
    require_postgres()
    rnd = random.Random(5)
    files = []
    expected_ids: set[int] = set()
    for index in range(PROCESSES):
        chosen = rnd.sample(range(POOL), ROWS_EACH)
        expected_ids.update(chosen)
        path = tmp_path / f"part-{index}.csv"
        path.write_text(
            "External ID,First Name,Last Name,Email,Phone,Company,Tags\n" + "".join(map(_pool_row, chosen))
        )
        files.append(str(path))
    # Children open their own connections; the parent's must not be shared across fork.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [context.Process(target=_child_import, args=(f, barrier, results)) for f in files]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0

    assert all(status == ImportStatus.DONE for _, status, _ in outcomes), outcomes
    jobs = list(ImportJob.objects.all())
    assert len(jobs) == PROCESSES
    for job in jobs:
        assert job.total_rows == job.processed_rows == ROWS_EACH
        assert job.created_count + job.updated_count + job.unchanged_count == ROWS_EACH
        assert job.rejected_count == 0
    # Every customer created exactly once, whoever got there first.
    assert sum(job.created_count for job in jobs) == len(expected_ids)
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == sorted(
        f"P{n}" for n in expected_ids
    )
    assert ContactPoint.objects.count() == 2 * len(expected_ids)
    for customer in Customer.objects.prefetch_related("contact_points", "tags"):
        n = int(customer.external_id[1:])
        assert sorted(p.value for p in customer.contact_points.all()) == [
            f"+1212555{n:04d}",
            f"c{n}@example.net",
        ]
        assert [t.name for t in customer.tags.all()] == ["vip"]
