from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.exceptions import ContactPointTaken, InvalidContact, InvalidCustomFields
from apps.customers.models import ContactPoint, Customer, CustomFieldDefinition, Note, Organization, Tag
from apps.customers.normalize import time_zone_from_phones
from apps.customers.services.customers import (
    ContactInput,
    contact_point_add,
    contact_point_remove,
    contact_point_set_consent,
    contact_point_update,
    customer_create,
    customer_set_tags,
    customer_update,
    derived_time_zone,
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


# --- who acts --------------------------------------------------------------------------------


def test_services_refuse_a_missing_actor_and_write_nothing(agent: User) -> None:
    customer = _create(agent)
    phone = customer.contact_points.get(kind="phone")
    entries = AuditEntry.objects.count()

    with pytest.raises(NotAllowed):
        customer_create(actor=None, first_name="Nobody")  # type: ignore[arg-type]
    with pytest.raises(NotAllowed):
        customer_update(actor=None, customer=customer, first_name="Changed")  # type: ignore[arg-type]
    with pytest.raises(NotAllowed):
        contact_point_update(actor=None, contact_point=phone, label="work")  # type: ignore[arg-type]
    with pytest.raises(NotAllowed):
        customer_set_tags(actor=None, customer=customer, names=["vip"])  # type: ignore[arg-type]

    assert Customer.objects.count() == 1
    assert Customer.objects.get(pk=customer.pk).first_name == "Ada"
    assert ContactPoint.objects.get(pk=phone.pk).label == ""
    assert list(customer.tags.all()) == []
    assert AuditEntry.objects.count() == entries


def test_a_system_actor_is_named_in_the_audit_entry() -> None:
    customer = customer_create(actor=SystemActor("import worker"), first_name="Ada")

    entry = AuditEntry.objects.get(action="customer.create", object_id=str(customer.pk))
    assert (entry.actor, entry.data) == (None, {"system": "import worker"})


def test_notes_are_written_by_people_only(agent: User) -> None:
    customer = _create(agent)

    with pytest.raises(NotAllowed):
        note_add(actor=SystemActor("robot"), customer=customer, body="Beep")  # type: ignore[arg-type]

    assert Note.objects.count() == 0


def test_no_note_is_added_to_an_erased_customer(agent: User) -> None:
    customer = _create(agent)
    Customer.objects.filter(pk=customer.pk).update(is_erased=True)
    customer.refresh_from_db()

    with pytest.raises(ValidationError, match="erased"):
        note_add(actor=agent, customer=customer, body="Called again")

    assert Note.objects.count() == 0


# --- tags ----------------------------------------------------------------------------------


def test_set_tags_audits_what_was_added_and_removed(agent: User) -> None:
    customer = _create(agent, tags=["vip", "renewal"])

    customer_set_tags(actor=agent, customer=customer, names=["vip", "gold"], replace=True)
    customer_set_tags(actor=agent, customer=customer, names=["gold"])  # already there: no entry

    assert sorted(customer.tags.values_list("name", flat=True)) == ["gold", "vip"]
    entry = AuditEntry.objects.get(action="customer.tag", object_id=str(customer.pk))
    assert entry.actor == agent
    assert entry.data == {"added": ["gold"], "removed": ["renewal"]}


def test_set_tags_refuses_a_too_long_tag_and_keeps_the_old_ones(agent: User) -> None:
    customer = _create(agent, tags=["vip"])

    with pytest.raises(ValidationError) as caught:
        customer_set_tags(actor=agent, customer=customer, names=["x" * 65], replace=True)

    assert list(caught.value.message_dict) == ["tags"]
    assert list(customer.tags.values_list("name", flat=True)) == ["vip"]
    assert not Tag.objects.filter(name="x" * 65).exists()
    assert not AuditEntry.objects.filter(action="customer.tag").exists()


# --- contact_point_update ------------------------------------------------------------------


def _phones(customer: Customer) -> list[tuple[str, bool]]:
    return list(
        customer.contact_points.filter(kind="phone").order_by("id").values_list("value", "is_primary")
    )


def test_update_normalizes_a_new_value_and_audits_it(agent: User) -> None:
    customer = _create(agent)
    phone = customer.contact_points.get(kind="phone")

    updated = contact_point_update(actor=agent, contact_point=phone, value="(415) 555-0199", label=" mobile ")

    assert (updated.value, updated.label) == ("+14155550199", "mobile")
    assert ContactPoint.objects.get(pk=phone.pk).value == "+14155550199"
    assert Customer.objects.get(pk=customer.pk).search_text == "ada lovelace ada@example.com 14155550199"
    entry = AuditEntry.objects.get(action="contact_point.update", object_id=str(customer.pk))
    assert entry.actor == agent
    assert entry.data == {
        "contact_point": phone.pk,
        "kind": "phone",
        "fields": ["label", "value"],
        "value": "+14155550199",
    }


def test_update_without_a_change_writes_nothing(agent: User) -> None:
    customer = _create(agent)
    phone = customer.contact_points.get(kind="phone")
    before = Customer.objects.get(pk=customer.pk).updated_at

    contact_point_update(actor=agent, contact_point=phone, value="+1 415 555 0134", label="", is_primary=True)

    assert not AuditEntry.objects.filter(action="contact_point.update").exists()
    assert Customer.objects.get(pk=customer.pk).updated_at == before


def test_making_a_phone_primary_demotes_the_other_primary_phone_only(agent: User) -> None:
    customer = _create(agent)
    second = contact_point_add(
        actor=agent, customer=customer, contact=ContactInput(kind="phone", value="+442079460000")
    )

    contact_point_update(actor=agent, contact_point=second, is_primary=True)

    assert _phones(customer) == [("+14155550134", False), ("+442079460000", True)]
    assert customer.contact_points.get(kind="email").is_primary is True


def test_unmarking_the_primary_hands_it_to_the_oldest_other(agent: User) -> None:
    customer = _create(agent)
    for value in ("+442079460000", "+442079460001"):
        contact_point_add(actor=agent, customer=customer, contact=ContactInput(kind="phone", value=value))
    primary = customer.contact_points.get(kind="phone", is_primary=True)

    contact_point_update(actor=agent, contact_point=primary, is_primary=False)

    assert _phones(customer) == [("+14155550134", False), ("+442079460000", True), ("+442079460001", False)]


def test_the_only_phone_stays_primary(agent: User) -> None:
    customer = _create(agent)
    phone = customer.contact_points.get(kind="phone")

    with pytest.raises(ValidationError) as caught:
        contact_point_update(actor=agent, contact_point=phone, is_primary=False)

    assert caught.value.message_dict == {"is_primary": ["The customer's only phone is its primary one."]}
    assert _phones(customer) == [("+14155550134", True)]


def test_update_to_a_value_of_another_customer_is_refused(agent: User) -> None:
    first = _create(agent)
    other = _create(agent, first_name="Grace", contacts=[ContactInput(kind="phone", value="+442079460000")])
    phone = other.contact_points.get()

    with pytest.raises(ContactPointTaken) as caught:
        contact_point_update(actor=agent, contact_point=phone, value="415-555-0134")

    assert caught.value.contact_point.customer_id == first.pk
    assert ContactPoint.objects.get(pk=phone.pk).value == "+442079460000"
    assert not AuditEntry.objects.filter(action="contact_point.update").exists()


def test_update_to_a_value_the_customer_has_on_another_point_is_refused(agent: User) -> None:
    customer = _create(agent)
    second = contact_point_add(
        actor=agent, customer=customer, contact=ContactInput(kind="phone", value="+442079460000")
    )

    with pytest.raises(ValidationError) as caught:
        contact_point_update(actor=agent, contact_point=second, value="+14155550134")

    assert caught.value.message_dict == {"value": ["This customer already has +14155550134."]}
    assert ContactPoint.objects.get(pk=second.pk).value == "+442079460000"


def test_update_refuses_a_value_that_is_not_a_phone_and_a_too_long_label(agent: User) -> None:
    customer = _create(agent)
    phone = customer.contact_points.get(kind="phone")

    with pytest.raises(InvalidContact, match="'12' is not"):
        contact_point_update(actor=agent, contact_point=phone, value="12")
    with pytest.raises(ValidationError) as caught:
        contact_point_update(actor=agent, contact_point=phone, label="x" * 33)

    assert caught.value.message_dict == {"label": ["A label is limited to 32 characters."]}
    assert (ContactPoint.objects.get(pk=phone.pk).value, ContactPoint.objects.get(pk=phone.pk).label) == (
        "+14155550134",
        "",
    )


def test_update_changes_a_handles_network_within_the_uniqueness_rule(agent: User) -> None:
    customer = _create(agent, contacts=[ContactInput(kind="social", network="whatsapp", value="@ada")])
    handle = customer.contact_points.get()

    contact_point_update(actor=agent, contact_point=handle, network="telegram")
    with pytest.raises(ValidationError) as caught:
        contact_point_update(actor=agent, contact_point=handle, network="myspace")

    assert (ContactPoint.objects.get(pk=handle.pk).network, ContactPoint.objects.get(pk=handle.pk).value) == (
        "telegram",
        "ada",
    )
    assert list(caught.value.message_dict) == ["network"]


def test_a_corrected_phone_gives_a_customer_without_time_zone_one(agent: User) -> None:
    customer = _create(agent, contacts=[ContactInput(kind="phone", value="+80012345678")])
    phone = customer.contact_points.get()
    assert Customer.objects.get(pk=customer.pk).time_zone == ""

    contact_point_update(actor=agent, contact_point=phone, value="+33142685300")

    assert Customer.objects.get(pk=customer.pk).time_zone == "Europe/Paris"


# --- the time zone rule --------------------------------------------------------------------


def test_time_zone_comes_from_the_first_phone_that_tells_one() -> None:
    # An international freephone number lies in no region: the next phone decides.
    assert time_zone_from_phones(["+80012345678", "+33142685300", "+14155550134"]) == "Europe/Paris"
    assert time_zone_from_phones(["+80012345678"]) == ""
    assert time_zone_from_phones([]) == ""
    assert time_zone_from_phones(["+1"], zone_of={"+1": "America/Chicago"}.__getitem__) == "America/Chicago"


def test_derived_time_zone_reads_the_primary_phone_first(agent: User) -> None:
    customer = _create(agent, time_zone="Asia/Tokyo")
    paris = contact_point_add(
        actor=agent, customer=customer, contact=ContactInput(kind="phone", value="+33142685300")
    )
    assert derived_time_zone(customer=customer) == "America/Los_Angeles"

    contact_point_update(actor=agent, contact_point=paris, is_primary=True)

    assert derived_time_zone(customer=customer) == "Europe/Paris"
    assert Customer.objects.get(pk=customer.pk).time_zone == "Asia/Tokyo"  # an explicit zone stays


def test_clearing_the_time_zone_derives_it_again(agent: User) -> None:
    customer = _create(agent, time_zone="Asia/Tokyo")

    updated = customer_update(actor=agent, customer=customer, time_zone="")

    assert updated.time_zone == "America/Los_Angeles"
    assert Customer.objects.get(pk=customer.pk).time_zone == "America/Los_Angeles"
