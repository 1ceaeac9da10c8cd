"""The register of erased contact points: keyed hashes, checks, the batch check for imports,
and creates through services refused without the person's confirmed consent."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.erasure import (
    erased_among,
    erased_contact_digest,
    erased_contacts_record,
    is_erased_contact,
)
from apps.customers.exceptions import ContactErased
from apps.customers.models import ContactPoint, Customer, ErasedContact
from apps.customers.services.customers import (
    ContactInput,
    contact_point_add,
    contact_point_update,
    customer_create,
)
from apps.customers.services.gdpr import customer_erase
from apps.customers.services.merge import customer_merge

pytestmark = pytest.mark.django_db

API = "/api/v1"
REFUSAL = (
    "this contact point belongs to a person whose data was erased; re-adding them needs their "
    "consent (a supervisor or an admin can confirm it)."
)


def _erased_ada(agent: User) -> Customer:
    customer = customer_create(
        actor=agent,
        first_name="Ada",
        contacts=[
            ContactInput(kind="phone", value="+442079460123"),
            ContactInput(kind="email", value="ada@example.com"),
            ContactInput(kind="social", network="instagram", value="ada_codes"),
        ],
    )
    return customer_erase(actor=SYSTEM, customer=customer)


# --- Digests ---


def test_digest_is_of_the_normalized_value_and_names_nothing() -> None:
    digest = erased_contact_digest("phone", "+44 20 7946 0123")

    assert digest == erased_contact_digest("phone", "0044 (20) 7946-0123")
    assert digest == erased_contact_digest("phone", "+442079460123", normalized=True)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert "2079460123" not in digest
    assert erased_contact_digest("email", " Ada@Example.COM ") == erased_contact_digest(
        "email", "ada@example.com"
    )
    assert erased_contact_digest("social", "@Ada_Codes", "instagram") == erased_contact_digest(
        "social", "ada_codes", "Instagram"
    )


def test_digest_tells_kinds_and_networks_apart() -> None:
    digests = {
        erased_contact_digest("social", "ada_codes", "instagram"),
        erased_contact_digest("social", "ada_codes", "x"),
        erased_contact_digest("email", "ada@example.com"),
        erased_contact_digest("phone", "+442079460123"),
    }

    assert len(digests) == 4


def test_digest_is_keyed_with_the_secret_key() -> None:
    with override_settings(SECRET_KEY="one-test-key-" + "x" * 40):
        first = erased_contact_digest("email", "ada@example.com")
    with override_settings(SECRET_KEY="another-test-key-" + "y" * 40):
        second = erased_contact_digest("email", "ada@example.com")

    assert first != second


# --- The register ---


def test_erasure_registers_every_contact_point_and_the_merged_ones(supervisor: User, agent: User) -> None:
    # Given a customer with a merged duplicate whose email was later removed from the survivor
    customer = customer_create(
        actor=agent, first_name="Ada", contacts=[ContactInput(kind="phone", value="+442079460123")]
    )
    twin = customer_create(
        actor=agent, first_name="Ada", contacts=[ContactInput(kind="email", value="ada@old.example")]
    )
    customer_merge(actor=supervisor, survivor=customer, duplicate=twin)
    ContactPoint.objects.filter(value="ada@old.example").delete()

    # When the customer is erased
    customer_erase(actor=supervisor, customer=customer)

    # Then both values are in the register, and nothing else
    assert is_erased_contact("phone", "+44 20 7946 0123")
    assert is_erased_contact("email", "ADA@old.example")
    assert not is_erased_contact("email", "someone@else.example")
    assert ErasedContact.objects.count() == 2


def test_is_erased_contact_is_false_for_values_that_are_not_contacts() -> None:
    assert is_erased_contact("phone", "not a number") is False
    assert is_erased_contact("fax", "+442079460123") is False


def test_recording_a_value_twice_keeps_its_first_erasure_time(agent: User) -> None:
    _erased_ada(agent)
    first = ErasedContact.objects.get(digest=erased_contact_digest("email", "ada@example.com"))

    new = erased_contacts_record(values=[("email", "ada@example.com", ""), ("email", "bob@example.com", "")])

    assert new == 1
    assert ErasedContact.objects.get(pk=first.pk).erased_at == first.erased_at
    assert ErasedContact.objects.count() == 4


def test_erased_among_checks_a_batch_in_one_query(agent: User, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    _erased_ada(agent)
    batch = [
        ("email", "Ada@Example.com", ""),
        ("email", "bob@example.com", ""),
        ("phone", "020 7946 0123 x", ""),  # not a phone: never erased
        ("phone", "+44 20 7946 0123", ""),
        ("social", "@ADA_codes", "instagram"),
        ("social", "ada_codes", "x"),
    ]

    with django_assert_num_queries(1):
        found = erased_among(batch)

    assert found == {
        ("email", "Ada@Example.com", ""),
        ("phone", "+44 20 7946 0123", ""),
        ("social", "@ADA_codes", "instagram"),
    }


def test_erased_among_takes_normalized_values_in_chunks(agent: User, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    _erased_ada(agent)
    batch = [("email", f"person{n}@example.com", "") for n in range(600)] + [("email", "ada@example.com", "")]

    with django_assert_num_queries(2):
        found = erased_among(batch, normalized=True)

    assert found == {("email", "ada@example.com", "")}
    assert erased_among([]) == set()


# --- Creates refused without consent ---


def test_create_with_an_erased_contact_is_refused_and_writes_nothing(agent: User) -> None:
    _erased_ada(agent)
    customers, audits = Customer.objects.count(), AuditEntry.objects.count()

    with pytest.raises(ContactErased) as refused:
        customer_create(
            actor=agent, first_name="Ada", contacts=[ContactInput(kind="email", value="ADA@example.com")]
        )

    assert str(refused.value) == f"ada@example.com: {REFUSAL}"
    assert refused.value.http_status == 409
    assert (Customer.objects.count(), AuditEntry.objects.count()) == (customers, audits)


def test_adding_an_erased_contact_point_is_refused(agent: User) -> None:
    _erased_ada(agent)
    other = customer_create(actor=agent, first_name="Grace")

    with pytest.raises(ContactErased):
        contact_point_add(
            actor=agent,
            customer=other,
            contact=ContactInput(kind="social", network="instagram", value="Ada_Codes"),
        )

    assert not other.contact_points.exists()


def test_only_a_supervisor_or_admin_confirms_consent(agent: User, marketer: User) -> None:
    _erased_ada(agent)
    other = customer_create(actor=agent, first_name="Ada")
    contact = ContactInput(kind="phone", value="+442079460123")

    for who in (agent, marketer, SYSTEM):
        with pytest.raises(NotAllowed):
            contact_point_add(actor=who, customer=other, contact=contact, consent_confirmed=True)

    assert not other.contact_points.exists()
    assert ErasedContact.objects.count() == 3


@pytest.mark.parametrize("role", ["Supervisor", "Admin"])
def test_confirmed_consent_re_adds_the_person_audited_without_the_value(
    role: str, agent: User, make_user
) -> None:  # type: ignore[no-untyped-def]
    # Given an erased person who agreed to be added again
    _erased_ada(agent)
    confirming = make_user(role)

    # When a supervisor or an admin re-adds their email, confirming consent
    customer = customer_create(
        actor=confirming,
        first_name="Ada",
        contacts=[ContactInput(kind="email", value="ada@example.com")],
        consent_confirmed=True,
    )

    # Then it is theirs again, off the register, and who confirmed it is audited (no value)
    point = customer.contact_points.get()
    assert point.value == "ada@example.com"
    assert not is_erased_contact("email", "ada@example.com")
    assert is_erased_contact("phone", "+442079460123")
    entry = AuditEntry.objects.get(action="contact_point.consent_confirmed")
    assert (entry.actor, entry.object_id) == (confirming, str(customer.pk))
    assert entry.data == {"contact_point": point.pk, "kind": "email"}


def test_consent_is_not_needed_for_values_never_erased(supervisor: User) -> None:
    customer = customer_create(
        actor=supervisor,
        first_name="Grace",
        contacts=[ContactInput(kind="email", value="grace@example.com")],
        consent_confirmed=True,
    )

    assert customer.contact_points.get().value == "grace@example.com"
    assert not AuditEntry.objects.filter(action="contact_point.consent_confirmed").exists()


def test_changing_a_value_into_an_erased_one_is_refused(agent: User) -> None:
    _erased_ada(agent)
    other = customer_create(
        actor=agent, first_name="Grace", contacts=[ContactInput(kind="email", value="grace@example.com")]
    )
    point = other.contact_points.get()

    with pytest.raises(ContactErased):
        contact_point_update(actor=agent, contact_point=point, value="ada@example.com")

    assert ContactPoint.objects.get(pk=point.pk).value == "grace@example.com"


# --- At the edges: a 409 in the API, a message on the form field in pages ---


def test_api_create_with_an_erased_contact_is_a_conflict_with_a_message(
    agent: User, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    _erased_ada(agent)
    client = APIClient()
    client.force_login(agent)
    payload = {"first_name": "Ada", "contacts": [{"kind": "phone", "value": "+44 20 7946 0123"}]}
    customers = Customer.objects.count()

    with django_assert_max_num_queries(12):
        response = client.post(f"{API}/customers/", payload, format="json")

    assert response.status_code == 409, response.content
    assert response.json() == {"detail": f"+442079460123: {REFUSAL}", "code": "contact_erased"}
    assert Customer.objects.count() == customers


def test_page_adding_an_erased_contact_shows_why_on_the_field(agent: User) -> None:
    _erased_ada(agent)
    other = customer_create(actor=agent, first_name="Grace")
    client = Client()
    client.force_login(agent)

    response = client.post(
        f"/customers/{other.pk}/contacts/",
        {"kind": "email", "value": "ada@example.com", "network": "", "label": ""},
    )

    assert response.status_code == 400
    assert "belongs to a person whose data was erased" in response.content.decode()
    assert not other.contact_points.exists()
