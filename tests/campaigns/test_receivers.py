"""A customer merge moves their leads and contact log; an erasure scrubs the outbound data of
the person and keeps the rows anonymously, never to be dialled again."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.models import ContactLog, DncEntry, Lead, LeadAttempt, LeadStatus
from apps.campaigns.services import dnc_add, internal_list
from apps.customers.models import Customer
from apps.customers.services.customers import ContactInput, customer_create
from apps.customers.services.gdpr import customer_erase
from apps.customers.services.merge import customer_merge
from tests.campaigns.factories import LeadFactory, make_voice_campaign

pytestmark = pytest.mark.django_db

PHONE = "+14155550177"


def _person(agent: User, phone: str = PHONE) -> Customer:
    return customer_create(
        actor=agent,
        first_name="Zebulon",
        last_name="Quaxley",
        contacts=[ContactInput(kind="phone", value=phone)],
    )


def _log(lead: Lead) -> ContactLog:
    return ContactLog.objects.create(
        at=timezone.now(),
        campaign=lead.campaign,
        lead=lead,
        customer_id=lead.customer_id,
        channel="voice",
        contact=lead.contact,
        local_time="2026-12-03 10:00 America/Los_Angeles",
        allowed=True,
        rule="allowed",
        detail=f"dialled {lead.contact}",
    )


def test_a_merge_moves_leads_and_the_contact_log_to_the_survivor(supervisor: User, agent: User) -> None:
    survivor = _person(agent)
    duplicate = _person(agent, "+14155550178")
    campaign = make_voice_campaign()
    lead = LeadFactory(campaign=campaign, customer=duplicate, contact="+14155550178")
    entry = _log(lead)

    customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    assert Lead.objects.get(pk=lead.pk).customer_id == survivor.pk
    assert ContactLog.objects.get(pk=entry.pk).customer_id == survivor.pk


def test_an_erasure_scrubs_leads_attempts_and_log_and_keeps_them_for_counts(
    supervisor: User, agent: User
) -> None:
    # Given a person with a lead in two campaigns, an attempt, a log entry and an internal DNC entry
    customer = _person(agent)
    first = LeadFactory(
        campaign=make_voice_campaign(), customer=customer, contact=PHONE, fields={"note": "Zebulon's aunt"}
    )
    second = LeadFactory(campaign=make_voice_campaign(), customer=None, contact=PHONE)
    LeadAttempt.objects.create(
        lead=first, campaign=first.campaign, channel="voice", contact=PHONE, started_at=timezone.now()
    )
    _log(first)
    _log(second)
    dnc_add(actor=agent, number=PHONE, reason="asked Zebulon")
    assert internal_list().entry_count == 1

    # When the customer is erased
    customer_erase(actor=supervisor, customer=customer)

    # Then no outbound row holds the number or the name, the rows stay, and no lead can be dialled
    rows = [
        *Lead.objects.values("contact", "time_zones", "fields"),
        *LeadAttempt.objects.values("contact", "provider_id", "skip_reason"),
        *ContactLog.objects.values("contact", "local_time", "detail"),
        *DncEntry.objects.values("number", "reason"),
    ]
    text = json.dumps(rows)
    assert "4155550177" not in text and "Zebulon" not in text
    assert Lead.objects.count() == 2 and LeadAttempt.objects.count() == 1 and ContactLog.objects.count() == 2
    assert set(Lead.objects.values_list("status", flat=True)) == {LeadStatus.DNC}
    assert internal_list().entry_count == 0
