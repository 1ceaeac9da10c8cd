"""The hopper's claim on a large campaign, on PostgreSQL: leads claimed per second by
hopper_claim (batches of 100, as a tick of a big predictive campaign takes them) against a bare
indexed SELECT ... ORDER BY ... LIMIT 100 FOR UPDATE SKIP LOCKED plus the UPDATE of the same rows,
through plain psycopg, measured in the same run over the same rows.

The campaign: BENCH_HOPPER_LEADS leads (default 1,000,000) loaded with COPY, in 30 time zones;
5 % are do-not-call (status dnc, their numbers on a national list); the leads of the zones where
the window is closed at the benchmark's moment were refused by the gate earlier and are due when
it opens (next_attempt_at in the future, as the tick leaves them); a tenth has a higher priority.

Each round claims BENCH_HOPPER_BATCHES batches (default 50) with each method, in turn, the claims
given back between runs; BENCH_HOPPER_ROUNDS rounds (default 3), on the indexes the migrations
create for the hopper's order (campaigns 0003: the due callbacks' and the due leads' with NULLS
FIRST). Figures are printed and written as JSON to BENCH_RESULTS_HOPPER (default
.var/bench-hopper.json). Goal: the project >= 0.5 of bare.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from apps.campaigns.dialer.hopper import hopper_claim
from apps.campaigns.models import Campaign, DncList, DncListKind
from tests.campaigns.factories import make_voice_campaign

LEADS = int(os.environ.get("BENCH_HOPPER_LEADS", "1000000"))
BATCHES = int(os.environ.get("BENCH_HOPPER_BATCHES", "50"))
ROUNDS = int(os.environ.get("BENCH_HOPPER_ROUNDS", "3"))
BATCH = 100
RESULTS = Path(
    os.environ.get("BENCH_RESULTS_HOPPER", str(Path(settings.BASE_DIR) / ".var" / "bench-hopper.json"))
)
# Thursday 20:00 UTC.
NOW = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
ZONES = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix",
    "America/Anchorage", "Pacific/Honolulu", "America/Toronto", "America/Vancouver", "America/Mexico_City",
    "America/Bogota", "America/Lima", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Halifax",
    "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Athens",
    "Europe/Moscow", "Africa/Lagos", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata",
    "Asia/Singapore", "Asia/Tokyo", "Asia/Manila", "Australia/Sydney", "Pacific/Auckland",
]  # fmt: skip

BARE_SELECT = (
    "SELECT id FROM campaigns_lead WHERE campaign_id = %s AND status IN ('new', 'retry') "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= %s) AND (claimed_until IS NULL OR claimed_until < %s) "
    "AND attempts < %s ORDER BY priority DESC, next_attempt_at ASC NULLS FIRST, id "
    f"LIMIT {BATCH} FOR UPDATE SKIP LOCKED"
)
BARE_UPDATE = "UPDATE campaigns_lead SET claimed_until = %s WHERE id = ANY(%s)"


def _window_closed(zone: str) -> bool:
    from zoneinfo import ZoneInfo

    local = NOW.astimezone(ZoneInfo(zone))
    return not (9 <= local.hour < 20)


def _load(campaign: Campaign) -> dict[str, Any]:
    """COPY the leads (and the do-not-call numbers) in; returns what was loaded."""
    national = DncList.objects.create(name="National registry (bench)", kind=DncListKind.NATIONAL)
    later = (NOW + dt.timedelta(hours=8)).isoformat()
    stamp = NOW.isoformat()
    closed = {zone for zone in ZONES if _window_closed(zone)}
    counts = {"leads": LEADS, "dnc": 0, "future": 0, "zones": len(ZONES), "zones_closed": len(closed)}
    connection.ensure_connection()
    raw = connection.connection
    start = time.monotonic()
    with raw.cursor() as cursor:
        columns = (
            "campaign_id, contact, time_zones, status, priority, attempts, next_attempt_at, fields, "
            "appointment_answer, created_at, updated_at"
        )
        with cursor.copy(f"COPY campaigns_lead ({columns}) FROM STDIN") as copy:
            for n in range(LEADS):
                zone = ZONES[n % len(ZONES)]
                dnc = n % 20 == 7
                counts["dnc"] += dnc
                future = not dnc and zone in closed
                counts["future"] += future
                copy.write_row(
                    (
                        campaign.pk,
                        f"+1{2000000000 + n}",
                        json.dumps([zone]),
                        "dnc" if dnc else ("retry" if future else "new"),
                        1 if n % 10 == 3 else 0,
                        1 if future else 0,
                        later if future else None,
                        "{}",
                        "",
                        stamp,
                        stamp,
                    )
                )
        with cursor.copy(
            "COPY campaigns_dncentry (dnc_list_id, number, added_at, reason) FROM STDIN"
        ) as copy:
            for n in range(7, LEADS, 20):
                copy.write_row((national.pk, f"+1{2000000000 + n}", stamp, "bench"))
        cursor.execute("ANALYZE campaigns_lead")
        cursor.execute("ANALYZE campaigns_dncentry")
    counts["load_seconds"] = round(time.monotonic() - start, 1)
    return counts


def _reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE campaigns_lead SET claimed_until = NULL WHERE claimed_until IS NOT NULL")


def _project(campaign: Campaign) -> tuple[int, float]:
    claimed = 0
    start = time.perf_counter()
    for _ in range(BATCHES):
        claimed += len(hopper_claim(campaign=campaign, limit=BATCH, now=NOW))
    return claimed, time.perf_counter() - start


def _bare(campaign: Campaign) -> tuple[int, float]:
    s = settings.DATABASES["default"]
    claimed = 0
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"],
        port=s["PORT"],
    ) as bare:
        start = time.perf_counter()
        for _ in range(BATCHES):
            with bare.transaction(), bare.cursor() as cursor:
                cursor.execute(BARE_SELECT, (campaign.pk, NOW, NOW, campaign.max_attempts_per_lead))
                ids = [row[0] for row in cursor.fetchall()]
                cursor.execute(BARE_UPDATE, (NOW + dt.timedelta(seconds=60), ids))
            claimed += len(ids)
        return claimed, time.perf_counter() - start


def _measure(campaign: Campaign, label: str) -> dict[str, Any]:
    project_rows = bare_rows = 0
    project_time = bare_time = 0.0
    rounds = []
    for round_no in range(ROUNDS):
        order = (_project, _bare) if round_no % 2 == 0 else (_bare, _project)
        figures = {}
        for method in order:
            _reset()
            rows, seconds = method(campaign)
            assert rows == BATCHES * BATCH, f"{method.__name__} claimed {rows}"
            figures[method.__name__.strip("_")] = rows / seconds
            if method is _project:
                project_rows, project_time = project_rows + rows, project_time + seconds
            else:
                bare_rows, bare_time = bare_rows + rows, bare_time + seconds
        rounds.append({k: round(v) for k, v in figures.items()})
    project_rate, bare_rate = project_rows / project_time, bare_rows / bare_time
    result = {
        "indexes": label,
        "project_leads_per_second": round(project_rate),
        "bare_leads_per_second": round(bare_rate),
        "ratio": round(project_rate / bare_rate, 3),
        "rounds": rounds,
    }
    print(f"\nhopper ({label}): {result}")
    return result


def test_hopper_claims_at_least_half_as_fast_as_a_bare_skip_locked_claim(bench_postgres: None) -> None:
    campaign = make_voice_campaign(dial_mode="predictive", max_attempts_per_lead=5)
    loaded = _load(campaign)
    print(f"\nloaded: {loaded}")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'campaigns_lead' AND indexname LIKE %s",
            ["lead_%_due_pg_idx"],
        )
        indexes = sorted(row[0] for row in cursor.fetchall())
    # The migrations' indexes in the hopper's order (campaigns 0003) are what the claim reads.
    assert indexes == ["lead_callback_due_pg_idx", "lead_hopper_due_pg_idx"], indexes
    measured = _measure(campaign, "migrations' indexes")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"loaded": loaded, "batch": BATCH, "batches": BATCHES, "run": measured}, indent=2)
    )
    assert measured["ratio"] >= 0.5, measured
