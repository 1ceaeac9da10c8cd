from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.customers.selectors import customer_filter, customer_search, find_customer
from apps.customers.services.customers import ContactInput, customer_create, note_add
from apps.customers.timeline import TimelineEntry, customer_timeline, register_source, registered_sources
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(agent: User):  # type: ignore[no-untyped-def]
    return customer_create(
        actor=agent,
        first_name="Ada",
        last_name="Lovelace",
        organization_name="Analytical Engines",
        contacts=[
            ContactInput(kind="phone", value="+14155550134"),
            ContactInput(kind="email", value="ada@example.com"),
        ],
    )


@pytest.fixture
def others(agent: User) -> None:
    customer_create(
        actor=agent,
        first_name="Grace",
        last_name="Hopper",
        contacts=[ContactInput(kind="phone", value="+442079460000")],
    )
    customer_create(actor=agent, first_name="Alan", last_name="Turing", organization_name="Bletchley")


@pytest.mark.parametrize(
    "typed",
    [
        "(415) 555-0134",
        "415.555.0134",
        "+1 415 555 0134",
        "001 415 555 0134",
        "ADA@EXAMPLE.COM",
        " ada@example.com ",
    ],
)
def test_find_customer_resolves_any_format_in_one_query(ada, others, typed: str) -> None:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        found = find_customer(typed)

    assert found == ada
    assert len(queries) == 1


def test_find_customer_returns_none_for_unknown_or_garbage(ada) -> None:  # type: ignore[no-untyped-def]
    assert find_customer("+33 1 42 68 53 00") is None
    assert find_customer("not a phone") is None
    assert find_customer("") is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lovelace", ["Ada"]),
        ("ada love", ["Ada"]),
        ("analytical", ["Ada"]),
        ("(415) 555-0134", ["Ada"]),
        ("0134", ["Ada"]),
        ("example.com", ["Ada"]),
        ("020 7946 0000", []),  # a UK number typed nationally reads in the default region (US): no match
        ("+44 20 7946 0000", ["Grace"]),
        ("bletchley", ["Alan"]),
    ],
)
def test_search_by_name_email_phone_and_organization(ada, others, query: str, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert [c.first_name for c in customer_search(query)] == expected


def test_filter_rejects_malformed_values(ada) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        list(customer_filter({"dnc": "maybe"}))
    with pytest.raises(ValidationError):
        list(customer_filter({"updated_since": "yesterday"}))


@pytest.mark.postgres
def test_postgres_search_tolerates_typos_and_uses_the_gin_indexes(ada, others) -> None:  # type: ignore[no-untyped-def]
    require_postgres()

    assert [c.first_name for c in customer_search("lovelace")] == ["Ada"]
    assert "Ada" in [c.first_name for c in customer_search("ada lovelace")]

    with connection.cursor() as cursor:
        # Enough rows for the planner to prefer the indexes over a sequential scan.
        cursor.execute(
            "INSERT INTO customers_customer (first_name, last_name, lifecycle_stage, time_zone, custom_fields,"
            " search_text, is_erased, created_at, updated_at, job_title)"
            " SELECT 'First' || i, 'Last' || i, 'lead', '', '{}', 'first' || i || ' last' || i, false, now(), now(), ''"
            " FROM generate_series(1, 20000) AS i"
        )
        cursor.execute("ANALYZE customers_customer")
        sql, params = customer_search("lovelace").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "customer_search_fts_idx" in plan or "customer_search_trgm_idx" in plan, plan


@pytest.mark.postgres
def test_postgres_contact_lookup_uses_the_unique_index(ada) -> None:  # type: ignore[no-untyped-def]
    require_postgres()
    from apps.customers.models import ContactPoint

    qs = ContactPoint.objects.filter(kind="phone", network="", value="+14155550134")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("SET enable_seqscan = on")
    assert "contact_point_unique" in plan, plan


def test_timeline_merges_registered_sources_newest_first(ada, agent: User) -> None:  # type: ignore[no-untyped-def]
    note_add(actor=agent, customer=ada, body="first note")
    note_add(actor=agent, customer=ada, body="second note")
    extra = TimelineEntry(at=ada.created_at.replace(year=2000), kind="call", title="Old call", key="call-1")
    saved = registered_sources()
    register_source("test.calls", lambda customer, viewer, before, limit: [extra])
    try:
        entries = customer_timeline(ada, viewer=agent, limit=10)
    finally:
        from apps.customers import timeline

        timeline._sources.clear()
        timeline._sources.update(saved)

    titles = [e.title for e in entries]
    assert titles[:2] == ["Note", "Note"]
    assert entries[0].body == "second note"
    assert titles[-1] == "Old call"
    assert "Customer created" in titles
