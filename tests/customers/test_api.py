"""REST API /api/v1/: customers, contact points, notes, imports; roles, errors, query counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.core.models import AuditEntry
from apps.customers.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    ImportJob,
    ImportRowError,
    MergeRecord,
    Note,
    Tag,
)
from apps.customers.services.customers import (
    ContactInput,
    contact_point_set_consent,
    customer_create,
    note_add,
)
from apps.customers.services.imports import import_job_run

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def api_for(make_user: Callable[..., User]) -> Callable[[str | None], APIClient]:
    """api_for("Agent") -> an APIClient signed in (session) as a fresh user of that role."""

    def make(role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            client.force_login(make_user(role))
        return client

    return make


TEST_SETUP = SystemActor("test setup")


def _ada(actor: User | SystemActor = TEST_SETUP, **kwargs: Any) -> Customer:
    values: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "organization_name": "Analytical Engines",
        "contacts": [
            ContactInput(kind="phone", value="+14155550134"),
            ContactInput(kind="email", value="ada@example.com"),
        ],
        "tags": ["vip"],
    }
    values.update(kwargs)
    return customer_create(actor=actor, **values)


def _user(client: APIClient) -> User:
    return User.objects.get(pk=client.session["_auth_user_id"])


# --- authentication ---------------------------------------------------------------------------


def test_anonymous_requests_are_refused() -> None:
    response = APIClient().get(f"{API}/customers/")

    assert response.status_code in {401, 403}


def test_token_from_the_token_endpoint_authenticates(make_user: Callable[..., User]) -> None:
    make_user("Agent", username="tokenagent", password="a-long-pass-123")
    _ada()
    client = APIClient()

    token = client.post(f"{API}/auth/token/", {"username": "tokenagent", "password": "a-long-pass-123"})
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    response = client.get(f"{API}/customers/")

    assert token.status_code == 200
    assert response.status_code == 200
    assert [c["last_name"] for c in response.json()["results"]] == ["Lovelace"]


def test_a_wrong_token_is_refused() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(f"{API}/customers/")

    assert response.status_code in {401, 403}


# --- customers: read ------------------------------------------------------------------------


def test_retrieve_nests_contact_points_with_consent_tags_and_organization(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    CustomFieldDefinition.objects.create(key="contract", label="Contract", field_type=CustomFieldType.TEXT)
    customer = _ada(agent, owner=agent, custom_fields={"contract": "C-1"})
    phone = customer.contact_points.get(kind="phone")
    contact_point_set_consent(
        actor=agent, contact_point=phone, consent="do_not_call", value=True, source="customer asked"
    )

    body = api_for("Marketer").get(f"{API}/customers/{customer.pk}/").json()

    assert body["display_name"] == "Ada Lovelace"
    assert body["organization_name"] == "Analytical Engines"
    assert body["organization"] == customer.organization_id
    assert body["owner"] == agent.pk
    assert body["tags"] == ["vip"]
    assert body["custom_fields"] == {"contract": "C-1"}
    assert body["time_zone"] == "America/Los_Angeles"
    points = {p["kind"]: p for p in body["contact_points"]}
    assert points["phone"]["value"] == "+14155550134"
    assert points["phone"]["do_not_call"] is True
    assert points["phone"]["do_not_call_source"] == "customer asked"
    assert points["phone"]["do_not_call_at"] is not None
    assert points["email"]["value"] == "ada@example.com"
    assert points["email"]["do_not_call"] is False


def test_retrieve_runs_a_fixed_number_of_queries(
    api_for: Callable[[str | None], APIClient], agent: User, django_assert_max_num_queries: Any
) -> None:
    customer = _ada(agent, tags=["vip", "gold", "uk"])
    client = api_for("Agent")

    # session, user, roles, customer with organization and owner, contact points, tags
    with django_assert_max_num_queries(6):
        response = client.get(f"{API}/customers/{customer.pk}/")

    assert response.status_code == 200
    assert len(response.json()["contact_points"]) == 2


def test_list_runs_the_same_queries_for_many_rows(
    api_for: Callable[[str | None], APIClient], django_assert_max_num_queries: Any
) -> None:
    client = api_for("Agent")
    for n in range(30):
        _ada(
            first_name=f"Person{n}",
            contacts=[
                ContactInput(kind="phone", value=f"+1415555{n:04d}"),
                ContactInput(kind="email", value=f"p{n}@example.com"),
            ],
            tags=["vip", f"t{n}"],
        )

    # session, user, roles, count, rows, contact points, tags
    with django_assert_max_num_queries(7):
        response = client.get(f"{API}/customers/?page_size=30")

    results = response.json()["results"]
    assert len(results) == 30
    assert all(len(row["contact_points"]) == 2 for row in results)
    assert all(len(row["tags"]) == 2 for row in results)


def test_list_filters_by_phone_in_another_format_tag_and_do_not_call(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    ada = _ada(agent)
    grace = _ada(
        agent,
        first_name="Grace",
        last_name="Hopper",
        organization_name="",
        contacts=[ContactInput(kind="phone", value="+14155550199")],
        tags=["navy"],
    )
    contact_point_set_consent(
        actor=agent,
        contact_point=grace.contact_points.get(),
        consent="do_not_call",
        value=True,
        source="test",
    )
    client = api_for("Agent")

    def ids(query: str) -> list[int]:
        response = client.get(f"{API}/customers/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("q=(415) 555-0134") == [ada.pk]
    assert ids("tag=navy") == [grace.pk]
    assert ids("dnc=yes") == [grace.pk]
    assert ids("dnc=no") == [ada.pk]
    assert ids(f"organization={ada.organization_id}") == [ada.pk]


def test_list_owner_me_means_the_caller(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    client = api_for("Agent")
    mine = _ada(agent, owner=_user(client))
    _ada(agent, first_name="Other", contacts=[], owner=agent)

    response = client.get(f"{API}/customers/?owner=me")

    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_list_rejects_a_malformed_filter_with_its_message(api_for: Callable[[str | None], APIClient]) -> None:
    response = api_for("Agent").get(f"{API}/customers/?lifecycle_stage=astronaut")

    assert response.status_code == 400
    assert response.json() == {"lifecycle_stage": ["Unknown lifecycle stage 'astronaut'."]}


def test_list_orders_and_paginates(api_for: Callable[[str | None], APIClient]) -> None:
    for last_name in ("Curie", "Babbage", "Agnesi"):
        customer_create(actor=TEST_SETUP, first_name="X", last_name=last_name)
    client = api_for("Supervisor")

    first_page = client.get(f"{API}/customers/?ordering=last_name&page_size=2").json()
    second_page = client.get(f"{API}/customers/?ordering=last_name&page_size=2&page=2").json()
    descending = client.get(f"{API}/customers/?ordering=-last_name").json()

    assert first_page["count"] == 3
    assert [c["last_name"] for c in first_page["results"]] == ["Agnesi", "Babbage"]
    assert [c["last_name"] for c in second_page["results"]] == ["Curie"]
    assert [c["last_name"] for c in descending["results"]] == ["Curie", "Babbage", "Agnesi"]


def test_list_hides_erased_customers(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    kept = _ada(agent)
    erased = customer_create(actor=TEST_SETUP, first_name="Gone", last_name="Person")
    Customer.objects.filter(pk=erased.pk).update(is_erased=True)

    response = api_for("Agent").get(f"{API}/customers/")

    assert [row["id"] for row in response.json()["results"]] == [kept.pk]


@pytest.mark.parametrize("typed", ["415.555.0134", "+1 (415) 555-0134", "0014155550134", "ADA@example.COM"])
def test_lookup_finds_the_customer_from_any_format(
    api_for: Callable[[str | None], APIClient], agent: User, typed: str
) -> None:
    customer = _ada(agent)

    response = api_for("Agent").get(f"{API}/customers/lookup/", {"contact": typed})

    assert response.status_code == 200
    assert response.json()["id"] == customer.pk


def test_lookup_answers_404_for_nobody_and_400_without_a_contact(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    _ada(agent)
    client = api_for("Agent")

    nobody = client.get(f"{API}/customers/lookup/", {"contact": "+14155550000"})
    missing = client.get(f"{API}/customers/lookup/")

    assert nobody.status_code == 404
    assert missing.status_code == 400
    assert missing.json() == {"contact": ["Give a phone number or an email address."]}


# --- customers: write -----------------------------------------------------------------------


def test_create_normalizes_contacts_and_returns_the_customer(
    api_for: Callable[[str | None], APIClient],
) -> None:
    client = api_for("Agent")
    payload = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "organization_name": "Analytical Engines",
        "lifecycle_stage": "prospect",
        "contacts": [
            {"kind": "phone", "value": "020 7946 0018", "label": "work"},
            {"kind": "email", "value": "Ada@Example.com", "is_primary": True},
        ],
        "tags": ["vip", "uk"],
        "region": "GB",
    }

    response = client.post(f"{API}/customers/", payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    customer = Customer.objects.get()
    assert body["id"] == customer.pk
    assert response["Location"] == f"{API}/customers/{customer.pk}/"
    assert sorted((p["kind"], p["value"], p["label"]) for p in body["contact_points"]) == [
        ("email", "ada@example.com", ""),
        ("phone", "+442079460018", "work"),
    ]
    assert body["tags"] == ["uk", "vip"]
    assert body["lifecycle_stage"] == "prospect"
    assert body["time_zone"] == "Europe/London"
    entry = AuditEntry.objects.get(action="customer.create")
    assert entry.actor == _user(client)


def test_create_with_a_taken_contact_is_a_conflict_and_writes_nothing(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    owner = _ada(agent)
    payload = {"first_name": "Copy", "contacts": [{"kind": "phone", "value": "(415) 555-0134"}]}

    response = api_for("Agent").post(f"{API}/customers/", payload, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"+14155550134 already belongs to customer #{owner.pk}; merge the two customers instead.",
        "code": "contact_point_taken",
    }
    assert list(Customer.objects.values_list("pk", flat=True)) == [owner.pk]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"first_name": "A", "contacts": [{"kind": "phone", "value": "12"}]},
            {"detail": "'12' is not a valid phone number.", "code": "invalid_contact"},
        ),
        ({}, {"last_name": ["Give at least a name or one contact point."]}),
        ({"first_name": "A", "time_zone": "Mars/Olympus"}, None),
        ({"first_name": "A", "lifecycle_stage": "astronaut"}, None),
        ({"first_name": "A", "custom_fields": {"unknown_key": 1}}, None),
    ],
)
def test_create_rejects_invalid_input_with_400(
    api_for: Callable[[str | None], APIClient], payload: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    response = api_for("Agent").post(f"{API}/customers/", payload, format="json")

    assert response.status_code == 400, response.content
    if expected is not None:
        assert response.json() == expected
    assert Customer.objects.count() == 0


def test_marketer_cannot_create_customers(api_for: Callable[[str | None], APIClient]) -> None:
    response = api_for("Marketer").post(f"{API}/customers/", {"first_name": "No"}, format="json")

    assert response.status_code == 403
    assert Customer.objects.count() == 0


def test_partial_update_changes_fields_and_replaces_tags(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)
    client = api_for("Supervisor")

    response = client.patch(
        f"{API}/customers/{customer.pk}/",
        {"last_name": "King", "lifecycle_stage": "customer", "organization_name": "", "tags": ["gold"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name, customer.lifecycle_stage) == ("Ada", "King", "customer")
    assert customer.organization is None
    assert list(customer.tags.values_list("name", flat=True)) == ["gold"]
    assert response.json()["tags"] == ["gold"]
    entry = AuditEntry.objects.get(action="customer.update")
    assert entry.data == {"fields": ["last_name", "lifecycle_stage", "organization"]}


def test_partial_update_with_a_bad_time_zone_changes_nothing(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)

    response = api_for("Agent").patch(
        f"{API}/customers/{customer.pk}/",
        {"last_name": "King", "time_zone": "Mars/Olympus", "tags": ["gold"]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "time_zone": ["'Mars/Olympus' is not a known IANA time zone (e.g. Europe/Paris)."]
    }
    customer.refresh_from_db()
    assert customer.last_name == "Lovelace"
    assert list(customer.tags.values_list("name", flat=True)) == ["vip"]


def test_marketer_cannot_update_customers(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    customer = _ada(agent)

    response = api_for("Marketer").patch(f"{API}/customers/{customer.pk}/", {"last_name": "X"}, format="json")

    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.last_name == "Lovelace"


def test_put_and_delete_on_a_customer_are_not_offered(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)
    client = api_for("Admin")

    assert client.put(f"{API}/customers/{customer.pk}/", {}, format="json").status_code == 405
    assert client.delete(f"{API}/customers/{customer.pk}/").status_code == 405
    assert Customer.objects.filter(pk=customer.pk).exists()


# --- merge, GDPR ----------------------------------------------------------------------------


def test_supervisor_merges_a_duplicate_and_keeps_its_contact_points(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    survivor = _ada(agent)
    duplicate = _ada(
        agent,
        contacts=[ContactInput(kind="phone", value="+14155550177")],
        tags=["newsletter"],
        organization_name="",
    )
    note_add(actor=agent, customer=duplicate, body="Called about billing")

    response = api_for("Supervisor").post(
        f"{API}/customers/{survivor.pk}/merge/", {"duplicate": duplicate.pk}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["merged_customer_id"] == duplicate.pk
    assert body["survivor"]["id"] == survivor.pk
    assert sorted(p["value"] for p in body["survivor"]["contact_points"]) == [
        "+14155550134",
        "+14155550177",
        "ada@example.com",
    ]
    assert body["survivor"]["tags"] == ["newsletter", "vip"]
    assert not Customer.objects.filter(pk=duplicate.pk).exists()
    assert Note.objects.get().customer_id == survivor.pk
    assert MergeRecord.objects.get().pk == body["id"]


def test_agent_cannot_merge_and_nothing_changes(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    survivor = _ada(agent)
    duplicate = _ada(agent, contacts=[], first_name="Copy")

    response = api_for("Agent").post(f"{API}/customers/{survivor.pk}/merge/", {"duplicate": duplicate.pk})

    assert response.status_code == 403
    assert Customer.objects.count() == 2
    assert MergeRecord.objects.count() == 0


def test_merging_a_customer_into_itself_is_a_clear_400(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)

    response = api_for("Admin").post(
        f"{API}/customers/{customer.pk}/merge/", {"duplicate": customer.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": "A customer cannot be merged into itself.",
        "code": "merge_not_allowed",
    }


def test_merge_with_an_unknown_duplicate_is_a_400(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)

    response = api_for("Admin").post(
        f"{API}/customers/{customer.pk}/merge/", {"duplicate": 999999}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["duplicate"]


def test_supervisor_exports_personal_data_and_it_is_audited(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)

    response = api_for("Supervisor").get(f"{API}/customers/{customer.pk}/gdpr-export/")

    assert response.status_code == 200
    assert (
        response["Content-Disposition"] == f'attachment; filename="customer-{customer.pk}-personal-data.json"'
    )
    body = response.json()
    assert sorted(p["value"] for p in body["contact_points"]) == ["+14155550134", "ada@example.com"]
    assert AuditEntry.objects.filter(action="customer.gdpr_export", object_id=str(customer.pk)).count() == 1


def test_agent_cannot_export_personal_data(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    customer = _ada(agent)

    response = api_for("Agent").get(f"{API}/customers/{customer.pk}/gdpr-export/")

    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="customer.gdpr_export").exists()


def test_supervisor_erases_a_customer(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    customer = _ada(agent)

    response = api_for("Supervisor").post(f"{API}/customers/{customer.pk}/erase/")

    assert response.status_code == 200
    body = response.json()
    assert (body["is_erased"], body["first_name"], body["contact_points"], body["tags"]) == (True, "", [], [])
    assert body["display_name"] == f"Erased customer #{customer.pk}"
    assert ContactPoint.objects.count() == 0


def test_agent_cannot_erase_and_nothing_changes(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)

    response = api_for("Agent").post(f"{API}/customers/{customer.pk}/erase/")

    assert response.status_code == 403
    customer.refresh_from_db()
    assert (customer.is_erased, customer.first_name) == (False, "Ada")
    assert ContactPoint.objects.count() == 2


# --- imports --------------------------------------------------------------------------------


def test_marketer_imports_a_csv_and_follows_the_job(
    api_for: Callable[[str | None], APIClient], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    client = api_for("Marketer")
    csv = b"First,Last,Mobile\nAda,Lovelace,(415) 555-0134\nBad,Row,12\n"

    response = client.post(
        f"{API}/customers/import/",
        {
            "file": SimpleUploadedFile("people.csv", csv, content_type="text/csv"),
            "mapping": '{"first_name": "First", "last_name": "Last", "phone": "Mobile"}',
            "default_region": "us",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    job = ImportJob.objects.get()
    body = response.json()
    assert (body["id"], body["file_name"], body["source"], body["status"]) == (
        job.pk,
        "people.csv",
        "api",
        "pending",
    )
    assert body["mapping"] == {"first_name": "First", "last_name": "Last", "phone": "Mobile"}
    assert body["default_region"] == "US"
    assert response["Location"] == f"{API}/imports/{job.pk}/"
    assert job.created_by == _user(client)

    # What the Celery worker does once the job is committed.
    import_job_run(job_id=job.pk, workers=1)
    status = client.get(f"{API}/imports/{job.pk}/").json()
    errors = client.get(f"{API}/imports/{job.pk}/errors/").json()

    assert (status["status"], status["created_count"], status["rejected_count"]) == ("done", 1, 1)
    assert status["progress_percent"] == 100
    assert [(e["line_number"], e["raw"]) for e in errors["results"]] == [
        (3, {"First": "Bad", "Last": "Row", "Mobile": "12"})
    ]
    assert Customer.objects.get().contact_points.get().value == "+14155550134"


def test_import_without_a_mapping_takes_the_suggested_one(
    api_for: Callable[[str | None], APIClient], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    csv = b"First name,Last name,E-mail\nAda,Lovelace,ada@example.com\n"

    response = api_for("Supervisor").post(
        f"{API}/customers/import/", {"file": SimpleUploadedFile("p.csv", csv)}, format="multipart"
    )

    assert response.status_code == 201, response.content
    assert response.json()["mapping"] == {
        "first_name": "First name",
        "last_name": "Last name",
        "email": "E-mail",
    }


def test_import_mapping_to_a_missing_column_is_a_400(
    api_for: Callable[[str | None], APIClient], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)

    response = api_for("Marketer").post(
        f"{API}/customers/import/",
        {"file": SimpleUploadedFile("p.csv", b"First\nAda\n"), "mapping": '{"first_name": "Given"}'},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": ["Mapping: column 'Given' (for first_name) is not in the file's header."]
    }
    assert ImportJob.objects.count() == 0


def test_agent_cannot_import(api_for: Callable[[str | None], APIClient]) -> None:
    response = api_for("Agent").post(
        f"{API}/customers/import/",
        {"file": SimpleUploadedFile("people.csv", b"first_name\nAda\n", content_type="text/csv")},
        format="multipart",
    )

    assert response.status_code == 403
    assert ImportJob.objects.count() == 0
    assert Customer.objects.count() == 0


def test_import_without_a_file_or_with_a_bad_mapping_is_a_400(
    api_for: Callable[[str | None], APIClient],
) -> None:
    client = api_for("Marketer")

    no_file = client.post(f"{API}/customers/import/", {}, format="multipart")
    bad_mapping = client.post(
        f"{API}/customers/import/",
        {"file": SimpleUploadedFile("p.csv", b"a\n1\n"), "mapping": '["not", "an", "object"]'},
        format="multipart",
    )

    assert no_file.status_code == 400
    assert list(no_file.json()) == ["file"]
    assert bad_mapping.status_code == 400
    assert bad_mapping.json() == {"mapping": ["Give a JSON object of field name -> column header."]}
    assert ImportJob.objects.count() == 0


def _job_with_errors(count: int, created_by: User | None = None) -> ImportJob:
    job = ImportJob.objects.create(
        created_by=created_by,
        file="imports/people.csv",
        file_name="people.csv",
        status="done",
        total_rows=10,
        processed_rows=10,
        created_count=10 - count,
        rejected_count=count,
    )
    ImportRowError.objects.bulk_create(
        ImportRowError(job=job, line_number=line + 2, reason=f"bad phone {line}", raw={"phone": "12"})
        for line in range(count)
    )
    return job


def test_import_job_shows_status_counts_and_progress(api_for: Callable[[str | None], APIClient]) -> None:
    marketer = api_for("Marketer")
    job = _job_with_errors(3, created_by=_user(marketer))

    body = marketer.get(f"{API}/imports/{job.pk}/").json()

    assert body["status"] == "done"
    assert (body["total_rows"], body["created_count"], body["rejected_count"]) == (10, 7, 3)
    assert body["progress_percent"] == 100
    assert body["errors_url"] == f"{API}/imports/{job.pk}/errors/"


def test_import_errors_are_paginated_by_line(
    api_for: Callable[[str | None], APIClient], django_assert_max_num_queries: Any
) -> None:
    job = _job_with_errors(5)
    client = api_for("Supervisor")

    with django_assert_max_num_queries(6):
        first = client.get(f"{API}/imports/{job.pk}/errors/?page_size=2").json()
    last = client.get(f"{API}/imports/{job.pk}/errors/?page_size=2&page=3").json()

    assert first["count"] == 5
    assert first["results"] == [
        {"line_number": 2, "reason": "bad phone 0", "raw": {"phone": "12"}},
        {"line_number": 3, "reason": "bad phone 1", "raw": {"phone": "12"}},
    ]
    assert [row["line_number"] for row in last["results"]] == [6]


def test_agent_cannot_see_import_jobs(api_for: Callable[[str | None], APIClient]) -> None:
    job = _job_with_errors(1)
    client = api_for("Agent")

    assert client.get(f"{API}/imports/{job.pk}/").status_code == 403
    assert client.get(f"{API}/imports/{job.pk}/errors/").status_code == 403


# --- contact points -------------------------------------------------------------------------


def test_contact_points_list_filters_by_customer_in_fixed_queries(
    api_for: Callable[[str | None], APIClient], agent: User, django_assert_max_num_queries: Any
) -> None:
    ada = _ada(agent)
    _ada(agent, contacts=[ContactInput(kind="phone", value="+14155550177")], first_name="Other")
    client = api_for("Marketer")

    with django_assert_max_num_queries(5):
        response = client.get(f"{API}/contact-points/", {"customer": ada.pk})

    assert sorted(p["value"] for p in response.json()["results"]) == ["+14155550134", "ada@example.com"]
    assert client.get(f"{API}/contact-points/", {"customer": "x"}).status_code == 400


def test_agent_adds_a_contact_point(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    customer = _ada(agent)

    response = api_for("Agent").post(
        f"{API}/contact-points/",
        {"customer": customer.pk, "kind": "phone", "value": "415-555-0188", "label": "mobile"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["customer"], body["value"], body["label"], body["is_primary"]) == (
        customer.pk,
        "+14155550188",
        "mobile",
        False,
    )
    assert customer.contact_points.count() == 3


def test_adding_a_contact_point_of_another_customer_is_a_conflict(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    owner = _ada(agent)
    other = customer_create(actor=agent, first_name="Other")

    response = api_for("Agent").post(
        f"{API}/contact-points/",
        {"customer": other.pk, "kind": "email", "value": "ADA@example.com"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "contact_point_taken"
    assert ContactPoint.objects.get(value="ada@example.com").customer_id == owner.pk
    assert other.contact_points.count() == 0


def test_consent_changes_with_its_source(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    phone = _ada(agent).contact_points.get(kind="phone")

    response = api_for("Agent").patch(
        f"{API}/contact-points/{phone.pk}/",
        {"do_not_call": True, "sms_opt_in": True, "source": "agent call"},
        format="json",
    )

    assert response.status_code == 200, response.content
    phone.refresh_from_db()
    assert (phone.do_not_call, phone.do_not_call_source) == (True, "agent call")
    assert (phone.sms_opt_in, phone.sms_opt_in_source) == (True, "agent call")
    assert (phone.email_opt_out, phone.email_opt_out_source) == (False, "")
    assert response.json()["do_not_call_at"] is not None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"do_not_call": True}, {"source": ["This field is required."]}),
        ({"do_not_call": True, "source": "  "}, {"source": ["This field may not be blank."]}),
        (
            {"source": "agent call"},
            {"non_field_errors": ["Give at least one of do_not_call, email_opt_out, sms_opt_in."]},
        ),
        (
            {"value": "+14155550199", "source": "agent call"},
            {"value": ["Only consent can change; remove the contact point and add a new one instead."]},
        ),
    ],
)
def test_consent_change_needs_a_source_and_a_flag_and_nothing_else(
    api_for: Callable[[str | None], APIClient], agent: User, payload: dict[str, Any], expected: dict[str, Any]
) -> None:
    phone = _ada(agent).contact_points.get(kind="phone")

    response = api_for("Agent").patch(f"{API}/contact-points/{phone.pk}/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == expected
    phone.refresh_from_db()
    assert (phone.value, phone.do_not_call) == ("+14155550134", False)


def test_agent_removes_a_contact_point(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    customer = _ada(agent)
    email = customer.contact_points.get(kind="email")

    response = api_for("Agent").delete(f"{API}/contact-points/{email.pk}/")

    assert response.status_code == 204
    assert list(customer.contact_points.values_list("kind", flat=True)) == ["phone"]


def test_marketer_cannot_change_contact_points(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)
    phone = customer.contact_points.get(kind="phone")
    client = api_for("Marketer")

    added = client.post(
        f"{API}/contact-points/",
        {"customer": customer.pk, "kind": "phone", "value": "+14155550188"},
        format="json",
    )
    consent = client.patch(
        f"{API}/contact-points/{phone.pk}/", {"do_not_call": True, "source": "x"}, format="json"
    )
    removed = client.delete(f"{API}/contact-points/{phone.pk}/")

    assert (added.status_code, consent.status_code, removed.status_code) == (403, 403, 403)
    assert sorted(customer.contact_points.values_list("value", "do_not_call")) == [
        ("+14155550134", False),
        ("ada@example.com", False),
    ]


# --- notes ----------------------------------------------------------------------------------


def test_agent_adds_a_note_and_lists_a_customers_notes(
    api_for: Callable[[str | None], APIClient], agent: User, django_assert_max_num_queries: Any
) -> None:
    customer = _ada(agent)
    other = customer_create(actor=agent, first_name="Other")
    note_add(actor=agent, customer=other, body="Not this one")
    client = api_for("Agent")

    created = client.post(
        f"{API}/notes/", {"customer": customer.pk, "body": "  Wants a callback  "}, format="json"
    )
    for n in range(5):
        note_add(actor=agent, customer=customer, body=f"note {n}")
    with django_assert_max_num_queries(5):
        listed = client.get(f"{API}/notes/", {"customer": customer.pk})

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["customer"], body["body"], body["author"]) == (
        customer.pk,
        "Wants a callback",
        _user(client).pk,
    )
    assert body["author_name"] == _user(client).username
    results = listed.json()["results"]
    assert [n["body"] for n in results] == [
        "note 4",
        "note 3",
        "note 2",
        "note 1",
        "note 0",
        "Wants a callback",
    ]


def test_notes_are_immutable(api_for: Callable[[str | None], APIClient], agent: User) -> None:
    note = note_add(actor=agent, customer=_ada(agent), body="Original")
    client = api_for("Admin")

    patched = client.patch(f"{API}/notes/{note.pk}/", {"body": "Changed"}, format="json")
    deleted = client.delete(f"{API}/notes/{note.pk}/")

    assert (patched.status_code, deleted.status_code) == (405, 405)
    note.refresh_from_db()
    assert note.body == "Original"


def test_empty_note_is_refused_and_marketer_cannot_add_notes(
    api_for: Callable[[str | None], APIClient], agent: User
) -> None:
    customer = _ada(agent)

    empty = api_for("Agent").post(f"{API}/notes/", {"customer": customer.pk, "body": "   "}, format="json")
    marketer = api_for("Marketer").post(
        f"{API}/notes/", {"customer": customer.pk, "body": "Hi"}, format="json"
    )

    assert empty.status_code == 400
    assert marketer.status_code == 403
    assert Note.objects.count() == 0


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_list_search_and_query_count_on_postgres(
    postgres: None, api_for: Callable[[str | None], APIClient], django_assert_max_num_queries: Any
) -> None:
    assert connection.vendor == "postgresql"
    for n in range(20):
        _ada(
            first_name=f"Person{n}",
            last_name="Lovelace" if n == 7 else "Smith",
            contacts=[ContactInput(kind="phone", value=f"+1415555{n:04d}")],
        )
    client = api_for("Agent")

    with django_assert_max_num_queries(7):
        everyone = client.get(f"{API}/customers/?page_size=50")
    found = client.get(f"{API}/customers/", {"q": "lovelace"}).json()["results"]
    by_phone = client.get(f"{API}/customers/", {"q": "(415) 555-0007"}).json()["results"]

    assert everyone.json()["count"] == 20
    assert [c["first_name"] for c in found] == ["Person7"]
    assert [c["first_name"] for c in by_phone] == ["Person7"]
    assert Tag.objects.get().customers.count() == 20
