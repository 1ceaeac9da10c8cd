"""Segments: each kind of filter selects exactly its customers, a bad filter is refused naming
its key, a segment list gives its campaign leads in bulk (appointment reminders from a custom
field), and a refresh adds the customers who joined since."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from apps.accounts.models import User
from apps.campaigns.models import CampaignChannel, ContactList, Lead, ListSource
from apps.campaigns.segments import (
    InvalidSegment,
    contact_list_create_from_segment,
    contact_list_refresh,
    segment_customers,
)
from apps.campaigns.services.lists import InvalidContactList, contact_list_attach
from apps.core.exceptions import NotAllowed
from apps.customers.erasure import erased_contacts_record
from apps.customers.models import Customer, CustomFieldDefinition, CustomFieldType, LifecycleStage, Tag
from tests.campaigns.factories import CampaignFactory, make_voice_campaign
from tests.customers.factories import CustomerFactory, EmailFactory, OrganizationFactory, PhoneFactory

pytestmark = pytest.mark.django_db


def _customer(first_name: str, *, phone: str = "", tags: tuple[str, ...] = (), **fields: Any) -> Customer:
    customer = CustomerFactory(first_name=first_name, last_name="Example", **fields)
    if phone:
        PhoneFactory(customer=customer, value=phone)
    for name in tags:
        customer.tags.add(Tag.objects.get_or_create(name=name)[0])
    return customer


@pytest.fixture
def definitions() -> None:
    CustomFieldDefinition.objects.create(
        key="plan", label="Plan", field_type=CustomFieldType.CHOICE, choices=["gold", "silver"]
    )
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type=CustomFieldType.INTEGER)
    CustomFieldDefinition.objects.create(key="renewal", label="Renewal", field_type=CustomFieldType.DATE)
    CustomFieldDefinition.objects.create(key="vip", label="VIP", field_type=CustomFieldType.BOOLEAN)
    CustomFieldDefinition.objects.create(
        key="appointment", label="Appointment", field_type=CustomFieldType.TEXT
    )


def names(filters: dict[str, Any]) -> list[str]:
    return sorted(segment_customers(filters).values_list("first_name", flat=True))


def test_fields_filter_ignores_case_and_takes_lists() -> None:
    acme = OrganizationFactory(name="Acme")
    _customer("Ada", job_title="Buyer", organization=acme)
    _customer("Alan", job_title="CTO", time_zone="Europe/London")
    _customer("Grace", job_title="buyer")

    assert names({"fields": {"job_title": "BUYER"}}) == ["Ada", "Grace"]
    assert names({"fields": {"organization": "acme"}}) == ["Ada"]
    assert names({"fields": {"first_name": ["ada", "alan"], "time_zone": "Europe/London"}}) == ["Alan"]


def test_tag_filters_all_any_and_none() -> None:
    _customer("Ada", tags=("vip", "renewal"))
    _customer("Alan", tags=("vip",))
    _customer("Grace", tags=("renewal", "do-not-market"))
    _customer("Linus")

    assert names({"tags": ["vip", "renewal"]}) == ["Ada"]
    assert names({"tags_any": ["vip", "renewal"]}) == ["Ada", "Alan", "Grace"]
    assert names({"tags_any": ["vip", "renewal"], "exclude_tags": ["do-not-market"]}) == ["Ada", "Alan"]


def test_lifecycle_stage_filter() -> None:
    _customer("Ada", lifecycle_stage=LifecycleStage.CUSTOMER)
    _customer("Alan", lifecycle_stage=LifecycleStage.PROSPECT)
    _customer("Grace", lifecycle_stage=LifecycleStage.CHURNED)

    assert names({"lifecycle_stage": "customer"}) == ["Ada"]
    assert names({"lifecycle_stage": ["customer", "prospect"]}) == ["Ada", "Alan"]


def test_custom_field_filters_values_and_ranges(definitions: None) -> None:
    _customer("Ada", custom_fields={"plan": "gold", "seats": 12, "renewal": "2027-01-10", "vip": True})
    _customer("Alan", custom_fields={"plan": "silver", "seats": 5, "renewal": "2027-03-01", "vip": False})
    _customer("Grace", custom_fields={"plan": "gold", "seats": 40})

    assert names({"custom_fields": {"plan": "gold"}}) == ["Ada", "Grace"]
    assert names({"custom_fields": {"seats": {"gte": 10, "lt": 40}}}) == ["Ada"]
    assert names({"custom_fields": {"seats": "5"}}) == ["Alan"]
    assert names({"custom_fields": {"renewal": {"lte": "2027-01-31"}}}) == ["Ada"]
    assert names({"custom_fields": {"vip": "yes"}}) == ["Ada"]
    assert names({"custom_fields": {"plan": ["gold", "silver"], "seats": {"lte": 12}}}) == ["Ada", "Alan"]


def test_erased_customers_are_never_in_a_segment() -> None:
    _customer("Ada", tags=("vip",))
    _customer("Alan", tags=("vip",), is_erased=True)

    assert names({"tags": ["vip"]}) == ["Ada"]
    assert names({}) == ["Ada"]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"city": "Austin"}, "city: not a segment filter"),
        ({"fields": {"city": "Austin"}}, "fields.city: not a customer field"),
        ({"fields": {"job_title": 3}}, "fields.job_title: a text value"),
        ({"fields": "Austin"}, "fields: an object"),
        ({"tags": ["nope"]}, "tags: no tag called 'nope'"),
        ({"tags_any": []}, "tags_any: a text value or a non-empty list"),
        ({"lifecycle_stage": "vip"}, "lifecycle_stage: 'vip' is not one of"),
        ({"custom_fields": {"colour": "red"}}, "custom_fields.colour: not an active custom field"),
        ({"custom_fields": {"plan": "bronze"}}, "custom_fields.plan: must be one of: gold, silver."),
        ({"custom_fields": {"seats": {"about": 3}}}, "custom_fields.seats: a range uses gt, gte, lt and lte"),
        ({"custom_fields": {"seats": {"gte": "many"}}}, "custom_fields.seats.gte: must be a whole number."),
        (
            {"custom_fields": {"plan": {"gte": "gold"}}},
            "custom_fields.plan: ranges (gt, gte, lt, lte) work on",
        ),
        ([], "filters: a segment is an object"),
    ],
)
def test_invalid_filters_are_refused_naming_the_key(definitions: None, filters: Any, message: str) -> None:
    with pytest.raises(InvalidSegment) as caught:
        segment_customers(filters)

    assert str(caught.value).startswith(message)
    assert caught.value.http_status == 400


def test_a_segment_list_gives_its_campaign_leads(marketer: User, definitions: None) -> None:
    campaign = make_voice_campaign()
    ada = _customer(
        "Ada", phone="+14155550101", tags=("vip",), time_zone="America/Denver", custom_fields={"plan": "gold"}
    )
    PhoneFactory(customer=ada, value="+16175550102", is_primary=False)
    _customer("Alan", phone="+12125550103", tags=("vip",))
    _customer("Grace", tags=("vip",))  # no phone: no lead
    _customer("Linus", phone="+13125550104")  # not in the segment

    contact_list = contact_list_create_from_segment(
        actor=marketer, name="VIPs", filters={"tags": ["vip"]}, campaign=campaign, priority=4
    )

    assert (contact_list.source, contact_list.segment_filters, contact_list.lead_count) == (
        ListSource.SEGMENT,
        {"tags": ["vip"]},
        3,
    )
    assert sorted(Lead.objects.values_list("contact", "time_zones", "priority", "fields")) == [
        ("+12125550103", ["America/New_York"], 4, {}),
        ("+14155550101", ["America/Denver"], 4, {"plan": "gold"}),
        ("+16175550102", ["America/Denver"], 4, {"plan": "gold"}),
    ]


def test_a_segment_list_skips_erased_contact_values(marketer: User) -> None:
    campaign = CampaignFactory(channel=CampaignChannel.EMAIL)
    ada = _customer("Ada", tags=("vip",))
    EmailFactory(customer=ada, value="ada@example.com")
    EmailFactory(customer=ada, value="old-ada@example.com", is_primary=False)
    erased_contacts_record(values=[("email", "old-ada@example.com", "")])

    contact_list = contact_list_create_from_segment(
        actor=marketer, name="VIPs", filters={"tags": ["vip"]}, campaign=campaign
    )

    assert list(Lead.objects.values_list("contact", flat=True)) == ["ada@example.com"]
    assert contact_list.lead_count == 1


def test_appointment_reminders_from_a_custom_field(marketer: User, definitions: None) -> None:
    campaign = make_voice_campaign(time_zone="America/Chicago")
    _customer(
        "Ada", phone="+14155550101", tags=("clinic",), custom_fields={"appointment": "2030-05-06 15:30"}
    )
    _customer("Alan", phone="+12125550103", tags=("clinic",), custom_fields={"appointment": "whenever"})

    contact_list_create_from_segment(
        actor=marketer,
        name="Tomorrow's appointments",
        filters={"tags": ["clinic"]},
        campaign=campaign,
        appointment_field="appointment",
        remind_hours_before=24,
    )

    chicago = zoneinfo.ZoneInfo("America/Chicago")
    leads = {lead.contact: lead for lead in Lead.objects.all()}
    assert leads["+14155550101"].appointment_at == dt.datetime(2030, 5, 6, 15, 30, tzinfo=chicago)
    assert leads["+14155550101"].next_attempt_at == dt.datetime(2030, 5, 5, 15, 30, tzinfo=chicago)
    assert (leads["+12125550103"].appointment_at, leads["+12125550103"].next_attempt_at) == (None, None)


def test_an_appointment_field_must_be_a_custom_field(marketer: User, definitions: None) -> None:
    with pytest.raises(InvalidContactList, match="appointment_field: 'when' is not an active custom field"):
        contact_list_create_from_segment(
            actor=marketer, name="L", filters={}, appointment_field="when", remind_hours_before=2
        )

    assert ContactList.objects.count() == 0


def test_refresh_adds_the_customers_who_joined_since(marketer: User) -> None:
    campaign = make_voice_campaign()
    _customer("Ada", phone="+14155550101", tags=("vip",))
    contact_list = contact_list_create_from_segment(
        actor=marketer, name="VIPs", filters={"tags": ["vip"]}, campaign=campaign
    )
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(attempts=1)
    _customer("Alan", phone="+12125550103", tags=("vip",))

    added = contact_list_refresh(actor=marketer, contact_list=contact_list)

    assert added == 1
    assert sorted(Lead.objects.values_list("contact", "attempts")) == [
        ("+12125550103", 0),
        ("+14155550101", 1),
    ]
    assert contact_list.lead_count == 2
    assert contact_list_refresh(actor=marketer, contact_list=contact_list) == 0


def test_attaching_a_segment_list_reads_the_segment(marketer: User) -> None:
    _customer("Ada", phone="+14155550101", tags=("vip",))
    contact_list = contact_list_create_from_segment(actor=marketer, name="VIPs", filters={"tags": ["vip"]})
    campaign = make_voice_campaign()

    contact_list_attach(actor=marketer, contact_list=contact_list, campaign=campaign)

    assert list(Lead.objects.values_list("contact", "contact_list_id")) == [("+14155550101", contact_list.pk)]
    assert contact_list.lead_count == 1


def test_agents_may_not_build_or_refresh_segments_and_nothing_changes(agent: User, marketer: User) -> None:
    campaign = make_voice_campaign()
    _customer("Ada", phone="+14155550101", tags=("vip",))
    with pytest.raises(NotAllowed):
        contact_list_create_from_segment(
            actor=agent, name="VIPs", filters={"tags": ["vip"]}, campaign=campaign
        )
    assert (ContactList.objects.count(), Lead.objects.count()) == (0, 0)
    contact_list = contact_list_create_from_segment(actor=marketer, name="VIPs", filters={"tags": ["vip"]})
    _customer("Alan", phone="+12125550103", tags=("vip",))

    with pytest.raises(NotAllowed):
        contact_list_refresh(actor=agent, contact_list=contact_list)

    assert Lead.objects.count() == 0


def test_an_uploaded_list_is_not_refreshed(marketer: User) -> None:
    contact_list = ContactList.objects.create(name="File", source=ListSource.UPLOAD)

    with pytest.raises(InvalidContactList, match="upload it again"):
        contact_list_refresh(actor=marketer, contact_list=contact_list)


def test_a_segment_list_writes_leads_in_a_bounded_number_of_queries(
    marketer: User, django_assert_max_num_queries: Any
) -> None:
    campaign = make_voice_campaign()
    tag = Tag.objects.create(name="vip")
    customers = Customer.objects.bulk_create([Customer(first_name=f"C{n}") for n in range(300)])
    tag.customers.add(*customers)
    from apps.customers.models import ContactPoint

    ContactPoint.objects.bulk_create(
        [
            ContactPoint(customer=c, kind="phone", value=f"+1415555{n:04d}", is_primary=True)
            for n, c in enumerate(customers)
        ]
    )

    with django_assert_max_num_queries(40):
        contact_list = contact_list_create_from_segment(
            actor=marketer, name="VIPs", filters={"tags": ["vip"]}, campaign=campaign
        )

    assert contact_list.lead_count == 300
