"""Customer import from CSV/XLSX: create a job (checks, stores the file, schedules the run) and
run it in batches. Good rows land, bad rows are kept with their line number and reason; a re-run
of the same file changes nothing. See apps.customers.importing for the parts."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import multiprocessing
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import closing, suppress
from itertools import islice
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.actors import Actor, SystemActor, is_system, require_actor
from apps.core.exceptions import NotAllowed
from apps.core.services import audit_record
from apps.customers.custom_fields import active_definitions
from apps.customers.erasure import erased_digests
from apps.customers.importing.batches import BatchWriter, ConcurrentChange, store_for_connection
from apps.customers.importing.fields import CUSTOM_PREFIX, known_fields, suggest_mapping
from apps.customers.importing.files import (
    TabularFile,
    count_rows_within,
    extension_of,
    neutralize_formula,
    open_tabular,
)
from apps.customers.importing.rows import CleanRow, RowError, RowValidator
from apps.customers.models import CustomFieldDefinition, ImportJob, ImportRowError, ImportStatus
from apps.customers.signals import ImportedRow, import_batch_written

logger = logging.getLogger(__name__)

IMPORT_ROLES = (Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)
IDENTIFYING_FIELDS = ("external_id", "first_name", "last_name", "phone", "email")
# Rows per transaction on PostgreSQL (COPY) and elsewhere (ORM); progress moves between batches.
PG_BATCH_ROWS = 20_000
ORM_BATCH_ROWS = 2_000
# From which size validation runs ahead of the writer (a thread, or a pool on 4+ cores), and the
# rows per task handed to a pool process.
PREFETCH_MIN_ROWS = 10_000
POOL_MIN_ROWS = 50_000
POOL_CHUNK_ROWS = 5_000
MAX_ATTEMPTS = 3
# pg_advisory_xact_lock key taken by every import batch ("cust" "impt" as two int32).
IMPORT_WRITE_LOCK = 0x63757374_696D7074


class JobNoLongerRunning(Exception):
    """The job stopped being RUNNING under the worker (the stalled-job sweeper failed it)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"import job {job_id} is no longer running")


def max_upload_bytes() -> int:
    return int(settings.IMPORT_MAX_UPLOAD_MB) * 1024 * 1024


def upload_too_large_message() -> str:
    return f"The file is larger than {settings.IMPORT_MAX_UPLOAD_MB} MB, the most one import takes; split it."


def import_allowed(user: User | SystemActor | None) -> bool:
    """A SystemActor (the management command, a task) is the system; people need a role or the
    permission; a caller that says nothing about whom it acts for (None) may not import."""
    if user is None:
        return False
    if is_system(user):
        return True
    assert isinstance(user, User)
    return bool(
        user.is_authenticated
        and (has_role(user, *IMPORT_ROLES) or user.has_perm("customers.import_customers"))
    )


def _stream_of(uploaded_file: File) -> IO[bytes]:
    stream = getattr(uploaded_file, "file", None) or uploaded_file
    stream.seek(0)
    return stream  # type: ignore[return-value]


def import_read_headers(*, uploaded_file: File) -> list[str]:
    """The header row of a .csv/.xlsx upload; ValidationError when the file cannot be read."""
    name = uploaded_file.name or ""
    with open_tabular(_stream_of(uploaded_file), os.path.basename(name)) as table:
        headers = list(table.header)
    uploaded_file.seek(0)
    return headers


def import_preview_rows(*, uploaded_file: File, limit: int = 5) -> list[list[str]]:
    """The first `limit` data rows as strings, for the mapping step's preview."""
    name = uploaded_file.name or ""
    with open_tabular(_stream_of(uploaded_file), os.path.basename(name)) as table:
        rows = [cells for _, cells, _ in islice(table.rows(), limit)]
    uploaded_file.seek(0)
    return rows


def import_suggest_mapping(headers: Iterable[str]) -> dict[str, str]:
    """field -> header for headers that name a field or a usual synonym ("E-mail", "Phone
    Number", "Company", ...), compared without case, spaces or underscores."""
    return suggest_mapping(list(headers), [d.key for d in active_definitions()])


def _check_mapping(mapping: Mapping[str, str], headers: list[str]) -> dict[str, str]:
    custom_keys = [d.key for d in active_definitions()]
    fields = set(known_fields(custom_keys))
    cleaned: dict[str, str] = {}
    problems: list[str] = []
    for field_name, header in mapping.items():
        if not header:
            continue
        if field_name not in fields:
            if field_name.startswith(CUSTOM_PREFIX):
                problems.append(f"{field_name[len(CUSTOM_PREFIX) :]!r} is not an active custom field")
            else:
                problems.append(f"{field_name!r} is not a field that can be imported")
        elif header not in headers:
            problems.append(f"column {header!r} (for {field_name}) is not in the file's header")
        else:
            cleaned[field_name] = header
    if problems:
        raise ValidationError("Mapping: " + "; ".join(problems) + ".")
    if not any(f in cleaned for f in IDENTIFYING_FIELDS) and not any(
        f.startswith(("phone", "email")) for f in cleaned
    ):
        raise ValidationError(
            "Map at least one column to a name, a phone, an email or the external id "
            f"(the file's columns: {', '.join(headers)})."
        )
    return cleaned


def import_job_create(
    *,
    actor: User | SystemActor,
    uploaded_file: File,
    file_name: str,
    mapping: dict[str, str] | None = None,
    default_region: str = settings.DEFAULT_PHONE_REGION,
    source: str,
    schedule: bool = True,
) -> ImportJob:
    """Check the actor may import (Marketer, Supervisor, Admin or customers.import_customers;
    NotAllowed otherwise), that the file is a readable .csv/.xlsx within IMPORT_MAX_UPLOAD_MB with a
    header row, and that the mapping (field -> header; suggested from the headers when None)
    names known fields and existing columns (ValidationError otherwise). Stores the file and
    schedules tasks.import_run after commit (schedule=False: the caller runs it, like the
    management command). Nothing is written when a check fails."""
    require_actor(actor)
    if not import_allowed(actor):
        raise NotAllowed("Importing customers needs the Marketer, Supervisor or Admin role.")
    extension_of(file_name)
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > max_upload_bytes():
        raise ValidationError(upload_too_large_message())
    if size == 0:
        raise ValidationError("The file is empty.")
    region = (default_region or "").strip().upper()
    from phonenumbers import SUPPORTED_REGIONS

    if region not in SUPPORTED_REGIONS:
        raise ValidationError(f"{default_region!r} is not a phone region (a country code like US or GB).")
    with open_tabular(_stream_of(uploaded_file), file_name) as table:
        headers = list(table.header)
    chosen = _check_mapping(mapping if mapping is not None else import_suggest_mapping(headers), headers)
    _stream_of(uploaded_file)
    with transaction.atomic():
        job = ImportJob(
            created_by=actor if isinstance(actor, User) else None,
            source=source[:16],
            file_name=os.path.basename(file_name)[:255],
            mapping=chosen,
            default_region=region,
        )
        job.file.save(os.path.basename(file_name), uploaded_file, save=False)
        job.save()
        audit_record(
            actor=actor,
            action="customer.import_start",
            obj=job,
            data={"file_name": job.file_name, "source": job.source},
        )
        if schedule:
            from apps.customers import tasks

            transaction.on_commit(lambda: tasks.import_run.delay(job.pk))
    return job


# -- running -----------------------------------------------------------------------------------------

_pool_validator: RowValidator | None = None


def _pool_init(validator: RowValidator) -> None:
    global _pool_validator
    _pool_validator = validator


def _pool_validate(rows: list[tuple[int, list[str], str]]) -> list[CleanRow | RowError]:
    assert _pool_validator is not None
    return _pool_validator.validate_many(rows)


def _chunked(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(items, size)):
        yield chunk


def _pool_batches(
    rows: Iterator[tuple[int, list[str], str]], validator: RowValidator, batch_rows: int, workers: int
) -> Generator[list[CleanRow | RowError], None, None]:
    """A fork pool validates chunks in order, at most 2 per worker ahead of the caller, so a
    slow writer never makes the whole file pile up in memory."""
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_pool_init, initargs=(validator,)) as pool:
        pending: deque[Any] = deque()
        batch: list[CleanRow | RowError] = []
        chunks = _chunked(rows, POOL_CHUNK_ROWS)
        while True:
            while len(pending) < 2 * workers and (chunk := next(chunks, None)) is not None:
                pending.append(pool.apply_async(_pool_validate, (chunk,)))
            if not pending:
                break
            batch.extend(pending.popleft().get())
            if len(batch) >= batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch


_DONE = object()


Batch = list[CleanRow | RowError]
PostStep = Callable[[Batch], Batch]


def _prefetched_batches(
    rows: Iterator[tuple[int, list[str], str]], validator: RowValidator, batch_rows: int, post: PostStep
) -> Generator[list[CleanRow | RowError], None, None]:
    """Reads and validates the next batches in a thread while the caller writes the current
    one. Validation is pure Python and holds the GIL, but the writer spends most of a batch
    waiting for PostgreSQL with the GIL released, so the two overlap on two cores. The queue
    holds at most two batches; an error in the thread is raised in the caller, and a caller
    that stops early (its own error) stops the thread."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in _chunked(rows, batch_rows):
                item: Any = post(validator.validate_many(chunk))
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as exc:  # handed to the caller, which raises it
            ready.put(exc)

    thread = threading.Thread(target=produce, name="import-validate", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with suppress(queue.Empty):
                ready.get(timeout=0.2)
        thread.join()


def _validated_batches(
    rows: Iterator[tuple[int, list[str], str]],
    validator: RowValidator,
    batch_rows: int,
    workers: int,
    post: PostStep,
) -> Generator[list[CleanRow | RowError], None, None]:
    """Validated rows in batches of `batch_rows`, each passed through `post` in file order.
    workers 0: validated here, batch by batch; 1: by a thread, ahead of the caller; more: by a
    fork pool of that many processes."""
    if workers <= 0:
        for chunk in _chunked(rows, batch_rows):
            yield post(validator.validate_many(chunk))
    elif workers == 1:
        yield from _prefetched_batches(rows, validator, batch_rows, post)
    else:
        for batch in _pool_batches(rows, validator, batch_rows, workers):
            yield post(batch)


def _estimate_rows(stream: IO[bytes], extension: str) -> int:
    """Data rows for the progress bar before the file is read (lines minus the header); the
    exact count replaces it at the end."""
    if extension == ".xlsx":
        return 0
    stream.seek(0)
    lines = 0
    last = b"\n"
    while chunk := stream.read(4 * 1024 * 1024):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    stream.seek(0)
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


def _workers(estimated_rows: int) -> int:
    """How a file is validated (see _validated_batches). Small files: inline. Larger ones: a
    thread validates ahead of the writer, which overlaps with PostgreSQL's share of the work. A
    process pool only pays with four or more cores, since PostgreSQL and the writer need a core
    each (measured: on two cores a pool is slower than the thread), and never inside Celery's
    prefork children, which are daemons and may not fork."""
    if estimated_rows < PREFETCH_MIN_ROWS:
        return 0
    cpus = os.cpu_count() or 1
    if estimated_rows < POOL_MIN_ROWS or cpus < 4 or multiprocessing.current_process().daemon:
        return 1
    return min(4, cpus - 2)


def _raw_of(header_keys: list[str], cells: list[str]) -> dict[str, str]:
    raw = {key: (cells[i] if i < len(cells) else "") for i, key in enumerate(header_keys)}
    for extra in range(len(header_keys), len(cells)):
        raw[f"column {extra + 1}"] = cells[extra]
    return raw


def _header_keys(header: list[str]) -> list[str]:
    keys: list[str] = []
    for index, name in enumerate(header):
        key = name or f"column {index + 1}"
        keys.append(key if key not in keys else f"{key} ({index + 1})")
    return keys


ProgressCallback = Callable[[int, int], None]


def import_job_run(
    *, job_id: int, workers: int | None = None, on_progress: ProgressCallback | None = None
) -> ImportJob:
    """Run a pending job; a job that is not pending (already running, done or failed) is
    returned untouched, so a redelivered task does nothing. Each batch is one transaction that
    writes its rows, its rejected rows and the job's counters together, so the database never
    holds half a batch and progress is exact. Ends done, or failed with error_message.
    workers: 0 validates inline, 1 in a thread ahead of the writer, more in a process pool
    (default: decided from the file size and CPUs);
    on_progress(processed, estimated_total) is called after each batch."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(
        status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    job = ImportJob.objects.get(pk=job_id)
    if not claimed:
        return job
    try:
        _run(job, workers, on_progress)
    except JobNoLongerRunning:
        logger.warning("import job %s was failed as stalled while its worker still ran", job_id)
    except Exception as exc:
        logger.exception("import job %s failed", job_id)
        message = str(exc.messages[0]) if isinstance(exc, ValidationError) else f"{type(exc).__name__}: {exc}"
        # A job the stalled-job sweeper already failed keeps the sweeper's message.
        ImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
            status=ImportStatus.FAILED, error_message=message[:2000], finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def _run(job: ImportJob, workers: int | None, on_progress: ProgressCallback | None) -> None:
    definitions = active_definitions()
    owners = dict(User.objects.values_list("username", "id"))
    with job.file.open("rb") as stream:
        # Refused before anything is written: too many rows, a zip bomb, an unreadable encoding.
        count_rows_within(stream, job.file_name)
        estimate = _estimate_rows(stream, os.path.splitext(job.file_name.lower())[1])
        ImportJob.objects.filter(pk=job.pk).update(total_rows=estimate, heartbeat_at=timezone.now())
        with open_tabular(stream, job.file_name) as table:
            seen_rows = _run_table(job, table, estimate, definitions, owners, workers, on_progress)
    with transaction.atomic():
        finished = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.DONE, total_rows=seen_rows, finished_at=timezone.now()
        )
        if not finished:
            raise JobNoLongerRunning(job.pk)
        job.refresh_from_db()
        audit_record(
            actor=job.created_by,
            action="customer.import",
            obj=job,
            data={
                "file_name": job.file_name,
                "rows": job.total_rows,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "rejected": job.rejected_count,
            },
        )


def _run_table(
    job: ImportJob,
    table: TabularFile,
    estimate: int,
    definitions: list[CustomFieldDefinition],
    owners: dict[str, int],
    workers: int | None,
    on_progress: ProgressCallback | None,
) -> int:
    header = table.header
    mapping = _check_mapping(job.mapping or import_suggest_mapping(header), header)
    columns = {field_name: header.index(column) for field_name, column in mapping.items()}
    validator = RowValidator(
        columns=columns,
        header_size=len(header),
        region=job.default_region,
        definitions=definitions,
        owners=owners,
        erased=erased_digests(),
    )
    writer = BatchWriter(
        store=store_for_connection(),
        job_id=job.pk,
        required_custom={d.key for d in definitions if d.required},
        # Decided once per job: with nobody listening, a batch builds nothing for the signal.
        report_rows=import_batch_written.has_listeners(ImportJob),
    )
    postgres = connection.vendor == "postgresql"
    batch_rows = PG_BATCH_ROWS if postgres else ORM_BATCH_ROWS
    pool_size = workers if workers is not None else (_workers(estimate) if postgres else 0)
    header_keys = _header_keys(header)
    mapped = set(columns.values())
    extra_columns = tuple((key, index) for index, key in enumerate(header_keys) if index not in mapped)
    seen_rows = 0

    # closing(): a failed write stops the validating thread or pool at once.
    def drop_duplicates(batch: Batch) -> Batch:
        # In file order, and off the writer's path when a thread validates.
        clean = [row for row in batch if isinstance(row, CleanRow)]
        kept, duplicates = writer.drop_in_file_duplicates(clean)
        return [*kept, *(row for row in batch if isinstance(row, RowError)), *duplicates]

    batches_of = _validated_batches(table.rows(), validator, batch_rows, pool_size, drop_duplicates)
    with closing(batches_of) as batches:
        for batch in batches:
            seen_rows += len(batch)
            _write_batch(job, writer, batch, header_keys, extra_columns)
            if on_progress is not None:
                on_progress(seen_rows, max(estimate, seen_rows))
    return seen_rows


def _announce_batch(
    job: ImportJob, written: list[tuple[CleanRow, int, str]], extra_columns: tuple[tuple[str, int], ...]
) -> list[RowError]:
    """Send import_batch_written for the batch's good rows (inside its transaction) and return
    the notes its receivers gave back about lines they could not fully use."""
    rows = [
        ImportedRow(row.line, customer_id, row.phones, row.emails, time_zone, row.cells, extra_columns)
        for row, customer_id, time_zone in sorted(written, key=lambda item: item[0].line)
    ]
    notes: list[RowError] = []
    cells_of: dict[int, list[str]] | None = None
    for _receiver, response in import_batch_written.send(sender=ImportJob, job_id=job.pk, rows=rows):
        if not isinstance(response, list | tuple):
            continue
        for line, reason in response:
            if cells_of is None:
                cells_of = {row.line: row.cells for row, _, _ in written}
            notes.append(RowError(int(line), str(reason), cells_of.get(int(line), [])))
    return notes


def _write_batch(
    job: ImportJob,
    writer: BatchWriter,
    batch: list[CleanRow | RowError],
    header_keys: list[str],
    extra_columns: tuple[tuple[str, int], ...] = (),
) -> None:
    kept = [row for row in batch if isinstance(row, CleanRow)]
    errors = [row for row in batch if isinstance(row, RowError)]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        # One import batch at a time in the whole system: two imports of
                        # overlapping files alternate batches instead of racing to create the
                        # same customers (each batch resolves what the other committed). Only
                        # a concurrent edit elsewhere can still raise ConcurrentChange.
                        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_WRITE_LOCK])
                        # The batch's rows and the job's counters commit together, so losing
                        # the last commits in a server crash looks like the job stopped before
                        # them; not waiting for each WAL flush saves a disk round trip a batch.
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
                result = writer.write(kept, timezone.now())
                rejected = sorted(errors + result.errors, key=lambda e: e.line)
                # Notes on written rows join the error report; they are not rejections.
                notes = _announce_batch(job, result.written, extra_columns) if writer.report_rows else []
                ImportRowError.objects.bulk_create(
                    [
                        ImportRowError(
                            job=job, line_number=e.line, reason=e.reason, raw=_raw_of(header_keys, e.cells)
                        )
                        for e in sorted(rejected + notes, key=lambda e: e.line)
                    ],
                    batch_size=1000,
                )
                counted = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
                    processed_rows=F("processed_rows") + len(batch),
                    created_count=F("created_count") + result.created,
                    updated_count=F("updated_count") + result.updated,
                    unchanged_count=F("unchanged_count") + result.unchanged,
                    rejected_count=F("rejected_count") + len(rejected),
                    heartbeat_at=timezone.now(),
                )
                if not counted:
                    # Failed meanwhile as stalled: this batch is rolled back and the run stops.
                    raise JobNoLongerRunning(job.pk)
            writer.touched.update(result.touched)
            return
        except ConcurrentChange:
            # Someone created one of these customers meanwhile: resolve the batch again.
            if attempt == MAX_ATTEMPTS:
                raise


# -- stalled jobs ------------------------------------------------------------------------------------


def import_jobs_fail_stalled(*, actor: Actor, now: dt.datetime | None = None) -> list[int]:
    """Mark failed every running job whose heartbeat (moved at every batch) is older than
    IMPORT_STALLED_AFTER_SECONDS: its worker died, was killed at its time limit or lost its
    connection, and nothing else would ever finish it. Locks the jobs (skip_locked, so two beat
    runs never fail one twice); the rows imported so far stay, and importing the file again
    finishes it (imported rows come out unchanged). Only the system or an Admin may do this.
    Returns the failed jobs' ids."""
    require_actor(actor)
    if not (is_system(actor) or (isinstance(actor, User) and has_role(actor, Role.ADMIN))):
        raise NotAllowed("Only the system or an Admin may fail stalled imports.")
    now = now or timezone.now()
    limit = int(settings.IMPORT_STALLED_AFTER_SECONDS)
    cutoff = now - dt.timedelta(seconds=limit)
    failed: list[int] = []
    with transaction.atomic():
        stalled = (
            ImportJob.objects.select_for_update(skip_locked=True)
            .filter(status=ImportStatus.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
            .order_by("pk")
        )
        for job in stalled:
            job.status = ImportStatus.FAILED
            job.finished_at = now
            job.error_message = (
                f"the worker running it has not reported for more than {limit // 60} minutes "
                f"(it was stopped, or ran out of time or memory). {job.processed_rows:,} rows were "
                "read before that and are kept; import the same file again to finish (rows already "
                "imported come out unchanged)."
            )
            job.save(update_fields=["status", "finished_at", "error_message"])
            audit_record(
                actor=actor,
                action="customer.import_stalled",
                obj=job,
                data={"file_name": job.file_name, "processed_rows": job.processed_rows},
            )
            failed.append(job.pk)
    return failed


# -- who sees which job ------------------------------------------------------------------------------


def import_jobs_visible_to(user: User | Any) -> QuerySet[ImportJob]:
    """The jobs `user` may see with their rejected rows: all of them for Supervisors and Admins,
    their own for anyone else (a Marketer, or an Agent given the import permission), none for
    an anonymous visitor."""
    jobs = ImportJob.objects.select_related("created_by")
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return jobs.none()
    if user.is_superuser or has_role(user, Role.SUPERVISOR, Role.ADMIN):
        return jobs
    return jobs.filter(created_by=user)


# -- error report ------------------------------------------------------------------------------------


def _file_header_keys(job: ImportJob) -> list[str]:
    """The columns in the file's order (JSON objects in PostgreSQL do not keep key order)."""
    try:
        with job.file.open("rb") as stream, open_tabular(stream, job.file_name) as table:
            return _header_keys(table.header)
    except (OSError, ValueError, ValidationError):
        return []


def import_errors_csv(*, job: ImportJob, stream: Any) -> int:
    """Write the rejected rows as CSV to `stream` (anything with write(str)): line_number,
    reason, then the row's original columns. Returns the number of rows written."""
    errors = job.row_errors.order_by("line_number", "id")
    columns = _file_header_keys(job)
    for raw in errors.values_list("raw", flat=True).iterator(chunk_size=2000):
        for key in raw:
            if key not in columns:
                columns.append(key)
    writer = csv.writer(stream)
    writer.writerow(["line_number", "reason", *(neutralize_formula(c) for c in columns)])
    count = 0
    for line, reason, raw in errors.values_list("line_number", "reason", "raw").iterator(chunk_size=2000):
        # The rejected cells are whatever the file held: written as text, never as formulas.
        writer.writerow(
            [line, neutralize_formula(reason), *(neutralize_formula(raw.get(c, "")) for c in columns)]
        )
        count += 1
    return count
