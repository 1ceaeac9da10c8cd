"""Customer forms: tag parsing, custom field widgets per type, contact checks, and domain errors put
back next to the field they concern."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django import forms
from django.core.exceptions import ValidationError

from apps.customers.exceptions import InvalidCustomFields
from apps.customers.forms import (
    ContactPointForm,
    CustomerForm,
    parse_tags,
    time_zone_choices,
)
from apps.customers.models import CustomFieldDefinition, CustomFieldType

pytestmark = pytest.mark.django_db


def definition(key: str, field_type: str, **kwargs: object) -> CustomFieldDefinition:
    return CustomFieldDefinition(key=key, label=key.title(), field_type=field_type, **kwargs)


def test_parse_tags_drops_blanks_and_case_duplicates() -> None:
    assert parse_tags(" vip,  renewal  q3 ,,VIP, ") == ["vip", "renewal q3"]
    assert parse_tags("") == []


def test_time_zone_choices_start_with_derive_and_hold_iana_zones() -> None:
    choices = dict(time_zone_choices())

    assert next(iter(choices)) == ""
    assert choices["America/Los_Angeles"] == "America/Los Angeles"
    assert "Etc/GMT+5" not in choices


def test_custom_fields_get_a_widget_per_type() -> None:
    form = CustomerForm(
        definitions=[
            definition("notes", CustomFieldType.TEXT),
            definition("seats", CustomFieldType.INTEGER),
            definition("budget", CustomFieldType.DECIMAL),
            definition("active", CustomFieldType.BOOLEAN),
            definition("renewal", CustomFieldType.DATE),
            definition("plan", CustomFieldType.CHOICE, choices=["gold", "silver"]),
            definition("site", CustomFieldType.URL),
        ]
    )

    fields = form.fields
    assert isinstance(fields["cf_notes"], forms.CharField)
    assert isinstance(fields["cf_seats"], forms.IntegerField)
    assert isinstance(fields["cf_budget"], forms.DecimalField)
    assert isinstance(fields["cf_active"], forms.TypedChoiceField)
    assert fields["cf_renewal"].widget.input_type == "date"  # type: ignore[attr-defined]
    assert fields["cf_plan"].choices == [("", "—"), ("gold", "gold"), ("silver", "silver")]  # type: ignore[attr-defined]
    assert isinstance(fields["cf_site"], forms.URLField)
    assert form.custom_field_names == [
        "cf_notes",
        "cf_seats",
        "cf_budget",
        "cf_active",
        "cf_renewal",
        "cf_plan",
        "cf_site",
    ]


def test_custom_field_values_are_typed_and_unanswered_ones_are_none() -> None:
    form = CustomerForm(
        {
            "first_name": "Ada",
            "lifecycle_stage": "lead",
            "cf_seats": "12",
            "cf_budget": "99.50",
            "cf_active": "false",
            "cf_renewal": "2025-09-30",
            "cf_plan": "",
        },
        definitions=[
            definition("seats", CustomFieldType.INTEGER),
            definition("budget", CustomFieldType.DECIMAL),
            definition("active", CustomFieldType.BOOLEAN),
            definition("renewal", CustomFieldType.DATE),
            definition("plan", CustomFieldType.CHOICE, choices=["gold"]),
        ],
    )

    assert form.is_valid(), form.errors
    assert form.custom_field_values() == {
        "seats": 12,
        "budget": Decimal("99.50"),
        "active": False,
        "renewal": dt.date(2025, 9, 30),
        "plan": None,
    }


def test_required_custom_field_and_bad_values_are_reported_per_field() -> None:
    form = CustomerForm(
        {"first_name": "Ada", "lifecycle_stage": "lead", "cf_seats": "many", "cf_plan": "bronze"},
        definitions=[
            definition("contract", CustomFieldType.TEXT, required=True),
            definition("seats", CustomFieldType.INTEGER),
            definition("plan", CustomFieldType.CHOICE, choices=["gold"]),
        ],
    )

    assert not form.is_valid()
    assert form.errors["cf_contract"] == ["This field is required."]
    assert form.errors["cf_seats"] == ["Enter a whole number."]
    assert form.errors["cf_plan"] == ["Select a valid choice. bronze is not one of the available choices."]


def test_phone_and_email_are_checked_with_the_shared_normalization() -> None:
    form = CustomerForm(
        {"first_name": "Ada", "lifecycle_stage": "lead", "phone": "555", "email": "ada@"}, definitions=[]
    )

    assert not form.is_valid()
    assert form.errors["phone"] == ["'555' is not a valid phone number."]
    assert form.errors["email"] == ["'ada@' is not a valid email address."]


def test_edit_form_has_no_contact_fields() -> None:
    form = CustomerForm(definitions=[], with_contacts=False)

    assert "phone" not in form.fields
    assert "email" not in form.fields


def test_too_long_tag_is_refused() -> None:
    form = CustomerForm({"lifecycle_stage": "lead", "tags": "x" * 65}, definitions=[])

    assert not form.is_valid()
    assert form.errors["tags"] == ["A tag is limited to 64 characters: xxxxxxxxxxxxxxxxxxxx…"]


def test_domain_errors_land_next_to_their_fields() -> None:
    form = CustomerForm(
        {"first_name": "Ada", "lifecycle_stage": "lead"},
        definitions=[definition("seats", CustomFieldType.INTEGER)],
    )
    assert form.is_valid()

    form.add_domain_error(
        InvalidCustomFields({"seats": "must be a whole number", "legacy": "is not a defined custom field"})
    )
    form.add_domain_error(ValidationError({"time_zone": "'Mars/Base' is not a known IANA time zone."}))
    form.add_domain_error(ValidationError({"organization_name": "Too long."}))
    form.add_domain_error(ValidationError("Something else."))

    assert form.errors["cf_seats"] == ["Seats must be a whole number."]
    assert form.errors["time_zone"] == ["'Mars/Base' is not a known IANA time zone."]
    assert form.errors["organization"] == ["Too long."]
    assert form.non_field_errors() == [
        "Custom field 'legacy' is not a defined custom field.",
        "Something else.",
    ]


def test_social_contact_needs_its_network() -> None:
    form = ContactPointForm({"kind": "social", "value": "ada"})

    assert not form.is_valid()
    assert form.errors["network"] == ["Choose the network of the handle."]
