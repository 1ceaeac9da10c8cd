"""Imports fed with generated garbage: no exception escapes (a ValidationError for an unreadable
file is the expected answer), every good row lands, every bad row is reported. And the fast
phone path agrees with apps.customers.normalize on generated input."""

from __future__ import annotations

import csv
import io
import random

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.actors import SYSTEM
from apps.customers.exceptions import InvalidContact
from apps.customers.importing.phones import fast_normalize_phone
from apps.customers.models import Customer, ImportJob, ImportRowError, ImportStatus
from apps.customers.normalize import normalize_phone, time_zone_for_phone
from apps.customers.services import imports

FUZZ = settings(
    max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
HEADER = ["external_id", "first_name", "last_name", "email", "phone", "company", "tags", "do_not_call"]
# Any text a spreadsheet could hold except NUL (a file with NUL bytes is refused as binary).
junk = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
name = st.text(st.characters(whitelist_categories=("L",)), min_size=1, max_size=30)
good_row = st.fixed_dictionaries(
    {
        "first_name": name,
        "last_name": name,
        "company": st.one_of(st.just(""), name),
        "tags": st.lists(st.sampled_from(["vip", "beta", "trade show"]), max_size=3).map(";".join),
        "do_not_call": st.sampled_from(["", "yes", "no", "Y", "FALSE"]),
        "phone_format": st.sampled_from(["({a}) {b}-{c}", "+1 {a} {b} {c}", "{a}.{b}.{c}", "001{a}{b}{c}"]),
    }
)
# A row that cannot pass: its email has no "@"; the other cells are anything at all.
bad_row = st.fixed_dictionaries(
    {
        "external_id": junk,
        "first_name": junk,
        "last_name": junk,
        "email": junk.filter(lambda t: "@" not in t and t.strip() != ""),
        "phone": junk,
        "company": junk,
        "tags": junk,
        "do_not_call": junk,
    }
)


def _run(content: bytes, name: str = "fuzz.csv") -> ImportJob:
    job = imports.import_job_create(
        actor=SYSTEM, uploaded_file=ContentFile(content, name=name), file_name=name, source="test"
    )
    return imports.import_job_run(job_id=job.pk)


@pytest.mark.django_db
@FUZZ
@given(
    rows=st.lists(
        st.one_of(good_row.map(lambda r: ("good", r)), bad_row.map(lambda r: ("bad", r))),
        min_size=1,
        max_size=25,
    )
)
def test_good_rows_land_and_garbage_rows_are_reported(rows: list[tuple[str, dict[str, str]]]) -> None:
    Customer.objects.all().delete()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    expected_good: dict[str, tuple[str, str, str]] = {}
    expected_bad: list[int] = []
    for index, (kind, row) in enumerate(rows):
        # The file line the row starts on: a cell holding line breaks spans several lines.
        line = len(io.StringIO(out.getvalue(), newline="").readlines()) + 1
        if kind == "good":
            number = f"{('212', '415', '617', '312', '305')[index % 5]}{200 + index:03d}{index:04d}"
            phone = row["phone_format"].format(a=number[:3], b=number[3:6], c=number[6:])
            external_id = f"G{index}"
            email = f"person{index}@example.com"
            writer.writerow(
                [
                    external_id,
                    row["first_name"],
                    row["last_name"],
                    email,
                    phone,
                    row["company"],
                    row["tags"],
                    row["do_not_call"],
                ]
            )
            expected_good[external_id] = (row["first_name"].strip(), row["last_name"].strip(), f"+1{number}")
        else:
            writer.writerow([row[h] for h in HEADER])
            expected_bad.append(line)

    job = _run(out.getvalue().encode("utf-8"))

    assert job.status == ImportStatus.DONE, job.error_message
    landed = {
        c.external_id: (c.first_name, c.last_name, c.contact_points.get(kind="phone").value)
        for c in Customer.objects.filter(external_id__in=expected_good).prefetch_related("contact_points")
    }
    assert landed == expected_good
    assert list(ImportRowError.objects.filter(job=job).values_list("line_number", flat=True)) == expected_bad
    assert job.created_count + job.rejected_count == job.processed_rows == len(rows)


@pytest.mark.django_db
@FUZZ
@given(content=st.binary(max_size=400), xlsx=st.booleans())
def test_garbage_bytes_never_raise_anything_but_a_validation_error(content: bytes, xlsx: bool) -> None:
    try:
        job = _run(content, name="garbage.xlsx" if xlsx else "garbage.csv")
    except ValidationError:
        return
    assert job.status in {ImportStatus.DONE, ImportStatus.FAILED}
    if job.status == ImportStatus.DONE:
        assert (
            job.created_count + job.updated_count + job.unchanged_count + job.rejected_count
            == job.processed_rows
        )


@pytest.mark.django_db
@FUZZ
@given(cells=st.lists(st.lists(junk, min_size=1, max_size=6), min_size=1, max_size=20))
def test_csv_of_random_cells_accounts_for_every_row(cells: list[list[str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["First name", "Phone", "Email", "Tags", "Owner", "Time zone"])
    writer.writerows(cells)
    try:
        job = _run(out.getvalue().encode("utf-8"))
    except ValidationError:
        return
    assert job.status == ImportStatus.DONE, job.error_message
    assert (
        job.created_count + job.updated_count + job.unchanged_count + job.rejected_count == job.processed_rows
    )


REGIONS = ["US", "CA", "GB", "DE", "FR", "IT", "ES", "IN", "BR", "AU", "JP", "MX", "RU", "NG", "CH", "GG"]


def _expected(text: str, region: str) -> tuple[str, str] | None:
    try:
        e164 = normalize_phone(text, region)
    except InvalidContact:
        return None
    return e164, time_zone_for_phone(e164)


phone_like = st.text(st.sampled_from("0123456789 +-().x/"), max_size=22)


@given(text=phone_like, region=st.sampled_from(REGIONS))
@settings(max_examples=1500)
def test_fast_phone_path_agrees_with_normalize_phone(text: str, region: str) -> None:
    fast = fast_normalize_phone(text, region)
    if fast is not None:
        assert fast == _expected(text, region)


def test_fast_phone_path_agrees_on_a_large_randomized_sample() -> None:
    """Numbers built from every region's example numbers with digits changed at random, in the
    formats people write: whatever the fast path answers is exactly normalize_phone's answer."""
    rnd = random.Random(20241124)
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    checked = agreed = 0
    for _ in range(30_000):
        home = rnd.choice(REGIONS)
        origin = rnd.choice(regions)
        example = phonenumbers.example_number_for_type(origin, rnd.choice([0, 1, 2, 3, 4, 6, 7, 8]))
        if example is None:
            continue
        digits = "".join(
            d if rnd.random() < 0.75 else str(rnd.randint(0, 9)) for d in str(example.national_number)
        )
        style = rnd.randrange(6)
        text = [
            f"+{example.country_code} {digits}",
            f"00{example.country_code}{digits}",
            f"0{digits}",
            digits,
            f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            f"{example.country_code}{digits}",
        ][style]
        fast = fast_normalize_phone(text, home)
        if fast is not None:
            checked += 1
            agreed += fast == _expected(text, home)
    assert checked > 5_000
    assert agreed == checked
