from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import User
from apps.core.models import AuditEntry
from apps.customers.models import ContactPoint, Customer, CustomFieldDefinition, MergeRecord, Note, Tag
from apps.customers.services.customers import ContactInput, customer_create

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:customers_customer_changelist"


@pytest.fixture
def admin_client_(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


def _customer(agent: User, first: str, *contacts: str, **kwargs: Any) -> Customer:
    return customer_create(
        actor=agent,
        first_name=first,
        last_name=kwargs.pop("last_name", "Tester"),
        contacts=[ContactInput(kind="email" if "@" in c else "phone", value=c) for c in contacts],
        **kwargs,
    )


def _action(client: Client, action: str, ids: list[int], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [str(i) for i in ids], **extra}
    return client.post(reverse(CHANGELIST), data)


def test_changelist_search_and_filters_load(admin_client_: Client, agent: User) -> None:
    ada = _customer(agent, "Ada", "+14155550134", "ada@example.com", tags=["vip"], lifecycle_stage="customer")
    _customer(agent, "Grace", "+14155550135")

    listing = admin_client_.get(reverse(CHANGELIST))
    by_phone = admin_client_.get(reverse(CHANGELIST), {"q": "(415) 555-0134"})
    by_filters = admin_client_.get(reverse(CHANGELIST), {"tag": "vip", "lifecycle_stage__exact": "customer"})

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) != []
    assert [c.pk for c in by_phone.context["cl"].result_list] == [ada.pk]
    assert [c.pk for c in by_filters.context["cl"].result_list] == [ada.pk]
    assert "+14155550134" in listing.content.decode()
    assert reverse("customers:import") in listing.content.decode()
    assert (
        f"{reverse('customers:export')}?lifecycle_stage=customer&amp;tag=vip" in by_filters.content.decode()
    )


def test_changelist_query_count_does_not_grow_with_rows(admin_client_: Client, agent: User) -> None:
    for n in range(30):
        _customer(agent, f"Person{n}", f"p{n}@example.com")

    with CaptureQueriesContext(connection) as ctx:
        response = admin_client_.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert len(ctx.captured_queries) <= 12


def test_agent_cannot_open_the_admin(client_for: Any) -> None:
    response = client_for("Agent").get(reverse(CHANGELIST))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_bulk_add_tag_asks_the_name_then_tags(admin_client_: Client, agent: User) -> None:
    a, b = _customer(agent, "A", "a@x.example"), _customer(agent, "B", "b@x.example")

    form = _action(admin_client_, "add_tag", [a.pk, b.pk], index="0")
    done = _action(admin_client_, "add_tag", [a.pk, b.pk], apply="1", tag="gold")

    assert form.status_code == 200 and b'name="tag"' in form.content
    assert done.status_code == 302
    assert sorted(Tag.objects.get(name="gold").customers.values_list("pk", flat=True)) == [a.pk, b.pk]


def test_bulk_assign_owner(admin_client_: Client, agent: User, supervisor: User) -> None:
    a = _customer(agent, "A", "a@x.example")

    _action(admin_client_, "assign_owner", [a.pk], apply="1", owner=str(supervisor.pk))

    a.refresh_from_db()
    assert a.owner == supervisor
    assert AuditEntry.objects.filter(action="customer.update", object_id=str(a.pk)).exists()


def test_bulk_mark_do_not_call_sets_source(admin_client_: Client, admin_user: User, agent: User) -> None:
    a = _customer(agent, "A", "+14155550134", "+14155550135", "a@x.example")

    _action(admin_client_, "mark_do_not_call", [a.pk], index="0")

    phones = ContactPoint.objects.filter(customer=a, kind="phone")
    assert [p.do_not_call for p in phones] == [True, True]
    assert {p.do_not_call_source for p in phones} == {f"admin bulk action by {admin_user.username}"}
    assert ContactPoint.objects.get(customer=a, kind="email").do_not_call is False


def test_merge_two_lets_the_admin_choose_the_survivor(admin_client_: Client, agent: User) -> None:
    older = _customer(agent, "Ada", "ada@one.example")
    newer = _customer(agent, "Ada", "ada@two.example")

    page = _action(admin_client_, "merge_two", [older.pk, newer.pk], index="0")
    _action(admin_client_, "merge_two", [older.pk, newer.pk], apply="1", survivor=str(newer.pk))

    assert page.status_code == 200
    assert re.search(rf'value="{older.pk}"[^>]*checked', page.content.decode())
    assert not Customer.objects.filter(pk=older.pk).exists()
    assert sorted(newer.contact_points.values_list("value", flat=True)) == [
        "ada@one.example",
        "ada@two.example",
    ]
    assert MergeRecord.objects.get().merged_customer_id == older.pk


def test_merge_needs_exactly_two(admin_client_: Client, agent: User) -> None:
    a = _customer(agent, "A", "a@x.example")

    _action(admin_client_, "merge_two", [a.pk], apply="1", survivor=str(a.pk))

    assert Customer.objects.filter(pk=a.pk).exists()
    assert MergeRecord.objects.count() == 0


def test_gdpr_export_one_downloads_json(admin_client_: Client, agent: User) -> None:
    a = _customer(agent, "Ada", "ada@x.example")

    response = _action(admin_client_, "gdpr_export_one", [a.pk], index="0")

    assert response["Content-Disposition"] == f'attachment; filename="customer-{a.pk}.json"'
    assert json.loads(response.content)["contact_points"][0]["value"] == "ada@x.example"
    assert AuditEntry.objects.filter(action="customer.gdpr_export", object_id=str(a.pk)).count() == 1


def test_erase_asks_for_confirmation_first(admin_client_: Client, agent: User) -> None:
    a = _customer(agent, "Ada", "ada@x.example")

    page = _action(admin_client_, "erase_selected", [a.pk], index="0")
    a.refresh_from_db()
    assert page.status_code == 200 and a.is_erased is False

    _action(admin_client_, "erase_selected", [a.pk], apply="1")
    a.refresh_from_db()
    assert a.is_erased is True
    assert not a.contact_points.exists()


def _change_data(customer: Customer, **overrides: Any) -> dict[str, Any]:
    points = list(customer.contact_points.order_by("id"))
    data: dict[str, Any] = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "job_title": customer.job_title,
        "lifecycle_stage": customer.lifecycle_stage,
        "time_zone": customer.time_zone,
        "external_id": customer.external_id or "",
        "custom_fields": json.dumps(customer.custom_fields),
        "contact_points-TOTAL_FORMS": str(len(points)),
        "contact_points-INITIAL_FORMS": str(len(points)),
        "contact_points-MIN_NUM_FORMS": "0",
        "contact_points-MAX_NUM_FORMS": "1000",
    }
    for i, point in enumerate(points):
        data.update(
            {
                f"contact_points-{i}-id": str(point.pk),
                f"contact_points-{i}-customer": str(customer.pk),
                f"contact_points-{i}-kind": point.kind,
                f"contact_points-{i}-network": point.network,
                f"contact_points-{i}-value": point.value,
                f"contact_points-{i}-label": point.label,
            }
        )
        if point.is_primary:
            data[f"contact_points-{i}-is_primary"] = "on"
    data.update(overrides)
    return data


def test_change_form_rejects_bad_custom_fields_clearly(admin_client_: Client, agent: User) -> None:
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="integer")
    a = _customer(agent, "Ada", "ada@x.example")
    url = reverse("admin:customers_customer_change", args=[a.pk])

    response = admin_client_.post(url, _change_data(a, custom_fields='{"seats": "many", "color": "red"}'))

    assert response.status_code == 200
    text = response.content.decode()
    assert "seats: must be a whole number" in text
    assert "color: is not a defined custom field" in text
    a.refresh_from_db()
    assert a.custom_fields == {}


def test_change_form_saves_through_services(admin_client_: Client, admin_user: User, agent: User) -> None:
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="integer")
    a = _customer(agent, "Ada", "ada@x.example")
    url = reverse("admin:customers_customer_change", args=[a.pk])
    data = _change_data(
        a,
        last_name="Byron",
        custom_fields='{"seats": "12"}',
        **{
            "contact_points-TOTAL_FORMS": "2",
            "contact_points-1-kind": "phone",
            "contact_points-1-value": "(415) 555-0134",
            "contact_points-1-customer": str(a.pk),
            "contact_points-0-do_not_call": "on",
        },
    )

    response = admin_client_.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    a.refresh_from_db()
    assert (a.last_name, a.custom_fields, a.time_zone) == ("Byron", {"seats": 12}, "America/Los_Angeles")
    assert a.search_text == "ada byron ada@x.example 14155550134"
    email = a.contact_points.get(kind="email")
    assert (email.do_not_call, email.do_not_call_source) == (True, f"admin by {admin_user.username}")
    update = AuditEntry.objects.get(action="customer.update", object_id=str(a.pk))
    assert update.actor == admin_user
    assert update.data == {"fields": ["custom_fields", "last_name"]}


def test_change_form_rejects_a_phone_of_another_customer(admin_client_: Client, agent: User) -> None:
    _customer(agent, "Owner", "+14155550134")
    a = _customer(agent, "Ada", "ada@x.example")
    data = _change_data(
        a,
        **{
            "contact_points-TOTAL_FORMS": "2",
            "contact_points-1-kind": "phone",
            "contact_points-1-value": "415 555 0134",
            "contact_points-1-customer": str(a.pk),
        },
    )

    response = admin_client_.post(reverse("admin:customers_customer_change", args=[a.pk]), data)

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert a.contact_points.count() == 1


def test_change_page_shows_merge_and_audit_history(
    admin_client_: Client, agent: User, supervisor: User
) -> None:
    from apps.customers.services.merge import customer_merge

    a = _customer(agent, "Ada", "ada@x.example")
    b = _customer(agent, "Ada", "ada@y.example")
    customer_merge(actor=supervisor, survivor=a, duplicate=b)

    response = admin_client_.get(reverse("admin:customers_customer_change", args=[a.pk]))

    text = response.content.decode()
    assert f"#{b.pk}" in text
    assert "customer.merge" in text


def test_audit_log_admin_is_read_only(admin_client_: Client, agent: User) -> None:
    a = _customer(agent, "Ada", "ada@x.example")
    entry = AuditEntry.objects.get(action="customer.create", object_id=str(a.pk))

    listing = admin_client_.get(
        reverse("admin:core_auditentry_changelist"), {"q": f"customers.customer {a.pk}"}
    )
    add = admin_client_.get(reverse("admin:core_auditentry_add"))
    delete = admin_client_.post(reverse("admin:core_auditentry_delete", args=[entry.pk]), {"post": "yes"})

    assert [e.pk for e in listing.context["cl"].result_list] == [entry.pk]
    assert add.status_code == 403
    assert delete.status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_import_job_admin_links_to_import_pages(admin_client_: Client) -> None:
    response = admin_client_.get(reverse("admin:customers_importjob_changelist"))

    assert response.status_code == 200
    assert reverse("customers:import") in response.content.decode()


# --- add and change through the services --------------------------------------------------

ADD = "admin:customers_customer_add"


def _inline_rows(*rows: dict[str, str], initial: int = 0) -> dict[str, str]:
    data = {
        "contact_points-TOTAL_FORMS": str(len(rows)),
        "contact_points-INITIAL_FORMS": str(initial),
        "contact_points-MIN_NUM_FORMS": "0",
        "contact_points-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update({f"contact_points-{i}-{field}": value for field, value in row.items()})
    return data


def _add_data(*rows: dict[str, str], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "first_name": "",
        "last_name": "",
        "job_title": "",
        "lifecycle_stage": "lead",
        "time_zone": "",
        "external_id": "",
        "custom_fields": "{}",
        **_inline_rows(*rows),
    }
    data.update(fields)
    return data


def _form_errors(response: Any) -> dict[str, list[str]]:
    return {field: list(errors) for field, errors in response.context["adminform"].form.errors.items()}


def _row_errors(response: Any) -> list[dict[str, list[str]]]:
    formset = response.context["inline_admin_formsets"][0].formset
    return [{field: list(errors) for field, errors in form.errors.items()} for form in formset.forms]


def test_admin_add_creates_the_customer_through_the_service(admin_client_: Client, admin_user: User) -> None:
    vip = Tag.objects.create(name="vip")
    data = _add_data(
        {"kind": "phone", "value": "(415) 555-0134", "label": "mobile", "do_not_call": "on"},
        {"kind": "email", "value": "Ada@Example.com"},
        first_name="Ada",
        last_name="Lovelace",
        tags=[str(vip.pk)],
    )

    response = admin_client_.post(reverse(ADD), data)

    assert response.status_code == 302
    customer = Customer.objects.get()
    assert (customer.first_name, customer.time_zone) == ("Ada", "America/Los_Angeles")
    assert customer.search_text == "ada lovelace ada@example.com 14155550134"
    assert list(customer.tags.values_list("name", flat=True)) == ["vip"]
    points = list(
        customer.contact_points.order_by("kind").values_list("kind", "value", "label", "is_primary")
    )
    assert points == [("email", "ada@example.com", "", True), ("phone", "+14155550134", "mobile", True)]
    phone = customer.contact_points.get(kind="phone")
    assert (phone.do_not_call, phone.do_not_call_source) == (True, f"admin by {admin_user.username}")
    actions = sorted(AuditEntry.objects.filter(object_id=str(customer.pk)).values_list("action", "actor"))
    assert actions == [("consent.do_not_call", admin_user.pk), ("customer.create", admin_user.pk)]
    assert LogEntry.objects.get().object_id == str(customer.pk)


def test_admin_add_of_a_customer_with_only_a_phone(admin_client_: Client) -> None:
    response = admin_client_.post(reverse(ADD), _add_data({"kind": "phone", "value": "+33142685300"}))

    assert response.status_code == 302
    customer = Customer.objects.get()
    assert (customer.display_name, customer.time_zone) == (f"Customer #{customer.pk}", "Europe/Paris")


def test_admin_add_refusal_is_shown_on_the_field_and_writes_nothing(admin_client_: Client) -> None:
    nameless = admin_client_.post(reverse(ADD), _add_data())
    bad_zone = admin_client_.post(
        reverse(ADD),
        _add_data({"kind": "email", "value": "ada@example.com"}, first_name="Ada", time_zone="Mars/Olympus"),
    )

    assert nameless.status_code == bad_zone.status_code == 200
    assert _form_errors(nameless) == {"last_name": ["Give at least a name or one contact point."]}
    assert _form_errors(bad_zone) == {
        "time_zone": ["'Mars/Olympus' is not a known IANA time zone (e.g. Europe/Paris)."]
    }
    assert "Mars/Olympus" in bad_zone.content.decode()
    assert Customer.objects.count() == ContactPoint.objects.count() == 0
    assert AuditEntry.objects.count() == LogEntry.objects.count() == 0


def test_admin_add_shows_an_invalid_phone_on_its_row(admin_client_: Client) -> None:
    response = admin_client_.post(reverse(ADD), _add_data({"kind": "phone", "value": "12"}, first_name="Ada"))

    assert response.status_code == 200
    assert _row_errors(response) == [{"value": ["'12' is not a valid phone number."]}]
    assert Customer.objects.count() == 0


def _change(client: Client, customer: Customer, **overrides: Any) -> Any:
    return client.post(
        reverse("admin:customers_customer_change", args=[customer.pk]), _change_data(customer, **overrides)
    )


def test_admin_change_makes_another_phone_primary_and_demotes_the_old_one(
    admin_client_: Client, admin_user: User, agent: User
) -> None:
    a = _customer(agent, "Ada", "+14155550134", "+442079460000", "ada@x.example")
    old, new = a.contact_points.filter(kind="phone").order_by("id")
    rows = list(a.contact_points.order_by("id"))
    new_row = rows.index(new)
    old_row = rows.index(old)

    response = _change(
        admin_client_,
        a,
        **{f"contact_points-{new_row}-is_primary": "on", f"contact_points-{old_row}-is_primary": ""},
    )

    assert response.status_code == 302
    assert ContactPoint.objects.get(pk=new.pk).is_primary is True
    assert ContactPoint.objects.get(pk=old.pk).is_primary is False
    assert a.contact_points.get(kind="email").is_primary is True
    entry = AuditEntry.objects.get(action="contact_point.update", object_id=str(a.pk))
    assert (entry.actor, entry.data) == (
        admin_user,
        {"contact_point": new.pk, "kind": "phone", "fields": ["is_primary"]},
    )


def test_admin_change_corrects_a_value_through_the_service(admin_client_: Client, agent: User) -> None:
    a = _customer(agent, "Ada", "+14155550134")

    response = _change(admin_client_, a, **{"contact_points-0-value": "(415) 555-0199"})

    assert response.status_code == 302
    assert list(a.contact_points.values_list("value", flat=True)) == ["+14155550199"]
    assert Customer.objects.get(pk=a.pk).search_text == "ada tester 14155550199"
    entry = AuditEntry.objects.get(action="contact_point.update", object_id=str(a.pk))
    assert entry.data["fields"] == ["value"]


def test_admin_change_refuses_unmarking_the_only_phone_on_its_row(admin_client_: Client, agent: User) -> None:
    a = _customer(agent, "Ada", "+14155550134")
    entries = AuditEntry.objects.count()

    response = _change(admin_client_, a, last_name="Byron", **{"contact_points-0-is_primary": ""})

    assert response.status_code == 200
    assert _row_errors(response) == [{"is_primary": ["The customer's only phone is its primary one."]}]
    assert _form_errors(response) == {
        "__all__": ["Some contact points could not be saved; see the reasons on their rows below."]
    }
    a.refresh_from_db()
    assert a.last_name == "Tester"  # the valid part of the save was rolled back with the rest
    assert a.contact_points.get().is_primary is True
    assert AuditEntry.objects.count() == entries
    assert LogEntry.objects.count() == 0


def test_admin_change_shows_a_bad_time_zone_on_its_field_and_adds_no_contact(
    admin_client_: Client, agent: User
) -> None:
    a = _customer(agent, "Ada", "ada@x.example")
    entries = AuditEntry.objects.count()
    data = {
        "time_zone": "Mars/Olympus",
        "contact_points-TOTAL_FORMS": "2",
        "contact_points-1-kind": "phone",
        "contact_points-1-value": "+14155550134",
        "contact_points-1-customer": str(a.pk),
    }

    response = _change(admin_client_, a, **data)

    assert response.status_code == 200
    assert _form_errors(response) == {
        "time_zone": ["'Mars/Olympus' is not a known IANA time zone (e.g. Europe/Paris)."]
    }
    assert list(a.contact_points.values_list("value", flat=True)) == ["ada@x.example"]
    assert AuditEntry.objects.count() == entries


def test_admin_change_of_tags_is_audited(admin_client_: Client, admin_user: User, agent: User) -> None:
    a = _customer(agent, "Ada", "ada@x.example", tags=["vip", "renewal"])
    gold = Tag.objects.create(name="gold")
    vip = Tag.objects.get(name="vip")

    response = _change(admin_client_, a, tags=[str(vip.pk), str(gold.pk)])

    assert response.status_code == 302
    assert sorted(a.tags.values_list("name", flat=True)) == ["gold", "vip"]
    entry = AuditEntry.objects.get(action="customer.tag", object_id=str(a.pk))
    assert (entry.actor, entry.data) == (admin_user, {"added": ["gold"], "removed": ["renewal"]})


def test_bulk_add_tag_is_audited_by_the_service(admin_client_: Client, admin_user: User, agent: User) -> None:
    a = _customer(agent, "A", "a@x.example", tags=["gold"])
    b = _customer(agent, "B", "b@x.example")

    _action(admin_client_, "add_tag", [a.pk, b.pk], apply="1", tag="gold")

    entries = AuditEntry.objects.filter(action="customer.tag")
    assert [(e.object_id, e.actor, e.data) for e in entries] == [
        (str(b.pk), admin_user, {"added": ["gold"], "removed": []})
    ]


def test_staff_who_may_only_view_cannot_change_a_customer(
    client: Client, make_user: Any, agent: User
) -> None:
    viewer = make_user(None)
    User.objects.filter(pk=viewer.pk).update(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(viewer)
    a = _customer(agent, "Ada", "+14155550134")
    entries = AuditEntry.objects.count()

    response = _change(client, a, last_name="Byron", **{"contact_points-0-value": "+14155550199"})

    assert response.status_code == 403
    a.refresh_from_db()
    assert a.last_name == "Tester"
    assert list(a.contact_points.values_list("value", flat=True)) == ["+14155550134"]
    assert AuditEntry.objects.count() == entries


def test_change_page_query_count_does_not_grow_with_contact_points(
    admin_client_: Client, agent: User, django_assert_max_num_queries: Any
) -> None:
    few = _customer(agent, "Few", "few@x.example", tags=["vip"])
    many = _customer(agent, "Many", *[f"m{n}@x.example" for n in range(12)], tags=["vip"])

    with CaptureQueriesContext(connection) as one:
        admin_client_.get(reverse("admin:customers_customer_change", args=[few.pk]))
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = admin_client_.get(reverse("admin:customers_customer_change", args=[many.pk]))

    assert response.status_code == 200


def test_admin_note_is_added_by_the_signed_in_staff_member(
    admin_client_: Client, admin_user: User, agent: User
) -> None:
    a = _customer(agent, "Ada", "ada@x.example")

    response = admin_client_.post(
        reverse("admin:customers_note_add"), {"customer": str(a.pk), "body": " Called back "}
    )
    too_long = admin_client_.post(
        reverse("admin:customers_note_add"), {"customer": str(a.pk), "body": "x" * 20001}
    )

    assert response.status_code == 302
    note = Note.objects.get()
    assert (note.customer, note.author, note.body) == (a, admin_user, "Called back")
    assert too_long.status_code == 200
    assert _form_errors(too_long) == {"body": ["A note is limited to 20,000 characters."]}
    assert Note.objects.count() == 1


def test_admin_notes_never_change_afterwards(admin_client_: Client, admin_user: User, agent: User) -> None:
    a = _customer(agent, "Ada", "ada@x.example")
    admin_client_.post(reverse("admin:customers_note_add"), {"customer": str(a.pk), "body": "Original"})
    note = Note.objects.get()

    response = admin_client_.post(
        reverse("admin:customers_note_change", args=[note.pk]), {"customer": str(a.pk), "body": "Rewritten"}
    )

    assert response.status_code == 403
    assert Note.objects.get().body == "Original"


# --- at scale (PostgreSQL) -----------------------------------------------------------------

_BULK_CUSTOMERS_SQL = """
INSERT INTO customers_customer
    (first_name, last_name, job_title, lifecycle_stage, time_zone, custom_fields, search_text,
     is_erased, created_at, updated_at)
SELECT 'First' || n, 'Last' || n, '', (ARRAY['lead','prospect','customer','churned'])[1 + n %% 4],
       'UTC', '{}'::jsonb, 'first' || n || ' last' || n, false,
       now() - make_interval(secs => n), now() - make_interval(secs => n)
FROM generate_series(1, %s) AS n
"""


def _unbounded_customer_counts(queries: list[dict[str, str]]) -> list[str]:
    """COUNT(*) over customers_customer with neither a WHERE nor a LIMIT: a full table count."""
    return [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper()
        and "customers_customer" in q["sql"]
        and "WHERE" not in q["sql"].upper()
        and "LIMIT" not in q["sql"].upper()
    ]


@pytest.mark.postgres
@pytest.mark.slow
def test_changelist_at_scale_never_counts_the_whole_table(
    postgres: None, admin_client_: Client, agent: User
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_BULK_CUSTOMERS_SQL, [100_000])
        cursor.execute("ANALYZE customers_customer")
    Tag.objects.create(name="vip")
    target = _customer(agent, "Findable", "+14155550134", last_name="Person", lifecycle_stage="customer")
    url = reverse(CHANGELIST)

    with CaptureQueriesContext(connection) as plain:
        listing = admin_client_.get(url)
    with CaptureQueriesContext(connection) as searched:
        search = admin_client_.get(url, {"q": "415-555-0134"})
    with CaptureQueriesContext(connection) as filtered:
        stage = admin_client_.get(url, {"lifecycle_stage__exact": "prospect"})

    assert listing.status_code == search.status_code == stage.status_code == 200
    assert 90_000 <= listing.context["cl"].result_count <= 110_000
    assert [c.pk for c in search.context["cl"].result_list] == [target.pk]
    assert len(stage.context["cl"].result_list) == 100
    assert stage.context["cl"].result_count >= 10_000
    for ctx in (plain, searched, filtered):
        assert _unbounded_customer_counts(ctx.captured_queries) == []
        assert len(ctx.captured_queries) <= 14
