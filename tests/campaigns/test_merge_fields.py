"""Merge fields: every kind of field fills in, unknown names show, braces escape, and nothing in a
template can reach an attribute."""

from __future__ import annotations

import pytest

from apps.campaigns.merge_fields import render_message, template_fields_check
from apps.campaigns.models import Campaign, CampaignChannel, Lead
from apps.customers.models import Customer, CustomFieldDefinition
from tests.campaigns.factories import CampaignFactory, LeadFactory
from tests.customers.factories import CustomerFactory, EmailFactory, OrganizationFactory, PhoneFactory

pytestmark = pytest.mark.django_db

KEYS = frozenset({"plan", "renewal_date"})


def _ada() -> tuple[Customer, Lead, Campaign]:
    customer = CustomerFactory(
        first_name="Ada",
        last_name="Lovelace",
        organization=OrganizationFactory(name="Analytical Engines"),
        custom_fields={"plan": "gold", "seats": 12},
    )
    PhoneFactory(customer=customer, value="+14155550134")
    EmailFactory(customer=customer, value="ada@example.org")
    campaign = CampaignFactory(name="Winter renewals", channel=CampaignChannel.SMS)
    lead = LeadFactory(
        campaign=campaign,
        customer=customer,
        contact="+14155550134",
        fields={"Order": "A-17", "city": "London"},
    )
    return customer, lead, campaign


def _render(template: str) -> str:
    customer, lead, campaign = _ada()
    return render_message(template, customer=customer, lead=lead, campaign=campaign, custom_keys=KEYS)


def test_customer_fields_fill_in() -> None:
    text = _render("{first_name}|{last_name}|{full_name}|{email}|{phone}|{company}")

    assert text == "Ada|Lovelace|Ada Lovelace|ada@example.org|+14155550134|Analytical Engines"


def test_custom_lead_and_campaign_fields_fill_in() -> None:
    text = _render("{custom.plan} {lead.Order} {lead.order} {lead.city} {campaign.name}")

    assert text == "gold A-17 A-17 London Winter renewals"


def test_a_known_field_without_a_value_is_empty() -> None:
    text = _render("[{custom.renewal_date}][{lead.missing_column}]")

    assert text == "[][]"


def test_an_unknown_field_shows_a_placeholder() -> None:
    text = _render("Hi {firstname}, {custom.colour} {campaign.status} {customer.name}")

    assert text == (
        "Hi [unknown: firstname], [unknown: custom.colour] [unknown: campaign.status] [unknown: customer.name]"
    )


def test_attribute_access_stays_literal() -> None:
    template = "{customer.__class__} {lead.__dict__} {__import__} {first_name.__class__} {campaign._meta}"

    assert _render(template) == template


def test_double_braces_are_literal_braces() -> None:
    assert _render("{{first_name}} is {first_name}; {{{first_name}}} }} {") == (
        "{first_name} is Ada; {Ada} } {"
    )


def test_other_brace_text_is_left_as_written() -> None:
    template = 'Use code {"a": 1} or { first_name } or {0} or {}'

    assert _render(template) == template


def test_a_lead_without_a_customer_renders_its_own_contact_only() -> None:
    campaign = CampaignFactory(name="Cold list", channel=CampaignChannel.EMAIL)
    lead = LeadFactory(campaign=campaign, customer=None, contact="someone@example.org")

    text = render_message(
        "[{first_name}] {email} [{phone}] {campaign.name}", customer=None, lead=lead, campaign=campaign
    )

    assert text == "[] someone@example.org [] Cold list"


def test_an_erased_customer_renders_no_personal_data() -> None:
    customer, lead, campaign = _ada()
    Customer.objects.filter(pk=customer.pk).update(is_erased=True)
    customer.refresh_from_db()

    text = render_message(
        "[{full_name}][{custom.plan}]", customer=customer, lead=lead, campaign=campaign, custom_keys=KEYS
    )

    assert text == "[][]"


def test_the_check_lists_unknown_names_once_in_order() -> None:
    CustomFieldDefinition.objects.create(key="plan", label="Plan")

    unknown = template_fields_check(
        "{first_name} {nmae} {custom.plan} {custom.colour} {nmae} {campaign.name} {campaign.owner} "
        "{lead.any_column} {customer.__class__} {{literal}}"
    )

    assert unknown == ["nmae", "custom.colour", "campaign.owner"]


def test_the_check_validates_lead_columns_when_they_are_given() -> None:
    unknown = template_fields_check("{lead.Order} {lead.zip}", custom_keys=[], lead_keys=["order", "city"])

    assert unknown == ["lead.zip"]
