"""Hostile and broken import files: zip bombs, a declared sheet of 17 billion cells, a huge
shared string, too many rows/columns/characters, legacy encodings and control characters. Each is
refused with a message a person can act on (or its row is rejected), never a 500 or a stuck job.
Also: the watchdog that fails a job whose worker died, and who may see which job."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import timedelta

import openpyxl
import pytest
from django.conf import LazySettings as SettingsWrapper
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.accounts.models import User
from apps.core.actors import SYSTEM, SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers import tasks
from apps.customers.importing import batches
from apps.customers.importing.files import open_tabular
from apps.customers.models import Customer, ImportJob, ImportRowError, ImportStatus
from apps.customers.services import imports

WATCHDOG = SystemActor("import watchdog")


@pytest.fixture(autouse=True)
def _orm_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "store_for_connection", batches.OrmStore)


def create(data: bytes, name: str, actor: User | SystemActor = SYSTEM) -> ImportJob:
    return imports.import_job_create(
        actor=actor, uploaded_file=ContentFile(data, name=name), file_name=name, source="test"
    )


def run(data: bytes, name: str = "people.csv", actor: User | SystemActor = SYSTEM) -> ImportJob:
    return imports.import_job_run(job_id=create(data, name, actor).pk)


def reasons(job: ImportJob) -> list[tuple[int, str]]:
    return list(job.row_errors.order_by("line_number").values_list("line_number", "reason"))


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
</Types>"""


def shared_xlsx(rows: list[list[str]], *, dimension: str = "", strings_xml: bytes | None = None) -> bytes:
    """A workbook written the way Excel writes one: every text in xl/sharedStrings.xml, cells
    pointing at them (openpyxl writes inline strings instead)."""
    strings = sorted({cell for row in rows for cell in row})
    index = {text: i for i, text in enumerate(strings)}
    cells = "".join(
        f'<row r="{r}">'
        + "".join(f'<c r="{chr(65 + c)}{r}" t="s"><v>{index[text]}</v></c>' for c, text in enumerate(row))
        + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">'
        + (f'<dimension ref="{dimension}"/>' if dimension else "")
        + f"<sheetData>{cells}</sheetData></worksheet>"
    )
    shared = (
        strings_xml
        or (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="{len(strings)}">'
            + "".join(f"<si><t>{text}</t></si>" for text in strings)
            + "</sst>"
        ).encode()
    )
    members = {
        "[Content_Types].xml": CONTENT_TYPES.encode(),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ).encode(),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{RELS}">'
            '<sheets><sheet name="People" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ).encode(),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ).encode(),
        "xl/worksheets/sheet1.xml": sheet.encode(),
        "xl/sharedStrings.xml": shared,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def rewrite(data: bytes, replace: dict[str, Callable[[bytes], bytes]]) -> bytes:
    """The workbook with some members rewritten (deflated like the rest)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename in replace:
                content = replace[info.filename](content)
            target.writestr(info.filename, content)
    return out.getvalue()


# -- XLSX ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sheet_declaring_the_whole_grid_imports_only_the_rows_it_holds() -> None:
    # Given a 2-row workbook whose sheet declares every cell of the grid (A1:XFD1048576)
    data = shared_xlsx([["first_name", "last_name"], ["Ada", "Lovelace"]], dimension="A1:XFD1048576")
    assert len(data) < 10_000

    # When it is imported
    started = time.monotonic()
    job = run(data, "grid.xlsx")

    # Then only its one data row is read, in no time
    assert time.monotonic() - started < 5
    assert (job.status, job.total_rows, job.created_count, job.rejected_count) == ("done", 1, 1, 0)
    assert list(Customer.objects.values_list("first_name", "last_name")) == [("Ada", "Lovelace")]


@pytest.mark.django_db
def test_a_zip_bomb_is_refused_before_it_is_opened() -> None:
    # Given a workbook whose sheet is 20 MB of one character (a few KB compressed)
    bomb = rewrite(
        xlsx([["first_name"], ["Ada"]]),
        {
            "xl/worksheets/sheet1.xml": lambda xml: xml.replace(
                b"</worksheet>", b"<!--" + b"A" * 20_000_000 + b"--></worksheet>"
            )
        },
    )
    assert len(bomb) < 100_000

    # When it is uploaded, then it is refused with the reason and nothing is created
    with pytest.raises(ValidationError) as refused:
        create(bomb, "bomb.xlsx")
    assert refused.value.messages == [
        "The workbook's part xl/worksheets/sheet1.xml expands 1,008 times when opened (at most 100 is "
        "allowed), which no real spreadsheet does: it is refused as a zip bomb. Open it in your "
        "spreadsheet and save it again as .xlsx, or as CSV UTF-8."
    ]
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_a_workbook_expanding_past_the_limit_is_refused(settings: SettingsWrapper) -> None:
    # Given a 1 MB limit and a workbook whose members hold 1.5 MB of barely compressible text
    settings.IMPORT_MAX_UNCOMPRESSED_MB = 1
    noise = b"".join(f"{(i * 2654435761) % 4294967296:08x}".encode() for i in range(190_000))
    data = rewrite(
        xlsx([["first_name"], ["Ada"]]),
        {
            "xl/worksheets/sheet1.xml": lambda xml: xml.replace(
                b"</worksheet>", b"<!--" + noise + b"--></worksheet>"
            )
        },
    )

    with pytest.raises(ValidationError) as refused:
        create(data, "big.xlsx")

    assert refused.value.messages == [
        "The workbook expands to 1 MB when opened, more than the 1 MB an import may hold; split it or "
        "save it as CSV."
    ]


@pytest.mark.django_db
def test_a_huge_shared_string_is_refused_without_reading_it_into_memory(settings: SettingsWrapper) -> None:
    # Given a workbook whose one text cell is 8 million characters (ratio allowed, to reach the scan)
    settings.IMPORT_MAX_COMPRESSION_RATIO = 100_000
    huge = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}"><si><t>first_name</t></si><si><t>'
        + "x" * 8_000_000
        + "</t></si></sst>"
    ).encode()
    data = shared_xlsx([["first_name"], ["x"]], strings_xml=huge)
    assert len(data) < 100_000

    # When its headers are read (what the upload page does)
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as refused:
            imports.import_read_headers(uploaded_file=ContentFile(data, name="huge.xlsx"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it is refused, and the string was never held in memory
    assert refused.value.messages == [
        "A cell of the workbook holds more than 10,000 characters, the most a cell may hold; shorten it "
        "and upload the file again."
    ]
    assert peak < 2_000_000


@pytest.mark.django_db
def test_a_workbook_declaring_a_doctype_is_refused() -> None:
    strings = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><sst xmlns="{MAIN}"><si><t>&a;</t></si></sst>'
    )
    data = shared_xlsx([["first_name"]], strings_xml=strings.encode())

    with pytest.raises(ValidationError) as refused:
        create(data, "doctype.xlsx")

    assert refused.value.messages[0].startswith("The workbook's part xl/sharedStrings.xml declares a DOCTYPE")
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_a_damaged_workbook_is_refused_with_a_message() -> None:
    data = xlsx([["first_name"], ["Ada"]])

    with pytest.raises(ValidationError) as refused:
        create(data[: len(data) // 2], "cut.xlsx")

    assert refused.value.messages == ["The file is not a readable .xlsx workbook (BadZipFile)."]


# -- rows, columns, cells ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["people.csv", "people.xlsx"])
def test_a_file_with_too_many_rows_fails_before_anything_is_imported(
    settings: SettingsWrapper, name: str
) -> None:
    # Given a limit of 3 rows and a file of 4
    rows = [["first_name"], ["Ada"], ["Alan"], ["Grace"], ["Edsger"]]
    data = xlsx(rows) if name.endswith(".xlsx") else "".join(f"{r[0]}\n" for r in rows).encode()
    job = create(data, name)
    settings.IMPORT_MAX_ROWS = 3

    # When the job runs
    job = imports.import_job_run(job_id=job.pk)

    # Then it fails with the reason, and nothing was imported
    assert (job.status, job.processed_rows, job.created_count) == ("failed", 0, 0)
    assert job.error_message == (
        "The file has more than 3 data rows, the most one import takes; split it into smaller files "
        "and import each."
    )
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_a_file_at_the_row_limit_imports(settings: SettingsWrapper) -> None:
    settings.IMPORT_MAX_ROWS = 3

    job = run(b"first_name\nAda\nAlan\nGrace\n")

    assert (job.status, job.created_count) == ("done", 3)


@pytest.mark.django_db
def test_a_quoted_cell_spanning_lines_does_not_count_as_rows(settings: SettingsWrapper) -> None:
    # Given 2 rows over 5 lines (a job title spans lines) and a limit of 2 rows
    settings.IMPORT_MAX_ROWS = 2

    job = run(b'first_name,custom\nAda,"a\nb\nc"\nAlan,x\n')

    assert (job.status, job.created_count) == ("done", 2)


@pytest.mark.django_db
def test_too_many_columns_are_refused_at_upload(settings: SettingsWrapper) -> None:
    settings.IMPORT_MAX_COLUMNS = 3

    with pytest.raises(ValidationError) as refused:
        create(b"first_name,last_name,email,phone\nAda,L,a@x.org,\n", "wide.csv")

    assert refused.value.messages == [
        "The file has 4 columns, more than the 3 an import reads; remove the columns you do not import."
    ]


@pytest.mark.django_db
def test_a_cell_longer_than_the_limit_rejects_its_row_only(settings: SettingsWrapper) -> None:
    # Given a 256-character cell limit and one row with a 300-character cell
    settings.IMPORT_MAX_CELL_CHARS = 256
    data = b"first_name,last_name\nAda,Lovelace\nAlan," + b"T" * 300 + b"\n"

    # When it is imported
    job = run(data)

    # Then that row is rejected with the reason and the other row lands
    assert (job.status, job.created_count, job.rejected_count) == ("done", 1, 1)
    assert reasons(job) == [(3, "column 2 holds 300 characters, more than the 256 a cell may hold")]
    raw = ImportRowError.objects.get().raw
    assert raw == {"first_name": "Alan", "last_name": "T" * 200 + "…"}


# -- encodings and control characters ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "names"),
    [
        ("cp1251", [("Иван", "Петров"), ("Мария", "Сидорова")]),
        ("cp1250", [("Łukasz", "Wałęsa"), ("Zdeněk", "Dvořák")]),
        ("cp1252", [("Renée", "Müller"), ("José", "Ñúñez")]),
        ("cp1252", [("Ada", "Price €100 & 5°")]),
    ],
)
def test_legacy_encoded_csv_imports_with_the_right_names(encoding: str, names: list[tuple[str, str]]) -> None:
    text = "first_name,last_name\n" + "".join(f"{first},{last}\n" for first, last in names)

    job = run(text.encode(encoding))

    assert (job.status, job.rejected_count) == ("done", 0)
    assert sorted(Customer.objects.values_list("first_name", "last_name")) == sorted(names)


@pytest.mark.django_db
def test_a_shift_jis_file_that_could_be_chinese_is_refused_not_garbled() -> None:
    # Given kanji-only names in Shift-JIS, which Chinese and Korean code pages also read as text
    data = "first_name,last_name\n太郎,山田\n花子,鈴木\n".encode("shift_jis")

    # When it is uploaded, then it is refused with what to do, and nothing is created
    with pytest.raises(ValidationError) as refused:
        create(data, "people.csv")
    assert refused.value.messages == [
        "The file is not UTF-8 and its text encoding cannot be told for sure (it reads as Japanese "
        'Shift-JIS (cp932) or Chinese GB18030 or Korean (cp949)). Save it as "CSV UTF-8" in your '
        "spreadsheet and upload it again."
    ]
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_a_shift_jis_file_saved_as_utf8_imports() -> None:
    job = run("first_name,last_name\n太郎,山田\n".encode())

    assert list(Customer.objects.values_list("first_name", "last_name")) == [("太郎", "山田")]
    assert job.rejected_count == 0


@pytest.mark.django_db
def test_control_characters_in_names_reject_the_row_with_the_reason() -> None:
    job = run(b'first_name,last_name\nAda,Lovelace\n"Al\x07an",Turing\nGrace,"Hop\nper"\n')

    assert (job.created_count, job.rejected_count) == (1, 2)
    assert reasons(job) == [
        (
            3,
            "first_name holds the control character U+0007; remove it (or save the file as CSV UTF-8 "
            "if the names look garbled)",
        ),
        (
            4,
            "last_name holds the control character U+000A; remove it (or save the file as CSV UTF-8 "
            "if the names look garbled)",
        ),
    ]
    assert list(Customer.objects.values_list("first_name", flat=True)) == ["Ada"]


# -- upload page -------------------------------------------------------------------------------


def test_the_upload_page_shows_a_refusal_and_keeps_nothing(
    client_for: Callable[[str | None], Client],
) -> None:
    bomb = rewrite(
        xlsx([["first_name"], ["Ada"]]),
        {"xl/worksheets/sheet1.xml": lambda xml: xml + b" " * 5_000_000},
    )

    response = client_for("Marketer").post(
        reverse("customers:import"), {"file": ContentFile(bomb, name="bomb.xlsx"), "default_region": "US"}
    )

    assert response.status_code == 200
    assert "refused as a zip bomb" in response.content.decode()
    assert ImportJob.objects.count() == 0


# -- heartbeat and the watchdog ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_moves_the_heartbeat() -> None:
    before = timezone.now()

    job = run(b"first_name\nAda\n")

    assert job.heartbeat_at is not None and job.heartbeat_at >= before


@pytest.mark.django_db
def test_the_watchdog_fails_a_job_whose_worker_stopped_and_leaves_live_ones(
    settings: SettingsWrapper,
) -> None:
    # Given a job left running 20 minutes ago, one that reported a minute ago, and a finished one
    now = timezone.now()
    stalled = ImportJob.objects.create(
        file_name="a.csv",
        status=ImportStatus.RUNNING,
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - timedelta(minutes=20),
        processed_rows=4000,
    )
    live = ImportJob.objects.create(
        file_name="b.csv",
        status=ImportStatus.RUNNING,
        started_at=now,
        heartbeat_at=now - timedelta(minutes=1),
    )
    done = ImportJob.objects.create(
        file_name="c.csv", status=ImportStatus.DONE, heartbeat_at=now - timedelta(days=1)
    )

    # When the beat task runs
    assert tasks.import_jobs_fail_stalled_task() == 1

    # Then only the stalled job is failed, with a message saying what to do
    stalled.refresh_from_db()
    assert stalled.status == ImportStatus.FAILED
    assert stalled.error_message == (
        "the worker running it has not reported for more than 15 minutes (it was stopped, or ran out "
        "of time or memory). 4,000 rows were read before that and are kept; import the same file "
        "again to finish (rows already imported come out unchanged)."
    )
    assert list(ImportJob.objects.order_by("pk").values_list("status", flat=True)) == [
        "failed",
        "running",
        "done",
    ]
    assert AuditEntry.objects.filter(action="customer.import_stalled", object_id=str(stalled.pk)).count() == 1
    assert [live.pk, done.pk] == list(
        ImportJob.objects.exclude(pk=stalled.pk).order_by("pk").values_list("pk", flat=True)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Agent", "Marketer", "Supervisor"])
def test_only_the_system_or_an_admin_may_fail_stalled_jobs(make_user: Callable[..., User], role: str) -> None:
    job = ImportJob.objects.create(
        file_name="a.csv", status=ImportStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    with pytest.raises(NotAllowed):
        imports.import_jobs_fail_stalled(actor=make_user(role))
    with pytest.raises(NotAllowed):
        imports.import_jobs_fail_stalled(actor=None)  # type: ignore[arg-type]

    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING
    assert imports.import_jobs_fail_stalled(actor=make_user("Admin")) == [job.pk]


@pytest.mark.django_db
def test_a_redelivered_task_does_not_import_twice() -> None:
    # Given a job that ran to its end
    job = create(b"first_name,email\nAda,ada@example.com\n", "a.csv")
    assert tasks.import_run(job.pk) == "done"

    # When the broker delivers the task again (acks_late after a lost acknowledgement)
    assert tasks.import_run(job.pk) == "done"

    # Then nothing is imported a second time
    job.refresh_from_db()
    assert (job.created_count, job.processed_rows, Customer.objects.count()) == (1, 1, 1)


@pytest.mark.django_db
def test_a_task_redelivered_after_its_worker_died_leaves_the_job_to_the_watchdog() -> None:
    # Given a job a dead worker left running
    job = create(b"first_name\nAda\n", "a.csv")
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    # When the task is delivered again, then it imports nothing; the watchdog fails the job
    assert tasks.import_run(job.pk) == "running"
    assert Customer.objects.count() == 0
    assert imports.import_jobs_fail_stalled(actor=WATCHDOG) == [job.pk]
    assert tasks.import_run(job.pk) == "failed"
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_a_worker_still_running_a_job_failed_as_stalled_stops_at_its_next_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given batches of 2 rows, and the watchdog failing the job after the first batch
    monkeypatch.setattr(imports, "ORM_BATCH_ROWS", 2)
    monkeypatch.setattr(imports, "PG_BATCH_ROWS", 2)
    job = create(b"first_name\nA\nB\nC\nD\nE\n", "a.csv")

    def watchdog_fires(processed: int, total: int) -> None:
        imports.import_jobs_fail_stalled(actor=WATCHDOG, now=timezone.now() + timedelta(hours=1))

    # When the job runs
    job = imports.import_job_run(job_id=job.pk, on_progress=watchdog_fires)

    # Then the second batch is rolled back and the job keeps the watchdog's verdict
    assert (job.status, job.processed_rows, job.created_count) == ("failed", 2, 2)
    assert job.error_message.startswith("the worker running it has not reported")
    assert sorted(Customer.objects.values_list("first_name", flat=True)) == ["A", "B"]


@pytest.mark.django_db
def test_beat_runs_the_watchdog_every_minute() -> None:
    task = PeriodicTask.objects.get(task="apps.customers.tasks.import_jobs_fail_stalled")

    assert (task.enabled, task.interval.every, task.interval.period) == (True, 60, "seconds")  # type: ignore[union-attr]


# -- who sees which job ------------------------------------------------------------------------


@pytest.fixture
def jobs(make_user: Callable[..., User]) -> dict[str, ImportJob]:
    """A job started by a Marketer ("own" for the `owner`), and one by another Marketer."""
    owner = make_user("Marketer", username="owner")
    other = make_user("Marketer", username="other")
    own = run(b"first_name,email\nAda,nope\n", "own.csv", actor=owner)
    theirs = run(b"first_name,email\nAlan,nope\n", "theirs.csv", actor=other)
    return {"own": own, "theirs": theirs}


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


PAGES = ["customers:import_detail", "customers:import_progress", "customers:import_errors"]
APIS = ["api:import-detail", "api:import-errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "own", "theirs"),
    [
        ("owner", 200, 404),
        ("Marketer", 404, 404),
        ("Agent", 403, 403),
        ("Supervisor", 200, 200),
        ("Admin", 200, 200),
        (None, 302, 302),
    ],
)
def test_import_pages_show_a_job_only_to_its_starter_supervisors_and_admins(
    jobs: dict[str, ImportJob],
    make_user: Callable[..., User],
    who: str | None,
    own: int,
    theirs: int,
    django_assert_max_num_queries: Callable,
) -> None:
    user = User.objects.get(username="owner") if who == "owner" else (make_user(who) if who else None)
    client = _client(user)

    got = {}
    for name in PAGES:
        for key in ("own", "theirs"):
            with django_assert_max_num_queries(8):
                response = client.get(reverse(name, args=[jobs[key].pk]))
            got[(name, key)] = response.status_code
            if response.status_code != 200:
                # A denied request shows nothing of the job.
                assert jobs[key].file_name.encode() not in response.content
                assert b"nope" not in response.content

    assert got == {
        (name, key): (own if key == "own" else theirs) for name in PAGES for key in ("own", "theirs")
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "own", "theirs"),
    [
        ("owner", 200, 404),
        ("Marketer", 404, 404),
        ("Agent", 403, 403),
        ("Supervisor", 200, 200),
        ("Admin", 200, 200),
        (None, 403, 403),
    ],
)
def test_the_import_api_shows_a_job_only_to_its_starter_supervisors_and_admins(
    jobs: dict[str, ImportJob],
    make_user: Callable[..., User],
    who: str | None,
    own: int,
    theirs: int,
    django_assert_max_num_queries: Callable,
) -> None:
    user = User.objects.get(username="owner") if who == "owner" else (make_user(who) if who else None)
    client = _client(user)

    got = {}
    for name in APIS:
        for key in ("own", "theirs"):
            with django_assert_max_num_queries(10):
                response = client.get(reverse(name, args=[jobs[key].pk]))
            status = 403 if response.status_code == 401 else response.status_code
            got[(name, key)] = status
            if status != 200:
                assert jobs[key].file_name.encode() not in response.content
                assert b"nope" not in response.content

    assert got == {
        (name, key): (own if key == "own" else theirs) for name in APIS for key in ("own", "theirs")
    }


@pytest.mark.django_db
def test_the_import_page_lists_only_the_jobs_a_marketer_started(
    jobs: dict[str, ImportJob], make_user: Callable[..., User]
) -> None:
    owner_page = _client(User.objects.get(username="owner")).get(reverse("customers:import"))
    supervisor_page = _client(make_user("Supervisor")).get(reverse("customers:import"))

    assert [j.file_name for j in owner_page.context["jobs"]] == ["own.csv"]
    assert sorted(j.file_name for j in supervisor_page.context["jobs"]) == ["own.csv", "theirs.csv"]


@pytest.mark.django_db
def test_reading_a_file_through_open_tabular_checks_the_limits_too(settings: SettingsWrapper) -> None:
    settings.IMPORT_MAX_COLUMNS = 1

    with (
        pytest.raises(ValidationError) as refused,
        open_tabular(io.BytesIO(xlsx([["a", "b"], [1, 2]])), "x.xlsx"),
    ):
        pass

    assert refused.value.messages == [
        "The file has 2 columns, more than the 1 an import reads; remove the columns you do not import."
    ]


def test_a_file_the_limits_refuse_between_upload_and_start_sends_back_to_upload(
    client_for: Callable[[str | None], Client], settings: SettingsWrapper
) -> None:
    # Given a file uploaded while it was within the limits
    client = client_for("Marketer")
    client.post(
        reverse("customers:import"),
        {"file": ContentFile(b"first_name,last_name\nAda,L\n", name="a.csv"), "default_region": "US"},
    )
    settings.IMPORT_MAX_COLUMNS = 1

    # When the import is started after the limits changed
    response = client.post(
        reverse("customers:import"), {"step": "start", "column_0": "first_name"}, follow=True
    )

    # Then the upload page says why, and no job exists
    assert response.status_code == 200
    assert "The file has 2 columns, more than the 1 an import reads" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_the_import_api_answers_a_zip_bomb_with_a_400(make_user: Callable[..., User]) -> None:
    from rest_framework.test import APIClient

    bomb = rewrite(
        xlsx([["first_name"], ["Ada"]]), {"xl/worksheets/sheet1.xml": lambda xml: xml + b" " * 5_000_000}
    )
    client = APIClient()
    client.force_login(make_user("Marketer"))

    response = client.post(
        "/api/v1/customers/import/",
        {"file": ContentFile(bomb, name="bomb.xlsx"), "default_region": "US"},
        format="multipart",
    )

    assert response.status_code == 400
    assert "refused as a zip bomb" in response.content.decode()
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_the_system_may_import_in_its_own_name() -> None:
    job = imports.import_job_create(
        actor=SystemActor("nightly sync"),
        uploaded_file=ContentFile(b"first_name\nAda\n", name="a.csv"),
        file_name="a.csv",
        source="test",
        schedule=False,
    )

    assert job.created_by is None
    assert AuditEntry.objects.get(action="customer.import_start").data["system"] == "nightly sync"


@pytest.mark.django_db
def test_a_long_xlsx_cell_rejects_its_row_only(settings: SettingsWrapper) -> None:
    settings.IMPORT_MAX_CELL_CHARS = 256

    job = run(xlsx([["first_name", "last_name"], ["Ada", "Lovelace"], ["Alan", "T" * 300]]), "people.xlsx")

    assert (job.status, job.created_count, job.rejected_count) == ("done", 1, 1)
    assert reasons(job) == [(3, "column 2 holds 300 characters, more than the 256 a cell may hold")]


@pytest.mark.django_db
def test_a_cell_past_the_csv_reader_limit_is_reported_with_what_was_not_read() -> None:
    # Given a file whose third line opens a quote that runs past the reader's 1 MB cell limit
    data = b'first_name,last_name\nAda,Lovelace\nAlan,"' + b"x" * 1_100_000 + b"\nGrace,Hopper\n"

    # When it is imported
    job = run(data)

    # Then the line is reported, saying the rest of the file was not read
    assert (job.status, job.created_count, job.rejected_count) == ("done", 1, 1)
    assert reasons(job) == [
        (
            3,
            "The line could not be read as CSV (field larger than field limit (1048576)); nothing after "
            "it was read. Close the quote (or shorten the cell) and import the file again.",
        )
    ]
