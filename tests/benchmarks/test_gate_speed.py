"""The compliance gate's decisions per second, and the national do-not-call load, each against a
bare PostgreSQL reference measured in the same run.

Gate: BENCH_GATE_BATCHES (default 20) batches of 500 leads, over 30 time zones (a third of them
outside the window at the measured moment, so retry_at is computed), 5% of the numbers on a
national list of BENCH_GATE_DNC_ENTRIES (default 500,000) numbers, a tenth with a recent attempt
and a few marked do-not-call, decided by contacts_decide on one core, each batch in its own
transaction with its 500 ContactLog rows, as the dialer's tick does. The bare reference is one
indexed SELECT of the same 500 numbers from DncEntry per batch (plain psycopg); a second one adds
a COPY of 500 log rows, the smallest write an audited decision costs. The runs alternate over
BENCH_GATE_ROUNDS (default 3) rounds.

DNC load: a file of BENCH_DNC_ROWS (default 1,000,000) lines (US numbers written in national
format, with 1% invalid lines and 1% repeats) loaded by dnc_list_load into an empty national
list, against a bare COPY of the same file's bytes into an unindexed one-column table. The
seconds spent normalizing alone (no database) are printed too: the rest is PostgreSQL's INSERT
into DncEntry's two indexes.

Figures are printed and written as JSON to BENCH_RESULTS_GATE (default .var/bench-gate.json).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignStatus,
    ContactLog,
    DncEntry,
    DncList,
    DncListKind,
    Lead,
    LeadAttempt,
)
from apps.campaigns.services.dnc_load import dnc_file_numbers, dnc_list_load
from apps.campaigns.services.gate import contacts_decide
from apps.core.actors import SYSTEM
from apps.customers.models import ContactPoint, ContactPointKind, Customer

BATCHES = int(os.environ.get("BENCH_GATE_BATCHES", "20"))
BATCH = 500
ROUNDS = int(os.environ.get("BENCH_GATE_ROUNDS", "3"))
DNC_ENTRIES = int(os.environ.get("BENCH_GATE_DNC_ENTRIES", "500000"))
DNC_ROWS = int(os.environ.get("BENCH_DNC_ROWS", "1000000"))
RESULTS = Path(
    os.environ.get("BENCH_RESULTS_GATE", str(Path(settings.BASE_DIR) / ".var" / "bench-gate.json"))
)
NOW = dt.datetime(2026, 12, 3, 18, 0, tzinfo=dt.UTC)  # a Thursday
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Toronto",
    "America/Halifax",
    "America/St_Johns",
    "America/Mexico_City",
    "America/Bogota",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Athens",
    "Europe/Moscow",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Puerto_Rico",
]
# Area codes of the test numbers: real, so phonenumbers accepts them as valid US numbers.
AREA_CODES = [212, 213, 305, 310, 312, 404, 415, 510, 512, 617, 646, 702, 713, 718, 805, 818, 917, 972]


def _random_numbers(count: int, rng: random.Random) -> list[str]:
    """`count` distinct 10-digit US numbers (national format, valid per phonenumbers)."""
    out: set[str] = set()
    while len(out) < count:
        out.add(f"{rng.choice(AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}")
    return list(out)


def _seed_gate() -> tuple[Campaign, list[list[Lead]], DncList]:
    rng = random.Random(7)
    campaign = Campaign.objects.create(
        name="Gate benchmark",
        status=CampaignStatus.ACTIVE,
        window_start=dt.time(9, 0),
        window_end=dt.time(20, 0),
        window_days=["mon", "tue", "wed", "thu", "fri", "sat"],
        holiday_country="US",
        max_attempts_per_lead=5,
        max_attempts_per_number=3,
        version=1,
    )
    other = Campaign.objects.create(name="Other campaign", status=CampaignStatus.ACTIVE, version=1)
    national = DncList.objects.create(name="National registry", kind=DncListKind.NATIONAL)
    total = BATCHES * BATCH
    numbers = [f"+1{n}" for n in _random_numbers(total + DNC_ENTRIES, rng)]
    lead_numbers, background = numbers[:total], numbers[total:]
    leads = Lead.objects.bulk_create(
        [
            Lead(campaign=campaign, contact=number, time_zones=[ZONES[i % len(ZONES)]])
            for i, number in enumerate(lead_numbers)
        ],
        batch_size=5000,
    )
    on_dnc = [number for i, number in enumerate(lead_numbers) if i % 20 == 7]  # 5%
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor() as raw,
        raw.copy(
            f"COPY {DncEntry._meta.db_table} (dnc_list_id, number, added_at, reason) FROM STDIN"
        ) as copy,
    ):
        for number in background + on_dnc:
            copy.write_row((national.pk, number, NOW, ""))
    other_leads = Lead.objects.bulk_create(
        [Lead(campaign=other, contact=number) for i, number in enumerate(lead_numbers) if i % 10 == 3],
        batch_size=5000,
    )
    LeadAttempt.objects.bulk_create(
        [
            LeadAttempt(
                lead=lead,
                campaign=other,
                channel="voice",
                contact=lead.contact,
                status=AttemptStatus.ENDED,
                started_at=NOW - dt.timedelta(hours=5),
            )
            for lead in other_leads
        ],
        batch_size=5000,
    )
    customer = Customer.objects.create(first_name="Marked", last_name="Do-not-call")
    ContactPoint.objects.bulk_create(
        [
            ContactPoint(customer=customer, kind=ContactPointKind.PHONE, value=number, do_not_call=True)
            for i, number in enumerate(lead_numbers)
            if i % 100 == 11
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    batches = [leads[i : i + BATCH] for i in range(0, total, BATCH)]
    return campaign, batches, national


def _gate_run(campaign: Campaign, batches: list[list[Lead]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        with transaction.atomic():
            contacts_decide(campaign=campaign, leads=batch, channel="voice", now=NOW)
    return time.perf_counter() - started


def _bare_select_run(batches: list[list[Lead]], *, with_log: bool) -> float:
    table = DncEntry._meta.db_table
    log_table = ContactLog._meta.db_table
    numbers = [[lead.contact for lead in batch] for batch in batches]
    with connection.cursor() as cursor:
        raw_connection = cursor.connection
        started = time.perf_counter()
        for batch_numbers in numbers:
            with raw_connection.transaction(), raw_connection.cursor() as raw:
                raw.execute(f"SELECT number FROM {table} WHERE number = ANY(%s)", [batch_numbers])  # noqa: S608
                raw.fetchall()
                if with_log:
                    with raw.copy(
                        f"COPY {log_table} (at, channel, contact, local_time, allowed, rule, detail) FROM STDIN"
                    ) as copy:
                        for number in batch_numbers:
                            copy.write_row((NOW, "voice", number, "", True, "allowed", ""))
        return time.perf_counter() - started


def test_gate_speed(bench_postgres: None) -> None:
    campaign, batches, _national = _seed_gate()
    decisions = BATCHES * BATCH
    totals = {"gate": 0.0, "bare_select": 0.0, "bare_select_and_log": 0.0}
    rounds: list[dict[str, float]] = []
    # Warm the caches of both sides once (zoneinfo, holidays, the index pages).
    _gate_run(campaign, batches[:1])
    _bare_select_run(batches[:1], with_log=False)
    for round_number in range(ROUNDS):
        runs = [
            ("gate", lambda: _gate_run(campaign, batches)),
            ("bare_select", lambda: _bare_select_run(batches, with_log=False)),
            ("bare_select_and_log", lambda: _bare_select_run(batches, with_log=True)),
        ]
        if round_number % 2:
            runs.reverse()
        this_round = {}
        for name, run in runs:
            seconds = run()
            totals[name] += seconds
            this_round[name] = round(decisions / seconds, 1)
        rounds.append(this_round)
    # The log holds every decision of every run.
    assert ContactLog.objects.filter(campaign=campaign).count() == decisions * ROUNDS + BATCH
    refused = set(
        ContactLog.objects.filter(campaign=campaign, allowed=False).values_list("rule", flat=True).distinct()
    )
    assert {"dnc_national", "consent", "window"} <= refused
    rate = {name: decisions * ROUNDS / seconds for name, seconds in totals.items()}
    figures: dict[str, Any] = {
        "gate_leads": decisions,
        "batch": BATCH,
        "zones": len(ZONES),
        "dnc_entries": DNC_ENTRIES + decisions // 20,
        "gate_decisions_per_s": round(rate["gate"], 1),
        "bare_select_numbers_per_s": round(rate["bare_select"], 1),
        "bare_select_and_log_per_s": round(rate["bare_select_and_log"], 1),
        "gate_vs_bare_select": round(rate["gate"] / rate["bare_select"], 3),
        "gate_vs_bare_select_and_log": round(rate["gate"] / rate["bare_select_and_log"], 3),
        "rounds": rounds,
    }
    _write("gate", figures)
    assert rate["gate"] > 0


def _dnc_file(path: Path) -> None:
    rng = random.Random(11)
    unique = DNC_ROWS - DNC_ROWS // 50
    numbers = _random_numbers(unique, rng)
    lines = [f"({n[:3]}) {n[3:6]}-{n[6:]}" for n in numbers]
    lines.extend(lines[i] for i in range(0, DNC_ROWS // 100))  # 1% repeats
    lines.extend(f"555-{i:04d}" for i in range(DNC_ROWS - len(lines)))  # 1% invalid (too short)
    rng.shuffle(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_dnc_load_speed(bench_postgres: None, tmp_path: Path) -> None:
    path = tmp_path / "national.txt"
    _dnc_file(path)
    # The bare reference: the file's bytes COPYed as they are into an unindexed text table.
    with connection.cursor() as cursor:
        raw_connection = cursor.connection
        with raw_connection.cursor() as raw:
            raw.execute("CREATE TABLE bench_dnc_bare (number text)")
        started = time.perf_counter()
        with (
            raw_connection.transaction(),
            raw_connection.cursor() as raw,
            raw.copy("COPY bench_dnc_bare (number) FROM STDIN") as copy,
            path.open("rb") as source,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        bare_seconds = time.perf_counter() - started
        with raw_connection.cursor() as raw:
            raw.execute("SELECT count(*) FROM bench_dnc_bare")
            bare_rows = raw.fetchone()[0]
            raw.execute("DROP TABLE bench_dnc_bare")
    assert bare_rows == DNC_ROWS
    # The share of the load that is normalizing (and dropping repeats) alone, without a database.
    started = time.perf_counter()
    with path.open("rb") as source:
        counts = {"invalid": 0, "valid": 0, "repeats": 0}
        normalized = sum(1 for _ in dnc_file_numbers(source, "US", counts))
    normalize_seconds = time.perf_counter() - started
    assert normalized == DNC_ROWS - DNC_ROWS // 50
    national = DncList.objects.create(name="National registry", kind=DncListKind.NATIONAL)
    started = time.perf_counter()
    with path.open("rb") as source:
        result = dnc_list_load(actor=SYSTEM, dnc_list=national, stream=source)
    load_seconds = time.perf_counter() - started
    assert result.skipped_invalid == DNC_ROWS // 50 - DNC_ROWS // 100
    assert result.duplicates == DNC_ROWS // 100
    assert result.loaded == DNC_ROWS - DNC_ROWS // 50
    national.refresh_from_db()
    assert national.entry_count == result.loaded
    figures = {
        "lines": DNC_ROWS,
        "loaded": result.loaded,
        "skipped_invalid": result.skipped_invalid,
        "duplicates": result.duplicates,
        "dnc_load_seconds": round(load_seconds, 2),
        "dnc_load_lines_per_s": round(DNC_ROWS / load_seconds, 1),
        "of_which_normalizing_seconds": round(normalize_seconds, 2),
        "bare_copy_seconds": round(bare_seconds, 2),
        "bare_copy_lines_per_s": round(DNC_ROWS / bare_seconds, 1),
        "dnc_load_vs_bare_copy": round(bare_seconds / load_seconds, 3),
    }
    _write("dnc_load", figures)


def _write(name: str, figures: dict[str, Any]) -> None:
    print(f"\n{name} speed:")
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing[name] = figures
    RESULTS.write_text(json.dumps(existing, indent=2) + "\n")
