"""Customer pages: access per role, search and filters, detail with its timeline, notes (plain and
htmx), contact points and consent, create/edit validation, duplicates, merge and GDPR."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.core.models import AuditEntry
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    MergeRecord,
    Note,
)
from apps.customers.services.customers import (
    ContactInput,
    contact_point_set_consent,
    customer_create,
    note_add,
)
from tests.customers.factories import CustomerFactory, EmailFactory, NoteFactory, PhoneFactory, TagFactory

pytestmark = pytest.mark.django_db

ROLES = ("Agent", "Supervisor", "Marketer", "Admin")


def login(make_user: Callable[..., User], role: str) -> tuple[Client, User]:
    user = make_user(role)
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def customer(agent: User) -> Customer:
    return customer_create(
        actor=agent,
        first_name="Ada",
        last_name="Lovelace",
        organization_name="Analytical Engines",
        job_title="Head of Research",
        owner=agent,
        contacts=[
            ContactInput(kind="phone", value="+14155550134"),
            ContactInput(kind="email", value="ada@example.com"),
        ],
        tags=["vip"],
    )


def page(response: object) -> str:
    return response.content.decode()  # type: ignore[attr-defined]


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("list", set(ROLES)),
        ("detail", set(ROLES)),
        ("timeline", set(ROLES)),
        ("create", {"Agent", "Supervisor", "Admin"}),
        ("edit", {"Agent", "Supervisor", "Admin"}),
        ("duplicates", {"Supervisor", "Admin"}),
        ("merge", {"Supervisor", "Admin"}),
        ("gdpr_export", {"Supervisor", "Admin"}),
        ("erase", {"Supervisor", "Admin"}),
    ],
)
def test_pages_open_only_for_their_roles(
    client_for: Callable[[str | None], Client], customer: Customer, name: str, allowed: set[str]
) -> None:
    path = {
        "list": "/customers/",
        "create": "/customers/new/",
        "duplicates": "/customers/duplicates/",
        "detail": f"/customers/{customer.pk}/",
        "timeline": f"/customers/{customer.pk}/timeline/",
        "edit": f"/customers/{customer.pk}/edit/",
        "merge": f"/customers/{customer.pk}/merge/",
        "gdpr_export": f"/customers/{customer.pk}/gdpr-export/",
        "erase": f"/customers/{customer.pk}/erase/",
    }[name]
    for role in ROLES:
        response = client_for(role).get(path)
        assert response.status_code == (200 if role in allowed else 403), (role, path)
    anonymous = client_for(None).get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    "action",
    ["note_add", "contact_add", "contact_consent", "contact_remove", "edit", "create", "merge", "erase"],
)
@pytest.mark.parametrize("role", ["Marketer", None])
def test_denied_posts_change_nothing(
    client_for: Callable[[str | None], Client], customer: Customer, action: str, role: str | None
) -> None:
    point = customer.contact_points.get(kind=ContactPointKind.PHONE)
    other = CustomerFactory(first_name="Ada", last_name="Lovelace")
    path, data = {
        "note_add": (f"/customers/{customer.pk}/notes/", {"body": "sneaky"}),
        "contact_add": (f"/customers/{customer.pk}/contacts/", {"kind": "email", "value": "x@example.com"}),
        "contact_consent": (
            f"/customers/{customer.pk}/contacts/{point.pk}/consent/",
            {"consent": "do_not_call", "value": "1"},
        ),
        "contact_remove": (f"/customers/{customer.pk}/contacts/{point.pk}/remove/", {}),
        "edit": (f"/customers/{customer.pk}/edit/", {"first_name": "Changed", "lifecycle_stage": "lead"}),
        "create": ("/customers/new/", {"first_name": "New", "lifecycle_stage": "lead"}),
        "merge": (f"/customers/{customer.pk}/merge/", {"survivor": customer.pk, "other": other.pk}),
        "erase": (f"/customers/{customer.pk}/erase/", {}),
    }[action]
    customers_before = Customer.objects.count()
    audit_before = AuditEntry.objects.count()

    response = client_for(role).post(path, data)

    assert response.status_code == (403 if role else 302)
    customer.refresh_from_db()
    point.refresh_from_db()
    assert customer.first_name == "Ada"
    assert customer.is_erased is False
    assert point.do_not_call is False
    assert customer.notes.count() == 0
    assert customer.contact_points.count() == 2
    assert Customer.objects.count() == customers_before
    assert AuditEntry.objects.count() == audit_before
    assert MergeRecord.objects.count() == 0


@pytest.mark.parametrize("action", ["merge", "erase"])
def test_agents_cannot_merge_or_erase(
    make_user: Callable[..., User], customer: Customer, action: str
) -> None:
    client, _ = login(make_user, "Agent")
    other = CustomerFactory(first_name="Ada", last_name="Lovelace")
    data = {"survivor": customer.pk, "other": other.pk} if action == "merge" else {}

    response = client.post(f"/customers/{customer.pk}/{action}/", data)

    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.is_erased is False
    assert Customer.objects.filter(pk=other.pk).exists()
    assert MergeRecord.objects.count() == 0


# --- list --------------------------------------------------------------------------------------


def test_list_finds_a_customer_by_a_phone_typed_in_another_format(
    agent_client: Client, customer: Customer
) -> None:
    CustomerFactory(first_name="Grace", last_name="Hopper")

    response = agent_client.get("/customers/", {"q": "(415) 555 0134"})

    assert response.status_code == 200
    assert [row.customer.pk for row in response.context["rows"]] == [customer.pk]
    html = page(response)
    assert "Ada Lovelace" in html
    assert "+1 415-555-0134" in html
    assert "ada@example.com" in html
    assert "Grace Hopper" not in html


def test_list_shows_dnc_badge_tags_owner_and_lifecycle(agent_client: Client, customer: Customer) -> None:
    contact_point_set_consent(
        actor=SystemActor("test setup"),
        contact_point=customer.contact_points.get(kind="phone"),
        consent="do_not_call",
        value=True,
        source="test",
    )

    response = agent_client.get("/customers/")

    row = response.context["rows"][0]
    assert row.has_do_not_call is True
    assert [t.name for t in row.tags] == ["vip"]
    html = page(response)
    assert 'class="badge-dnc"' in html
    assert "Analytical Engines" in html
    assert ">Lead</span>" in html


def test_list_filters_by_owner_me_and_none(make_user: Callable[..., User]) -> None:
    client, me = login(make_user, "Agent")
    someone = make_user("Agent")
    mine = customer_create(actor=me, first_name="Mine", owner=me)
    theirs = customer_create(actor=me, first_name="Theirs", owner=someone)
    nobodys = customer_create(actor=me, first_name="Nobodys")

    def names(owner: str) -> list[str]:
        return [r.customer.first_name for r in client.get("/customers/", {"owner": owner}).context["rows"]]

    assert names("me") == ["Mine"]
    assert names(str(someone.pk)) == ["Theirs"]
    assert names("none") == ["Nobodys"]
    assert {mine.pk, theirs.pk, nobodys.pk} == {
        r.customer.pk for r in client.get("/customers/").context["rows"]
    }


def test_list_filters_by_tag_organization_stage_time_zone_dnc_and_date(
    agent_client: Client, customer: Customer
) -> None:
    other = customer_create(
        actor=SystemActor("test setup"),
        first_name="Grace",
        lifecycle_stage="customer",
        time_zone="Europe/Paris",
        contacts=[ContactInput(kind="phone", value="+33612345678")],
    )
    contact_point_set_consent(
        actor=SystemActor("test setup"),
        contact_point=other.contact_points.get(),
        consent="do_not_call",
        value=True,
        source="t",
    )

    def pks(**params: str) -> list[int]:
        return [r.customer.pk for r in agent_client.get("/customers/", params).context["rows"]]

    assert pks(tag="vip") == [customer.pk]
    assert pks(organization=str(customer.organization_id)) == [customer.pk]
    assert pks(lifecycle_stage="customer") == [other.pk]
    assert pks(time_zone="Europe/Paris") == [other.pk]
    assert pks(dnc="yes") == [other.pk]
    assert pks(dnc="no") == [customer.pk]
    assert pks(updated_since=(timezone.now() + dt.timedelta(days=2)).date().isoformat()) == []


def test_list_shows_a_bad_filter_next_to_the_filters_with_status_200(agent_client: Client) -> None:
    response = agent_client.get("/customers/", {"updated_since": "yesterday"})

    assert response.status_code == 200
    assert response.context["filter_error"] == "Use a date as YYYY-MM-DD."
    assert "Use a date as YYYY-MM-DD." in page(response)
    assert response.context["rows"] == []


def test_list_pages_without_counting(agent_client: Client) -> None:
    for n in range(30):
        CustomerFactory(first_name=f"Person{n:02d}")

    with CaptureQueriesContext(connection) as queries:
        first = agent_client.get("/customers/")
    second = agent_client.get("/customers/", {"page": "2"})

    assert len(first.context["rows"]) == 25
    assert first.context["has_next"] is True
    assert first.context["has_previous"] is False
    assert len(second.context["rows"]) == 5
    assert second.context["has_next"] is False
    assert "Page 2" in page(second)
    assert 'rel="prev" href="?page=1"' in page(second)
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_list_pagination_keeps_the_filters(agent_client: Client) -> None:
    for n in range(26):
        customer_create(actor=SystemActor("test setup"), first_name=f"Vip{n:02d}", tags=["vip"])

    html = page(agent_client.get("/customers/", {"tag": "vip"}))

    assert 'href="?tag=vip&amp;page=2"' in html


def _populate(count: int, contacts_each: int) -> None:
    tag_a, tag_b = TagFactory(name="gold"), TagFactory(name="silver")
    for _ in range(count):
        person = CustomerFactory()
        person.tags.add(tag_a, tag_b)
        for _ in range(contacts_each):
            PhoneFactory(customer=person, is_primary=False)
        EmailFactory(customer=person)


def test_list_query_count_does_not_grow_with_customers(
    agent_client: Client, django_assert_max_num_queries: Callable[..., object]
) -> None:
    _populate(2, 1)
    with CaptureQueriesContext(connection) as few:
        agent_client.get("/customers/", {"q": "example"})
    _populate(20, 3)

    with django_assert_max_num_queries(10):  # type: ignore[attr-defined]
        response = agent_client.get("/customers/", {"q": "example"})
    with CaptureQueriesContext(connection) as many:
        agent_client.get("/customers/", {"q": "example"})

    assert len(response.context["rows"]) == 22
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(("role", "shown"), [("Agent", False), ("Marketer", True), ("Supervisor", True)])
def test_export_link_keeps_filters_for_roles_that_may_export(
    client_for: Callable[[str | None], Client], role: str, shown: bool
) -> None:
    html = page(client_for(role).get("/customers/", {"q": "ada", "tag": "vip"}))

    assert ('href="/customers/export/?q=ada&amp;tag=vip"' in html) is shown


def test_marketer_sees_the_list_without_create_button(client_for: Callable[[str | None], Client]) -> None:
    html = page(client_for("Marketer").get("/customers/"))

    assert "New customer" not in html


# --- detail ------------------------------------------------------------------------------------


def test_detail_shows_profile_contacts_consent_custom_fields_and_local_time(
    agent_client: Client, customer: Customer
) -> None:
    CustomFieldDefinition.objects.create(key="plan", label="Support plan", field_type=CustomFieldType.TEXT)
    Customer.objects.filter(pk=customer.pk).update(custom_fields={"plan": "Gold"})
    contact_point_set_consent(
        actor=SystemActor("test setup"),
        contact_point=customer.contact_points.get(kind="phone"),
        consent="sms_opt_in",
        value=True,
        source="web form",
    )

    response = agent_client.get(f"/customers/{customer.pk}/")

    html = page(response)
    assert response.status_code == 200
    assert "Head of Research" in html
    assert "Analytical Engines" in html
    assert "America/Los_Angeles" in html
    assert response.context["local_time"].tzinfo.key == "America/Los_Angeles"
    assert "Support plan" in html and "Gold" in html
    assert "+1 415-555-0134" in html
    assert "SMS opt-in on since" in html and "web form" in html
    assert f'action="/customers/{customer.pk}/contacts/' in html
    assert "Edit" in html
    assert "Merge duplicate" not in html
    assert "Erase" not in html


def test_detail_for_supervisor_offers_merge_export_and_erase(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    html = page(client_for("Supervisor").get(f"/customers/{customer.pk}/"))

    assert f'href="/customers/{customer.pk}/merge/"' in html
    assert f'href="/customers/{customer.pk}/gdpr-export/"' in html
    assert f'href="/customers/{customer.pk}/erase/"' in html


def test_detail_for_marketer_is_read_only(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    html = page(client_for("Marketer").get(f"/customers/{customer.pk}/"))

    assert "Ada Lovelace" in html
    assert 'id="note-form"' not in html
    assert f'href="/customers/{customer.pk}/edit/"' not in html
    assert "Add a contact point" not in html


def test_detail_of_unknown_customer_is_404(agent_client: Client) -> None:
    assert agent_client.get("/customers/999999/").status_code == 404


def test_detail_query_count_does_not_grow_with_contacts_and_notes(
    agent_client: Client, customer: Customer, django_assert_max_num_queries: Callable[..., object]
) -> None:
    with CaptureQueriesContext(connection) as few:
        agent_client.get(f"/customers/{customer.pk}/")
    for _ in range(5):
        PhoneFactory(customer=customer, is_primary=False)
        NoteFactory(customer=customer)
    customer.tags.add(TagFactory(), TagFactory())

    with django_assert_max_num_queries(12):  # type: ignore[attr-defined]
        agent_client.get(f"/customers/{customer.pk}/")
    with CaptureQueriesContext(connection) as many:
        agent_client.get(f"/customers/{customer.pk}/")

    assert len(many.captured_queries) == len(few.captured_queries)


def test_erased_customer_shows_banner_and_no_personal_data(
    client_for: Callable[[str | None], Client], customer: Customer, agent: User
) -> None:
    note_add(actor=agent, customer=customer, body="Prefers calls after 5pm")
    Customer.objects.filter(pk=customer.pk).update(
        is_erased=True, erased_at=timezone.now(), first_name="", last_name="", job_title=""
    )
    customer.contact_points.all().delete()

    html = page(client_for("Supervisor").get(f"/customers/{customer.pk}/"))

    assert "banner-erased" in html
    assert f"Erased customer #{customer.pk}" in html
    assert "Prefers calls" not in html
    assert "Lovelace" not in html
    assert 'id="note-form"' not in html


# --- notes and timeline ------------------------------------------------------------------------


def test_note_add_without_javascript_redirects_to_the_customer(
    agent_client: Client, customer: Customer
) -> None:
    response = agent_client.post(f"/customers/{customer.pk}/notes/", {"body": "Called about renewal"})

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/#timeline"
    assert list(customer.notes.values_list("body", flat=True)) == ["Called about renewal"]
    assert "Called about renewal" in page(agent_client.get(f"/customers/{customer.pk}/"))


def test_note_add_with_htmx_returns_the_timeline_fragment(agent_client: Client, customer: Customer) -> None:
    response = agent_client.post(
        f"/customers/{customer.pk}/notes/", {"body": "Wants a quote by Friday"}, HTTP_HX_REQUEST="true"
    )

    html = page(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert '<section class="card" id="timeline">' in html
    assert "Wants a quote by Friday" in html
    assert 'id="note-form"' in html and 'hx-swap-oob="true"' in html
    assert customer.notes.get().body == "Wants a quote by Friday"


def test_empty_note_is_refused_with_a_message(agent_client: Client, customer: Customer) -> None:
    htmx = agent_client.post(f"/customers/{customer.pk}/notes/", {"body": "  "}, HTTP_HX_REQUEST="true")
    plain = agent_client.post(f"/customers/{customer.pk}/notes/", {"body": ""})

    assert htmx.status_code == 200
    assert htmx["HX-Retarget"] == "#note-form"
    assert "This field is required." in page(htmx)
    assert plain.status_code == 400
    assert "This field is required." in page(plain)
    assert customer.notes.count() == 0


def test_timeline_pages_with_an_older_button(agent_client: Client, customer: Customer) -> None:
    start = timezone.now() - dt.timedelta(days=30)
    for n in range(25):
        note = NoteFactory(customer=customer, body=f"note {n:02d}")
        Note.objects.filter(pk=note.pk).update(created_at=start + dt.timedelta(hours=n))

    detail = agent_client.get(f"/customers/{customer.pk}/")
    older = detail.context["older"]
    more = agent_client.get(f"/customers/{customer.pk}/timeline/", {"before": older}, HTTP_HX_REQUEST="true")

    assert len(detail.context["entries"]) == 20
    assert older
    assert 'hx-target="#timeline-entries"' in page(detail)
    bodies = [e.body for e in more.context["entries"] if e.kind == "note"]
    # The first page holds the "Customer created" entry and the 19 newest notes.
    assert bodies == [f"note {n:02d}" for n in range(5, -1, -1)]
    assert "<html" not in page(more)
    assert 'id="timeline-more" hx-swap-oob="true"' in page(more)


def test_timeline_without_htmx_is_a_page_and_rejects_bad_cursor(
    agent_client: Client, customer: Customer
) -> None:
    assert "<html" in page(agent_client.get(f"/customers/{customer.pk}/timeline/"))
    assert agent_client.get(f"/customers/{customer.pk}/timeline/", {"before": "soon"}).status_code == 400


# --- contact points and consent ----------------------------------------------------------------


def test_contact_add_normalizes_and_redirects(agent_client: Client, customer: Customer) -> None:
    response = agent_client.post(
        f"/customers/{customer.pk}/contacts/", {"kind": "phone", "value": "(415) 555-0199", "label": "work"}
    )

    assert response.status_code == 302
    assert customer.contact_points.filter(value="+14155550199", label="work").exists()


def test_contact_add_shows_invalid_value_next_to_the_field(agent_client: Client, customer: Customer) -> None:
    response = agent_client.post(
        f"/customers/{customer.pk}/contacts/", {"kind": "email", "value": "not-an-email"}
    )

    assert response.status_code == 400
    assert response.context["contact_form"].errors["value"] == [
        "'not-an-email' is not a valid email address."
    ]
    assert 'value="not-an-email"' in page(response)
    assert customer.contact_points.count() == 2


def test_contact_add_taken_links_to_the_other_customer_and_to_merge(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    other = customer_create(
        actor=SystemActor("test setup"),
        first_name="Grace",
        contacts=[ContactInput(kind="phone", value="+14155550177")],
    )

    response = client_for("Supervisor").post(
        f"/customers/{customer.pk}/contacts/", {"kind": "phone", "value": "415 555 0177"}
    )

    html = page(response)
    assert response.status_code == 400
    assert f'href="/customers/{other.pk}/"' in html
    assert f'href="/customers/{customer.pk}/merge/?other={other.pk}"' in html
    assert "+1 415-555-0177 belongs to" in html
    assert not customer.contact_points.filter(value="+14155550177").exists()


def test_consent_toggle_records_the_agent_as_source(
    make_user: Callable[..., User], customer: Customer
) -> None:
    client, agent = login(make_user, "Agent")
    point = customer.contact_points.get(kind="phone")

    response = client.post(
        f"/customers/{customer.pk}/contacts/{point.pk}/consent/", {"consent": "do_not_call", "value": "1"}
    )

    point.refresh_from_db()
    assert response.status_code == 302
    assert point.do_not_call is True
    assert point.do_not_call_source == f"agent: {agent.username}"
    assert point.do_not_call_at is not None


def test_consent_of_another_customers_contact_point_is_404(agent_client: Client, customer: Customer) -> None:
    stranger = PhoneFactory()

    response = agent_client.post(
        f"/customers/{customer.pk}/contacts/{stranger.pk}/consent/", {"consent": "do_not_call", "value": "1"}
    )

    stranger.refresh_from_db()
    assert response.status_code == 404
    assert stranger.do_not_call is False


def test_contact_remove_deletes_it(agent_client: Client, customer: Customer) -> None:
    point = customer.contact_points.get(kind="email")

    response = agent_client.post(f"/customers/{customer.pk}/contacts/{point.pk}/remove/")

    assert response.status_code == 302
    assert list(customer.contact_points.values_list("kind", flat=True)) == ["phone"]


# --- create and edit ---------------------------------------------------------------------------


def test_create_makes_the_customer_with_contacts_tags_and_custom_fields(
    make_user: Callable[..., User],
) -> None:
    client, agent = login(make_user, "Agent")
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type=CustomFieldType.INTEGER)

    response = client.post(
        "/customers/new/",
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "organization": "Navy",
            "job_title": "Rear Admiral",
            "owner": agent.pk,
            "lifecycle_stage": "prospect",
            "time_zone": "",
            "tags": "vip, navy, vip",
            "phone": "(212) 555-0148",
            "email": "Grace@Example.com",
            "cf_seats": "12",
        },
    )

    created = Customer.objects.get(last_name="Hopper")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{created.pk}/"
    assert created.organization is not None and created.organization.name == "Navy"
    assert created.owner == agent
    assert created.lifecycle_stage == "prospect"
    assert created.time_zone == "America/New_York"
    assert created.custom_fields == {"seats": 12}
    assert sorted(t.name for t in created.tags.all()) == ["navy", "vip"]
    assert sorted(created.contact_points.values_list("value", flat=True)) == [
        "+12125550148",
        "grace@example.com",
    ]


def test_create_keeps_what_was_typed_when_the_phone_is_bad(agent_client: Client) -> None:
    response = agent_client.post(
        "/customers/new/",
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "lifecycle_stage": "lead",
            "phone": "12",
            "tags": "vip",
        },
    )

    html = page(response)
    assert response.status_code == 400
    assert response.context["form"].errors["phone"] == ["'12' is not a valid phone number."]
    assert 'value="Grace"' in html and 'value="Hopper"' in html and 'value="vip"' in html
    assert Customer.objects.count() == 0


def test_create_shows_a_taken_phone_next_to_the_phone_field(agent_client: Client, customer: Customer) -> None:
    response = agent_client.post(
        "/customers/new/", {"first_name": "Ada", "lifecycle_stage": "lead", "phone": "415-555-0134"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors["phone"] == ["+1 415-555-0134 already belongs to Ada Lovelace."]
    assert f'href="/customers/{customer.pk}/"' in page(response)
    assert Customer.objects.count() == 1


def test_create_without_name_or_contact_shows_the_service_message(agent_client: Client) -> None:
    response = agent_client.post("/customers/new/", {"lifecycle_stage": "lead"})

    assert response.status_code == 400
    assert response.context["form"].errors["last_name"] == ["Give at least a name or one contact point."]
    assert Customer.objects.count() == 0


def test_create_shows_custom_field_errors_per_field(agent_client: Client) -> None:
    CustomFieldDefinition.objects.create(
        key="contract", label="Contract number", field_type=CustomFieldType.TEXT, required=True
    )
    CustomFieldDefinition.objects.create(key="renewal", label="Renewal date", field_type=CustomFieldType.DATE)

    response = agent_client.post(
        "/customers/new/", {"first_name": "Grace", "lifecycle_stage": "lead", "cf_renewal": "next spring"}
    )

    errors = response.context["form"].errors
    assert response.status_code == 400
    assert errors["cf_contract"] == ["This field is required."]
    assert errors["cf_renewal"] == ["Enter a valid date."]
    assert 'value="next spring"' in page(response)


def test_edit_changes_fields_tags_and_custom_fields(agent_client: Client, customer: Customer) -> None:
    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type=CustomFieldType.TEXT)
    Customer.objects.filter(pk=customer.pk).update(custom_fields={"plan": "Gold"})
    form = agent_client.get(f"/customers/{customer.pk}/edit/")
    assert form.context["form"].initial["tags"] == "vip"
    assert form.context["form"].initial["cf_plan"] == "Gold"

    response = agent_client.post(
        f"/customers/{customer.pk}/edit/",
        {
            "first_name": "Augusta Ada",
            "last_name": "King",
            "organization": "Analytical Engines",
            "job_title": "",
            "owner": "",
            "lifecycle_stage": "customer",
            "time_zone": "Europe/London",
            "tags": "mathematics",
            "cf_plan": "",
        },
    )

    customer.refresh_from_db()
    assert response.status_code == 302
    assert (customer.first_name, customer.last_name, customer.job_title) == ("Augusta Ada", "King", "")
    assert customer.owner is None
    assert customer.lifecycle_stage == "customer"
    assert customer.time_zone == "Europe/London"
    assert customer.custom_fields == {}
    assert [t.name for t in customer.tags.all()] == ["mathematics"]


def test_edit_rejects_an_unknown_time_zone_and_changes_nothing(
    agent_client: Client, customer: Customer
) -> None:
    response = agent_client.post(
        f"/customers/{customer.pk}/edit/",
        {"first_name": "Changed", "lifecycle_stage": "lead", "time_zone": "Mars/Olympus"},
    )

    customer.refresh_from_db()
    assert response.status_code == 400
    assert response.context["form"].errors["time_zone"] == [
        "Select a valid choice. Mars/Olympus is not one of the available choices."
    ]
    assert customer.first_name == "Ada"


# --- duplicates, merge, GDPR -------------------------------------------------------------------


def test_duplicates_page_links_each_pair_to_merge(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    twin = customer_create(actor=SystemActor("test setup"), first_name="Ada", last_name="Lovelace")

    html = page(client_for("Supervisor").get("/customers/duplicates/"))

    assert "same name" in html
    assert f'href="/customers/{customer.pk}/merge/?other={twin.pk}"' in html


def test_merge_page_shows_candidates_and_the_pair_side_by_side(
    client_for: Callable[[str | None], Client], customer: Customer, agent: User
) -> None:
    twin = customer_create(actor=SystemActor("test setup"), first_name="Ada", last_name="Lovelace")
    note_add(actor=agent, customer=twin, body="old note")
    client = client_for("Supervisor")

    candidates = client.get(f"/customers/{customer.pk}/merge/")
    pair = client.get(f"/customers/{customer.pk}/merge/", {"other": twin.pk})

    assert [c.customer.pk for c in candidates.context["candidates"]] == [twin.pk]
    assert [s.customer.pk for s in pair.context["sides"]] == [customer.pk, twin.pk]
    assert [s.notes for s in pair.context["sides"]] == [0, 1]
    assert pair.context["sides"][0].contacts == ["ada@example.com", "+1 415-555-0134"]


def test_merge_keeps_the_chosen_survivor(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    twin = customer_create(
        actor=SystemActor("test setup"),
        first_name="Ada",
        last_name="Lovelace",
        contacts=[ContactInput(kind="email", value="a@l.org")],
    )

    response = client_for("Supervisor").post(
        f"/customers/{customer.pk}/merge/", {"survivor": twin.pk, "other": twin.pk}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{twin.pk}/"
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert sorted(twin.contact_points.values_list("value", flat=True)) == [
        "+14155550134",
        "a@l.org",
        "ada@example.com",
    ]
    assert MergeRecord.objects.get().merged_customer_id == customer.pk


def test_merge_with_a_survivor_outside_the_pair_is_refused(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    twin = CustomerFactory()
    stranger = CustomerFactory()
    client = client_for("Supervisor")

    response = client.post(f"/customers/{customer.pk}/merge/", {"survivor": stranger.pk, "other": twin.pk})

    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/merge/"
    assert Customer.objects.filter(pk__in=[customer.pk, twin.pk, stranger.pk]).count() == 3
    assert MergeRecord.objects.count() == 0


def test_gdpr_export_downloads_json_and_is_audited(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    response = client_for("Supervisor").get(f"/customers/{customer.pk}/gdpr-export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert (
        response["Content-Disposition"] == f'attachment; filename="customer-{customer.pk}-personal-data.json"'
    )
    data = json.loads(response.content)
    assert "ada@example.com" in json.dumps(data)
    assert AuditEntry.objects.filter(action="customer.gdpr_export", object_id=str(customer.pk)).count() == 1


def test_gdpr_export_denied_for_agent_leaves_no_audit(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    before = AuditEntry.objects.count()

    response = client_for("Agent").get(f"/customers/{customer.pk}/gdpr-export/")

    assert response.status_code == 403
    assert AuditEntry.objects.count() == before


def test_erase_confirms_then_erases_and_returns_to_the_list(
    client_for: Callable[[str | None], Client], customer: Customer
) -> None:
    client = client_for("Supervisor")

    confirm = client.get(f"/customers/{customer.pk}/erase/")
    response = client.post(f"/customers/{customer.pk}/erase/", follow=True)

    assert "Kept, anonymously" in page(confirm)
    assert "2 contact points" in page(confirm)
    customer.refresh_from_db()
    assert response.redirect_chain == [("/customers/", 302)]
    assert customer.is_erased is True
    assert customer.contact_points.count() == 0
    assert f"Erased the personal data of Ada Lovelace (#{customer.pk})" in page(response)
    assert ContactPoint.objects.filter(value="+14155550134").count() == 0
