from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import User
from apps.core.models import AuditEntry
from apps.customers.exceptions import ContactPointTaken, InvalidContact, InvalidCustomFields
from apps.customers.models import ContactPoint, Customer, CustomFieldDefinition, Organization
from apps.customers.services.customers import (
    ContactInput,
    contact_point_add,
    contact_point_remove,
    contact_point_set_consent,
    customer_create,
    customer_update,
    note_add,
)

pytestmark = pytest.mark.django_db


def _create(agent: User, **kwargs: object) -> Customer:
    defaults: dict[str, object] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "contacts": [
            ContactInput(kind="phone", value="(415) 555-0134"),
            ContactInput(kind="email", value="Ada@Example.COM"),
        ],
    }
    defaults.update(kwargs)
    return customer_create(actor=agent, **defaults)  # type: ignore[arg-type]


def test_create_normalizes_contacts_and_derives_time_zone(agent: User) -> None:
    customer = _create(agent, organization_name="Analytical Engines")

    values = sorted(customer.contact_points.values_list("kind", "value", "is_primary"))
    assert values == [("email", "ada@example.com", True), ("phone", "+14155550134", True)]
    assert customer.time_zone == "America/Los_Angeles"
    assert customer.organization == Organization.objects.get(name="Analytical Engines")
    assert customer.search_text == "ada lovelace analytical engines ada@example.com 14155550134"
    assert AuditEntry.objects.filter(action="customer.create", object_id=str(customer.pk)).count() == 1


def test_explicit_time_zone_wins_and_unknown_zone_is_rejected(agent: User) -> None:
    assert _create(agent, time_zone="Europe/Paris").time_zone == "Europe/Paris"

    with pytest.raises(ValidationError, match="not a known IANA time zone"):
        _create(agent, time_zone="Mars/Olympus", contacts=[])


def test_a_contact_point_belongs_to_one_customer(agent: User) -> None:
    first = _create(agent)

    with pytest.raises(ContactPointTaken) as caught:
        _create(agent, first_name="Other", contacts=[ContactInput(kind="phone", value="+1 415 555 0134")])

    assert caught.value.contact_point.customer_id == first.pk
    assert Customer.objects.count() == 1  # the failed create left nothing behind


def test_invalid_phone_is_rejected_with_the_value(agent: User) -> None:
    with pytest.raises(InvalidContact, match="'12' is not"):
        _create(agent, contacts=[ContactInput(kind="phone", value="12")])
    assert Customer.objects.count() == 0


def test_custom_fields_are_validated_against_definitions(agent: User) -> None:
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="integer", required=True)
    CustomFieldDefinition.objects.create(
        key="tier", label="Tier", field_type="choice", choices=["gold", "silver"]
    )

    with pytest.raises(InvalidCustomFields) as caught:
        _create(agent, custom_fields={"tier": "bronze", "colour": "red"})

    assert caught.value.errors == {
        "tier": "must be one of: gold, silver",
        "colour": "is not a defined custom field",
        "seats": "is required",
    }
    customer = _create(agent, custom_fields={"seats": "12", "tier": "gold"})
    assert customer.custom_fields == {"seats": 12, "tier": "gold"}


def test_update_saves_only_changes_and_audits_field_names(agent: User) -> None:
    customer = _create(agent)
    before = customer.updated_at

    unchanged = customer_update(actor=agent, customer=customer, first_name="Ada")
    assert unchanged.updated_at == before

    changed = customer_update(actor=agent, customer=customer, last_name="King", organization_name="Acme")
    assert (changed.last_name, changed.organization.name) == ("King", "Acme")  # type: ignore[union-attr]
    entry = AuditEntry.objects.get(action="customer.update", object_id=str(customer.pk))
    assert entry.data == {"fields": ["last_name", "organization"]}
    assert "king" in Customer.objects.get(pk=customer.pk).search_text


def test_consent_records_time_and_source_once(agent: User) -> None:
    customer = _create(agent)
    phone = customer.contact_points.get(kind="phone")

    first = contact_point_set_consent(
        actor=agent, contact_point=phone, consent="do_not_call", value=True, source="caller asked"
    )
    again = contact_point_set_consent(
        actor=agent, contact_point=phone, consent="do_not_call", value=True, source="later"
    )

    assert first.do_not_call is True and first.do_not_call_source == "caller asked"
    assert again.do_not_call_at == first.do_not_call_at and again.do_not_call_source == "caller asked"
    assert AuditEntry.objects.filter(action="consent.do_not_call").count() == 1
    with pytest.raises(ValidationError):
        contact_point_set_consent(
            actor=agent, contact_point=phone, consent="sms_opt_in", value=True, source=" "
        )


def test_removing_the_primary_promotes_another(agent: User) -> None:
    customer = _create(agent)
    second = contact_point_add(
        actor=agent, customer=customer, contact=ContactInput(kind="phone", value="+442079460000")
    )
    primary = customer.contact_points.get(kind="phone", is_primary=True)

    contact_point_remove(actor=agent, contact_point=primary)

    assert ContactPoint.objects.get(pk=second.pk).is_primary is True


def test_adding_an_existing_own_contact_returns_it(agent: User) -> None:
    customer = _create(agent)

    again = contact_point_add(
        actor=agent, customer=customer, contact=ContactInput(kind="email", value="ADA@example.com")
    )

    assert customer.contact_points.filter(kind="email").count() == 1
    assert again.value == "ada@example.com"


def test_note_needs_a_body(agent: User) -> None:
    customer = _create(agent)

    with pytest.raises(ValidationError):
        note_add(actor=agent, customer=customer, body="   ")
    note = note_add(actor=agent, customer=customer, body=" Called back about the invoice ")

    assert note.body == "Called back about the invoice"
    assert note.author == agent
