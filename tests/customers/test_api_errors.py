"""Bad input to the customers API is a 4xx naming the field, never a 500, and writes nothing:
a taken external id, ids beyond 64 bits, non-numeric filters, rows that do not exist, OPTIONS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.customers.models import ContactPoint, Customer, Note
from apps.customers.services.customers import ContactInput, customer_create

pytestmark = pytest.mark.django_db

API = "/api/v1"
BEYOND_64_BITS = "99999999999999999999"
SETUP = SystemActor("test setup")


@pytest.fixture
def api_for(make_user: Callable[..., User]) -> Callable[[str], APIClient]:
    def make(role: str) -> APIClient:
        client = APIClient()
        client.force_login(make_user(role))
        return client

    return make


def _customer(last_name: str, external_id: str | None = None) -> Customer:
    return customer_create(
        actor=SETUP,
        last_name=last_name,
        external_id=external_id,
        contacts=[ContactInput(kind="email", value=f"{last_name.lower()}@example.com")],
    )


def test_create_with_an_external_id_another_customer_has_is_a_400_naming_the_field(
    api_for: Callable[[str], APIClient],
) -> None:
    # Given a customer holding external id "crm-7"
    holder = _customer("Lovelace", external_id="crm-7")

    # When an agent creates another customer with the same external id
    response = api_for("Agent").post(
        f"{API}/customers/", {"last_name": "Turing", "external_id": "crm-7"}, format="json"
    )

    # Then a 400 names the field and who has it, and no customer was added
    assert response.status_code == 400
    assert response.json() == {
        "external_id": [f"Customer #{holder.pk} already has external id crm-7; each customer needs its own."]
    }
    assert list(Customer.objects.values_list("last_name", flat=True)) == ["Lovelace"]


def test_external_id_is_compared_after_trimming_spaces(api_for: Callable[[str], APIClient]) -> None:
    holder = _customer("Lovelace", external_id="crm-7")

    response = api_for("Agent").post(
        f"{API}/customers/", {"last_name": "Turing", "external_id": "  crm-7 "}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "external_id": [f"Customer #{holder.pk} already has external id crm-7; each customer needs its own."]
    }
    assert Customer.objects.count() == 1


def test_update_to_an_external_id_another_customer_has_is_a_400_and_changes_nothing(
    api_for: Callable[[str], APIClient],
) -> None:
    holder = _customer("Lovelace", external_id="crm-7")
    other = _customer("Turing", external_id="crm-8")

    response = api_for("Agent").patch(
        f"{API}/customers/{other.pk}/", {"external_id": "crm-7", "first_name": "Alan"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "external_id": [f"Customer #{holder.pk} already has external id crm-7; each customer needs its own."]
    }
    other.refresh_from_db()
    assert (other.external_id, other.first_name) == ("crm-8", "")


def test_a_customer_may_keep_its_own_external_id_on_update(api_for: Callable[[str], APIClient]) -> None:
    customer = _customer("Lovelace", external_id="crm-7")

    response = api_for("Agent").patch(
        f"{API}/customers/{customer.pk}/", {"external_id": "crm-7", "first_name": "Ada"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["external_id"], response.json()["first_name"]) == ("crm-7", "Ada")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/customers/{BEYOND_64_BITS}/", f"customer has id {BEYOND_64_BITS}"),
        (f"/customers/{BEYOND_64_BITS}/gdpr-export/", f"customer has id {BEYOND_64_BITS}"),
        (f"/contact-points/{BEYOND_64_BITS}/", f"contact point has id {BEYOND_64_BITS}"),
        (f"/notes/{BEYOND_64_BITS}/", f"note has id {BEYOND_64_BITS}"),
        (f"/imports/{BEYOND_64_BITS}/", f"import has id {BEYOND_64_BITS}"),
        (f"/imports/{BEYOND_64_BITS}/errors/", f"import has id {BEYOND_64_BITS}"),
        ("/customers/-1/", "customer has id -1"),
        ("/customers/1.5/", "customer has id 1.5"),
        ("/customers/abc/", "customer has id abc"),
    ],
)
def test_an_id_that_cannot_exist_is_a_json_404(
    api_for: Callable[[str], APIClient], path: str, message: str
) -> None:
    response = api_for("Admin").get(f"{API}{path}")

    assert response.status_code == 404
    assert response.json() == {"detail": f"No {message}."}


def test_writes_to_an_id_beyond_64_bits_are_404_and_write_nothing(
    api_for: Callable[[str], APIClient],
) -> None:
    customer = _customer("Lovelace")
    admin = api_for("Admin")

    patch = admin.patch(f"{API}/customers/{BEYOND_64_BITS}/", {"first_name": "X"}, format="json")
    merge = admin.post(f"{API}/customers/{BEYOND_64_BITS}/merge/", {"duplicate": customer.pk}, format="json")
    erase = admin.post(f"{API}/customers/{BEYOND_64_BITS}/erase/")

    assert (patch.status_code, merge.status_code, erase.status_code) == (404, 404, 404)
    customer.refresh_from_db()
    assert (customer.first_name, customer.is_erased) == ("", False)


@pytest.mark.parametrize("value", ["abc", "1.5", BEYOND_64_BITS, "-3", "²"])
@pytest.mark.parametrize("endpoint", ["contact-points", "notes"])
def test_a_customer_filter_that_is_not_an_id_is_a_400_naming_it(
    api_for: Callable[[str], APIClient], endpoint: str, value: str
) -> None:
    response = api_for("Agent").get(f"{API}/{endpoint}/", {"customer": value})

    assert response.status_code == 400
    assert response.json() == {"customer": [f"customer must be a whole number from 1 to {2**63 - 1}."]}


@pytest.mark.parametrize("name", ["organization", "owner"])
@pytest.mark.parametrize("value", ["abc", "1.5", BEYOND_64_BITS, "²"])
def test_customer_list_filters_by_id_refuse_what_is_not_an_id(
    api_for: Callable[[str], APIClient], name: str, value: str
) -> None:
    response = api_for("Agent").get(f"{API}/customers/", {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_owner_filter_still_takes_me_and_none(api_for: Callable[[str], APIClient]) -> None:
    _customer("Lovelace")
    agent = api_for("Agent")

    assert agent.get(f"{API}/customers/", {"owner": "none"}).json()["count"] == 1
    assert agent.get(f"{API}/customers/", {"owner": "me"}).json()["count"] == 0


@pytest.mark.parametrize("value", [BEYOND_64_BITS, 424242, "abc", 1.5])
def test_a_note_for_a_customer_that_does_not_exist_is_a_400_and_writes_nothing(
    api_for: Callable[[str], APIClient], value: object
) -> None:
    response = api_for("Agent").post(f"{API}/notes/", {"customer": value, "body": "Hello"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["customer"]
    assert Note.objects.count() == 0


@pytest.mark.parametrize("value", [BEYOND_64_BITS, 424242])
def test_a_contact_point_for_a_customer_that_does_not_exist_is_a_400(
    api_for: Callable[[str], APIClient], value: object
) -> None:
    response = api_for("Agent").post(
        f"{API}/contact-points/",
        {"customer": value, "kind": "email", "value": "new@example.com"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["customer"]
    assert ContactPoint.objects.count() == 0


@pytest.mark.parametrize("value", [BEYOND_64_BITS, 424242])
def test_an_owner_who_does_not_exist_is_a_400_and_writes_nothing(
    api_for: Callable[[str], APIClient], value: object
) -> None:
    response = api_for("Agent").post(
        f"{API}/customers/", {"last_name": "Turing", "owner": value}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["owner"]
    assert Customer.objects.count() == 0


def test_merge_with_a_duplicate_beyond_64_bits_is_a_400(api_for: Callable[[str], APIClient]) -> None:
    survivor = _customer("Lovelace")

    response = api_for("Admin").post(
        f"{API}/customers/{survivor.pk}/merge/", {"duplicate": BEYOND_64_BITS}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["duplicate"]
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(("role", "shows_the_create_form"), [("Agent", True), ("Marketer", False)])
def test_options_on_the_customer_list_describes_the_route_and_only_the_forms_the_role_may_use(
    api_for: Callable[[str], APIClient], role: str, shows_the_create_form: bool
) -> None:
    response = api_for(role).options(f"{API}/customers/")

    assert response.status_code == 200
    assert response.json()["name"] == "Customer List"
    assert ("actions" in response.json()) is shows_the_create_form


def test_options_on_a_route_a_role_may_not_use_is_a_403(api_for: Callable[[str], APIClient]) -> None:
    agent = api_for("Agent").options(f"{API}/imports/1/")
    marketer = api_for("Marketer").options(f"{API}/imports/1/")

    assert agent.status_code == 403
    assert marketer.status_code == 200


def test_options_anonymous_is_a_401() -> None:
    response = APIClient().options(f"{API}/customers/")

    assert response.status_code == 401


def test_list_filtered_by_organization_and_owner_runs_a_fixed_number_of_queries(
    api_for: Callable[[str], APIClient], django_assert_max_num_queries: Callable[..., Any]
) -> None:
    for name in ("Lovelace", "Turing", "Hopper"):
        _customer(name)
    agent = api_for("Agent")

    with django_assert_max_num_queries(8):
        response = agent.get(f"{API}/customers/", {"owner": "none", "organization": "1"})

    assert response.status_code == 200
    assert response.json()["count"] == 0
