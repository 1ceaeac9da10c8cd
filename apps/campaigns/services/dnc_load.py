"""Bulk load of a do-not-call file into a DncList: a national registry's millions of numbers, or
a campaign's or the company's own list exported from elsewhere.

The file is text, one number per line, or a CSV whose first column is the number (a header
line is recognized and skipped). Each number is normalized to E.164 as the gate looks it up.
apps.customers.normalize.normalize_phone (phonenumbers.parse + is_valid_number, ~40 us a
number here) would spend most of a million-line load in generic input handling, so every line
first takes the import's exact fast path (apps.customers.importing.phones.fast_normalize_phone,
~5 us: plain digits with the usual separators, NANP or not, checked with phonenumbers' own
metadata and proven equal to normalize_phone by the import's fuzz tests); only what it cannot
decide (letters, extensions, an invalid number) goes through normalize_phone, which stays the
one definition of a valid phone. A line that does not normalize counts as skipped_invalid.
Repeats within the file are dropped in Python (a set of the file's numbers), so the database
sees each number once.

On PostgreSQL the numbers are streamed with COPY into a temporary table, then moved with one
INSERT ... SELECT ... ON CONFLICT DO NOTHING (the unique index on (number, dnc_list) keeps a
number once per list); on SQLite they go in bulk_create batches ignoring conflicts.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.db import connection, models, transaction
from django.utils import timezone

from apps.campaigns.models import DncEntry, DncList
from apps.campaigns.services.campaigns import campaign_may_manage
from apps.core.actors import Actor
from apps.core.exceptions import DomainError, NotAllowed
from apps.customers.exceptions import InvalidContact
from apps.customers.importing.phones import fast_normalize_phone
from apps.customers.normalize import normalize_phone

# Lines handed to PostgreSQL per COPY write, and rows per bulk_create batch on SQLite.
COPY_LINES = 50_000
SQLITE_BATCH = 5_000
_TEMP_TABLE = "dnc_load_numbers"


@dataclass(frozen=True)
class DncLoadResult:
    loaded: int  # numbers new on the list
    skipped_invalid: int  # lines that are not a valid phone number
    duplicates: int  # valid lines whose number was in the file before or on the list already


class InvalidDncFile(DomainError):
    """The file cannot be read as a do-not-call file (not text). Nothing was loaded."""

    code = "invalid_dnc_file"


def _first_column(line: str) -> str:
    """The first field of a CSV line (quotes and all), or the whole line when it has no comma."""
    if "," not in line and '"' not in line:
        return line.strip()
    fields = next(csv.reader([line]), [""])
    return fields[0].strip() if fields else ""


def dnc_file_numbers(stream: IO[bytes], region: str, counts: dict[str, int]) -> Iterator[str]:
    """E.164 numbers of the file, each once, in file order. counts gets "invalid", "valid" (the
    valid lines, repeats included) and "repeats" (a number seen before in the file). Lines are
    decoded one by one, so a line that is not UTF-8 is named by its number."""
    seen: set[str] = set()
    header_possible = True
    for line_number, raw_line in enumerate(stream, start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidDncFile(f"file: line {line_number} is not UTF-8 text ({exc.reason}).") from exc
        if line_number == 1:
            line = line.removeprefix("\ufeff")
        value = _first_column(line)
        if not value:
            continue
        hit = fast_normalize_phone(value, region)
        if hit is not None:
            number = hit[0]
        else:
            try:
                number = normalize_phone(value, region)
            except InvalidContact:
                # A first line with letters in it is the file's header, not a bad number.
                if not (header_possible and any(ch.isalpha() for ch in value)):
                    counts["invalid"] += 1
                header_possible = False
                continue
        header_possible = False
        counts["valid"] += 1
        if number in seen:
            counts["repeats"] += 1
            continue
        seen.add(number)
        yield number


def _column(name: str) -> str:
    field = DncEntry._meta.get_field(name)
    assert isinstance(field, models.Field)
    return str(field.column)


def _load_postgresql(dnc_list: DncList, numbers: Iterator[str], now: dt.datetime) -> int:
    """COPY the numbers into a temporary table, then insert those not on the list yet. Returns
    how many were inserted. Runs in the caller's transaction (the temporary table is dropped at
    commit)."""
    table = connection.ops.quote_name(DncEntry._meta.db_table)
    column = {
        name: connection.ops.quote_name(_column(name))
        for name in ("dnc_list", "number", "added_at", "reason")
    }
    with connection.cursor() as cursor:
        # Django's cursor wrapper hands out psycopg's own connection (documented public API),
        # whose cursor.copy streams COPY FROM STDIN.
        raw = cursor.connection
        with raw.cursor() as copy_cursor:
            copy_cursor.execute(f"CREATE TEMPORARY TABLE {_TEMP_TABLE} (number text NOT NULL) ON COMMIT DROP")
            with copy_cursor.copy(f"COPY {_TEMP_TABLE} (number) FROM STDIN") as copy:
                batch: list[str] = []
                for number in numbers:
                    batch.append(number)
                    if len(batch) >= COPY_LINES:
                        copy.write("\n".join(batch) + "\n")
                        batch = []
                if batch:
                    copy.write("\n".join(batch) + "\n")
        cursor.execute(
            f"INSERT INTO {table} ({column['dnc_list']}, {column['number']}, {column['added_at']}, "  # noqa: S608
            f"{column['reason']}) SELECT %s, number, %s, '' FROM {_TEMP_TABLE} ON CONFLICT DO NOTHING",
            [dnc_list.pk, now],
        )
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {_TEMP_TABLE}")
    return int(inserted)


def _load_sqlite(dnc_list: DncList, numbers: Iterator[str]) -> int:
    before = DncEntry.objects.filter(dnc_list=dnc_list).count()
    batch: list[DncEntry] = []
    for number in numbers:
        batch.append(DncEntry(dnc_list=dnc_list, number=number))
        if len(batch) >= SQLITE_BATCH:
            DncEntry.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        DncEntry.objects.bulk_create(batch, ignore_conflicts=True)
    return DncEntry.objects.filter(dnc_list=dnc_list).count() - before


def dnc_list_load(
    *,
    actor: Actor,
    dnc_list: DncList,
    stream: IO[bytes],
    default_region: str = "US",
    replace: bool = False,
) -> DncLoadResult:
    """Load the numbers of `stream` onto `dnc_list`. A number without a country code is read in
    `default_region`. With replace=True the list holds exactly the file's valid numbers
    afterwards (its old entries are removed in the same transaction, so the gate never sees a
    half-empty list); otherwise the file's numbers are added to it. Marketers, admins and the
    system load lists (NotAllowed otherwise, nothing changed). The list's entry_count and
    loaded_at are updated. Locks: the DncList row, so two loads of one list run one after the
    other."""
    if not campaign_may_manage(actor):
        raise NotAllowed("Only marketers and admins load do-not-call lists.")
    region = (default_region or "").strip().upper()
    if len(region) != 2 or not region.isalpha():
        raise InvalidDncFile(f"default_region: {default_region!r} is not a two-letter country code.")
    counts = {"invalid": 0, "valid": 0, "repeats": 0}
    now = timezone.now()
    with transaction.atomic():
        locked = DncList.objects.select_for_update().get(pk=dnc_list.pk)
        if replace:
            DncEntry.objects.filter(dnc_list=locked).delete()
        numbers = dnc_file_numbers(stream, region, counts)
        if connection.vendor == "postgresql":
            loaded = _load_postgresql(locked, numbers, now)
        else:
            loaded = _load_sqlite(locked, numbers)
        entry_count = DncEntry.objects.filter(dnc_list=locked).count()
        DncList.objects.filter(pk=locked.pk).update(entry_count=entry_count, loaded_at=now)
    dnc_list.entry_count = entry_count
    dnc_list.loaded_at = now
    return DncLoadResult(
        loaded=loaded,
        skipped_invalid=counts["invalid"],
        duplicates=counts["valid"] - loaded,
    )
